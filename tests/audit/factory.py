"""A small random decisions frame shaped like the pipeline's output, for audit and report tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from targeting.audit.metrics import weighted_midranks

KECAMATAN = (
    "tenggarong", "tenggarong_seberang", "loa_janan", "samboja", "tabang", "kenohan", "muara_wis",
)  # fmt: skip
CRITERIA = ("no_shelter", "a", "b", "c", "d", "e", "f", "g", "h")
POVERTY_LINE = 833_955.0


def make_decisions(n: int = 3000, seed: int = 7, *, truth: bool = True) -> pd.DataFrame:
    """Households with a model pick (desil 1-2), a rule verdict (4 of 8) and, if ``truth``, welfare."""
    rng = np.random.default_rng(seed)
    kec = rng.choice(len(KECAMATAN), size=n, p=[0.25, 0.15, 0.15, 0.15, 0.1, 0.1, 0.1])
    remote = kec >= 4
    urban = rng.random(n) < np.where(remote, 0.1, 0.6)
    female = rng.random(n) < 0.18
    elderly = rng.random(n) < 0.2
    disability = rng.random(n) < 0.08
    size = np.clip(rng.poisson(3.0, n) + 1, 1, 12)
    log_w = (
        np.log(1_400_000)
        - 0.45 * remote
        + 0.2 * urban
        - 0.12 * np.log(size)
        - 0.1 * elderly
        - 0.05 * female
        + rng.normal(0, 0.45, n)
    )
    welfare = np.exp(log_w)
    predicted = np.exp(log_w + rng.normal(0, 0.35, n))
    weight = rng.uniform(20, 80, n).round(2)
    rank = weighted_midranks(predicted, weight * size)
    desil = np.minimum(10, np.floor(rank * 10).astype(int) + 1)
    selected = desil <= 2
    poor = welfare < POVERTY_LINE
    deprivation = 1 / (1 + np.exp((log_w - np.log(POVERTY_LINE)) / 0.3))
    crit = {c: rng.random(n) < (0.05 + 0.55 * deprivation) for c in CRITERIA[1:]}
    crit["no_shelter"] = rng.random(n) < 0.01 * deprivation
    met = np.sum([crit[c] for c in CRITERIA[1:]], axis=0)
    unknown_b = rng.random(n) < 0.03
    verdict = np.where(crit["no_shelter"] | (met >= 4), "eligible", "not_eligible")
    # A missing answer on b leaves the verdict open only where it could change it (3 met + b unknown).
    open_ = unknown_b & ~crit["no_shelter"] & (met - crit["b"] == 3)
    verdict = np.where(
        open_,
        "unknown",
        np.where(
            unknown_b & ~crit["no_shelter"],
            np.where(met - crit["b"] >= 4, "eligible", "not_eligible"),
            verdict,
        ),
    )
    frame = pd.DataFrame(
        {
            "household_id": [f"H{i:06d}" for i in range(n)],
            "head_nik": [f"6402{i:012d}" for i in range(n)],
            "weight": weight,
            "household_size": size,
            "predicted_welfare": predicted.round(0),
            "desil": desil,
            "selected": selected,
            "rule_verdict": pd.Categorical(verdict, categories=["eligible", "not_eligible", "unknown"]),
            "kecamatan": pd.Series(np.asarray(KECAMATAN)[kec], dtype="string"),
            "urban": urban,
            "female_head": female,
            "elderly_head": elderly,
            "disability": disability,
            "size_band": pd.Series(
                np.select([size == 1, size <= 3, size <= 5], ["1", "2-3", "4-5"], "6+"), dtype="string"
            ),
            "reason_1_text_id": np.where(
                predicted < 900_000,
                "Lantai rumah: tanah — menurunkan perkiraan kesejahteraan",
                "Memiliki sepeda motor — menaikkan perkiraan kesejahteraan",
            ),
            "reason_1_text_en": np.where(
                predicted < 900_000,
                "Floor: earth — lowers predicted welfare",
                "Owns a motorcycle — raises predicted welfare",
            ),
        }
    )
    for c in CRITERIA:
        col = pd.array(crit[c], dtype="boolean")
        if c == "b":
            col[unknown_b] = pd.NA
        frame[f"crit_{c}"] = col
    if truth:
        frame["welfare_true"] = welfare.round(0)
        frame["poor_true"] = pd.array(poor, dtype="boolean")
    return frame
