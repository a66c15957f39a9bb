"""The package as a user installs it: a wheel in a fresh venv outside the repository runs a shipped plan."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_installed_outside_the_repository_runs_a_shipped_plan(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
         str(REPO)], capture_output=True, text=True, timeout=600, check=False)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("targeting-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    # Package data the jobs need, found without the source tree.
    for needed in ("shipped/plans/kukar_small.yaml", "shipped/experiments/kukar_kfold.yaml",
                   "shipped/models/default/component_lightgbm.txt", "shipped/models/default/model_card.json",
                   "survey/poverty_lines.yaml", "report/templates/audit.html.j2",
                   "survey/specs/kukar_registry_truth.yaml"):
        needed = f"targeting/{needed}"
        assert needed in names, needed
    # A fresh venv: the wheel's own files for `targeting`, the project venv's packages for its dependencies
    # (the repository's editable install is not visible there: .pth files of an added path are not run).
    venv = tmp_path / "venv"
    subprocess.run([getattr(sys, "_base_executable", sys.executable), "-m", "venv", str(venv)], check=True,
                   timeout=300)
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   timeout=300)
    elsewhere = tmp_path / "district-office"
    elsewhere.mkdir()
    env = {**os.environ, "TARGETING_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": "", "PYTHONSAFEPATH": "1"}
    where = subprocess.run([str(py), "-c", "import targeting, api; print(targeting.__file__, api.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True, check=True).stdout
    assert str(REPO) not in where and str(venv) in where
    cmd = [str(venv / "bin" / "targeting"), "run", "kukar_small", "--out", str(tmp_path / "out")]
    run = subprocess.run(cmd, cwd=elsewhere, env=env, capture_output=True, text=True, timeout=900,
                         check=False)
    assert run.returncode == 0, (run.stdout[-3000:], run.stderr[-3000:])
    assert (tmp_path / "out" / "decisions.parquet").is_file()
    assert (tmp_path / "out" / "audit" / "audit_report.html").is_file()
    assert not any(elsewhere.iterdir())  # nothing written where the user stands
