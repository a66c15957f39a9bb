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

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml
from scipy.special import expit

from targeting.errors import SpecError

__all__ = [
    "CALIBRATION_FILE",
    "POVERTY_LINE_KALTIM_2024",
    "KukarParameters",
    "SyntheticKukar",
    "calibration_table",
    "generate",
    "load_parameters",
    "write",
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

    @property
    def urban_target(self) -> float:
        """District urban share of households implied by the kecamatan table."""
        return float(np.sum(self.household_share * self.urban_share))


def load_parameters(path: Path | None = None) -> KukarParameters:
    """Read and check the calibration file (default: the packaged ``kukar_calibration.yaml``)."""
    path = CALIBRATION_FILE if path is None else Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        contract = yaml.safe_load(CONTRACT_FILE.read_text(encoding="utf-8"))
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
    flags = {
        f: np.array([1.0 if f in r.get("flags", []) else 0.0 for r in rows]) for f in _FLAGS
    }

    choices: dict[str, ChoiceModel] = {}
    for name, spec in raw["choices"].items():
        covariates = tuple(spec["covariates"])
        if "logit" in spec:
            levels: tuple[str, ...] = ("False", "True")
            coef = np.array([[0.0] * len(covariates), [float(c) for c in spec["logit"]]])
        else:
            levels = tuple(str(k) for k in spec["levels"])
            coef = np.array([[float(c) for c in v] for v in spec["levels"].values()])
            allowed = _allowed_levels(name, fields, codes)
            bad = [lv for lv in levels if lv not in allowed]
            if bad:
                raise SpecError(f"{path}: choices.{name}: levels {bad} not in the contract")
        if coef.shape[1] != len(covariates):
            raise SpecError(f"{path}: choices.{name}: each level needs {len(covariates)} coefficients")
        choices[name] = ChoiceModel(name, levels, covariates, coef, spec.get("factor"))

    targets = {k: (float(v[0]), float(v[1])) for k, v in raw["targets"].items()}
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
        poverty_line=float(raw["poverty_line"]["value"]),
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
    )


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
    for k, (label, n_v, u) in enumerate(
        zip(p.kecamatan_labels, p.villages, p.urban_share, strict=True)
    ):
        n_urban = 0 if u == 0.0 else int(n_v) if u == 1.0 else int(np.clip(round(u * n_v), 1, n_v - 1))
        for j in range(int(n_v)):
            is_urban = j < n_urban
            kind = "Kelurahan" if is_urban else "Desa"
            kec.append(k)
            urb.append(is_urban)
            names.append(f"{kind} {label} {j + 1:02d}")
            size.append(rng.gamma(4.0))
    kec_a = np.array(kec, dtype=np.int64)
    urb_a = np.array(urb, dtype=bool)
    size_a = np.array(size)
    group = 2 * kec_a + urb_a
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


def _choose(
    rng: np.random.Generator, model: ChoiceModel, cov: dict[str, FloatArray], n: int
) -> IntArray:
    """Index of the chosen level for each household (Gumbel-max draw of a multinomial logit)."""
    x = np.column_stack([cov[c] if c != "const" else np.ones(n) for c in model.covariates])
    utility = x @ model.coef.T + rng.gumbel(size=(n, len(model.levels)))
    return np.argmax(utility, axis=1).astype(np.int64)


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
    spouse = rng.random(n) < np.where(
        female, sp["female"], np.where(age < 65, sp["male_under_65"], sp["male_65_plus"])
    )
    ch = c["children"]
    rate = ch["rate"] * np.exp(-(((age - ch["peak_age"]) / ch["spread"]) ** 2))
    rate = rate * np.where(rural, ch["rural_factor"], 1.0) * np.where(female, ch["female_head_factor"], 1.0)
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

    n05 = kids_05 + grand_05
    n617 = (children - kids_05) + (grandkids - grand_05) + (age < 18)
    n1859 = ((age >= 18) & (age < 60)) + (spouse & ~spouse_old) + other_adults
    n60 = (age >= 60) + spouse_old + other_elderly
    size = (n05 + n617 + n1859 + n60).astype(np.int64)

    dp = c["disability_prob"]
    n_disabled = rng.binomial(n60, dp["elderly"]) + rng.binomial(size - n60, dp["other"])
    kids = n05 + n617 - (age < 18)
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
    edu_level = np.array(edu_model.levels)[_choose(rng, edu_model, cov, n)]
    edu = _reorder(edu_level, _EDUCATION)
    cov["edu"] = edu - 2.0
    emp_model = p.choices["head_employment"]
    employment = np.array(emp_model.levels, dtype=object)[_choose(rng, emp_model, cov, n)]
    for name, code in (("employee", "employee"), ("casual", "casual_labourer"), ("self_employed", "self_employed")):
        cov[name] = (employment == code).astype(float)
    working = employment != "not_working"
    cov["working"] = working.astype(float)
    sec_model = p.choices["head_sector"]
    sector = np.array(sec_model.levels, dtype=object)[_choose(rng, sec_model, cov, n)]
    sector = np.where(working, sector, "none")
    cov["farming"] = (sector == "farming").astype(float)
    cov["fishery"] = (sector == "fishery").astype(float)

    w = p.welfare
    base = (
        p.welfare_shift[kec]
        + geo.effect[village]
        + w["urban"] * urban
        + w["female_head"] * female
        + w["disabled_member"] * (n_disabled > 0)
        + _lookup(w["education"], edu_level)
        + _lookup(w["employment"], employment)
        + _lookup(w["sector"], sector)
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
        "education": edu_level,
        "employment": employment,
        "sector": sector,
        "cov": cov,
        "base": base,
        "composition": composition,
    }


def _reorder(levels: npt.NDArray[Any], order: tuple[str, ...]) -> IntArray:
    """Rank of each level in ``order`` (e.g. education level -> 0..4)."""
    lookup = {v: i for i, v in enumerate(order)}
    uniq, inverse = np.unique(levels, return_inverse=True)
    return np.array([lookup[u] for u in uniq], dtype=np.int64)[inverse]


def _lookup(mapping: dict[str, float], values: npt.NDArray[Any]) -> FloatArray:
    """Map category codes to coefficients without a per-household Python loop."""
    uniq, inverse = np.unique(values, return_inverse=True)
    return np.array([float(mapping[u]) for u in uniq])[inverse]
