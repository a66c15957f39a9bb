"""The analyst walkthrough runs top to bottom against the package, on a small sample."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # jupyter_client/zmq internals, not our code
def test_walkthrough_executes(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("TARGETING_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("TARGETING_HOME", str(tmp_path))
    # The kernel is a separate process: with pytest-xdist's other worker busy on the second core,
    # LightGBM's 2 OpenMP threads spin-wait for each other and the kernel ran 30x slower (256 s vs 8 s).
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    resources = {"metadata": {"path": str(tmp_path)}}
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources=resources)
    client.execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    text = "\n".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", "")) for o in outputs)
    assert "2,000 households accepted, 0 rejected" in text
    assert "challenger" in text and "champion" in text  # registered, then promoted
    assert (tmp_path / "mlflow.db").exists()
