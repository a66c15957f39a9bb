"""``python -m benchmarks``: each benchmark in turn (accuracy, speed, API, scale, community, drift, attacks)
"""

from __future__ import annotations

import runpy
import sys

BENCHMARKS = (
    "benchmarks.accuracy",
    "benchmarks.explain",
    "benchmarks.audit",
    "benchmarks.validate",
    "benchmarks.api",
    "benchmarks.scale",
    "benchmarks.community",
    "benchmarks.drift",
    "benchmarks.security",
)

if __name__ == "__main__":
    for name in BENCHMARKS:
        print(f"\n=================== {name} ===================\n", flush=True)
        sys.argv = [name]
        runpy.run_module(name, run_name="__main__")
