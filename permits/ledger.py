"""The agency's ledger: one SQLite database (WAL) per agency, through sqlite-utils. This module
owns the ledger's schema: every other module reads and writes a ledger through it, a backup's
copy included.

Tables: `permits` (one row per permit: number, holder, state), `versions` (one row per signed
version: its token, which holds the signed claims, its status index and 2-bit status), `events`
(append-only: issued, amended, suspended, reinstated, revoked, reissued; who, when, why), `meta`,
`bases` (which permits each version rests on, for the reverse view), and the import's record of what it did (`import_batches`, `import_rejects`). Status indexes are
unique across the agency: an index is never reused, so a revoked permit can never be revived by
a new one landing on its bit.

`permits` and `versions` are rowid tables: rows go in at the end in the order they are made, and
only the indexes of their random keys (permit ids, status indexes) take them at random places.
WITHOUT ROWID tables, ordered by permit id, wrote a million imported permits two to three times
slower (measured): a version's row holds its token, a ninth of a page, and every insert landed
on a random page of them.

Every change is one `BEGIN IMMEDIATE` transaction: it takes the write lock at the start, so two
officers issuing at once queue instead of failing half-way.
"""

from __future__ import annotations

import base64
import os
import secrets
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

import sqlite_utils
from sqlite_utils import Migrations

from keys import fields
from keys.errors import ConflictError, InputError, LedgerError, LedgerSchemaUnknown, NotFoundError
from keys.reasons import N_, Reason
from permits.model import BasisRef, Permit
from permits.status_list import MIN_SIZE, Status
from permits.token import claims_of

STATES = ("active", "suspended", "revoked")
# Crockford's base32 without I, L, O, U: permit ids are read aloud and typed by people.
ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PERMIT_ID_LENGTH = 8
# The tables that make a file a permit ledger.
TABLES = frozenset({"meta", "permits", "versions", "events"})
_EVENT_COLUMNS = "seq, permit_id, version, kind, officer, at, reason"

migrations = Migrations("permit-ledger")

# A migration is history: its SQL stays as it first ran, whatever the constants above become.


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


@migrations()
def create_bases_table(db: sqlite_utils.Database) -> None:
    # Which permits each version rests on (its signed `basis`), so that an officer about to
    # revoke a permit can see what rests on it. The token stays the record; this is its index.
    db.execute(
        """CREATE TABLE bases (
            permit_id TEXT NOT NULL, version INTEGER NOT NULL,
            basis_agency TEXT NOT NULL, basis_id TEXT NOT NULL, basis_type TEXT NOT NULL, basis_status_index INTEGER NOT NULL,
            PRIMARY KEY (permit_id, version, basis_agency, basis_id),
            FOREIGN KEY (permit_id, version) REFERENCES versions(permit_id, version))"""
    )
    db.execute("CREATE INDEX bases_basis ON bases(basis_id, basis_agency)")


@migrations()
def lineage_status(db: sqlite_utils.Database) -> None:
    # Since permits could rest on others, a permit's earlier versions carry its lineage's state:
    # a basis referenced at version 1 and amended since must still read revoked or suspended.
    db.execute("UPDATE versions SET status = 1 WHERE permit_id IN (SELECT id FROM permits WHERE state = 'revoked')")
    db.execute("UPDATE versions SET status = 2 WHERE permit_id IN (SELECT id FROM permits WHERE state = 'suspended')")


@cache
def known_migrations() -> tuple[str, ...]:
    """The names of every migration this code knows, in the order they apply."""
    return tuple(m.name for m in migrations.pending(sqlite_utils.Database(memory=True)))


# --- records ----------------------------------------------------------------------------------------


# The states a permit is listed and shown in: the three the ledger records, and `expired`, an
# active permit past its last day. A suspended or revoked permit keeps its state past its end
# date, as a verifier says `revoked` or `suspended` before `expired`.
EXPIRED = "expired"
LISTED_STATES = ("active", "suspended", "revoked", EXPIRED)


@dataclass(frozen=True)
class PermitRecord:
    """A permit as the ledger knows it: its current version and its state."""

    permit: Permit
    state: str
    token: str
    kid: str
    status: int

    def state_at(self, now: int) -> str:
        """The state to show at `now`: the recorded one, or `expired` for an active permit whose
        last day is past."""
        return EXPIRED if self.state == "active" and now >= self.permit.valid_until else self.state


@dataclass(frozen=True)
class Event:
    seq: int
    permit_id: str
    version: int
    kind: str
    officer: str
    at: int
    reason: str | None


class ImportedPermit(NamedTuple):
    """A permit an import drafted and signed from one line of its file: the ledger records it as
    version 1, active, with its `issued` event."""

    line: int
    id: str
    number: str
    holder_id: str
    holder_name: str
    status_index: int
    issued_at: int
    valid_until: int
    token: str
    basis: tuple[BasisRef, ...] = ()


class RejectedRow(NamedTuple):
    """A line of an import's file that was refused, and why."""

    line: int
    reason: str
    message: str
    row: str  # the row's cells, as JSON


class Taken(NamedTuple):
    """Which of a batch's numbers, ids and status indexes the ledger already holds."""

    numbers: set[str]
    ids: set[str]
    indexes: set[int]


@dataclass(frozen=True)
class LedgerFacts:
    """What a ledger holds, as a snapshot of it says: enough to tell an older copy from a newer one."""

    schema_version: int
    permits: int
    events: int
    last_event_seq: int

    def __post_init__(self) -> None:
        fields.integer(self.schema_version, "schema version", 1)
        for name in ("permits", "events", "last_event_seq"):
            fields.integer(getattr(self, name), name)

    @classmethod
    def from_dict(cls, obj: object) -> LedgerFacts:
        m = fields.members(obj, "ledger facts", ("schema_version", "permits", "events", "last_event_seq"))
        return cls(m["schema_version"], m["permits"], m["events"], m["last_event_seq"])


@dataclass(frozen=True)
class LaterEvents:
    """Events a ledger holds after the newest one a copy of it holds alike."""

    first_seq: int
    last_seq: int
    kinds: dict[str, int]
    last_at: int


def _corrupt(path: Path, exc: Exception) -> LedgerError:
    return LedgerError(f"ledger {path} is unreadable or not a ledger ({exc})")


# --- allocation ---------------------------------------------------------------------------------


# RFC 4648 base32 letters → the ledger's id letters: 5 random bytes become an id in two C calls.
_BASE32_TO_ID = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", ID_ALPHABET)
_ID_BYTES = PERMIT_ID_LENGTH * 5 // 8
assert _ID_BYTES * 8 == PERMIT_ID_LENGTH * 5, "whole bytes make a whole id"


class Allocator:
    """Random status indexes never used before, and fresh permit ids: the one allocator of single
    issues and imports alike.

    The list doubles when half full, so a random probe finds a free index in two tries on average
    and indexes stay unpredictable. Randomness comes from the OS (os.urandom, as `secrets` does),
    drawn in bulk rather than one call per number.

    With `ask`, the allocator asks the ledger whether a candidate is taken (`count` indexes are):
    a single issue, inside its transaction. Without, it keeps a map of the indexes taken, which
    `mark` fills: an import, which allocates thousands and learns the ledger's indexes once."""

    def __init__(self, size: int, ask: Callable[[int], bool] | None = None, count: int = 0) -> None:
        if size < MIN_SIZE or size & (size - 1):
            raise LedgerError(f"the ledger's status list size {size} is not a power of two of at least {MIN_SIZE}")
        self.size = size
        self.count = count
        self._ask = ask
        self._map = bytearray(size) if ask is None else None
        self._given: set[int] = set()
        # An import draws 64 KiB at a time; a single issue needs a few bytes.
        self._draw = 65536 if ask is None else 64
        self._random = b""
        self._offset = 0

    def mark(self, index: int) -> None:
        """Learn that `index` is taken (given out here, or held by the ledger)."""
        while index >= self.size:
            self._grow()
        if self._map is None:
            if index not in self._given:
                self._given.add(index)
                self.count += 1
        elif not self._map[index]:
            self._map[index] = 1
            self.count += 1

    def _grow(self) -> None:
        if self._map is not None:
            self._map.extend(bytes(self.size))
        self.size *= 2

    def _taken(self, index: int) -> bool:
        if self._map is not None:
            return bool(self._map[index])
        assert self._ask is not None
        return index in self._given or self._ask(index)

    def _bytes(self, nbytes: int) -> bytes:
        if self._offset + nbytes > len(self._random):
            self._random, self._offset = os.urandom(max(self._draw, nbytes)), 0
        self._offset += nbytes
        return self._random[self._offset - nbytes : self._offset]

    def index(self) -> int:
        """A random index not taken, marked as taken."""
        if self.count >= self.size // 2:
            self._grow()
        # The size is a power of two: masking 32 random bits gives a uniform index.
        while True:
            candidate = int.from_bytes(self._bytes(4), "big") & (self.size - 1)
            if not self._taken(candidate):
                self.mark(candidate)
                return candidate

    def permit_id(self) -> str:
        """A random permit id (40 bits); whether the ledger holds it already is the caller's to
        ask (a single issue) or to learn from the database's constraint (an import)."""
        return base64.b32encode(self._bytes(_ID_BYTES)).decode("ascii").translate(_BASE32_TO_ID)


# --- the ledger ---------------------------------------------------------------------------------


class Ledger:
    """One agency's ledger. Open with `Ledger.open` (existing) or `Ledger.create`."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.db = sqlite_utils.Database(conn)
        self._allocating: Allocator | None = None

    @classmethod
    def create(cls, path: Path, agency: str) -> Ledger:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            cls._build(path, agency)
        ledger = cls._connect(path)
        try:
            ledger.db.enable_wal()
            ledger._migrate()  # an existing ledger made by an earlier version
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
            raise NotFoundError(N_("no ledger for agency {agency} at {path}"), reason=Reason.LEDGER_MISSING, agency=agency, path=path)
        ledger = cls._connect(path)
        try:
            if not TABLES <= set(ledger.db.table_names()):
                raise LedgerError(f"{path} is not a permit ledger")
            ledger._migrate()
        except sqlite3.DatabaseError as exc:
            raise _corrupt(path, exc) from None
        ledger.check_agency(agency)
        return ledger

    def _migrate(self) -> None:
        """Bring a ledger made by an earlier version up to this one's schema. The migrations run
        in one write transaction, taken before looking again at what is pending: two processes
        opening the same old ledger at once migrate it once, the second after the first."""
        if not migrations.pending(self.db):
            return
        with self.transaction():
            migrations.apply(self.db)

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
        # Permit ids and status indexes are random, so each batch changes pages all over the
        # indexes, and checkpoints cost most: each copies every page the log holds back into the
        # database and waits for the disk. Copying back every 256 MiB of log (rather than every
        # 4) copies a page that many batches changed once. The page cache stays at 16 MiB: 64 or
        # 128 were no faster at a million rows (the pages it misses are in the system's file
        # cache), and they count against the import's memory.
        self._query("PRAGMA cache_size=-16384")
        self._query("PRAGMA wal_autocheckpoint=65536")
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
        finally:
            self._allocating = None

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

    def allocator(self) -> Allocator:
        """An allocator that holds every status index this ledger has given out (for an import)."""
        allocator = Allocator(self.status_list_size)
        for (index,) in self._query("SELECT status_index FROM versions"):
            allocator.mark(index)
        return allocator

    def keep_size(self, allocator: Allocator) -> None:
        """Record the status list's size when `allocator` doubled it, in the transaction that
        commits what it allocated."""
        if allocator.size > self.status_list_size:
            self._set_meta("status_list_size", str(allocator.size))

    def _single(self) -> Allocator:
        # One per transaction: nobody else writes meanwhile, so what it learns stays true.
        if self._allocating is None:
            used = self._query("SELECT COUNT(*) FROM versions")[0][0]
            self._allocating = Allocator(self.status_list_size, self._index_taken, used)
        return self._allocating

    def _index_taken(self, index: int) -> bool:
        return bool(self._query("SELECT 1 FROM versions WHERE status_index = ?", (index,)))

    def allocate_status_index(self) -> int:
        """A random status index never used before (inside a transaction)."""
        allocator = self._single()
        index = allocator.index()
        self.keep_size(allocator)
        return index

    def new_permit_id(self) -> str:
        """A random permit id no permit holds (inside a transaction)."""
        while True:
            candidate = self._single().permit_id()
            if not self._query("SELECT 1 FROM permits WHERE id = ?", (candidate,)):
                return candidate

    # --- writes (inside a transaction) ------------------------------------------------------

    def number_taken(self, number: str) -> bool:
        return bool(self._query("SELECT 1 FROM permits WHERE number = ?", (number,)))

    def insert_permit(self, permit: Permit, created_at: int) -> None:
        if self.number_taken(permit.number):
            raise ConflictError(N_("permit number {number!r} is already used"), reason=Reason.DUPLICATE_PERMIT_NUMBER, number=permit.number)
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
        self._insert_bases([(permit.id, permit.version, permit.basis)])

    def _insert_bases(self, versions: list[tuple[str, int, tuple[BasisRef, ...]]]) -> None:
        self.db.conn.executemany(
            "INSERT INTO bases (permit_id, version, basis_agency, basis_id, basis_type, basis_status_index) VALUES (?, ?, ?, ?, ?, ?)",
            [(permit_id, version, ref.agency, ref.id, ref.type, ref.status_index) for permit_id, version, basis in versions for ref in basis],
        )

    def set_current_version(self, permit: Permit) -> None:
        self._query(
            "UPDATE permits SET current_version = ?, holder_name = ? WHERE id = ?",
            (permit.version, permit.holder_name, permit.id),
        )

    def set_lineage_status(self, permit_id: str, current: Status, earlier: Status) -> None:
        """Set the current version's entry to `current` and every earlier version's to `earlier`:
        a reference to an earlier version (a permit resting on this one) follows the lineage."""
        self._query(
            "UPDATE versions SET status = CASE WHEN version = (SELECT current_version FROM permits WHERE id = ?) THEN ? ELSE ? END"
            " WHERE permit_id = ?",
            (permit_id, int(current), int(earlier), permit_id),
        )

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
            raise NotFoundError(N_("no permit {id!r} in this ledger"), reason=Reason.PERMIT_NOT_FOUND, id=permit_id)
        state, token, kid, status = rows[0]
        # The token is what was signed; the permit is read back from it.
        return PermitRecord(Permit.from_claims(claims_of(token)), state, token, kid, status)

    def find_by_number(self, number: str) -> str | None:
        rows = self._query("SELECT id FROM permits WHERE number = ?", (number,))
        return rows[0][0] if rows else None

    def find(self, state: str | None = None, type_code: str | None = None, limit: int = 100,
             now: int | None = None) -> list[PermitRecord]:
        """Permits newest first, at most `limit`, of `type_code` and in `state` (one of
        LISTED_STATES): with `now`, as PermitRecord.state_at(now) says, so `expired` and
        `active` part the active permits at their last day; without it, as recorded."""
        where, params = self._where(state, type_code, now)
        sql = f"SELECT p.id FROM permits p{where} ORDER BY p.created_at DESC, p.id LIMIT ?"
        return [self.get(row[0]) for row in self._query(sql, (*params, limit))]

    def count(self, state: str | None = None, type_code: str | None = None, now: int | None = None) -> int:
        """How many permits `find` would give without a limit."""
        where, params = self._where(state, type_code, now)
        return int(self._query(f"SELECT count(*) FROM permits p{where}", params)[0][0])

    @staticmethod
    def _where(state: str | None, type_code: str | None, now: int | None) -> tuple[str, tuple[Any, ...]]:
        if state is not None and state not in LISTED_STATES:
            raise InputError(f"no state {state!r}: one of {', '.join(LISTED_STATES)}", reason=Reason.BAD_INPUT)
        if state == EXPIRED and now is None:
            raise ValueError("listing expired permits needs the time")
        joins, conditions, params = "", ["1=1"], list[Any]()
        if state:
            conditions.append("p.state = ?")
            params.append("active" if state == EXPIRED else state)
        if state in ("active", EXPIRED) and now is not None:
            joins = " JOIN versions v ON v.permit_id = p.id AND v.version = p.current_version"
            conditions.append("v.valid_until <= ?" if state == EXPIRED else "v.valid_until > ?")
            params.append(now)
        if type_code:
            conditions.append("p.type = ?")
            params.append(type_code)
        return f"{joins} WHERE {' AND '.join(conditions)}", tuple(params)

    def resting_on(self, basis_id: str, basis_agency: str | None = None, limit: int = 100) -> list[PermitRecord]:
        """Permits whose current version rests on permit `basis_id` (of `basis_agency`, when
        given; a permit id is unique within its agency only)."""
        sql = ("SELECT DISTINCT p.id, p.created_at FROM bases b JOIN permits p ON p.id = b.permit_id AND p.current_version = b.version"
               " WHERE b.basis_id = ?")
        params: list[Any] = [basis_id]
        if basis_agency is not None:
            sql += " AND b.basis_agency = ?"
            params.append(basis_agency)
        sql += " ORDER BY p.created_at DESC, p.id LIMIT ?"
        params.append(limit)
        return [self.get(row[0]) for row in self._query(sql, tuple(params))]

    def events(self, permit_id: str) -> list[Event]:
        rows = self._query(f"SELECT {_EVENT_COLUMNS} FROM events WHERE permit_id = ? ORDER BY seq", (permit_id,))
        return [Event(*row) for row in rows]

    def status_entries(self) -> list[tuple[int, int]]:
        """(index, status) of every version whose status is not 0."""
        return [(row[0], row[1]) for row in self._query("SELECT status_index, status FROM versions WHERE status != 0")]

    def current_ids_signed_by(self, kid: str) -> list[str]:
        """Permits whose current version was signed by `kid` and that are not revoked."""
        rows = self._query(
            "SELECT p.id FROM permits p JOIN versions v ON v.permit_id = p.id AND v.version = p.current_version"
            " WHERE v.kid = ? AND p.state != 'revoked' ORDER BY p.created_at, p.id",
            (kid,),
        )
        return [row[0] for row in rows]

    # --- bulk import -------------------------------------------------------------------------

    def taken(self, permits: list[ImportedPermit]) -> Taken:
        """Which of these permits' numbers, ids and status indexes the ledger already holds."""
        return Taken(self._existing("permits", "number", [p.number for p in permits]),
                     self._existing("permits", "id", [p.id for p in permits]),
                     self._existing("versions", "status_index", [p.status_index for p in permits]))

    def _existing(self, table: str, column: str, values: list[Any]) -> set[Any]:
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
        """(permits imported, rows rejected) from `source`, in all runs."""
        imported = self._query("SELECT COALESCE(SUM(imported), 0) FROM import_batches WHERE source = ?", (source,))[0][0]
        rejected = self._query("SELECT COUNT(*) FROM import_rejects WHERE source = ?", (source,))[0][0]
        return int(imported), int(rejected)

    def import_rejects(self, source: str) -> list[RejectedRow]:
        rows = self._query("SELECT line, reason, message, row FROM import_rejects WHERE source = ? ORDER BY line", (source,))
        return [RejectedRow(*row) for row in rows]

    def insert_imported(
        self, permits: list[ImportedPermit], type_code: str, kid: str, officer: str, now: int, source: str, last_line: int
    ) -> None:
        """Imported permits, their versions and `issued` events, in bulk, and the batch's record
        (up to `last_line`), inside the caller's transaction. Raises sqlite3.IntegrityError, with
        nothing of the batch written, when a number, an id or a status index is already taken."""
        conn = self.db.conn
        conn.execute("SAVEPOINT batch")
        try:
            conn.executemany(
                "INSERT INTO permits (id, number, type, holder_id, holder_name, state, current_version, created_at)"
                " VALUES (?, ?, ?, ?, ?, 'active', 1, ?)",
                [(p.id, p.number, type_code, p.holder_id, p.holder_name, now) for p in permits],
            )
            conn.executemany(
                "INSERT INTO versions (permit_id, version, status_index, status, kid, issued_at, valid_until, token)"
                " VALUES (?, 1, ?, 0, ?, ?, ?, ?)",
                [(p.id, p.status_index, kid, p.issued_at, p.valid_until, p.token) for p in permits],
            )
            conn.executemany(
                "INSERT INTO events (permit_id, version, kind, officer, at, reason) VALUES (?, 1, 'issued', ?, ?, ?)",
                [(p.id, officer, now, f"imported: line {p.line}") for p in permits],
            )
            self._insert_bases([(p.id, 1, p.basis) for p in permits if p.basis])
            conn.execute(
                "INSERT INTO import_batches (source, last_line, imported) VALUES (?, ?, ?)", (source, last_line, len(permits))
            )
        except sqlite3.IntegrityError:
            conn.execute("ROLLBACK TO batch")
            conn.execute("RELEASE batch")
            raise
        except sqlite3.DatabaseError as exc:
            raise _corrupt(self.path, exc) from None
        conn.execute("RELEASE batch")

    def insert_rejects(self, source: str, rejects: list[RejectedRow]) -> None:
        self.db.conn.executemany(
            "INSERT INTO import_rejects (source, line, reason, message, row) VALUES (?, ?, ?, ?, ?)",
            [(source, *reject) for reject in rejects],
        )


# --- copies: what backups and restores read -------------------------------------------------------


def _read_only(path: Path) -> sqlite3.Connection:
    # A copy nobody else has open: no locks, and no -wal or -shm beside it.
    return sqlite3.connect(path.resolve().as_uri() + "?mode=ro&immutable=1", uri=True)


def snapshot(source: Path, target: Path) -> None:
    """Copy the ledger at `source` into a new file `target` with SQLite's online backup, every
    page in one step: one read transaction, so the copy is the ledger as of one commit, whatever
    other processes write meanwhile (WAL lets them go on). LedgerError when it cannot be read."""
    try:
        with closing(sqlite3.connect(source, timeout=30)) as live, closing(sqlite3.connect(target)) as copy:
            live.backup(copy, pages=-1)
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"cannot back up ledger {source}: {exc}") from None


def copy_facts(path: Path, agency: str) -> LedgerFacts:
    """Facts of a ledger copy nobody else has open, once it passes PRAGMA integrity_check and
    proves to be `agency`'s ledger with a schema this code knows (that of this version or of an
    earlier one, which opening it migrates). LedgerSchemaUnknown for a schema this code does not
    know, LedgerError for anything else."""
    try:
        with closing(_read_only(path)) as conn:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
            if problems != ["ok"]:
                raise LedgerError(f"ledger of {agency} fails its integrity check: {problems[0]}")
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            if not TABLES | {migrations.migrations_table} <= tables:
                raise LedgerError(f"the ledger of {agency} is not a permit ledger")
            owner = conn.execute("SELECT value FROM meta WHERE key = 'agency'").fetchone()
            if owner is None or owner[0] != agency:
                raise LedgerError(f"the ledger file of {agency} is the ledger of {owner[0] if owner else 'nobody'}")
            applied = tuple(m.name for m in migrations.applied(sqlite_utils.Database(conn)))
            if not applied or applied != known_migrations()[: len(applied)]:
                raise LedgerSchemaUnknown(f"the ledger of {agency} has a schema this version does not know ({', '.join(applied)})")
            permits, events, last = conn.execute(
                "SELECT (SELECT COUNT(*) FROM permits), (SELECT COUNT(*) FROM events), (SELECT COALESCE(MAX(seq), 0) FROM events)"
            ).fetchone()
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"the ledger of {agency} is unreadable ({exc})") from None
    return LedgerFacts(len(applied), permits, events, last)


def events_beyond(current: Path, copy: Path) -> LaterEvents | None:
    """The events the ledger at `current` holds beyond a copy of it (at `copy`, nobody else's),
    or None when it is a prefix of the copy: events are never deleted and their sequence numbers
    only grow, so its last event must be in the copy, identical. Otherwise the events after the
    newest one both hold alike. LedgerError when either cannot be read."""
    try:
        with closing(sqlite3.connect(current, timeout=30)) as conn:
            last = conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events ORDER BY seq DESC LIMIT 1").fetchone()
            if last is None:
                return None
            with closing(_read_only(copy)) as other:
                def held(row: tuple[Any, ...]) -> bool:
                    same: tuple[Any, ...] | None = other.execute(f"SELECT {_EVENT_COLUMNS} FROM events WHERE seq = ?",
                                                                 (row[0],)).fetchone()
                    return same == row
                if held(last):
                    return None
                common = next((row[0] for row in conn.execute(f"SELECT {_EVENT_COLUMNS} FROM events ORDER BY seq DESC")
                               if held(row)), 0)
            rows = conn.execute("SELECT seq, kind, at FROM events WHERE seq > ? ORDER BY seq", (common,)).fetchall()
    except sqlite3.DatabaseError as exc:
        raise LedgerError(f"ledger {current} cannot be read ({exc})") from None
    return LaterEvents(rows[0][0], rows[-1][0], dict(Counter(kind for _, kind, _ in rows)), max(at for _, _, at in rows))


def set_wal(path: Path, wal: bool) -> bool:
    """Put the ledger file at `path` into WAL mode, as the ledger keeps it, or out of it (which
    folds and removes its -wal and -shm files). SQLite leaves WAL mode only when no other
    connection has the file open: False then. LedgerError when it is not a database."""
    try:
        with closing(sqlite3.connect(path, isolation_level=None, timeout=5)) as conn:
            mode = conn.execute(f"PRAGMA journal_mode={'WAL' if wal else 'DELETE'}").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        if exc.sqlite_errorname in ("SQLITE_BUSY", "SQLITE_LOCKED"):
            return False
        raise LedgerError(f"{path} is not a ledger ({exc})") from None
    return str(mode) == ("wal" if wal else "delete")
