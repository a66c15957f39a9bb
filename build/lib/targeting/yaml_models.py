"""Typed YAML files (dataset specs, experiments, programme cut-offs): parse, validate, name the culprit."""

from __future__ import annotations

from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from targeting.errors import SpecError

M = TypeVar("M", bound=BaseModel)


def parse_yaml(text: str, where: str) -> Any:
    """Parse YAML text; a syntax error becomes `SpecError` naming ``where``."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{where}: not valid YAML: {exc}") from exc


def merged(base: Any, override: Any) -> Any:
    """``override`` on top of ``base``: mappings merge key by key, anything else is replaced."""
    if isinstance(base, dict) and isinstance(override, dict):
        out = dict(base)
        for k, v in override.items():
            out[k] = merged(base[k], v) if k in base else v
        return out
    return override


def load_yaml_model(text: str, model: type[M], where: str, *, raw: Any = None) -> M:
    """Parse ``text`` as YAML into ``model``; errors become `SpecError` naming ``where`` and the field.

    ``raw`` gives the parsed document directly (e.g. after merging it onto a base).
    """
    raw = parse_yaml(text, where) if raw is None else raw
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise SpecError(f"{where}: {loc}: {first['msg']}") from exc
