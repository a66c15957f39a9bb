"""The decision store on a real PostgreSQL server (throwaway, loopback only), through the app.

The module starts its own server with the machine's PostgreSQL binaries (``initdb``, ``pg_ctl``)
on a temporary data folder, listening on 127.0.0.1 only with trust authentication, and stops it
at the end. PostgreSQL refuses to run as root, so as root the server runs as the ``postgres``
system user (``runuser``); as any other user it runs as that user. The module is skipped when
the binaries, the driver or (as root) the ``postgres`` user are missing.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, IntegrityError, ProgrammingError

from api.store import (
    APPEND_ONLY_TABLES,
    ApiKeyRow,
    DecisionRow,
    GrievanceRow,
    RequestRow,
    make_engine,
    revoke_api_key,
)
from tests.api.conftest import Service, start_service, valid_household

pytest.importorskip("psycopg", reason="psycopg (the dev extra) is needed for the PostgreSQL store tests")

START_TIMEOUT = 30  # seconds, for each of initdb, start and stop
# The server's own time zone is not UTC (Kutai Kartanegara keeps WITA), so the store must convert.
SERVER_TIMEZONE = "Asia/Makassar"


def _pg_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, else the newest /usr/lib/postgresql/*/bin."""
    on_path = shutil.which("initdb")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += [Path(p).parent for p in sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                                                  key=lambda p: int(Path(p).parts[-3]), reverse=True)]
    for folder in candidates:
        if (folder / "initdb").is_file() and (folder / "pg_ctl").is_file():
            return folder
    return None


def _run_as() -> tuple[list[str], pwd.struct_passwd | None]:
    """The command prefix that runs the server binaries as a user PostgreSQL accepts (skips if none)."""
    if os.geteuid() != 0:
        return [], None  # PostgreSQL runs as any user but root
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no 'postgres' system user to run PostgreSQL as")
    runuser = shutil.which("runuser")
    if runuser is None:
        pytest.skip("running as root and 'runuser' is missing, so PostgreSQL cannot run as 'postgres'")
    return [runuser, "-u", "postgres", "--"], user


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresServer:
    def __init__(self, port: int) -> None:
        self.port = port
        self.admin = create_engine(self.url("postgres"), isolation_level="AUTOCOMMIT")
        self._names = itertools.count(1)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database's URL (one per test, so tests see only their own rows)."""
        name = f"targeting_{next(self._names)}"
        with self.admin.connect() as conn:
            conn.execute(text(f"CREATE DATABASE {name}"))
        return self.url(name)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in /usr/lib/postgresql")
    prefix, user = _run_as()
    # Not under pytest's tmp folder: that is private to the current user, and the server may run as
    # another one. The socket folder path must stay short (Unix socket paths are limited to ~107 bytes).
    root = Path(tempfile.mkdtemp(prefix="targeting-pg-"))
    data, log = root / "data", root / "server.log"
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)

    def run(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        # cwd=root: the server user may not be able to enter the current folder.
        return subprocess.run([*prefix, *map(str, args)], cwd=root, capture_output=True, text=True,
                              timeout=START_TIMEOUT, check=check)

    started = False
    try:
        run(bindir / "initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C",
            "--no-sync")
        for _attempt in range(3):  # another process may take the free port between probe and bind
            port = _free_port()
            options = (f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c timezone={SERVER_TIMEZONE} "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
            result = run(bindir / "pg_ctl", "start", "-D", data, "-l", log, "-w", "-t", str(START_TIMEOUT),
                         "-o", options, check=False)
            if result.returncode == 0:
                started = True
                break
        if not started:
            server_log = log.read_text(errors="replace") if log.exists() else ""
            pytest.fail(f"PostgreSQL did not start: {result.stdout}{result.stderr}\n{server_log}")
        server = PostgresServer(port)
        with server.admin.connect() as conn:  # ready and answering on TCP, not just the socket
            assert conn.execute(text("SELECT 1")).scalar() == 1
        yield server
        server.admin.dispose()
    finally:
        if started:
            stop = run(bindir / "pg_ctl", "stop", "-D", data, "-m", "fast", "-w", "-t", str(START_TIMEOUT),
                       check=False)
            if stop.returncode != 0:
                run(bindir / "pg_ctl", "stop", "-D", data, "-m", "immediate", check=False)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres: PostgresServer) -> str:
    return postgres.new_database()


@pytest.fixture
def pg(pg_url: str) -> Iterator[Engine]:
    """A direct connection to the test's database, beside the app's."""
    engine = create_engine(pg_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pg_service(tmp_path: Path, model_scorer: Any, pg_url: str,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Service]:
    """The app with the real model, its decision store on PostgreSQL as a deployment configures it."""
    monkeypatch.setenv("TARGETING_DATABASE_URL", pg_url)
    yield from start_service(tmp_path, model_scorer)


def count(engine: Engine, row: type[Any]) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(row)).scalar_one())


def test_the_service_really_uses_postgres(pg_service: Service, pg_url: str) -> None:
    engine = pg_service.app.state.engine
    assert engine.dialect.name == "postgresql" and engine.dialect.driver == "psycopg"
    assert engine.url.render_as_string(hide_password=False) == pg_url
    ready = pg_service.client.get("/ready")
    assert ready.status_code == 200, ready.text


def test_decisions_round_trip_through_postgres(pg_service: Service, pg: Engine) -> None:
    households = [valid_household(1), valid_household(2, floor_material="earth", toilet="none")]
    scored = pg_service.score(households, lang="en", top_k=3)
    assert scored.status_code == 200, scored.text
    decisions = scored.json()["decisions"]
    assert count(pg, DecisionRow) == 2 and count(pg, RequestRow) == 1

    r = pg_service.client.get("/v1/households/H0002/decisions", headers=pg_service.headers("inspector"))
    assert r.status_code == 200, r.text
    (stored,) = r.json()["decisions"]
    # Read back from PostgreSQL: the same decision, outputs (floats, reasons, rules) and timestamp.
    assert stored == decisions[1]
    assert stored["rules"]["criteria"]["e"] is True  # earth floor
    with pg.connect() as conn:
        raw = conn.execute(text("SELECT created_at::text FROM decisions WHERE id = :id"),
                           {"id": decisions[1]["decision_id"]}).scalar_one()
        typed = conn.execute(select(DecisionRow.created_at)
                             .where(DecisionRow.id == decisions[1]["decision_id"])).scalar_one()
    assert raw.endswith("+08")  # the server answers in its own zone (WITA)...
    assert typed.utcoffset() == timedelta(0)  # ...the store reads it as UTC...
    assert datetime.fromisoformat(stored["created_at"]) == typed  # ...the service shows that instant


def test_idempotent_retry_writes_no_second_row(pg_service: Service, pg: Engine) -> None:
    households = [valid_household(1), valid_household(2)]
    first = pg_service.score(households, headers={"Idempotency-Key": "batch-2026-11-28-001"})
    again = pg_service.score(households, headers={"Idempotency-Key": "batch-2026-11-28-001"})
    assert first.status_code == again.status_code == 200
    assert (first.json()["replayed"], again.json()["replayed"]) == (False, True)
    assert again.json()["decisions"] == first.json()["decisions"]
    assert count(pg, RequestRow) == 1 and count(pg, DecisionRow) == 2
    # Same key, another body: a conflict, nothing written.
    other = pg_service.score([valid_household(3)], headers={"Idempotency-Key": "batch-2026-11-28-001"})
    assert other.status_code == 409
    assert count(pg, RequestRow) == 1 and count(pg, DecisionRow) == 2


def test_a_lost_idempotency_race_replays_the_winner(pg_service: Service, pg: Engine,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The retry's look-up misses the first request (committed just after): PostgreSQL's unique
    index refuses the second insert, the aborted transaction is rolled back and the winner replayed."""
    import api.decisions

    households = [valid_household(1)]
    first = pg_service.score(households, headers={"Idempotency-Key": "race"})
    real_find = api.decisions.find_request
    calls = itertools.count()
    monkeypatch.setattr(api.decisions, "find_request",
                        lambda session, key: None if next(calls) == 0 else real_find(session, key))
    again = pg_service.score(households, headers={"Idempotency-Key": "race"})
    assert again.status_code == 200, again.text
    assert next(calls) == 2  # the look-up before scoring (missed) and the one after the refused insert
    assert again.json()["replayed"] is True
    assert again.json()["decisions"] == first.json()["decisions"]
    assert count(pg, RequestRow) == 1 and count(pg, DecisionRow) == 1


def test_postgres_refuses_updates_and_deletes(pg_service: Service, pg: Engine, pg_url: str) -> None:
    assert pg_service.score([valid_household(1)]).status_code == 200
    filed = pg_service.client.post(  # a row in grievances too: row triggers fire only on rows
        "/v1/grievances", headers=pg_service.headers("officer"),
        json={"household_id": "H0001", "corrections": {"meals_per_day": 1}, "reported_by": "petugas",
              "reported_on": "2026-11-20", "channel": "dinsos"})
    assert filed.status_code == 201, filed.text
    counts = count(pg, RequestRow), count(pg, DecisionRow), count(pg, GrievanceRow)
    assert counts[1:] == (1 + (filed.json()["decision"] is not None), 1)
    with pg.connect() as conn:
        for sql in ("UPDATE decisions SET outputs = '{}'", "DELETE FROM decisions",
                    "UPDATE requests SET n_decisions = 0", "DELETE FROM requests",
                    "UPDATE grievances SET upheld = true", "DELETE FROM grievances",
                    "TRUNCATE grievances", "TRUNCATE grievances, requests, decisions"):
            with pytest.raises(IntegrityError, match="append-only"):
                conn.execute(text(sql))
            conn.rollback()
    # Refused before the trigger: grievances reference decisions.
    with pg.connect() as conn, pytest.raises(DBAPIError, match="foreign key"):
        conn.execute(text("TRUNCATE decisions"))
    assert (count(pg, RequestRow), count(pg, DecisionRow), count(pg, GrievanceRow)) == counts
    with pg.connect() as conn:
        assert {} not in conn.execute(select(DecisionRow.outputs)).scalars().all()

    # Creating the store again (a restart, a second worker) keeps exactly one set of triggers.
    make_engine(pg_url).dispose()
    with pg.connect() as conn:
        triggers = conn.execute(text(
            "SELECT tgrelid::regclass::text, tgname FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2"
        )).all()
    assert [tuple(t) for t in triggers] == [
        (table, f"{table}_no_{action}") for table in sorted(APPEND_ONLY_TABLES)
        for action in ("delete", "truncate", "update")
    ]

    # The service as a role that owns nothing, granted INSERT and SELECT only (as the store's
    # docstring advises): it starts (nothing to create) and writes, and cannot drop the triggers.
    with pg.connect() as conn:
        conn.execute(text("CREATE ROLE targeting_service LOGIN"))
        conn.execute(text("GRANT SELECT, INSERT ON requests, decisions, grievances TO targeting_service"))
        conn.execute(text("GRANT SELECT ON api_keys TO targeting_service"))
        conn.commit()
    service_url = pg_url.replace("postgres@", "targeting_service@")
    service_engine = make_engine(service_url)
    try:
        with service_engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(DecisionRow)).scalar_one() == counts[1]
            with pytest.raises(ProgrammingError, match="must be owner"):
                conn.execute(text("ALTER TABLE decisions DISABLE TRIGGER decisions_no_delete"))
    finally:
        service_engine.dispose()
        with pg.connect() as conn:  # roles are server-wide: leave none behind for the next test
            conn.execute(text("DROP OWNED BY targeting_service"))
            conn.execute(text("DROP ROLE targeting_service"))
            conn.commit()

    # API keys are not append-only: the CLI revokes them with an UPDATE.
    key_id = pg_service.keys["analyst"].split("_")[1]
    with pg_service.app.state.sessions() as session:
        assert revoke_api_key(session, key_id)
    with pg.connect() as conn:
        assert conn.execute(select(ApiKeyRow.revoked).where(ApiKeyRow.id == key_id)).scalar_one() is True
