"""The service fixtures of tests/api, for the attacks on the service."""

from __future__ import annotations

from tests.api.conftest import fake_service, model_dir, model_scorer, service

__all__ = ["fake_service", "model_dir", "model_scorer", "service"]
