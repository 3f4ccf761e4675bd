"""Restoring a backup into a home: every file checked first, nothing that changes whom the home
trusts, and all of it or none.

Order of work:

1. The archive's members are checked against its manifest (name, type, size) before a byte is
   extracted; then each file is copied into a stage, exactly its declared size, and hashed.
2. Each ledger must pass its integrity check and hold what the manifest says.
3. Trust: the backup's anchor must be the home's own (a home without one takes the backup's, as
   `registry install --anchor` does the first time). The backup's registry must chain from that
   anchor by threshold signatures and, when it is newer than the registry the home holds, from
   the root the home has reached. The backup's trust-state.json is never taken as it is: the
   home's trust state follows from the registry it keeps. A registry or status list older than
   the home's is a rollback: the home keeps its own, and the restore says so. No flag overrides
   any of this.
4. The home's settings (config.json: the base URL printed on every permit) and ledgers holding
   events the backup lacks: shown, and replaced only with `force`.
5. Commit: under the home's lock, the files are renamed into place as one step
   (permits/staging.py), so that an interruption, a kill included, leaves the home as it was.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from keys.encoding import loads_strict
from keys.errors import (
    ConflictError,
    DocumentError,
    InputError,
    KeyCompromised,
    LedgerError,
    LedgerSchemaUnknown,
    PermitError,
    RegistryError,
    RegistryRollback,
)
from keys.fields import FieldError
from keys.reasons import Reason
from keys.registry import Registry
from keys.trust import Root, TrustedRegistry, follow_roots, open_bundle
from permits import layout, ledger
from permits.backup import FORMAT, MANIFEST, MAX_MANIFEST_BYTES, Manifest
from permits.home import Home, trust_state_document
from permits.staging import Move, Stage, staging
from permits.status_list import LEGACY_ACCEPTED_UNTIL, in_legacy_form, open_status_list, token_from_bytes

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Kept:
    """A document of the backup the home did not take, and why."""

    path: str
    why: str


@dataclass(frozen=True)
class SettingChange:
    name: str
    before: Any
    after: Any

    def __str__(self) -> str:
        return f"{self.name}: {_shown(self.before)} → {_shown(self.after)}"


@dataclass(frozen=True)
class Lost:
    """Events of a ledger in the home that the backup lacks."""

    agency: str
    first_seq: int
    last_seq: int
    kinds: dict[str, int]
    last_at: int

    def __str__(self) -> str:
        kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(self.kinds.items()))
        span = f"event {self.first_seq}" if self.first_seq == self.last_seq else f"events {self.first_seq}–{self.last_seq}"
        return f"{sum(self.kinds.values())} event(s) of {self.agency} ({span}: {kinds}; the last at {_utc(self.last_at)})"


@dataclass(frozen=True)
class RestoreReport:
    manifest: Manifest
    installed: tuple[str, ...]
    kept: tuple[Kept, ...] = ()
    settings_changed: tuple[SettingChange, ...] = ()
    lost: tuple[Lost, ...] = ()


@dataclass
class _Plan:
    """What the checks decided: which staged files go where, what the home keeps."""

    files: dict[str, Path] = field(default_factory=dict)  # relative path in the home → staged file
    kept: list[Kept] = field(default_factory=list)
    settings: list[SettingChange] = field(default_factory=list)
    lost: list[Lost] = field(default_factory=list)
    # The home's trust documents as the checks saw them, to notice a change before committing.
    seen: dict[str, tuple[int, int, int] | None] = field(default_factory=dict)


def restore_home(home: Home, archive: Path, now: int, force: bool = False) -> RestoreReport:
    """Restore `archive` into `home` once every file of it checks out; files the backup does not
    hold (a ledger started since, a newer key) are left alone.

    Refuses, leaving the home as it was, with InputError (backup_unreadable, backup_unsafe_path,
    backup_corrupt, backup_incompatible), RegistryError (registry_invalid, registry_rollback: the
    same version as the home's but another document), DocumentError (a status list that does not
    verify), ConflictError anchor_mismatch (never overridden), and unless `force`:
    restore_changes_settings, restore_would_lose_permits, current_ledger_unreadable.
    ConflictError ledger_in_use when another process has a ledger open, home_changed_during_restore
    when a document was installed in the home meanwhile."""
    home.path.mkdir(parents=True, exist_ok=True)
    with open(home.lock_path, "a") as lock, staging(home.path, ".restore-", keep_open=lock) as stage:
        manifest = _unpack(archive, stage.path / "new")
        plan = _plan(home, Home(stage.path / "new"), stage.path, manifest, now, force)
        with home.lock(lock):
            _check_unchanged(home, plan)
            _commit(home, stage, plan, force)
    return RestoreReport(manifest, tuple(sorted(plan.files)), tuple(plan.kept), tuple(plan.settings), tuple(plan.lost))


# --- 1. unpacking ---------------------------------------------------------------------------------


def _unpack(archive: Path, target: Path) -> Manifest:
    """Check the archive's members against its manifest, then copy each file into `target`."""
    try:
        tar = tarfile.open(archive, mode="r:")
    except FileNotFoundError:
        raise InputError(f"backup {archive} does not exist", reason=Reason.BACKUP_UNREADABLE) from None
    except (tarfile.TarError, OSError) as exc:
        raise InputError(f"{archive} is not a readable backup (not a tar file: {exc})", reason=Reason.BACKUP_UNREADABLE) from None
    with tar:
        try:
            members = tar.getmembers()
            manifest = _read_manifest(archive, tar, members)
            files = _check_members(archive, members, manifest)
            hashes = {entry.path: entry.sha256 for entry in manifest.files}
            for member in files:
                _extract(archive, tar, member, target / member.name, hashes[member.name])
        except (tarfile.TarError, EOFError) as exc:
            raise InputError(f"backup {archive} cannot be read ({exc})", reason=Reason.BACKUP_UNREADABLE) from None
    for agency, expected in manifest.ledgers.items():
        try:
            facts = ledger.copy_facts(target / layout.ledger(agency), agency)
        except LedgerSchemaUnknown as exc:
            raise InputError(f"backup {archive}: {exc}", reason=Reason.BACKUP_INCOMPATIBLE) from None
        except LedgerError as exc:
            raise InputError(f"backup {archive}: {exc}", reason=Reason.BACKUP_CORRUPT) from None
        if facts != expected:
            raise InputError(f"backup {archive}: the ledger of {agency} does not hold what the manifest says",
                             reason=Reason.BACKUP_CORRUPT)
    return manifest


def _regular(member: tarfile.TarInfo) -> bool:
    # isreg() counts GNU sparse members too: a sparse member of a few bytes can claim gigabytes.
    return member.type in (tarfile.REGTYPE, tarfile.AREGTYPE) and not member.issparse()


def _read_manifest(archive: Path, tar: tarfile.TarFile, members: list[tarfile.TarInfo]) -> Manifest:
    found = [m for m in members if m.name == MANIFEST]
    if not found:
        raise InputError(f"{archive} is not a backup: it has no {MANIFEST}", reason=Reason.BACKUP_UNREADABLE)
    info = found[0]
    if len(found) > 1 or not _regular(info):
        raise InputError(f"backup {archive} holds {MANIFEST!r} twice or not as a regular file", reason=Reason.BACKUP_UNSAFE_PATH)
    if info.size > MAX_MANIFEST_BYTES:
        raise InputError(f"the manifest of backup {archive} is too large", reason=Reason.BACKUP_CORRUPT)
    handle = tar.extractfile(info)
    assert handle is not None  # a regular member
    try:
        raw = loads_strict(handle.read(info.size))
        if isinstance(raw, dict) and raw.get("format") != FORMAT:
            raise InputError(f"backup {archive} is in format {raw.get('format')!r}; this version reads {FORMAT}",
                             reason=Reason.BACKUP_INCOMPATIBLE)
        return Manifest.from_dict(raw)
    except (ValueError, FieldError) as exc:
        raise InputError(f"the manifest of backup {archive} is not valid: {exc}", reason=Reason.BACKUP_CORRUPT) from None


def _check_members(archive: Path, members: list[tarfile.TarInfo], manifest: Manifest) -> list[tarfile.TarInfo]:
    """Every member, before anything is extracted: a file of a home's layout, a regular file
    (no link, device or sparse member), listed in the manifest with exactly its size; and every
    file of the manifest present once. Returns the file members."""
    declared = {entry.path: entry.size for entry in manifest.files}
    files: list[tarfile.TarInfo] = []
    for member in members:
        if member.name == MANIFEST or (member.isdir() and member.name.rstrip("/") in layout.DIRECTORIES):
            continue
        path = PurePosixPath(member.name)
        if path.is_absolute() or ".." in path.parts or not layout.is_home_file(member.name):
            raise InputError(f"backup {archive} holds {member.name!r}, which is not a file of a home",
                             reason=Reason.BACKUP_UNSAFE_PATH)
        if not _regular(member):
            raise InputError(f"backup {archive} holds {member.name!r} as a link, device or sparse file, "
                             "not a regular file", reason=Reason.BACKUP_UNSAFE_PATH)
        if member.name not in declared:
            raise InputError(f"backup {archive} holds {member.name!r}, which its manifest does not list",
                             reason=Reason.BACKUP_CORRUPT)
        if member.size != declared[member.name]:
            raise InputError(f"{member.name} in backup {archive} is {member.size} bytes; its manifest says "
                             f"{declared[member.name]}", reason=Reason.BACKUP_CORRUPT)
        files.append(member)
    names = [member.name for member in files]
    if len(set(names)) != len(names):
        raise InputError(f"backup {archive} holds a file twice", reason=Reason.BACKUP_UNSAFE_PATH)
    if set(names) != set(declared):
        raise InputError(f"backup {archive} does not hold every file its manifest lists", reason=Reason.BACKUP_CORRUPT)
    return files


def _extract(archive: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path, sha256: str) -> None:
    """Copy exactly the member's declared bytes into a new private file, hashing on the way."""
    source = tar.extractfile(member)
    assert source is not None  # a regular member
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    digest, left = hashlib.sha256(), member.size
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        while left:
            chunk = source.read(min(left, _CHUNK))
            if not chunk:
                raise InputError(f"backup {archive} ends inside {member.name}", reason=Reason.BACKUP_UNREADABLE)
            digest.update(chunk)
            out.write(chunk)
            left -= len(chunk)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != sha256:
        raise InputError(f"{member.name} in backup {archive} does not match its SHA-256 in the manifest",
                         reason=Reason.BACKUP_CORRUPT)


# --- 2.-4. deciding --------------------------------------------------------------------------------


def _plan(home: Home, backup: Home, stage: Path, manifest: Manifest, now: int, force: bool) -> _Plan:
    plan = _Plan(files={entry.path: backup.file(entry.path) for entry in manifest.files})
    plan.files.pop(layout.TRUST_STATE, None)  # never taken as it is: it follows from the registry kept
    for relative in (*layout.TOP_FILES, *(p for p in plan.files if layout.in_directory(p, layout.STATUS))):
        plan.seen[relative] = _fingerprint(home.file(relative))
    anchor = _anchor(home, backup, plan)
    registry = _registry(home, backup, stage, anchor, now, plan)
    if backup.file(layout.ROOTS).exists() and anchor is not None:
        _check_root_chain(backup, anchor)
    _status_lists(home, backup, registry, now, plan)
    _settings(home, backup, force, plan)
    for agency in manifest.ledgers:
        lost = _check_history(home, backup, agency, force)
        if lost is not None:
            plan.lost.append(lost)
    return plan


def _anchor(home: Home, backup: Home, plan: _Plan) -> Root | None:
    """The anchor the restored home trusts: its own; the backup's only for a home that has none."""
    held = _read_anchor(home, "this home's") if home.file(layout.ANCHOR).exists() else None
    offered = _read_anchor(backup, "the backup's") if backup.file(layout.ANCHOR).exists() else None
    if held is None:
        return offered
    plan.files.pop(layout.ANCHOR, None)
    if offered is not None and offered != held:
        raise ConflictError(
            "the backup's trust anchor differs from this home's anchor.json: a restore never changes whom a "
            "home trusts; restore it into a new, empty home instead", reason=Reason.ANCHOR_MISMATCH)
    return held


def _read_anchor(view: Home, whose: str) -> Root:
    try:
        return view.anchor()
    except PermitError as exc:
        raise RegistryError(f"{whose} trust anchor cannot be read: {exc}", reason=Reason.REGISTRY_INVALID) from None


def _registry(home: Home, backup: Home, stage: Path, anchor: Root | None, now: int, plan: _Plan) -> Registry | None:
    """Decide between the backup's registry and the home's; return the one the home keeps."""
    held = _held_registry(home, anchor, now)
    if not backup.file(layout.REGISTRY).exists():
        return held.registry if held is not None else None
    if anchor is None:
        raise RegistryError("the backup holds a registry but no trust anchor to check it against", reason=Reason.REGISTRY_INVALID)
    raw = backup.file(layout.REGISTRY).read_bytes()
    try:
        # Genuine: it chains from the anchor by threshold signatures.
        offered = open_bundle(raw, anchor, now, allow_stale=True)
    except PermitError as exc:
        raise RegistryError(f"the backup's registry does not verify against this home's trust anchor: {exc}",
                            reason=Reason.REGISTRY_INVALID) from None
    state = _held_state(home)
    if state is not None:
        if offered.registry.version < state.registry_version:
            plan.files.pop(layout.REGISTRY)
            plan.kept.append(Kept(layout.REGISTRY, f"this home holds registry version {state.registry_version}; "
                                                   f"the backup's version {offered.registry.version} is older"))
            # The operator's draft and root chain are what the next version is published from:
            # older ones would publish the older registry again (a compromised key good again).
            for relative in (layout.DRAFT, layout.ROOTS):
                if relative in plan.files and home.file(relative).exists():
                    plan.files.pop(relative)
                    plan.kept.append(Kept(relative, "it goes with the newer registry this home keeps"))
            return held.registry if held is not None else None
        if offered.registry.version == state.registry_version:
            if offered.digest != state.registry_digest:
                raise RegistryRollback(f"the backup's registry version {offered.registry.version} is another document "
                                       "than the one this home trusts under that version")
            plan.files.pop(layout.REGISTRY)  # the same document: nothing to do
            return offered.registry
        try:
            # Newer: it must also chain from the root this home has reached (a root rotation
            # retires the old root keys, which must not sign a newer registry).
            offered = open_bundle(raw, anchor, now, state, allow_stale=True)
        except PermitError as exc:
            raise RegistryError(f"the backup's registry does not follow from the root this home trusts: {exc}",
                                reason=Reason.REGISTRY_INVALID) from None
    derived = stage / "derived-trust-state.json"
    derived.write_bytes(trust_state_document(offered))
    plan.files[layout.TRUST_STATE] = derived
    return offered.registry


def _held_state(home: Home) -> Any:
    try:
        return home.trust_state()
    except PermitError:
        return None  # damaged: the registry's own version below is all there is to compare


def _held_registry(home: Home, anchor: Root | None, now: int) -> TrustedRegistry | None:
    if anchor is None or not home.file(layout.REGISTRY).exists():
        return None
    try:
        return open_bundle(home.file(layout.REGISTRY).read_bytes(), anchor, now, _held_state(home), allow_stale=True)
    except PermitError:
        return None


def _check_root_chain(backup: Home, anchor: Root) -> None:
    """The operator's signed roots must chain from the anchor: they are what it publishes."""
    try:
        follow_roots(anchor, backup.root_chain())
    except PermitError as exc:
        raise RegistryError(f"the backup's operator/roots.json does not chain from the trust anchor: {exc}",
                            reason=Reason.REGISTRY_INVALID) from None


def _status_lists(home: Home, backup: Home, registry: Registry | None, now: int, plan: _Plan) -> None:
    for relative in sorted(p for p in plan.files if layout.in_directory(p, layout.STATUS)):
        agency = layout.agency_of(relative)
        if registry is None:
            raise InputError(f"the backup holds {relative} but no registry to check it against", reason=Reason.BACKUP_CORRUPT)
        if agency not in registry.agencies:
            plan.files.pop(relative)
            plan.kept.append(Kept(relative, f"{agency} is not in the registry this home keeps"))
            continue
        held = _held_list(home, registry, agency, now)
        raw = backup.status_path(agency).read_bytes()
        try:
            offered = open_status_list(token_from_bytes(raw), registry, agency, now)
        except KeyCompromised:
            plan.files.pop(relative)
            plan.kept.append(Kept(relative, f"the backup's list of {agency} is signed by a key now declared "
                                            "compromised: no verifier would take it, so it is not restored"))
            continue
        except DocumentError as exc:
            if now >= LEGACY_ACCEPTED_UNTIL and in_legacy_form(raw.decode("ascii", "replace").strip()):
                # A backup taken before the upgrade: its ledgers and keys are still good.
                plan.files.pop(relative)
                plan.kept.append(Kept(relative, f"the backup's list of {agency} is in the format read only until "
                                                f"{_utc(LEGACY_ACCEPTED_UNTIL)}: publish the agency's list again"))
                continue
            raise DocumentError(f"the backup's status list of {agency} is refused: {exc}", reason=exc.reason) from None
        if held is not None and offered.issued_at <= held.issued_at:
            plan.files.pop(relative)
            if offered.token != held.token:
                plan.kept.append(Kept(relative, f"this home holds a list of {agency} issued at {_utc(held.issued_at)}; "
                                                f"the backup's, issued at {_utc(offered.issued_at)}, is not newer"))


def _held_list(home: Home, registry: Registry, agency: str, now: int) -> Any:
    try:
        return home.status_list(registry, agency, now)
    except (PermitError, OSError):
        return None


def _settings(home: Home, backup: Home, force: bool, plan: _Plan) -> None:
    """Settings decide what every later permit prints (the base URL above all): a change is shown
    and needs `force`. A new, empty home simply takes the backup's."""
    if layout.CONFIG not in plan.files or _is_empty(home):
        return
    before = home.config()
    after = backup.config()
    changes = [SettingChange(name, before.get(name), after.get(name))
               for name in sorted(before.keys() | after.keys()) if before.get(name) != after.get(name)]
    if not changes:
        plan.files.pop(layout.CONFIG)
        return
    if not force:
        raise ConflictError("the backup would change this home's settings: " + "; ".join(map(str, changes)) +
                            "; check them, then use --force to accept", reason=Reason.RESTORE_CHANGES_SETTINGS)
    plan.settings.extend(changes)


def _is_empty(home: Home) -> bool:
    """No file of a home's layout in it: a new home (a directory just made for the restore)."""
    for item in home.path.iterdir():
        if layout.is_home_file(item.name) or (item.is_dir() and item.name in layout.DIRECTORIES and any(
                layout.is_home_file(f"{item.name}/{child.name}") for child in item.iterdir())):
            return False
    return True


def _check_history(home: Home, backup: Home, agency: str, force: bool) -> Lost | None:
    """Refuse unless the home's ledger is a prefix of the backup's: events are never deleted and
    their sequence numbers only grow, so its last event must be in the backup, identical.
    Returns what is lost when `force` lets the restore go on."""
    current = home.ledger_path(agency)
    if not current.exists():
        return None
    try:
        later = ledger.events_beyond(current, backup.ledger_path(agency))
    except LedgerError as exc:
        if force:
            return None
        raise ConflictError(
            f"the ledger of {agency} in this home cannot be read ({exc}), so whether the backup lacks permits "
            "it holds cannot be checked; use --force to replace it", reason=Reason.CURRENT_LEDGER_UNREADABLE) from None
    if later is None:
        return None
    lost = Lost(agency, later.first_seq, later.last_seq, later.kinds, later.last_at)
    if not force:
        raise ConflictError(
            f"the ledger of {agency} in this home has events the backup lacks ({lost}): restoring would lose the "
            "permits issued or changed since the backup and could reuse their status-list indexes; use --force "
            "only if they must go", reason=Reason.RESTORE_WOULD_LOSE_PERMITS)
    return lost


# --- 5. committing --------------------------------------------------------------------------------


def _fingerprint(path: Path) -> tuple[int, int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _check_unchanged(home: Home, plan: _Plan) -> None:
    # Documents are installed under the lock now held: what the checks compared against is
    # still what the home holds, or the decisions must be made again.
    for relative, seen in plan.seen.items():
        if _fingerprint(home.file(relative)) != seen:
            raise ConflictError(f"{relative} changed in this home while the backup was being checked (a registry "
                                "or status list was installed); run the restore again", reason=Reason.HOME_CHANGED_DURING_RESTORE)


# The order of the renames inside the one commit: a registry before the trust state that
# records it, ledgers last.
_ORDER = (layout.ANCHOR, layout.REGISTRY, layout.TRUST_STATE, layout.CONFIG, layout.STATUS, layout.OPERATOR,
          layout.PUBLIC, layout.PRIVATE, layout.LEDGERS)


def _commit(home: Home, stage: Stage, plan: _Plan, force: bool) -> None:
    relatives = sorted(plan.files, key=lambda p: (next(i for i, place in enumerate(_ORDER)
                                                        if p == place or layout.in_directory(p, place)), p))
    ledgers = [home.file(p) for p in relatives if layout.in_directory(p, layout.LEDGERS)]
    with _out_of_use(ledgers):
        if not force:
            # An officer may have committed to a ledger while the backup was being checked.
            for path in ledgers:
                _check_history(home, Home(stage.path / "new"), path.stem, force=False)
        moves: list[Move] = []
        for relative in relatives:
            target = home.file(relative)
            private = layout.in_directory(relative, layout.PRIVATE)
            target.parent.mkdir(parents=True, exist_ok=True, mode=0o700 if private else 0o755)
            if private:
                os.chmod(target.parent, 0o700)
            os.chmod(plan.files[relative], 0o600 if private else 0o644)
            if layout.in_directory(relative, layout.LEDGERS):
                # The old ledger's journal files must never meet the restored database.
                moves.extend(Move(None, target.with_name(target.name + suffix)) for suffix in ("-wal", "-shm", "-journal")
                             if target.with_name(target.name + suffix).exists())
            moves.append(Move(plan.files[relative], target, wal=layout.in_directory(relative, layout.LEDGERS)))
        stage.commit(moves)
        home.documents_changed()  # a verifier serving from this home reloads at once


@contextmanager
def _out_of_use(paths: list[Path]) -> Iterator[None]:
    """Take each existing ledger out of WAL mode before it is replaced: SQLite allows that only
    when no other connection has it open (so a running import or issue is refused, not lost), and
    it folds and removes the -wal and -shm files that must never meet the restored database."""
    switched: list[Path] = []
    try:
        for path in paths:
            if not path.exists():
                continue
            try:
                alone = ledger.set_wal(path, False)
            except LedgerError:
                continue  # not a database any more (a forced restore over a damaged ledger)
            if not alone:
                raise ConflictError(f"ledger {path} is open in another process (an import, an officer's command); "
                                    "let it finish, then restore", reason=Reason.LEDGER_IN_USE)
            switched.append(path)
        yield
    except BaseException:
        # Ledgers not replaced go back to WAL, as the ledger keeps them.
        for path in switched:
            try:
                ledger.set_wal(path, True)
            except LedgerError:
                pass
        raise


def _utc(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _shown(value: Any) -> str:
    return "(none)" if value is None else repr(value)

