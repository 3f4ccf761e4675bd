"""PDF from the printed permit's HTML, by Debian's headless Chromium.

Chromium rather than a Python PDF library: it prints exactly the page an officer previews in a
browser, with CSS paged media (@page size and margins), and shapes Vietnamese with the system
fonts; it adds no Python dependency (WeasyPrint needs Pango and lays out differently).

Chromium runs with an environment of its own (`chromium_environment`), not the officer's: the
officer's passphrase (PERMIT_PASSPHRASE) and whatever else the shell holds never reach the browser
or the processes it starts.
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
from keys.reasons import Reason

TIMEOUT_SECONDS = 60.0
# All that is taken from the officer's environment: where programs are (Debian's `chromium` is a
# shell script), the locale, the time zone, and where fontconfig's settings are if moved.
PASSED_ON = ("PATH", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_COLLATE", "LC_MESSAGES", "LC_MONETARY", "LC_NUMERIC",
             "LC_TIME", "LC_ADDRESS", "LC_IDENTIFICATION", "LC_MEASUREMENT", "LC_NAME", "LC_PAPER", "LC_TELEPHONE",
             "TZ", "FONTCONFIG_FILE", "FONTCONFIG_PATH")


class PdfError(PermitError):
    """Chromium failed or timed out."""

    reason = Reason.PDF_FAILED


def find_chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> str:
    """The Chromium executable; InputError (pdf_unavailable) if there is none."""
    chromium = find_chromium()
    if chromium is None:
        raise InputError("no Chromium to make the PDF: install Debian's chromium (apt-get install chromium), "
                         "or write .html and print it from a browser", reason=Reason.PDF_UNAVAILABLE)
    return chromium


def chromium_environment(work: Path) -> dict[str, str]:
    """The environment Chromium is started with: PASSED_ON from this process's environment,
    nothing else of it, and its home, temporary, XDG and runtime directories made inside `work`."""
    env = {name: os.environ[name] for name in PASSED_ON if name in os.environ}
    env.setdefault("PATH", os.defpath)
    places = {"HOME": "home", "TMPDIR": "tmp", "XDG_CONFIG_HOME": "config", "XDG_CACHE_HOME": "cache",
              "XDG_DATA_HOME": "data", "XDG_STATE_HOME": "state", "XDG_RUNTIME_DIR": "run"}
    for name, directory in places.items():
        path = work / directory
        path.mkdir(mode=0o700, exist_ok=True)
        env[name] = str(path)
    return env


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
                                   stderr=subprocess.PIPE, start_new_session=True, env=chromium_environment(work))
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
