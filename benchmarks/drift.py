"""Drift benchmark on Paraguay EPHC 2022 -> 2023 -> 2024: how old may a PMT be?

Run: ``.venv/bin/python -m benchmarks.drift [--n-bootstrap 200] [--backends ols,ensemble]``.
Needs ``../shared/data/paraguay_ephc`` (skips with a message otherwise). Prints:

1. the panel: how many household keys (UPM, NVIVI, NHOGA) recur across rounds, and whether a
   recurring key looks like the same household (composition and dwelling) against a baseline of
   other households of the same UPM;
2. the drift tables 2022 -> 2023, 2022 -> 2024, 2023 -> 2024 (survey-weighted, household shares), with
   predicted-welfare drift under models trained on 2022;
3. out-of-sample accuracy by year gap on a fixed test round: gap 0 = grouped 5-fold CV within the
   test round, gap 1 = trained one round earlier, gap 2 = two rounds earlier; paired-bootstrap
   differences to gap 0 on the same households, also on the households the older model's training
   round never saw (the panel would otherwise favour the one-year-old model). Gap 0 is not an upper
   bound: its folds train on 80% of the round and hold out whole UPMs, while an older round's model
   trains on all of it and has seen ~98% of the same UPMs. The clean ageing comparison is gap 2 vs
   gap 1 (both trained on a full round, neither saw the test households);
4. round-to-round re-ranking of the panel households 2023 -> 2024 under the 2022 model (PKH desil
   1-4), against the same transitions of measured welfare.
LightGBM runs on one thread throughout.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import pandas as pd

YEARS = (2022, 2023, 2024)
COVERAGES = ("poverty_rate", 0.2, 0.4, "poverty_line")
PAIRED_ROWS = (("spearman", ""), ("exclusion_error", "20%"), ("exclusion_error", "40%"),
               ("exclusion_error", "poverty line"), ("inclusion_error", "poverty line"))
ACCURACY_ROWS = (
    ("spearman", ""), ("r2_log_welfare", ""), ("exclusion_error", "poverty rate"),
    ("exclusion_error", "20%"), ("inclusion_error", "20%"), ("exclusion_error", "40%"),
    ("inclusion_error", "40%"), ("exclusion_error", "poverty line"), ("inclusion_error", "poverty line"),
)


def _cell(e: float, lo: float, hi: float, signed: bool = False) -> str:
    f = "{:+.3f}" if signed else "{:.3f}"
    return f"{f.format(e)} [{f.format(lo)}, {f.format(hi)}]"


def _label(metric: str, cov: str) -> str:
    short = {"spearman": "Spearman", "r2_log_welfare": "R²", "exclusion_error": "EE",
             "inclusion_error": "IE"}[metric]
    return f"{short} @ {cov}" if cov else short


def load_rounds(data_dir):
    from targeting.survey.load import load_dataset

    out = {}
    for y in YEARS:
        loaded = load_dataset("paraguay_ephc", data_dir=data_dir, variables={"year": y})
        import dataclasses

        out[y] = dataclasses.replace(loaded.data, name=f"EPHC {y}")
    return out


# ---- 1. panel ------------------------------------------------------------------------------------


def panel_table(rounds) -> pd.DataFrame:
    rows = []
    rng = np.random.default_rng(0)
    for a, b in ((2022, 2023), (2023, 2024), (2022, 2024)):
        A, B = (_plain(rounds[y]) for y in (a, b))
        keys = np.intersect1d(A["household_id"], B["household_id"])
        upm_a = set(A["UPM"].astype(str))
        row = {"rounds": f"{a} -> {b}", "households_a": len(A), "households_b": len(B),
               "recurring_keys": len(keys), "share_of_b": len(keys) / len(B),
               "upm_of_b_in_a": float(B["UPM"].astype(str).isin(upm_a).mean())}
        if len(keys):
            m = A.merge(B, on="household_id", suffixes=("_a", "_b"))
            row.update(_same(m))
            # Baseline: a household of b paired with a *different* household of the same UPM in a.
            pairs = []
            for upm, grp_b in B.groupby(B["UPM"].astype(str)):
                grp_a = A[A["UPM"].astype(str) == upm]
                if len(grp_a) < 2:
                    continue
                pick = grp_a.iloc[rng.integers(0, len(grp_a), len(grp_b))]
                pair = pd.concat([pick.add_suffix("_a").reset_index(drop=True),
                                  grp_b.add_suffix("_b").reset_index(drop=True)], axis=1)
                pairs.append(pair[pair["household_id_a"] != pair["household_id_b"]])
            base = _same(pd.concat(pairs, ignore_index=True))
            row.update({f"{k} (same-UPM baseline)": v for k, v in base.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _plain(data) -> pd.DataFrame:
    # The validated frame carries every source row number in attrs, which merges compare: drop them.
    frame = data.frame.copy()
    frame.attrs = {}
    return frame.assign(household_id=data.household_id.to_numpy())


def _same(m: pd.DataFrame) -> dict[str, float]:
    def eq(col: str) -> float:
        return float((m[f"{col}_a"].astype(str) == m[f"{col}_b"].astype(str)).mean())

    size_a = pd.to_numeric(m["TOTAL_a"], errors="coerce")
    size_b = pd.to_numeric(m["TOTAL_b"], errors="coerce")
    return {
        "same size": eq("TOTAL"), "size ±1": float(((size_a - size_b).abs() <= 1).mean()),
        "same men & women": float(((m["HOMBRES_a"] == m["HOMBRES_b"])
                                   & (m["MUJERES_a"] == m["MUJERES_b"])).mean()),
        "same dwelling type, floor, walls": float(
            ((m["V01_a"].astype(str) == m["V01_b"].astype(str))
             & (m["V04_a"].astype(str) == m["V04_b"].astype(str))
             & (m["V03_a"].astype(str) == m["V03_b"].astype(str))).mean()),
    }


# ---- 2. drift -----------------------------------------------------------------------------------------


def fit(train, backend: str):
    from targeting.pmt import PMTRegressor, design_frame
    from targeting.pmt.validation import log_welfare, size_feature

    model = PMTRegressor(backend, size_feature=size_feature(train), n_jobs=1)  # type: ignore[arg-type]
    groups = pd.factorize(train.cluster.astype("string"))[0] if train.cluster is not None else None
    return model.fit(design_frame(train), log_welfare(train), train.weight.to_numpy(), groups=groups)


def drift_section(rounds, models) -> list[dict]:
    from targeting.drift import predict, prediction_drift, survey_drift

    summary = []
    for a, b in ((2022, 2023), (2022, 2024), (2023, 2024)):
        start = time.perf_counter()
        res = survey_drift(rounds[a], rounds[b], model=models["ols"])
        extra = []
        for name, model in models.items():
            if name == "ols":
                continue
            row, _ = prediction_drift(predict(model, rounds[a]), predict(model, rounds[b]),
                                      reference_weight=rounds[a].population_weight.to_numpy(),
                                      current_weight=rounds[b].population_weight.to_numpy(),
                                      name=f"predicted_log_welfare ({name})", thresholds=res.thresholds)
            extra.append(row)
        seconds = time.perf_counter() - start
        t = res.table.copy()
        t.loc[t["kind"] == "prediction", "indicator"] = "predicted_log_welfare (ols)"
        t = pd.concat([t, *extra], ignore_index=True)
        ind = t[~t["kind"].isin(["prediction", "welfare"])].sort_values("psi", ascending=False)
        print(f"\n### Drift {a} -> {b} (survey-weighted household shares; {len(ind)} indicators; "
              f"{seconds:.1f} s incl. predictions)\n")
        cols = ["indicator", "kind", "n_bins", "psi", "psi_null", "level", "test", "statistic", "p_adjusted",
                "flag", "top_bin", "top_bin_reference", "top_bin_current"]
        show = pd.concat([ind.head(10), t[t["kind"].isin(["prediction", "welfare"])]])[cols]
        print(show.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
        w = t[t["kind"].isin(["prediction", "welfare"])]
        print("\nmeans of log welfare (reference -> current): " + "; ".join(
            f"{r.indicator}: {r.mean_reference:.3f} -> {r.mean_current:.3f}" for r in w.itertuples()))
        summary.append({
            "rounds": f"{a} -> {b}", "indicators": len(ind),
            "PSI >= 0.10": int((ind["psi"] >= 0.10).sum()),
            "flag moderate": int((ind["flag"] == "moderate").sum()),
            "flag major": int((ind["flag"] == "major").sum()),
            "significant (BH 5%)": int(ind["significant"].sum()),
            "max PSI": f"{ind['psi'].iloc[0]:.3f} ({ind['indicator'].iloc[0]})",
            "median PSI": round(float(ind["psi"].median()), 4),
            **{f"PSI {r.indicator}": round(float(r.psi), 4) for r in w.itertuples()},
        })
    return summary


# ---- 3. accuracy by year gap ---------------------------------------------------------------------------


def accuracy_section(rounds, backends, n_bootstrap):
    from targeting.pmt import cross_validate, evaluate_predictions, temporal_validation

    params = {"n_jobs": 1}
    preds: dict[tuple[int, int], pd.DataFrame] = {}  # (train, test) -> predictions
    rows = []
    timing = {}
    for test in (2023, 2024):
        start = time.perf_counter()
        cv = cross_validate(rounds[test], backends, params=params, n_splits=5, n_bootstrap=n_bootstrap,
                            coverages=COVERAGES, baseline=backends[0], n_jobs=1)
        timing[f"cv {test}"] = time.perf_counter() - start
        preds[(test, test)] = cv.predictions
        rows += _rows(cv.table, test, test, "grouped 5-fold CV")
        for train in [y for y in YEARS if y < test]:
            start = time.perf_counter()
            tv = temporal_validation(rounds[train], rounds[test], backends, params=params,
                                     n_bootstrap=n_bootstrap, coverages=COVERAGES, baseline=backends[0])
            timing[f"{train}->{test}"] = time.perf_counter() - start
            preds[(train, test)] = tv.predictions
            rows += _rows(tv.table, train, test, f"train {train}")
    table = pd.DataFrame(rows)

    # Paired differences on one test round's households (same bootstrap replicates for every model).
    paired = []
    for test in (2023, 2024):
        base = preds[(test, test)]
        key = base["household_id"].to_numpy()
        frame = base.drop(columns=[c for c in base.columns if c.startswith("pred_")]).copy()
        gaps = sorted(test - train for (train, t) in preds if t == test)
        for (train, t), p in preds.items():
            if t == test:
                aligned = p.set_index("household_id").loc[key]
                for b in backends:
                    frame[f"pred_{b}_gap{test - train}"] = aligned[f"pred_{b}"].to_numpy()
        seen_before: set[str] = set()
        for y in YEARS:
            if y < test:
                seen_before |= set(rounds[y].household_id)
        fresh = ~frame["household_id"].isin(seen_before).to_numpy()
        for subset, mask in (("all", np.ones(len(frame), bool)), ("never in a training round", fresh)):
            sub = frame[mask].reset_index(drop=True)
            for b in backends:
                names = [f"{b}_gap{g}" for g in gaps]
                vs0 = evaluate_predictions(sub, names, coverages=COVERAGES, n_bootstrap=n_bootstrap,
                                           baseline=names[0])
                vs1 = evaluate_predictions(sub, names, coverages=COVERAGES, n_bootstrap=n_bootstrap,
                                           baseline=names[1]) if len(names) > 2 else None
                for metric, cov in PAIRED_ROWS:
                    def pick(tab, name, metric=metric, cov=cov):
                        return tab[(tab["metric"] == metric) & (tab["coverage_label"] == cov)
                                   & (tab["backend"] == name)].iloc[0]

                    row = {"test": test, "households": f"{subset} ({len(sub):,})", "backend": b,
                           "metric": _label(metric, cov)}
                    for g, name in zip(gaps, names, strict=True):
                        row[f"gap {g}"] = f"{pick(vs0, name)['estimate']:.3f}"
                    for g, name in zip(gaps[1:], names[1:], strict=True):
                        r = pick(vs0, name)
                        row[f"Δ {g}-0"] = _cell(r["diff_vs_baseline"], r["diff_ci_low"],
                                                r["diff_ci_high"], True)
                    if vs1 is not None:
                        r = pick(vs1, names[2])
                        row["Δ 2-1"] = _cell(r["diff_vs_baseline"], r["diff_ci_low"], r["diff_ci_high"], True)
                    paired.append(row)
    return table, pd.DataFrame(paired), timing


def _rows(table: pd.DataFrame, train: int, test: int, how: str) -> list[dict]:
    out = []
    for backend, sub in table.groupby("backend", sort=False):
        row = {"test": test, "gap (years)": test - train, "model": how, "backend": backend}
        for metric, cov in ACCURACY_ROWS:
            r = sub[(sub["metric"] == metric) & (sub["coverage_label"] == cov)].iloc[0]
            row[_label(metric, cov)] = _cell(r["estimate"], r["ci_low"], r["ci_high"])
        line = sub[(sub["coverage_label"] == "poverty line")]["coverage"].iloc[0]
        row["coverage @ line"] = f"{line:.3f}"
        out.append(row)
    return out


# ---- 4. re-ranking the panel ------------------------------------------------------------------------------


def decisions(data, model, *, score: str):
    """A decisions table of one round: desil ranked within the round (population shares), PKH etc."""
    from targeting.explain import ContributionEngine
    from targeting.pmt import assign_deciles, design_frame, program_eligibility

    pop = data.population_weight.to_numpy()
    out = pd.DataFrame({"household_id": data.household_id.to_numpy(), "weight": data.weight.to_numpy(),
                        "household_size": data.household_size.to_numpy(),
                        "region": data.region.to_numpy() if data.region is not None else None})
    if score == "model":
        X = design_frame(data)[list(model.schema_.names)]
        contrib = ContributionEngine(model).contributions(X)
        pred = contrib.prediction
        out["predicted_log_welfare"] = pred
        for j, name in enumerate(contrib.indicators):
            out[f"contrib_{name}"] = contrib.values[:, j]
    else:
        pred = np.log(data.welfare.to_numpy())
    out["desil"] = assign_deciles(pred, pop)
    for name, col in program_eligibility(out["desil"].to_numpy()).items():
        out[f"program_{name}"] = col.to_numpy()
    return out


def rounds_section(rounds, model):
    from targeting.drift import compare_rounds

    rows, tops = [], None
    for score in ("model", "measured welfare"):
        prev = decisions(rounds[2023], model, score=score)
        cur = decisions(rounds[2024], model, score=score)
        cmp = compare_rounds(prev, cur, unit="person", by="region")
        m = cmp.flat_metrics()
        desil = [str(d) for d in range(1, 11)]
        linked = cmp.transitions.loc[desil, desil].to_numpy()
        d = np.arange(1, 11)
        within1 = float((linked * (np.abs(d[:, None] - d[None, :]) <= 1)).sum() / linked.sum())
        flows = cmp.flows.groupby("program").sum(numeric_only=True).loc["pkh"]
        rows.append({
            "desil by": score, "linked households": cmp.presence_counts()["both"],
            "same desil": round(m["rounds.share_same_desil"], 3), "within ±1": round(within1, 3),
            "mean |Δdesil|": round(m["rounds.mean_abs_desil_change"], 2),
            "PKH linked in 2023 (persons)": round(flows["stayed_weighted"] + flows["left_weighted"]),
            "PKH exit rate": round(m["rounds.pkh.exit_rate"], 3),
            "PKH entered (persons)": round(flows["entered_weighted"]),
            "PKH stayed": int(flows["stayed"]), "PKH left": int(flows["left"]),
            "PKH entered": int(flows["entered"]),
        })
        if score == "model":
            lv = cmp.leavers[cmp.leavers["program"] == "pkh"]
            counts = lv["reason_1_indicator"].value_counts(dropna=False).head(8)
            tops = counts.rename("PKH leavers").to_frame()
            tops["share"] = (tops["PKH leavers"] / len(lv)).round(3)
            others = lv["moved_by_others"].mean()
            print(f"PKH leavers under the model: {len(lv)}; whose own prediction did not rise (moved by "
                  f"others): {others:.1%}; median prediction change {lv['prediction_change'].median():+.3f} "
                  "log points")
    return pd.DataFrame(rows), tops


def main(argv: list[str] | None = None) -> None:
    from targeting.survey.load import default_data_dir

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-bootstrap", type=int, default=200)
    parser.add_argument("--backends", default="ols,ensemble")
    args = parser.parse_args(argv)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 40)
    pd.set_option("display.max_colwidth", 60)
    data_dir = default_data_dir()
    if not (data_dir / "paraguay_ephc").exists():
        print(f"skipped: Paraguay EPHC not found under {data_dir} (only on the project's machines)")
        return
    wall = time.perf_counter()
    start = time.perf_counter()
    rounds = load_rounds(data_dir)
    print(f"loaded {', '.join(f'{y}: {len(d):,}' for y, d in rounds.items())} households "
          f"({time.perf_counter() - start:.1f} s)")

    print("\n## 1. Panel: recurring household keys (UPM, NVIVI, NHOGA)\n")
    print(panel_table(rounds).T.to_string(header=False, float_format=lambda v: f"{v:.3f}"))

    print("\n## 2. Drift between rounds (models trained on 2022)\n")
    start = time.perf_counter()
    models = {b: fit(rounds[2022], b) for b in backends}
    print(f"fitted {', '.join(backends)} on 2022 ({time.perf_counter() - start:.1f} s)")
    summary = drift_section(rounds, models)
    print("\n### Drift summary\n")
    print(pd.DataFrame(summary).to_string(index=False))

    print("\n## 3. Out-of-sample accuracy by year gap (95% cluster-bootstrap CIs; persons)\n")
    table, paired, timing = accuracy_section(rounds, backends, args.n_bootstrap)
    print(table.to_string(index=False))
    print("\n### Paired differences on the same test households (Δ a-b = gap a minus gap b; 95% CI)\n")
    print(paired.fillna("").to_string(index=False))
    print("\nwall time: " + ", ".join(f"{k} {v:.0f} s" for k, v in timing.items()))

    print("\n## 4. Re-ranking the panel 2023 -> 2024 (desil within each round, persons; PKH = desil 1-4)\n")
    re_rank, tops = rounds_section(rounds, models[backends[-1]])
    print(re_rank.to_string(index=False))
    if tops is not None:
        print(f"\nFirst reason of PKH leavers under the {backends[-1]} model "
              "(largest rise in contribution):\n")
        print(tops.to_string())
    print(f"\ntotal wall time {time.perf_counter() - wall:.0f} s")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
