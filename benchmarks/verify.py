"""Field verification benchmark: wrong decisions corrected per visit, by ordering, on the synthetic registry.

Run: ``.venv/bin/python -m benchmarks.verify [--n-registry 260000] [--out DIR]``.

The synthetic Kukar survey (20,000 households, seed 2024: the shipped default model's training data)
calibrates the intervals of the shipped model (5-fold cross-fitting by village, Mondrian kecamatan x
urban); the registry (260,000 households) is scored by the one scorer (`targeting.decide.Scorer`) and
its synthetic truth says which decisions are wrong. A visit reveals the truth and corrects that
household. Two scenarios:

* **PKH**: selected = predicted desil 1-4; right = true welfare in the poorest 40 % of persons. The
  probability of a wrong decision uses the calibrated true-welfare cut of 40 %
  (`targeting.pmt.borderline.share_cut`); a variant uses the predicted desil boundary instead.
* **Audit (the demo)**: selected = desil 1; right = true welfare below the poverty line
  (Rp833,955), the report's definition, whose flagged list the issue counts.

Orderings: p_wrong x persons (this), (a) random (exact expectation), (b) nearest to the selection
cut in predicted welfare, (c) today's flagged list in its order — as a district has it (model-rules
disagreements only) and as the synthetic audit has it (its exclusion/inclusion flags use the truth,
which no district has: an oracle, shown for reference) — the per-kecamatan allocations, and the
oracle (wrong decisions only, largest first). Counts are persons (household size) unless named.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

POVERTY_LINE = 833_955
BUDGETS = (1_000, 5_000, 10_000, 20_000)


def _load(n_registry: int, seed: int):
    from targeting.survey import synthetic
    from targeting.survey.load import frame_to_survey
    from targeting.survey.spec import load_spec

    data = synthetic.generate(n_survey=20_000, n_registry=n_registry, seed=seed)
    survey = frame_to_survey(data.survey, load_spec("kukar_survey")).data
    registry = frame_to_survey(data.registry, load_spec("kukar_registry")).data
    return survey, registry, data.truth


def _flag_orders(decisions: pd.DataFrame) -> dict[str, list[str]]:
    """Today's flagged list (audit, with truth flags) and the part a district has (no truth)."""
    from targeting.audit.compare import compare, flagged_households

    flags = compare(decisions)
    audit = flagged_households(flags)["household_id"].astype(str).tolist()
    field = flags.copy()
    field["exclusion_error"] = False
    field["inclusion_error"] = False
    field["flagged"] = field["model_not_rules"].to_numpy(bool) | field["rules_not_model"].to_numpy(bool)
    field_list = flagged_households(field)["household_id"].astype(str).tolist()
    return {"(c) flagged, field (rules only)": field_list, "(c') flagged, audit (uses truth)": audit}


def _calibration_line(p: np.ndarray, wrong: np.ndarray) -> str:
    bins = pd.qcut(p, 10, duplicates="drop")
    calib = pd.DataFrame({"p_wrong": p, "wrong": wrong}).groupby(bins, observed=True).mean()
    pairs = zip(calib["p_wrong"], calib["wrong"], strict=True)
    return "  " + "; ".join(f"{a:.3f}->{b:.3f}" for a, b in pairs)


def _scenario(name, model, registry, truth, trace, intervals, *, desil_max, truth_kind, budgets, out,
              error_free=None):
    from targeting.decide import Scorer, Selection
    from targeting.pmt import population_shares
    from targeting.pmt.borderline import borderline, desil_boundaries, share_cut
    from targeting.pmt.intervals import interval_groups
    from targeting.shipped import default_model_dir
    from targeting.verify import comparison_orders, select_visits, simulate_visits, visit_curve

    t0 = time.perf_counter()
    scorer = Scorer(default_model_dir(), selection=Selection(desil_max=desil_max))
    # The benchmark compares cuts itself: the scorer's own uncertainty columns are set aside.
    decisions = scorer.decide(registry).table.drop(
        columns=["welfare_low", "welfare_high", "p_other_side", "status"], errors="ignore")
    t_score = time.perf_counter() - t0
    welfare_true = truth.set_index("household_id").loc[decisions["household_id"], "expenditure_pc"]
    decisions["welfare_true"] = welfare_true.to_numpy(dtype=float)
    decisions["poor_true"] = pd.array(decisions["welfare_true"] < POVERTY_LINE, dtype="boolean")
    pred = decisions["predicted_log_welfare"].to_numpy()
    persons = decisions["household_size"].to_numpy(dtype=float)
    selected = decisions["selected"].to_numpy(bool)
    welfare = decisions["welfare_true"].to_numpy(dtype=float)
    groups = interval_groups(registry)
    boundary = float(desil_boundaries(pred, persons)[desil_max - 1])
    t0 = time.perf_counter()
    if truth_kind == "share":
        eligible_true = population_shares(welfare, persons) < desil_max / 10
        cut = share_cut(intervals, pred, groups, desil_max / 10, persons)
    else:
        eligible_true = welfare < POVERTY_LINE
        cut = float(np.log(POVERTY_LINE))
    table = borderline(intervals, pred, groups, cut, selected, level=0.9)
    t_intervals = time.perf_counter() - t0
    frame = pd.concat([decisions.reset_index(drop=True), table], axis=1)
    wrong = selected != eligible_true
    print(f"\n## {name}: selected = desil <= {desil_max}; right = "
          + ("true welfare in the poorest " + f"{desil_max * 10}% of persons" if truth_kind == "share"
             else f"true welfare < Rp{POVERTY_LINE:,}"))
    print(f"households {len(frame):,}; wrong decisions {wrong.sum():,} households "
          f"({persons[wrong].sum():,.0f} persons); cut used for p: {cut:.4f} (predicted desil boundary "
          f"{boundary:.4f}); scoring {t_score:.1f} s, intervals + statuses + p {t_intervals:.2f} s")
    st = frame["status"].value_counts(normalize=True).reindex(["clearly_in", "borderline", "clearly_out"])
    err_by_status = pd.Series(wrong).groupby(frame["status"].to_numpy()).mean()
    print("status share / wrong-decision rate: "
          + ", ".join(f"{s} {st[s]:.3f} / {err_by_status.get(s, np.nan):.3f}" for s in st.index))
    # Calibration of the probabilities against the truth: mean p_wrong vs observed, by decile of p.
    print("p_wrong calibration (deciles of p: mean predicted vs observed wrong rate):")
    print(_calibration_line(frame["p_other_side"].to_numpy(), wrong))
    extra = {}
    if error_free is not None:
        cut_ef = cut
        if truth_kind == "share":
            cut_ef = share_cut(error_free, pred, groups, desil_max / 10, persons)
        ef = borderline(error_free, pred, groups, cut_ef, selected, level=0.9)
        print(f"... calibrated for error-free welfare (measurement_error_sd "
              f"{error_free.measurement_error_sd}): statuses "
              + ", ".join(f"{k} {v:.3f}" for k, v in ef["status"].value_counts(normalize=True).items()))
        print(_calibration_line(ef["p_other_side"].to_numpy(), wrong))
        from targeting.verify import visit_order as _vo

        extra["(this) error-free calibration"] = _vo(
            pd.concat([decisions[["household_id", "household_size"]], ef], axis=1))
    from targeting.verify import visit_order as _vo2

    extra["(this) exclusion weight 3"] = _vo2(frame, exclusion_weight=3.0)

    orders = comparison_orders(frame, cut=boundary, flagged_ids=_flag_orders(decisions),
                               eligible_true=eligible_true)
    orders = {("(this) " + k if k == "p_wrong × persons" else "(b) " + k if k == "nearest cut" else k): v
              for k, v in orders.items()}
    if truth_kind == "share":
        alt = borderline(intervals, pred, groups, boundary, selected, level=0.9)
        from targeting.verify import visit_order

        orders["(this) with predicted boundary as cut"] = visit_order(
            pd.concat([decisions[["household_id", "household_size"]], alt], axis=1))
    orders |= extra
    sim = simulate_visits(selected, eligible_true, persons, orders, list(budgets))
    for rule in ("greedy", "proportional"):
        for v in budgets:
            chosen = select_visits(frame, v, per_kecamatan=True, rule=rule)
            pos = pd.Series(np.arange(len(frame)), index=frame["household_id"].astype(str))
            o = pos.reindex(chosen["household_id"].astype(str)).to_numpy()
            s = simulate_visits(selected, eligible_true, persons, {f"(this) per kecamatan, {rule}": o}, [v],
                                random=False)
            sim = pd.concat([sim, s], ignore_index=True)
    lengths = {k: len(v) for k, v in orders.items() if k.startswith("(c")}
    print("flagged list lengths: " + ", ".join(f"{k} {n:,}" for k, n in lengths.items()))
    rnd = sim[sim["ordering"] == "random"].set_index("visits")["persons_corrected_per_1000_visits"]
    sim["× random"] = sim["persons_corrected_per_1000_visits"] / sim["visits"].map(rnd)
    show = sim.pivot_table(index="ordering", columns="visits", values="persons_corrected_per_1000_visits",
                           sort=False)
    ratio = sim.pivot_table(index="ordering", columns="visits", values="× random", sort=False)
    print("\nPersons whose wrong decision is corrected, per 1,000 visits (budget N in columns):")
    print(show.round(0).to_string())
    print("\n... as a multiple of random visits:")
    print(ratio.round(2).to_string())
    hh = sim.pivot_table(index="ordering", columns="visits", values="households_corrected", sort=False)
    made = sim.pivot_table(index="ordering", columns="visits", values="visits_made", sort=False)
    print("\nHouseholds corrected per 1,000 visits made:")
    print((1000 * hh / made).round(0).to_string())
    for metric in ("exclusion_error", "inclusion_error"):
        t = sim.pivot_table(index="ordering", columns="visits", values=metric, sort=False)
        print(f"\n{metric} (persons) after N visits:")
        print(t.round(4).to_string())
    before_ex = persons[eligible_true & ~selected].sum() / persons[eligible_true].sum()
    before_in = persons[selected & ~eligible_true].sum() / persons[selected].sum()
    print(f"before any visit: exclusion {before_ex:.4f}, inclusion {before_in:.4f}")
    if out is not None:
        from targeting.verify import plot_visit_curve

        keep = {k: v for k, v in orders.items()
                if not any(w in k for w in ("predicted boundary", "error-free", "weight"))}
        curve = visit_curve(selected, eligible_true, persons, keep, max_visits=40_000, points=41)
        curve.to_csv(out / f"visit_curve_{name.lower().replace(' ', '_')}.csv", index=False)
        plot_visit_curve(curve, out / f"visit_curve_{name.lower().replace(' ', '_')}.png", title=name)
    return frame, decisions


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n-registry", type=int, default=260_000)
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--out", type=Path, default=None, help="write curves (CSV, PNG) and a sample workbook")
    args = ap.parse_args()

    from targeting.eligibility import evaluate, load_ruleset
    from targeting.pmt import PMTRegressor, load_model
    from targeting.pmt.intervals import WelfareIntervals, cross_fit_predictions, interval_groups
    from targeting.pmt.validation import design_frame
    from targeting.shipped import default_model_dir
    from targeting.survey.synthetic import load_parameters

    survey, registry, truth = _load(args.n_registry, args.seed)
    model, _card = load_model(default_model_dir())
    t0 = time.perf_counter()
    est = PMTRegressor(**(model.get_params() | {"n_jobs": 1}))
    fit = cross_fit_predictions(est, survey)
    g_survey = interval_groups(survey)
    intervals = WelfareIntervals().fit(fit.residual, g_survey, fit.weight)
    sd = float(load_parameters().welfare["measurement_error_sd"])
    error_free = WelfareIntervals(measurement_error_sd=sd).fit(fit.residual, g_survey, fit.weight)
    print(f"intervals calibrated on {len(survey):,} survey households in {time.perf_counter() - t0:.1f} s "
          f"({len(intervals.cells_)} cells)")
    # Coverage of the registry's error-free truth by intervals calibrated on *measured* welfare.
    X = design_frame(registry)[list(model.schema_.names)]
    pred = model.predict(X)
    y = np.log(truth.set_index("household_id").loc[registry.household_id.astype(str), "expenditure_pc"]
               .to_numpy(dtype=float))
    groups = interval_groups(registry)
    for label, cal in (("measured welfare", intervals), (f"error-free (sd {sd})", error_free)):
        for level in (0.8, 0.9):
            lo, hi = cal.interval(pred, groups, level)
            print(f"registry truth inside the {level:.0%} interval calibrated for {label}: "
                  f"{np.mean((y >= lo) & (y <= hi)):.3f} (mean width {np.mean(hi - lo):.3f} log points)")
    trace = evaluate(registry.frame, load_ruleset("kepmensos_262_2022"))
    out = args.out
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    _scenario("PKH", model, registry, truth, trace, intervals, desil_max=4, truth_kind="share",
              budgets=BUDGETS, out=out, error_free=error_free)
    frame, _ = _scenario("Audit", model, registry, truth, trace, intervals, desil_max=1,
                            truth_kind="line", budgets=BUDGETS, out=out, error_free=error_free)
    if out is not None:
        from targeting.verify import write_verification_list

        t0 = time.perf_counter()
        path, _ = write_verification_list(frame, out / "verifikasi.xlsx", 1_000, key=bytes(32),
                                          per_kecamatan=True)
        print(f"\nworkbook of 1,000 visits written in {time.perf_counter() - t0:.1f} s: {path}")


if __name__ == "__main__":
    main()
