"""Bulk import of existing (paper) permits from a CSV file into signed e-permits.

The file: UTF-8, with or without a byte-order mark (as spreadsheets export it), separated by
commas or by semicolons (`separator`), a header row naming the columns (any order, case and
surrounding spaces ignored):

    number          the permit number as printed (required; unique in the agency)
    holder_id       the holder's registration code (required)
    holder_name     (required)
    holder_address
    activities      several separated by "|"
    conditions      several separated by "|"
    valid_from      DD/MM/YYYY, DD-MM-YYYY or YYYY-MM-DD (default: the day of the import)
    valid_until     DD/MM/YYYY, DD-MM-YYYY or YYYY-MM-DD (required; permits/days.py reads them)
    basis           the QR link (or token) of each permit the row's permit rests on, separated
                    by "|"; holder_id and holder_name may then be left empty (taken from it)

Every row is checked like `permit issue`; a bad row is recorded with its line number and reason
and the import goes on. A line that cannot even be read as a row is such a bad row too: one longer
than MAX_RECORD_CHARS (line_too_long), or one whose quotes do not pair up (unbalanced_quote). A
quoted cell may hold line breaks, so a row may run over several lines, but an open quote runs at
most MAX_RECORD_LINES lines and MAX_RECORD_CHARS characters, and must close where a cell ends
(before a comma or the end of a line): otherwise only the line it opened on is rejected, and
reading starts again at the next line, so one stray quote never swallows the rows after it.

The rejected rows are written out as CSV to be fixed and imported again; every cell a
spreadsheet would take for a formula is neutralised there (permits.spreadsheet), and the import
takes that neutralisation off again, in any file.

Rows are committed in batches, one transaction each, together with a record of which line (the
one a row starts on) of which file (by SHA-256) they came from. An import killed at any moment
(kill -9 included) and run again resumes after the last line recorded: nothing is lost, nothing
is imported twice, and no status index is reused, because indexes are allocated from what the
ledger holds and only committed with their permits.

With a `signer_loader`, rows are checked and signed in worker processes (one per core) while
this one reads the file and writes the ledger: signing is half of the work, checking most of
the rest.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import json
import os
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from multiprocessing import get_context
from pathlib import Path
from typing import NamedTuple, TextIO

from keys.errors import InputError, PermitError
from keys.reasons import N_, Reason
from keys.registry import PermitType, Registry
from keys.signer import Signer
from keys.text import normalise_text
from permits.days import parse_day
from permits.issuing import IssueRequest, check_authority, draft_permit
from permits.ledger import Allocator, ImportedPermit, Ledger, RejectedRow
from permits.model import Permit
from permits.spreadsheet import Writer, restore
from permits.token import claims_json, sign_claims, zip_for

COLUMNS = ("number", "holder_id", "holder_name", "holder_address", "activities", "conditions", "valid_from", "valid_until", "basis")
REQUIRED = ("number", "valid_until")
# Required too unless the file has a basis column: then they may come from the basis.
HOLDER = ("holder_id", "holder_name")
# The rejected-rows file adds these two columns; importing it again (once fixed) ignores them.
REPORT_COLUMNS = ("line", "error")
LIST_SEPARATOR = "|"
BATCH_SIZE = 5000
# How far one row may run. A row spans several lines only when a quoted cell holds line breaks;
# a row that can be imported needs about forty at most (twenty activities and twenty conditions,
# one a line) and far fewer characters than the csv module's own limit for one cell.
MAX_RECORD_LINES = 100
MAX_RECORD_CHARS = 131_072  # csv.field_size_limit()'s default
# What the rejected-rows file keeps of a line that could not be read as a row: as much as a
# spreadsheet's cell holds.
KEPT_OF_UNREADABLE_LINE = 32_767
Progress = Callable[[int, int], None]
SignerLoader = Callable[[], Signer]
# Verifies the text of a basis cell (a QR link or token) and gives its permit; PermitError when refused.
BasisReader = Callable[[str], Permit]


@dataclass(frozen=True)
class ImportReport:
    source: str  # SHA-256 of the file
    rows: int
    imported: int  # in this run
    resumed_after: int  # lines an earlier run had already recorded
    rejected: int  # in all runs of this file
    total_imported: int  # in all runs of this file
    rejected_file: Path | None


class _RowError(Exception):
    def __init__(self, reason: Reason, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


def scan(path: Path) -> tuple[str, int]:
    """SHA-256 of the file and its number of data rows; refuses a file that is not UTF-8 before
    anything is imported (a half-imported file that then changes would start over)."""
    digest = hashlib.sha256()
    lines = 0
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
                lines += chunk.count(b"\n")
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except FileNotFoundError:
        raise InputError(N_("{path} does not exist"), reason=Reason.BAD_IMPORT_FILE, path=path) from None
    except UnicodeDecodeError:
        raise InputError(N_("{path} is not UTF-8 text; save it as 'CSV UTF-8'"), reason=Reason.BAD_ENCODING, path=path) from None
    return digest.hexdigest(), max(lines - 1, 0)


@dataclass(frozen=True)
class _Unreadable:
    """Why a row has no cells to check (sent to the worker in place of the cells)."""

    reason: Reason
    message: str


_MISFIT = _Unreadable(Reason.BAD_ROW, "wrong number of cells for the header")


class _Lines:
    """The file's physical lines, for csv.reader: numbered, each row held to MAX_RECORD_LINES
    lines and MAX_RECORD_CHARS characters (_RowError past either), and able to hand out again
    the lines of a row that could not be read, after its first.

    A line is read with a bound, so that a line of a gigabyte is never held whole in memory.
    """

    def __init__(self, handle: TextIO) -> None:
        # Room for a line of MAX_RECORD_CHARS and its line break ("\r\n").
        self._read = partial(handle.readline, MAX_RECORD_CHARS + 2)
        self._again: deque[str] = deque()  # lines to hand out again, before the file's next
        self._recent: deque[str] = deque(maxlen=MAX_RECORD_LINES + 1)  # the current row's lines, at least
        self.number = 0  # of the last line handed out
        self.first = 1  # the line the current row started on; the reader of rows sets it
        self.at_end = False
        self.last = ""

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._again:
            line = self._again.popleft()
        else:
            line = self._read()
            if not line:
                self.at_end = True
                raise StopIteration
        self.number += 1
        self.last = line
        self._recent.append(line)
        if self.number > self.first or len(line) > MAX_RECORD_CHARS:
            self._bound(line)
        return line

    def _take(self) -> str:
        return self._again.popleft() if self._again else self._read()

    def _bound(self, line: str) -> None:
        held = self.number - self.first + 1
        if held > MAX_RECORD_LINES:
            raise _RowError(Reason.UNBALANCED_QUOTE, f"a quote on line {self.first} is not closed within {MAX_RECORD_LINES} lines")
        if held > 1:
            if sum(map(len, list(self._recent)[-held:])) > MAX_RECORD_CHARS:
                raise _RowError(Reason.UNBALANCED_QUOTE,
                                f"a quote on line {self.first} is not closed within {MAX_RECORD_CHARS:,} characters")
            return
        if len(line.rstrip("\r\n")) <= MAX_RECORD_CHARS:
            return
        # One line longer than any row may be: the rest of it is skipped, unread.
        piece = line
        while piece and piece[-1] not in "\r\n":
            piece = self._take()
        if piece.endswith("\r") and len(piece) == MAX_RECORD_CHARS + 2:
            # The bounded read may have cut a "\r\n" in two.
            after = self._take()
            if after and after != "\n":
                self._again.appendleft(after)
        raise _RowError(Reason.LINE_TOO_LONG, f"line {self.first} is longer than {MAX_RECORD_CHARS:,} characters")

    def quote_error(self) -> _RowError:
        """Why csv.reader (strict) refused the current row."""
        if self.at_end:
            return _RowError(Reason.UNBALANCED_QUOTE, f"a quote on line {self.first} is not closed before the end of the file")
        if self.number > self.first:
            return _RowError(Reason.UNBALANCED_QUOTE, f"a quote on line {self.first} is not closed where a cell ends "
                                                 f"(text follows a closing quote on line {self.number})")
        return _RowError(Reason.UNBALANCED_QUOTE, f"text follows a closing quote on line {self.first} "
                                             '(a quote inside a quoted cell is written twice: "")')

    def skip_row(self) -> str:
        """Give up the current row: its first line (without its line break, cut to
        KEPT_OF_UNREADABLE_LINE characters), and its other lines are handed out again."""
        held = list(self._recent)[-(self.number - self.first + 1):]
        self._again.extendleft(reversed(held[1:]))
        self.number, self.at_end = self.first, False
        return held[0].rstrip("\r\n")[:KEPT_OF_UNREADABLE_LINE]


SEPARATORS = (",", ";")


def _known_columns(line: str, separator: str) -> int:
    try:
        cells = next(csv.reader([line], delimiter=separator))
    except (csv.Error, StopIteration):
        return 0
    return sum(cell.strip().lower() in (*COLUMNS, *REPORT_COLUMNS) for cell in cells)


def separator(path: Path) -> str:
    """The file's separator: "," or ";", whichever splits its header row into more of the
    columns an import knows. A spreadsheet saves "CSV" with ";" where "," is the decimal sign, in
    a Vietnamese locale among others. No column name holds either, so the header tells them apart:
    read with the other one, it names no column at all (a file in which it names as many is
    read with ",")."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            first = handle.readline(MAX_RECORD_CHARS + 2)
    except (OSError, UnicodeDecodeError):
        return ","  # scan() says what is wrong with the file
    return ";" if _known_columns(first, ";") > _known_columns(first, ",") else ","


def _rows(path: Path, sep: str = ",") -> Iterator[tuple[int, list[str] | _Unreadable, list[str]]]:
    """(the line a row starts on, its cells in COLUMNS order or why it has none, the row as
    written) for each data row, with formula neutralisation taken off its cells."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        lines = _Lines(handle)
        # Strict: a quote closes a cell only before a separator or a line break, so that a quote
        # left open is found where it closes by mistake, not rows later.
        reader = csv.reader(lines, strict=True, delimiter=sep)
        try:
            header = [name.strip().lower() for name in next(reader)]
        except StopIteration:
            raise InputError(N_("{path} is empty"), reason=Reason.BAD_IMPORT_FILE, path=path) from None
        except (_RowError, csv.Error) as exc:
            problem = exc if isinstance(exc, _RowError) else lines.quote_error()
            raise InputError(f"{path}: the header cannot be read: {problem.message}", reason=problem.reason) from None
        unknown = [name for name in header if name not in COLUMNS and name not in REPORT_COLUMNS]
        missing = [name for name in REQUIRED + ((), HOLDER)["basis" not in header] if name not in header]
        if unknown or missing or len(set(header)) != len(header):
            if _known_columns(lines.last, "\t") > _known_columns(lines.last, sep):
                raise InputError(N_("{path}: the columns seem separated by tabs; save the file as CSV, with commas or semicolons"),
                                 reason=Reason.BAD_COLUMNS, path=path)
            raise InputError(
                N_("{path}: columns must be among {columns}; unknown: {unknown}; missing: {missing}") if sep == "," else
                N_("{path}, read as separated by semicolons: columns must be among {columns}; unknown: {unknown}; missing: {missing}"),
                reason=Reason.BAD_COLUMNS, path=path, columns=", ".join(COLUMNS), unknown=", ".join(unknown) or "-",
                missing=", ".join(missing) or "-")
        # Where each of COLUMNS is in this file's rows (None: not given).
        positions = [header.index(column) if column in header else None for column in COLUMNS]
        while True:
            lines.first = line = lines.number + 1
            try:
                row = next(reader)
            except StopIteration:
                return
            except (_RowError, csv.Error) as exc:
                problem = exc if isinstance(exc, _RowError) else lines.quote_error()
                yield line, _Unreadable(problem.reason, problem.message), [lines.skip_row()]
                continue
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield line, _MISFIT, row
                continue
            ordered = [row[at] if at is not None else "" for at in positions]
            # Only a cell that starts with ' can have been neutralised; most lines have none.
            if lines.number > line or "'" in lines.last:
                ordered = [restore(cell) for cell in ordered]
            yield line, ordered, ordered


def _request(cells: list[str] | _Unreadable, agency: str, type_code: str, basis: tuple[Permit, ...]) -> IssueRequest:
    if isinstance(cells, _Unreadable):
        raise _RowError(cells.reason, cells.message)
    fields = dict(zip(COLUMNS, cells, strict=True))
    def items(column: str) -> tuple[str, ...]:
        return tuple(part for part in (p.strip() for p in fields.get(column, "").split(LIST_SEPARATOR)) if part)
    for column in REQUIRED + ((), HOLDER)[not basis]:
        if not fields.get(column, "").strip():
            raise _RowError(Reason.MISSING_VALUE, f"{column} is empty")
    valid_from = fields.get("valid_from", "").strip()
    return IssueRequest(
        agency=agency,
        type=type_code,
        number=fields["number"],
        holder_id=fields["holder_id"] or None,
        holder_name=fields["holder_name"] or None,
        holder_address=fields.get("holder_address") or None,
        activities=items("activities"),
        conditions=items("conditions"),
        valid_from=parse_day(valid_from, "valid_from") if valid_from else None,
        valid_until=parse_day(fields["valid_until"], "valid_until"),
        basis=basis,
    )


def _with_bases(cells: list[str] | _Unreadable, reader: BasisReader | None) -> tuple[list[str] | _Unreadable, tuple[Permit, ...]]:
    """The permits a row's basis cell names, verified by `reader` here, in the reading process
    (it needs the home's registry and status lists); a basis refused makes the row unreadable."""
    if isinstance(cells, _Unreadable):
        return cells, ()
    given = [part.strip() for part in cells[COLUMNS.index("basis")].split(LIST_SEPARATOR) if part.strip()]
    if not given:
        return cells, ()
    if reader is None:
        return _Unreadable(Reason.BASIS_NOT_FOUND, "the basis column needs a home that can verify it"), ()
    try:
        return cells, tuple(reader(text) for text in given)
    except PermitError as exc:
        return _Unreadable(exc.reason, exc.message), ()


# --- drafting and signing, in worker processes -------------------------------------------------------

class _Task(NamedTuple):
    """One row to draft and sign, with the id and status index allocated to it."""

    line: int
    cells: list[str] | _Unreadable
    row: list[str]  # as written, for the rejected-rows file
    permit_id: str
    status_index: int
    basis: tuple[Permit, ...]  # verified by the reading process


Job = list[_Task]
Done = tuple[list[ImportedPermit], list[RejectedRow]]


@dataclass(frozen=True)
class _Context:
    """What drafting a row needs; sent once to each worker process."""

    agency: str
    type_code: str
    permit_type: PermitType
    now: int


def draft_and_sign(context: _Context, signer: Signer, job: Job) -> Done:
    """Check, normalise and sign each row, as `permit issue` does one."""
    drafted: list[ImportedPermit] = []
    rejects: list[RejectedRow] = []
    for task in job:
        try:
            request = _request(task.cells, context.agency, context.type_code, task.basis)
            permit = draft_permit(context.permit_type, request, context.now, task.permit_id, task.status_index)
        except (_RowError, PermitError) as exc:
            rejects.append(RejectedRow(task.line, str(exc.reason), exc.message, json.dumps(task.row, ensure_ascii=False)))
            continue
        token = sign_claims(claims_json(permit), signer, zip_for(permit))
        drafted.append(ImportedPermit(task.line, permit.id, permit.number, permit.holder_id, permit.holder_name,
                                      permit.status_index, permit.issued_at, permit.valid_until, token, permit.basis))
    return drafted, rejects


_worker: tuple[_Context, Signer] | None = None


def _start_worker(context: _Context, loader: SignerLoader) -> None:
    global _worker
    _worker = (context, loader())


def _work(job: Job) -> Done:
    assert _worker is not None
    return draft_and_sign(_worker[0], _worker[1], job)


def import_csv(
    ledger: Ledger,
    registry: Registry,
    signer: Signer,
    path: Path,
    agency: str,
    type_code: str,
    officer: str,
    now: int,
    *,
    batch_size: int = BATCH_SIZE,
    progress: Progress | None = None,
    signer_loader: SignerLoader | None = None,
    processes: int | None = None,
    basis_reader: BasisReader | None = None,
) -> ImportReport:
    """Import `path` into the ledger. With a `signer_loader` (which loads the same key in another
    process), rows are checked and signed by `processes` worker processes (default: one per
    core) while this one reads the file and writes the ledger, in file order."""
    check_authority(registry, agency, type_code, signer, now)
    officer = normalise_text(officer, "officer", 100)
    context = _Context(agency, type_code, registry.permit_type(type_code), now)
    source, total = scan(path)
    sep = separator(path)
    resume_after = ledger.import_resume_line(source)
    allocator = ledger.allocator()
    imported = 0
    done = 0
    workers = 0 if signer_loader is None else (processes or os.cpu_count() or 1)
    pool = None
    if signer_loader is not None:
        start = partial(_start_worker, context, signer_loader)
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=start)
    # Each batch in flight: its result (to come), its tasks by line (kept here, not sent back), its last line.
    in_flight: deque[tuple[Future[Done] | Done, dict[int, _Task], int]] = deque()

    def submit(chunk: list[tuple[int, list[str] | _Unreadable, list[str]]]) -> None:
        job = []
        for line, cells, row in chunk:
            checked, basis = _with_bases(cells, basis_reader)
            job.append(_Task(line, checked, row, allocator.permit_id(), allocator.index(), basis))
        result = pool.submit(_work, job) if pool else draft_and_sign(context, signer, job)
        in_flight.append((result, {task.line: task for task in job}, chunk[-1][0]))

    def write_oldest() -> None:
        nonlocal imported
        pending, tasks, last_line = in_flight.popleft()
        drafted, rejects = pending.result() if isinstance(pending, Future) else pending
        with ledger.transaction():
            try:
                # Usually nothing collides, and the batch goes in as it is.
                ledger.insert_imported(drafted, context.type_code, signer.kid, officer, now, source, last_line)
                kept = drafted
            except sqlite3.IntegrityError:
                kept, more = _settle(ledger, allocator, context, signer, drafted, tasks)
                rejects = rejects + more
                ledger.insert_imported(kept, context.type_code, signer.kid, officer, now, source, last_line)
            ledger.insert_rejects(source, rejects)
            ledger.keep_size(allocator)
        imported += len(kept)

    try:
        with ledger.bulk_durability():
            chunk: list[tuple[int, list[str] | _Unreadable, list[str]]] = []
            for row in _rows(path, sep):
                done += 1
                if row[0] <= resume_after:
                    continue
                chunk.append(row)
                if len(chunk) >= batch_size:
                    submit(chunk)
                    chunk = []
                    # Batches are committed in file order (a resumed import starts after the last
                    # line committed); a few stay in flight so every worker has one to do.
                    while len(in_flight) > workers:
                        write_oldest()
                        if progress:
                            progress(done, total)
            if chunk:
                submit(chunk)
            while in_flight:
                write_oldest()
        if progress:
            progress(max(done, total), max(done, total))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)

    total_imported, rejected = ledger.import_counts(source)
    rejected_file = _write_rejects(ledger, source, path, sep) if rejected else None
    return ImportReport(source, total, imported, resume_after, rejected, total_imported, rejected_file)


def _settle(
    ledger: Ledger, allocator: Allocator, context: _Context, signer: Signer, drafted: list[ImportedPermit],
    tasks: dict[int, _Task],
) -> Done:
    """When a batch collided with the ledger: refuse numbers already used (in the ledger or
    earlier in this batch), and draft and sign again the rare row whose id or status index
    another officer's permit took since the batch was prepared."""
    taken = ledger.taken(drafted)
    for index in taken.indexes:
        allocator.mark(index)  # so that no later batch is handed it either
    kept: list[ImportedPermit] = []
    rejects: list[RejectedRow] = []
    seen: set[str] = set()
    for permit in drafted:
        if permit.number in taken.numbers or permit.number in seen:
            rejects.append(RejectedRow(permit.line, Reason.DUPLICATE_PERMIT_NUMBER, f"permit number {permit.number!r} is already used",
                                       json.dumps(tasks[permit.line].row, ensure_ascii=False)))
            continue
        seen.add(permit.number)
        if permit.id in taken.ids or permit.status_index in taken.indexes:
            job = [tasks[permit.line]._replace(permit_id=allocator.permit_id(), status_index=allocator.index())]
            permit = draft_and_sign(context, signer, job)[0][0]
        kept.append(permit)
    return kept, rejects


def _write_rejects(ledger: Ledger, source: str, path: Path, sep: str = ",") -> Path:
    """The refused rows, in the import's own columns plus the line and the reason: the officer
    fixes them and imports this file again (the two extra columns are ignored). Safe to open in
    a spreadsheet: a cell that would be a formula there is neutralised, and the import takes the
    neutralisation off again."""
    target = path.with_name(path.stem + ".rejected.csv")
    with target.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = Writer(handle, sep)  # separated as the officer's own file was
        writer.writerow([*COLUMNS, *REPORT_COLUMNS])
        for line, reason, message, cells in ledger.import_rejects(source):
            row = json.loads(cells)
            row = row if len(row) == len(COLUMNS) else [*row[: len(COLUMNS)], *[""] * (len(COLUMNS) - len(row))]
            writer.writerow([*row, line, f"{reason}: {message}"])
    return target
