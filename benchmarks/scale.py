"""Scale benchmark: the whole `targeting score` process on registries of 260,000 to 2.6 million households.

Run from the repository root:  ``.venv/bin/python -m benchmarks.scale [--sizes 260000,1000000,2600000]``

For each size it writes a partitioned synthetic registry (``targeting generate --partitions``) and
measures, each as its own process from the outside (GNU ``/usr/bin/time -v``: wall, CPU = user +
system of the process and the children it waited for, peak RSS of the largest of them; plus the peak
of the whole process tree's RSS summed, sampled by this script every 50 ms):

* **read floor**: the project's reader (`targeting.survey.read.iter_raw`) over the same parts in
  chunks of 65,536 rows, nothing else;
* **LightGBM floor**: plain ``Booster.predict`` (one thread) of the default model's LightGBM member on
  the same rows, already as the model matrix (a ``.npy`` memory map written beforehand);
* **targeting score**, one process (read, validate, predict, explain, rules, reasons, write);
* **targeting score --engine dask**, a LocalCluster of ``--workers`` worker processes.

Every figure has the machine's load average beside it (1-minute, at the start and the end of the
measurement): on a shared 2-core machine the other sessions' work is in the numbers. The last
table extrapolates each engine's households per worker-second to DTSEN's 94 million families.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
NATIONAL_FAMILIES = 94_000_000
TIME = "/usr/bin/time"


@dataclass
class Measure:
    what: str
    n: int
    wall: float
    cpu: float
    rss_mb: float
    tree_mb: float
    load: tuple[float, float]
    inner_s: float | None = None
    workers: int = 1
    task_s: float | None = None  # Dask: the parts' task seconds summed (work, without start-up)


def _loadavg() -> float:
    return os.getloadavg()[0]


def _tree_rss(pid: int) -> float:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total / 1e6


def measure(what: str, n: int, cmd: list[str], env: dict[str, str], workers: int = 1,
            out_dir: Path | None = None) -> Measure:
    """Run ``cmd`` under ``/usr/bin/time -v``; sample its process tree's RSS; parse the report."""
    load0 = _loadavg()
    with tempfile.NamedTemporaryFile("w+", suffix=".time", delete=False) as report:
        report_path = report.name
    proc = subprocess.Popen([TIME, "-v", "-o", report_path, *cmd], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _tree_rss(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    stop.set()
    sampler.join()
    text = Path(report_path).read_text()
    Path(report_path).unlink()
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{what} failed ({proc.returncode}):\n{err[-3000:]}")

    def field(name: str) -> str:
        m = re.search(rf"{re.escape(name)}: (.+)", text)
        if m is None:
            raise RuntimeError(f"no {name!r} in the time report:\n{text}")
        return m.group(1).strip()

    wall_text = field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
    parts = [float(x) for x in wall_text.split(":")]
    wall = parts[-1] + 60 * parts[-2] + (3600 * parts[-3] if len(parts) == 3 else 0)
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    rss = float(field("Maximum resident set size (kbytes)")) / 1024
    inner = None
    for line in out.splitlines():
        if line.startswith("{") and '"seconds"' in line:
            inner = float(json.loads(line)["seconds"])
    task = None
    if out_dir is not None:  # a scoring run: its own timing (summary.json; Dask: the parts' tasks too)
        summary = json.loads((out_dir / "summary.json").read_text())
        inner = float(summary["seconds"]["total"])
        if (out_dir / "_state").exists():
            task = float(summary["seconds"].get("rank", 0.0)) + sum(
                float(json.loads(f.read_text())["seconds"]) for phase in ("pass1", "pass2")
                for f in (out_dir / "_state" / phase).glob("*.json"))
    return Measure(what, n, wall, cpu, rss, peak[0], (load0, _loadavg()), inner, workers, task)


# ---- the floors, run as child processes ---------------------------------------------------------------


def _floor_read(folder: str) -> None:
    from targeting.decide.runner import registry_parts
    from targeting.survey.read import iter_raw

    t0 = time.perf_counter()
    n = 0
    for part in registry_parts(Path(folder)):
        for frame in iter_raw(part, chunk_rows=65_536):
            n += len(frame)
    print(json.dumps({"rows": n, "seconds": time.perf_counter() - t0}))


def _floor_lightgbm(matrix: str, model_dir: str) -> None:
    import numpy as np

    from targeting.pmt.boosting import BoosterPMT
    from targeting.pmt.persistence import load_model

    model, _ = load_model(Path(model_dir))
    boosters = [c for c in model.components_.values() if isinstance(c, BoosterPMT)]
    M = np.load(matrix, mmap_mode="r")
    t0 = time.perf_counter()
    for s in range(0, M.shape[0], 65_536):
        for b in boosters:
            rows = np.ascontiguousarray(M[s:s + 65_536])
            b.booster.predict(rows, num_iteration=b.num_rounds, num_threads=1)
    print(json.dumps({"rows": int(M.shape[0]), "seconds": time.perf_counter() - t0}))


def _write_matrix(folder: Path, model_dir: Path, out: Path) -> int:
    """The registry's model matrix, chunk by chunk, into a .npy memory map (for the LightGBM floor)."""
    import numpy as np
    import pyarrow.parquet as pq

    from targeting.decide import Scorer
    from targeting.decide.runner import registry_parts
    from targeting.survey.load import frame_to_survey
    from targeting.survey.read import iter_raw
    from targeting.survey.spec import load_spec

    scorer = Scorer(model_dir, ruleset=None)
    spec = load_spec("indonesia_household")
    parts = registry_parts(folder)
    n = sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    M = np.lib.format.open_memmap(out, mode="w+", dtype=np.float64, shape=(n, len(scorer.features)))
    i = 0
    for part in parts:
        for raw in iter_raw(part, spec.files[0], chunk_rows=65_536):
            data = frame_to_survey(raw, spec, where=str(part)).data
            block = scorer.explainer.engine.matrix(scorer.design(data))
            M[i:i + len(block)] = block
            i += len(block)
    M.flush()
    return i


# ---- the benchmark -------------------------------------------------------------------------------------


def _fmt(m: Measure, base: Measure | None) -> str:
    ratio = f"{m.wall / base.wall:>6.1f}x" if base is not None else f"{'':>7}"
    cpu_ratio = f"{m.cpu / base.cpu:>6.1f}x" if base is not None else f"{'':>7}"
    inner = f"{m.inner_s:>8.1f}" if m.inner_s is not None else f"{'':>8}"
    return (f"{m.what:<34}{m.n:>11,}{m.wall:>8.1f}{inner}{m.cpu:>8.1f}{m.cpu / m.n * 1e6:>8.1f}"
            f"{m.rss_mb:>9,.0f}{m.tree_mb:>9,.0f}{ratio}{cpu_ratio}   {m.load[0]:.1f} -> {m.load[1]:.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="260000,1000000,2600000")
    parser.add_argument("--rows-per-part", type=int, default=130_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated registries here")
    parser.add_argument("--floor", choices=("read", "lightgbm"), default=None, help=argparse.SUPPRESS)
    parser.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--matrix", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--model-dir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor == "read":
        _floor_read(args.folder)
        return 0
    if args.floor == "lightgbm":
        _floor_lightgbm(args.matrix, args.model_dir)
        return 0
    if not Path(TIME).exists():
        raise SystemExit(f"{TIME} (GNU time) is needed to measure the processes from outside")

    from targeting.shipped import default_model_dir
    from targeting.survey.synthetic import write_partitioned

    model_dir = default_model_dir()
    sizes = [int(s) for s in args.sizes.split(",")]
    base = args.keep or Path(tempfile.mkdtemp(prefix="targeting-scale-"))
    bin_dir = Path(sys.executable).parent
    results: list[list[Measure]] = []
    try:
        for n in sizes:
            home = base / f"home-{n}"
            home.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, "TARGETING_HOME": str(home)}
            parts = max(2 * args.workers, -(-n // args.rows_per_part))  # every worker gets parts
            t0 = time.perf_counter()
            paths = write_partitioned(base / f"registry-{n}", n_survey=200, n_registry=n, partitions=parts,
                                      seed=2024)
            folder = paths["registry"]
            print(f"\n{n:,} households: {parts} parts generated in {time.perf_counter() - t0:.0f} s "
                  f"(load {_loadavg():.1f})", flush=True)
            matrix = base / f"matrix-{n}.npy"
            _write_matrix(folder, model_dir, matrix)
            py = [sys.executable, "-m", "benchmarks.scale"]
            common = ["--model", "default", "--desil-max", "1"]
            row = [
                measure("floor: Parquet read (iter_raw)", n,
                        [*py, "--floor", "read", "--folder", str(folder)], env),
                measure("floor: LightGBM predict, 1 thread", n,
                        [*py, "--floor", "lightgbm", "--matrix", str(matrix), "--model-dir", str(model_dir)],
                        env),
                measure("targeting score (one process)", n,
                        [str(bin_dir / "targeting"), "score", str(folder), *common, "--out",
                         str(base / f"out-{n}-local")], env, out_dir=base / f"out-{n}-local"),
                measure("targeting score --threads 1", n,
                        [str(bin_dir / "targeting"), "score", str(folder), *common, "--threads", "1",
                         "--out", str(base / f"out-{n}-one")], env, out_dir=base / f"out-{n}-one"),
                measure(f"targeting score --engine dask ({args.workers}w)", n,
                        [str(bin_dir / "targeting"), "score", str(folder), *common, "--engine", "dask",
                         "--workers", str(args.workers), "--out", str(base / f"out-{n}-dask")], env,
                        workers=args.workers, out_dir=base / f"out-{n}-dask"),
            ]
            matrix.unlink()
            for out in (base / f"out-{n}-local", base / f"out-{n}-one", base / f"out-{n}-dask"):
                shutil.rmtree(out, ignore_errors=True)
            results.append(row)
            _print(results)
    finally:
        if args.keep is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0


def _print(results: list[list[Measure]]) -> None:
    header = (f"{'process':<34}{'households':>11}{'wall s':>8}{'inner s':>8}{'CPU s':>8}{'CPU µs/hh':>8}"
              f"{'peak MB':>9}{'tree MB':>9}{'vs LGB':>7}{'CPU vs':>7}   load avg (1 min)")
    print(f"\n## targeting score at scale ({os.cpu_count()} cores; 'inner s' = the floor's work without "
          "start-up; 'peak MB' = largest process, 'tree MB' = all processes summed; 'vs LGB' = wall "
          "/ the LightGBM floor's wall, 'CPU vs' = CPU s / the floor's CPU s; '--threads 1' scores and "
          "writes on one thread, the default writes on a second one beside the scoring)\n")
    print(header)
    print("-" * len(header))
    # 'inner s' of a scoring run: its own total (summary.json), without interpreter and model start-up.
    for row in results:
        lgb = row[1]
        for m in row:
            print(_fmt(m, lgb if m is not lgb else None))
        print()
    print(f"## Extrapolation to {NATIONAL_FAMILIES:,} families (households per worker-second at the largest "
          "size measured; worker = one process, one core)\n")
    last = results[-1]
    for m in last[2:]:
        rates = [("wall", m.n / m.wall / m.workers)]
        if m.task_s:
            rates.append(("task work", m.n / m.task_s))
        for basis, per_worker in rates:
            hours = NATIONAL_FAMILIES / per_worker / 3600
            print(f"{m.what:<34} {basis:<10}{per_worker:>9,.0f} households/s per worker -> {hours:>6.1f} "
                  f"worker-hours ({hours / 40:.2f} h on 40 workers)")
    print("\n'wall' counts start-up and a 2-core machine's sharing; 'task work' (Dask) is the parts' "
          "tasks alone, what adding machines scales.")


if __name__ == "__main__":
    raise SystemExit(main())
