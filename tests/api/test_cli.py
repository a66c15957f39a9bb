"""`targeting keys create/list/revoke`: the key is printed once, works with the service, and revokes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from targeting.cli import app
from tests.api.conftest import FakeScorer, start_service


def test_keys_lifecycle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TARGETING_HOME", str(tmp_path))
    monkeypatch.delenv("TARGETING_DATABASE_URL", raising=False)
    runner = CliRunner()
    created = runner.invoke(app, ["keys", "create", "--role", "analyst", "--label", "dinsos laptop"])
    assert created.exit_code == 0, created.output
    assert "salin kunci sekarang, tidak dapat ditampilkan lagi / copy the key now" in created.stderr
    key = created.stdout.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    assert key.startswith(f"tgk_{key_id}_")
    listed = runner.invoke(app, ["keys", "list"])
    assert f"{key_id}\tanalyst\t" in listed.stdout and "dinsos laptop" in listed.stdout
    assert key not in listed.stdout
    for service in start_service(tmp_path, FakeScorer()):
        assert service.client.get("/v1/models", headers={"X-API-Key": key}).status_code == 200
        assert runner.invoke(app, ["keys", "revoke", key_id]).exit_code == 0
        assert service.client.get("/v1/models", headers={"X-API-Key": key}).status_code == 401
    assert f"{key_id}\tanalyst\t" in listed.stdout and "\taktif / active\t" in listed.stdout
    assert "\tdicabut / revoked 20" in runner.invoke(app, ["keys", "list"]).stdout
    bad = runner.invoke(app, ["keys", "create", "--role", "admin"])
    assert bad.exit_code != 0 and "role must be one of scorer, inspector, analyst" in bad.output
