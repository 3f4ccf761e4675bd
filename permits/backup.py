"""Backing up a home while it is in use; the backup's format, which the restore reads
(permits/restore.py).

A backup is one tar file, mode 0600 (it holds the private keys, still encrypted as they are in
the home): `manifest.json` first, then the home's files at their relative paths. Each ledger is
copied with SQLite's online backup API in one step, so the copy is one consistent snapshot even
while an import commits batches; the manifest gives each file's size and SHA-256 and, per
ledger, its schema version, permits, events and last event sequence number.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import tarfile
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from keys import fields
from keys.errors import InputError, PermitError, RegistryError
from keys.fields import FieldError
from keys.reasons import Reason
from keys.trust import open_bundle
from permits import layout, ledger
from permits.home import Home
from permits.ledger import LedgerFacts
from permits.staging import staging

FORMAT = "hcm-permits-backup/1"
MANIFEST = "manifest.json"
MAX_MANIFEST_BYTES = 16 * 1024 * 1024
_SHA256 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class FileEntry:
    path: str
    size: int
    sha256: str

    def __post_init__(self) -> None:
        if not layout.is_home_file(self.path):
            raise FieldError("bad", f"{self.path!r} is not a file of a home")
        fields.integer(self.size, f"size of {self.path}")
        if not isinstance(self.sha256, str) or not _SHA256.fullmatch(self.sha256):
            raise FieldError("bad", f"sha256 of {self.path} must be 64 lower-case hex digits")

    @classmethod
    def from_dict(cls, obj: object) -> FileEntry:
        m = fields.members(obj, "file entry", ("path", "size", "sha256"))
        return cls(m["path"], m["size"], m["sha256"])


@dataclass(frozen=True)
class Manifest:
    created_at: int
    registry_version: int | None
    files: tuple[FileEntry, ...]
    ledgers: dict[str, LedgerFacts]

    def __post_init__(self) -> None:
        paths = [entry.path for entry in self.files]
        if len(set(paths)) != len(paths):
            raise FieldError("bad", "a file is listed twice")
        if set(self.ledgers) != {layout.agency_of(p) for p in paths if layout.in_directory(p, layout.LEDGERS)}:
            raise FieldError("bad", "the ledgers listed are not the ledger files")

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "created_at": datetime.fromtimestamp(self.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "registry_version": self.registry_version,
            "files": [asdict(entry) for entry in self.files],
            "ledgers": {agency: asdict(facts) for agency, facts in sorted(self.ledgers.items())},
        }

    @classmethod
    def from_dict(cls, obj: object) -> Manifest:
        m = fields.members(obj, "manifest", ("format", "created_at", "registry_version", "files", "ledgers"))
        if m["format"] != FORMAT:
            raise FieldError("bad", f"format {m['format']!r} is not {FORMAT}")
        try:
            created = int(datetime.strptime(m["created_at"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
        except (TypeError, ValueError):
            raise FieldError("bad", "created_at must be a UTC time YYYY-MM-DDTHH:MM:SSZ") from None
        version = m["registry_version"]
        if version is not None:
            fields.integer(version, "registry version", 1)
        if not isinstance(m["files"], list) or not isinstance(m["ledgers"], dict):
            raise FieldError("bad", "files must be a list and ledgers an object")
        files = tuple(FileEntry.from_dict(entry) for entry in m["files"])
        ledgers = {agency: LedgerFacts.from_dict(facts) for agency, facts in m["ledgers"].items()}
        return cls(created, version, files, ledgers)


# --- backup ---------------------------------------------------------------------------------------


def backup_home(home: Home, out: Path, now: int) -> Manifest:
    """Write a backup of `home` to `out` (a tar file, mode 0600), whole or not at all.

    Raises InputError (backup_failed: `out` cannot be written; backup_unsafe_path: a file of
    the home is a link or a device), LedgerError for a ledger that cannot be copied or fails its
    integrity check (permits.ledger.copy_facts) and
    RegistryError for a registry that does not verify: what a restore would refuse, a backup
    refuses to write."""
    if not out.parent.is_dir():
        raise InputError(f"cannot write the backup: directory {out.parent} does not exist", reason=Reason.BACKUP_FAILED)
    try:
        # Beside `out`, so the finished archive is renamed into place; its janitor removes it
        # if this process is killed, half-written archive included.
        with staging(out.parent, f".{out.name}.") as stage:
            copy = stage.path / "home"  # laid out as a home, so that the home's own readers check it
            ledgers = {agency: _snapshot(home, home.ledger_path(agency), copy) for agency in home.ledger_agencies()}
            # The small files are read under the home's lock, so the registry and the trust
            # state that guards it come from the same moment (installing writes both under it).
            with home.lock():
                documents = {relative: home.file(relative).read_bytes() for relative in _home_files(home)}
            for relative, data in documents.items():
                (copy / relative).parent.mkdir(parents=True, exist_ok=True)
                (copy / relative).write_bytes(data)
            registry_version = check_documents(Home(copy), now)
            paths = sorted([*documents, *(layout.ledger(agency) for agency in ledgers)])
            manifest = Manifest(now, registry_version, tuple(FileEntry(p, *_size_and_hash(copy / p)) for p in paths), ledgers)
            archive = stage.path / "backup.tar"
            # 0600 from the start: the archive holds the private keys (encrypted, as in the home).
            fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as handle:
                with tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
                    _add(tar, MANIFEST, io.BytesIO(_manifest_bytes(manifest)), now)
                    for path in paths:
                        with (copy / path).open("rb") as member:
                            _add(tar, path, member, now)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(archive, out)
    except OSError as exc:
        raise InputError(f"cannot write the backup {out}: {exc.strerror or exc}", reason=Reason.BACKUP_FAILED) from None
    return manifest


def _home_files(home: Home) -> list[str]:
    """The home's files a backup holds, besides the ledgers."""
    found = [name for name in layout.TOP_FILES if home.file(name).exists() or home.file(name).is_symlink()]
    for directory, suffix in layout.DIRECTORIES.items():
        if directory == layout.LEDGERS or not home.file(directory).is_dir():
            continue
        for path in sorted(home.file(directory).iterdir()):
            relative = f"{directory}/{path.name}"
            if layout.is_home_file(relative) and path.name.endswith(suffix):
                found.append(relative)
    for relative in found:
        _regular(home, relative)
    return found


def _regular(home: Home, relative: str) -> None:
    # A link could pull a file from outside the home into the backup, and put it back anywhere.
    if home.file(relative).is_symlink() or not home.file(relative).is_file():
        raise InputError(f"{home.file(relative)} is not a regular file; a backup holds regular files only",
                         reason=Reason.BACKUP_UNSAFE_PATH)


def _snapshot(home: Home, source: Path, into: Path) -> LedgerFacts:
    """Copy the ledger as of one commit, whatever other processes write meanwhile."""
    _regular(home, layout.ledger(source.stem))
    target = into / layout.ledger(source.stem)
    target.parent.mkdir(parents=True, exist_ok=True)
    ledger.snapshot(source, target)
    return ledger.copy_facts(target, source.stem)


def _size_and_hash(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _manifest_bytes(manifest: Manifest) -> bytes:
    return json.dumps(manifest.to_dict(), indent=2, ensure_ascii=False).encode() + b"\n"


def _add(tar: tarfile.TarFile, name: str, data: BinaryIO, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size = data.seek(0, os.SEEK_END)
    data.seek(0)
    info.mode = 0o600 if layout.in_directory(name, layout.PRIVATE) else 0o644
    info.mtime = mtime
    tar.addfile(info, data)


# --- what both sides check -----------------------------------------------------------------------


def check_documents(view: Home, now: int) -> int | None:
    """Check a home's trust documents as the home reads them: the anchor, and the registry
    against the anchor and the trust state (nothing to check without a registry). An
    expired registry is still genuine: the restored home says registry_stale, as it did, until a
    newer one is installed. Returns the registry version; RegistryError registry_invalid."""
    try:
        if view.file(layout.ANCHOR).exists():
            view.anchor()
        if not view.file(layout.REGISTRY).exists():
            return None
        return open_bundle(view.file(layout.REGISTRY).read_bytes(), view.anchor(), now, view.trust_state(),
                           allow_stale=True).registry.version
    except PermitError as exc:
        raise RegistryError(f"the registry and trust documents do not verify: {exc}", reason=Reason.REGISTRY_INVALID) from None
