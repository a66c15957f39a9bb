"""The office's pages in a real browser: Debian's headless Chromium (Playwright) against `targeting serve`.

One uvicorn server for the module on a free loopback port, whose office runs the small synthetic plan.
Screenshots go to ``test-output/office/`` (gitignored) for a person to look at.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from api.security import create_key
from api.store import make_engine, session_factory
from targeting.report import BROWSER_FLAGS, find_chromium
from tests.api.test_office import VERDICT_WORDS
from tests.conftest import REPO

pytestmark = pytest.mark.browser
CHROMIUM = find_chromium()
SHOTS = REPO / "test-output" / "office"
ROLES = ("scorer", "inspector")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory,
           model_dir: Path) -> Iterator[tuple[str, dict[str, str], Path]]:
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (`make browser` installs Debian's chromium package)")
    where = tmp_path_factory.mktemp("office-server")
    home = where / "state"
    engine = make_engine(f"sqlite:///{(home / 'decisions.db').resolve()}")
    with session_factory(engine)() as session:
        keys = {role: create_key(session, role)[1] for role in ROLES}
    engine.dispose()
    port = _free_port()
    env = {**os.environ, "TARGETING_HOME": str(home), "TARGETING_API_OFFICE_PLAN": "kukar_small",
           "OMP_NUM_THREADS": "1"}
    env.pop("TARGETING_DATABASE_URL", None)
    log = (where / "server.log").open("wb")
    targeting = Path(sys.executable).parent / "targeting"
    proc = subprocess.Popen(
        [str(targeting), "serve", "--host", "127.0.0.1", "--port", str(port), "--model-dir", str(model_dir)],
        cwd=where, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(900):  # polls, not a time limit on start-up
            assert proc.poll() is None, (where / "server.log").read_text()
            try:
                if httpx.get(f"{base}/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        else:
            pytest.fail("server not ready:\n" + (where / "server.log").read_text())
        yield base, keys, home
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser(server: Any) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=list(BROWSER_FLAGS))
        yield b
        b.close()


class Watched:
    """A page that records console errors and warnings, page errors, and every URL it asks for."""

    def __init__(self, browser: Any, base: str) -> None:
        self.context = browser.new_context(viewport={"width": 1100, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.base = base
        self.problems: list[str] = []
        self.urls: list[str] = []
        self.page.on("console", lambda m: self.problems.append(f"{m.type}: {m.text}")
                     if m.type in ("error", "warning") else None)
        self.page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        self.page.on("request", lambda r: self.urls.append(r.url))

    def goto(self, path: str) -> Any:
        return self.page.goto(self.base + path, wait_until="load")

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def clean(self) -> None:
        assert self.problems == []
        assert all(u.startswith((self.base + "/", "data:")) for u in self.urls), self.urls  # nothing fetched

    def sign_in(self, key: str) -> None:
        self.goto("/office/login")
        self.page.fill("#api_key", key)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(self.base + "/office/")


def _registry_file(where: Path) -> Path:
    from targeting.survey.synthetic import generate

    frame = generate(n_survey=20, n_registry=8, seed=11).registry.astype("string")
    frame.loc[1, "floor_material"] = "keramik_emas"
    path = where / "registri.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_office_in_a_browser(server: tuple[str, dict[str, str], Path], browser: Any, tmp_path: Path) -> None:
    base, keys, home = server
    scorer = Watched(browser, base)
    scorer.goto("/office/login")
    scorer.shot("01-login")
    scorer.sign_in(keys["scorer"])
    cookie = next(c for c in scorer.context.cookies() if c["name"] == "targeting_office_key")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/office"
    scorer.shot("02-home-scorer")

    # Upload a registry file and see its validation.
    scorer.goto("/office/registry")
    scorer.page.set_input_files("#file", str(_registry_file(tmp_path)))
    scorer.page.click("button.primary")
    scorer.page.wait_for_selector("#validation")
    assert scorer.page.inner_text('[data-field="rejected"]') == "1"
    assert "keramik_emas" in scorer.page.inner_text("main")
    scorer.shot("03-registry-validation")

    # Run the district's plan and follow it (the page refreshes itself until the run ends).
    scorer.goto("/office/runs")
    scorer.page.click("button.primary")
    scorer.page.wait_for_url(f"{base}/office/runs/run-*")
    run_url = scorer.page.url
    scorer.page.locator("#status[data-status=done], #status[data-status=failed]").wait_for(timeout=600_000)
    assert scorer.page.get_attribute("#status", "data-status") == "done"
    assert scorer.page.inner_text("#status") == "selesai / done"
    scorer.shot("04-run-done")
    forbidden = scorer.goto("/office/households")  # a scorer cannot see inspector pages
    assert forbidden.status == 403 and "Tidak diizinkan" in scorer.page.inner_text("h1")
    scorer.shot("05-forbidden-scorer")
    # Chromium reports the 403 itself as a failed load: that is the answer, not a page fault.
    scorer.problems = [p for p in scorer.problems if "status of 403" not in p]
    scorer.clean()

    # The API decides one of the run's households, as a field application would.
    registry = pd.read_parquet(home / "data" / "kukar" / "registry.parquet")
    row = registry.iloc[3]
    household = {str(k): (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v))
                 for k, v in row.items()}
    nik, hid = str(household["head_nik"]), str(household["household_id"])
    with httpx.Client(base_url=base, timeout=60) as api:
        assert api.post("/v1/score", json={"households": [household]},
                        headers={"X-API-Key": keys["scorer"]}).status_code == 200
        decision = api.get(f"/v1/households/{hid}/decisions",
                           headers={"X-API-Key": keys["inspector"]}).json()["decisions"][-1]

    inspector = Watched(browser, base)
    inspector.sign_in(keys["inspector"])
    inspector.goto("/office/households")
    inspector.page.fill("#nik", nik)
    inspector.page.click("button.primary")
    inspector.page.wait_for_selector('section[data-source="store"]')
    assert inspector.page.url.removeprefix(base) == "/office/households"  # the NIK went in the body
    shown = inspector.page.get_attribute('[data-field="predicted_welfare_pc"]', "data-value")
    assert float(shown or "nan") == pytest.approx(decision["predicted_welfare_pc"], rel=1e-12)
    assert inspector.page.inner_text('[data-field="desil"]') == str(decision["national"]["desil"])
    verdict = decision["rules"]["verdict"]
    assert inspector.page.get_attribute('[data-field="verdict"]', "data-value") == verdict
    assert inspector.page.inner_text('[data-field="verdict"]') == VERDICT_WORDS[verdict]
    met = dict(inspector.page.eval_on_selector_all(
        "section[data-source=store] [data-criterion]",
        "els => els.map(e => [e.dataset.criterion, e.dataset.met])"))
    criteria = decision["rules"]["criteria"]
    assert met == {k: "null" if v is None else str(v).lower() for k, v in criteria.items()}
    assert nik not in inspector.page.content()
    assert inspector.page.is_visible('section[data-source="run"]')
    inspector.shot("06-household")

    # Download links.
    inspector.goto(run_url.removeprefix(base))
    inspector.shot("07-run-inspector")
    with inspector.page.expect_download() as got:
        inspector.page.click("a[href$='/workbook']")
    workbook = Path(got.value.path())
    assert workbook.read_bytes()[:2] == b"PK" and got.value.suggested_filename.endswith(".xlsx")
    inspector.page.click("a[href$='/report']")
    inspector.page.wait_for_load_state("load")
    assert inspector.page.url.endswith("/report") and inspector.page.locator("#summary").count() == 1
    inspector.shot("08-report")
    inspector.clean()
    assert not any(nik in u for u in inspector.urls)
    for ctx in (scorer.context, inspector.context):
        ctx.close()
    server_log = (home.parent / "server.log").read_text(encoding="utf-8", errors="replace")
    assert nik not in server_log and "/office/households" in server_log
