from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from openpyxl import load_workbook

from targeting.privacy import pseudonymize
from targeting.verify import (
    DISAGREEMENTS_SHEET,
    VISITS_SHEET,
    indicators_to_check,
    write_verification_list,
)

KEY = bytes(range(32))
DOWN = " — menurunkan perkiraan kesejahteraan"
UP = " — menaikkan perkiraan kesejahteraan"


@pytest.fixture
def decisions() -> pd.DataFrame:
    n = 6
    return pd.DataFrame({
        "household_id": [f"R{i:03d}" for i in range(n)],
        "head_nik": [f"64020{i:011d}" for i in range(n)],
        "family_card_no": [f"64029{i:011d}" for i in range(n)],
        "household_size": [4, 2, 6, 1, 3, 5],
        "kecamatan": ["tabang", "tabang", "samboja", "samboja", "tabang", "samboja"],
        "desa": ["=HYPERLINK(\"http://x\")", "+62 desa", "-1+1", "@SUM(A1)", "\tDesa", "Desa Biasa"],
        "desil": [1, 5, 3, 9, 4, 2],
        "selected": [True, False, True, False, True, True],
        "p_other_side": [0.1, 0.45, 0.3, 0.05, 0.4, 0.2],
        "status": ["clearly_in", "borderline", "borderline", "clearly_out", "borderline", "clearly_in"],
        "rule_verdict": ["eligible", "eligible", "not_eligible", "not_eligible", "unknown", "not_eligible"],
        "rule_n_met": [3, 2, 0, 0, 1, 0],
        "reason_1_code": ["kecamatan", "floor_material", "toilet", "has_car", "floor_material", "toilet"],
        "reason_1_text_id": [
            "Kecamatan: Tabang" + DOWN, "Lantai rumah: keramik" + UP, "Jamban: tidak ada" + DOWN,
            "Mobil: ya" + UP, "Lantai rumah: tanah" + DOWN, "=cmd|' /C calc'!A0",
        ],
        "reason_2_code": ["floor_material", None, "has_tv", None, None, None],
        "reason_2_text_id": ["Lantai rumah: tanah" + DOWN, None, "Televisi: tidak" + DOWN, None, None, None],
    })


def test_indicators_to_check_skip_location_and_drop_the_direction(decisions):
    got = indicators_to_check(decisions, 3)
    assert got[0] == "Lantai rumah: tanah"  # kecamatan cannot be checked at the door
    assert got[1] == "Lantai rumah: keramik"
    assert got[2] == "Jamban: tidak ada; Televisi: tidak"
    assert indicators_to_check(decisions, 1)[2] == "Jamban: tidak ada"


def test_workbook_is_pseudonymised_formula_free_and_bahasa_first(decisions, tmp_path):
    path, chosen = write_verification_list(decisions, tmp_path / "verifikasi.xlsx", 4, key=KEY)
    # Gains p_wrong x persons: R000 .4, R001 .9, R002 1.8, R003 .05, R004 1.2, R005 1.0.
    assert list(chosen["household_id"]) == ["R002", "R004", "R005", "R001"]
    wb = load_workbook(path)
    assert wb.sheetnames[:2] == [VISITS_SHEET, DISAGREEMENTS_SHEET]
    secrets = set(decisions["head_nik"]) | set(decisions["family_card_no"]) | set(decisions["household_id"])
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                assert not (isinstance(cell.value, str) and any(s in cell.value for s in secrets))
    visits = wb[VISITS_SHEET]
    assert visits.freeze_panes == "A2" and visits.auto_filter.ref.startswith("A1:")
    header = [c.value for c in visits[1]]
    assert header[0] == "Urutan / Rank"
    assert all(" / " in h for h in header if h not in ("Desil", "Status"))
    rows = [dict(zip(header, [c.value for c in r], strict=True)) for r in visits.iter_rows(min_row=2)]
    pseud = pseudonymize(pd.Series(["R002"]), KEY, prefix="h")[0]
    assert rows[0]["ID rumah tangga (samaran) / Household pseudonym"] == pseud
    assert rows[0]["Keputusan model / Model decision"] == "terpilih"
    assert rows[0]["Status"] == "di batas"
    # A formula-looking village name stays the text it was.
    desa = {r["ID rumah tangga (samaran) / Household pseudonym"]: r["Desa / Village"] for r in rows}
    assert "-1+1" in desa.values()
    # Model-rules disagreements: selected & not eligible (R002, R005), eligible & not selected (R001).
    dis = wb[DISAGREEMENTS_SHEET]
    assert dis.max_row - 1 == 3


def test_per_kecamatan_list_is_grouped_by_kecamatan(decisions, tmp_path):
    path, chosen = write_verification_list(decisions, tmp_path / "v.xlsx", 4, key=KEY, per_kecamatan=True,
                                           floor=2)
    assert chosen.groupby("kecamatan").size().to_dict() == {"samboja": 2, "tabang": 2}
    ws = load_workbook(path)[VISITS_SHEET]
    header = [c.value for c in ws[1]]
    kec = [r[header.index("Kecamatan / Sub-district")].value for r in ws.iter_rows(min_row=2)]
    assert kec == sorted(kec)


def test_writer_refuses_identifiers(tmp_path):
    from targeting.verify import write_workbook

    with pytest.raises(ValueError, match="identifiers"):
        write_workbook(tmp_path / "x.xlsx", {"s": pd.DataFrame({"head_nik": ["1"]})})
    with pytest.raises(ValueError, match="identifiers"):
        write_workbook(tmp_path / "x.xlsx", {"s": pd.DataFrame({"household_id": ["1"], "x": np.ones(1)})})
