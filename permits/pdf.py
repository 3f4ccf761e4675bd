"""PDF from the printed permit's HTML, by Debian's headless Chromium.

Chromium rather than a Python PDF library: it prints exactly the page an officer previews in a
browser, with CSS paged media (@page size and margins), and shapes Vietnamese with the system
fonts; it adds no Python dependency (WeasyPrint needs Pango and lays out differently).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from keys.errors import InputError, PermitError
from keys.files import write_atomic

TIMEOUT_SECONDS = 60.0


class PdfError(PermitError):
    """Chromium failed or timed out."""

    reason = "pdf_failed"
    http_status = 500


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """The Chromium executable; InputError (pdf_unavailable) if there is none."""
    chromium = find_chromium()
    if chromium is None:
        raise InputError("no Chromium to make the PDF: install Debian's chromium (apt-get install chromium), "
                         "or write .html and print it from a browser", reason="pdf_unavailable")
    return chromium


def write_pdf(html: str, out: Path, timeout: float | None = None) -> None:
    """Print `html` to the PDF file `out`, replacing it only once the PDF is complete.
    InputError (pdf_unavailable) without Chromium; PdfError on failure or timeout."""
    chromium = require_chromium()
    limit = TIMEOUT_SECONDS if timeout is None else timeout
    # A directory of its own: Chromium keeps a profile and may leave crash files behind.
    with tempfile.TemporaryDirectory(prefix="permit-pdf-") as tmp:
        work = Path(tmp)
        page, printed = work / "permit.html", work / "permit.pdf"
        page.write_text(html, encoding="utf-8")
        command = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                   "--no-first-run", "--disable-extensions", "--disable-background-networking", "--disable-sync",
                   "--disable-component-update", "--disable-dev-shm-usage", f"--user-data-dir={work / 'profile'}",
                   f"--print-to-pdf={printed}", page.as_uri()]
        # Its own session, so that a timeout kills the renderer and helper processes too.
        process = subprocess.Popen(command, cwd=work, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, start_new_session=True, env={**os.environ, "HOME": tmp})
        try:
            _, errors = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise PdfError(f"Chromium did not print the PDF within {limit:g} s") from None
        data = printed.read_bytes() if printed.exists() else b""
        if process.returncode != 0 or not (data.startswith(b"%PDF-") and b"%%EOF" in data[-1024:]):
            last = errors.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            raise PdfError(f"Chromium could not print the PDF (exit status {process.returncode}): {last[0][:200]}")
    write_atomic(out, data)
