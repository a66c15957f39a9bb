"""Typed YAML files (dataset specs, experiments, programme cut-offs): parse, validate, name the culprit."""

from __future__ import annotations

from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from targeting.errors import SpecError

M = TypeVar("M", bound=BaseModel)


def load_yaml_model(text: str, model: type[M], where: str) -> M:
    """Parse ``text`` as YAML into ``model``; errors become `SpecError` naming ``where`` and the field."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(f"{where}: not valid YAML: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(x) for x in first["loc"])
        raise SpecError(f"{where}: {loc}: {first['msg']}") from exc
