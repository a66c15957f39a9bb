"""`targeting drift` body: files under the contract, spec[variables] on real data, CSV written."""

from __future__ import annotations

import io
import math

import pandas as pd
import pytest
from rich.console import Console

from targeting.drift.command import _source, drift_command
from targeting.errors import InputFileError

from ..conftest import shared_data, valid_household


def _write(path, floors):
    rows = [valid_household(i, floor_material=f) for i, f in enumerate(floors, start=1)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_two_contract_files(tmp_path):
    ref = _write(tmp_path / "survey.csv", ["tile_ceramic"] * 80 + ["earth"] * 80)
    cur = _write(tmp_path / "registry.csv", ["tile_ceramic"] * 40 + ["earth"] * 120)
    out = tmp_path / "out" / "drift.csv"
    buf = io.StringIO()
    res = drift_command(str(ref), str(cur), out=out, console=Console(file=buf, width=200))
    floor = res.row("floor_material")
    # tile 1/2 -> 1/4, earth 1/2 -> 3/4: PSI 0.25 ln 3; counts [[80, 80], [40, 120]] give chi-square
    # 2 x 400/60 + 2 x 400/100 = 21.3 (p = 4e-6; x the number of indicators after BH, still < 0.05)
    assert floor.psi == pytest.approx(0.25 * math.log(3))
    assert floor.statistic == pytest.approx(2 * 400 / 60 + 2 * 400 / 100)
    assert floor.p_adjusted == pytest.approx(floor.p_value * len(res.table))  # the others have p = 1
    assert floor.flag == "major"
    assert res.flagged() == ["floor_material"]
    # everything else is identical in the two files
    others = res.table[res.table["indicator"] != "floor_material"]
    assert (others["psi"] == 0).all()
    written = pd.read_csv(out)
    assert written["indicator"].tolist() == res.table["indicator"].tolist()
    assert set(written["reference"]) == {"survey.csv"}
    assert (tmp_path / "out" / "drift_bins.csv").exists()
    text = buf.getvalue()
    assert "Indikator / indicator" in text and "besar / major" in text
    assert "flagged indicators: 1" in text
    assert "640200000000" not in text and "640200000000" not in out.read_text()


def test_rejected_households_are_reported(tmp_path):
    ref = _write(tmp_path / "survey.csv", ["tile_ceramic"] * 10)
    rows = [valid_household(i) for i in range(1, 6)] + [valid_household(9, floor_material="marble")]
    cur = tmp_path / "registry.csv"
    pd.DataFrame(rows).to_csv(cur, index=False)
    buf = io.StringIO()
    drift_command(str(ref), str(cur), out=tmp_path / "d.csv", console=Console(file=buf, width=200))
    assert "registry.csv: 1 rumah tangga ditolak" in buf.getvalue()


def test_arguments_name_files_variables_or_spec_with_variables(tmp_path):
    assert _source("year=2024", "paraguay_ephc").variables == {"year": 2024}
    src = _source("paraguay_ephc[year=2022]", "indonesia_household")
    assert (src.spec, src.variables, src.file) == ("paraguay_ephc", {"year": 2022}, None)
    f = tmp_path / "x.csv"
    f.write_text("a\n1\n", encoding="utf-8")
    assert _source(str(f), "indonesia_household").file == f
    with pytest.raises(InputFileError, match="no such file"):
        _source("nothing_here.csv", "indonesia_household")
    with pytest.raises(InputFileError, match="not key=value"):
        _source("paraguay_ephc[2022]", "indonesia_household")


def test_a_file_for_a_spec_that_joins_files_is_refused(tmp_path):
    f = tmp_path / "reg01.csv"
    f.write_text("a\n1\n", encoding="utf-8")
    with pytest.raises(InputFileError, match="joins 2 files"):
        drift_command(str(f), str(f), "paraguay_ephc", out=tmp_path / "d.csv")


@pytest.mark.realdata
def test_paraguay_rounds(tmp_path):
    data_dir = shared_data("paraguay_ephc").parent
    res = drift_command("year=2023", "year=2024", "paraguay_ephc", data_dir=data_dir,
                        out=tmp_path / "d.csv", console=Console(file=io.StringIO()))
    from targeting.survey.spec import load_spec

    # every feature of the spec (DPTO is both region and feature), then measured welfare
    assert res.table["indicator"].tolist() == [*load_spec("paraguay_ephc").features, "log_welfare"]
    # Departments are a stratum of the design: their weighted shares barely move between rounds.
    assert res.row("DPTO").psi < 0.01
    # Nominal income grows between rounds: measured log welfare rises.
    assert res.row("log_welfare").mean_current > res.row("log_welfare").mean_reference
    assert (res.table["psi"] >= 0).all()
