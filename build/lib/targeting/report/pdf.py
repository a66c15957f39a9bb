"""Print the report to PDF with the system's headless Chromium (Debian's ``chromium`` package).

No browser is ever downloaded: the project's set-up (``make browser``) installs Debian's package.
The flags keep Chromium off the network (the machines are offline) and make it run as root in a
container (``--no-sandbox``: the sandbox needs user namespaces that containers often lack).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from targeting.errors import TargetingError

CHROMIUM_ENV = "TARGETING_CHROMIUM"
CHROMIUM_NAMES: tuple[str, ...] = ("chromium", "chromium-browser")
#: Flags for any Chromium the project starts (the PDF printer here, Playwright in the tests).
BROWSER_FLAGS: tuple[str, ...] = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
PDF_TIMEOUT_S = 180


class PdfError(TargetingError):
    """The PDF could not be printed (Chromium missing or failing)."""


def find_chromium() -> Path | None:
    """The Chromium executable: ``$TARGETING_CHROMIUM``, else ``chromium`` on PATH; None if absent."""
    env = os.environ.get(CHROMIUM_ENV)
    if env:
        return Path(env) if Path(env).is_file() else None
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    return None


def _noise_free(stderr: str) -> str:
    """Chromium's stderr without the D-Bus complaints every headless run prints."""
    lines = [ln for ln in stderr.splitlines() if "dbus" not in ln.lower() and ln.strip()]
    return "\n".join(lines[-8:])


def print_pdf(html: Path, pdf: Path, *, chromium: Path | None = None, timeout: float = PDF_TIMEOUT_S) -> Path:
    """Print ``html`` (a self-contained file) to ``pdf``; raise :class:`PdfError` on failure."""
    exe = chromium or find_chromium()
    if exe is None:
        raise PdfError(
            f"Chromium not found (looked for ${CHROMIUM_ENV} and {', '.join(CHROMIUM_NAMES)} on PATH); "
            "install it with `make browser` (Debian package `chromium`)"
        )
    pdf.parent.mkdir(parents=True, exist_ok=True)
    pdf.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="targeting-chromium-") as profile:
        cmd = [
            str(exe),
            "--headless",
            *BROWSER_FLAGS,
            f"--user-data-dir={profile}",
            f"--print-to-pdf={pdf.resolve()}",
            "--no-pdf-header-footer",
            html.resolve().as_uri(),
        ]
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise PdfError(f"Chromium did not finish printing {html} within {timeout:.0f} s") from exc
    if done.returncode != 0 or not pdf.is_file() or pdf.read_bytes()[:5] != b"%PDF-":
        raise PdfError(
            f"Chromium ({exe}) failed to print {html} (exit code {done.returncode}): "
            f"{_noise_free(done.stderr) or 'no message'}"
        )
    return pdf
