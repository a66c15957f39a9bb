"""The inspector's report: HTML (and PDF) from an audit, in Bahasa Indonesia or English."""

from targeting.report.audit_report import ReportPaths, render_audit_html, write_audit_report
from targeting.report.context import ReportInfo
from targeting.report.pdf import BROWSER_FLAGS, PdfError, find_chromium, print_pdf

__all__ = [
    "BROWSER_FLAGS",
    "PdfError",
    "ReportInfo",
    "ReportPaths",
    "find_chromium",
    "print_pdf",
    "render_audit_html",
    "write_audit_report",
]
