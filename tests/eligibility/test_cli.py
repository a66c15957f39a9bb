"""`targeting rules list / check / explain` on a small CSV file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from targeting.cli import app
from targeting.eligibility import RuleSetNotInForceError
from tests.conftest import valid_household

runner = CliRunner()


@pytest.fixture
def csv_file(tmp_path: Path) -> Path:
    rows = [
        valid_household(1, has_shelter="0", kecamatan="tabang"),
        valid_household(2, head_employment="not_working", food_insecure_12m="1", food_share="0.8",
                        bought_clothes_last_year="0", kecamatan="tabang"),
        valid_household(3, kecamatan="tenggarong"),
    ]  # fmt: skip
    path = tmp_path / "registry.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_rules_list() -> None:
    result = runner.invoke(app, ["rules", "list"])
    assert result.exit_code == 0
    assert "kepmensos_146_2013     2013-01-01 .. dicabut / revoked 2022-12-31" in result.output
    lines = result.output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("kepmensos_262_2022"))
    assert "Kepmensos" in lines[at] and "262/HUK/2022" in lines[at]  # the Indonesian title first
    assert "Ministry of Social Affairs" in lines[at + 1]  # the English one beneath


def test_rules_check_writes_the_trace(csv_file: Path) -> None:
    result = runner.invoke(app, ["rules", "check", str(csv_file), "--as-of", "2024-06-30"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    verdicts = lines[lines.index(next(x for x in lines if x.startswith("Putusan / verdict"))) + 1:][:3]
    assert [line.split() for line in verdicts] == [  # Bahasa Indonesia first, then English
        ["layak", "/", "eligible", "2", "66.7%"],
        ["tidak", "layak", "/", "not", "eligible", "1", "33.3%"],
        ["belum", "dapat", "ditentukan", "/", "unknown", "0", "0.0%"],
    ]
    stage1 = next(line for line in lines if line.startswith("  stage1_no_shelter "))
    assert stage1.split() == ["stage1_no_shelter", "1", "33.3%", "Deteksi", "awal", "/", "Early", "detection"]
    by_area = lines[lines.index(next(x for x in lines if x.startswith("kecamatan "))) + 1:][:2]
    assert [line.split()[:2] for line in by_area] == [["Tabang", "2"], ["Tenggarong", "1"]]  # by name
    assert result.output.index("Putusan / verdict") < result.output.index("Kriteria / criterion")
    trace_path = csv_file.with_name("registry.kepmensos_262_2022.trace.csv")
    assert lines[-1] == f"jejak per rumah tangga / per-household trace: {trace_path}"
    trace = pd.read_csv(csv_file.with_name("registry.kepmensos_262_2022.trace.csv"))
    assert list(trace["verdict"]) == ["eligible", "eligible", "not_eligible"]
    assert list(trace["stage"]) == ["stage1_no_shelter", "stage2", "stage2"]


def test_rules_check_k_and_output_path(csv_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "t.parquet"
    result = runner.invoke(
        app, ["rules", "check", str(csv_file), "--as-of", "2024-06-30", "--k", "5", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert list(pd.read_parquet(out)["verdict"]) == ["eligible", "not_eligible", "not_eligible"]


def test_rules_check_refuses_a_revoked_rule_set(csv_file: Path) -> None:
    result = runner.invoke(app, ["rules", "check", str(csv_file), "--ruleset", "kepmensos_146_2013"])
    assert isinstance(result.exception, RuleSetNotInForceError)
    ok = runner.invoke(
        app, ["rules", "check", str(csv_file), "--ruleset", "kepmensos_146_2013", "--as-of", "2021-06-30"]
    )
    assert ok.exit_code == 0, ok.output


def test_rules_explain(csv_file: Path) -> None:
    result = runner.invoke(
        app, ["rules", "explain", "H0002", "--file", str(csv_file), "--as-of", "2024-06-30"]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("H0002: LAYAK")
    assert "[x] a: Kepala keluarga atau pengurus keluarga tidak bekerja" in result.output
    as_json = runner.invoke(
        app,
        ["rules", "explain", "H0003", "--file", str(csv_file), "--as-of", "2024-06-30", "--json"],
    )
    assert '"verdict": "not_eligible"' in as_json.output


def test_rules_check_validates_with_the_contract(tmp_path: Path) -> None:
    rows = [valid_household(1), valid_household(2, floor_material="earht")]
    path = tmp_path / "reg.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    result = runner.invoke(app, ["rules", "check", str(path), "--as-of", "2024-06-30"])
    assert result.exit_code == 0, result.output
    assert "1 baris ditolak oleh kontrak data, tidak dinilai / rows rejected by the contract" in result.output
    rejects = pd.read_csv(tmp_path / "reg.rejects.csv")
    got = rejects[["household_id", "column", "value"]].values.tolist()
    assert got == [["H0002", "floor_material", "earht"]]
    trace = pd.read_csv(tmp_path / "reg.kepmensos_262_2022.trace.csv")
    assert trace["household_id"].tolist() == ["H0001"]
