"""The in-memory form of a loaded survey: what every later layer (pmt, rules, audit) consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pandas as pd

FeatureType = Literal["numeric", "categorical", "binary"]


@dataclass(frozen=True)
class SurveyData:
    """A validated survey or registry, split into roles.

    All series and frames share one RangeIndex (row ``i`` is the same household everywhere).

    Attributes
    ----------
    name : dataset name (from the spec).
    frame : every validated column, as read (rule sets read from here).
    features : PMT predictors only. Categorical features have pandas ``category`` dtype with the full
        closed code list as categories; numeric and binary features are float64 (NaN = missing).
    feature_types : ``numeric`` | ``categorical`` | ``binary`` for each feature column.
    household_id : string ids, unique.
    welfare : per-capita welfare (already divided by household size where the source was total);
        for ``welfare_kind`` ``class`` the class rank (1 = poorest), for ``flag`` 1 = not poor;
        ``None`` for a registry without measured welfare.
    weight : survey weight per household (ones where the survey has none).
    household_size : persons per household (for population-share deciles: weight x size).
    region : region label (kecamatan, department...) or ``None``.
    cluster : sampling cluster / village / community for grouped cross-validation, or ``None``.
    poverty_line : per-household poverty line in welfare units, or ``None``.
    poor : official poverty flag where the survey ships one (else derived from welfare < line), or ``None``.
    groups : audit group attributes (e.g. urban, female_head, elderly_head, disability, size_band).
    region_column, cluster_column : the source columns behind ``region`` and ``cluster`` (e.g.
        ``kecamatan``, ``desa``), for tables that show them under their own names.
    """

    name: str
    frame: pd.DataFrame
    features: pd.DataFrame
    feature_types: dict[str, FeatureType]
    household_id: pd.Series
    weight: pd.Series
    household_size: pd.Series
    welfare: pd.Series | None = None
    region: pd.Series | None = None
    cluster: pd.Series | None = None
    poverty_line: pd.Series | None = None
    poor: pd.Series | None = None
    groups: pd.DataFrame = field(default_factory=pd.DataFrame)
    region_column: str | None = None
    cluster_column: str | None = None
    welfare_kind: str = "per_capita"
    leak_allowed: dict[str, str] = field(default_factory=dict)

    @property
    def welfare_is_money(self) -> bool:
        """Whether welfare is money (per capita): else a class rank or a not-poor flag, with no log."""
        return self.welfare_kind in ("per_capita", "total")

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def population_weight(self) -> pd.Series:
        """Persons represented by each household (survey weight x household size)."""
        return self.weight * self.household_size

    def subset(self, mask: pd.Series | list[int] | object) -> SurveyData:
        """Rows selected by a boolean mask or positional indices, re-indexed from 0."""
        idx = pd.RangeIndex(len(self.frame))
        if isinstance(mask, pd.Series) and mask.dtype == bool:
            pos = idx[mask.to_numpy()]
        else:
            pos = pd.Index(mask)

        def take(obj):
            if obj is None:
                return None
            return obj.iloc[pos].reset_index(drop=True)

        return SurveyData(
            name=self.name,
            frame=take(self.frame),
            features=take(self.features),
            feature_types=dict(self.feature_types),
            household_id=take(self.household_id),
            weight=take(self.weight),
            household_size=take(self.household_size),
            welfare=take(self.welfare),
            region=take(self.region),
            cluster=take(self.cluster),
            poverty_line=take(self.poverty_line),
            poor=take(self.poor),
            groups=take(self.groups) if len(self.groups.columns) else pd.DataFrame(index=range(len(pos))),
            region_column=self.region_column,
            cluster_column=self.cluster_column,
            welfare_kind=self.welfare_kind,
            leak_allowed=dict(self.leak_allowed),
        )
