"""Translations (data files per language) and locale-aware number formatting for the report."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

import yaml

from targeting.errors import SpecError

Lang = Literal["id", "en"]
LANGUAGES: tuple[str, ...] = ("id", "en")
MISSING = "–"


def _flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = str(value)
    return out


@cache
def messages(lang: str) -> dict[str, str]:
    """All messages of a language, flattened to dotted keys (cached: package data)."""
    if lang not in LANGUAGES:
        raise SpecError(f"unknown report language {lang!r} (known: {', '.join(LANGUAGES)})")
    text = (
        resources.files("targeting.report")
        .joinpath("translations")
        .joinpath(f"{lang}.yaml")
        .read_text("utf-8")
    )
    return _flatten(yaml.safe_load(text))


class _KeepMissing(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


@dataclass(frozen=True)
class Translator:
    """Messages and number formats of one language: ``t("summary.title")``, ``t.pct(0.452)``.

    ``unit`` is what the report's shares count (``person`` or ``household``): messages name it with
    the placeholders ``{u_all}`` (penduduk / rumah tangga), ``{u_noun}`` (orang / rumah tangga) and
    ``{u_poor}`` (penduduk miskin / rumah tangga miskin), filled from ``units.<unit>.*``.
    """

    lang: str
    unit: str = "household"

    def _unit_values(self) -> dict[str, str]:
        msgs = messages(self.lang)
        prefix = f"units.{self.unit}."
        return {f"u_{k[len(prefix):]}": v for k, v in msgs.items() if k.startswith(prefix)}

    @property
    def _sep(self) -> tuple[str, str]:
        """(thousands separator, decimal mark)."""
        return (".", ",") if self.lang == "id" else (",", ".")

    def __call__(self, key: str, **values: Any) -> str:
        try:
            text = messages(self.lang)[key]
        except KeyError:
            raise KeyError(f"report translation {key!r} missing for language {self.lang!r}") from None
        if "{u_" in text:
            if not values:  # fill the unit only; other placeholders stay for a later format (findings)
                return text.format_map(_KeepMissing(self._unit_values()))
            return text.format(**{**self._unit_values(), **values})
        return text.format(**values) if values else text

    def get(self, key: str, default: str | None = None) -> str | None:
        """A message, or ``default`` if the key has none."""
        return messages(self.lang).get(key, default)

    def num(self, x: float | None, digits: int = 0) -> str:
        """A number with the language's separators (1.234,5 / 1,234.5); missing as a dash."""
        if x is None or not math.isfinite(float(x)):
            return MISSING
        text = f"{float(x):,.{digits}f}"
        thousands, decimal = self._sep
        return text.replace(",", "\0").replace(".", decimal).replace("\0", thousands)

    def pct(self, x: float | None, digits: int = 1) -> str:
        """A share as a percentage: 0.4523 -> 45,2% (id) / 45.2% (en)."""
        if x is None or not math.isfinite(float(x)):
            return MISSING
        return f"{self.num(100 * float(x), digits)}%"

    def points(self, x: float | None, digits: int = 1) -> str:
        """A difference of shares in percentage points, signed: +3,4 / −2,0."""
        if x is None or not math.isfinite(float(x)):
            return MISSING
        sign = "+" if x > 0 else ("−" if x < 0 else "±")
        return f"{sign}{self.num(abs(100 * float(x)), digits)}"

    def interval(self, low: float | None, high: float | None, kind: str = "pct") -> str:
        """A confidence interval in its estimate's format: 40,3–47,1% · 0,796–0,825 · −2,1 – +3,4."""
        if kind == "pct":
            lo, hi = self.pct(low), self.pct(high)
            return MISSING if MISSING in (lo, hi) else f"{lo[:-1]}–{hi}"
        fmt = {"num": lambda v: self.num(v, 3), "points": self.points}[kind]
        lo, hi = fmt(low), fmt(high)
        return MISSING if MISSING in (lo, hi) else f"{lo} – {hi}"

    def rupiah(self, x: float | None) -> str:
        return MISSING if x is None or not math.isfinite(float(x)) else f"Rp{self.num(x)}"

    def billions(self, x: float | None, digits: int = 1) -> str:
        """Rupiah in billions (miliar): 5.025.600.000 -> "Rp5,0 miliar" / "Rp5.0 billion"."""
        if x is None or not math.isfinite(float(x)):
            return MISSING
        return f"Rp{self.num(float(x) / 1e9, digits)} {self('common.billion')}"
