"""The agency's ledger: one SQLite database (WAL) per agency, through sqlite-utils.

Tables: `permits` (one row per permit: number, holder, state), `versions` (one row per signed
version: its token, which holds the signed claims, its status index and 2-bit status), `events` (append-only: issued,
amended, suspended, reinstated, revoked, reissued; who, when, why) and `meta`. Status indexes
are unique across the agency: an index is never reused, so a revoked permit can never be
revived by a new one landing on its bit.

Every change is one `BEGIN IMMEDIATE` transaction: it takes the write lock at the start, so two
officers issuing at once queue instead of failing half-way.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils
from sqlite_utils import Migrations

from keys.encoding import b64url_decode
from keys.errors import ConflictError, LedgerError, NotFoundError
from keys.reasons import Reason
from permits.model import Permit
from permits.status_list import MIN_SIZE, Status
from permits.token import inflate_claims

STATES = ("active", "suspended", "revoked")
# Crockford's base32 without I, L, O, U: permit ids are read aloud and typed by people.
ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PERMIT_ID_LENGTH = 8

migrations = Migrations("permit-ledger")


@migrations()
def create_tables(db: sqlite_utils.Database) -> None:
    db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        """CREATE TABLE permits (
            id TEXT PRIMARY KEY,
            number TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            holder_id TEXT NOT NULL,
            holder_name TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('active', 'suspended', 'revoked')),
            current_version INTEGER NOT NULL,
            created_at INTEGER NOT NULL)"""
    )
    db.execute(
        """CREATE TABLE versions (
            permit_id TEXT NOT NULL REFERENCES permits(id),
            version INTEGER NOT NULL,
            status_index INTEGER NOT NULL UNIQUE,
            status INTEGER NOT NULL DEFAULT 0 CHECK (status BETWEEN 0 AND 3),
            kid TEXT NOT NULL,
            issued_at INTEGER NOT NULL,
            valid_until INTEGER NOT NULL,
            token TEXT NOT NULL,
            PRIMARY KEY (permit_id, version))"""
    )
    db.execute("CREATE INDEX versions_status ON versions(status) WHERE status != 0")
    # No index on versions.kid: only re-issuing after a key compromise looks permits up by key,
    # rarely, and a scan does; every issue and import would pay for the index.
    db.execute(
        """CREATE TABLE events (
            seq INTEGER PRIMARY KEY,  -- rowid: increasing, and rows are never deleted
            permit_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN
                ('issued', 'amended', 'suspended', 'reinstated', 'revoked', 'reissued')),
            officer TEXT NOT NULL,
            at INTEGER NOT NULL,
            reason TEXT)"""
    )
    db.execute("CREATE INDEX events_permit ON events(permit_id)")
    # The event log is evidence: the database itself refuses to rewrite history.
    for action in ("UPDATE", "DELETE"):
        db.execute(
            f"""CREATE TRIGGER events_no_{action.lower()} BEFORE {action} ON events
                BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END"""
        )


@migrations()
def create_import_tables(db: sqlite_utils.Database) -> None:
    # Which line of which source file (by SHA-256) became which permit, or was refused and why:
    # an import that is interrupted resumes after the last line it recorded.
    # One row per committed batch: the last line it covered and how many permits it imported.
    db.execute(
        """CREATE TABLE import_batches (
            source TEXT NOT NULL, last_line INTEGER NOT NULL, imported INTEGER NOT NULL,
            PRIMARY KEY (source, last_line))"""
    )
    db.execute(
        """CREATE TABLE import_rejects (
            source TEXT NOT NULL, line INTEGER NOT NULL, reason TEXT NOT NULL, message TEXT NOT NULL, row TEXT NOT NULL,
            PRIMARY KEY (source, line))"""
    )


@dataclass(frozen=True)
class PermitRecord:
    """A permit as the ledger knows it: its current version and its state."""

    permit: Permit
    state: str
    token: str
    kid: str
    status: int


@dataclass(frozen=True)
class Event:
    seq: int
    permit_id: str
    version: int
    kind: str
    officer: str
    at: int
    reason: str | None


def _corrupt(path: Path, exc: Exception) -> LedgerError:
    return LedgerError(f"ledger {path} is unreadable or not a ledger ({exc})")


class Ledger:
    """One agency's ledger. Open with `Ledger.open` (existing) or `Ledger.create`."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.db = sqlite_utils.Database(conn)

    @classmethod
    def create(cls, path: Path, agency: str) -> Ledger:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            cls._build(path, agency)
        ledger = cls._connect(path)
        try:
            ledger.db.enable_wal()
            migrations.apply(ledger.db)  # an existing ledger made by an earlier version
            with ledger.transaction():
                if ledger._meta("agency") is None:
                    ledger._set_meta("agency", agency)
                    ledger._set_meta("status_list_size", str(MIN_SIZE))
        except sqlite3.DatabaseError as exc:
            raise _corrupt(path, exc) from None
        ledger.check_agency(agency)
        return ledger

    @classmethod
    def _build(cls, path: Path, agency: str) -> None:
        """Make a new ledger beside `path` and link it into place whole, so that no other
        process (a backup, a verifier, a second officer) ever opens a ledger half-made."""
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.new")
        try:
            ledger = cls._connect(tmp)
            try:
                ledger.db.enable_wal()
                migrations.apply(ledger.db)
                with ledger.transaction():
                    ledger._set_meta("agency", agency)
                    ledger._set_meta("status_list_size", str(MIN_SIZE))
            finally:
                ledger.close()  # the last connection checkpoints and removes the WAL
            try:
                os.link(tmp, path)  # never replaces: a ledger another process made first wins
            except FileExistsError:
                pass
        except sqlite3.DatabaseError as exc:
            raise _corrupt(path, exc) from None
        finally:
            for leftover in (tmp, tmp.with_name(tmp.name + "-wal"), tmp.with_name(tmp.name + "-shm")):
                leftover.unlink(missing_ok=True)

    @classmethod
    def open(cls, path: Path, agency: str) -> Ledger:
        if not path.exists():
            raise NotFoundError(f"no ledger for agency {agency} at {path}", reason=Reason.LEDGER_MISSING)
        ledger = cls._connect(path)
        try:
            tables = set(ledger.db.table_names())
            if not {"meta", "permits", "versions", "events"} <= tables:
                raise LedgerError(f"{path} is not a permit ledger")
            migrations.apply(ledger.db)
        except sqlite3.DatabaseError as exc:
            raise _corrupt(path, exc) from None
        ledger.check_agency(agency)
        return ledger

    @classmethod
    def _connect(cls, path: Path) -> Ledger:
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE) and nothing is
        # committed behind our back; timeout: wait for another officer's transaction.
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        return cls(path, conn)

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def check_agency(self, agency: str) -> None:
        owner = self._meta("agency")
        if owner != agency:
            raise LedgerError(f"{self.path} is the ledger of {owner}, not {agency}")

    @contextmanager
    def bulk_durability(self) -> Iterator[None]:
        """During a bulk import, commit without waiting for the disk (WAL, synchronous=NORMAL):
        a power cut may lose the last batches, never corrupt the ledger, and the import's own
        record of lines done makes running it again finish the job. Single issues keep FULL:
        a permit an officer has handed out must survive a power cut."""
        self._query("PRAGMA synchronous=NORMAL")
        # Permit ids and status indexes are random, so every insert lands somewhere else in the
        # indexes: a larger page cache (64 MiB) keeps them in memory, and the write-ahead log is
        # copied back into the database every 64 MiB rather than every 4 (each copy ends with an
        # fsync). Never less often: a page changed by every batch would go into the log each time.
        self._query("PRAGMA cache_size=-65536")
        self._query("PRAGMA wal_autocheckpoint=16384")
        try:
            yield
        finally:
            self._query("PRAGMA synchronous=FULL")
            self._query("PRAGMA cache_size=-2000")
            self._query("PRAGMA wal_autocheckpoint=1000")
            self._query("PRAGMA wal_checkpoint(TRUNCATE)")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        conn = self.db.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.DatabaseError as exc:
            raise _corrupt(self.path, exc) from None
        try:
            yield
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        try:
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            conn.execute("ROLLBACK")
            raise _corrupt(self.path, exc) from None

    def _query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        try:
            cursor = self.db.conn.execute(sql, params)
            return cursor.fetchall()
        except sqlite3.DatabaseError as exc:
            raise _corrupt(self.path, exc) from None

    def _meta(self, key: str) -> str | None:
        rows = self._query("SELECT value FROM meta WHERE key = ?", (key,))
        return rows[0][0] if rows else None

    def _set_meta(self, key: str, value: str) -> None:
        self._query("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", (key, value))

    # --- allocation (inside a transaction) ---------------------------------------------------

    @property
    def status_list_size(self) -> int:
        return int(self._meta("status_list_size") or MIN_SIZE)

    def allocate_status_index(self) -> int:
        """A random index never used before. The list doubles when half full, so a random
        probe finds a free slot in two tries on average, and indexes stay unpredictable."""
        size = self.status_list_size
        used = self._query("SELECT COUNT(*) FROM versions")[0][0]
        if used >= size // 2:
            size *= 2
            self._set_meta("status_list_size", str(size))
        while True:
            index = secrets.randbelow(size)
            if not self._query("SELECT 1 FROM versions WHERE status_index = ?", (index,)):
                return index

    def new_permit_id(self) -> str:
        while True:
            candidate = "".join(secrets.choice(ID_ALPHABET) for _ in range(PERMIT_ID_LENGTH))
            if not self._query("SELECT 1 FROM permits WHERE id = ?", (candidate,)):
                return candidate

    # --- writes (inside a transaction) ------------------------------------------------------

    def number_taken(self, number: str) -> bool:
        return bool(self._query("SELECT 1 FROM permits WHERE number = ?", (number,)))

    def insert_permit(self, permit: Permit, created_at: int) -> None:
        if self.number_taken(permit.number):
            raise ConflictError(f"permit number {permit.number!r} is already used", reason=Reason.DUPLICATE_PERMIT_NUMBER)
        self._query(
            "INSERT INTO permits (id, number, type, holder_id, holder_name, state, current_version, created_at)"
            " VALUES (?, ?, ?, ?, ?, 'active', ?, ?)",
            (permit.id, permit.number, permit.type, permit.holder_id, permit.holder_name, permit.version, created_at),
        )

    def insert_version(self, permit: Permit, token: str, kid: str) -> None:
        self._query(
            "INSERT INTO versions (permit_id, version, status_index, status, kid, issued_at, valid_until, token)"
            " VALUES (?, ?, ?, 0, ?, ?, ?, ?)",
            (permit.id, permit.version, permit.status_index, kid, permit.issued_at, permit.valid_until, token),
        )

    def set_current_version(self, permit: Permit) -> None:
        self._query(
            "UPDATE permits SET current_version = ?, holder_name = ? WHERE id = ?",
            (permit.version, permit.holder_name, permit.id),
        )

    def set_version_status(self, permit_id: str, version: int, status: Status) -> None:
        self._query("UPDATE versions SET status = ? WHERE permit_id = ? AND version = ?", (int(status), permit_id, version))

    def set_state(self, permit_id: str, state: str) -> None:
        self._query("UPDATE permits SET state = ? WHERE id = ?", (state, permit_id))

    def add_event(self, permit_id: str, version: int, kind: str, officer: str, at: int, reason: str | None) -> None:
        self._query(
            "INSERT INTO events (permit_id, version, kind, officer, at, reason) VALUES (?, ?, ?, ?, ?, ?)",
            (permit_id, version, kind, officer, at, reason),
        )

    # --- reads ------------------------------------------------------------------------------

    def get(self, permit_id: str) -> PermitRecord:
        rows = self._query(
            "SELECT p.state, v.token, v.kid, v.status FROM permits p"
            " JOIN versions v ON v.permit_id = p.id AND v.version = p.current_version WHERE p.id = ?",
            (permit_id,),
        )
        if not rows:
            raise NotFoundError(f"no permit {permit_id!r} in this ledger", reason=Reason.PERMIT_NOT_FOUND)
        state, token, kid, status = rows[0]
        # The token is what was signed; the permit is read back from it.
        return PermitRecord(Permit.from_claims(inflate_claims(b64url_decode(token.split(".")[1]))), state, token, kid, status)

    def find_by_number(self, number: str) -> str | None:
        rows = self._query("SELECT id FROM permits WHERE number = ?", (number,))
        return rows[0][0] if rows else None

    def find(self, state: str | None = None, type_code: str | None = None, limit: int = 100) -> list[PermitRecord]:
        sql = "SELECT id FROM permits WHERE 1=1"
        params: list[Any] = []
        if state:
            sql += " AND state = ?"
            params.append(state)
        if type_code:
            sql += " AND type = ?"
            params.append(type_code)
        sql += " ORDER BY created_at DESC, id LIMIT ?"
        params.append(limit)
        return [self.get(row[0]) for row in self._query(sql, tuple(params))]

    def events(self, permit_id: str) -> list[Event]:
        rows = self._query(
            "SELECT seq, permit_id, version, kind, officer, at, reason FROM events WHERE permit_id = ? ORDER BY seq",
            (permit_id,),
        )
        return [Event(*row) for row in rows]

    def status_entries(self) -> list[tuple[int, int]]:
        """(index, status) of every version whose status is not 0."""
        return [(row[0], row[1]) for row in self._query("SELECT status_index, status FROM versions WHERE status != 0")]

    # --- bulk import -------------------------------------------------------------------------

    def used_status_indexes(self) -> list[int]:
        return [row[0] for row in self._query("SELECT status_index FROM versions")]

    def set_status_list_size(self, size: int) -> None:
        self._set_meta("status_list_size", str(size))

    def existing(self, column: str, values: list[Any]) -> set[Any]:
        """Which of `values` the ledger already holds as a permit id, a permit number or a
        status index."""
        table = {"id": "permits", "number": "permits", "status_index": "versions"}[column]
        found: set[Any] = set()
        for start in range(0, len(values), 500):
            chunk = values[start : start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(row[0] for row in self._query(f"SELECT {column} FROM {table} WHERE {column} IN ({marks})", tuple(chunk)))
        return found

    def import_resume_line(self, source: str) -> int:
        """The last line of `source` an earlier run recorded (imported or refused), or 0."""
        rows = self._query(
            "SELECT MAX(line) FROM (SELECT last_line AS line FROM import_batches WHERE source = ?"
            " UNION ALL SELECT line FROM import_rejects WHERE source = ?)",
            (source, source),
        )
        return int(rows[0][0] or 0)

    def import_counts(self, source: str) -> tuple[int, int]:
        imported = self._query("SELECT COALESCE(SUM(imported), 0) FROM import_batches WHERE source = ?", (source,))[0][0]
        rejected = self._query("SELECT COUNT(*) FROM import_rejects WHERE source = ?", (source,))[0][0]
        return int(imported), int(rejected)

    def import_rejects(self, source: str) -> list[tuple[int, str, str, str]]:
        rows = self._query("SELECT line, reason, message, row FROM import_rejects WHERE source = ? ORDER BY line", (source,))
        return [(row[0], row[1], row[2], row[3]) for row in rows]

    def insert_imported(
        self, rows: list[tuple[Any, ...]], type_code: str, kid: str, officer: str, now: int, source: str, last_line: int
    ) -> None:
        """Imported permits, their versions and `issued` events, in bulk, and the batch's record
        (up to `last_line`), inside the caller's transaction. Each row: (line, id, number,
        holder id, holder name, status index, issued at, valid until, token, …). Raises
        sqlite3.IntegrityError, with nothing of the batch written, when a number, an id or a
        status index is already taken."""
        conn = self.db.conn
        conn.execute("SAVEPOINT batch")
        try:
            conn.executemany(
                "INSERT INTO permits (id, number, type, holder_id, holder_name, state, current_version, created_at)"
                " VALUES (?, ?, ?, ?, ?, 'active', 1, ?)",
                [(r[1], r[2], type_code, r[3], r[4], now) for r in rows],
            )
            conn.executemany(
                "INSERT INTO versions (permit_id, version, status_index, status, kid, issued_at, valid_until, token)"
                " VALUES (?, 1, ?, 0, ?, ?, ?, ?)",
                [(r[1], r[5], kid, r[6], r[7], r[8]) for r in rows],
            )
            conn.executemany(
                "INSERT INTO events (permit_id, version, kind, officer, at, reason) VALUES (?, 1, 'issued', ?, ?, ?)",
                [(r[1], officer, now, f"imported: line {r[0]}") for r in rows],
            )
            conn.execute(
                "INSERT INTO import_batches (source, last_line, imported) VALUES (?, ?, ?)", (source, last_line, len(rows))
            )
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK TO batch")
            conn.execute("RELEASE batch")
            raise
        except sqlite3.DatabaseError as exc:
            raise _corrupt(self.path, exc) from None
        conn.execute("RELEASE batch")

    def insert_rejects(self, source: str, rejects: list[tuple[int, str, str, str]]) -> None:
        self.db.conn.executemany(
            "INSERT INTO import_rejects (source, line, reason, message, row) VALUES (?, ?, ?, ?, ?)",
            [(source, line, reason, message, row) for line, reason, message, row in rejects],
        )

    def current_ids_signed_by(self, kid: str) -> list[str]:
        """Permits whose current version was signed by `kid` and that are not revoked."""
        rows = self._query(
            "SELECT p.id FROM permits p JOIN versions v ON v.permit_id = p.id AND v.version = p.current_version"
            " WHERE v.kid = ? AND p.state != 'revoked' ORDER BY p.created_at, p.id",
            (kid,),
        )
        return [row[0] for row in rows]
