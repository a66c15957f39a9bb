"""Personal data (UU 27/2022): the pseudonymisation key, the decision store's files and contents.

Before: a missing key file was silently replaced (a household's history went from 3 decisions to 0
with no log line), a corrupt key file gave a ValueError traceback, a one-byte key was accepted,
the database was created 0644, and requests.rejected kept raw household ids.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from api.main import create_app
from api.security import create_key
from api.store import RequestRow, pseudonym_key_history
from targeting.privacy import (
    KEY_ENV,
    KEY_FILE,
    KEY_ID_FILE,
    PseudonymKeyError,
    key_fingerprint,
    load_key,
    pseudonym,
)
from tests.api.conftest import FakeScorer, Service, settings_for, start_service
from tests.conftest import valid_household
from tests.security.cli import run_main


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def _history(service: Service, hid: str) -> int:
    r = service.client.get(f"/v1/households/{hid}/decisions", headers=service.headers("inspector"))
    assert r.status_code == 200, r.text
    return len(r.json()["decisions"])


def _score_three_times(home: Path) -> None:
    for service in start_service(home, FakeScorer()):
        for _ in range(3):
            assert service.score([valid_household(1)]).status_code == 200
        assert _history(service, "H0001") == 3


def test_missing_key_file_with_decisions_is_refused(tmp_path: Path) -> None:
    _score_three_times(tmp_path)
    (tmp_path / KEY_FILE).unlink()
    with pytest.raises(PseudonymKeyError, match="is missing; restore it from your backup"):
        create_app(settings_for(tmp_path), FakeScorer())
    # Even without the id file (e.g. a store on PostgreSQL, a fresh state folder): the store knows.
    (tmp_path / KEY_ID_FILE).unlink()
    with pytest.raises(PseudonymKeyError, match="the decision store already holds pseudonyms"):
        create_app(settings_for(tmp_path), FakeScorer())
    assert not (tmp_path / KEY_FILE).exists()  # no new key was made


def test_another_key_is_refused_by_fingerprint(tmp_path: Path) -> None:
    _score_three_times(tmp_path)
    (tmp_path / KEY_FILE).unlink()
    (tmp_path / KEY_ID_FILE).unlink()
    (tmp_path / KEY_FILE).write_text("ab" * 32)
    with pytest.raises(PseudonymKeyError, match=r"is not the decision store's key hmac-sha256:[0-9a-f]{16}"):
        create_app(settings_for(tmp_path), FakeScorer())


@pytest.mark.parametrize(("text", "match"), [("not hex at all", "not hexadecimal"),
                                             ("00", "has 1 bytes; at least 32"),
                                             ("ab" * 31, "has 31 bytes")])
def test_corrupt_or_short_key_is_one_clear_error(tmp_path, monkeypatch, capsys, text, match) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / KEY_FILE).write_text(text)
    with pytest.raises(PseudonymKeyError, match=match):
        load_key(home)
    src = tmp_path / "in.csv"
    pd.DataFrame([valid_household(1)]).to_csv(src, index=False)
    run = run_main(["validate", str(src)], home, monkeypatch, capsys)
    # One line, exit 2 (before: a ValueError traceback, exit 1).
    assert run.code == 2 and run.err.count("\n") == 1 and match.split(";")[0] in run.err
    (home / KEY_FILE).unlink()
    monkeypatch.setenv(KEY_ENV, text)
    with pytest.raises(PseudonymKeyError, match=match):
        load_key(home)


def test_key_and_database_files_are_0600(tmp_path: Path) -> None:
    for _service in start_service(tmp_path, FakeScorer()):
        pass
    assert (tmp_path / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "decisions.db").stat().st_mode & 0o777 == 0o600
    assert key_fingerprint(load_key(tmp_path)) == (tmp_path / KEY_ID_FILE).read_text().strip()


def test_rotation_keeps_histories_and_changes_new_pseudonyms(tmp_path, monkeypatch, capsys) -> None:
    _score_three_times(tmp_path)
    old = load_key(tmp_path)
    run = run_main(["pseudonym-key", "rotate"], tmp_path, monkeypatch, capsys)
    assert run.code == 0, run.err
    new = load_key(tmp_path)
    assert new != old
    for service in start_service(tmp_path, FakeScorer()):
        assert _history(service, "H0001") == 3  # found under the retired key
        new_id = service.score([valid_household(1)]).json()["decisions"][0]["household_pseudonym"]
        assert new_id == pseudonym("H0001", new) != pseudonym("H0001", old)
        assert _history(service, "H0001") == 4
        with service.app.state.sessions() as session:
            assert pseudonym_key_history(session) == [key_fingerprint(old), key_fingerprint(new)]
    # The retired key is needed: without it the service refuses (histories would be cut).
    for f in (tmp_path / "pseudonym_keys").iterdir():
        f.unlink()
    with pytest.raises(PseudonymKeyError, match="retired pseudonymisation keys .* are listed"):
        create_app(settings_for(tmp_path), FakeScorer())


def test_rejected_households_are_stored_pseudonymised(fake_service: Service) -> None:
    bad = valid_household(2, household_id="HBAD-77", toilet="bucket")
    r = fake_service.score([valid_household(1), bad], on_error="score_valid")
    assert r.status_code == 200
    assert r.json()["rejected"][0]["household_id"] == "HBAD-77"  # the caller sees its own id
    with fake_service.app.state.sessions() as session:
        stored = session.scalars(select(RequestRow)).one().rejected
    assert "HBAD-77" not in str(stored)
    assert stored[0]["household_id"] == pseudonym("HBAD-77", fake_service.app.state.pseudonym_key)


def test_idempotency_keys_are_scoped_per_api_key(fake_service: Service) -> None:
    with fake_service.app.state.sessions() as session:
        other = create_key(session, "scorer", label="second scorer")[1]
    mine = fake_service.score([valid_household(1)], headers={"Idempotency-Key": "shared-key"})
    # Another scorer, same key: its own request, never the first scorer's answer (before: replayed).
    theirs = fake_service.client.post("/v1/score", json={"households": [valid_household(1)]},
                                      headers={"X-API-Key": other, "Idempotency-Key": "shared-key"})
    assert theirs.status_code == 200 and theirs.json()["replayed"] is False
    assert theirs.json()["request_id"] != mine.json()["request_id"]
    # And another body under that key is no conflict for the second scorer either.
    again = fake_service.client.post("/v1/score", json={"households": [valid_household(2)]},
                                     headers={"X-API-Key": other, "Idempotency-Key": "shared-key"})
    assert again.status_code == 409  # its own key, now used with another body
    replay = fake_service.score([valid_household(1)], headers={"Idempotency-Key": "shared-key"})
    assert replay.json()["replayed"] is True and replay.json()["request_id"] == mine.json()["request_id"]
    with fake_service.app.state.sessions() as session:
        assert "shared-key" not in str(session.scalars(select(RequestRow.idempotency_key)).all())


