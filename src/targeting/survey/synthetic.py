"""Calibrated synthetic Kutai Kartanegara survey and registry: the default data set of the product.

One structural population model produces three linked tables:

* a Susenas-like stratified **survey** (contract indicators, measured ``expenditure_pc``, ``weight``),
* a DTSEN-like **registry** (the same indicators for every household, no welfare, no weight),
* the registry's **ground truth** (true per-capita expenditure, measured without error).

Log per-capita expenditure is driven by kecamatan, village, urban/rural, household composition, the
head's education and work, and an unobserved household effect. Indicators are drawn conditionally on
that latent welfare through domain factors (housing, services, assets, food) with their own noise, so
a proxy-means test recovers welfare only partially. The survey measures expenditure with multiplicative
lognormal error. The intercept, the strength of the composition effect and the location of the error are
solved on a fixed internal draw so that the poverty headcount and the poor's household size hit the
targets in ``kukar_calibration.yaml`` whatever the kecamatan parameters say.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import yaml
from scipy import optimize
from scipy.special import expit

from targeting.errors import SpecError
from targeting.spreadsheet import write_csv

__all__ = [
    "CALIBRATION_FILE",
    "POVERTY_LINE_KALTIM_2024",
    "KukarParameters",
    "SyntheticKukar",
    "calibration_table",
    "generate",
    "iter_registry_parts",
    "load_parameters",
    "write",
    "write_partitioned",
]

#: East Kalimantan provincial poverty line, March 2024 (Rp per capita per month); the documented
#: default, also stored in ``kukar_calibration.yaml`` (which wins when the two differ).
POVERTY_LINE_KALTIM_2024 = 833_955

CALIBRATION_FILE = Path(__file__).with_name("kukar_calibration.yaml")
CONTRACT_FILE = Path(__file__).with_name("contract.yaml")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

_FLAGS = ("riverine", "remote", "coastal", "mining")
_EDUCATION = ("none", "sd", "smp", "sma", "diploma_plus")
# Covariates a choice model may name (built per household in `_draw_households`, plus `welfare`).
_COVARIATES = frozenset(
    {"const", "welfare", "urban", "rural", *_FLAGS, "log_size", "age10", "female_head", "elderly_head"}
    | {"young_head", "edu", "farming", "fishery", "working", "employee", "casual", "self_employed"}
)
_CENTRE_LOG_SIZE = float(np.log(3.8))
# Fields whose choice levels are numbers in the contract (VA ratings, meals).
_INT_LEVEL_FIELDS = frozenset({"electricity_va", "meals_per_day"})
# Dwelling fields that do not exist for a household without shelter (structurally missing).
_DWELLING_FIELDS = (
    "floor_material",
    "wall_material",
    "roof_material",
    "roof_condition",
    "floor_area_m2",
    "lighting",
    "electricity_va",
    "tenure",
)


# ---- parameters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChoiceModel:
    """A multinomial-logit choice read from the calibration file (utilities = coef @ covariates)."""

    name: str
    levels: tuple[str, ...]
    covariates: tuple[str, ...]
    coef: FloatArray  # (levels, covariates)
    factor: str | None


@dataclass(frozen=True)
class KukarParameters:
    """The population model: kecamatan table, targets, coefficients (see ``kukar_calibration.yaml``)."""

    source: Path
    kecamatan: tuple[str, ...]
    kecamatan_labels: tuple[str, ...]
    household_share: FloatArray
    urban_share: FloatArray
    welfare_shift: FloatArray
    flags: dict[str, FloatArray]
    villages: IntArray
    poverty_line: float
    population: float
    households: float
    targets: dict[str, tuple[float, float]]
    calibration: dict[str, Any]
    geography_seed: int
    survey_design: dict[str, float]
    composition: dict[str, Any]
    welfare: dict[str, Any]
    factors: dict[str, float]
    missing: dict[str, float]
    choices: dict[str, ChoiceModel]
    numeric: dict[str, Any]
    field_types: dict[str, str]  # contract field -> type, in contract order
    village_meetings: dict[str, Any] = field(default_factory=lambda: {"share_of_desa": 0.0})

    @property
    def urban_target(self) -> float:
        """District urban share of households implied by the kecamatan table."""
        return float(np.sum(self.household_share * self.urban_share))


def load_parameters(path: Path | None = None) -> KukarParameters:
    """Read and check the calibration file (default: the packaged ``kukar_calibration.yaml``)."""
    path = CALIBRATION_FILE if path is None else Path(path)
    try:
        # The C loader when available: the contract is long and parsed on every call.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (safe loader)
        contract = yaml.load(CONTRACT_FILE.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read calibration file: {exc}") from exc
    try:
        return _parse_parameters(raw, contract, path)
    except (KeyError, TypeError, ValueError) as exc:
        raise SpecError(f"{path}: invalid calibration file: {exc!r}") from exc


def _parse_parameters(raw: dict[str, Any], contract: dict[str, Any], path: Path) -> KukarParameters:
    codes = contract["codes"]
    fields = contract["fields"]
    kec_codes = tuple(codes["kecamatan"])
    table = raw["kecamatan"]
    if set(table) != set(kec_codes):
        missing, extra = set(kec_codes) - set(table), set(table) - set(kec_codes)
        raise SpecError(
            f"{path}: kecamatan must match contract codes.kecamatan "
            f"(missing {sorted(missing)}, unknown {sorted(extra)})"
        )
    rows = [table[k] for k in kec_codes]
    population = np.array([float(r["population"]) for r in rows])
    urban = np.array([float(r["urban"]) for r in rows])
    villages = np.array([int(r["villages"]) for r in rows], dtype=np.int64)
    for code, r, u, v in zip(kec_codes, rows, urban, villages, strict=True):
        unknown = set(r.get("flags", [])) - set(_FLAGS)
        if unknown:
            raise SpecError(f"{path}: kecamatan.{code}.flags: unknown {sorted(unknown)}")
        if not 0.0 <= u <= 1.0 or v < 1 or (0.0 < u < 1.0 and v < 2):
            raise SpecError(
                f"{path}: kecamatan.{code}: urban must be in [0, 1] and a mixed kecamatan needs "
                "at least 2 villages"
            )
    flags = {f: np.array([1.0 if f in r.get("flags", []) else 0.0 for r in rows]) for f in _FLAGS}

    choices: dict[str, ChoiceModel] = {}
    for name, spec in raw["choices"].items():
        covariates = tuple(spec["covariates"])
        if "logit" in spec:
            levels: tuple[str, ...] = ("False", "True")
            coef = np.array([[0.0] * len(covariates), [float(c) for c in spec["logit"]]])
        else:
            levels = tuple(str(k) for k in spec["levels"])
            coef_rows = [[float(c) for c in v] for v in spec["levels"].values()]
            if any(len(r) != len(covariates) for r in coef_rows):
                raise SpecError(f"{path}: choices.{name}: each level needs {len(covariates)} coefficients")
            coef = np.array(coef_rows)
            allowed = _allowed_levels(name, fields, codes)
            bad = [lv for lv in levels if lv not in allowed]
            if bad:
                raise SpecError(f"{path}: choices.{name}: levels {bad} not in the contract")
        if coef.shape[1] != len(covariates):
            raise SpecError(f"{path}: choices.{name}: each level needs {len(covariates)} coefficients")
        unknown_cov = sorted(set(covariates) - _COVARIATES)
        if unknown_cov:
            raise SpecError(f"{path}: choices.{name}: unknown covariates {unknown_cov}")
        if "welfare" in covariates and spec.get("factor") not in raw["factors"]:
            raise SpecError(
                f"{path}: choices.{name}: `welfare` needs a factor among {sorted(raw['factors'])}"
            )
        choices[name] = ChoiceModel(name, levels, covariates, coef, spec.get("factor"))

    # A target given as "kecamatan" is derived from the kecamatan table (NaN here).
    targets = {
        k: (float("nan") if v[0] == "kecamatan" else float(v[0]), float(v[1]))
        for k, v in raw["targets"].items()
    }
    labels = tuple(codes["kecamatan"][k]["id"] for k in kec_codes)
    return KukarParameters(
        source=path,
        kecamatan=kec_codes,
        kecamatan_labels=labels,
        household_share=population / population.sum(),
        urban_share=urban,
        welfare_shift=np.array([float(r["shift"]) for r in rows]),
        flags=flags,
        villages=villages,
        poverty_line=_poverty_line(raw["poverty_line"]),
        population=float(raw["district"]["population"]),
        households=float(raw["district"]["households"]),
        targets=targets,
        calibration=dict(raw["calibration"]),
        geography_seed=int(raw["geography"]["seed"]),
        survey_design={k: float(v) for k, v in raw["survey_design"].items()},
        composition=raw["composition"],
        welfare=raw["welfare"],
        factors={k: float(v) for k, v in raw["factors"].items()},
        missing={k: float(v) for k, v in raw["missing"].items()},
        choices=choices,
        numeric=raw["numeric"],
        field_types={name: str(f["type"]) for name, f in fields.items()},
        village_meetings=_meeting_parameters(raw.get("village_meetings"), path),
    )


def _poverty_line(entry: Any) -> float:
    """The calibration's poverty line: a key of ``poverty_lines.yaml`` (written once there) or a value."""
    from targeting.survey.spec import poverty_line

    if isinstance(entry, dict) and "ref" in entry:
        return poverty_line(str(entry["ref"])).value
    return float(entry["value"])


_MEETING_KEYS = frozenset(
    {"share_of_desa", "noise_sd", "log_household_size", "elderly_head", "disabled_member"}
    | {"widowed_head", "recent_shock", "shock_rate", "elite_capture"}
)


def _meeting_parameters(raw: dict[str, Any] | None, path: Path) -> dict[str, Any]:
    """The village-meeting block, checked (absent = no meetings)."""
    if raw is None:
        return {"share_of_desa": 0.0}
    unknown = sorted(set(raw) - _MEETING_KEYS)
    if unknown:
        raise SpecError(f"{path}: village_meetings: unknown keys {unknown}")
    share = float(raw["share_of_desa"])
    if not 0.0 <= share <= 1.0:
        raise SpecError(f"{path}: village_meetings.share_of_desa must be in [0, 1], got {share}")
    if share > 0:
        missing = sorted(_MEETING_KEYS - set(raw))
        if missing:
            raise SpecError(f"{path}: village_meetings: missing keys {missing}")
        ec = raw["elite_capture"]
        if not 0.0 <= float(ec["share"]) < 1.0 or float(raw["noise_sd"]) < 0:
            raise SpecError(f"{path}: village_meetings: elite_capture.share in [0, 1), noise_sd >= 0")
    return dict(raw)


def _allowed_levels(name: str, fields: dict[str, Any], codes: dict[str, Any]) -> set[str]:
    field = fields[name]
    if "codes" in field:
        return set(codes[field["codes"]])
    if "allowed" in field:
        return {str(v) for v in field["allowed"]}
    return {str(v) for v in range(int(field["min"]), int(field["max"]) + 1)}


# ---- geography: villages (fixed for a parameter file) ------------------------------------------------


@dataclass(frozen=True)
class _Geography:
    kecamatan: IntArray  # per village
    urban: BoolArray
    name: npt.NDArray[np.object_]
    effect: FloatArray  # log-point welfare effect
    offset_cum: FloatArray  # cumulative size within group (2 * kecamatan + urban), offset by group


def _geography(p: KukarParameters) -> _Geography:
    rng = np.random.default_rng(p.geography_seed)
    kec, urb, names, size = [], [], [], []
    # A loop over 20 kecamatan (not households): builds the village table.
    for k, (label, n_v, u) in enumerate(zip(p.kecamatan_labels, p.villages, p.urban_share, strict=True)):
        n_urban = 0 if u == 0.0 else int(n_v) if u == 1.0 else int(np.clip(round(u * n_v), 1, n_v - 1))
        for j in range(int(n_v)):
            is_urban = j < n_urban
            kind = "Kelurahan" if is_urban else "Desa"
            kec.append(k)
            urb.append(is_urban)
            names.append(f"{kind} {label} {j + 1:02d}")
            size.append(rng.gamma(4.0))
    # Villages sorted by group (2 * kecamatan + urban) so one searchsorted finds a household's village.
    group = 2 * np.array(kec, dtype=np.int64) + np.array(urb, dtype=np.int64)
    order = np.argsort(group, kind="stable")
    group = group[order]
    kec_a = np.array(kec, dtype=np.int64)[order]
    urb_a = np.array(urb, dtype=bool)[order]
    size_a = np.array(size)[order]
    names = [names[i] for i in order]
    total = np.bincount(group, weights=size_a, minlength=2 * len(p.kecamatan))
    within = np.zeros_like(size_a)
    for g in np.unique(group):  # villages are few: cumulative shares per group
        m = group == g
        within[m] = np.cumsum(size_a[m]) / total[g]
    effect = rng.normal(0.0, float(p.welfare["village_effect_sd"]), kec_a.size)
    return _Geography(kec_a, urb_a, np.array(names, dtype=object), effect, group + within)


def _draw_village(rng: np.random.Generator, geo: _Geography, kec: IntArray, urban: BoolArray) -> IntArray:
    """Village of each household, proportional to village size within its kecamatan and urban class."""
    target = 2 * kec + urban + rng.random(kec.size)
    idx = np.searchsorted(geo.offset_cum, target, side="left")
    return np.minimum(idx, geo.offset_cum.size - 1).astype(np.int64)


# ---- households: composition, head, work, latent welfare --------------------------------------------


def _choose(rng: np.random.Generator, model: ChoiceModel, cov: dict[str, FloatArray], n: int) -> IntArray:
    """Index of the chosen level for each household, drawn from the multinomial-logit probabilities."""
    # Accumulated column by column rather than with a BLAS matrix product: bit-identical whatever the
    # thread count, and no thread oversubscription on small machines.
    utility = np.zeros((n, len(model.levels)))
    for j, c in enumerate(model.covariates):
        utility += model.coef[:, j] if c == "const" else cov[c][:, None] * model.coef[:, j]
    if utility.shape[1] == 2:  # yes/no: one uniform per household
        return (rng.random(n) < expit(utility[:, 1] - utility[:, 0])).astype(np.int64)
    # Inverse CDF of the softmax: one uniform per household (cheaper than Gumbel-max draws).
    utility -= utility.max(axis=1, keepdims=True)
    np.exp(utility, out=utility)
    np.cumsum(utility, axis=1, out=utility)
    r = rng.random(n) * utility[:, -1]
    return np.count_nonzero(utility < r[:, None], axis=1).astype(np.int64)


def _draw_households(
    rng: np.random.Generator, kec: IntArray, p: KukarParameters, geo: _Geography
) -> dict[str, Any]:
    """Everything that drives welfare: place, composition, head, work, and the structural log welfare."""
    n = kec.size
    c = p.composition
    urban = rng.random(n) < p.urban_share[kec]
    village = _draw_village(rng, geo, kec, urban)
    rural = ~urban

    a = c["head_age"]
    age = np.clip(np.rint(rng.normal(a["mean"], a["sd"], n)), a["min"], a["max"]).astype(np.int64)
    fl = c["female_head_logit"]
    female = rng.random(n) < expit(fl["const"] + fl["per_decade_over_45"] * (age - 45) / 10)
    sp = c["spouse_prob"]
    male_spouse = np.where(
        age < 30, sp["male_under_30"], np.where(age < 65, sp["male_30_64"], sp["male_65_plus"])
    )
    spouse = rng.random(n) < np.where(female, sp["female"], male_spouse)
    ch = c["children"]
    rate = ch["rate"] * np.exp(-(((age - ch["peak_age"]) / ch["spread"]) ** 2))
    alone = np.where(female, ch["no_spouse_factor"]["female"], ch["no_spouse_factor"]["male"])
    rate = rate * np.where(rural, ch["rural_factor"], 1.0) * np.where(spouse, 1.0, alone)
    children = rng.poisson(rate)
    u6 = c["under_six_share"]
    p_u6 = u6["old"] + (u6["young"] - u6["old"]) * expit((u6["mid_age"] - age) / u6["scale"])
    kids_05 = rng.binomial(children, p_u6)
    oa = c["other_adults"]
    other_adults = rng.poisson(oa["base"] + oa["older_head"] * expit((age - oa["mid_age"]) / oa["scale"]))
    grandkids = rng.poisson(c["grandchildren_per_adult"] * other_adults)
    grand_05 = rng.binomial(grandkids, 0.5)
    oe = c["other_elderly_prob"]
    other_elderly = rng.random(n) < np.where(age < 50, oe["head_under_50"], oe["head_50_plus"])
    spouse_age = age + np.where(female, 3.0, -3.0) + rng.normal(0.0, 4.0, n)
    spouse_old = spouse & (spouse_age >= 60)

    def count(flag: BoolArray) -> IntArray:  # bool + bool would be a logical or, not a count
        return flag.astype(np.int64)

    n05 = kids_05 + grand_05
    n617 = (children - kids_05) + (grandkids - grand_05) + count(age < 18)
    n1859 = count((age >= 18) & (age < 60)) + count(spouse & ~spouse_old) + other_adults
    n60 = count(age >= 60) + count(spouse_old) + count(other_elderly)
    size = (n05 + n617 + n1859 + n60).astype(np.int64)

    dp = c["disability_prob"]
    n_disabled = rng.binomial(n60, dp["elderly"]) + rng.binomial(size - n60, dp["other"])
    kids = n05 + n617 - count(age < 18)
    cw = c["children_without_carer"]
    skip_generation = (n1859 == 0) & (age >= 60) & (kids > 0)
    n_cwc = np.where(
        skip_generation,
        rng.binomial(kids, cw["skip_generation_share"]),
        ((rng.random(n) < cw["other_rate"]) & (kids > 0)).astype(np.int64),
    )

    cov: dict[str, FloatArray] = {
        "urban": urban.astype(float),
        "rural": rural.astype(float),
        **{f: p.flags[f][kec] for f in _FLAGS},
        "log_size": np.log(size) - _CENTRE_LOG_SIZE,
        "age10": (age - 45) / 10.0,
        "female_head": female.astype(float),
        "elderly_head": (age >= 60).astype(float),
        "young_head": (age < 30).astype(float),
    }
    edu_model = p.choices["head_education"]
    edu = _choose(rng, edu_model, cov, n)
    rank = np.array([_EDUCATION.index(lv) for lv in edu_model.levels], dtype=float)
    cov["edu"] = rank[edu] - 2.0
    emp_model = p.choices["head_employment"]
    emp = _choose(rng, emp_model, cov, n)
    employment = np.array(emp_model.levels, dtype=object)[emp]
    for name, code in (
        ("employee", "employee"),
        ("casual", "casual_labourer"),
        ("self_employed", "self_employed"),
    ):
        cov[name] = (employment == code).astype(float)
    working = employment != "not_working"
    cov["working"] = working.astype(float)
    sec_model = p.choices["head_sector"]
    sector_levels = (*sec_model.levels, "none")
    sec = np.where(working, _choose(rng, sec_model, cov, n), len(sec_model.levels))
    sector = np.array(sector_levels, dtype=object)[sec]
    cov["farming"] = (sector == "farming").astype(float)
    cov["fishery"] = (sector == "fishery").astype(float)

    w = p.welfare
    base = (
        p.welfare_shift[kec]
        + geo.effect[village]
        + w["urban"] * urban
        + w["female_head"] * female
        + w["disabled_member"] * (n_disabled > 0)
        + _coefficients(w["education"], edu_model.levels)[edu]
        + _coefficients(w["employment"], emp_model.levels)[emp]
        + _coefficients(w["sector"], sector_levels)[sec]
        + rng.normal(0.0, float(w["household_effect_sd"]), n)
    )
    cm = w["composition"]
    composition = cm["log_size"] * np.log(size) + cm["dependency"] * (n05 + n617 + n60) / size
    return {
        "kec": kec,
        "village": village,
        "urban": urban,
        "age": age,
        "female": female,
        "size": size,
        "n05": n05.astype(np.int64),
        "n617": n617.astype(np.int64),
        "n1859": n1859.astype(np.int64),
        "n60": n60.astype(np.int64),
        "n_disabled": n_disabled.astype(np.int64),
        "n_cwc": n_cwc.astype(np.int64),
        "spouse": spouse,
        "education": np.array(edu_model.levels, dtype=object)[edu],
        "employment": employment,
        "sector": sector,
        "cov": cov,
        "base": base,
        "composition": composition,
    }


def _coefficients(mapping: dict[str, float], levels: tuple[str, ...]) -> FloatArray:
    """Welfare coefficient of each level, in the order of ``levels`` (for indexing by level)."""
    missing = [lv for lv in levels if lv not in mapping]
    if missing:
        raise SpecError(f"welfare coefficients missing for {missing}")
    return np.array([float(mapping[lv]) for lv in levels])


# ---- calibration: solve intercept, composition strength and error location ---------------------------


@dataclass(frozen=True)
class _Calibration:
    intercept: float  # log Rp, added to the structural log welfare
    composition_scale: float  # multiplies the household-composition term
    error_shift: float  # location of the log measurement error
    welfare_mean: float  # of true log welfare, to standardise it for the indicator factors
    welfare_sd: float


def _weighted_quantile(x: FloatArray, w: FloatArray, q: float) -> float:
    """Smallest value of ``x`` at which the ``w``-weighted share at or below it reaches ``q``."""
    order = np.argsort(x)
    cum = np.cumsum(w[order])
    i = int(np.searchsorted(cum, q * cum[-1], side="left"))
    return float(x[order][min(i, x.size - 1)])


def _calibrate(p: KukarParameters, geo: _Geography) -> _Calibration:
    """Solve the welfare intercept, composition scale and error location on a fixed internal draw.

    For a composition scale ``k`` the intercept putting the persons-weighted headcount at the target is
    a weighted quantile, and so is the error location giving the same headcount for measured
    expenditure; ``k`` itself is the root of (poor households' mean size, measured) - target.
    """
    cal = p.calibration
    rng = np.random.default_rng(int(cal["seed"]))
    n = int(cal["n_households"])
    kec = rng.choice(len(p.kecamatan), size=n, p=p.household_share).astype(np.int64)
    hh = _draw_households(rng, kec, p, geo)
    size = hh["size"].astype(float)
    error = rng.normal(0.0, float(p.welfare["measurement_error_sd"]), n)
    log_line = float(np.log(p.poverty_line))
    rate = p.targets["poverty_rate"][0]
    poor_size = p.targets["poor_mean_household_size"][0]

    def solve(k: float) -> tuple[float, float, FloatArray]:
        x = hh["base"] + k * hh["composition"]
        intercept = log_line - _weighted_quantile(x, size, rate)
        true = x + intercept
        shift = log_line - _weighted_quantile(true + error, size, rate)
        return intercept, shift, true

    def gap(k: float) -> float:
        _, shift, true = solve(k)
        poor = true + error + shift < log_line
        return float(size[poor].mean()) - poor_size

    lo, hi = (float(b) for b in cal["composition_scale_bounds"])
    g_lo, g_hi = gap(lo), gap(hi)
    if g_lo * g_hi > 0:
        raise SpecError(
            f"{p.source}: poor households' mean size {poor_size} cannot be reached with a composition "
            f"scale in [{lo}, {hi}] (gaps {g_lo:+.2f}, {g_hi:+.2f}): check the composition parameters"
        )
    k = float(optimize.brentq(gap, lo, hi, xtol=1e-3))
    intercept, shift, true = solve(k)
    return _Calibration(intercept, k, shift, float(true.mean()), float(true.std()))


# ---- indicators drawn conditionally on welfare ----------------------------------------------------------


def _linear(spec: dict[str, float], cov: dict[str, FloatArray], welfare: FloatArray) -> FloatArray:
    """Linear index from a ``{covariate: coefficient}`` mapping (``const`` and ``welfare`` included)."""
    out = np.full(welfare.size, float(spec.get("const", 0.0)))
    for name, coef in spec.items():
        if name != "const":
            out += float(coef) * (welfare if name == "welfare" else cov[name])
    return out


def _draw_indicators(
    rng: np.random.Generator,
    hh: dict[str, Any],
    true_log: FloatArray,
    p: KukarParameters,
    cal: _Calibration,
) -> tuple[dict[str, npt.NDArray[Any]], dict[str, BoolArray]]:
    """Indicator values and their missing-value masks for every household."""
    n = true_log.size
    cov: dict[str, FloatArray] = hh["cov"]
    z = (true_log - cal.welfare_mean) / cal.welfare_sd
    factor = {f: lam * z + np.sqrt(1.0 - lam**2) * rng.standard_normal(n) for f, lam in p.factors.items()}

    def choice(name: str) -> npt.NDArray[np.object_]:
        m = p.choices[name]
        c = cov if m.factor is None else {**cov, "welfare": factor[m.factor]}
        return np.array(m.levels, dtype=object)[_choose(rng, m, c, n)]

    def yes(name: str) -> BoolArray:
        return np.asarray(choice(name) == "True", dtype=bool)

    num = p.numeric
    size = hh["size"].astype(float)
    log_hh_spending = true_log + np.log(size)
    v: dict[str, npt.NDArray[Any]] = {}

    has_shelter = yes("has_shelter")
    v["has_shelter"] = has_shelter
    for name in ("floor_material", "wall_material", "roof_material", "roof_condition"):
        v[name] = choice(name)
    fa = num["floor_area_m2"]
    log_area = (
        fa["log_median"]
        + fa["log_size"] * cov["log_size"]
        + fa["welfare"] * factor[fa["factor"]]
        + fa["rural"] * cov["rural"]
        + rng.normal(0.0, fa["sd"], n)
    )
    v["floor_area_m2"] = np.clip(np.rint(np.exp(log_area)), fa["min"], fa["max"])
    v["toilet"] = np.where(has_shelter, choice("toilet"), "none")
    v["drinking_water"] = choice("drinking_water")
    lighting = choice("lighting")
    v["lighting"] = lighting
    va = choice("electricity_va").astype(np.int64)
    v["electricity_va"] = np.where(lighting == "pln_metered", va, 0)
    v["cooking_fuel"] = choice("cooking_fuel")
    v["tenure"] = choice("tenure")
    for name in (
        "has_refrigerator",
        "has_motorcycle",
        "has_car",
        "has_tv",
        "has_smartphone",
        "has_gold",
        "has_boat",
    ):
        v[name] = yes(name)

    la = num["land_area_m2"]
    q = factor[la["factor"]]
    has_land = rng.random(n) < expit(_linear(la["has_logit"], cov, q))
    log_land = la["log_median"] + la["farming"] * cov["farming"] + la["welfare"] * q
    land = np.clip(np.rint(np.exp(log_land + rng.normal(0.0, la["sd"], n))), la["min"], la["max"])
    v["land_area_m2"] = np.where(has_land, land, 0.0)
    ls = num["livestock_units"]
    has_stock = rng.random(n) < expit(_linear(ls["has_logit"], cov, factor[ls["factor"]]))
    v["livestock_units"] = np.where(has_stock, 1 + rng.poisson(ls["extra_mean"], n), 0)

    fs = num["food_share"]
    share = (
        fs["at_line"]
        + fs["per_log_above_line"] * (true_log - np.log(p.poverty_line))
        + fs["urban"] * cov["urban"]
        + rng.normal(0.0, fs["sd"], n)
    )
    v["food_share"] = np.round(np.clip(share, fs["min"], fs["max"]), 3)
    v["bought_clothes_last_year"] = yes("bought_clothes_last_year")
    v["meals_per_day"] = choice("meals_per_day").astype(np.int64)
    pd_ = num["protein_days_per_week"]
    v["protein_days_per_week"] = rng.binomial(7, expit(_linear(pd_["logit"], cov, factor[pd_["factor"]])))
    v["food_insecure_12m"] = yes("food_insecure_12m")
    v["can_pay_clinic"] = yes("can_pay_clinic")
    v["children_education_max"] = np.where(
        hh["n617"] > 0, choice("children_education_max"), "no_school_age_children"
    )

    sv = num["savings_rp"]
    has_savings = rng.random(n) < expit(_linear(sv["has_logit"], cov, factor[sv["factor"]]))
    savings = np.exp(log_hh_spending + sv["log_months_of_spending"] + rng.normal(0.0, sv["sd"], n))
    v["savings_rp"] = np.where(has_savings, _round_to(savings, sv["round_to"]), 0.0)
    hi = num["head_income_rp"]
    working = cov["working"] > 0
    earned = log_hh_spending + np.log(hi["share_of_spending"]) + hi["casual"] * cov["casual"]
    other = log_hh_spending + hi["not_working_log_share"]
    income = np.exp(np.where(working, earned, other) + rng.normal(0.0, hi["sd"], n))
    gets = working | (rng.random(n) < hi["not_working_income_prob"])
    v["head_income_rp"] = np.where(gets, _round_to(income, hi["round_to"]), 0.0)

    na: dict[str, BoolArray] = {name: rng.random(n) < rate for name, rate in p.missing.items()}
    for name in _DWELLING_FIELDS:
        na[name] = na.get(name, np.zeros(n, dtype=bool)) | ~has_shelter
    # No PLN connection of their own: VA does not exist (structural gap, not a survey gap).
    na["electricity_va"] |= ~np.isin(lighting, ["pln_metered", "pln_unmetered"])
    return v, na


def _village_meetings(
    rng: np.random.Generator,
    held: BoolArray,
    hh: dict[str, Any],
    true_log: FloatArray,
    p: KukarParameters,
    cal: _Calibration,
) -> dict[str, npt.NDArray[Any]]:
    """Village-meeting ranks (1 = poorest within the desa; NaN where no meeting), elite ties, shocks.

    Draws only from ``rng`` (its own stream), in a fixed order, so every other column is unchanged.
    """
    m = p.village_meetings
    n = true_log.size
    z = (true_log - cal.welfare_mean) / cal.welfare_sd
    ec = m["elite_capture"]
    relative = rng.random(n) < expit(np.log(ec["share"] / (1.0 - ec["share"])) + ec["richer"] * z)
    shock = rng.random(n) < float(m["shock_rate"])
    widowed = ~hh["spouse"] & (hh["age"] >= 50)
    perceived = (
        z
        + m["log_household_size"] * (np.log(hh["size"]) - _CENTRE_LOG_SIZE)
        - m["elderly_head"] * (hh["age"] >= 60)
        - m["disabled_member"] * (hh["n_disabled"] > 0)
        - m["widowed_head"] * widowed
        - m["recent_shock"] * shock
        - ec["size"] * relative
        + rng.normal(0.0, float(m["noise_sd"]), n)
    )
    village = hh["village"]
    ranked = held[village]
    order = np.lexsort((perceived, village))
    order = order[ranked[order]]
    position = pd.Series(village[order]).groupby(village[order]).cumcount().to_numpy() + 1
    rank = np.full(n, np.nan)
    rank[order] = position
    return {"musdes_rank": rank, "village_head_relative": relative, "recent_shock": shock}


def _meeting_columns(values: dict[str, npt.NDArray[Any]], names: tuple[str, ...]) -> dict[str, Any]:
    """The meeting columns as nullable pandas arrays (a rank is missing where no meeting was held)."""
    out: dict[str, Any] = {}
    for name in names:
        v = values[name]
        if name == "musdes_rank":
            miss = np.isnan(v)
            out[name] = pd.arrays.IntegerArray(np.where(miss, 0, v).astype(np.int64), miss)
        else:
            out[name] = np.asarray(v, dtype=bool)
    return out


def _round_to(x: FloatArray, step: float) -> FloatArray:
    return np.maximum(np.rint(x / step), 1.0) * step


# ---- tables -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticKukar:
    """The three linked synthetic tables.

    Attributes
    ----------
    survey : contract columns + measured ``expenditure_pc`` (Rp/capita/month) + ``weight``
        (households represented; sums to the district household count). With village meetings
        (``village_meetings.share_of_desa`` > 0) also ``musdes_rank`` (1 = poorest among the desa's
        sample households; missing where no meeting) and ``village_head_relative``.
    registry : the same contract columns for every household, without welfare or weight.
    truth : ``household_id`` and true ``expenditure_pc`` for each registry household; with
        meetings also ``musdes_rank`` (among all the desa's registry households),
        ``village_head_relative`` and ``recent_shock``.
    """

    survey: pd.DataFrame
    registry: pd.DataFrame
    truth: pd.DataFrame


def _ids(prefix: str, n: int, width: int, start: int = 1) -> npt.NDArray[np.object_]:
    width = max(width, len(str(start + n - 1)))
    return np.asarray(prefix + pd.Series(np.arange(start, start + n)).astype(str).str.zfill(width),
                      dtype=object)


def _unique_serial(keys: IntArray, start: int, seen: dict[int, int] | None = None) -> IntArray:
    """Serial numbers unique within each key (so NIK and family card numbers never collide).

    ``seen`` counts the keys already numbered by earlier parts of a registry written in parts; it is
    updated, so serials continue across parts instead of starting again.
    """
    serial = pd.Series(keys).groupby(keys).cumcount().to_numpy() + start
    if seen is not None:
        counts = pd.Series(keys).value_counts()
        serial = serial + pd.Series(keys).map(seen).fillna(0).to_numpy(dtype=np.int64)
        for key, c in counts.items():
            seen[int(key)] = seen.get(int(key), 0) + int(c)
    if serial.max(initial=0) >= start + 2000:
        raise ValueError("too many households per region and date for unique synthetic NIK numbers")
    return serial.astype(np.int64)


def _personal_numbers(
    rng: np.random.Generator, hh: dict[str, Any], block: int,
    seen: tuple[dict[int, int], dict[int, int]] | None = None,
) -> tuple[npt.NDArray[np.object_], npt.NDArray[np.object_]]:
    """Synthetic 16-digit NIK and family card numbers: 6402 (Kukar) + kecamatan + date + serial.

    The NIK carries the head's birth date (day + 40 for women), as real NIKs do; serials are unique
    within region and date, and survey and registry use disjoint serial blocks (``block`` 0 or 1).
    ``seen`` (NIK keys, family card keys) carries the serials of earlier parts of a registry.
    """
    n = hh["kec"].size
    region = 640200 + hh["kec"] + 1
    day = rng.integers(1, 29, n)
    month = rng.integers(1, 13, n)
    year = 2024 - hh["age"] - (rng.random(n) < 0.5)
    dd = day + 40 * hh["female"]
    birth = (dd * 100 + month) * 100 + year % 100
    nik_seen, kk_seen = seen if seen is not None else (None, None)
    nik = (region * 1_000_000 + birth) * 10_000 + _unique_serial(region * 1_000_000 + birth, 1 + 5000 * block,
                                                                 nik_seen)
    issued = (rng.integers(1, 29, n) * 100 + rng.integers(1, 13, n)) * 100 + rng.integers(5, 25, n)
    kk = (region * 1_000_000 + issued) * 10_000 + _unique_serial(
        region * 1_000_000 + issued, 2001 + 5000 * block, kk_seen
    )
    return nik.astype(str).astype(object), kk.astype(str).astype(object)


def _frame(
    ids: npt.NDArray[np.object_],
    hh: dict[str, Any],
    values: dict[str, npt.NDArray[Any]],
    na: dict[str, BoolArray],
    personal: tuple[npt.NDArray[np.object_], npt.NDArray[np.object_]],
    p: KukarParameters,
    geo: _Geography,
) -> pd.DataFrame:
    """Assemble contract columns with their dtypes (nullable dtypes where a field can be missing)."""
    kec_codes = np.array(p.kecamatan, dtype=object)
    cols: dict[str, npt.NDArray[Any]] = {
        "household_id": ids,
        "head_nik": personal[0],
        "family_card_no": personal[1],
        "kecamatan": kec_codes[hh["kec"]],
        "desa": geo.name[hh["village"]],
        "urban": hh["urban"],
        "household_size": hh["size"],
        "n_age_0_5": hh["n05"],
        "n_age_6_17": hh["n617"],
        "n_age_18_59": hh["n1859"],
        "n_age_60_plus": hh["n60"],
        "n_disabled": hh["n_disabled"],
        "n_children_without_carer": hh["n_cwc"],
        "head_sex": np.where(hh["female"], "P", "L").astype(object),
        "head_age": hh["age"],
        "head_education": hh["education"],
        "head_employment": hh["employment"],
        "head_sector": hh["sector"],
        **values,
    }
    nullable = set(p.missing) | set(_DWELLING_FIELDS) | {"electricity_va"}
    out: dict[str, Any] = {}
    for name, kind in p.field_types.items():
        if name not in cols:
            continue  # expenditure_pc and weight are added by the caller
        data = cols[name]
        mask = na.get(name)
        if kind in ("string", "category"):
            obj = np.array(data, dtype=object)
            if mask is not None:
                obj[mask] = None
            out[name] = pd.array(obj, dtype="str")
        elif kind == "bool":
            b = np.asarray(data, dtype=bool)
            out[name] = pd.arrays.BooleanArray(b, mask) if name in nullable and mask is not None else b
        elif kind == "int":
            i = np.asarray(data, dtype=np.int64)
            out[name] = pd.arrays.IntegerArray(i, mask) if name in nullable and mask is not None else i
        else:
            f = np.asarray(data, dtype=float)
            out[name] = np.where(mask, np.nan, f) if mask is not None else f
    return pd.DataFrame(out)


def _allocate(n: int, p: KukarParameters) -> IntArray:
    """Stratum sample sizes: a floor per kecamatan, the rest proportional to households ** power."""
    k = len(p.kecamatan)
    floor = min(int(p.survey_design["min_per_kecamatan"]), n // k)
    a = p.household_share ** p.survey_design["allocation_power"]
    raw = (n - k * floor) * a / a.sum()
    base = np.floor(raw).astype(np.int64)
    # Largest remainders take the units left over by flooring, so sizes sum exactly to n.
    extra = np.argsort(-(raw - base), kind="stable")[: n - k * floor - int(base.sum())]
    base[extra] += 1
    return base + floor


def generate(
    *,
    n_survey: int = 20_000,
    n_registry: int = 260_000,
    seed: int = 2024,
    params: KukarParameters | None = None,
) -> SyntheticKukar:
    """Draw the calibrated survey sample, registry and registry ground truth.

    Parameters
    ----------
    n_survey : households in the stratified survey sample (at least one per kecamatan).
    n_registry : households in the registry.
    seed : seed of ``numpy.random.default_rng``; the same seed gives identical tables.
    params : population model (default: the packaged ``kukar_calibration.yaml``).
    """
    p = load_parameters() if params is None else params
    k = len(p.kecamatan)
    if n_survey < k or n_registry < 1:
        raise ValueError(f"need n_survey >= {k} (one per kecamatan) and n_registry >= 1")
    geo = _geography(p)
    cal = _calibrate(p, geo)
    # Separate streams: the registry does not change when only the survey size changes, and the
    # village meetings (spawned third) change nothing else.
    root = np.random.default_rng(seed)
    survey_rng, registry_rng = root.spawn(2)
    meeting_rng = root.spawn(1)[0]
    meetings = float(p.village_meetings.get("share_of_desa", 0.0)) > 0
    held = meeting_rng.random(geo.name.size) < float(p.village_meetings.get("share_of_desa", 0.0))

    kec = registry_rng.choice(k, size=n_registry, p=p.household_share).astype(np.int64)
    hh = _draw_households(registry_rng, kec, p, geo)
    true_log = hh["base"] + cal.composition_scale * hh["composition"] + cal.intercept
    values, na = _draw_indicators(registry_rng, hh, true_log, p, cal)
    ids = _ids("R", n_registry, 7)
    registry = _frame(ids, hh, values, na, _personal_numbers(registry_rng, hh, 0), p, geo)
    truth = pd.DataFrame(
        {"household_id": pd.array(ids, dtype="str"), "expenditure_pc": np.round(np.exp(true_log))}
    )
    if meetings:
        values_m = _village_meetings(meeting_rng, held, hh, true_log, p, cal)
        names = ("musdes_rank", "village_head_relative", "recent_shock")
        truth = truth.assign(**_meeting_columns(values_m, names))

    n_h = _allocate(n_survey, p)
    kec = survey_rng.permutation(np.repeat(np.arange(k, dtype=np.int64), n_h))
    hh = _draw_households(survey_rng, kec, p, geo)
    true_log = hh["base"] + cal.composition_scale * hh["composition"] + cal.intercept
    values, na = _draw_indicators(survey_rng, hh, true_log, p, cal)
    error = survey_rng.normal(0.0, float(p.welfare["measurement_error_sd"]), n_survey)
    survey = _frame(_ids("S", n_survey, 6), hh, values, na, _personal_numbers(survey_rng, hh, 1), p, geo)
    survey["expenditure_pc"] = np.round(np.exp(true_log + cal.error_shift + error))
    # Inverse inclusion probability: stratum households / stratum sample size.
    survey["weight"] = (p.households * p.household_share / n_h)[kec]
    if meetings:
        values_m = _village_meetings(meeting_rng, held, hh, true_log, p, cal)
        survey = survey.assign(**_meeting_columns(values_m, ("musdes_rank", "village_head_relative")))
    return SyntheticKukar(survey=survey, registry=registry, truth=truth)


def calibration_table(data: SyntheticKukar, params: KukarParameters | None = None) -> pd.DataFrame:
    """Calibration targets against what the generated tables achieve.

    Survey rows are weighted by the survey weight (persons: weight x household size); the registry
    poverty rate uses the ground truth, persons-weighted. Columns: measure, target, achieved,
    tolerance, ok, measure_id (the measure in Bahasa Indonesia).
    """
    p = load_parameters() if params is None else params
    s = data.survey
    w = s["weight"].to_numpy(dtype=float)
    size = s["household_size"].to_numpy(dtype=float)
    poor = s["expenditure_pc"].to_numpy(dtype=float) < p.poverty_line
    truth = data.registry[["household_id", "household_size"]].merge(
        data.truth, on="household_id", how="inner", validate="one_to_one"
    )
    r_size = truth["household_size"].to_numpy(dtype=float)
    r_poor = truth["expenditure_pc"].to_numpy(dtype=float) < p.poverty_line

    def share(mask: npt.NDArray[Any]) -> float:
        return float(np.sum(w * mask) / np.sum(w))

    t = p.targets
    rows = [
        (
            ("tingkat kemiskinan, jiwa (survei, terukur, berbobot)",
             "poverty rate, persons (survey, measured, weighted)"),
            t["poverty_rate"],
            float(np.sum(w * size * poor) / np.sum(w * size)),
        ),
        (
            ("tingkat kemiskinan, jiwa (kebenaran registri)",
             "poverty rate, persons (registry ground truth)"),
            t["poverty_rate"],
            float(np.sum(r_size * r_poor) / np.sum(r_size)),
        ),
        (
            ("rata-rata anggota rumah tangga (survei, berbobot)", "mean household size (survey, weighted)"),
            t["mean_household_size"],
            float(np.sum(w * size) / np.sum(w)),
        ),
        (
            ("rata-rata anggota rumah tangga miskin (survei, berbobot)",
             "poor households' mean size (survey, weighted)"),
            t["poor_mean_household_size"],
            float(np.sum(w * size * poor) / np.sum(w * poor)),
        ),
        (
            ("rumah tangga berkepala perempuan (survei, berbobot)",
             "female-headed households (survey, weighted)"),
            t["female_head_share"],
            share(s["head_sex"].to_numpy() == "P"),
        ),
        (
            ("kepala rumah tangga berusia 60+ (survei, berbobot)",
             "heads aged 60+ (survey, weighted)"),
            t["elderly_head_share"],
            share(s["head_age"].to_numpy() >= 60),
        ),
        (
            ("rumah tangga dengan anggota penyandang disabilitas (survei, berbobot)",
             "households with a disabled member (survey, weighted)"),
            t["disability_share"],
            share(s["n_disabled"].to_numpy() > 0),
        ),
        (
            ("rumah tangga tanpa tempat tinggal (registri)", "households without shelter (registry)"),
            t["no_shelter_share"],
            float(1.0 - data.registry["has_shelter"].to_numpy(dtype=bool).mean()),
        ),
        (
            ("rumah tangga perkotaan (survei, berbobot; tabel kecamatan)",
             "urban households (survey, weighted; kecamatan table)"),
            (p.urban_target, t["urban_share"][1]),
            share(s["urban"].to_numpy(dtype=bool)),
        ),
        (
            ("jumlah penduduk (survei, berbobot)",
             "population (survey, weighted)"),
            t["population"],
            float(np.sum(w * size)),
        ),
    ]
    table = pd.DataFrame(
        [(m[1], tg[0], a, tg[1]) for m, tg, a in rows],
        columns=["measure", "target", "achieved", "tolerance"],
    )
    table["ok"] = (table["achieved"] - table["target"]).abs() <= table["tolerance"]
    table["measure_id"] = [m[0] for m, _, _ in rows]  # the measure in Bahasa Indonesia
    return table


def write(data: SyntheticKukar, out_dir: Path, *, params: KukarParameters | None = None) -> dict[str, Path]:
    """Write ``survey.csv``, ``registry.parquet``, ``truth.parquet`` and ``calibration.csv``.

    Returns the written paths keyed ``survey``, ``registry``, ``truth``, ``calibration``.
    ``params`` is the model the data were generated with (for the calibration table's targets).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "survey": out_dir / "survey.csv",
        "registry": out_dir / "registry.parquet",
        "truth": out_dir / "truth.parquet",
        "calibration": out_dir / "calibration.csv",
    }
    write_csv(data.survey, paths["survey"])
    data.registry.to_parquet(paths["registry"], index=False)
    data.truth.to_parquet(paths["truth"], index=False)
    write_csv(calibration_table(data, params), paths["calibration"])
    return paths


# ---- a large registry, written part by part --------------------------------------------------------

#: Rows per Parquet row group of a registry part: readers stream it a row group at a time.
PART_ROW_GROUP_ROWS = 65_536


def _part_sizes(n: int, parts: int) -> list[int]:
    base, extra = divmod(n, parts)
    return [base + (i < extra) for i in range(parts)]


def iter_registry_parts(
    *, n_registry: int, partitions: int, seed: int = 2024, params: KukarParameters | None = None
) -> Iterator[tuple[pd.DataFrame, pd.DataFrame]]:
    """A registry of ``n_registry`` households as ``partitions`` (registry, truth) frames, one at a time.

    Each part is drawn from its own random stream (``SeedSequence(seed)``'s children), from the same
    calibrated population model as :func:`generate`, so memory is bounded by one part. Household ids
    (``R0000001``...) and the synthetic NIK and family card numbers continue across parts, unique in
    the whole registry. The truth has ``expenditure_pc`` only: village-meeting ranks need every
    household of a desa at once.
    """
    if partitions < 1 or n_registry < partitions:
        raise ValueError(f"need 1 <= partitions <= n_registry, got {partitions} for {n_registry:,}")
    p = load_parameters() if params is None else params
    k = len(p.kecamatan)
    geo = _geography(p)
    cal = _calibrate(p, geo)
    streams = np.random.SeedSequence(seed).spawn(partitions)
    seen: tuple[dict[int, int], dict[int, int]] = ({}, {})
    width = max(7, len(str(n_registry)))
    first = 1
    for stream, n in zip(streams, _part_sizes(n_registry, partitions), strict=True):
        rng = np.random.default_rng(stream)
        kec = rng.choice(k, size=n, p=p.household_share).astype(np.int64)
        hh = _draw_households(rng, kec, p, geo)
        true_log = hh["base"] + cal.composition_scale * hh["composition"] + cal.intercept
        values, na = _draw_indicators(rng, hh, true_log, p, cal)
        ids = _ids("R", n, width, start=first)
        registry = _frame(ids, hh, values, na, _personal_numbers(rng, hh, 0, seen), p, geo)
        truth = pd.DataFrame(
            {"household_id": pd.array(ids, dtype="str"), "expenditure_pc": np.round(np.exp(true_log))}
        )
        first += n
        yield registry, truth


def write_partitioned(
    out_dir: Path,
    *,
    n_survey: int = 20_000,
    n_registry: int,
    partitions: int,
    seed: int = 2024,
    params: KukarParameters | None = None,
) -> dict[str, Path]:
    """Write the survey and a partitioned registry: ``registry_parts/part-00000.parquet``... and its truth.

    Returns the paths keyed ``survey``, ``registry`` (the parts' folder), ``truth`` (folder) and
    ``calibration``; the calibration table compares the survey and the first registry part (a random
    sample of the same population) with the targets. Each part is written as soon as it is drawn,
    in row groups of :data:`PART_ROW_GROUP_ROWS`.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out_dir = Path(out_dir)
    paths = {"survey": out_dir / "survey.csv", "registry": out_dir / "registry_parts",
             "truth": out_dir / "truth_parts", "calibration": out_dir / "calibration.csv"}
    for folder in (paths["registry"], paths["truth"]):
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("part-*.parquet"):  # a previous, perhaps larger, registry
            old.unlink()
    survey = generate(n_survey=n_survey, n_registry=1, seed=seed, params=params).survey
    survey.to_csv(paths["survey"], index=False)
    width = max(5, len(str(partitions - 1)))
    sample: SyntheticKukar | None = None
    for i, (registry, truth) in enumerate(
        iter_registry_parts(n_registry=n_registry, partitions=partitions, seed=seed, params=params)
    ):
        name = f"part-{i:0{width}d}.parquet"
        pq.write_table(pa.Table.from_pandas(registry, preserve_index=False), paths["registry"] / name,
                       row_group_size=PART_ROW_GROUP_ROWS, compression="zstd")
        pq.write_table(pa.Table.from_pandas(truth, preserve_index=False), paths["truth"] / name,
                       row_group_size=PART_ROW_GROUP_ROWS, compression="zstd")
        if sample is None:
            sample = SyntheticKukar(survey=survey, registry=registry, truth=truth)
    assert sample is not None
    calibration_table(sample, params).to_csv(paths["calibration"], index=False)
    return paths
