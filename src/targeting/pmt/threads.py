"""How many threads the library may start: the cores this process may use, never more.

LightGBM and OpenMP default to one thread per core of the machine. On a shared machine (a district
office's server, a cluster node given two cores of forty, a container with a CPU quota) that
oversubscribes: OpenMP threads spin while they wait for a core another process holds, and a fit
that takes seconds on a quiet machine takes minutes. So every LightGBM call gets an explicit
``num_threads``: the user's ``--threads`` if given, else the cores this process may use, which is
the smallest of its CPU affinity, ``OMP_NUM_THREADS`` and the cgroup CPU quota.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

__all__ = ["available_cores", "resolve_threads"]

_CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")


def available_cores() -> int:
    """Cores this process may use: CPU affinity, capped by ``OMP_NUM_THREADS`` and a cgroup CPU quota."""
    if hasattr(os, "sched_getaffinity"):
        n = len(os.sched_getaffinity(0))
    else:  # pragma: no cover - macOS and Windows have no affinity call
        n = os.cpu_count() or 1
    omp = _positive_int(os.environ.get("OMP_NUM_THREADS", "").split(",")[0])
    if omp is not None:
        n = min(n, omp)
    quota = _cgroup_quota()
    if quota is not None:
        n = min(n, quota)
    return max(1, n)


def resolve_threads(threads: int | None = None) -> int:
    """The threads to use: ``threads`` when given (at most the cores available), else every available core."""
    cores = available_cores()
    if threads is None:
        return cores
    if threads < 1:
        raise ValueError(f"threads must be at least 1, got {threads}")
    return min(int(threads), cores)


def _positive_int(text: str) -> int | None:
    try:
        value = int(text.strip())
    except ValueError:
        return None
    return value if value >= 1 else None


def _cgroup_quota() -> int | None:
    """Whole cores allowed by a cgroup v2 ``cpu.max`` quota ("max" or absent: no limit)."""
    try:
        quota, period = _CGROUP_CPU_MAX.read_text(encoding="ascii").split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1, math.ceil(int(quota) / int(period)))
    except (ValueError, ZeroDivisionError):
        return None
