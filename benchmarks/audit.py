"""The demo's audit-and-report step as a whole command, and the field workbook's open time.

``python -m benchmarks.audit --decisions DECISIONS.parquet [--baseline SRC ...]`` runs
``targeting audit DECISIONS --synthetic --n-boot 100`` (the demo's audit step: bootstraps, the PDF, the
workbook, the budget simulation) under ``/usr/bin/time -v``, with the load average before and after
each run, for this source tree and for each ``--baseline`` source folder (another checkout's
``src``, put first on ``PYTHONPATH`` with this environment's libraries). A baseline that knows fewer
decisions-metadata fields gets a copy of the table whose metadata it can read (the rows are the
same). Then, if LibreOffice is installed, the time ``soffice --headless --convert-to csv`` takes on
the workbook written (loading it is most of that), beside a plain CSV of the same rows.

Without ``--decisions`` it runs the demo first (``targeting demo`` in a scratch state folder).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._process import load_average, timed

TARGETING = str(Path(sys.executable).parent / "targeting")


def _known_meta_fields(src: Path | None) -> list[str]:
    code = ("from targeting.decide.schema import DecisionsMeta; import json; "
            "print(json.dumps(list(DecisionsMeta.model_fields)))")
    env = {**os.environ, **({"PYTHONPATH": str(src)} if src else {})}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return list(json.loads(out.stdout))


def _readable_copy(decisions: Path, fields: list[str], where: Path) -> Path:
    """The same table with only the metadata fields a baseline knows (its model forbids others)."""
    import pyarrow.parquet as pq

    from targeting.decide.schema import META_KEY

    table = pq.read_table(decisions)
    meta = {**(table.schema.metadata or {}), **(pq.ParquetFile(decisions).metadata.metadata or {})}
    info = json.loads(meta[META_KEY].decode("utf-8"))
    dropped = sorted(set(info) - set(fields))
    if not dropped:
        return decisions
    meta[META_KEY] = json.dumps({k: v for k, v in info.items() if k in fields}).encode("utf-8")
    out = where / "decisions.parquet"
    pq.write_table(table.replace_schema_metadata(meta), out)
    print(f"  (baseline copy without metadata fields {', '.join(dropped)})")
    return out


def audit_once(decisions: Path, out_dir: Path, src: Path | None, home: Path) -> dict[str, object]:
    env = {"TARGETING_HOME": str(home), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    cmd = [TARGETING, "audit", str(decisions), "--synthetic", "--n-boot", "100", "--out-dir", str(out_dir)]
    result: dict[str, object] = dict(timed(cmd, env=env))
    result["load_after"] = load_average()
    return result


def open_time(path: Path, where: Path) -> dict[str, object] | None:
    """Seconds LibreOffice takes to load ``path`` and write it as CSV (headless, its own profile)."""
    soffice = shutil.which("soffice")
    if soffice is None:
        return None
    profile = where / "lo-profile"
    out = where / "lo-out"
    cmd = [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", "csv",
           "--outdir", str(out), str(path)]
    subprocess.run(cmd, capture_output=True, check=False, timeout=600)  # the first start makes the profile
    result: dict[str, object] = dict(timed(cmd))
    result["load_after"] = load_average()
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--decisions", type=Path, help="decisions.parquet of the demo (default: run the demo)")
    ap.add_argument("--baseline", type=Path, action="append", default=[],
                    help="another checkout's src folder to compare (repeatable)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    home = scratch / "state"
    decisions = args.decisions
    if decisions is None:
        print("targeting demo ...", flush=True)
        subprocess.run([TARGETING, "demo"], env={**os.environ, "TARGETING_HOME": str(home)}, check=True,
                       capture_output=True)
        decisions = next((home / "runs").glob("run-kukar_demo-*/decisions.parquet"))
    elif (decisions.parent.parent.parent / "pseudonym.key").is_file():
        home = decisions.parent.parent.parent  # the run's own state folder (its key and model card)
    rows = []
    trees: list[tuple[str, Path | None]] = [("this tree", None)] + [(str(b), b) for b in args.baseline]
    tables = {}
    for label, src in trees:
        table = decisions
        if src is not None:
            (scratch / label.replace("/", "_")).mkdir(parents=True, exist_ok=True)
            table = _readable_copy(decisions, _known_meta_fields(src), scratch / label.replace("/", "_"))
        tables[label] = table
        # One uncounted run per tree: numba's cache of a fresh checkout, the page cache of the table.
        audit_once(table, scratch / "warm-up", src, home)
        shutil.rmtree(scratch / "warm-up", ignore_errors=True)
    # Interleaved (tree A, tree B, tree A, ...): this shared machine's speed drifts by minutes.
    for i in range(args.repeat):
        for label, src in trees:
            out = scratch / f"audit-{len(rows)}"
            r = audit_once(tables[label], out, src, home)
            rows.append((label, i + 1, r))
            print(f"  {label} run {i + 1}: {r['wall_s']:.1f} s", flush=True)
    print()
    print(f"targeting audit DECISIONS --synthetic --n-boot 100 ({_n_rows(decisions):,} households)")
    print(f"{'source':<28} {'run':>3} {'wall s':>7} {'cpu s':>7} {'peak MB':>8}  load before -> after")
    for label, i, r in rows:
        print(f"{label[-28:]:<28} {i:>3} {r['wall_s']:>7.1f} {r['cpu_s']:>7.1f} {r['peak_rss_mb']:>8.0f}  "
              f"{r['load_before']} -> {r['load_after']}")
    workbook = scratch / "audit-0" / "flagged_households.xlsx"
    if workbook.is_file():
        import pandas as pd

        csv = scratch / "flagged_plain.csv"
        pd.read_csv(scratch / "audit-0" / "flagged_households.csv").to_csv(csv, index=False)
        n = sum(1 for _ in csv.open(encoding="utf-8")) - 1
        print()
        print(f"LibreOffice load + convert to CSV (headless), field workbook of {n:,} flagged households")
        print(f"{'file':<34} {'MB':>6} {'wall s':>7} {'cpu s':>7}  load before -> after")
        for name, path in (("flagged_households.xlsx", workbook), ("same rows as plain CSV", csv)):
            r = open_time(path, scratch)
            if r is None:
                print("  LibreOffice is not installed: no open time")
                break
            print(f"{name:<34} {path.stat().st_size / 1e6:>6.1f} {r['wall_s']:>7.1f} {r['cpu_s']:>7.1f}  "
                  f"{r['load_before']} -> {r['load_after']}")
    shutil.rmtree(scratch, ignore_errors=True)


def _n_rows(path: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(path).metadata.num_rows)


if __name__ == "__main__":
    main()
