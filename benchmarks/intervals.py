"""Interval benchmark: empirical coverage of 80 % and 90 % welfare intervals out of sample, by group.

Run: ``.venv/bin/python -m benchmarks.intervals [--datasets kukar paraguay burkina] [--backend ensemble]
[--no-cqr] [--no-mapie] [--cost-only]``.

Protocol (the deployment situation, nested): for every outer split the intervals are calibrated on
the training part exactly as at training time (`targeting.pmt.intervals.fit_intervals`: 5-fold
cross-fitting grouped by cluster inside the training part, survey weights, Mondrian cells), the model
is fitted on the whole training part, and the test part is touched once.

* Kukar (synthetic survey, 20,000 households): 5-fold by village (desa); groups kecamatan x urban.
* Paraguay EPHC: train 2023, test 2024 (``../shared/data``); groups department x urban.
* Burkina Faso: 5-fold by community (``../shared/data``); groups rural/urban (no weights).

Methods, side by side: ``split`` (weighted, one pooled calibration), ``Mondrian`` (weighted, by
group, the product), ``CQR Mondrian`` (LightGBM quantile models at (1 ∓ L)/2, conformalized the same
way), and ``MAPIE CV+`` (MAPIE 1.x ``CrossConformalRegressor(method="plus")``, folds by cluster,
survey weights in fitting only, as MAPIE allows: the off-the-shelf reference). Coverage and widths
are survey-weighted (households). Per group: every kecamatan x urban cell, kecamatan and urban/rural
of the test data with an effective size of at least the minimum group size (400); "max |gap|" is
the largest distance to nominal, "in ±2" the share of those groups within 2 points, "in ±2SE" within
two binomial standard errors of the test cell itself (√(L(1−L)/n_eff)).

Cost: intervals, probabilities and statuses for 260,000 registry households against the time of
today's whole scoring path (`targeting.scoring.score_registry`) on the same registry.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

LEVELS = (0.8, 0.9)
MIN_GROUP = 400.0


@dataclass
class Split:
    train: Any
    test: Any


def _kukar() -> tuple[str, list[Split], tuple[str, ...]]:
    from targeting.survey import synthetic
    from targeting.survey.load import frame_to_survey
    from targeting.survey.spec import load_spec

    data = synthetic.generate(n_survey=20_000, n_registry=1, seed=2024)
    survey = frame_to_survey(data.survey, load_spec("kukar_survey")).data
    return "Kukar (synthetic, 5-fold by desa)", _kfold(survey), ("region", "urban")


def _paraguay() -> tuple[str, list[Split], tuple[str, ...]] | None:
    from targeting.survey.load import default_data_dir, load_dataset

    if not (default_data_dir() / "paraguay_ephc").exists():
        print("Paraguay skipped: ../shared/data/paraguay_ephc not available")
        return None
    train = load_dataset("paraguay_ephc", variables={"year": 2023}).data
    test = load_dataset("paraguay_ephc", variables={"year": 2024}).data
    return "Paraguay EPHC (2023 -> 2024)", [Split(train, test)], ("region", "urban")


def _burkina() -> tuple[str, list[Split], tuple[str, ...]] | None:
    from targeting.survey.load import default_data_dir, load_dataset

    if not (default_data_dir() / "burkina_faso").exists():
        print("Burkina Faso skipped: ../shared/data/burkina_faso not available")
        return None
    data = load_dataset("burkina_faso").data
    return "Burkina Faso (5-fold by community)", _kfold(data), ("rural",)


def _kfold(data: Any, k: int = 5, seed: int = 0) -> list[Split]:
    from sklearn.model_selection import GroupKFold

    codes = pd.factorize(data.cluster.astype("string"))[0]
    splits = GroupKFold(k, shuffle=True, random_state=seed).split(np.zeros(len(data)), groups=codes)
    return [Split(data.subset(list(tr)), data.subset(list(te))) for tr, te in splits]


def _estimator(backend: str, data: Any, **extra: Any) -> Any:
    from targeting.pmt import PMTRegressor
    from targeting.pmt.validation import size_feature

    return PMTRegressor(backend, size_feature=size_feature(data), n_jobs=1, **extra)  # type: ignore[arg-type]


def _clusters(data: Any) -> np.ndarray:
    if data.cluster is None:
        return np.arange(len(data))
    return pd.factorize(data.cluster.astype("string"))[0]


Bounds = dict[str, dict[float, tuple[np.ndarray, np.ndarray]]]


def _intervals_for_split(split: Split, backend: str, cols: tuple[str, ...], *, cqr: bool, mapie: bool,
                         min_group: float = MIN_GROUP) -> tuple[Bounds, pd.DataFrame]:
    from sklearn.base import clone

    from targeting.pmt.intervals import (
        WelfareIntervals,
        cqr_interval,
        cqr_scores,
        cross_fit_predictions,
        interval_groups,
        mondrian_levels,
    )
    from targeting.pmt.validation import design_frame, log_welfare

    train, test = split.train, split.test
    est = _estimator(backend, train)
    g_train = interval_groups(train, cols)
    g_test = interval_groups(test, cols)
    levels = mondrian_levels(list(g_train.columns))
    w_train = train.weight.to_numpy(dtype=float)
    fit = cross_fit_predictions(est, train)
    X_train, X_test = design_frame(train), design_frame(test)
    X_test = X_test[list(X_train.columns)]
    model = clone(est).fit(X_train, log_welfare(train), w_train, groups=_clusters(train))
    pred = model.predict(X_test)
    out: Bounds = {}
    pooled = WelfareIntervals((), min_group_size=min_group).fit(fit.residual, None, fit.weight)
    mondrian = WelfareIntervals(levels, min_group_size=min_group).fit(fit.residual, g_train, fit.weight)
    out["split (pooled)"] = {lv: pooled.interval(pred, None, lv) for lv in LEVELS}
    out["Mondrian"] = {lv: mondrian.interval(pred, g_test, lv) for lv in LEVELS}
    if cqr:
        out["CQR Mondrian"] = {}
        for lv in LEVELS:
            bounds_oof, bounds_test = [], []
            for a in ((1 - lv) / 2, (1 + lv) / 2):
                q_est = _estimator("quantile", train, quantile_alpha=a)
                bounds_oof.append(cross_fit_predictions(q_est, train).prediction)
                q_model = clone(q_est).fit(X_train, log_welfare(train), w_train, groups=_clusters(train))
                bounds_test.append(q_model.predict(X_test))
            scores = cqr_scores(fit.log_welfare, bounds_oof[0], bounds_oof[1])
            cal = WelfareIntervals(levels, min_group_size=min_group).fit(scores, g_train, fit.weight)
            out["CQR Mondrian"][lv] = cqr_interval(bounds_test[0], bounds_test[1], cal, g_test, lv)
    if mapie:
        from mapie.regression import CrossConformalRegressor
        from sklearn.model_selection import GroupKFold

        m = CrossConformalRegressor(clone(est), confidence_level=list(LEVELS), method="plus",
                                    cv=GroupKFold(5, shuffle=True, random_state=0))
        m.fit_conformalize(X_train, log_welfare(train), groups=_clusters(train),
                           fit_params={"sample_weight": w_train})
        _, b = m.predict_interval(X_test)
        out["MAPIE CV+ (unweighted, pooled)"] = {lv: (b[:, 0, j], b[:, 1, j]) for j, lv in enumerate(LEVELS)}
    test_frame = g_test.assign(y=log_welfare(test), w=test.weight.to_numpy(dtype=float))
    return out, test_frame


def _group_labels(frame: pd.DataFrame, cols: tuple[str, ...]) -> dict[str, pd.Series]:
    groups: dict[str, pd.Series] = {}
    present = [c for c in cols if c in frame.columns]
    if len(present) > 1:
        groups[" × ".join(present)] = frame[present].astype("string").agg(" × ".join, axis=1)
    for c in present:
        groups[c] = frame[c].astype("string")
    return groups


def _evaluate(name: str, results: list[tuple[dict, pd.DataFrame]], cols: tuple[str, ...],
              min_group: float = MIN_GROUP) -> pd.DataFrame:
    from targeting.pmt.intervals import effective_size

    test = pd.concat([f for _, f in results], ignore_index=True)
    rows, per_group = [], []
    for method in results[0][0]:
        for lv in LEVELS:
            lo = np.concatenate([r[method][lv][0] for r, _ in results])
            hi = np.concatenate([r[method][lv][1] for r, _ in results])
            y, w = test["y"].to_numpy(), test["w"].to_numpy()
            inside = (y >= lo) & (y <= hi)
            finite = np.isfinite(hi - lo)
            gaps, in2, in2se = [], 0, 0
            for label, g in _group_labels(test, cols).items():
                for value, idx in g.groupby(g.to_numpy(), sort=True).indices.items():
                    n_eff = effective_size(w[idx])
                    if n_eff < min_group:
                        continue
                    cov = float(np.average(inside[idx], weights=w[idx]))
                    se = float(np.sqrt(lv * (1 - lv) / n_eff))
                    gaps.append(cov - lv)
                    in2 += abs(cov - lv) <= 0.02
                    in2se += abs(cov - lv) <= 2 * se
                    per_group.append({"dataset": name, "method": method, "level": lv, "group": label,
                                      "value": value, "n_eff": round(n_eff), "coverage": cov, "se": se})
            rows.append({
                "dataset": name, "method": method, "level": lv,
                "coverage": float(np.average(inside, weights=w)),
                "mean width": float(np.average(np.where(finite, hi - lo, np.nan)[finite], weights=w[finite])),
                "groups": len(gaps),
                "max |gap|": float(np.max(np.abs(gaps))) if gaps else np.nan,
                "in ±2": f"{in2}/{len(gaps)}",
                "in ±2SE": f"{in2se}/{len(gaps)}",
            })
    table = pd.DataFrame(rows)
    table.attrs["per_group"] = pd.DataFrame(per_group)
    return table


def _cost(n_registry: int) -> None:
    """The whole `targeting score` command with and without the model's intervals, side by side."""
    import shutil
    import sys
    import tempfile

    from benchmarks._process import timed
    from targeting.shipped import default_model_dir

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        bin_dir = Path(sys.executable).parent
        env = {"TARGETING_HOME": str(home), "OMP_NUM_THREADS": "1"}
        timed([str(bin_dir / "targeting"), "generate", "--n-survey", "500", "--n-registry", str(n_registry)],
              env=env)
        registry = home / "data" / "kukar" / "registry.parquet"
        plain = home / "model-without-intervals"
        shutil.copytree(default_model_dir(), plain)
        (plain / "intervals.json").unlink()
        rows = []
        for _ in range(2):  # alternate, so both see the same machine
            for label, model in (("without intervals", plain), ("with intervals", default_model_dir())):
                m = timed([str(bin_dir / "targeting"), "score", str(registry), "--model", str(model),
                           "--program", "pkh", "--out", str(home / "out")], env=env)
                rows.append({"run": label, **m})
    table = pd.DataFrame(rows).groupby("run", sort=False).agg(
        wall_s=("wall_s", "median"), cpu_s=("cpu_s", "median"), peak_rss_mb=("peak_rss_mb", "max"),
        load_before=("load_before", "first"))
    base = table.loc["without intervals", "wall_s"]
    table["vs without"] = table["wall_s"] / base
    print(f"\n## Cost of intervals and statuses: the whole `targeting score` on {n_registry:,} households "
          "(median of 2, /usr/bin/time)")
    print(table.round(2).to_string())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--datasets", nargs="+", default=["kukar", "paraguay", "burkina"])
    ap.add_argument("--backend", default="ensemble")
    ap.add_argument("--no-cqr", action="store_true")
    ap.add_argument("--no-mapie", action="store_true")
    ap.add_argument("--cost-only", action="store_true")
    ap.add_argument("--no-cost", action="store_true")
    ap.add_argument("--min-group", type=float, default=MIN_GROUP, help="minimum effective group size")
    ap.add_argument("--n-registry", type=int, default=260_000)
    ap.add_argument("--per-group", action="store_true", help="print every group's coverage")
    args = ap.parse_args()
    if not args.cost_only:
        loaders = {"kukar": _kukar, "paraguay": _paraguay, "burkina": _burkina}
        tables = []
        for key in args.datasets:
            loaded = loaders[key]()
            if loaded is None:
                continue
            name, splits, cols = loaded
            t0 = time.perf_counter()
            results = [
                _intervals_for_split(s, args.backend, cols, cqr=not args.no_cqr, mapie=not args.no_mapie,
                                     min_group=args.min_group)
                for s in splits
            ]
            table = _evaluate(name, results, cols, args.min_group)
            print(f"\n## {name}: backend {args.backend}, minimum group size {args.min_group:.0f} "
                  f"({time.perf_counter() - t0:.0f} s)")
            print(table.drop(columns="dataset").to_string(index=False, float_format=lambda v: f"{v:.3f}"))
            per = table.attrs["per_group"]
            if args.per_group:
                print(per.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
            else:
                worst = per[per["method"] == "Mondrian"]
                worst = worst.assign(gap=(worst["coverage"] - worst["level"]).abs())
                worst = worst.sort_values("gap", ascending=False).groupby("level").head(3)
                print("worst Mondrian groups:")
                print(worst.drop(columns=["dataset", "method"]).to_string(index=False,
                                                                        float_format=lambda v: f"{v:.3f}"))
            tables.append(table)
    if not args.no_cost:
        _cost(args.n_registry)


if __name__ == "__main__":
    main()
