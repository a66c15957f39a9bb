"""The classic PMT: weighted least squares of log per-capita welfare on indicator dummies.

Specification (fixed from the training data only):

* categorical feature -> one dummy per observed level except the reference level, which is the level
  with the largest weighted share (a stable, well-populated baseline); if any training value is
  missing, missing gets a dummy of its own. At prediction time a level of the code list never seen
  in training, or a missing value when training had none, falls on the reference level (all
  dummies 0); a value outside the training code list is read as missing, as LightGBM reads it.
* numeric/binary feature -> its value with missing filled by the weighted median, plus a missing
  dummy if any training value is missing. A non-negative, non-binary feature whose weighted skewness
  exceeds ``SKEW_LOG_THRESHOLD`` (rupiah savings, land area) enters as ``log1p(x)`` instead of ``x``.
* the household-size feature (``size_feature``) enters as size, size² and log(size).
* region effects come in as an ordinary categorical feature (e.g. ``kecamatan``).

Estimation is ridge-stabilised WLS: columns are centred and scaled by their weighted mean and
standard deviation, the weights are normalised to sum to one and ``alpha`` (default 1e-3, on the
scale of a correlation matrix) is added to the diagonal, which keeps rare dummies and collinear
size terms finite while shrinking well-measured coefficients by ~0.1%. The intercept is not
penalised. Because only normalised weights enter, integer weights are equivalent to repeating rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from targeting.pmt.schema import InputSchema

FloatArray = npt.NDArray[np.float64]
TermKind = Literal["level", "missing", "value", "log1p", "square", "log"]

SKEW_LOG_THRESHOLD = 2.0
CHUNK_ROWS = 32_768


@dataclass(frozen=True)
class Term:
    """One design column: which input feature it comes from and how it is computed."""

    feature: int
    kind: TermKind
    level: int | None = None


@dataclass
class LinearPMT:
    """A fitted linear PMT: design terms, fill values, column means and coefficients."""

    terms: list[Term]
    fill: FloatArray
    means: FloatArray
    coef: FloatArray
    intercept: float
    n_features: int
    alpha: float

    def design(self, M: FloatArray) -> FloatArray:
        """Design matrix (rows of ``M`` x terms)."""
        Z = np.empty((M.shape[0], len(self.terms)), dtype=np.float64)
        for k, t in enumerate(self.terms):
            x = M[:, t.feature]
            if t.kind == "level":
                Z[:, k] = x == t.level
            elif t.kind == "missing":
                Z[:, k] = np.isnan(x)
            else:
                v = np.where(np.isnan(x), self.fill[t.feature], x)
                if t.kind == "value":
                    Z[:, k] = v
                elif t.kind == "log1p":
                    Z[:, k] = np.log1p(np.maximum(v, 0.0))
                elif t.kind == "square":
                    Z[:, k] = v * v
                else:  # log: household size is at least 1 by contract
                    Z[:, k] = np.log(np.maximum(v, 1.0))
        return Z

    def predict(self, M: FloatArray) -> FloatArray:
        out = np.empty(M.shape[0])
        for s in range(0, M.shape[0], CHUNK_ROWS):
            out[s : s + CHUNK_ROWS] = self.intercept + self.design(M[s : s + CHUNK_ROWS]) @ self.coef
        return out

    @property
    def base_value(self) -> float:
        """Prediction at the weighted training mean of every design column."""
        return float(self.intercept + self.means @ self.coef)

    def fold_matrix(self) -> FloatArray:
        """Fold matrix (terms x input features): 1 where a term belongs to a feature."""
        F = np.zeros((len(self.terms), self.n_features))
        F[np.arange(len(self.terms)), [t.feature for t in self.terms]] = 1.0
        return F

    def contributions(self, M: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Coefficient x (x − training mean), summed over each input feature's terms."""
        F = self.fold_matrix()
        out = np.empty((M.shape[0], self.n_features))
        for s in range(0, M.shape[0], CHUNK_ROWS):
            Zc = self.design(M[s : s + CHUNK_ROWS]) - self.means
            out[s : s + CHUNK_ROWS] = (Zc * self.coef) @ F
        return np.full(M.shape[0], self.base_value), out

    def coefficients(self, schema: InputSchema) -> list[dict[str, Any]]:
        """Readable coefficient table (feature, term, level label, coefficient, training mean)."""
        rows = []
        for t, b, m in zip(self.terms, self.coef, self.means, strict=True):
            cats = schema.categories[t.feature]
            label = None if t.level is None or cats is None else cats[t.level]
            rows.append(
                {
                    "feature": schema.names[t.feature],
                    "term": t.kind,
                    "level": label,
                    "coef": float(b),
                    "mean": float(m),
                }
            )
        return rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "terms": [{"feature": t.feature, "kind": t.kind, "level": t.level} for t in self.terms],
            "fill": [None if np.isnan(v) else float(v) for v in self.fill],
            "means": self.means.tolist(),
            "coef": self.coef.tolist(),
            "intercept": self.intercept,
            "n_features": self.n_features,
            "alpha": self.alpha,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LinearPMT:
        return cls(
            terms=[Term(t["feature"], t["kind"], t["level"]) for t in d["terms"]],
            fill=np.array([np.nan if v is None else v for v in d["fill"]], dtype=np.float64),
            means=np.asarray(d["means"], dtype=np.float64),
            coef=np.asarray(d["coef"], dtype=np.float64),
            intercept=float(d["intercept"]),
            n_features=int(d["n_features"]),
            alpha=float(d["alpha"]),
        )


def weighted_median(x: FloatArray, w: FloatArray) -> float:
    """Lower weighted median of the non-missing values with positive weight (``nan`` if none)."""
    keep = ~np.isnan(x) & (w > 0)
    if not keep.any():
        return float("nan")
    xs, ws = x[keep], w[keep]
    order = np.argsort(xs, kind="stable")
    cw = np.cumsum(ws[order])
    return float(xs[order][np.searchsorted(cw, 0.5 * cw[-1])])


def _weighted_skew(x: FloatArray, w: FloatArray) -> float:
    sw = w.sum()
    m = (w @ x) / sw
    d = x - m
    m2 = (w @ (d * d)) / sw
    return float((w @ d**3) / sw / m2**1.5) if m2 > 0 else 0.0


def _terms_for(
    j: int,
    x: FloatArray,
    w: FloatArray,
    kind: str,
    is_size: bool,
    log_skewed: bool,
) -> list[Term]:
    pos = w > 0
    missing = np.isnan(x) & pos
    observed = ~np.isnan(x) & pos
    terms: list[Term] = []
    if kind == "categorical":
        codes = x[observed].astype(np.int64)
        if codes.size:
            level_w = np.bincount(codes, weights=w[observed])
            present = np.nonzero(level_w > 0)[0]
            reference = int(np.argmax(level_w))  # first maximum: ties go to the lowest code
            terms += [Term(j, "level", int(c)) for c in present if c != reference]
    elif observed.any():
        xo, wo = x[observed], w[observed]
        if is_size:
            terms += [Term(j, "value"), Term(j, "square"), Term(j, "log")]
        elif (
            log_skewed
            and xo.min() >= 0
            and np.unique(xo).size > 2
            and _weighted_skew(xo, wo) > SKEW_LOG_THRESHOLD
        ):
            terms.append(Term(j, "log1p"))
        else:
            terms.append(Term(j, "value"))
    if missing.any():
        terms.append(Term(j, "missing"))
    return terms


def fit_linear(
    M: FloatArray,
    y: FloatArray,
    w: FloatArray,
    schema: InputSchema,
    *,
    alpha: float = 1e-3,
    size_feature: str | None = "household_size",
    log_skewed: bool = True,
) -> LinearPMT:
    """Fit the ridge-stabilised WLS PMT (see the module docstring for the specification)."""
    if alpha < 0:
        raise ValueError(f"ridge alpha must be non-negative, got {alpha}")
    terms: list[Term] = []
    fill = np.full(schema.n_features, np.nan)
    for j, (name, kind) in enumerate(zip(schema.names, schema.kinds, strict=True)):
        x = M[:, j]
        if kind == "numeric":
            med = weighted_median(x, w)
            fill[j] = 0.0 if np.isnan(med) else med
        terms += _terms_for(j, x, w, kind, name == size_feature, log_skewed)
    model = LinearPMT(
        terms=terms,
        fill=fill,
        means=np.zeros(len(terms)),
        coef=np.zeros(len(terms)),
        intercept=0.0,
        n_features=schema.n_features,
        alpha=alpha,
    )
    wn = w / w.sum()
    y_mean = float(wn @ y)
    if not terms:
        model.intercept = y_mean
        return model
    Z = model.design(M)
    means = wn @ Z
    Zc = Z - means
    sd = np.sqrt(wn @ (Zc * Zc))
    sd[sd <= 1e-12 * np.maximum(1.0, np.abs(means))] = np.inf  # constant column: coefficient 0
    Zs = Zc / sd
    A = (Zs * wn[:, None]).T @ Zs + alpha * np.eye(len(terms))
    rhs = Zs.T @ (wn * (y - y_mean))
    beta_s = np.linalg.lstsq(A, rhs, rcond=None)[0]
    coef = beta_s / sd
    model.means = means
    model.coef = coef
    model.intercept = float(y_mean - means @ coef)
    return model
