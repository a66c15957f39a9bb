"""The district office's web pages: server-rendered HTML on the scoring service, behind the same roles.

Staff who do not use a terminal sign in with their API key (kept in an HttpOnly, SameSite=Strict
cookie for the ``/office`` pages only), then:

* ``/office/registry`` (scorer): upload a registry file and see its validation (rows accepted and
  rejected, with the reasons; personal values redacted, as in the rejects file);
* ``/office/runs`` (scorer starts a run; inspector and analyst see them): run the district's plan in
  the background and follow it; download the report, the PDF and the field workbook (inspector);
* ``/office/households`` (inspector): look a household up by its id, its pseudonym, or the head's NIK,
  which is pseudonymised as it arrives (posted in the form body, never in a URL, never logged or
  stored): its decisions from the decision store (as ``GET /v1/households/{id}/decisions``) and from
  the latest run, with reasons and every rule criterion.

Pages are Bahasa Indonesia first with English beside; no script and no external asset (offline
district networks), one inline stylesheet.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import threading
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import jinja2
import markupsafe
from fastapi import APIRouter, Form, Request, UploadFile, status
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from api.decisions import decision_out, pseudonym_of
from api.deps import SessionDep, SettingsDep
from api.security import Principal
from api.store import household_history

log = logging.getLogger("targeting.api.office")

COOKIE = "targeting_office_key"
#: Roles allowed on each page (the API's roles: scorer scores, inspector reads decisions).
ROLES_HOME = ("scorer", "inspector", "analyst", "officer")
ROLES_RUN = ("scorer",)
ROLES_RUNS = ("scorer", "inspector", "analyst")
ROLES_REPORT = ("inspector", "analyst")
#: An officer reads the histories of the households they handle (as on the API), so sees household pages.
ROLES_HOUSEHOLD = ("inspector", "officer")
ROLES_WORKBOOK = ("inspector",)
UPLOAD_SUFFIXES = (".csv", ".xlsx", ".parquet")
STATUS_TEXT = {"running": "berjalan / running", "done": "selesai / done", "failed": "gagal / failed",
               "interrupted": "terhenti / interrupted (server restarted)",
               "unknown": "tidak diketahui / unknown"}
#: The upload's path: `api.main.RequestContext` gives it its own size and time bounds.
UPLOAD_PATH = "/office/registry"
MAX_SHOWN_REJECTS = 50
#: Longest form value taken (checked here, not by FastAPI, whose 422 answer echoes what it refused).
MAX_FIELD = 300
_RUN_NAME = re.compile(r"^run-[A-Za-z0-9_.-]+$")
_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "office"
CSS = (TEMPLATES / "office.css").read_text(encoding="utf-8") if (TEMPLATES / "office.css").is_file() else ""


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)), autoescape=True,
                             undefined=jinja2.StrictUndefined)
    env.globals["css"] = markupsafe.Markup(CSS)  # our own file; escaping would break its quotes
    env.filters["rp"] = lambda x: "–" if x is None else f"Rp{float(x):,.0f}".replace(",", ".")
    env.globals["status_text"] = lambda code: STATUS_TEXT.get(code, code)
    env.filters["when"] = lambda t: t.strftime("%Y-%m-%d %H:%M UTC") if isinstance(t, datetime) else str(t)
    env.filters["pct"] = lambda x: "–" if x is None else f"{100 * float(x):.1f}%".replace(".", ",")
    env.filters["verdict"] = _verdict_words
    env.filters["kecamatan"] = _kecamatan_name
    return env


def _verdict_words(code: str | None) -> str:
    """A rule verdict as staff read it: the report's words, Bahasa Indonesia then English."""
    from targeting.report.i18n import Translator

    if code is None:
        return "–"
    words = [Translator(lang).get(f"verdicts.{code}") for lang in ("id", "en")]
    return " / ".join(w for w in words if w) or str(code)


def _kecamatan_name(code: str | None) -> str:
    """A kecamatan by its name in the survey contract (the code itself when the contract has none)."""
    from targeting.survey.contract import load_contract

    if code is None:
        return "–"
    try:
        return load_contract().label("kecamatan", str(code))
    except (KeyError, AssertionError):
        return str(code)


_ENV: dict[str, jinja2.Environment] = {}


def _page(request: Request, name: str, principal: Principal | None, status_code: int = 200,
          **values: Any) -> HTMLResponse:
    env = _ENV.get("env")
    if env is None:  # built on first use, not at import
        env = _ENV["env"] = _env()
    html = env.get_template(name).render(principal=principal, **values)
    return HTMLResponse(html, status_code=status_code, headers={"Cache-Control": "no-store"})


def _principal(request: Request, session: Any) -> Principal | None:
    key = request.cookies.get(COOKIE) or request.headers.get("X-API-Key")
    principal: Principal | None = request.app.state.keys.verify(session, key)
    if principal is not None:
        request.state.key_id = principal.key_id
    return principal


def _same_origin(request: Request) -> bool:
    """A form post from these pages: its Origin (or else Referer) is this server.

    SameSite=Strict already keeps the cookie off other sites' posts; this also refuses a post from
    another site when the browser does not honour SameSite, and a login forced from another site.
    Behind a TLS proxy run uvicorn with ``--proxy-headers`` so that the scheme seen here is https.
    """
    expected = f"{request.url.scheme}://{request.url.netloc}"
    origin = request.headers.get("origin")
    if origin is not None:
        return origin == expected
    referer = request.headers.get("referer")
    return referer is not None and (referer == expected or referer.startswith(expected + "/"))


def _cross_site(request: Request, principal: Principal | None) -> HTMLResponse:
    return _page(request, "message.html.j2", principal, status_code=403, title="Ditolak / refused",
                 message="Formulir ini tidak dikirim dari halaman kantor ini (Origin/Referer lain) / "
                         "this form was not sent from these office pages")


def _not_found(request: Request, principal: Principal | None, what: str = "") -> HTMLResponse:
    return _page(request, "message.html.j2", principal, status_code=404, title="Tidak ada / not found",
                 message=f"Tidak ada / not found{': ' + what if what else ''}")


def _guard(request: Request, session: Any, roles: tuple[str, ...]) -> Principal | Response:
    """The signed-in principal if its role is one of ``roles``; else the login page or a 403 page.

    A POST must also come from these pages (`_same_origin`).
    """
    if request.method == "POST" and not _same_origin(request):
        return _cross_site(request, None)
    principal = _principal(request, session)
    if principal is None:
        target = request.url.path if request.method == "GET" else "/office/"
        return RedirectResponse(f"/office/login?next={quote(target)}", status_code=status.HTTP_303_SEE_OTHER)
    if principal.role not in roles:
        return _page(request, "forbidden.html.j2", principal, status_code=403, allowed=roles)
    return principal


def _office_home(settings: Any) -> Path:
    return Path(settings.project.home) / "office"


def _runs_dir(settings: Any) -> Path:
    return Path(settings.project.home) / "runs"


def _run_folder(settings: Any, name: str) -> Path | None:
    """The run's folder, if ``name`` is a run's name (never a path) and it exists."""
    if not _RUN_NAME.fullmatch(name):
        return None
    folder = _runs_dir(settings) / name
    return folder if folder.is_dir() else None


def _runs(settings: Any) -> list[dict[str, Any]]:
    """Plan runs under ``<home>/runs``, newest first, with their status and files."""
    base = _runs_dir(settings)
    out = []
    folders = sorted(base.glob("run-*"), key=lambda p: p.stat().st_mtime, reverse=True) if base.is_dir() \
        else []
    for folder in folders:
        job = _read_job(folder)
        audit = folder / "audit"
        files = {k: (audit / f).is_file() for k, f in (("report", "audit_report.html"),
                                                        ("pdf", "audit_report.pdf"),
                                                        ("workbook", "flagged_households.xlsx"))}
        state = job.get("status") or ("done" if files["report"] else "unknown")
        if state == "running" and not _alive(job.get("pid")):
            state = "interrupted"  # the server stopped during the run: it will not finish
        out.append({"name": folder.name, "status": state, "started": job.get("started", ""),
                    "finished": job.get("finished", ""), "error": job.get("error", ""), "files": files,
                    "decisions": (folder / "decisions.parquet").is_file()})
    return out


def _alive(pid: object) -> bool:
    """Whether the process that started a run still exists (a server restart ends its runs)."""
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_job(folder: Path) -> dict[str, Any]:
    path = folder / "office_job.json"
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _write_job(folder: Path, **values: Any) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    job = {**_read_job(folder), **values}
    (folder / "office_job.json").write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _latest_decisions(settings: Any) -> Path | None:
    for run in _runs(settings):
        if run["decisions"] and run["status"] in ("done", "unknown"):
            return _runs_dir(settings) / run["name"] / "decisions.parquet"
    return None


def _household_from_run(path: Path, query: str, nik_pseudonym: str | None) -> dict[str, Any] | None:
    """The household's row of a run's decisions table (by id, id pseudonym or NIK pseudonym)."""
    import pyarrow.parquet as pq

    from targeting.explain.context import context_indicators

    names = pq.ParquetFile(path).schema_arrow.names
    filters: list[Any] = []
    if nik_pseudonym is not None and "head_nik_pseudonym" in names:
        filters = [[("head_nik_pseudonym", "=", nik_pseudonym)]]
    elif query:
        filters = [[("household_id", "=", query)]]
        if "head_nik_pseudonym" in names:
            filters.append([("head_nik_pseudonym", "=", query)])
    if not filters:
        return None
    table = pq.read_table(path, filters=filters)
    if table.num_rows == 0:
        return None
    row = table.slice(0, 1).to_pylist()[0]
    from targeting.decide.schema import DecisionsMeta

    meta = DecisionsMeta.from_schema_metadata(pq.ParquetFile(path).metadata.metadata)
    ctx = context_indicators()
    reasons = []
    for i in range(1, 11):
        code = row.get(f"reason_{i}_code")
        if code is None:
            continue
        reasons.append({"code": code, "text": row.get(f"reason_{i}_text_id") or "",
                        "text_en": row.get(f"reason_{i}_text_en") or "", "context": code in ctx})
    criteria = [{"id": k[len("crit_"):], "met": v} for k, v in row.items() if k.startswith("crit_")]
    programs = {k[len("program_"):]: bool(v) for k, v in row.items() if k.startswith("program_")}
    return {"run": path.parent.name, "household_id": row.get("household_id"),
            "nik_pseudonym": row.get("head_nik_pseudonym"), "kecamatan": row.get("kecamatan"),
            "desa": row.get("desa"), "predicted_welfare": row.get("predicted_welfare"),
            "desil": row.get("desil"), "selected": row.get("selected"), "programs": programs,
            "verdict": row.get("rule_verdict"), "criteria": criteria, "reasons": reasons,
            "selection": (meta.selection.get("text_id") if meta else None),
            "ruleset": ((meta.ruleset or {}).get("title_id") if meta else None)}


def router(district_plan: str) -> APIRouter:
    """The office pages; ``district_plan`` is the plan they run (`api.config.ApiSettings.office_plan`)."""
    r = APIRouter(prefix="/office", tags=["office"], include_in_schema=False)
    running = threading.Lock()

    @r.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, next: str = "/office/") -> HTMLResponse:
        return _page(request, "login.html.j2", None, next=_safe_next(next), error=None)

    @r.post("/login")
    def login(request: Request, session: SessionDep, api_key: Annotated[str, Form()] = "",
              next: Annotated[str, Form()] = "/office/") -> Response:
        # No Form(max_length=...): FastAPI's 422 would echo the refused value (a pasted key) as JSON.
        next = next if len(next) <= MAX_FIELD else "/office/"
        if not _same_origin(request):
            return _cross_site(request, None)
        limiter = request.app.state.auth_failures
        client = request.client.host if request.client else "?"
        wait = limiter.retry_after(client)
        if wait is not None:  # refused before any hashing, as the API refuses
            return _page(request, "login.html.j2", None, status_code=429, next=_safe_next(next),
                         error=f"Terlalu banyak kunci salah; coba lagi dalam {wait} detik / "
                               f"too many wrong keys; retry in {wait} s")
        principal = request.app.state.keys.verify(session, api_key.strip()) if len(api_key) <= MAX_FIELD \
            else None
        if principal is None:
            limiter.record_failure(client)
            return _page(request, "login.html.j2", None, status_code=401, next=_safe_next(next),
                         error="Kunci tidak sah / invalid key")
        resp = RedirectResponse(_safe_next(next), status_code=status.HTTP_303_SEE_OTHER)
        resp.set_cookie(COOKIE, api_key.strip(), httponly=True, samesite="strict", path="/office",
                        secure=request.url.scheme == "https", max_age=8 * 3600)
        return resp

    @r.post("/logout")
    def logout(request: Request) -> Response:
        if not _same_origin(request):
            return _cross_site(request, None)
        resp = RedirectResponse("/office/login", status_code=status.HTTP_303_SEE_OTHER)
        resp.delete_cookie(COOKIE, path="/office")
        return resp

    @r.get("/", response_class=HTMLResponse)
    def home(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
        who = _guard(request, session, ROLES_HOME)
        if isinstance(who, Response):
            return who
        return _page(request, "home.html.j2", who, plan=district_plan, runs=_runs(settings)[:3])

    @r.get("/registry", response_class=HTMLResponse)
    def registry_form(request: Request, session: SessionDep) -> Response:
        who = _guard(request, session, ROLES_RUN)
        if isinstance(who, Response):
            return who
        return _page(request, "registry.html.j2", who, result=None, error=None)

    @r.post("/registry", response_class=HTMLResponse)
    def registry_upload(request: Request, session: SessionDep, settings: SettingsDep,
                        file: UploadFile) -> Response:
        # A plain def: FastAPI runs it in its thread pool (the key check and the validation are CPU work).
        who = _guard(request, session, ROLES_RUN)
        if isinstance(who, Response):
            return who
        name = Path(file.filename or "registri.csv").name
        suffix = Path(name).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            return _page(request, "registry.html.j2", who, status_code=400, result=None,
                         error=f"Jenis berkas {suffix or '(tanpa akhiran)'} tidak diterima; gunakan "
                               f"{', '.join(UPLOAD_SUFFIXES)} / file type not accepted")
        folder = _office_home(settings) / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        stem = _SAFE_NAME.sub("_", Path(name).stem)[:60]
        path = folder / f"{time.strftime('%Y%m%d-%H%M%S')}-{stem}{suffix}"
        with path.open("wb") as dest:
            shutil.copyfileobj(file.file, dest)
        try:
            result = _validate(path, settings)
        except Exception as exc:  # noqa: BLE001 - any unusable file is one line for the user
            from targeting.errors import TargetingError

            # The readers' own message names the file, row and column; anything else only its kind.
            message = (str(exc).strip().splitlines() or [""])[0][:400] if isinstance(exc, TargetingError) \
                else type(exc).__name__
            log.info("office upload refused: %s", type(exc).__name__)
            return _page(request, "registry.html.j2", who, status_code=400, result=None,
                         error=f"Berkas tidak dapat dipakai / file cannot be used: {message}")
        return _page(request, "registry.html.j2", who, result=result, error=None)

    @r.get("/runs", response_class=HTMLResponse)
    def runs(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
        who = _guard(request, session, ROLES_RUNS)
        if isinstance(who, Response):
            return who
        listed = _runs(settings)
        busy = any(x["status"] == "running" for x in listed)
        return _page(request, "runs.html.j2", who, runs=listed, plan=district_plan, busy=busy,
                     uploads=_uploads(settings), refresh=busy)

    @r.post("/runs")
    def start_run(request: Request, session: SessionDep, settings: SettingsDep,
                  registry: Annotated[str, Form()] = "") -> Response:
        who = _guard(request, session, ROLES_RUN)
        if isinstance(who, Response):
            return who
        from targeting.jobs.plan import load_plan
        from targeting.jobs.score import run_dir

        if not running.acquire(blocking=False):
            return RedirectResponse("/office/runs", status_code=status.HTTP_303_SEE_OTHER)
        try:
            plan_obj, base = load_plan(district_plan)
            if registry:
                upload = _office_home(settings) / "uploads" / Path(registry).name
                if registry not in _uploads(settings) or not upload.is_file():
                    running.release()
                    return _not_found(request, who, f"unggahan / upload {Path(registry).name}")
                plan_obj = plan_obj.model_copy(update={
                    "registry": plan_obj.registry.model_copy(update={"file": str(upload.resolve())}),
                    "generate": None})
            out = run_dir(settings.project, "run", plan_obj.name)
            _write_job(out, status="running", started=_now(), key_id=who.key_id, plan=district_plan,
                       pid=os.getpid(), registry=Path(registry).name if registry else "")
        except BaseException:
            running.release()
            raise

        def work() -> None:
            from rich.console import Console

            from targeting.jobs.plan import run_plan

            try:
                with (out / "office_run.log").open("w", encoding="utf-8") as log:
                    run_plan(settings.project, plan_obj, base=base, out_dir=out,
                             console=Console(file=log, width=240, force_terminal=False))
                _write_job(out, status="done", finished=_now())
            except Exception as exc:  # noqa: BLE001 - a failed run is shown on its page
                _write_job(out, status="failed", finished=_now(), error=str(exc).splitlines()[0][:300])
                (out / "office_error.txt").write_text(traceback.format_exc(), encoding="utf-8")
            finally:
                running.release()

        threading.Thread(target=work, name=f"office-run-{out.name}", daemon=True).start()
        return RedirectResponse(f"/office/runs/{out.name}", status_code=status.HTTP_303_SEE_OTHER)

    @r.get("/runs/{name}", response_class=HTMLResponse)
    def run_page(request: Request, name: str, session: SessionDep, settings: SettingsDep) -> Response:
        who = _guard(request, session, ROLES_RUNS)
        if isinstance(who, Response):
            return who
        folder = _run_folder(settings, name)
        if folder is None:
            return _not_found(request, who, "rencana / run")
        run = next(x for x in _runs(settings) if x["name"] == name)
        log = folder / "office_run.log"
        text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
        # The server's own folders are no business of the page: paths start at the state folder.
        text = text.replace(str(Path(settings.project.home).resolve()), "$TARGETING_HOME")
        text = text.replace(str(Path(settings.project.home)), "$TARGETING_HOME")
        tail = text.splitlines()[-25:]
        return _page(request, "run.html.j2", who, run=run, log=tail, refresh=run["status"] == "running")

    @r.get("/runs/{name}/{what}")
    def download(request: Request, name: str, what: str, settings: SettingsDep,
                 session: SessionDep) -> Response:
        xlsx = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        csv = "text/csv; charset=utf-8"
        files = {"report": ("audit_report.html", "text/html; charset=utf-8", ROLES_REPORT, False),
                 "pdf": ("audit_report.pdf", "application/pdf", ROLES_REPORT, True),
                 "workbook": ("flagged_households.xlsx", xlsx, ROLES_WORKBOOK, True),
                 # The report's own relative links (it is served at .../report, so they land here).
                 "flagged_households.xlsx": ("flagged_households.xlsx", xlsx, ROLES_WORKBOOK, True),
                 "flagged_households.csv": ("flagged_households.csv", csv, ROLES_WORKBOOK, True),
                 "audit_groups.csv": ("audit_groups.csv", csv, ROLES_REPORT, True),
                 "audit_metrics.csv": ("audit_metrics.csv", csv, ROLES_REPORT, True)}
        filename, media, roles, attachment = files.get(what, ("", "", ROLES_RUNS, False))
        who = _guard(request, session, roles)
        if isinstance(who, Response):
            return who
        folder = _run_folder(settings, name)
        if not filename or folder is None:
            return _not_found(request, who)
        path = folder / "audit" / filename
        if not path.is_file():
            return _not_found(request, who, "belum ditulis / not written yet")
        return FileResponse(path, media_type=media, filename=f"{name}-{filename}" if attachment else None,
                            headers={"Cache-Control": "no-store"})

    @r.get("/households", response_class=HTMLResponse)
    def household_form(request: Request, session: SessionDep) -> Response:
        who = _guard(request, session, ROLES_HOUSEHOLD)
        if isinstance(who, Response):
            return who
        return _page(request, "household.html.j2", who, query=None, found=None)

    @r.post("/households", response_class=HTMLResponse)
    def household_lookup(request: Request, session: SessionDep, settings: SettingsDep,
                         household: Annotated[str, Form()] = "",
                         nik: Annotated[str, Form()] = "") -> Response:
        who = _guard(request, session, ROLES_HOUSEHOLD)
        if isinstance(who, Response):
            return who
        from targeting.privacy import pseudonymize

        key: bytes = request.app.state.pseudonym_key
        query = household.strip()
        nik_pseudonym = None
        if len(household) > MAX_FIELD:
            return _page(request, "household.html.j2", who, status_code=400, query=None, found=None,
                         error="ID rumah tangga terlalu panjang / household id too long")
        if len(nik) > 64:  # never echoed back: a validation error would show the value it refused
            nik = ""
            return _page(request, "household.html.j2", who, status_code=400, query=None, found=None,
                         error="NIK terlalu panjang / NIK too long")
        if nik.strip():
            import pandas as pd

            nik_pseudonym = str(pseudonymize(pd.Series([nik.strip()]), key).iloc[0])
            nik = ""  # the clear NIK goes no further than this line
        if not query and nik_pseudonym is None:
            return _page(request, "household.html.j2", who, status_code=400, query=None, found=None,
                         error="Isi ID rumah tangga atau NIK / give a household id or a NIK")
        keys: list[bytes] = request.app.state.pseudonym_keys
        latest = _latest_decisions(settings)
        from_run = _household_from_run(latest, query, nik_pseudonym) if latest is not None else None
        # The store holds household pseudonyms only: a NIK finds its household id in the latest run.
        hid = query or (str(from_run["household_id"]) if from_run and from_run["household_id"] else "")
        stored = []
        if hid:
            pseudonyms = [pseudonym_of(hid, k) for k in keys]
            stored = [decision_out(row, hid) for row in household_history(session, pseudonyms, limit=50)]
            if not stored and query:  # the query may already be the stored pseudonym
                stored = [decision_out(row, None) for row in household_history(session, query, limit=50)]
        shown = query or f"NIK → {nik_pseudonym}"
        return _page(request, "household.html.j2", who, query=shown, stored=stored, from_run=from_run,
                     found=bool(stored or from_run), criteria_text=_criteria_text(), error=None)

    return r


def _criteria_text() -> dict[str, str]:
    from targeting.eligibility import load_ruleset

    return {c.id: c.text_id for c in load_ruleset("kepmensos_262_2022").criteria}


def _uploads(settings: Any) -> list[str]:
    folder = _office_home(settings) / "uploads"
    if not folder.is_dir():
        return []
    files = [p for p in folder.iterdir() if p.suffix.lower() in UPLOAD_SUFFIXES and ".accepted" not in p.name]
    return [p.name for p in sorted(files, key=lambda p: p.stat().st_mtime, reverse=True)[:10]]


def _validate(path: Path, settings: Any) -> dict[str, Any]:
    """Validate an uploaded registry against the household contract (as `targeting validate` does)."""
    from targeting.privacy import load_key
    from targeting.survey.load import load_dataset
    from targeting.survey.outputs import write_validation
    from targeting.survey.spec import load_spec

    spec = load_spec("indonesia_household")
    loaded = load_dataset(spec, files={spec.files[0].name: path})
    out = path.parent / "validation"
    write_validation(loaded, path, out, load_key(Path(settings.project.home)))
    rejects = loaded.rejects.head(MAX_SHOWN_REJECTS).astype(object).where(loaded.rejects.notna(), "")
    by_reason = (loaded.rejects.groupby("reason").size().sort_values(ascending=False).head(10)
                 if len(loaded.rejects) else None)
    return {"file": path.name, "rows": loaded.n_input, "accepted": len(loaded.data),
            "rejected": loaded.n_rejected_rows, "excluded": loaded.n_excluded_rows,
            "rejects": rejects.to_dict("records"), "more": max(len(loaded.rejects) - MAX_SHOWN_REJECTS, 0),
            "reasons": [] if by_reason is None else list(by_reason.items())}


def _safe_next(value: str) -> str:
    """Only a path inside the office pages (never another site)."""
    return value if value.startswith("/office/") and "//" not in value and "\\" not in value else "/office/"
