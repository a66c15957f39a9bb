from __future__ import annotations

import io
import json
import re
import zipfile

import pandas as pd
import pytest
from typer.testing import CliRunner

from targeting.audit import run_audit
from targeting.privacy import pseudonymize
from targeting.report import PdfError, ReportInfo, render_audit_html, write_audit_report
from targeting.report.audit_report import HTML_NAME
from tests.audit.factory import make_decisions
from tests.report.conftest import CARD, GENERATED, INFO, KEY

NIK = "6402000000000005"  # head_nik of household H000005 in the factory frame


def metric_spans(html: str) -> dict[str, tuple[float, str]]:
    spans = re.findall(r'data-metric="([^"]+)" data-value="([^"]+)">([^<]*)<', html)
    return {k: (float(v), text) for k, v, text in spans}


def test_summary_numbers_are_the_librarys(result, ruleset):
    html = render_audit_html(result, model_card=CARD, ruleset=ruleset, info=INFO, generated=GENERATED)
    spans = metric_spans(html)
    summary = result.summary()
    assert {"model.exclusion_error", "rules.coverage", "flagged", "households"} <= set(spans)
    for key, (value, _) in spans.items():
        assert value == summary[key], key
    assert spans["model.exclusion_error"][1] == f"{100 * summary['model.exclusion_error']:.1f}%".replace(
        ".", ","
    )
    assert spans["households"][1] == "1.500"


def test_report_is_self_contained_escaped_and_deterministic(result, ruleset):
    info = INFO.model_copy(update={"program": "<script>alert(1)</script>"})
    html = render_audit_html(result, model_card=CARD, ruleset=ruleset, info=info, generated=GENERATED)
    again = render_audit_html(result, model_card=CARD, ruleset=ruleset, info=info, generated=GENERATED)
    assert html == again
    assert "<script" not in html  # the injected text is escaped, and the report has no script at all
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;only&lt;/b&gt;" in html  # model-card text escaped too
    assert not re.search(r'(src|href)="(https?:)?//', html)  # no external asset
    assert html.count('src="data:image/svg+xml;base64,') == 3  # curves, groups, kecamatan
    assert "@import" not in html and "url(http" not in html


@pytest.mark.parametrize(
    ("lang", "expected", "absent"),
    [("id", ["Ringkasan", "Kesalahan eksklusi", "terlalu kecil"], ["Summary"]),
     ("en", ["Summary", "Exclusion error", "too small"], ["Ringkasan"])],
)  # fmt: skip
def test_language(result, ruleset, lang, expected, absent):
    html = render_audit_html(
        result, model_card=CARD, ruleset=ruleset, info=INFO, lang=lang, generated=GENERATED
    )
    assert f'<html lang="{lang}">' in html
    for text in expected:
        assert text in html
    for text in absent:
        assert f">{text}<" not in html


def test_registry_without_truth_says_so():
    frame = make_decisions(400, seed=3, truth=False)
    res = run_audit(frame, key=KEY, n_boot=10)
    html = render_audit_html(res, model_card={}, ruleset=None, lang="en", generated=GENERATED)
    assert "Welfare (consumption) was not measured" in html
    assert "This section needs measured welfare" in html
    assert 'data-metric="model.exclusion_error"' not in html
    assert 'data-metric="model_vs_rules.agreement"' in html
    assert "No model card was given." in html and "No rule set was given." in html


def _all_bytes(paths):
    out = b""
    for p in paths:
        raw = p.read_bytes()
        out += raw
        if p.suffix == ".xlsx":  # compressed: search the XML parts too
            with zipfile.ZipFile(io.BytesIO(raw)) as z:
                out += b"".join(z.read(n) for n in z.namelist())
    return out


def test_written_outputs_never_hold_nik_in_clear(decisions, result, ruleset, tmp_path):
    assert NIK in decisions["head_nik"].tolist()
    hid = decisions.loc[decisions["head_nik"] == NIK, "household_id"].iloc[0]
    assert hid in result.flagged["household_id"].tolist()  # so its pseudonym is exported
    paths = write_audit_report(
        result, model_card=CARD, ruleset=ruleset, out_dir=tmp_path, pdf=False, info=INFO
    )
    files = [
        paths.html,
        paths.flagged_csv,
        paths.flagged_xlsx,
        paths.metrics_csv,
        paths.groups_csv,
        paths.json,
    ]
    blob = _all_bytes(files)
    assert NIK.encode() not in blob and b"6402999999999999" not in blob
    assert hid.encode() in blob
    flagged = pd.read_csv(paths.flagged_csv, dtype=str)
    assert len(flagged) == len(result.flagged)
    assert "head_nik" not in flagged and flagged["head_nik_pseudonym"].str.match(r"^p[0-9a-f]{16}$").all()
    expected = pseudonymize(pd.Series([NIK]), KEY).iloc[0]
    assert flagged.loc[flagged["household_id"] == hid, "head_nik_pseudonym"].iloc[0] == expected


def test_missing_chromium(result, ruleset, tmp_path, monkeypatch):
    monkeypatch.setenv("TARGETING_CHROMIUM", str(tmp_path / "no-such-chromium"))
    kwargs = dict(model_card=CARD, ruleset=ruleset, info=INFO)
    skipped = write_audit_report(result, out_dir=tmp_path / "a", pdf="if_available", **kwargs)
    assert skipped.pdf is None and skipped.pdf_skipped == "Chromium not found"
    with pytest.raises(PdfError, match="HTML report was written to .*audit_report.html; pass --no-pdf"):
        write_audit_report(result, out_dir=tmp_path / "b", pdf=True, **kwargs)
    assert (tmp_path / "b" / HTML_NAME).is_file()


def test_cli_audit(tmp_path, monkeypatch):
    import targeting.report
    from targeting.cli import app

    monkeypatch.setenv("TARGETING_HOME", str(tmp_path / "home"))
    make_decisions(300, seed=4).to_parquet(tmp_path / "decisions.parquet")
    card = tmp_path / "card.json"
    card.write_text(json.dumps(CARD))
    args = ["audit", str(tmp_path / "decisions.parquet"), "--model-card", str(card), "--out-dir",
            str(tmp_path / "out"), "--lang", "en", "--n-boot", "10", "--selection", "desil 1-2"]  # fmt: skip
    ok = CliRunner().invoke(app, [*args, "--no-pdf"])
    assert ok.exit_code == 0, ok.output
    assert f"html: {tmp_path / 'out' / HTML_NAME}" in ok.output
    assert "pdf_skipped: not requested (--no-pdf)" in ok.output
    html = (tmp_path / "out" / HTML_NAME).read_text()
    assert "desil 1-2" in html and "Sembako" not in html and "kukar-pmt" in html
    # Without --no-pdf the PDF is required (a missing Chromium is an error: see test_missing_chromium).
    seen = {}

    def fake(result, **kwargs):
        seen.update(kwargs)
        raise PdfError("no chromium here")

    monkeypatch.setattr(targeting.report, "write_audit_report", fake)
    failed = CliRunner().invoke(app, args)
    assert seen["pdf"] is True and seen["lang"] == "en"
    assert isinstance(failed.exception, PdfError)  # main() prints "error: ..." and exits with code 2


def test_report_info_rejects_unknown_fields():
    with pytest.raises(ValueError, match="poverty_lines"):
        ReportInfo(poverty_lines=1)  # type: ignore[call-arg]
