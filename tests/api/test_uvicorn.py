"""One real round trip: `targeting serve` (uvicorn) in a child process on 127.0.0.1, the real model,
httpx over TCP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from api.security import create_key
from api.store import DecisionRow, make_engine, session_factory
from tests.conftest import valid_household

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path, model_dir: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    home = tmp_path / "state"
    engine = make_engine(f"sqlite:///{(home / 'decisions.db').resolve()}")
    with session_factory(engine)() as session:
        keys = {role: create_key(session, role)[1] for role in ("scorer", "inspector")}
    engine.dispose()
    port = _free_port()
    env = {**os.environ, "TARGETING_HOME": str(home)}
    env.pop("TARGETING_DATABASE_URL", None)
    log = (tmp_path / "server.log").open("wb")
    targeting = Path(sys.executable).parent / "targeting"
    proc = subprocess.Popen(
        [str(targeting), "serve", "--host", "127.0.0.1", "--port", str(port), "--model-dir", str(model_dir)],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server not ready after 90 s"
            time.sleep(0.2)
        yield base, keys, tmp_path
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def test_round_trip_over_tcp(server: tuple[str, dict[str, str], Path]) -> None:
    base, keys, where = server
    home = where / "state"
    households = [valid_household(1), valid_household(2, floor_material="earth", toilet="none")]
    with httpx.Client(base_url=base, timeout=30) as client:
        scored = client.post("/v1/score", json={"households": households, "lang": "en"},
                             headers={"X-API-Key": keys["scorer"], "Idempotency-Key": "tcp-1"})
        assert scored.status_code == 200, scored.text
        body = scored.json()
        again = client.post("/v1/score", json={"households": households, "lang": "en"},
                            headers={"X-API-Key": keys["scorer"], "Idempotency-Key": "tcp-1"})
        assert again.json()["replayed"] is True and again.json()["decisions"] == body["decisions"]
        history = client.get("/v1/households/H0002/decisions", headers={"X-API-Key": keys["inspector"]})
        refused = client.get("/v1/households/H0002/decisions", headers={"X-API-Key": keys["scorer"]})
    assert refused.status_code == 403
    first, second = body["decisions"]
    # Earth floor and no toilet: a lower prediction and more rule criteria met than the tiled house.
    assert second["predicted_log_welfare"] < first["predicted_log_welfare"]
    assert second["rules"]["n_met"] > first["rules"]["n_met"]
    assert body["versions"]["model_version"].startswith("dir+")
    assert [d["decision_id"] for d in history.json()["decisions"]] == [second["decision_id"]]
    engine = make_engine(f"sqlite:///{(home / 'decisions.db').resolve()}")
    with session_factory(engine)() as session:
        assert session.scalar(select(func.count()).select_from(DecisionRow)) == 2
    engine.dispose()
    # The service logs a request after answering it: wait for the last line.
    deadline, log_file = time.monotonic() + 10, where / "server.log"
    while "decisions -> 403" not in (log := log_file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "POST /v1/score -> 200" in log and "GET /v1/households/{household_id}/decisions -> 403" in log
    for secret in (households[0]["head_nik"], households[1]["head_nik"], *keys.values(), "H0002"):
        assert str(secret) not in log
