"""The one scorer: model + ranking + programmes + rules + reasons, for a registry, a file or a request.

`targeting score`, `targeting run` (and the demo), the scoring API and the partitioned runner all
call :meth:`Scorer.decide`, so a household gets the same prediction, desil, programmes, verdict and
reasons through every door. A decision is made in two steps, because a registry's desil depends on
every household:

1. ``predict`` (cheap) gives predicted log welfare; ranks come from all predictions
   (`targeting.decide.ranking.within`) or from the model's reference distribution (``reference``);
2. ``decide`` explains a chunk exactly, applies the programme cut-offs, the selection, the rule set
   and picks each household's reasons in the direction of its decision, returning rows of the
   decisions table (`targeting.decide.schema`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from targeting._frames import column_values, python_values
from targeting.decide import ranking as rk
from targeting.decide import schema as s
from targeting.decide.prepared import Prepared
from targeting.decide.selection import Selection
from targeting.errors import ModelIntegrityError, RuleSetError
from targeting.survey.dataset import SurveyData

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

__all__ = ["Decisions", "Prepared", "Scorer", "ScorerInfo", "file_version"]


@dataclass(frozen=True)
class ScorerInfo:
    """What a scorer is made of: recorded with every decision it makes."""

    model_name: str
    model_version: str
    ruleset_id: str
    ruleset_version: str
    source: str
    card: dict[str, Any] = field(default_factory=dict)
    components: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decisions:
    """Rows of the decisions table, with each reason's indicator index and model-matrix value.

    ``-1`` / NaN mark an empty slot; any reader renders a reason in any language from the two.
    ``columns`` are the table's columns, in order, as the arrays it is built from; ``table`` is
    built from them on first use, so that a reader of a few columns (`Scorer.records`, one
    household's request) pays neither the frame's construction (~0.5 ms for 59 columns) nor a
    Series per column read back.
    """

    columns: Mapping[str, Any]
    reason_index: IntArray
    reason_value: FloatArray
    region_column: str | None = None

    @cached_property
    def table(self) -> pd.DataFrame:
        """The decisions table (`targeting.decide.schema`): one row per household."""
        return pd.DataFrame(dict(self.columns))

    def __len__(self) -> int:
        return int(self.reason_index.shape[0])


#: The blend's community term as a reason (`targeting.community`): its code and its name.
COMMUNITY_CODE = "community_rank"
COMMUNITY_NAME = {"id": "Peringkat musyawarah desa", "en": "Village-meeting rank"}
#: The reasons' direction column's dtype, built once (from_codes with a categories list validates
#: them on every call: ~0.15 ms, which a one-household request pays for each such column).
_DIRECTION = pd.CategoricalDtype(["down", "up"])


def _catalogue_for(spec: Any) -> Any:
    """The reason catalogue for a spec's indicators (None: the packaged, contract-based one)."""
    if spec is None or getattr(spec, "contract", None) is not None:
        return None
    from targeting.explain import ReasonCatalogue

    return ReasonCatalogue.from_spec(spec)


def file_version(path: str | Path) -> str:
    """Content version of a data file: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def _resource_version(package: str, name: str) -> str:
    return hashlib.sha256(resources.files(package).joinpath(name).read_bytes()).hexdigest()[:16]


def _content_version(*files: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()[:16]


class Scorer:
    """Decisions from a saved PMT model: ranks, programmes, selection, rule verdicts and reasons.

    Parameters
    ----------
    model_dir : a saved model folder (`targeting.pmt.persistence`) with its ``reference.json``.
    model_name, label, source : how decisions name the model: ``model_version`` is
        ``<label>+<16 hex digits>`` of the card (which hashes every model file) and the reference.
    ruleset : a rule-set name, path or :class:`~targeting.eligibility.RuleSet`; None for no rules.
    as_of : the date whose thresholds apply (default: today); ``min_criteria_met`` overrides k.
    selection : who the model selects (default: any programme).
    ranking : ``within`` the scored population, or against the model's ``reference``.
    top_k : reasons per household. ``key`` pseudonymises NIK into ``head_nik_pseudonym``.
    threads : threads LightGBM may use where the model cannot be compiled into pattern tables.
    spec : the dataset spec of the households scored: a survey outside the Indonesian contract names
        its indicators with its spec's labels (`targeting.explain.ReasonCatalogue.from_spec`).
    keep_contributions : also write every indicator's contribution (``contrib_<indicator>``), so the
        next round can say which indicators moved a household (`targeting.drift.compare_rounds`).
    interval_level : the level of the welfare interval written for each household, when the model
        folder has calibrated intervals (``intervals.json``, `targeting.pmt.intervals`).
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        model_name: str = "pmt",
        label: str = "dir",
        source: str = "",
        ruleset: Any = "kepmensos_262_2022",
        as_of: date | None = None,
        min_criteria_met: int | None = None,
        allow_out_of_force: bool = False,
        selection: Selection | None = None,
        ranking: rk.RankBasis = "within",
        programs: Any = None,
        top_k: int = 4,
        min_abs: float = 0.0,
        key: bytes | None = None,
        spec: Any = None,
        keep_contributions: bool = False,
        interval_level: float = 0.9,
        allow_unsigned: bool = False,
        threads: int = 1,
    ) -> None:
        from targeting.eligibility import RuleSet, load_ruleset
        from targeting.explain import Explainer
        from targeting.pmt.persistence import CARD_FILE, load_model, signing_key_fingerprint
        from targeting.pmt.programs import load_programs
        from targeting.pmt.reference import REFERENCE_FILE, load_reference

        if ranking not in rk.RANK_BASES:
            raise ValueError(f"ranking must be one of {rk.RANK_BASES}, got {ranking!r}")
        model_dir = Path(model_dir)
        self.model_dir = model_dir
        # The signature and every file's hash are checked before anything is read (pmt.persistence).
        self.model, card = load_model(model_dir, allow_unsigned=allow_unsigned)
        self.card = card
        self.reference = load_reference(model_dir, card)
        from targeting.pmt.intervals import INTERVALS_FILE, load_intervals

        self.intervals = (load_intervals(model_dir, model=self.model)
                          if (model_dir / INTERVALS_FILE).is_file() else None)
        self.interval_level = float(interval_level)
        from targeting.community._saved import BLEND_FILE, load_blend

        blend_file = [model_dir / BLEND_FILE] if (model_dir / BLEND_FILE).is_file() else []

        # The PMT + community blend, when the model was trained with community ranks.
        self.blend = load_blend(model_dir)
        self.programs = programs if programs is not None else load_programs()
        self.selection = selection or Selection()
        self.selection.check(self.programs)
        if ranking == "reference" and self.selection.needs_population:
            raise ValueError("a quota needs the whole registry: use ranking 'within'")
        self.ranking: rk.RankBasis = ranking
        self.ruleset = ruleset if isinstance(ruleset, RuleSet) or ruleset is None else load_ruleset(ruleset)
        self.as_of = as_of or date.today()
        self.min_criteria_met = min_criteria_met
        self.allow_out_of_force = allow_out_of_force
        if self.ruleset is not None and not allow_out_of_force and not self.ruleset.in_force_on(self.as_of):
            raise RuleSetError(
                f"rule set {self.ruleset.id} is not in force on {self.as_of} (from "
                f"{self.ruleset.in_force_from}, revoked {self.ruleset.revoked_on}); choose another rule set "
                "or date"
            )
        self.top_k = int(top_k)
        self.key = key
        self.keep_contributions = keep_contributions
        self.allow_unsigned = allow_unsigned
        self.threads = int(threads)
        # Compiles the model for exact contributions and checks the reason catalogue covers it.
        self.explainer = Explainer(self.model, catalogue=_catalogue_for(spec), top_k=max(1, self.top_k),
                                   min_abs=min_abs, n_jobs=threads)
        self.features = list(self.model.schema_.names)
        self._reason_codes: pd.CategoricalDtype | None = None  # the reason-code dtype, built once
        self._reason_names: list[str] = []  # its categories, as a list (cheap to compare)
        version = _content_version(model_dir / CARD_FILE, model_dir / REFERENCE_FILE,
                                   *[model_dir / INTERVALS_FILE] * (self.intervals is not None), *blend_file)
        card_dict = card.model_dump(mode="json")
        card_dict["reference"] = {"file": REFERENCE_FILE, "sha256": self.reference.sha256,
                                  "regions": sorted(self.reference.regions)}
        from targeting.survey.contract import load_contract

        contract = load_contract()
        rs = self.ruleset
        self.info = ScorerInfo(
            model_name=model_name,
            model_version=f"{label}+{version}",
            ruleset_id=rs.id if rs is not None else "",
            ruleset_version=(file_version(rs.path) if rs is not None and rs.path else "") or "",
            source=source or f"folder {model_dir}",
            card=card_dict,
            components={
                "contract": f"{contract.name}@{contract.version}",
                "reference": self.reference.sha256[:16],
                "programs": _resource_version("targeting.pmt", "programs.yaml"),
                "reasons": f"{self.explainer.catalogue.name}@{self.explainer.catalogue.version}",
                "explain_method": self.explainer.method,
                "ranking": self.ranking,
                "model_signing_key": signing_key_fingerprint(card),
            },
        )

    # ---- pass 1 ------------------------------------------------------------------------------

    def design(self, data: SurveyData) -> pd.DataFrame:
        """The model's input frame for these households (the frame training used)."""
        from targeting.pmt.design import design_frame

        X = design_frame(data)
        missing = [f for f in self.features if f not in X.columns]
        if missing:
            raise ModelIntegrityError(
                f"{self.model_dir}: the model needs feature(s) {', '.join(missing)} that dataset "
                f"{data.name!r} does not have (trained on {self.card.dataset.spec or self.card.dataset.name})"
            )
        # design_frame's frame is new: when it holds the model's columns in order, it is the answer
        # (selecting them again would copy it, ~0.15 ms for one household).
        return X if X.columns.tolist() == self.features else X[self.features]

    def predict(self, data: SurveyData) -> FloatArray:
        """Predicted log per-capita welfare (what ranks are computed from), community term included."""
        pred = np.asarray(self.explainer.engine.predict(self.design(data)), dtype=np.float64)
        if not np.all(np.isfinite(pred)):
            raise ValueError("the model returned a non-finite prediction")
        return pred + self._community(data)[1]

    def _community(self, data: SurveyData) -> tuple[FloatArray, FloatArray]:
        """(consensus percentile, the blend's term) of each household; NaN / 0 where none applies."""
        n = len(data)
        if self.blend is None:
            return np.full(n, np.nan), np.zeros(n)
        pct = self.blend.percentiles(data.frame, data.weight.to_numpy(dtype=np.float64))
        return pct, self.blend.adjustment(pct)

    def contribution_changes(self, before: SurveyData, after: SurveyData) -> list[dict[str, Any]]:
        """Why one household's prediction moved between two versions of its indicators (a grievance).

        Both versions are explained by this model, so the changes come from the indicators alone:
        one entry per indicator whose exact contribution changed, largest first, with the change in
        log welfare, its effect in percent, and the catalogue's name of the indicator in both
        languages. The changes add up to the change of the prediction.
        """
        if len(before) != 1 or len(after) != 1:
            raise ValueError("contribution_changes compares one household with itself")
        eng = self.explainer.engine
        old = eng.compute(eng.matrix(self.design(before))).values[0]
        new = eng.compute(eng.matrix(self.design(after))).values[0]
        names = list(self.features)
        if self.blend is not None:
            old = np.append(old, self._community(before)[1][0])
            new = np.append(new, self._community(after)[1][0])
            names.append(COMMUNITY_CODE)
        delta = new - old
        catalogue = self.explainer.catalogue
        out = []
        for j in np.argsort(-np.abs(delta), kind="stable"):
            if abs(delta[j]) < 1e-12:
                break
            name = names[j]
            entry = catalogue.indicators.get(name)
            out.append({
                "indicator": name,
                "contribution_change": float(delta[j]),
                "effect_pct": float(100.0 * np.expm1(delta[j])),
                "name_id": entry.id if entry is not None else name,
                "name_en": entry.en if entry is not None else name,
            })
        return out

    def rank(self, pred: FloatArray, data_population: FloatArray, region: npt.ArrayLike | None) -> rk.Ranks:
        """Ranks of households whose predictions are ``pred`` (all of them, for ``within``)."""
        if self.ranking == "reference":
            edges = None if self.intervals is None else self.intervals.welfare_desil_boundaries
            return rk.against_reference(self.reference, pred, region, edges)
        return rk.within(pred, data_population, region, quota=self.selection.quota)

    # ---- pass 2 ------------------------------------------------------------------------------

    def decide(self, data: SurveyData, ranks: rk.Ranks | None = None, *,
               top_k: int | None = None) -> Decisions:
        """Decisions for ``data``'s households (ranks: from pass 1 for ``within``, else computed here).

        ``top_k`` overrides the scorer's number of reasons (a request may ask for fewer or more).
        The same as :meth:`finish` of :meth:`prepare`.
        """
        prepared = self.prepare(data, top_k=top_k)
        if ranks is None:
            # ``within``: these households are the whole population (a registry held in memory).
            ranks = self.rank(prepared.prediction, prepared.population, prepared.region)
        return self.finish(prepared, ranks)

    def prepare(self, data: SurveyData, *, top_k: int | None = None) -> Prepared:
        """The part of ``data``'s decisions that does not depend on ranks: prediction, rules, contributions.

        A registry's runner prepares each chunk in its first pass, keeps it on disk in compact form
        (:meth:`Prepared.compact`, :meth:`Prepared.to_arrow`) and finishes it once every household
        is ranked, so the registry is read, validated and explained once.
        """
        from targeting.eligibility import evaluate_columns
        from targeting.pmt.intervals import interval_group_arrays

        X = self.design(data)
        M = self.explainer.engine.matrix(X)
        contrib = self.explainer.engine.compute(M)
        pred = contrib.prediction
        if not np.all(np.isfinite(pred)):
            raise ValueError("the model returned a non-finite prediction")
        community_pct, community_term = self._community(data)
        values = contrib.values
        if self.blend is not None:
            # The village's rank is one more exact contribution: it can be a reason like any other.
            pred = pred + community_term
            values = np.column_stack([values, community_term])
            M = np.column_stack([M, community_pct])

        # Texts stay Arrow-backed arrays: the spill and the Parquet writer take them without a copy.
        head: dict[str, Any] = {s.HOUSEHOLD_ID: _text_values(data.household_id)}
        frame = data.frame
        if "head_nik" in frame.columns and self.key is not None:
            from targeting.privacy import pseudonymize

            head[s.NIK_PSEUDONYM] = pseudonymize(frame["head_nik"].astype("string"), self.key).array
        region_column = None if data.region is None else (data.region_column or "region")
        if data.region is not None and region_column is not None:
            head[region_column] = _text_values(data.region)
        if data.cluster is not None:
            head[data.cluster_column or "cluster"] = _text_values(data.cluster)
        head[s.WEIGHT] = data.weight.to_numpy(dtype=np.float64)
        head[s.HOUSEHOLD_SIZE] = data.household_size.to_numpy(dtype=np.float64)
        head[s.PREDICTED_LOG] = pred
        head[s.PREDICTED] = np.exp(pred)
        rules: dict[str, Any] = {}
        if self.ruleset is not None:
            # The trace's columns as arrays: no trace frame is built only to be read back.
            trace, _ = evaluate_columns(frame, self.ruleset, as_of=self.as_of,
                                        min_criteria_met=self.min_criteria_met,
                                        allow_out_of_force=self.allow_out_of_force)
            rules[s.RULE_VERDICT] = np.asarray(trace["verdict"])
            rules[s.RULE_STAGE] = trace["stage"].astype("string").to_numpy()
            rules[s.RULE_N_MET] = np.asarray(trace["n_met"], dtype=np.int16)
            rules[s.RULE_N_UNKNOWN] = np.asarray(trace["n_unknown"], dtype=np.int16)
            for c in self.ruleset.criteria:
                name = s.criterion_column(c.id)
                rules[name] = trace[name]
        tail: dict[str, Any] = {}
        for name, group in zip(data.groups.columns.tolist(), column_values(data.groups), strict=True):
            if name != "region":  # ``data.groups[name].array``, read without a Series
                tail[name] = pd.arrays.NumpyExtensionArray(group) if isinstance(group, np.ndarray) else group
        if self.blend is not None:
            tail[s.COMMUNITY_PERCENTILE] = community_pct
            tail[s.METHOD] = pd.Categorical(np.where(np.isnan(community_pct), "model", "model+community"),
                                            categories=["model", "model+community"])
        if self.keep_contributions:
            for j, name in enumerate(self.explainer.indicators):
                tail[f"{s.CONTRIB_PREFIX}{name}"] = contrib.values[:, j]
        if data.welfare is not None:
            from targeting.pmt.design import poor_flags

            tail[s.WELFARE_TRUE] = data.welfare.to_numpy(dtype=np.float64)
            if data.poverty_line is not None:
                tail[s.POVERTY_LINE] = data.poverty_line.to_numpy(dtype=np.float64)
            if data.poor is not None or data.poverty_line is not None:
                tail[s.POOR_TRUE] = pd.array(poor_flags(data), dtype="boolean")
        elif data.poor is not None:
            tail[s.POOR_TRUE] = pd.array(data.poor.to_numpy(dtype=bool), dtype="boolean")
        return Prepared(
            head=head, rules=rules, tail=tail, prediction=pred,
            # data.population_weight, multiplied as arrays (the Series product costs ~50 µs).
            population=(data.weight.to_numpy(dtype=np.float64)
                        * data.household_size.to_numpy(dtype=np.float64)),
            region=None if data.region is None else data.region.to_numpy(dtype=object),
            region_column=region_column, top_k=self.top_k if top_k is None else int(top_k),
            min_abs=self.explainer.min_abs, values=values, matrix=M,
            # What the welfare intervals are calibrated by, kept for finish (not a decision column).
            extra={} if self.intervals is None else interval_group_arrays(data),
        )

    def finish(self, prepared: Prepared, ranks: rk.Ranks) -> Decisions:
        """Rows of the decisions table for prepared households, given where they stand."""
        from targeting.pmt.programs import program_flags

        n = len(prepared)
        pred = prepared.prediction
        if len(ranks) != n:
            raise ValueError(f"ranks for {len(ranks)} households given for {n}")
        if n and np.max(np.abs(ranks.prediction - pred)) > 1e-8:
            # Pass 1 and pass 2 must see the same households in the same order.
            raise ValueError("pass 1 ranked different predictions than pass 2 computes (rows out of order?)")
        programs = program_flags(ranks.desil, self.programs)
        if self.selection.needs_population:
            assert ranks.quota_pick is not None
            selected = ranks.quota_pick
        else:
            selected = self.selection.select(ranks.desil, programs)

        cols: dict[str, Any] = dict(prepared.head)
        cols[s.PERCENTILE] = ranks.percentile
        cols[s.DESIL] = ranks.desil.astype(np.int8)
        if prepared.region_column is not None:
            cols[s.PERCENTILE_REGION] = ranks.percentile_region
            cols[s.DESIL_REGION] = ranks.desil_region.astype(np.int8)
        for pid in self.programs.programs:
            cols[s.program_column(pid)] = programs[pid]
        cols[s.SELECTED] = selected
        cols.update(prepared.rules)
        # Reasons follow the decision: what lowered a selected household's prediction, what raised
        # another's. Kept as codes, values and contributions; texts as dictionary-encoded columns.
        k = prepared.top_k
        idx, x, cvals = prepared.reasons(selected)
        has = idx >= 0
        cols[s.REASON_DIRECTION] = pd.Categorical.from_codes(np.where(selected, 0, 1), dtype=_DIRECTION)
        cols[s.N_REASONS] = has.sum(axis=1).astype(np.int8)
        flat_idx, flat_x = idx.reshape(-1), x.reshape(-1)
        flat_down = np.repeat(selected, k)
        codes, raw, texts = self._reason_texts(flat_idx, flat_x, flat_down)
        for slot in range(k):
            take = np.arange(slot, n * k, k)
            names = s.reason_columns(slot + 1)
            cols[names["code"]] = codes[take]
            cols[names["value"]] = raw[take]
            cols[names["contribution"]] = cvals[:, slot]
            cols[names["text_id"]] = texts["id"][take]
            cols[names["text_en"]] = texts["en"][take]
        tail = prepared.tail
        cols.update({k: v for k, v in tail.items() if k not in s.TRUTH_COLUMNS})
        if self.intervals is not None:
            cols.update(self._uncertainty(prepared.extra, pred, ranks, selected))
        cols.update({k: v for k, v in tail.items() if k in s.TRUTH_COLUMNS})
        return Decisions(cols, idx, x, prepared.region_column)

    def _reason_texts(self, idx: IntArray, x: FloatArray, down: Any) -> tuple[Any, Any, dict[str, Any]]:
        """Codes, data values and texts (id, en) of reasons; the community rank rendered here."""
        r = self.explainer.renderer
        p = len(self.explainer.indicators)
        names = [*self.explainer.indicators, *([COMMUNITY_CODE] if self.blend is not None else [])]
        own = idx == p
        base = np.where(own, -1, idx)
        if self._reason_codes is None or self._reason_names != names:
            self._reason_codes, self._reason_names = pd.CategoricalDtype(names), names
        codes = pd.Categorical.from_codes(idx, dtype=self._reason_codes)
        raw, texts = r.render(base, x, down)
        if own.any():
            cat = self.explainer.catalogue
            raw = raw.add_categories([v for v in dict.fromkeys(f"{v:.3f}" for v in x[own])
                                      if v not in raw.categories])
            raw[own] = [f"{v:.3f}" for v in x[own]]
            for lang in ("id", "en"):
                name = COMMUNITY_NAME[lang]
                words = {"id": "persentil", "en": "percentile"}[lang]
                new = [cat.template.get(lang).format(
                    indicator=name, value=f"{words} {100 * v:.0f}",
                    direction=(cat.directions.down if d else cat.directions.up).get(lang))
                    for v, d in zip(x[own], np.broadcast_to(down, idx.shape)[own], strict=True)]
                col = texts[lang]
                col = col.add_categories([t for t in dict.fromkeys(new) if t not in col.categories])
                col[own] = new
                texts[lang] = col
        return codes, raw, texts

    def _cut(self, ranks: rk.Ranks) -> tuple[Any, Any]:
        """The selection's cut-off(s) in log welfare: (low, high), every household below high selected."""
        edges = ranks.edges if ranks.edges is not None else np.full(9, np.nan)

        def edge(d: int) -> float:  # the boundary above desil d (d = 0: nothing below; 10: everything)
            return -np.inf if d <= 0 else np.inf if d >= 10 else float(edges[d - 1])

        sel = self.selection
        if sel.quota is not None:
            return -np.inf, ranks.quota_cut
        if sel.program is not None:
            p = self.programs.programs[sel.program]
            return edge(p.desil_min - 1), edge(p.desil_max)
        if sel.desil_max is not None:
            return -np.inf, edge(sel.desil_max)
        return -np.inf, edge(max(p.desil_max for p in self.programs.programs.values()))

    def _uncertainty(self, groups: Mapping[str, Any], pred: FloatArray, ranks: rk.Ranks,
                     selected: Any) -> dict[str, Any]:
        """Each household's welfare interval, its chance of being on the other side of the cut, its status.

        ``groups``: the interval group columns as arrays (no frame is built to hold them).
        """
        from targeting.pmt.borderline import borderline_columns

        assert self.intervals is not None
        table = borderline_columns(self.intervals, pred, groups, self._cut(ranks), selected,
                                   level=self.interval_level)
        return {
            s.WELFARE_LOW: np.exp(table["interval_low"]),
            s.WELFARE_HIGH: np.exp(table["interval_high"]),
            s.P_OTHER_SIDE: table["p_other_side"],
            s.STATUS: np.asarray(table["status"]),
        }

    def describe(self, data_name: str = "") -> dict[str, Any]:
        """The parts of a decisions table's metadata that the scorer knows."""
        rs = self.ruleset
        return {
            "model": {"name": self.info.model_name, "version": self.info.model_version,
                      "source": self.info.source, "dir": str(self.model_dir.resolve()),
                      "backend": self.card.backend,
                      "trained_on": self.card.dataset.spec or self.card.dataset.name,
                      "components": self.info.components},
            "ruleset": None if rs is None else {
                "id": rs.id, "version": self.info.ruleset_version, "as_of": self.as_of.isoformat(),
                "min_criteria_met": self.min_criteria_met, "title_id": rs.title_id, "title_en": rs.title_en},
            "ranking": self.ranking,
            "selection": {**self.selection.model_dump(exclude_none=True),
                          "text_id": self.selection.describe(self.programs, "id"),
                          "text_en": self.selection.describe(self.programs, "en")},
            "programs": {pid: {"id": p.id, "en": p.en, "desil_min": p.desil_min, "desil_max": p.desil_max,
                               "evidence": p.evidence}
                         for pid, p in self.programs.programs.items()},
            "top_k": self.top_k,
            "intervals": None if self.intervals is None else {
                "level": self.interval_level, "file": "intervals.json",
                "min_group_size": self.intervals.min_group_size},
        }

    def records(self, decisions: Decisions, *, lang: str) -> list[dict[str, Any]]:
        """The decisions as JSON-ready records (the API's form), reasons rendered in ``lang``.

        Every value is read from the same rows the decisions table holds, so a household scored
        through the API and through ``targeting score --rank reference`` gets the same answer.
        """
        # Read from the columns the table is built from: a Series per column read back from the frame
        # cost ~10 µs each, ~25 of them per request.
        t = decisions.columns
        n = len(decisions)
        r = self.explainer.renderer
        pred = np.asarray(t[s.PREDICTED_LOG], dtype=np.float64)
        pct = np.asarray(t[s.PERCENTILE], dtype=np.float64)
        desil = np.asarray(t[s.DESIL], dtype=np.int64)
        region_col = decisions.region_column
        d_reg = (np.asarray(t[s.DESIL_REGION], dtype=np.int64) if s.DESIL_REGION in t
                 else np.zeros(n, np.int64))
        p_reg = np.asarray(t[s.PERCENTILE_REGION], dtype=np.float64) if s.PERCENTILE_REGION in t else None
        regions = _strings(t[region_col]) if region_col else [""] * n
        selected = np.asarray(t[s.SELECTED], dtype=bool)
        programs = {pid: np.asarray(t[s.program_column(pid)], dtype=bool) for pid in self.programs.programs}
        k = decisions.reason_index.shape[1]
        rules: list[dict[str, Any] | None] = [None] * n
        if self.ruleset is not None:
            ids = [c.id for c in self.ruleset.criteria]
            flags = {cid: python_values(t[s.criterion_column(cid)]) for cid in ids}
            verdict = _strings(t[s.RULE_VERDICT])
            stage = _strings(t[s.RULE_STAGE])
            n_met = np.asarray(t[s.RULE_N_MET], dtype=np.int64).tolist()
            n_unknown = np.asarray(t[s.RULE_N_UNKNOWN], dtype=np.int64).tolist()
            rules = [{"ruleset_id": self.ruleset.id, "verdict": verdict[i], "stage": stage[i],
                      "n_met": n_met[i], "n_unknown": n_unknown[i],
                      "criteria": {c: (None if flags[c][i] is None else bool(flags[c][i])) for c in ids}}
                     for i in range(n)]
        texts = [python_values(t[s.reason_text_column(slot + 1, lang)]) for slot in range(k)]
        methods = _strings(t[s.METHOD]) if s.METHOD in t else ["model"] * n
        has_iv = s.WELFARE_LOW in t
        if has_iv:
            lows = np.asarray(t[s.WELFARE_LOW], dtype=np.float64)
            highs = np.asarray(t[s.WELFARE_HIGH], dtype=np.float64)
            p_other = np.asarray(t[s.P_OTHER_SIDE], dtype=np.float64)
            statuses = _strings(t[s.STATUS])
        contribs = [np.asarray(t[s.reason_columns(slot + 1)["contribution"]], dtype=np.float64)
                    for slot in range(k)]
        values = decisions.reason_value
        out = []
        for i in range(n):
            direction = "down" if selected[i] else "up"
            reasons = [
                {"rank": slot + 1, "code": self.features[j] if j < len(self.features) else COMMUNITY_CODE,
                 "value": r.raw_value(j, float(values[i, slot])) if j < len(self.features)
                 else float(values[i, slot]),
                 "direction": direction, "contribution": float(contribs[slot][i]),
                 "effect_pct": float(100.0 * np.expm1(contribs[slot][i])), "text": str(texts[slot][i])}
                for slot, j in enumerate(int(v) for v in decisions.reason_index[i]) if j >= 0
            ]
            out.append({
                "predicted_log_welfare": float(pred[i]),
                "predicted_welfare_pc": float(np.exp(pred[i])),
                "national": {"percentile": float(pct[i]), "desil": int(desil[i])},
                "regional": ({"region": regions[i], "percentile": float(p_reg[i]), "desil": int(d_reg[i])}
                             if p_reg is not None and d_reg[i] > 0 else None),
                "programs": {pid: bool(v[i]) for pid, v in programs.items()},
                "selected": bool(selected[i]),
                "method": str(methods[i]),
                "rules": rules[i],
                "uncertainty": ({"level": self.interval_level, "welfare_low": float(lows[i]),
                                 "welfare_high": float(highs[i]), "p_other_side": float(p_other[i]),
                                 "status": statuses[i]} if has_iv else None),
                "reasons": reasons,
                "lang": lang,
                "components": self.info.components,
            })
        return out


def _text_values(column: pd.Series) -> Any:
    """``column.astype("string").array``: for a ``string`` column that is its own array (no copy is made)."""
    return column.array if column.dtype == "string" else column.astype("string").array


def _strings(column: Any) -> list[Any]:
    """A column's values as ``Series(column).astype(str).tolist()`` gives them (missing: NaN).

    A numpy array with no missing value is converted directly (the usual case: verdicts, stages), and
    so is a categorical of texts with none (statuses, methods): its labels are those texts.
    """
    if isinstance(column, np.ndarray) and not pd.isna(column).any():
        out: list[Any] = column.astype(str).tolist()
        return out
    if isinstance(column, pd.Categorical) and pd.api.types.is_string_dtype(column.categories.dtype) \
            and not (column.codes < 0).any():
        return python_values(column)
    return pd.Series(column, copy=False).astype(str).tolist()

