"""Where a new household stands: rank and desil against a stored reference population.

A household scored alone has no population to be ranked in. Its district-wide ("national" in the
API: the whole population the model was trained for) and regional (kecamatan) rank is its position
in the reference population's predicted-welfare distribution: the training survey's own
predictions, each counting its population weight (survey weight x household size). The reference
is a JSON artifact kept beside the model (``reference.json``), so a decision can be recomputed years
later from the model folder alone; it holds every reference prediction (a district survey has a few
thousand households, so it stays small) and ranks exactly.

The rule is `targeting.pmt.ranking`'s: a household's position is the population share ranked below
it plus half the share tied with it, and desil ``d`` holds positions in [(d-1)/10, d/10). A new
household has no weight of its own, so its position is the reference share below its prediction
plus half the share exactly equal to it; scoring a reference household again gives the desil the
survey-wide ranking gave it (ties aside, which the ranking breaks by row order).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from targeting.errors import ModelIntegrityError

REFERENCE_FILE = "reference.json"
SCHEMA_VERSION = 1
DESIL_CUTS = np.arange(1, 10) / 10
FloatArray = npt.NDArray[np.float64]


def reference_from_predictions(
    pred_log_welfare: npt.ArrayLike,
    pop_weight: npt.ArrayLike,
    region: npt.ArrayLike | None = None,
    *,
    min_region_households: int = 30,
) -> dict[str, Any]:
    """The reference distribution of predicted log welfare (JSON-ready), district-wide and by region.

    Parameters
    ----------
    pred_log_welfare : the model's predictions for the reference (training) survey.
    pop_weight : persons each household represents (survey weight x household size).
    region : each household's region (kecamatan); a region with fewer than
        ``min_region_households`` reference households gets no regional rank (too few to rank in).
    """
    pred = np.asarray(pred_log_welfare, dtype=np.float64).reshape(-1)
    w = np.asarray(pop_weight, dtype=np.float64).reshape(-1)
    if pred.shape != w.shape or len(pred) == 0:
        raise ValueError("pred_log_welfare and pop_weight must be non-empty and of equal length")
    if not (np.all(np.isfinite(pred)) and np.all(np.isfinite(w)) and np.all(w > 0)):
        raise ValueError("predictions must be finite and population weights positive")
    if region is None:
        labels, codes = np.array(["all"], dtype=object), np.zeros(len(pred), dtype=np.int64)
    else:
        labels, codes = np.unique(np.asarray(region, dtype=object).astype(str), return_inverse=True)
    order = np.lexsort((codes, pred))
    return {
        "schema_version": SCHEMA_VERSION,
        "scale": "natural log of predicted per-capita welfare (Rp per person per month)",
        "rule": "position = share below + half the share tied; desil d holds [(d-1)/10, d/10)",
        "min_region_households": int(min_region_households),
        "has_regions": region is not None,
        "region_labels": [str(x) for x in labels],
        "predictions": [float(x) for x in pred[order]],
        "population_weights": [float(x) for x in w[order]],
        "regions": [int(c) for c in codes[order]],
    }


@dataclass(frozen=True)
class Distribution:
    """Sorted reference predictions with their cumulative population weight."""

    values: FloatArray
    cumulative: FloatArray

    @classmethod
    def of(cls, values: FloatArray, weights: FloatArray) -> Distribution:
        order = np.argsort(values, kind="stable")
        return cls(values[order], np.cumsum(weights[order]))

    def rank(self, x: npt.ArrayLike) -> tuple[FloatArray, npt.NDArray[np.int64]]:
        """Position (0..1) and desil (1..10) of predictions ``x`` in this distribution."""
        x = np.asarray(x, dtype=np.float64)
        total = self.cumulative[-1]
        cum = np.concatenate([[0.0], self.cumulative])
        below = cum[np.searchsorted(self.values, x, side="left")]
        upto = cum[np.searchsorted(self.values, x, side="right")]
        position = (below + 0.5 * (upto - below)) / total
        desil = np.searchsorted(DESIL_CUTS, position, side="right") + 1
        return position, desil.astype(np.int64)


@dataclass(frozen=True)
class Reference:
    """A loaded reference: the district-wide distribution and one per region (large enough)."""

    national: Distribution
    regions: dict[str, Distribution]
    sha256: str

    @classmethod
    def from_dict(cls, ref: dict[str, Any], sha256: str = "") -> Reference:
        values = np.asarray(ref["predictions"], dtype=np.float64)
        weights = np.asarray(ref["population_weights"], dtype=np.float64)
        codes = np.asarray(ref["regions"], dtype=np.int64)
        if not (len(values) == len(weights) == len(codes)) or len(values) == 0:
            raise ValueError("predictions, population_weights and regions differ in length")
        regions: dict[str, Distribution] = {}
        if ref["has_regions"]:
            for code, label in enumerate(ref["region_labels"]):
                mask = codes == code
                if mask.sum() >= ref["min_region_households"]:
                    regions[str(label)] = Distribution.of(values[mask], weights[mask])
        return cls(Distribution.of(values, weights), regions, sha256)

    def rank_regional(self, pred: FloatArray, region: npt.ArrayLike
                      ) -> tuple[FloatArray, npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
        """Position and desil within each household's region; ``known`` False where it has none."""
        labels = np.asarray(region, dtype=object).astype(str)
        position = np.full(len(pred), np.nan)
        desil = np.zeros(len(pred), dtype=np.int64)
        known = np.zeros(len(pred), dtype=bool)
        for label in np.unique(labels):
            dist = self.regions.get(str(label))
            if dist is None:
                continue
            mask = labels == label
            position[mask], desil[mask] = dist.rank(pred[mask])
            known |= mask
        return position, desil, known


def save_reference(reference: dict[str, Any], model_dir: Path) -> Path:
    """Write ``reference.json`` into a model folder, and list it in the folder's card (re-signed).

    The reference decides every new household's desil, so the card's hashes and signature cover
    it like the model files (`targeting.pmt.persistence.seal_model`).
    """
    from targeting.pmt.persistence import CARD_FILE, seal_model

    path = Path(model_dir) / REFERENCE_FILE
    path.write_text(json.dumps(reference, separators=(",", ":")) + "\n", encoding="utf-8")
    if (Path(model_dir) / CARD_FILE).exists():
        seal_model(model_dir)
    return path


def load_reference(model_dir: Path, card: Any = None) -> Reference:
    """Read ``reference.json`` beside a model; a missing or malformed file is an integrity error.

    ``card`` is the model's card as `targeting.pmt.persistence.load_model` verified it: the reference
    must then be the file whose sha256 the card lists (a signed card must list it).
    """
    path = Path(model_dir) / REFERENCE_FILE
    if not path.exists():
        raise ModelIntegrityError(
            f"{path}: no reference distribution beside the model, so new households cannot be ranked; "
            "write it with targeting.pmt.reference.save_reference(reference_from_predictions("
            "model.predict(X_train), weight * household_size, kecamatan), model_dir)"
        )
    data = path.read_bytes()
    if card is not None:
        listed = card.files.get(REFERENCE_FILE)
        if listed is None and card.integrity.signed:
            raise ModelIntegrityError(f"{path}: not covered by the signed model card; re-sign the model")
        if listed is not None and hashlib.sha256(data).hexdigest() != listed:
            raise ModelIntegrityError(
                f"{path}: sha256 does not match the model card (reference changed or tampered with)"
            )
    try:
        ref = json.loads(data)
        if ref.get("schema_version") != SCHEMA_VERSION:
            raise ValueError(f"schema_version {ref.get('schema_version')!r}, expected {SCHEMA_VERSION}")
        return Reference.from_dict(ref, hashlib.sha256(data).hexdigest())
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelIntegrityError(f"{path}: not a valid reference distribution ({exc})") from exc
