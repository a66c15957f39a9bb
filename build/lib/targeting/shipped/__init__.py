"""What the package ships as data: experiment definitions, district plans and the default model.

Found through ``importlib.resources`` (never by walking up from the source tree), so an installed
wheel finds them as a checkout does.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from targeting.errors import SpecError

__all__ = ["default_model_dir", "find", "names"]

KINDS = ("experiments", "plans")


def _folder(kind: str) -> Path:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return Path(str(resources.files("targeting.shipped").joinpath(kind)))


def default_model_dir() -> Path:
    """The folder of the shipped default model (LightGBM text + JSON card)."""
    return Path(str(resources.files("targeting.shipped").joinpath("models", "default")))


def names(kind: str) -> list[str]:
    """Names of the shipped experiments or plans (file names without ``.yaml``)."""
    return sorted(p.stem for p in _folder(kind).glob("*.yaml"))


def find(kind: str, name_or_path: str | Path) -> Path:
    """A YAML path as given, else the shipped one of that name; a clear error naming both places."""
    path = Path(name_or_path)
    if path.suffix in {".yaml", ".yml"} and path.exists():
        return path
    shipped = _folder(kind) / f"{path.stem if path.suffix in {'.yaml', '.yml'} else path.name}.yaml"
    if shipped.exists() and (path.suffix not in {".yaml", ".yml"} or len(path.parts) == 1):
        return shipped
    known = ", ".join(names(kind)) or "none"
    raise SpecError(
        f"{kind[:-1]} {str(name_or_path)!r} not found: no such file (looked in {Path.cwd()}) and no "
        f"shipped {kind[:-1]} of that name (shipped: {known})"
    )
