"""Costs an attacker can impose, measured from outside the process: key guessing, stalled bodies, wide files.

Run from the repository root:  ``.venv/bin/python -m benchmarks.security [--source DIR]`` (about two
minutes). ``--source`` runs the same commands against another checkout's ``src`` and ``api`` (e.g. an
export of an older commit: ``git archive <commit> | tar -x -C /tmp/before``), so that before and after
are measured on the same machine, one after the other.

Cases:

- ``targeting serve`` (uvicorn, one worker, the shipped default model) in a child process: median
  answer time of 20 requests with a key whose id does not exist and 20 with a real id and a wrong
  secret (failure limit raised so that every request is checked), then 40 wrong secrets with the
  default limit: how many were refused 429 and the server CPU seconds they cost (psutil);
- 30 connections that send the headers of a 1000-byte body and part of it, then stall; 30 that send
  nothing; 30 that send half a request head: seconds until the server closed each (stopped waiting
  after 60 s);
- ``targeting validate`` on 200 households with 20,000 unknown columns, timed with ``/usr/bin/time -v``
  (wall time, peak RSS).

Each line carries the 1-minute load average when it was measured: the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _load() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def _env(home: Path, source: Path | None, **extra: str) -> dict[str, str]:
    env = {**os.environ, "TARGETING_HOME": str(home), "OMP_NUM_THREADS": "1", **extra}
    env.pop("TARGETING_DATABASE_URL", None)
    if source is not None:
        env["PYTHONPATH"] = f"{source / 'src'}{os.pathsep}{source}"
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _targeting(*args: str) -> list[str]:
    return [sys.executable, "-c", "from targeting.cli import main; main()", *args]


def _create_key(home: Path, env: dict[str, str], role: str) -> str:
    # Run from the state folder: "python -c" puts the current folder first on sys.path.
    out = subprocess.run(_targeting("keys", "create", "--role", role), env=env, capture_output=True,
                         text=True, check=True, cwd=home)
    return out.stdout.strip().splitlines()[-1]


class Server:
    def __init__(self, home: Path, source: Path | None, **settings: str) -> None:
        self.port = _free_port()
        self.env = _env(home, source, **settings)
        self.key = _create_key(home, self.env, "inspector")
        self.log = (home / "server.log").open("wb")
        self.proc = subprocess.Popen(_targeting("serve", "--port", str(self.port)), env=self.env, cwd=home,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        import httpx

        deadline = time.monotonic() + 120
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError((home / "server.log").read_text())
            try:
                if httpx.get(f"{self.base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server not ready after 120 s")
            time.sleep(0.2)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self) -> float:
        import psutil

        t = psutil.Process(self.proc.pid).cpu_times()
        return float(t.user + t.system)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:  # uvicorn waits for open connections before it exits
            self.proc.kill()
            self.proc.wait(20)
        self.log.close()


def _wrong(key: str) -> str:
    return key[:13] + ("A" if key[13] != "A" else "B") + key[14:]


def auth_rows(source: Path | None) -> list[tuple[str, str, str]]:
    import httpx

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), source, TARGETING_API_AUTH_MAX_FAILURES="100000")
        try:
            url = f"{server.base}/v1/households/H1/decisions"
            with httpx.Client(timeout=30) as client:
                client.get(url, headers={"X-API-Key": server.key})  # warm up
                for label, key in (("unknown key id", "tgk_00000000_" + "A" * 43),
                                   ("known id, wrong secret", _wrong(server.key))):
                    times = []
                    for _ in range(20):
                        start = time.perf_counter()
                        client.get(url, headers={"X-API-Key": key})
                        times.append((time.perf_counter() - start) * 1000)
                    median = f"{statistics.median(times):.1f} ms"
                    rows.append((f"auth: {label}, median of 20", median, _load()))
        finally:
            server.stop()
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), source)
        try:
            url = f"{server.base}/v1/households/H1/decisions"
            with httpx.Client(timeout=30) as client:
                before = server.cpu_seconds()
                wrong = {"X-API-Key": _wrong(server.key)}
                codes = [client.get(url, headers=wrong).status_code for _ in range(40)]
                spent = server.cpu_seconds() - before
            rows.append(("auth: 40 wrong secrets, default limit",
                         f"{spent:.2f} s server CPU; {codes.count(401)}x401 {codes.count(429)}x429", _load()))
        finally:
            server.stop()
    return rows


def _close_times(port: int, sent: bytes, n: int = 30, wait_s: float = 60) -> str:
    socks = []
    start = time.monotonic()
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(sent)
        socks.append(s)
    closed = []
    deadline = start + wait_s
    for s in socks:
        s.settimeout(max(0.1, deadline - time.monotonic()))  # wait_s for all of them together
        try:
            while s.recv(65536):
                pass
            closed.append(time.monotonic() - start)
        except TimeoutError:
            pass
        finally:
            s.close()
    if not closed:
        return f"0/{n} closed after {wait_s:.0f} s"
    return f"{len(closed)}/{n} closed; median {statistics.median(closed):.1f} s, max {max(closed):.1f} s"


def stalled_rows(source: Path | None) -> list[tuple[str, str, str]]:
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), source)
        try:
            head = (b"POST /v1/score HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 1000\r\n\r\n")
            return [
                ("30 stalled bodies (Content-Length 1000)", _close_times(server.port, head + b"{"),
                 _load()),
                ("30 connections that send nothing", _close_times(server.port, b""), _load()),
                ("30 connections with half a request head", _close_times(server.port, head[:30]), _load()),
            ]
        finally:
            server.stop()


def wide_file_rows(source: Path | None) -> list[tuple[str, str, str]]:
    import pandas as pd

    from tests.conftest import valid_household

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wide.csv"
        frame = pd.DataFrame([valid_household(i) for i in range(1, 201)])
        extra = pd.DataFrame({f"x{j}": ["1"] * 200 for j in range(20_000)})
        pd.concat([frame, extra], axis=1).to_csv(path, index=False)
        out = subprocess.run(["/usr/bin/time", "-v", *_targeting("validate", str(path))],
                             env=_env(Path(tmp) / "home", source), capture_output=True, text=True,
                             cwd=tmp)
        wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", out.stderr)
        rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr)
        printed = len(out.stdout.splitlines())
        text = (f"exit {out.returncode}; wall {wall.group(1) if wall else '?'}; "
                f"peak RSS {int(rss.group(1)) // 1024 if rss else '?'} MB; "
                f"{printed:,} lines printed")
        return [("validate: 200 households x 20,000 unknown columns", text, _load())]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=None, help="another checkout to measure instead")
    args = parser.parse_args(argv)
    source = args.source.resolve() if args.source else None
    rows = [*auth_rows(source), *stalled_rows(source), *wide_file_rows(source)]
    width = max(len(r[0]) for r in rows)
    print(f"code: {source or REPO}")
    print(f"{'case':<{width}}  {'result':<62}  load")
    for case, result, load in rows:
        print(f"{case:<{width}}  {result:<62}  {load}")


if __name__ == "__main__":
    main()
