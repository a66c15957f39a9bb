"""Formula injection: attacker's cells in every CSV and xlsx the project writes are inert.

Each export is opened as a spreadsheet program would: openpyxl for the workbooks (no cell may be a
formula or error cell), the csv module for the CSV files (no field may start with = + - @ tab or CR
unless it is a number). On the unfixed code each of these files held the payloads raw.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from targeting.cli import app
from targeting.report.export import write_flagged
from targeting.spreadsheet import write_xlsx
from tests.conftest import valid_household
from tests.security.exports import PAYLOADS, csv_formula_fields, xlsx_formula_cells, xlsx_values

runner = CliRunner()


def _attacked_households() -> pd.DataFrame:
    rows = []
    for i, payload in enumerate(PAYLOADS, start=1):
        # household_id and desa are free text (accepted); kecamatan is a code (rejected, and its
        # value quoted in the rejects file).
        rows.append(valid_household(i, household_id=f"{payload}{i}", desa=payload))
        rows.append(valid_household(100 + i, kecamatan=payload))
    return pd.DataFrame(rows)


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_validate_exports_hold_no_formula(tmp_path: Path, suffix: str) -> None:
    frame = _attacked_households()
    src = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        frame.to_csv(src, index=False, lineterminator="\r\n")  # so the CR payload is quoted
    else:
        write_xlsx(src, {"data": frame})  # the payloads as text cells, as a clerk would type them
    out = tmp_path / "out"
    result = runner.invoke(app, ["validate", str(src), "--out-dir", str(out)],
                           env={"TARGETING_HOME": str(tmp_path / "home")})
    assert result.exit_code == 1, result.output  # the kecamatan payloads are rejected
    written = sorted(out.iterdir())
    assert {p.name for p in written} >= {f"in.accepted{suffix}", "in.rejects.csv"}
    for path in written:
        if path.suffix == ".csv":
            assert csv_formula_fields(path) == [], path.name
        else:
            assert xlsx_formula_cells(path) == [], path.name
    accepted = out / f"in.accepted{suffix}"
    if suffix == ".csv":
        ids = pd.read_csv(accepted, dtype=str, keep_default_na=False)["household_id"].tolist()
        # The apostrophe is the only change, and only where a spreadsheet would see a formula.
        assert ids[0] == "'" + PAYLOADS[0] + "1" and ids[-1] == PAYLOADS[-1] + str(len(PAYLOADS))
    else:
        assert f"{PAYLOADS[0]}1" in xlsx_values(accepted)
        assert xlsx_formula_cells(out / "in.rejects.xlsx") == []
        assert PAYLOADS[1] in xlsx_values(out / "in.rejects.xlsx")


def test_rules_trace_holds_no_formula(tmp_path: Path) -> None:
    frame = _attacked_households()
    src = tmp_path / "reg.csv"
    frame.to_csv(src, index=False, lineterminator="\r\n")
    result = runner.invoke(app, ["rules", "check", str(src), "--as-of", "2024-06-30"])
    assert result.exit_code == 0, result.output
    trace = tmp_path / "reg.kepmensos_262_2022.trace.csv"
    rejects = tmp_path / "reg.rejects.csv"
    assert csv_formula_fields(trace) == [] and csv_formula_fields(rejects) == []
    assert pd.read_csv(trace, dtype=str)["household_id"].iloc[0] == "'" + PAYLOADS[0] + "1"


def test_flagged_households_hold_no_formula(tmp_path: Path) -> None:
    from targeting.audit import run_audit
    from tests.audit.factory import make_decisions

    result = run_audit(make_decisions(300, seed=5), key=bytes(range(32)), n_boot=0, seed=1)
    flagged = result.flagged.copy()
    assert len(flagged) >= len(PAYLOADS)
    n = len(flagged)
    flagged["household_id"] = [PAYLOADS[i % len(PAYLOADS)] for i in range(n)]
    flagged["kecamatan"] = [PAYLOADS[(i + 3) % len(PAYLOADS)] for i in range(n)]
    csv_path, xlsx_path = write_flagged(flagged, tmp_path, lang="id")
    assert csv_formula_fields(csv_path) == []
    assert xlsx_formula_cells(xlsx_path) == []
    assert PAYLOADS[0] in xlsx_values(xlsx_path)
