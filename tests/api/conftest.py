"""Fixtures for the scoring service: a real trained model, an app on a temporary state folder, keys."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pytest

with warnings.catch_warnings():
    # Starlette >= 1.x warns once, at import, that its TestClient prefers the httpx2 package; the
    # project installs httpx (also used for the uvicorn test). Nothing else is silenced.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

from api.config import ApiSettings, get_api_settings
from api.main import create_app
from api.scoring import ScorerInfo, rule_outputs
from api.security import create_key
from targeting.settings import get_settings
from targeting.survey.dataset import SurveyData
from tests.conftest import valid_household
from tests.models import train_model_folder

__all__ = ["TestClient", "train_model_folder", "valid_household"]


class FakeScorer:
    """For HTTP/store/auth mechanics only: a constant prediction, the real rule set."""

    def __init__(self) -> None:
        from targeting.eligibility import load_ruleset

        self.ruleset = load_ruleset("kepmensos_262_2022")
        self.info = ScorerInfo("fake-pmt", "fake-1", self.ruleset.id, "fake-rules", "tests")
        self.calls: list[int] = []

    def score(self, data: SurveyData, *, lang: str, top_k: int, as_of: date) -> list[dict[str, Any]]:
        self.calls.append(len(data))
        rules = rule_outputs(data.frame, self.ruleset, as_of)
        return [
            {"predicted_log_welfare": 13.0, "predicted_welfare_pc": float(np.exp(13.0)),
             "national": {"percentile": 0.5, "desil": 6}, "regional": None,
             "programs": {"pkh": False, "sembako": False, "pbi_jk": False}, "rules": r,
             "reasons": [], "lang": lang}
            for r in rules
        ]


def settings_for(home: Path, **overrides: Any) -> ApiSettings:
    return get_api_settings(project=get_settings(home=home), **overrides)


class Service:
    """A running app (TestClient) with one key per role."""

    def __init__(self, client: TestClient, keys: dict[str, str]) -> None:
        self.client = client
        self.keys = keys
        self.app = client.app

    def headers(self, role: str, **extra: str) -> dict[str, str]:
        return {"X-API-Key": self.keys[role], **extra}

    def score(self, households: list[dict[str, Any]], *, role: str = "scorer",
              headers: dict[str, str] | None = None, **body: Any) -> Any:
        return self.client.post("/v1/score", json={"households": households, **body},
                                headers={**self.headers(role), **(headers or {})})


def start_service(home: Path, scorer: Any, **overrides: Any) -> Iterator[Service]:
    app = create_app(settings_for(home, **overrides), scorer)
    keys = {}
    with app.state.sessions() as session:
        for role in ("scorer", "inspector", "analyst", "officer"):
            keys[role] = create_key(session, role, label=f"test {role}")[1]
    with TestClient(app) as client:
        yield Service(client, keys)


@pytest.fixture
def fake_service(tmp_path: Path) -> Iterator[Service]:
    yield from start_service(tmp_path, FakeScorer())


def registry_households(n: int, seed: int) -> list[dict[str, Any]]:
    """Synthetic registry households as JSON records (numbers, booleans, codes, null)."""
    from targeting.survey.synthetic import generate

    frame = generate(n_survey=20, n_registry=n, seed=seed).registry
    records = frame.astype(object).where(frame.notna(), None).to_dict("records")
    return [{str(k): (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in records]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_model_folder(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="session")
def model_scorer(model_dir: Path) -> Any:
    from api.scoring import ModelScorer

    return ModelScorer(model_dir, model_name="kukar-pmt", label="test", source=f"folder {model_dir}")


@pytest.fixture
def service(tmp_path: Path, model_scorer: Any) -> Iterator[Service]:
    yield from start_service(tmp_path, model_scorer)
