"""Bulk import of existing (paper) permits from a CSV file into signed e-permits.

The file: UTF-8, with or without a byte-order mark (as spreadsheets export it), comma
separated, a header row naming the columns (any order, case and surrounding spaces ignored):

    number          the permit number as printed (required; unique in the agency)
    holder_id       the holder's registration code (required)
    holder_name     (required)
    holder_address
    activities      several separated by "|"
    conditions      several separated by "|"
    valid_from      YYYY-MM-DD or DD/MM/YYYY (default: the day of the import)
    valid_until     YYYY-MM-DD or DD/MM/YYYY (required)

Every row is checked like `permit issue`; a bad row is recorded with its line number and reason
and the import goes on. Rows are committed in batches, one transaction each, together with a
record of which line of which file (by SHA-256) they came from. An import killed at any moment
(kill -9 included) and run again resumes after the last line recorded: nothing is lost, nothing
is imported twice, and no status index is reused, because indexes are allocated from what the
ledger holds and only committed with their permits.

With a `signer_loader`, rows are checked and signed in worker processes (one per core) while
this one reads the file and writes the ledger: signing is half of the work, checking most of
the rest.
"""

from __future__ import annotations

import base64
import codecs
import csv
import hashlib
import json
import os
import re
import sqlite3
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import date
from functools import partial
from multiprocessing import get_context
from pathlib import Path

from keys.errors import InputError, PermitError
from keys.registry import PermitType, Registry
from keys.signer import Signer
from keys.text import normalise_text
from permits.issuing import IssueRequest, check_authority, draft_permit
from permits.ledger import ID_ALPHABET, PERMIT_ID_LENGTH, Ledger
from permits.status_list import MIN_SIZE
from permits.token import claims_json, sign_claims

COLUMNS = ("number", "holder_id", "holder_name", "holder_address", "activities", "conditions", "valid_from", "valid_until")
REQUIRED = ("number", "holder_id", "holder_name", "valid_until")
# The rejected-rows file adds these two columns; importing it again (once fixed) ignores them.
REPORT_COLUMNS = ("line", "error")
LIST_SEPARATOR = "|"
BATCH_SIZE = 5000
# RFC 4648 base32 letters → the ledger's id letters: 5 random bytes become an id in two C calls.
_BASE32_TO_ID = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ID_ALPHABET)
_ID_BYTES = PERMIT_ID_LENGTH * 5 // 8
assert _ID_BYTES * 8 == PERMIT_ID_LENGTH * 5, "whole bytes make a whole id"
Progress = Callable[[int, int], None]
SignerLoader = Callable[[], Signer]


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
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


_ISO_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_VN_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")


def _date(text: str, column: str) -> date:
    """YYYY-MM-DD, or DD/MM/YYYY as Vietnamese spreadsheets write dates (strptime is ten times
    slower, and a million rows have three dates each)."""
    try:
        if match := _ISO_DATE.fullmatch(text):
            return date(int(match[1]), int(match[2]), int(match[3]))
        if match := _VN_DATE.fullmatch(text):
            return date(int(match[3]), int(match[2]), int(match[1]))
    except ValueError:
        pass
    raise _RowError("bad_dates", f"{column} {text!r} is not a date (YYYY-MM-DD or DD/MM/YYYY)")


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
        raise InputError(f"{path} does not exist", reason="bad_import_file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path} is not UTF-8 text; save it as 'CSV UTF-8'", reason="bad_encoding") from None
    return digest.hexdigest(), max(lines - 1, 0)


def _rows(path: Path) -> Iterator[tuple[int, list[str] | None, list[str]]]:
    """(line number, the cells in COLUMNS order or None when the row has the wrong number of
    cells, the row as written) for each data row."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = [name.strip().lower() for name in next(reader)]
        except StopIteration:
            raise InputError(f"{path} is empty", reason="bad_import_file") from None
        unknown = [name for name in header if name not in COLUMNS and name not in REPORT_COLUMNS]
        missing = [name for name in REQUIRED if name not in header]
        if unknown or missing or len(set(header)) != len(header):
            raise InputError(
                f"{path}: columns must be among {', '.join(COLUMNS)}; "
                f"unknown: {', '.join(unknown) or '-'}; missing: {', '.join(missing) or '-'}",
                reason="bad_columns",
            )
        # Where each of COLUMNS is in this file's rows (None: not given).
        positions = [header.index(column) if column in header else None for column in COLUMNS]
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                yield line, None, row
                continue
            ordered = [row[at] if at is not None else "" for at in positions]
            yield line, ordered, ordered


def _request(cells: list[str] | None, agency: str, type_code: str) -> IssueRequest:
    if cells is None:
        raise _RowError("bad_row", "wrong number of cells for the header")
    fields = dict(zip(COLUMNS, cells, strict=True))
    def items(column: str) -> tuple[str, ...]:
        return tuple(part for part in (p.strip() for p in fields.get(column, "").split(LIST_SEPARATOR)) if part)
    for column in REQUIRED:
        if not fields.get(column, "").strip():
            raise _RowError("missing_value", f"{column} is empty")
    valid_from = fields.get("valid_from", "").strip()
    return IssueRequest(
        agency=agency,
        type=type_code,
        number=fields["number"],
        holder_id=fields["holder_id"],
        holder_name=fields["holder_name"],
        holder_address=fields.get("holder_address") or None,
        activities=items("activities"),
        conditions=items("conditions"),
        valid_from=_date(valid_from, "valid_from") if valid_from else None,
        valid_until=_date(fields["valid_until"].strip(), "valid_until"),
    )


class _Allocator:
    """Random status indexes never used before, and fresh permit ids, from what the ledger holds.
    The list doubles when half full, as for single issues. Randomness comes from the OS
    (os.urandom, as `secrets` does), drawn 64 KiB at a time rather than one call per number."""

    def __init__(self, ledger: Ledger) -> None:
        self._random = b""
        self._offset = 0
        self.size = max(ledger.status_list_size, MIN_SIZE)
        assert self.size & (self.size - 1) == 0, "status lists grow by doubling from a power of two"
        self.used = bytearray(self.size)
        self.count = 0
        for index in ledger.used_status_indexes():
            self.mark(index)

    def mark(self, index: int) -> None:
        while index >= self.size:
            self.grow()
        if not self.used[index]:
            self.used[index] = 1
            self.count += 1

    def grow(self) -> None:
        self.used.extend(bytes(self.size))
        self.size *= 2

    def _bytes(self, nbytes: int) -> bytes:
        if self._offset + nbytes > len(self._random):
            self._random, self._offset = os.urandom(65536), 0
        self._offset += nbytes
        return self._random[self._offset - nbytes : self._offset]

    def index(self) -> int:
        if self.count >= self.size // 2:
            self.grow()
        # The size is a power of two: masking 32 random bits gives a uniform index.
        while True:
            candidate = int.from_bytes(self._bytes(4), "big") & (self.size - 1)
            if not self.used[candidate]:
                self.mark(candidate)
                return candidate

    def permit_id(self) -> str:
        return base64.b32encode(self._bytes(_ID_BYTES)).decode("ascii").translate(_BASE32_TO_ID)


# --- drafting and signing, in worker processes -------------------------------------------------------

Reject = tuple[int, str, str, str]  # line, reason, message, the row's cells as JSON
# line, permit id, number, holder id, holder name, status index, issued at, valid until, token
Drafted = tuple[int, str, str, str, str, int, int, int, str]
Job = list[tuple[int, "list[str] | None", list[str], str, int]]  # line, cells (None: misfit), row, id, status index


@dataclass(frozen=True)
class _Context:
    """What drafting a row needs; sent once to each worker process."""

    agency: str
    type_code: str
    permit_type: PermitType
    now: int


def draft_and_sign(context: _Context, signer: Signer, job: Job) -> tuple[list[Drafted], list[Reject]]:
    """Check, normalise and sign each row, as `permit issue` does one."""
    drafted: list[Drafted] = []
    rejects: list[Reject] = []
    for line, cells, row, permit_id, index in job:
        try:
            permit = draft_permit(context.permit_type, _request(cells, context.agency, context.type_code), context.now, permit_id, index)
        except (_RowError, PermitError) as exc:
            rejects.append((line, str(exc.reason), exc.message, json.dumps(row, ensure_ascii=False)))
            continue
        token = sign_claims(claims_json(permit), signer)
        drafted.append((line, permit.id, permit.number, permit.holder_id, permit.holder_name, permit.status_index,
                        permit.issued_at, permit.valid_until, token))
    return drafted, rejects


_worker: tuple[_Context, Signer] | None = None


def _start_worker(context: _Context, loader: SignerLoader) -> None:
    global _worker
    _worker = (context, loader())


def _work(job: Job) -> tuple[list[Drafted], list[Reject]]:
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
) -> ImportReport:
    """Import `path` into the ledger. With a `signer_loader` (which loads the same key in another
    process), rows are checked and signed by `processes` worker processes (default: one per
    core) while this one reads the file and writes the ledger, in file order."""
    check_authority(registry, agency, type_code, signer, now)
    officer = normalise_text(officer, "officer", 100)
    context = _Context(agency, type_code, registry.permit_type(type_code), now)
    source, total = scan(path)
    resume_after = ledger.import_resume_line(source)
    allocator = _Allocator(ledger)
    imported = 0
    done = 0
    workers = 0 if signer_loader is None else (processes or os.cpu_count() or 1)
    pool = None
    if signer_loader is not None:
        start = partial(_start_worker, context, signer_loader)
        pool = ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=start)
    # Each batch in flight: its result (to come), its rows by line (kept here, not sent back), its last line.
    in_flight: deque[tuple[Future[tuple[list[Drafted], list[Reject]]] | tuple[list[Drafted], list[Reject]],
                           dict[int, list[str]], int]] = deque()

    def submit(chunk: list[tuple[int, list[str] | None, list[str]]]) -> None:
        job: Job = [(line, cells, row, allocator.permit_id(), allocator.index()) for line, cells, row in chunk]
        result = pool.submit(_work, job) if pool else draft_and_sign(context, signer, job)
        in_flight.append((result, {line: row for line, _, row in chunk}, chunk[-1][0]))

    def write_oldest() -> None:
        nonlocal imported
        pending, rows, last_line = in_flight.popleft()
        drafted, rejects = pending.result() if isinstance(pending, Future) else pending
        with ledger.transaction():
            try:
                # Usually nothing collides, and the batch goes in as it is.
                ledger.insert_imported(drafted, context.type_code, signer.kid, officer, now, source, last_line)
                kept = drafted
            except sqlite3.IntegrityError:
                kept, more = _settle(ledger, allocator, context, signer, drafted, rows)
                rejects = rejects + more
                ledger.insert_imported(kept, context.type_code, signer.kid, officer, now, source, last_line)
            ledger.insert_rejects(source, rejects)
            if allocator.size > ledger.status_list_size:
                ledger.set_status_list_size(allocator.size)
        imported += len(kept)

    try:
        with ledger.bulk_durability():
            chunk: list[tuple[int, list[str] | None, list[str]]] = []
            for row in _rows(path):
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
    rejected_file = _write_rejects(ledger, source, path) if rejected else None
    return ImportReport(source, total, imported, resume_after, rejected, total_imported, rejected_file)


def _settle(
    ledger: Ledger, allocator: _Allocator, context: _Context, signer: Signer, drafted: list[Drafted],
    rows: dict[int, list[str]],
) -> tuple[list[Drafted], list[Reject]]:
    """When a batch collided with the ledger: refuse numbers already used (in the ledger or
    earlier in this batch), and draft and sign again the rare row whose id or status index
    another officer's permit took since the batch was prepared."""
    taken_numbers = ledger.existing("number", [row[2] for row in drafted])
    taken_ids = ledger.existing("id", [row[1] for row in drafted])
    taken_indexes = ledger.existing("status_index", [row[5] for row in drafted])
    for index in taken_indexes:
        allocator.mark(index)  # so that no later batch is handed it either
    kept: list[Drafted] = []
    rejects: list[Reject] = []
    seen: set[str] = set()
    for row in drafted:
        line, permit_id, number = row[0], row[1], row[2]
        if number in taken_numbers or number in seen:
            rejects.append((line, "duplicate_permit_number", f"permit number {number!r} is already used",
                            json.dumps(rows[line], ensure_ascii=False)))
            continue
        seen.add(number)
        if permit_id in taken_ids or row[5] in taken_indexes:
            job: Job = [(line, rows[line], rows[line], allocator.permit_id(), allocator.index())]
            row = draft_and_sign(context, signer, job)[0][0]
        kept.append(row)
    return kept, rejects


def _write_rejects(ledger: Ledger, source: str, path: Path) -> Path:
    """The refused rows, in the import's own columns plus the line and the reason: the officer
    fixes them and imports this file again (the two extra columns are ignored)."""
    target = path.with_name(path.stem + ".rejected.csv")
    with target.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([*COLUMNS, *REPORT_COLUMNS])
        for line, reason, message, cells in ledger.import_rejects(source):
            row = json.loads(cells)
            row = row if len(row) == len(COLUMNS) else [*row[: len(COLUMNS)], *[""] * (len(COLUMNS) - len(row))]
            writer.writerow([*row, line, f"{reason}: {message}"])
    return target
