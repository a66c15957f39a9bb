"""Writing indicator values and reasons from a catalogue bound to a model's indicators.

Texts are rendered once per distinct (indicator, value, direction) and handed out by index, so a
registry of 260,000 households x 4 reasons costs a few thousand string formats, not a million.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting._frames import text_categorical

from ._catalogue import IndicatorEntry, ReasonCatalogue, ReasonCatalogueError

if TYPE_CHECKING:
    from targeting.pmt.schema import InputSchema

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
RawValue = str | int | float | bool | None
LANGS = ("id", "en")


def format_number(x: float, decimals: int, lang: str) -> str:
    """A number with digit grouping: ``1.250,5`` in Bahasa Indonesia, ``1,250.5`` in English."""
    text = f"{x:,.{decimals}f}"
    if lang == "id":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


class ReasonRenderer:
    """A reason catalogue bound to a model's indicators (validated here: the load-time check).

    Parameters
    ----------
    catalogue : the reason catalogue.
    schema : the model's input schema (``PMTRegressor.schema_``): indicator names, kinds and the
        category lists that map matrix codes back to contract codes.

    Raises
    ------
    ReasonCatalogueError
        An indicator has no entry, an entry's value kind does not fit the indicator (a code list
        for a numeric one...), or a category has no label.
    """

    def __init__(self, catalogue: ReasonCatalogue, schema: InputSchema) -> None:
        catalogue.require(list(schema.names))
        self.catalogue = catalogue
        self.indicators: tuple[str, ...] = tuple(schema.names)
        self.entries: tuple[IndicatorEntry, ...] = tuple(catalogue.indicators[n] for n in schema.names)
        self.categories: tuple[tuple[str, ...] | None, ...] = tuple(
            None if c is None else tuple(str(v) for v in c) for c in schema.categories
        )
        problems = []
        for name, kind, entry, cats in zip(
            self.indicators, schema.kinds, self.entries, self.categories, strict=True
        ):
            if (entry.value == "code") != (kind == "categorical"):
                problems.append(f"{name} is {kind} in the model but value: {entry.value} in the catalogue")
            elif cats is not None and catalogue.contract is not None:
                from targeting.survey.contract import load_contract

                known = set(load_contract(catalogue.contract).code_list(name)) | set(entry.labels)
                unknown = [c for c in cats if c not in known]
                if unknown:
                    problems.append(f"{name}: no label for code(s) {unknown}")
        if problems:
            raise ReasonCatalogueError(
                f"{catalogue.source}: reason catalogue {catalogue.name!r} does not fit the model: "
                + "; ".join(problems)
            )
        # Labels of every category code, per language, indexed by the model's code.
        self._code_labels: dict[tuple[int, str], list[str]] = {
            (j, lang): [catalogue.code_label(self.indicators[j], c, lang) for c in cats]
            for j, cats in enumerate(self.categories)
            if cats is not None
            for lang in LANGS
        }

    def indicator_name(self, j: int, lang: str = "id") -> str:
        """The human name of indicator ``j``."""
        return self.entries[j].name.get(lang)

    def raw_value(self, j: int, x: float) -> RawValue:
        """The household's value as data: contract code, bool, number, or ``None`` if missing."""
        if math.isnan(x):
            return None
        entry = self.entries[j]
        cats = self.categories[j]
        if cats is not None:
            return cats[int(x)]
        if entry.value == "yes_no":
            return bool(x)
        return int(x) if float(x).is_integer() else float(x)

    def value_text(self, j: int, x: float, lang: str = "id") -> str:
        """The household's value as written in a reason (``tanah``, ``ya``, ``54 m²``, ``45%``)."""
        cat = self.catalogue
        if math.isnan(x):
            return cat.missing.get(lang)
        entry = self.entries[j]
        if entry.value == "code":
            return self._code_labels[(j, lang)][int(x)]
        if entry.value == "yes_no":
            return (cat.yes_no.true_label if x else cat.yes_no.false_label).get(lang)
        if entry.value == "percent":
            return f"{format_number(100.0 * x, entry.decimals, lang)}%"
        for key, phrase in entry.labels.items():
            if float(key) == x:
                return phrase.get(lang)
        # whole numbers (counts, VA, m²) never get decimals, whatever the entry allows
        text = format_number(x, 0 if float(x).is_integer() else entry.decimals, lang)
        unit = entry.unit_one if (x == 1 and entry.unit_one is not None) else entry.unit
        return f"{text} {unit.get(lang)}" if unit is not None else text

    def reason_text(self, j: int, x: float, down: bool, lang: str = "id") -> str:
        """One reason: ``Lantai rumah: tanah — menurunkan perkiraan kesejahteraan``."""
        cat = self.catalogue
        direction = (cat.directions.down if down else cat.directions.up).get(lang)
        return cat.template.get(lang).format(
            indicator=self.indicator_name(j, lang), value=self.value_text(j, x, lang), direction=direction
        )

    def reason_texts(
        self, indicator: IntArray, value: FloatArray, down: BoolArray, lang: str = "id"
    ) -> pd.Categorical:
        """Reason texts for many (indicator, value, direction) triples; ``indicator < 0`` -> missing.

        Each distinct triple is written once; the result is a categorical (dictionary-encoded, as
        Parquet stores it).
        """
        indicator, value, down = _flat(indicator, value, down)
        return self._texts(_distinct(indicator, value), down, lang)

    def raw_value_strings(self, indicator: IntArray, value: FloatArray) -> pd.Categorical:
        """Values as data strings (code, ``true``/``false``, number; missing -> NA), one per triple."""
        indicator, value, _ = _flat(indicator, value, False)
        return self._raw(_distinct(indicator, value))

    def render(self, indicator: IntArray, value: FloatArray, down: BoolArray
               ) -> tuple[pd.Categorical, dict[str, pd.Categorical]]:
        """:meth:`raw_value_strings` and :meth:`reason_texts` in every language, the triples grouped once."""
        indicator, value, down = _flat(indicator, value, down)
        pairs = _distinct(indicator, value)
        return self._raw(pairs), {lang: self._texts(pairs, down, lang) for lang in LANGS}

    def _texts(self, pairs: _Pairs, down: BoolArray, lang: str) -> pd.Categorical:
        cat = self.catalogue
        template = cat.template.get(lang)
        directions = (cat.directions.down.get(lang), cat.directions.up.get(lang))
        texts: dict[str, int] = {}
        lut = np.empty((len(pairs.indicator), 2), dtype=np.int64)
        names: dict[int, str] = {}
        for i, (j, x) in enumerate(zip(pairs.indicator.tolist(), pairs.value.tolist(), strict=True)):
            name = names.get(j)
            if name is None:
                name = names[j] = self.indicator_name(j, lang)
            shown = self.value_text(j, x, lang)
            for d, direction in enumerate(directions):
                text = template.format(indicator=name, value=shown, direction=direction)
                lut[i, d] = texts.setdefault(text, len(texts))
        return text_categorical(pairs.take(lut, np.where(down, 0, 1)), list(texts))

    def _raw(self, pairs: _Pairs) -> pd.Categorical:
        texts: dict[str, int] = {}
        pairs_list = zip(pairs.indicator.tolist(), pairs.value.tolist(), strict=True)
        raws = [self.raw_value(j, x) for j, x in pairs_list]
        codes = [-1 if raw is None else texts.setdefault(_as_data_string(raw), len(texts)) for raw in raws]
        lut = np.array(codes, dtype=np.int64).reshape(-1, 1)
        return text_categorical(pairs.take(lut, np.zeros(len(pairs.inverse), dtype=np.int64)), list(texts))


def _flat(indicator: IntArray, value: FloatArray, down: BoolArray | bool
          ) -> tuple[IntArray, FloatArray, BoolArray]:
    indicator = np.asarray(indicator, dtype=np.int64).reshape(-1)
    value = np.asarray(value, dtype=np.float64).reshape(-1)
    return indicator, value, np.broadcast_to(np.asarray(down, dtype=bool), indicator.shape).reshape(-1)


@dataclass(frozen=True)
class _Pairs:
    """The distinct (indicator, value) pairs of many triples, and the pair of each triple (-1: none)."""

    indicator: IntArray
    value: FloatArray
    inverse: IntArray

    def take(self, lut: IntArray, column: IntArray) -> IntArray:
        """``lut[pair, column]`` for each triple, -1 where it has no pair."""
        has = self.inverse >= 0
        return np.where(has, lut[np.where(has, self.inverse, 0), column] if len(lut) else -1, -1)


def _distinct(indicator: IntArray, value: FloatArray) -> _Pairs:
    """Pairs in indicator order, then value order (NaN last, all NaNs one value), as ``np.unique`` sorts.

    One sort of all triples: rendering each indicator's rows separately scanned every triple once per
    indicator, three times over (the data strings and both languages).
    """
    inverse = np.full(indicator.shape, -1, dtype=np.int64)
    at = np.flatnonzero(indicator >= 0)
    ind, val = indicator[at], value[at]
    order = np.lexsort((val, ind))
    ind, val = ind[order], val[order]
    new = np.ones(len(order), dtype=bool)
    same = (val[1:] == val[:-1]) | (np.isnan(val[1:]) & np.isnan(val[:-1]))
    new[1:] = (ind[1:] != ind[:-1]) | ~same
    inverse[at[order]] = np.cumsum(new) - 1
    return _Pairs(ind[new], val[new], inverse)


def _as_data_string(raw: RawValue) -> str:
    if isinstance(raw, bool):
        return "true" if raw else "false"
    return str(raw)
