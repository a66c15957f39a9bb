"""`targeting simulate` and `targeting audit --current-beneficiaries` through the real command line."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from targeting.cli import app
from targeting.decide.schema import META_KEY, DecisionsMeta, Truth
from tests.audit.factory import POVERTY_LINE, make_decisions

PROGRAMS = {
    "pkh": {
        "id": "Program Keluarga Harapan (PKH)",
        "en": "Family Hope Programme",
        "desil_min": 1,
        "desil_max": 4,
    },
    "sembako": {"id": "Program Sembako", "en": "Staple food", "desil_min": 1, "desil_max": 5},
}


def write_decisions(path, n=600):
    frame = make_decisions(n, seed=11)
    frame["desa"] = "Desa " + frame["kecamatan"].astype(str)
    for key, p in PROGRAMS.items():
        frame[f"program_{key}"] = frame["desil"].between(p["desil_min"], p["desil_max"])
    frame["poverty_line"] = float(POVERTY_LINE)
    meta = DecisionsMeta(
        spec="test_registry",
        programs=PROGRAMS,
        region="kecamatan",
        selection={"program": "pkh", "text_id": "PKH: desil 1–4"},
        truth=Truth(kind="line", welfare="welfare_true", line=float(POVERTY_LINE)),
    )
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pq.write_table(
        table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: meta.to_bytes()}), path
    )
    return frame


def test_simulate_command_writes_table_and_figure(tmp_path, monkeypatch):
    monkeypatch.setenv("TARGETING_HOME", str(tmp_path / "home"))
    write_decisions(tmp_path / "decisions.parquet")
    out = CliRunner().invoke(
        app,
        [
            "simulate",
            str(tmp_path / "decisions.parquet"),
            "--out-dir",
            str(tmp_path / "s"),
            "--program",
            "sembako",
            "--method",
            "model",
            "--method",
            "rules",
        ],
    )
    assert out.exit_code == 0, out.output
    table = pd.read_csv(tmp_path / "s" / "simulation.csv")
    assert set(table["method"]) == {"model", "rules"} and set(table["program"]) == {"sembako"}
    model = table[(table.method == "model") & (table.basis == "cutoff")].iloc[0]
    # Survey weights here: the cost is Rp200.000 a month for every household represented.
    assert model["cost"] == pytest.approx(model["households"] * 12 * 200_000, rel=1e-12)
    assert (tmp_path / "s" / "simulation.svg").read_bytes().startswith(b"<?xml")
    assert "Sembako" in out.output and "Sebelum bantuan" in out.output
    bad = CliRunner().invoke(app, ["simulate", str(tmp_path / "decisions.parquet"), "--method", "lottery"])
    assert bad.exit_code != 0 and "unknown method" in str(bad.exception)


def test_audit_compares_with_current_beneficiaries_by_nik_without_keeping_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TARGETING_HOME", str(tmp_path / "home"))
    frame = write_decisions(tmp_path / "decisions.parquet")
    # The decisions hold the head's NIK pseudonym (as `targeting score` writes them).
    from targeting.privacy import load_key, pseudonymize

    key = load_key(tmp_path / "home")
    frame["head_nik_pseudonym"] = pseudonymize(frame["head_nik"], key)
    # The same frame, rewritten with the pseudonym and without the NIK.
    table = pa.Table.from_pandas(frame.drop(columns=["head_nik"]), preserve_index=False)
    meta = pq.ParquetFile(tmp_path / "decisions.parquet").schema_arrow.metadata
    pq.write_table(table.replace_schema_metadata(meta), tmp_path / "decisions.parquet")
    current = frame.head(50)[["head_nik"]]
    current.to_csv(tmp_path / "kpm.csv", index=False)
    pd.concat([current, pd.DataFrame({"head_nik": ["6402999999990000"]})]).to_csv(
        tmp_path / "kpm.csv", index=False
    )
    out = CliRunner().invoke(
        app,
        [
            "audit",
            str(tmp_path / "decisions.parquet"),
            "--out-dir",
            str(tmp_path / "a"),
            "--n-boot",
            "0",
            "--no-pdf",
            "--current-beneficiaries",
            str(tmp_path / "kpm.csv"),
        ],
    )
    assert out.exit_code == 0, out.output
    # Off a terminal, one line per stage, with counts.
    stages = [line for line in out.output.splitlines() if line.startswith("  · ")]
    assert [s.split(":")[0].split(" (")[0] for s in stages] == [
        "  · membaca / reading decisions.parquet", "  · metrik dan kelompok / metrics and groups",
        "  · simulasi anggaran / budget scenarios", "  · laporan / report"]
    assert f"{len(frame):,} rumah tangga / households, bootstrap 0 ulangan" in stages[1]
    html = (tmp_path / "a" / "audit_report.html").read_text()
    assert "Dibandingkan dengan daftar penerima sekarang" in html
    assert "51 nomor, 50 ditemukan" in html
    selected = frame.head(50)["selected"].sum()
    import json

    changes = json.loads((tmp_path / "a" / "audit.json").read_text())["changes"]
    district = next(r for r in changes if r["grouping"] == "__all__")
    assert district["current"] == 50 and district["model_keep"] == selected
    assert district["model_remove"] == 50 - selected
    assert district["model_add"] == int(frame["selected"].sum()) - selected
    blob = b"".join(p.read_bytes() for p in (tmp_path / "a").iterdir())
    assert frame["head_nik"].iloc[0].encode() not in blob  # no NIK from the list reaches an output
    missing = CliRunner().invoke(
        app,
        [
            "audit",
            str(tmp_path / "decisions.parquet"),
            "--no-pdf",
            "--n-boot",
            "0",
            "--current-beneficiaries",
            str(tmp_path / "nope.csv"),
        ],
    )
    assert missing.exit_code != 0 and "file not found" in str(missing.exception)
