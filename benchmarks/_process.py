"""Measure a whole command as a user runs it: wall, CPU and peak RSS from GNU time, outside the process."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def timed(cmd: list[str], *, env: dict[str, str] | None = None, cwd: Path | None = None) -> dict[str, float]:
    """Run ``cmd`` under ``/usr/bin/time -v``; wall and CPU seconds, peak RSS in MB, and the load before."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        load = load_average()
        done = subprocess.run(["/usr/bin/time", "-v", "-o", report.name, *cmd],
                              env={**os.environ, **(env or {})}, cwd=cwd, capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr[-2000:]}")
        text = Path(report.name).read_text()

    def field(name: str) -> str:
        m = re.search(rf"{re.escape(name)}: (.+)", text)
        assert m is not None, name
        return m.group(1).strip()

    parts = [float(p) for p in field("Elapsed (wall clock) time (h:mm:ss or m:ss)").split(":")]
    wall = sum(p * 60 ** i for i, p in enumerate(reversed(parts)))
    cpu = float(field("User time (seconds)")) + float(field("System time (seconds)"))
    rss = float(field("Maximum resident set size (kbytes)")) / 1024
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": rss, "load_before": load}  # type: ignore[dict-item]
