"""Run the real entry point (`targeting.cli.main`) in process: exit code, stdout, stderr."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from targeting.cli import main


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


def run_main(args: list[str], home: Path, monkeypatch: pytest.MonkeyPatch,
             capsys: pytest.CaptureFixture[str]) -> Run:
    """``targeting ARGS`` as a user runs it: user errors become one line and exit code 2."""
    monkeypatch.setenv("TARGETING_HOME", str(home))
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setattr(sys, "argv", ["targeting", *args])
    # `serve` hands options to its workers through the environment: undo that after the test.
    for name in ("TARGETING_API_MODEL_DIR", "TARGETING_API_ALLOW_UNSIGNED"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main()
    captured = capsys.readouterr()
    code = exc.value.code
    return Run(code if isinstance(code, int) else (0 if code is None else 1), captured.out, captured.err)
