"""Which reason indicators are context (where a household lives) rather than reasons it can check."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml


@cache
def context_indicators() -> frozenset[str]:
    """Indicator ids listed in ``explain/context.yaml`` (package data, read once)."""
    text = resources.files("targeting.explain").joinpath("context.yaml").read_text("utf-8")
    return frozenset(str(x) for x in (yaml.safe_load(text) or {}).get("context", []))
