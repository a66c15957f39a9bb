"""The report in a real browser: Debian's headless Chromium driven by Playwright (never downloaded)."""

from __future__ import annotations

import re

import pytest

from targeting.audit import compare
from targeting.audit.overall import audit_metrics, metric_value
from targeting.audit.result import SUMMARY_METRICS
from targeting.report import BROWSER_FLAGS, find_chromium, write_audit_report
from targeting.report.i18n import Translator
from tests.report.conftest import CARD, GENERATED, INFO

pytestmark = pytest.mark.browser
CHROMIUM = find_chromium()


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (`make browser` installs Debian's chromium package)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=list(BROWSER_FLAGS))
        yield b
        b.close()


def test_report_renders_cleanly_and_shows_the_librarys_numbers(browser, decisions, result, ruleset, tmp_path):
    paths = write_audit_report(
        result, model_card=CARD, ruleset=ruleset, out_dir=tmp_path, pdf=False, info=INFO, generated=GENERATED,
    )  # fmt: skip
    page = browser.new_page(viewport={"width": 1100, "height": 1400})
    problems: list[str] = []
    page.on(
        "console",
        lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None,
    )
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))
    page.goto(paths.html.as_uri(), wait_until="load")
    assert problems == []
    assert all(u.startswith(("file:", "data:")) for u in urls)  # self-contained: nothing fetched
    assert all(w > 0 for w in page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)"))

    # The summary's numbers, read from the rendered page, against an independent library computation.
    shown = page.eval_on_selector_all(
        "#summary [data-metric]", "els => els.map(e => [e.dataset.metric, e.dataset.value, e.textContent])"
    )
    metrics = audit_metrics(decisions, n_boot=0)
    flags = compare(decisions)
    expected = {k: metric_value(metrics, s, m) for k, (s, m) in SUMMARY_METRICS.items()}
    expected |= {"households": len(decisions), "weighted_households": decisions["weight"].sum(),
                 "weighted_persons": (decisions["weight"] * decisions["household_size"]).sum(),
                 "flagged": int(flags["flagged"].sum())}  # fmt: skip
    t = Translator("id")
    keys = {k for k, _, _ in shown}
    assert {"model.exclusion_error", "model.inclusion_error", "rules.coverage", "flagged"} <= keys
    for key, value, text in shown:
        assert float(value) == pytest.approx(expected[key], rel=1e-12), key
        display = (
            t.num(expected[key])
            if key in ("households", "weighted_households", "weighted_persons", "flagged")
            else t.pct(expected[key])
        )
        assert text == display, key

    # The one-page summary is what a reader sees first: the headline cards sit in the first screen.
    box = page.locator('.card [data-metric="model.exclusion_error"]').bounding_box()
    assert box is not None and box["y"] < 1400
    shot = tmp_path / "audit_report_id.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 100_000
    page.close()


def test_english_report_prints_to_pdf(browser, result, ruleset, tmp_path):
    paths = write_audit_report(
        result, model_card=CARD, ruleset=ruleset, out_dir=tmp_path, pdf=True, lang="en", info=INFO,
        generated=GENERATED,
    )  # fmt: skip
    assert paths.pdf is not None and paths.pdf_skipped is None
    data = paths.pdf.read_bytes()
    assert data[:5] == b"%PDF-"
    pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert pages >= 8  # sections start on new pages when printed
    page = browser.new_page()
    page.goto(paths.html.as_uri(), wait_until="load")
    assert page.title() == "Social Assistance Targeting Audit — Kutai Kartanegara"
    assert page.locator("h2").first.inner_text() == "1. Summary"
    page.close()
