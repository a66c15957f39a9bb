"""The field workbook: kecamatan sheets, visit batches, priority order, a layout a team can use."""

from __future__ import annotations

import openpyxl
import pandas as pd
import pytest

from targeting.audit import run_audit
from targeting.audit.compare import compare, flagged_households
from targeting.eligibility import load_ruleset
from targeting.report.export import field_batches, field_frame, write_flagged
from targeting.report.i18n import Translator
from targeting.report.priority import visit_priority
from tests.audit.factory import make_decisions

KEY = bytes(range(32))


def hand() -> pd.DataFrame:
    """Six households in two kecamatan; welfare, flags and reasons chosen so the order is known."""
    return pd.DataFrame({
        "household_id": ["A", "B", "C", "D", "E", "F"],
        "head_nik": ["6402000000000001", "6402000000000002", "6402000000000003", "6402000000000004",
                     "6402000000000005", "6402000000000006"],
        "weight": 1.0,
        "household_size": [4, 2, 5, 3, 6, 1],
        "predicted_welfare": [700_000.4, 400_000.0, 1_074_260.843572712, 300_000.0, 650_000.0, 2_000_000.0],
        "desil": [3, 1, 6, 1, 2, 9],
        "selected": [False, True, False, True, True, False],
        "rule_verdict": ["eligible", "not_eligible", "eligible", "eligible", "not_eligible", "not_eligible"],
        "kecamatan": ["tabang", "tabang", "tenggarong", "tenggarong", "tabang", "tenggarong"],
        "desa": ["Desa Tabang 02", "Desa Tabang 01", "Kelurahan Tenggarong 01", "Kelurahan Tenggarong 02",
                 "Desa Tabang 01", "Kelurahan Tenggarong 01"],
        "poor_true": pd.array([True, False, True, True, False, False], dtype="boolean"),
        "welfare_true": [500_000.0, 2_000_000, 600_000, 500_000, 1_500_000, 3_000_000],
        "crit_a": pd.array([True, False, True, True, False, False], dtype="boolean"),
        "crit_h": pd.array([True, None, True, True, False, False], dtype="boolean"),
        "reason_1_code": ["floor_material", "kecamatan", "urban", "floor_material", "has_motorcycle",
                          "has_car"],
        "reason_1_text_id": ["Lantai rumah: tanah — menurunkan", "Kecamatan: Tabang — menurunkan",
                             "Tinggal di wilayah perkotaan: ya — menaikkan",
                             "Lantai rumah: tanah — menurunkan",
                             "Memiliki sepeda motor: ya — menaikkan", "Memiliki mobil: ya — menaikkan"],
        "reason_1_text_en": ["Floor: earth", "Sub-district: Tabang", "Urban: yes", "Floor: earth",
                             "Motorcycle: yes", "Car: yes"],
    })  # fmt: skip


def flagged() -> pd.DataFrame:
    return flagged_households(compare(hand(), key=KEY))


def test_priority_puts_poor_left_out_first_then_lowest_welfare():
    f = flagged()
    # Flagged: A (poor, not selected; rule-eligible), C (same), B (selected, not poor, not eligible),
    # E (selected, not poor, not eligible). D is selected, poor and eligible: not flagged; F neither.
    assert set(f["household_id"]) == {"A", "B", "C", "E"}
    prio = dict(zip(f["household_id"], visit_priority(f), strict=True))
    # Exclusion errors first (A 700,000 before C 1,074,261), then inclusion errors (B 400,000, E 650,000).
    assert prio == {"A": 1, "C": 2, "B": 3, "E": 4}


def test_field_rows_hold_what_a_visit_checks_and_nothing_personal():
    rows = field_frame(flagged(), Translator("id"))
    assert rows["priority"].tolist() == [1, 2, 3, 4]
    a = rows.iloc[0]
    assert a["kecamatan"] == "Tabang" and a["desa"] == "Desa Tabang 02"
    assert a["purpose"].startswith("Miskin tetapi tidak terpilih")
    assert a["other_flags"] == "Layak aturan, tak dipilih model"
    # Rupiah as whole numbers, stored as numbers.
    assert rows.loc[rows["household_id"] == "C", "predicted_welfare"].iloc[0] == 1_074_261
    # Only reasons a household can check: the kecamatan and urban/rural are context, not reasons.
    assert rows.loc[rows["household_id"] == "B", "reasons_checkable"].isna().all()
    assert rows.loc[rows["household_id"] == "C", "reasons_checkable"].isna().all()
    assert (
        rows.loc[rows["household_id"] == "A", "reasons_checkable"].iloc[0]
        == "Lantai rumah: tanah — menurunkan"
    )
    assert rows.loc[rows["household_id"] == "B", "criteria_unknown"].iloc[0] == "h"
    assert "weight" not in rows  # a registry's weights are all 1
    assert not {"head_nik", "welfare_true", "poor_true"} & set(rows.columns)
    assert {"visit_date", "enumerator", "visit_result", "data_match", "visit_note"} <= set(rows.columns)


def test_batches_follow_priority_within_kecamatan_and_group_by_desa():
    rows = field_frame(flagged(), Translator("id"))
    sheets = field_batches(rows, Translator("id"), capacity=1)
    # One sheet per kecamatan; Tabang's A (priority 1), B (3) and E (4) are three batches of one.
    assert [(title, b["household_id"].tolist(), b["batch"].tolist()) for title, b in sheets] == [
        ("Tabang", ["A", "B", "E"], [1, 2, 3]),
        ("Tenggarong", ["C"], [1]),
    ]
    # One batch: grouped by desa (Desa Tabang 01: B, E; then Desa Tabang 02: A), then priority.
    one = field_batches(rows, Translator("id"), capacity=10)
    assert [(t, b["household_id"].tolist()) for t, b in one] == [
        ("Tabang", ["B", "E", "A"]),
        ("Tenggarong", ["C"]),
    ]
    two = field_batches(rows, Translator("id"), capacity=2)
    # Capacity 2: batch 1 = A and B (priorities 1, 3), listed by desa (Tabang 01: B, then Tabang 02: A).
    assert two[0][1][["household_id", "batch"]].values.tolist() == [["B", 1], ["A", 1], ["E", 2]]
    with pytest.raises(ValueError, match="at least 1 household"):
        field_batches(rows, Translator("id"), capacity=0)


def test_workbook_layout_a_team_can_work_in(tmp_path):
    frame = make_decisions(3000, seed=4)
    frame["desa"] = "Desa " + frame["kecamatan"].astype(str) + " " + (frame.index % 5).astype(str)
    result = run_audit(frame, key=KEY, n_boot=0)
    _, xlsx = write_flagged(
        result.flagged, tmp_path, lang="id", ruleset=load_ruleset("kepmensos_262_2022"), visit_capacity=40
    )
    wb = openpyxl.load_workbook(xlsx)
    names = wb.sheetnames
    assert names[0] == "Daftar lembar" and names[-2:] == ["Kriteria", "Petunjuk"]
    batch_sheets = names[1:-2]
    n = 0
    for name in batch_sheets:
        ws = wb[name]
        header = [c.value for c in ws[1]]
        assert ws.freeze_panes == "A2" and ws.auto_filter.ref.startswith("A1:")
        n += ws.max_row - 1
        batch = [
            c.value for c in ws[openpyxl.utils.get_column_letter(header.index("Kelompok kunjungan") + 1)]
        ][1:]
        assert batch == sorted(batch) and max(batch) == -(-(ws.max_row - 1) // 40)
        prio_col = header.index("Prioritas") + 1
        welfare_col = header.index("Perkiraan pengeluaran per kapita (Rp/bulan)") + 1
        cell = ws.cell(row=2, column=welfare_col)
        assert isinstance(cell.value, float | int) and cell.value == round(cell.value)
        assert cell.number_format == "#,##0"
        assert isinstance(ws.cell(row=2, column=prio_col).value, int)
        lists = {
            str(dv.sqref).split(":")[0].rstrip("0123456789"): dv.formula1
            for dv in ws.data_validations.dataValidation
        }
        result_col = openpyxl.utils.get_column_letter(header.index("Hasil kunjungan") + 1)
        assert "Ditemui" in lists[result_col] and "Pindah" in lists[result_col]
        assert "Bobot survei" in header  # survey weights vary here, so the column is kept
    assert n == len(result.flagged)
    # The overview lists every batch with its size; the guide explains exactly the batch columns.
    overview = pd.read_excel(xlsx, sheet_name="Daftar lembar")
    assert overview["Lembar"].tolist() == batch_sheets and overview["Rumah tangga"].sum() == n
    guide = pd.read_excel(xlsx, sheet_name="Petunjuk")
    header = [c.value for c in wb[batch_sheets[0]][1]]
    assert set(header) <= set(guide["Kolom"])
    assert not {"Bobot survei"} - set(guide["Kolom"]) and "Alamat" not in set(guide["Kolom"])
