"""The office's web pages over HTTP (TestClient): sign-in, roles, the upload, a plan run, the household page.

One service for the module, whose office runs the small synthetic plan (`kukar_small`: the shipped
model, 5,000 households, seconds); the real browser tests are in ``test_office_browser.py``.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from api.main import create_app
from api.security import create_key
from tests.api.conftest import TestClient, settings_for

ROLES = ("scorer", "inspector", "analyst", "officer")
UPLOAD_LIMIT = 200_000


class Office:
    """A TestClient per role, each signed in through the login form."""

    def __init__(self, app: Any, keys: dict[str, str], home: Path) -> None:
        self.app = app
        self.keys = keys
        self.home = home
        self.clients: dict[str, TestClient] = {}

    def origin(self) -> dict[str, str]:
        return {"Origin": "http://testserver"}

    def client(self, role: str) -> TestClient:
        if role not in self.clients:
            c = TestClient(self.app, follow_redirects=False)
            r = c.post("/office/login", data={"api_key": self.keys[role], "next": "/office/"},
                       headers=self.origin())
            assert r.status_code == 303, r.text
            self.clients[role] = c
        return self.clients[role]

    def post(self, role: str, url: str, **kwargs: Any) -> Any:
        return self.client(role).post(url, headers=self.origin(), **kwargs)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory, model_scorer: Any) -> Iterator[Office]:
    home = tmp_path_factory.mktemp("office-home")
    app = create_app(settings_for(home, office_plan="kukar_small", office_max_upload_bytes=UPLOAD_LIMIT),
                     model_scorer)
    with app.state.sessions() as session:
        keys = {role: create_key(session, role, label=f"office {role}")[1] for role in ROLES}
    with TestClient(app):  # runs the lifespan once for the module
        o = Office(app, keys, home)
        yield o
        for c in o.clients.values():
            c.close()


@pytest.fixture(scope="module")
def finished_run(office: Office) -> str:
    """The plan, started from the runs page by a scorer and followed until it ends."""
    r = office.post("scorer", "/office/runs", data={})
    assert r.status_code == 303, r.text
    url = r.headers["location"]
    assert re.fullmatch(r"/office/runs/run-kukar_small-[0-9-]+", url)
    for _ in range(600):  # a bound on polls, not a time limit on the run
        page = office.client("scorer").get(url)
        assert page.status_code == 200
        state = re.search(r'id="status" data-status="(\w+)"', page.text)
        assert state is not None
        if state.group(1) != "running":
            break
        time.sleep(0.5)
    assert state.group(1) == "done", page.text
    return url.rsplit("/", 1)[1]


def test_login_sets_a_strict_httponly_cookie_for_the_office_only(office: Office) -> None:
    c = TestClient(office.app, follow_redirects=False)
    r = c.post("/office/login", data={"api_key": office.keys["inspector"], "next": "/office/households"},
               headers=office.origin())
    assert r.status_code == 303 and r.headers["location"] == "/office/households"
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/office" in cookie
    assert office.keys["inspector"] not in r.text
    # Off-site "next" targets are never followed.
    r = c.post("/office/login", data={"api_key": office.keys["inspector"], "next": "https://evil.example/"},
               headers=office.origin())
    assert r.headers["location"] == "/office/"
    c.close()


def test_wrong_key_and_cross_site_posts_are_refused(office: Office) -> None:
    c = TestClient(office.app, follow_redirects=False)
    r = c.post("/office/login", data={"api_key": "tgk_00000000_" + "A" * 43}, headers=office.origin())
    assert r.status_code == 401 and "Kunci tidak sah" in r.text and "set-cookie" not in r.headers
    # A login posted from another site, or with neither Origin nor Referer, is refused before any check.
    for headers in ({"Origin": "http://evil.example"}, {"Referer": "http://evil.example/office/"}, {}):
        r = c.post("/office/login", data={"api_key": office.keys["scorer"]}, headers=headers)
        assert r.status_code == 403 and "set-cookie" not in r.headers
    # A signed-in scorer's form posted from another site does nothing.
    scorer = office.client("scorer")
    before = _started_runs(office)
    r = scorer.post("/office/runs", data={}, headers={"Origin": "http://evil.example"})
    assert r.status_code == 403 and "Ditolak" in r.text
    assert _started_runs(office) == before
    c.close()


def _started_runs(office: Office) -> set[str]:
    runs = office.home / "runs"
    return {d.name for d in runs.iterdir()} if runs.is_dir() else set()


@pytest.mark.parametrize(("role", "url", "allowed"), [
    ("scorer", "/office/households", False),   # a scorer cannot see inspector pages
    ("analyst", "/office/households", False),
    ("inspector", "/office/households", True),
    ("officer", "/office/households", True),   # officers read household histories, as on the API
    ("officer", "/office/runs", False),
    ("inspector", "/office/registry", False),  # only a scorer uploads and runs
    ("scorer", "/office/registry", True),
    ("analyst", "/office/runs", True),
])
def test_roles(office: Office, role: str, url: str, allowed: bool) -> None:
    r = office.client(role).get(url)
    if allowed:
        assert r.status_code == 200 and "<h1>" in r.text
    else:
        assert r.status_code == 403
        assert "Tidak diizinkan" in r.text and f"({role})" in r.text
        assert r.headers["content-type"].startswith("text/html")


def test_without_a_key_every_page_asks_to_sign_in(office: Office) -> None:
    c = TestClient(office.app, follow_redirects=False)
    for url in ("/office/", "/office/households", "/office/runs", "/office/registry"):
        r = c.get(url)
        assert r.status_code == 303 and r.headers["location"].startswith("/office/login?next=")
    assert c.get("/office/login").status_code == 200
    c.close()


def test_office_pages_are_not_in_the_openapi_schema(office: Office) -> None:
    paths = TestClient(office.app).get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith("/office")]


def _registry_csv(path: Path) -> pd.DataFrame:
    from targeting.survey.synthetic import generate

    frame = generate(n_survey=20, n_registry=12, seed=5).registry.astype("string")
    frame.loc[2, "floor_material"] = "marmer_emas"  # not on the code list
    frame.loc[5, "head_nik"] = "64021"  # too short for a NIK: a personal value, never shown
    frame.loc[7, "household_size"] = "dua"
    frame.to_csv(path, index=False)
    return frame


def test_registry_upload_shows_the_validation_without_personal_numbers(office: Office,
                                                                        tmp_path: Path) -> None:
    frame = _registry_csv(tmp_path / "registri desa.csv")
    with (tmp_path / "registri desa.csv").open("rb") as fh:
        r = office.post("scorer", "/office/registry", files={"file": ("registri desa.csv", fh, "text/csv")})
    assert r.status_code == 200, r.text
    fields = dict(re.findall(r'data-field="(\w+)">(\d+)<', r.text))
    assert fields == {"rows": "12", "accepted": "9", "rejected": "3"}
    rows = re.findall(r'<tr><td class="num">(\d+)</td><td class="mono">([^<]*)</td>'
                      r'<td class="mono">([^<]*)</td>\s*<td>([^<]*)</td>', r.text)
    shown = {(int(n), col): unescape(value) for n, _, col, value in rows}
    assert shown[(4, "floor_material")] == "marmer_emas"  # row 4 of the file: header is row 1
    assert shown[(9, "household_size")] == "dua"
    assert (7, "head_nik") in shown and shown[(7, "head_nik")] != "64021"
    for value in pd.concat([frame["head_nik"], frame["family_card_no"]]).dropna():
        assert value not in r.text
    # The uploaded file can be the plan's registry.
    assert "registri_desa.csv" in office.client("scorer").get("/office/runs").text


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("registri.xlsx", b"PK\x03\x04 this is no workbook", "file cannot be used"),
    ("registri.csv", b"\xff\xfe\x00\x00garbage\x00\x01", "file cannot be used"),
    ("registri.exe", b"MZ", "tidak diterima"),
])
def test_an_unusable_upload_is_one_line_on_the_page(office: Office, name: str, content: bytes,
                                                     expected: str) -> None:
    r = office.post("scorer", "/office/registry", files={"file": (name, content, "application/octet-stream")})
    assert r.status_code == 400
    alert = re.search(r'<div class="box error" role="alert">(.*?)</div>', r.text, re.S)
    assert alert is not None and expected in alert.group(1) and "\n" not in alert.group(1).strip()
    assert "Traceback" not in r.text


def test_an_upload_over_the_limit_is_refused_as_a_page(office: Office) -> None:
    r = office.post("scorer", "/office/registry",
                    files={"file": ("besar.csv", b"x" * (UPLOAD_LIMIT + 1), "text/csv")})
    assert r.status_code == 413 and r.headers["content-type"].startswith("text/html")
    assert "terlalu besar" in r.text
    # The API's own body limit is unchanged by the office's.
    assert office.app.state.settings.max_body_bytes != UPLOAD_LIMIT


def test_run_downloads_by_role(office: Office, finished_run: str) -> None:
    base = f"/office/runs/{finished_run}"
    page = office.client("inspector").get(base)
    assert "$TARGETING_HOME/runs/" in page.text and str(office.home) not in page.text
    assert f'href="{base}/report"' in page.text and f'href="{base}/workbook"' in page.text
    report = office.client("inspector").get(f"{base}/report")
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
    assert "<html" in report.text[:500]
    workbook = office.client("inspector").get(f"{base}/workbook")
    assert workbook.status_code == 200 and workbook.content[:2] == b"PK"
    assert "attachment" in workbook.headers["content-disposition"]
    assert office.client("analyst").get(f"{base}/report").status_code == 200
    assert office.client("analyst").get(f"{base}/workbook").status_code == 403
    assert office.client("scorer").get(f"{base}/report").status_code == 403
    assert office.client("officer").get(f"{base}/report").status_code == 403
    assert office.client("inspector").get("/office/runs/..%2Fdecisions.db/report").status_code == 404
    assert office.client("inspector").get(f"{base}/decisions").status_code == 404


def _registry_row(office: Office) -> dict[str, Any]:
    frame = pd.read_parquet(office.home / "data" / "kukar" / "registry.parquet")
    row = frame.iloc[17]
    return {str(k): (None if pd.isna(v) else (v.item() if hasattr(v, "item") else v)) for k, v in row.items()}


def _shown(text: str, source: str) -> dict[str, Any]:
    section = re.search(rf'<section class="box decision" data-source="{source}"[^>]*>(.*?)</section>',
                        text, re.S)
    assert section is not None, text
    body = section.group(1)
    out: dict[str, Any] = {}
    if source == "store":
        value = re.search(r'data-field="predicted_welfare_pc" data-value="([^"]+)"', body)
        assert value is not None
        out["predicted_welfare_pc"] = float(value.group(1))
        m = re.search(r'data-field="desil">([^<]*)<', body)
        assert m is not None
        out["desil"] = m.group(1)
        m = re.search(r'data-field="verdict" data-value="([^"]*)">([^<]*)<', body)
        assert m is not None
        out["verdict"], out["verdict_words"] = m.group(1), m.group(2)
        out["criteria"] = dict(re.findall(r'data-criterion="(\w+)" data-met="(\w+)"', body))
        out["reasons"] = re.findall(r'data-reason="(\w+)"', body)
    return out


#: What staff read for each verdict code (the report's words, Indonesian then English).
VERDICT_WORDS = {"eligible": "Layak / Eligible", "not_eligible": "Tidak layak / Not eligible",
                 "unknown": "Belum dapat ditentukan / Cannot be decided yet"}


def test_household_page_shows_the_apis_numbers_and_never_the_nik(office: Office, finished_run: str,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    household = _registry_row(office)
    nik = str(household["head_nik"])
    api = TestClient(office.app)
    r = api.post("/v1/score", json={"households": [household]}, headers={"X-API-Key": office.keys["scorer"]})
    assert r.status_code == 200, r.text
    hid = str(household["household_id"])
    history = api.get(f"/v1/households/{hid}/decisions",
                      headers={"X-API-Key": office.keys["inspector"]}).json()
    decision = history["decisions"][-1]

    caplog.set_level(logging.DEBUG)
    by_nik = office.post("inspector", "/office/households", data={"household": "", "nik": nik})
    by_id = office.post("officer", "/office/households", data={"household": hid})
    pseudonym = history["household_pseudonym"]
    by_pseudonym = office.post("inspector", "/office/households", data={"household": pseudonym})
    for page in (by_nik, by_id, by_pseudonym):
        assert page.status_code == 200
        shown = _shown(page.text, "store")
        assert shown["predicted_welfare_pc"] == pytest.approx(decision["predicted_welfare_pc"], rel=1e-12)
        assert shown["desil"] == str(decision["national"]["desil"])
        assert shown["verdict"] == decision["rules"]["verdict"]
        assert shown["verdict_words"] == VERDICT_WORDS[decision["rules"]["verdict"]]
        assert shown["criteria"] == {k: "null" if v is None else str(v).lower()
                                     for k, v in decision["rules"]["criteria"].items()}
        assert shown["reasons"] == [x["code"] for x in decision["reasons"]]
        assert nik not in page.text
    # The NIK found the household in the latest run too, with its run's criteria.
    assert 'data-source="run"' in by_nik.text and hid in by_nik.text and finished_run in by_nik.text
    # The run's row names the kecamatan (the contract's label, not the code) and the verdict in words.
    from targeting.survey.contract import load_contract

    run_part = by_nik.text.split('data-source="run"', 1)[1]
    kecamatan = str(household["kecamatan"])
    label = load_contract().label("kecamatan", kecamatan)
    assert label != kecamatan and f"<td>{label} / " in run_part
    assert any(f"<td>{words} (" in run_part for words in VERDICT_WORDS.values())
    assert nik not in caplog.text
    for path in office.home.rglob("*"):
        if path.is_file() and "data" not in path.relative_to(office.home).parts:
            assert nik.encode() not in path.read_bytes(), path
    api.close()


def test_a_run_left_running_by_a_stopped_server_is_shown_interrupted(office: Office,
                                                                      finished_run: str) -> None:
    import json

    stale = office.home / "runs" / "run-kukar_small-19990101-000000"
    stale.mkdir(parents=True)
    (stale / "office_job.json").write_text(json.dumps({"status": "running", "pid": 2**22 + 12345}))
    page = office.client("scorer").get(f"/office/runs/{stale.name}")
    assert 'data-status="interrupted"' in page.text and "refresh" not in page.text
    runs = office.client("scorer").get("/office/runs")
    assert 'action="/office/runs"' in runs.text  # not "busy": a new run can start


def test_household_lookup_refusals_do_not_echo(office: Office) -> None:
    r = office.post("inspector", "/office/households", data={"household": "X" * 400})
    assert r.status_code == 400 and "X" * 400 not in r.text and "terlalu panjang" in r.text
    pasted = TestClient(office.app).post("/office/login", data={"api_key": "S" * 400},
                                         headers=office.origin())
    assert pasted.status_code == 401 and "S" * 400 not in pasted.text
    r = office.post("inspector", "/office/households", data={"nik": "6" * 80})
    assert r.status_code == 400 and "6" * 80 not in r.text and "terlalu panjang" in r.text
    r = office.post("inspector", "/office/households", data={})
    assert r.status_code == 400 and "Isi ID" in r.text
    r = office.post("inspector", "/office/households", data={"household": "tidak-ada"})
    assert r.status_code == 200 and "Tidak ditemukan" in r.text
