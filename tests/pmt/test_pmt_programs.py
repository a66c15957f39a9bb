from __future__ import annotations

import numpy as np
import pytest

from targeting.errors import SpecError
from targeting.pmt.programs import load_programs, program_eligibility


def test_default_programs_follow_kepmensos_79_2025_and_are_marked_weak():
    config = load_programs()
    assert {k: (p.desil_min, p.desil_max) for k, p in config.programs.items()} == {
        "pkh": (1, 4),
        "sembako": (1, 5),
        "pbi_jk": (1, 5),
    }
    assert config.evidence == "weak" and "79/HUK/2025" in config.reference
    assert all(p.evidence == "weak" for p in config.programs.values())
    assert config.reference_for("pkh") == config.reference


def test_program_eligibility_by_decile():
    table = program_eligibility(np.array([1, 4, 5, 6, 10]))
    assert table["pkh"].tolist() == [True, True, False, False, False]
    assert table["sembako"].tolist() == [True, True, True, False, False]
    assert table["pbi_jk"].tolist() == [True, True, True, False, False]


def test_custom_program_file(tmp_path):
    path = tmp_path / "programs.yaml"
    path.write_text(
        "reference: Perbup Kukar (example)\nevidence: official\nprograms:\n"
        "  lansia: {id: Bantuan lansia, en: Elderly grant, desil_min: 1, desil_max: 2,"
        " effective_from: 2026-01-01}\n",
        encoding="utf-8",
    )
    config = load_programs(path)
    assert str(config.programs["lansia"].effective_from) == "2026-01-01"
    assert program_eligibility([2, 3], config)["lansia"].tolist() == [True, False]


@pytest.mark.parametrize(
    ("body", "msg"),
    [
        ("reference: x\nevidence: weak\nprograms:\n  p: {id: a, en: b, desil_max: 11}\n", "desil_max"),
        (
            "reference: x\nevidence: weak\nprograms:\n  p: {id: a, en: b, desil_min: 5, desil_max: 2}\n",
            "desil_min",
        ),
        ("reference: x\nevidence: maybe\nprograms: {}\n", "evidence"),
        ("reference: x\nevidence: weak\nprograms:\n  p: {id: a, en: b, desil_max: 2, quota: 3}\n", "quota"),
        ("reference: [unclosed\n", "YAML"),
    ],
)
def test_invalid_program_files_name_the_file_and_field(tmp_path, body, msg):
    path = tmp_path / "bad.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(SpecError, match=msg) as err:
        load_programs(path)
    assert "bad.yaml" in str(err.value)
