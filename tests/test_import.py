"""Bulk import of existing paper permits: every row checked, bad rows reported and written out
to fix, and an import killed at any moment finishes on the next run without losing, duplicating
or reusing anything."""

from __future__ import annotations

import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import NOW, PASSPHRASE, City, passphrase
from hypothesis import given
from hypothesis import strategies as st

from cli import cli
from keys.errors import InputError
from permits import operator
from permits.importing import COLUMNS, import_csv
from permits.ledger import ImportedPermit
from permits.spreadsheet import Writer, neutralise, restore
from verifier.pipeline import verify

HEADER = ["number", "holder_id", "holder_name", "holder_address", "activities", "conditions", "valid_from", "valid_until"]
PERMIT = str(Path(sys.executable).parent / "permit")


def row(number: str, **cells: str) -> list[str]:
    base = {"number": number, "holder_id": "0312345678", "holder_name": "Công ty TNHH Thực phẩm Sạch Bình Minh",
            "holder_address": "128 Nguyễn Thị Minh Khai, Phường Xuân Hòa, TP. Hồ Chí Minh",
            "activities": "Sản xuất, chế biến thực phẩm|Bán lẻ thực phẩm", "conditions": "",
            "valid_from": "01/06/2025", "valid_until": "2028-05-31"}
    base.update(cells)
    return [base[name] for name in HEADER]


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER, bom: bool = True) -> Path:
    with path.open("w", encoding="utf-8-sig" if bom else "utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run_import(city: City, path: Path, batch_size: int = 3) -> object:
    ledger = city.home.ledger("hcm-syt", create=True)
    try:
        return import_csv(ledger, city.registry, city.signers["hcm-syt"], path, "hcm-syt", "food-safety",
                          "officer", NOW, batch_size=batch_size)
    finally:
        ledger.close()


def test_good_and_bad_rows(city: City, tmp_path: Path) -> None:
    city.issue(number="EXISTING-1")
    rows = [
        row("A-1"),
        row("A-2", valid_until="31/12/2027", holder_name=unicodedata.normalize("NFD", "Hộ kinh doanh Phở Đức")),
        row("A-3", valid_until="2028-13-01"),  # no 13th month
        row("A-4", holder_name="   "),
        row("A-1"),  # a number already used earlier in this file
        row("EXISTING-1"),  # a number the ledger already holds
        row("A-5", holder_name="Công ty\u202e TNHH"),
        row("A-6", valid_until="2035-01-01"),  # longer than a food-safety certificate may be valid
        ["A-7", "only three cells", "x"],
        row("A-8", holder_id="079 123 456"),
        row("A-9"),
    ]
    report = run_import(city, write_csv(tmp_path / "old.csv", rows))
    assert (report.rows, report.imported, report.rejected) == (11, 3, 8)  # type: ignore[attr-defined]
    ledger = city.home.ledger("hcm-syt")
    imported = {r.permit.number: r.permit for r in ledger.find(limit=50)}
    assert set(imported) == {"EXISTING-1", "A-1", "A-2", "A-9"}
    assert imported["A-2"].holder_name == "Hộ kinh doanh Phở Đức"  # NFC
    with report.rejected_file.open(encoding="utf-8-sig", newline="") as handle:  # type: ignore[attr-defined]
        rejected = list(csv.DictReader(handle))
    assert [(r["line"], r["error"].split(":")[0]) for r in rejected] == [
        ("4", "bad_dates"), ("5", "missing_value"), ("6", "duplicate_permit_number"), ("7", "duplicate_permit_number"),
        ("8", "bad_text"), ("9", "validity_too_long"), ("10", "bad_row"), ("11", "bad_holder_id"),
    ]
    assert rejected[0]["number"] == "A-3" and rejected[0]["valid_until"] == "2028-13-01"


def test_the_rejected_file_can_be_fixed_and_imported_again(city: City, tmp_path: Path) -> None:
    report = run_import(city, write_csv(tmp_path / "old.csv", [row("B-1"), row("B-2", valid_until="31/02/2028")]))
    fixed = report.rejected_file.read_text(encoding="utf-8-sig").replace("31/02/2028", "28/02/2028")  # type: ignore[attr-defined]
    again = tmp_path / "fixed.csv"
    again.write_text(fixed, encoding="utf-8-sig")
    second = run_import(city, again)
    assert (second.imported, second.rejected) == (1, 0)  # type: ignore[attr-defined]


def test_the_rejected_file_gives_back_every_value_a_spreadsheet_would_take_for_a_formula(city: City, tmp_path: Path) -> None:
    """Such names are legitimate and issued as they are; only in the rejected-rows file do they
    carry a ', which the import takes off again."""
    values = {"holder_name": ["@Home Café", "+84 Coffee", "=Phở 24", "-Bánh mì-", "'Sài Gòn' Bakery"],
              "activities": ["- Bán lẻ thực phẩm|- Sản xuất", "+ Bán mang về", "@quầy", "=", "'Bánh mì' Sài Gòn"],
              "holder_address": ["@tầng 2, 12 Lê Lợi", "+1 Nguyễn Huệ", "-", "=B1", "'tầng trệt' 5 Pasteur"]}
    rows = [row(f"R-{i}", valid_until="31/02/2028", **{column: values[column][i] for column in values}) for i in range(5)]
    first = run_import(city, write_csv(tmp_path / "old.csv", rows))
    assert first.rejected == 5  # type: ignore[attr-defined]
    # The officer opens the file in a spreadsheet, fixes the date and saves it: the ' stay.
    with first.rejected_file.open(encoding="utf-8-sig", newline="") as handle:  # type: ignore[attr-defined]
        fixed = [dict(r, valid_until="28/02/2028") for r in csv.DictReader(handle)]
    assert fixed[0]["holder_name"] == "'@Home Café" and fixed[4]["holder_name"] == "'Sài Gòn' Bakery"
    again = tmp_path / "fixed.csv"
    with again.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, list(fixed[0]))
        writer.writeheader()
        writer.writerows(fixed)
    second = run_import(city, again)
    assert (second.imported, second.rejected) == (5, 0)  # type: ignore[attr-defined]
    ledger = city.home.ledger("hcm-syt")
    issued = {r.permit.number: r.permit for r in ledger.find(limit=10)}
    for i in range(5):
        permit = issued[f"R-{i}"]
        assert permit.holder_name == values["holder_name"][i]
        assert permit.holder_address == values["holder_address"][i]
        assert "|".join(permit.activities) == values["activities"][i]


@given(st.text(alphabet=st.sampled_from("'=+-@\t\r a|Đ\"\n,"), max_size=12))
def test_neutralising_a_cell_never_leaves_a_formula_and_restoring_gives_it_back(cell: str) -> None:
    safe = neutralise(cell)
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert restore(safe) == cell
    assert safe == cell or safe == "'" + cell


def test_a_csv_written_here_reads_back_as_it_was_written(tmp_path: Path) -> None:
    rows = [["=1+1", "+", "-", "@", "\tx", "\ry", "'=z", "''-w", "'ok", "plain", "a\nb"], ["", "0", "Đ", '"', "'", "''", "=\"", "-1", "x", "y", "z"]]
    path = tmp_path / "out.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        Writer(handle).writerows(rows)
    with path.open(encoding="utf-8", newline="") as handle:
        assert [[restore(cell) for cell in cells] for cells in csv.reader(handle)] == rows


def test_a_row_over_several_lines_is_numbered_by_its_first(city: City, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "old.csv", [row("M-1", activities="Sản xuất|\nBán lẻ|\nBán mang về"), row("M-2"),
                                            row("M-3", valid_until="\n2028-13-01")])
    report = run_import(city, path)
    assert (report.imported, report.rejected) == (2, 1)  # type: ignore[attr-defined]
    ledger = city.home.ledger("hcm-syt")
    records = {r.permit.number: r for r in ledger.find(limit=10)}
    assert records["M-1"].permit.activities == ("Sản xuất", "Bán lẻ", "Bán mang về")
    assert [e.reason for e in ledger.events(records["M-1"].permit.id)] == ["imported: line 2"]
    assert [e.reason for e in ledger.events(records["M-2"].permit.id)] == ["imported: line 5"]
    assert [(line, reason) for line, reason, _, _ in ledger.import_rejects(report.source)] == [(6, "bad_dates")]  # type: ignore[attr-defined]


@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
@pytest.mark.parametrize(("length", "reason"), [(131_072, "bad_text"), (131_073, "line_too_long")])
def test_a_line_is_too_long_only_past_131072_characters_whatever_its_line_break(
        city: City, tmp_path: Path, newline: str, length: int, reason: str) -> None:
    long_line = "L-1,0312345678,2028-05-31,"
    long_line += "x" * (length - len(long_line))
    path = tmp_path / "old.csv"
    path.write_text(newline.join(["number,holder_id,valid_until,holder_name", long_line, "L-2,0312345678,2028-05-31,Công ty Đức", ""]),
                    encoding="utf-8", newline="")
    report = run_import(city, path)
    assert (report.imported, report.rejected) == (1, 1)  # type: ignore[attr-defined]
    ledger = city.home.ledger("hcm-syt")
    assert [(line, why) for line, why, _, _ in ledger.import_rejects(report.source)] == [(2, reason)]  # type: ignore[attr-defined]
    (imported,) = ledger.find()
    assert [e.reason for e in ledger.events(imported.permit.id)] == ["imported: line 3"]


def test_imported_permits_verify(city: City, tmp_path: Path) -> None:
    run_import(city, write_csv(tmp_path / "old.csv", [row(f"C-{i}") for i in range(7)]))
    city.publish_status("hcm-syt")
    ledger = city.home.ledger("hcm-syt")
    records = ledger.find(limit=10)
    assert len(records) == 7
    assert {verify(r.token, city.registry, city.lists, NOW).status for r in records} == {"valid"}
    assert len({r.permit.status_index for r in records}) == 7
    events = [e.reason for r in records for e in ledger.events(r.permit.id)]
    assert sorted(events) == sorted(f"imported: line {i}" for i in range(2, 9))


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (["number", "holder_id", "holder_name"], "bad_columns"),  # valid_until missing
        ([*HEADER, "tax_code"], "bad_columns"),  # an unknown column is a mapping mistake
        (["so_giay_phep", *HEADER[1:]], "bad_columns"),
    ],
)
def test_columns_must_be_the_documented_ones(city: City, tmp_path: Path, header: list[str], reason: str) -> None:
    path = write_csv(tmp_path / "old.csv", [], header=header)
    with pytest.raises(InputError) as refused:
        run_import(city, path)
    assert refused.value.reason == reason
    assert set(COLUMNS) >= {"number", "valid_until"}


def test_a_file_separated_by_semicolons_is_read_as_a_spreadsheet_in_a_vietnamese_locale_saves_it(city: City, tmp_path: Path) -> None:
    """Where "," is the decimal sign (a Vietnamese locale among others) a spreadsheet saves "CSV"
    with ";": such a file imports, commas inside its cells and all, and its rejected rows are
    written back with ";", to fix and import again."""
    path = tmp_path / "old.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, delimiter=";")
        writer.writerow(HEADER)
        writer.writerows([row("S-1"), row("S-2", holder_address="260C Pasteur, Phường Xuân Hòa; TP. Hồ Chí Minh"), row("S-3", holder_id="")])
    report = run_import(city, path)
    assert (report.imported, report.rejected) == (2, 1)  # type: ignore[attr-defined]
    with city.home.ledger("hcm-syt") as ledger:
        imported = {r.permit.number: r.permit for r in ledger.find(limit=10)}
    assert imported["S-2"].holder_address == "260C Pasteur, Phường Xuân Hòa; TP. Hồ Chí Minh"
    assert imported["S-1"].activities == ("Sản xuất, chế biến thực phẩm", "Bán lẻ thực phẩm")
    rejected = report.rejected_file  # type: ignore[attr-defined]
    assert rejected.read_text(encoding="utf-8-sig").splitlines()[0] == ";".join([*COLUMNS, "line", "error"])
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(rejected.read_text(encoding="utf-8-sig").replace(";;Công ty", ";0312345678;Công ty"), encoding="utf-8-sig")
    assert run_import(city, fixed).imported == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("header", "separator", "message"),
    [
        (["so_giay_phep", *HEADER[1:]], ";", f", read as separated by semicolons: columns must be among {', '.join(COLUMNS)}; "
         "unknown: so_giay_phep; missing: number"),
        (HEADER, "\t", ": the columns seem separated by tabs; save the file as CSV, with commas or semicolons"),
        (HEADER, "|", f": columns must be among {', '.join(COLUMNS)}; unknown: {'|'.join(HEADER)}; "
         "missing: number, valid_until, holder_id, holder_name"),
    ],
    ids=["semicolons-with-a-wrong-column", "tabs", "another-separator"],
)
def test_a_header_of_another_separator_is_bad_columns_saying_how_it_was_read(
    env_home: City, tmp_path: Path, header: list[str], separator: str, message: str
) -> None:
    path = tmp_path / "old.csv"
    path.write_text(separator.join(header) + "\n" + separator.join(row("T-1")) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["import", str(path), "--agency", "hcm-syt", "--type", "food-safety"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"Error: [bad_columns] {path}{message}\n"
    assert not city_has_permits(env_home)


@pytest.mark.parametrize(
    ("first_line", "reason"),
    [('number,holder_id,"holder_name,valid_until', "unbalanced_quote"), ("number,holder_id," + "x" * 131_073, "line_too_long")],
)
def test_a_header_that_cannot_be_read_is_one_line_with_its_reason(env_home: City, tmp_path: Path, first_line: str, reason: str) -> None:
    path = tmp_path / "old.csv"
    path.write_text(first_line + "\nD-1,0312345678,Công ty Đức,2028-01-01\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["import", str(path), "--agency", "hcm-syt", "--type", "food-safety"])
    assert result.exit_code == 2
    assert result.output.startswith(f"Error: [{reason}] ") and len(result.output.strip().splitlines()) == 1, result.output
    assert not city_has_permits(env_home)


def city_has_permits(city: City) -> bool:
    if not city.home.ledger_path("hcm-syt").exists():
        return False
    ledger = city.home.ledger("hcm-syt")
    try:
        return bool(ledger.find())
    finally:
        ledger.close()


def test_a_file_that_is_not_utf8_imports_nothing(city: City, tmp_path: Path) -> None:
    path = tmp_path / "old.csv"
    text = "number,holder_id,holder_name,valid_until\nD-1,0312345678,Công ty Đức,2028-01-01\n"
    path.write_bytes(text.encode("cp1258", errors="replace"))
    with pytest.raises(InputError) as refused:
        run_import(city, path)
    assert refused.value.reason == "bad_encoding"
    assert not city.home.ledger_path("hcm-syt").exists() or not city.home.ledger("hcm-syt").find()


def test_without_bom_and_in_any_column_order(city: City, tmp_path: Path) -> None:
    header = ["Valid_Until ", "holder_name", "number", "holder_id"]
    path = write_csv(tmp_path / "old.csv", [["2028-01-01", "Công ty Cổ phần Cà phê Phố Cổ", "E-1", "0318765432"]], header=header, bom=False)
    assert run_import(city, path).imported == 1  # type: ignore[attr-defined]


def test_running_the_same_file_again_imports_nothing_twice(city: City, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "old.csv", [row(f"F-{i}") for i in range(10)] + [row("F-bad", holder_name="")])
    first = run_import(city, path)
    second = run_import(city, path)
    assert (first.imported, second.imported, second.resumed_after, second.total_imported, second.rejected) == (10, 0, 12, 10, 1)  # type: ignore[attr-defined]


def test_cli_import_shows_progress_with_rate_and_eta(env_home: City, tmp_path: Path) -> None:
    # The CLI reads the real clock: a registry published on it, not on the fixtures' clock.
    operator.publish(env_home.home, passphrase, int(time.time()))
    path = write_csv(tmp_path / "old.csv", [row(f"G-{i}") for i in range(25)])
    result = CliRunner().invoke(cli, ["import", str(path), "--agency", "hcm-syt", "--type", "food-safety", "--batch-size", "10"],
                                catch_exceptions=False, env={"PERMIT_HOME": str(env_home.home.path), "PERMIT_PASSPHRASE": PASSPHRASE.decode()})
    assert result.exit_code == 0, result.output
    assert "rows/s" in result.stderr and "ETA" in result.stderr and "100.0%" in result.stderr
    assert "Imported 25 permit(s)" in result.stdout



@pytest.mark.parametrize("ending", ["finished", "interrupted"])
def test_an_import_gives_the_ledger_back_as_single_issues_need_it(city: City, tmp_path: Path, ending: str) -> None:
    """An import commits without waiting for the disk, with a smaller page cache and a larger
    log; however it ends (Ctrl-C included), the connection is given back waiting for the disk
    again (a permit an officer hands out must survive a power cut) and the log folded back."""
    path = write_csv(tmp_path / "old.csv", [row(f"D-{i}") for i in range(10)])

    def interrupt(done: int, total: int) -> None:
        if ending == "interrupted":
            raise KeyboardInterrupt

    ledger = city.home.ledger("hcm-syt", create=True)
    before = {name: ledger.db.conn.execute(f"PRAGMA {name}").fetchone()[0]
              for name in ("synchronous", "cache_size", "wal_autocheckpoint")}
    try:
        if ending == "interrupted":
            with pytest.raises(KeyboardInterrupt):
                import_csv(ledger, city.registry, city.signers["hcm-syt"], path, "hcm-syt", "food-safety", "officer", NOW,
                           batch_size=3, progress=interrupt)
        else:
            import_csv(ledger, city.registry, city.signers["hcm-syt"], path, "hcm-syt", "food-safety", "officer", NOW,
                       batch_size=3, progress=interrupt)
        after = {name: ledger.db.conn.execute(f"PRAGMA {name}").fetchone()[0] for name in before}
        imported = ledger.db.conn.execute("SELECT COUNT(*) FROM permits").fetchone()[0]
        wal = city.home.ledger_path("hcm-syt").with_name("hcm-syt.db-wal").stat().st_size
    finally:
        ledger.close()
    assert before == {"synchronous": 2, "cache_size": -2000, "wal_autocheckpoint": 1000}  # FULL
    assert after == before
    assert imported == (3 if ending == "interrupted" else 10)
    assert wal == 0  # folded back while the ledger is still open

# --- killed mid-import -------------------------------------------------------------------------------


def count(db: Path, sql: str) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute(sql).fetchone()[0])


def test_an_import_killed_with_sigkill_finishes_on_the_next_run(city: City, tmp_path: Path) -> None:
    home = city.home.path
    env = {**os.environ, "PERMIT_HOME": str(home), "PERMIT_PASSPHRASE": PASSPHRASE.decode(), "PERMIT_OFFICER": "importer"}
    # A registry current on the real clock, for the subprocesses.
    subprocess.run([PERMIT, "registry", "publish"], env=env, check=True, capture_output=True)
    total = 12_000
    bad = {17, 4_444, 9_001}  # data rows that must be refused, each exactly once
    open_quote = {2_501, 7_777}  # data rows written with a quote that never closes: refused too
    rows = [row(f"K-{i:05d}", holder_name="" if i in bad else f"Công ty TNHH Thương mại số {i}",
                # every 500th row runs over three lines
                activities="Sản xuất|\nBán lẻ|\nBán mang về" if i % 500 == 0 else "Sản xuất, chế biến thực phẩm")
            for i in range(total)]
    path = write_csv(tmp_path / "paper-permits.csv", rows)
    text = path.read_text(encoding="utf-8-sig")
    for i in open_quote:
        text = text.replace(f"K-{i:05d},0312345678,", f'K-{i:05d},0312345678,"', 1)
    path.write_text(text, encoding="utf-8-sig")
    bad |= open_quote
    db = city.home.ledger_path("hcm-syt")
    command = [PERMIT, "import", str(path), "--agency", "hcm-syt", "--type", "food-safety", "--batch-size", "200", "--json"]

    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    committed = 0
    while time.monotonic() < deadline and process.poll() is None:
        if db.exists():
            try:
                committed = count(db, "SELECT COUNT(*) FROM permits")
            except sqlite3.OperationalError:
                committed = 0
        if committed >= 2_000:
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)  # the importer and its signing process, mid-batch
    process.communicate()
    at_kill = count(db, "SELECT COUNT(*) FROM permits")
    assert 0 < at_kill < total - len(bad), "the kill must land in the middle of the import"

    finished = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["resumed_after_line"] > 1
    assert report["rejected"] == len(bad)
    assert report["imported"] + report["already_imported"] == total - len(bad)

    permits = count(db, "SELECT COUNT(*) FROM permits WHERE number LIKE 'K-%'")
    assert permits == total - len(bad)  # none lost, none twice
    assert count(db, "SELECT COUNT(DISTINCT number) FROM permits WHERE number LIKE 'K-%'") == permits
    assert count(db, "SELECT COUNT(*) FROM versions") == count(db, "SELECT COUNT(DISTINCT status_index) FROM versions")
    assert count(db, "SELECT COUNT(*) FROM events WHERE reason LIKE 'imported:%'") == permits
    assert count(db, "SELECT COUNT(*) FROM import_rejects") == len(bad)
    assert count(db, "SELECT COUNT(*) FROM import_rejects WHERE reason = 'unbalanced_quote'") == len(open_quote)
    missing = {f"K-{i:05d}" for i in range(total) if i not in bad} - {
        r[0] for r in sqlite3.connect(f"file:{db}?mode=ro", uri=True).execute("SELECT number FROM permits")}
    assert missing == set()


def test_a_permit_issued_meanwhile_keeps_its_id_and_status_index(city: City, tmp_path: Path) -> None:
    """Another officer's permit is committed between the moment a batch was drafted and the
    moment it is written, with the very id and status index the batch's first row was given:
    that row is drafted and signed again under fresh ones; nothing is lost or shared."""
    ledger = city.home.ledger("hcm-syt", create=True)
    original = ledger.insert_imported
    taken: dict[str, object] = {}

    def officer_commits_first(permits: list[ImportedPermit], *args: object) -> None:
        if not taken:
            first = permits[0]  # (its token: any will do)
            taken.update(id=first.id, index=first.status_index)
            ledger.db.conn.execute(
                "INSERT INTO permits (id, number, type, holder_id, holder_name, state, current_version, created_at)"
                " VALUES (?, 'OTHER-1', 'food-safety', '0399999999', 'Hộ kinh doanh Khác', 'active', 1, ?)", (first.id, NOW))
            ledger.db.conn.execute(
                "INSERT INTO versions (permit_id, version, status_index, status, kid, issued_at, valid_until, token)"
                " VALUES (?, 1, ?, 0, 'other', ?, ?, ?)", (first.id, first.status_index, first.issued_at, first.valid_until, first.token))
        original(permits, *args)  # type: ignore[arg-type]

    ledger.insert_imported = officer_commits_first  # type: ignore[method-assign]
    try:
        report = import_csv(ledger, city.registry, city.signers["hcm-syt"], write_csv(tmp_path / "old.csv", [row(f"D-{i}") for i in range(4)]),
                            "hcm-syt", "food-safety", "officer", NOW, batch_size=10)
    finally:
        ledger.close()
    assert (report.imported, report.rejected) == (4, 0)
    ledger = city.home.ledger("hcm-syt")
    # The other officer's permit is untouched.
    assert ledger.db.conn.execute("SELECT p.number, v.status_index, v.kid FROM permits p JOIN versions v ON v.permit_id = p.id"
                                  " WHERE p.id = ?", (taken["id"],)).fetchall() == [("OTHER-1", taken["index"], "other")]
    imported = [ledger.get(permit_id) for (permit_id,) in ledger.db.conn.execute("SELECT id FROM permits WHERE number LIKE 'D-%'")]
    assert sorted(r.permit.number for r in imported) == ["D-0", "D-1", "D-2", "D-3"]
    assert taken["id"] not in {r.permit.id for r in imported}
    assert taken["index"] not in {r.permit.status_index for r in imported}
    city.publish_status("hcm-syt")
    assert {verify(r.token, city.registry, city.lists, NOW).status for r in imported} == {"valid"}
