"""The shipped specs read the two real surveys in ../shared/data with the figures their README gives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from targeting.errors import SpecError
from targeting.survey.load import load_dataset
from targeting.survey.spec import list_specs, load_spec
from tests.conftest import shared_data

pytestmark = pytest.mark.realdata


@pytest.mark.parametrize(("year", "households", "poor"), [(2024, 17_242, 2_975), (2023, 17_037, None),
                                                          (2022, 17_972, None)])
def test_paraguay_ephc_counts_and_poverty(year, households, poor):
    data_dir = shared_data("paraguay_ephc").parent
    loaded = load_dataset("paraguay_ephc", data_dir=data_dir, variables={"year": year})
    d = loaded.data
    # Every input household is either accepted or reported.
    assert len(d) + loaded.n_rejected_rows == households
    assert loaded.rejects.empty or set(loaded.rejects["column"]) <= {"V02A", "V02B"}
    if poor is not None:
        assert len(d) == households and int(d.poor.sum()) == poor
    # pobnopoi == 1 is exactly ipcm < linpobto (README)
    np.testing.assert_array_equal(d.poor.to_numpy(), d.welfare.to_numpy() < d.poverty_line.to_numpy())
    # leakage columns never reach the features
    assert not set(d.features.columns) & {"V18", "V19", "V20", "V21", "V21G", "POBNOPOI", "ipcm"}
    assert d.weight.min() > 0 and d.cluster is not None and d.region is not None


def test_paraguay_decimal_comma_and_join():
    data_dir = shared_data("paraguay_ephc").parent
    d = load_dataset("paraguay_ephc", data_dir=data_dir, variables={"year": 2024}).data
    first = d.household_id == "14-3-1"
    # ipcm 4035459,49658286 and FEX.2022 63,514585485 on the first lines of the two files
    assert d.welfare[first].iloc[0] == pytest.approx(4035459.49658286)
    assert d.weight[first].iloc[0] == pytest.approx(63.514585485)
    assert d.household_size[first].iloc[0] == 2


def test_burkina_faso():
    data_dir = shared_data("burkina_faso").parent
    loaded = load_dataset("burkina_faso", data_dir=data_dir)
    d = loaded.data
    assert len(d) == 1_262 and loaded.n_rejected_rows == 0
    assert d.feature_types["floor"] == "binary" and len(d.features.columns) == 34
    assert d.cluster.nunique() == 62
    # the poor are the bottom 40% of persons by consumption (no survey weights)
    share = float((d.household_size * d.poor).sum() / d.household_size.sum())
    assert share == pytest.approx(0.40, abs=0.01)
    assert (d.weight == 1).all()


def test_spec_errors_name_file_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nfiles: [{name: f, path: a.csv}]\nhousehold_id: [id]\nhousehold_size: n\n"
        "welfare: {column: w}\nfeatures: {w: {type: numeric}}\n"
    )
    with pytest.raises(SpecError, match=r"bad.yaml: .*role columns \['w'\] cannot also be features"):
        load_spec(bad)
    leak = tmp_path / "leak.yaml"
    leak.write_text(
        "name: x\nfiles: [{name: f, path: a.csv}]\nhousehold_id: [id]\nhousehold_size: n\n"
        "never_features: [rent]\nfeatures: {rent: {type: numeric}}\n"
    )
    with pytest.raises(SpecError, match=r"never_features but used as features"):
        load_spec(leak)


def test_packaged_specs_all_load():
    names = list_specs()
    assert {"paraguay_ephc", "burkina_faso", "kukar_survey", "kukar_registry"} <= set(names)
    for n in names:
        assert load_spec(n).name == n


def test_unmatched_join_rows_are_reported_not_dropped(tmp_path):
    (tmp_path / "a.csv").write_text("id;size;x\n1;2;1,5\n2;3;2,5\n3;1;0,5\n")
    (tmp_path / "b.csv").write_text("ID;w\n1;10\n3;20\n4;30\n")
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "name: t\nfiles:\n - {name: a, path: a.csv, sep: ';', decimal: ','}\n"
        " - {name: b, path: b.csv, sep: ';', decimal: ','}\n"
        "joins: [{file: b, left_on: [id], right_on: [ID]}]\n"
        "household_id: [id]\nhousehold_size: size\nwelfare: {column: w}\n"
        "features: {x: {type: numeric}}\n"
    )
    loaded = load_dataset(spec, data_dir=tmp_path)
    assert loaded.data.household_id.tolist() == ["1", "3"]
    assert loaded.data.features["x"].tolist() == [1.5, 0.5]
    rej = loaded.rejects.sort_values("row")
    assert rej["reason_en"].tolist() == ["no matching record in joined file", "no matching record in file a"]
    assert rej["row"].tolist() == [3, 4]
    assert len(loaded.data) + len(rej) == 4  # 3 left rows + 1 right-only row, all accounted for
    pd.testing.assert_series_equal(loaded.data.welfare, pd.Series([10.0, 20.0], name="welfare"))


def test_burkina_female_heads_are_the_widowed_minority():
    """The `male` column reads inverted (see the spec): female heads are ~10 % and mostly widowed."""
    d = load_dataset("burkina_faso", data_dir=shared_data("burkina_faso").parent).data
    female = d.groups["female_head"].to_numpy(dtype=bool)
    widow = d.features["widow"].to_numpy() == 1
    assert 0.08 < female.mean() < 0.13
    assert widow[female].mean() > 0.6 > 0.1 > widow[~female].mean()
