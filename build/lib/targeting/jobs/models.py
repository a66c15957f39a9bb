"""Which saved model a job uses: a registry alias (champion, challenger), the shipped default, or a folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from targeting.errors import TargetingError
from targeting.settings import Settings

ALIASES = ("champion", "challenger")


@dataclass(frozen=True)
class ModelChoice:
    """A model folder and how decisions name it (``label`` starts the model version)."""

    path: Path
    name: str
    label: str
    source: str
    note: str = ""


def registry_exists(uri: str) -> bool:
    """False for a SQLite registry file that does not exist (looking would create an empty one)."""
    if uri.startswith("sqlite:///"):
        return Path(uri.removeprefix("sqlite:///")).exists()
    return True


def resolve_model(settings: Settings, choice: str = "champion", *, fallback_to_default: bool = True
                  ) -> ModelChoice:
    """The folder behind ``choice``: an alias of the MLflow registry, ``default``, or a path.

    An alias that is not set falls back to the shipped default model when ``fallback_to_default``
    (and ``note`` says so); a folder that does not exist is an error naming it.
    """
    name = settings.model_name
    if choice in ALIASES:
        from targeting import tracking

        found = tracking.download_alias(settings, alias=choice) if registry_exists(settings.tracking_uri()) \
            else None
        if found is not None:
            path, version = found
            return ModelChoice(path, name, f"v{version}", f"models:/{name}@{choice} (version {version})")
        if not fallback_to_default:
            raise TargetingError(
                f"no @{choice} model in the registry {settings.tracking_uri()}; train one "
                "(targeting train) or pass --model DIR"
            )
        default = settings.default_model()
        return ModelChoice(default, name, "default", f"default model {default}",
                           note=f"no @{choice} in the registry: using the shipped default model (synthetic "
                                "Kukar data; retrain on your district's survey before real decisions)")
    if choice == "default":
        default = settings.default_model()
        return ModelChoice(default, name, "default", f"default model {default}")
    path = Path(choice)
    if not (path / "model_card.json").is_file():
        raise TargetingError(
            f"--model {choice!r}: not champion/challenger/default and not a model folder "
            f"(no {path / 'model_card.json'})"
        )
    return ModelChoice(path, name, "dir", f"folder {path.resolve()}")
