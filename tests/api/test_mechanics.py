"""HTTP, store and auth mechanics with a stand-in scorer (the real model is tested in test_score.py)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from api.security import create_key
from api.store import ApiKeyRow, DecisionRow, RequestRow, revoke_api_key
from tests.api.conftest import FakeScorer, Service, start_service, valid_household

# ---- auth ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("post", "/v1/score", ("scorer",)),
     ("get", "/v1/households/H0001/decisions", ("inspector", "officer")),
     ("get", "/v1/models", ("analyst",)),
     ("post", "/v1/grievances", ("officer", "scorer"))],
)
def test_each_route_admits_only_its_roles(fake_service: Service, method: str, path: str,
                                          allowed: tuple[str, ...]) -> None:
    body: dict[str, Any] = {}
    if path == "/v1/score":
        body = {"json": {"households": [valid_household(1)]}}
    elif path == "/v1/grievances":
        # An unknown household: admitted roles get 404, the others 403 before the store is read.
        body = {"json": {"household_id": "H0404", "corrections": {"meals_per_day": 2}, "reported_by": "x",
                         "reported_on": "2026-11-20", "channel": "dinsos"}}
    ok = 404 if path == "/v1/grievances" else 200
    call = getattr(fake_service.client, method)
    assert call(path, **body).status_code == 401
    assert call(path, headers={"X-API-Key": "tgk_00000000_" + "a" * 43}, **body).status_code == 401
    for role in ("scorer", "inspector", "analyst", "officer"):
        r = call(path, headers=fake_service.headers(role), **body)
        assert r.status_code == (ok if role in allowed else 403), (role, r.text)
        if role not in allowed:
            assert "needs " + " or ".join(repr(a) for a in allowed) in r.json()["detail"]


def test_a_tampered_or_revoked_key_is_refused(fake_service: Service) -> None:
    key = fake_service.keys["analyst"]
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    h = {"X-API-Key": tampered}
    assert fake_service.client.get("/v1/models", headers=h).status_code == 401
    assert fake_service.client.get("/v1/models", headers=fake_service.headers("analyst")).status_code == 200
    with fake_service.app.state.sessions() as session:
        assert revoke_api_key(session, key.split("_")[1])
    assert fake_service.client.get("/v1/models", headers=fake_service.headers("analyst")).status_code == 401


def test_keys_are_stored_hashed(fake_service: Service) -> None:
    with fake_service.app.state.sessions() as session:
        rows = session.scalars(select(ApiKeyRow)).all()
    assert len(rows) == 4  # one per role
    stored = " ".join(f"{r.id} {r.key_hash} {r.salt}" for r in rows)
    for key in fake_service.keys.values():
        # The secret is everything after "<prefix>_<id>_" (token_urlsafe may itself contain "_").
        secret = key.split("_", 2)[2]
        assert len(secret) >= 40
        assert key not in stored and secret not in stored
    assert {r.scheme for r in rows} == {"scrypt:n=16384,r=8,p=1"}


def test_logs_hold_no_nik_and_no_key(fake_service: Service, caplog: pytest.LogCaptureFixture) -> None:
    nik_ok, nik_bad = "6402123456789012", "640212345678"
    households = [valid_household(1, head_nik=nik_ok), valid_household(2, head_nik=nik_bad)]
    with caplog.at_level(logging.DEBUG):
        r1 = fake_service.score(households)
        r2 = fake_service.score(households, on_error="score_valid")
        r3 = fake_service.client.get("/v1/models", headers={"X-API-Key": fake_service.keys["scorer"]})
    assert (r1.status_code, r2.status_code, r3.status_code) == (422, 200, 403)
    logged = caplog.text
    assert "POST /v1/score -> 422" in logged and "POST /v1/score -> 200" in logged  # it did log
    for secret in (nik_ok, nik_bad, *fake_service.keys.values()):
        assert secret not in logged
    for r in (r1, r2):
        assert nik_bad not in r.text and nik_ok not in r.text


# ---- validation errors -----------------------------------------------------------------------------


def test_bad_household_in_a_batch_rejects_the_batch_and_says_which(fake_service: Service) -> None:
    households = [valid_household(1), valid_household(2, floor_material="marmer_emas", food_share="1.5")]
    r = fake_service.score(households)
    assert r.status_code == 422
    body = r.json()
    assert "1 of 2 households are invalid" in body["detail"] and "nothing was scored" in body["detail"]
    assert [(e["index"], e["household_id"], e["field"], e["value"]) for e in body["errors"]] == [
        (1, "H0002", "floor_material", "marmer_emas"), (1, "H0002", "food_share", "1.5")]
    assert body["errors"][1]["reason_en"] == "out of range [0, 1]"
    assert body["errors"][1]["reason"] == "di luar rentang [0, 1]"
    assert fake_service.app.state.scorer.calls == []
    with fake_service.app.state.sessions() as session:
        assert session.scalars(select(DecisionRow)).all() == []


def test_score_valid_scores_the_rest_and_lists_the_rejected(fake_service: Service) -> None:
    households = [valid_household(1), valid_household(2, urban="mungkin"), valid_household(3)]
    r = fake_service.score(households, on_error="score_valid")
    assert r.status_code == 200
    body = r.json()
    assert [d["household_id"] for d in body["decisions"]] == ["H0001", "H0003"]
    assert [(e["index"], e["field"]) for e in body["rejected"]] == [(1, "urban")]
    with fake_service.app.state.sessions() as session:
        stored = session.scalars(select(DecisionRow).order_by(DecisionRow.position)).all()
        req = session.scalars(select(RequestRow)).one()
    assert [d.position for d in stored] == [0, 2]
    assert (req.n_households, req.n_decisions, req.rejected[0]["field"]) == (3, 2, "urban")


def test_structural_errors_name_the_household(fake_service: Service) -> None:
    r = fake_service.client.post(
        "/v1/score", headers=fake_service.headers("scorer"),
        json={"households": [valid_household(1), {**valid_household(2), "floor_material": ["earth"]}, 7]},
    )
    assert r.status_code == 422
    errors = [(e["index"], e["household_id"], e["field"]) for e in r.json()["errors"]]
    assert (1, "H0002", "floor_material") in errors and (2, None, "household") in errors


@pytest.mark.parametrize(
    ("body", "field"),
    [({"households": []}, "households"), ({}, "households"), ({"households": [{}], "lang": "fr"}, "lang"),
     ({"households": [{}], "top_k": 11}, "top_k"), ({"households": [{}], "on_error": "skip"}, "on_error"),
     ({"households": [{}], "extra": 1}, "extra")],
)
def test_request_shape_errors(fake_service: Service, body: dict[str, object], field: str) -> None:
    r = fake_service.client.post("/v1/score", json=body, headers=fake_service.headers("scorer"))
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["errors"]]


def test_malformed_json_is_a_422(fake_service: Service) -> None:
    headers = {**fake_service.headers("scorer"), "Content-Type": "application/json"}
    r = fake_service.client.post("/v1/score", content=b"{not json", headers=headers)
    assert r.status_code == 422


# ---- limits ----------------------------------------------------------------------------------------


def test_batch_and_body_limits_answer_413(tmp_path: Path) -> None:
    for service in start_service(tmp_path, FakeScorer(), max_batch=3, max_body_bytes=20_000):
        r = service.score([valid_household(i) for i in range(4)])
        assert r.status_code == 413
        assert "too many households in one request: 4 (limit 3)" in r.json()["detail"]
        assert service.score([valid_household(i) for i in range(3)]).status_code == 200
        big = [valid_household(1, desa="x" * 25_000)]
        r = service.score(big)
        assert r.status_code == 413
        assert "request body too large (limit 20000 bytes)" in r.json()["detail"]

        def chunks() -> object:
            yield b'{"households": ['
            for _ in range(100):
                yield b'{"desa": "' + b"y" * 500 + b'"},'
            yield b"{}]}"

        r = service.client.post("/v1/score", content=chunks(),
                                headers={**service.headers("scorer"), "Content-Type": "application/json"})
        assert r.status_code == 413  # streamed without a Content-Length, cut off at the limit
        assert service.app.state.scorer.calls == [3]


# ---- idempotency -----------------------------------------------------------------------------------


def test_idempotent_retry_returns_the_stored_decisions(fake_service: Service) -> None:
    households = [valid_household(1), valid_household(2)]
    first = fake_service.score(households, headers={"Idempotency-Key": "batch-2026-11-28-001"})
    again = fake_service.score(households, headers={"Idempotency-Key": "batch-2026-11-28-001"})
    assert first.status_code == again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    a, b = first.json(), again.json()
    assert (a["replayed"], b["replayed"]) == (False, True)
    assert b["decisions"] == a["decisions"] and b["request_id"] == a["request_id"]
    assert fake_service.app.state.scorer.calls == [2]  # scored once
    with fake_service.app.state.sessions() as session:
        assert len(session.scalars(select(DecisionRow)).all()) == 2
    # Same key, another body: a conflict, nothing written.
    other = fake_service.score([valid_household(3)], headers={"Idempotency-Key": "batch-2026-11-28-001"})
    assert other.status_code == 409 and other.json() == {
        "detail": "Idempotency-Key sudah dipakai untuk isi permintaan lain / Idempotency-Key was "
                  "already used with a different request body", "errors": []}
    # Without a key, the same body is a new request.
    assert fake_service.score(households).json()["request_id"] != a["request_id"]


def test_idempotency_key_and_defaults(fake_service: Service) -> None:
    households = [valid_household(1)]
    first = fake_service.score(households, headers={"Idempotency-Key": "k1"})
    # Spelling out the defaults is the same request.
    same = fake_service.score(households, headers={"Idempotency-Key": "k1"}, lang="id",
                              on_error="reject_batch")
    assert same.json()["replayed"] is True
    assert same.json()["decisions"] == first.json()["decisions"]
    assert fake_service.score(households, headers={"Idempotency-Key": "k1"}, lang="en").status_code == 409
    assert fake_service.score(households, headers={"Idempotency-Key": "bad key"}).status_code == 422


# ---- store -----------------------------------------------------------------------------------------


def test_every_decision_is_stored_with_its_provenance(fake_service: Service) -> None:
    r = fake_service.score([valid_household(1)])
    (d,) = r.json()["decisions"]
    with fake_service.app.state.sessions() as session:
        row = session.get(DecisionRow, d["decision_id"])
        req = session.get(RequestRow, d["request_id"])
    assert row is not None and req is not None
    assert row.request_id == r.headers["X-Request-ID"] == d["request_id"]
    assert row.household_pseudonym == d["household_pseudonym"] and row.household_pseudonym.startswith("p")
    assert (row.model_name, row.model_version, row.ruleset_id) == ("fake-pmt", "fake-1", "kepmensos_262_2022")
    assert row.outputs["rules"]["verdict"] == d["rules"]["verdict"] == "not_eligible"
    assert row.created_at.tzinfo is not None and row.created_at.utcoffset().total_seconds() == 0
    assert "H0001" not in str(row.inputs) and "6402" not in str(row.inputs)
    assert row.inputs["floor_material"] == "tile_ceramic"
    assert req.api_key_id == fake_service.keys["scorer"].split("_")[1]


def test_store_refuses_updates_and_deletes(fake_service: Service) -> None:
    fake_service.score([valid_household(1)])
    with fake_service.app.state.engine.connect() as conn:
        for sql in ("UPDATE decisions SET outputs = '{}'", "DELETE FROM decisions",
                    "DELETE FROM requests", "UPDATE requests SET n_decisions = 0"):
            with pytest.raises(IntegrityError, match="append-only"):
                conn.execute(text(sql))
            conn.rollback()


def test_no_route_changes_or_deletes_decisions(fake_service: Service) -> None:
    spec = fake_service.client.get("/openapi.json").json()
    methods = {m for ops in spec["paths"].values() for m in ops}
    assert methods == {"get", "post"}
    # Both POSTs append (a grievance adds a decision that revisits the old one; nothing is replaced).
    assert [p for p, ops in spec["paths"].items() if "post" in ops] == ["/v1/score", "/v1/grievances"]


def test_history_takes_the_raw_id_and_finds_it_by_pseudonym(fake_service: Service) -> None:
    fake_service.score([valid_household(1), valid_household(2)])
    fake_service.score([valid_household(1, floor_material="earth")])
    r = fake_service.client.get("/v1/households/H0001/decisions", headers=fake_service.headers("inspector"))
    assert r.status_code == 200
    body = r.json()
    assert [d["household_id"] for d in body["decisions"]] == ["H0001", "H0001"]
    assert body["decisions"][0]["input_sha256"] != body["decisions"][1]["input_sha256"]
    assert body["decisions"][0]["created_at"] <= body["decisions"][1]["created_at"]
    assert {d["household_pseudonym"] for d in body["decisions"]} == {body["household_pseudonym"]}
    none = fake_service.client.get("/v1/households/H9999/decisions",
                                   headers=fake_service.headers("inspector"))
    assert none.status_code == 200 and none.json()["decisions"] == []
    limited = fake_service.client.get("/v1/households/H0001/decisions?limit=1",
                                      headers=fake_service.headers("inspector"))
    assert len(limited.json()["decisions"]) == 1


def test_pseudonyms_survive_a_restart_with_the_same_state_folder(tmp_path: Path) -> None:
    for service in start_service(tmp_path, FakeScorer()):
        first = service.score([valid_household(1)]).json()["decisions"][0]["household_pseudonym"]
    for service in start_service(tmp_path, FakeScorer()):
        history = service.client.get("/v1/households/H0001/decisions", headers=service.headers("inspector"))
        assert [d["household_pseudonym"] for d in history.json()["decisions"]] == [first]


# ---- health ----------------------------------------------------------------------------------------


def test_health_and_ready(fake_service: Service) -> None:
    assert fake_service.client.get("/health").json() == {"status": "ok"}
    ready = fake_service.client.get("/ready")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    fake_service.app.state.engine.dispose()
    fake_service.app.state.engine.pool._creator = lambda: (_ for _ in ()).throw(OSError("down"))
    down = fake_service.client.get("/ready")
    assert down.status_code == 503
    assert down.json() == {"status": "not_ready", "model_loaded": True, "database": False,
                           "detail": "database unreachable"}


def test_key_ids_are_unique_and_roles_checked(tmp_path: Path) -> None:
    for service in start_service(tmp_path, FakeScorer()):
        with service.app.state.sessions() as session:
            with pytest.raises(ValueError, match="role must be one of"):
                create_key(session, "admin")
            key_id, key = create_key(session, "inspector")
        assert key.startswith(f"tgk_{key_id}_") and len(key) == 4 + 9 + 43


def test_concurrent_retries_write_once(fake_service: Service) -> None:
    from concurrent.futures import ThreadPoolExecutor

    households = [valid_household(1), valid_household(2)]

    def send(_: int) -> Any:
        return fake_service.score(households, headers={"Idempotency-Key": "race-1"})

    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(send, range(6)))
    assert [r.status_code for r in responses] == [200] * 6
    assert len({r.json()["request_id"] for r in responses}) == 1
    assert sum(not r.json()["replayed"] for r in responses) == 1
    with fake_service.app.state.sessions() as session:
        assert len(session.scalars(select(DecisionRow)).all()) == 2
        assert len(session.scalars(select(RequestRow)).all()) == 1


class _FailingScorer(FakeScorer):
    def score(self, data: Any, **kwargs: Any) -> Any:
        raise ValueError(f"model broke on NIK {data.frame['head_nik'].iloc[0]}")


def test_an_internal_error_is_a_500_that_logs_no_household_data(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from api.main import create_app
    from tests.api.conftest import TestClient, settings_for

    app = create_app(settings_for(tmp_path), _FailingScorer())
    with app.state.sessions() as session:
        key = create_key(session, "scorer")[1]
    nik = "6402999988887777"
    with TestClient(app, raise_server_exceptions=False) as client, caplog.at_level(logging.INFO):
        r = client.post("/v1/score", json={"households": [valid_household(1, head_nik=nik)]},
                        headers={"X-API-Key": key})
        docs = client.get("/docs")
    assert r.status_code == 500
    assert r.json()["detail"] == f"kesalahan internal / internal error (request {r.headers['X-Request-ID']})"
    assert "ValueError" in caplog.text and nik not in caplog.text and nik not in r.text
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    with app.state.sessions() as session:
        assert session.scalars(select(DecisionRow)).all() == []


def test_a_batch_is_one_transaction_with_one_bulk_insert_of_its_decisions(fake_service: Service) -> None:
    """150 households: one INSERT of the request, the decisions in one executemany, one commit."""
    from sqlalchemy import event

    engine = fake_service.app.state.engine
    statements: list[tuple[str, bool, int]] = []
    commits: list[int] = []

    def seen(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
             executemany: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT"):
            rows = len(parameters) if executemany else 1
            statements.append((statement.split("(")[0].strip(), executemany, rows))

    def committed(conn: Any) -> None:
        commits.append(1)

    event.listen(engine, "before_cursor_execute", seen)
    event.listen(engine, "commit", committed)
    try:
        r = fake_service.score([valid_household(i) for i in range(1, 151)])
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        event.remove(engine, "commit", committed)
    assert r.status_code == 200 and len(r.json()["decisions"]) == 150
    decision_inserts = [s for s in statements if "decisions" in s[0]]
    assert [s for s in statements if "requests" in s[0]] == [("INSERT INTO requests", False, 1)]
    assert decision_inserts == [("INSERT INTO decisions", True, 150)]  # the driver's executemany, once
    assert commits == [1]
