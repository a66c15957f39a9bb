"""Accuracy benchmark: the three shipped experiments, every backend side by side with OLS, out of sample.

Run: ``.venv/bin/python -m benchmarks.accuracy [--n-bootstrap 200] [--only kukar_kfold]``.
Prints, per experiment, the full comparison table and then one summary table: the default backend vs
``ols`` on Spearman and on exclusion error at 20/30/40% coverage, with the paired-bootstrap 95% CI of
the difference, plus the wall time of each experiment (5-fold CV of all backends included).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

DEFAULT_BACKEND = "ensemble"
GOAL_ROWS = ["spearman", "exclusion_error @ 20%", "exclusion_error @ 30%", "exclusion_error @ 40%"]


def main(argv: list[str] | None = None) -> None:
    from targeting.experiment import load_experiment, run_experiment
    from targeting.pmt import compare_backends
    from targeting.settings import get_settings
    from targeting.shipped import find, names

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-bootstrap", type=int, default=200)
    parser.add_argument("--only", action="append", help="experiment name(s) to run")
    args = parser.parse_args(argv)
    pd.set_option("display.width", 250)
    pd.set_option("display.max_columns", 20)
    summary = []
    with tempfile.TemporaryDirectory() as home:
        settings = get_settings(home=Path(home))
        for name in names("experiments"):
            path = find("experiments", name)
            exp = load_experiment(path)
            if args.only and exp.name not in args.only:
                continue
            exp = exp.model_copy(update={"n_bootstrap": args.n_bootstrap, "final": None})
            start = time.perf_counter()
            try:
                out = run_experiment(exp, settings, track=False)
            except Exception as exc:  # noqa: BLE001 - a missing real survey should not stop the others
                print(f"\n## {exp.name}: skipped ({exc})")
                continue
            seconds = time.perf_counter() - start
            print(f"\n## {exp.name}: {out.result.dataset}  (poverty rate {out.result.poverty_rate:.3f}, "
                  f"{len(out.result.predictions):,} households, {seconds:.0f} s incl. data generation/"
                  f"loading)\n")
            print(out.comparison.to_string())
            raw = compare_backends(out.result.table, baseline="ols", formatted=False)
            ci = out.result.table.query("backend == @DEFAULT_BACKEND")
            for row in GOAL_ROWS:
                metric, _, cov = row.partition(" @ ")
                sel = ci[(ci["metric"] == metric) & (ci["coverage_label"] == cov)]
                better = raw.loc[row, DEFAULT_BACKEND] > raw.loc[row, "ols"] if metric == "spearman" \
                    else raw.loc[row, DEFAULT_BACKEND] < raw.loc[row, "ols"]
                summary.append({
                    "experiment": exp.name, "metric": row,
                    "ols": round(raw.loc[row, "ols"], 3),
                    DEFAULT_BACKEND: round(raw.loc[row, DEFAULT_BACKEND], 3),
                    "Δ": round(raw.loc[row, f"Δ {DEFAULT_BACKEND}"], 3),
                    "Δ 95% CI": f"[{sel['diff_ci_low'].iloc[0]:+.3f}, {sel['diff_ci_high'].iloc[0]:+.3f}]",
                    "better": "yes" if better else "no",
                    # the paired-bootstrap CI of the difference excludes 0 in the better direction
                    "significant": "yes" if (sel["diff_ci_high"].iloc[0] < 0 if metric != "spearman"
                                             else sel["diff_ci_low"].iloc[0] > 0) else "no",
                    "seconds": round(seconds),
                })
    print(f"\n## Default backend ({DEFAULT_BACKEND}) vs ols, out of sample\n")
    print(pd.DataFrame(summary).to_string(index=False))


if __name__ == "__main__":
    main()
