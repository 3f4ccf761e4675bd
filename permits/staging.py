"""A staging directory that does not outlive its process, and a commit of many files as one step.

Backups and restores prepare their files in a staging directory beside their target, so the
final renames stay on one file system. A process can be stopped at any moment (Ctrl-C, SIGTERM,
SIGKILL), and a killed process runs no `finally`. So each stage has a janitor: a small process,
started with the stage in a session of its own, that waits for its parent to close a pipe. When
the parent finished its work it says so first, and the janitor just exits; when the pipe closes
without that word, the parent died, and the janitor undoes a commit in progress and removes the
stage.

A commit replaces several files. Before the first rename it writes a journal of what it will
replace and keeps a hard link to each original in the stage; undoing renames the originals
back and removes the files that were new. So a commit interrupted anywhere leaves the targets as
they were, whether the undo runs in the process (an exception) or in the janitor (a kill).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

JOURNAL = "journal.json"
_ORIGINALS = "originals"
_DONE = b"done"
_JANITOR_WAIT_SECONDS = 30.0


@dataclass(frozen=True)
class Move:
    """Put `staged` at `target` (None: remove `target`). `wal`: the target is an SQLite
    database that was taken out of WAL mode to be replaced; an undo puts it back in WAL mode."""

    staged: Path | None
    target: Path
    wal: bool = False


class Stage:
    """A staging directory (mode 0700: private keys pass through it) and its janitor."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def commit(self, moves: Sequence[Move]) -> None:
        """Carry out `moves`, all or none: on any exception the targets are put back as they were
        before the exception propagates; if the process is killed, the janitor puts them back.
        Staged files must already be complete and synced; each target's directory must exist."""
        originals = self.path / _ORIGINALS
        originals.mkdir()
        entries = [{"target": str(m.target), "existed": m.target.exists() or m.target.is_symlink(),
                    "inode": os.stat(m.staged).st_ino if m.staged is not None else None, "wal": m.wal} for m in moves]
        _write_synced(self.path / JOURNAL, json.dumps({"entries": entries}).encode())
        try:
            for i, move in enumerate(moves):
                if entries[i]["existed"]:
                    os.link(move.target, originals / str(i), follow_symlinks=False)
                if move.staged is None:
                    move.target.unlink(missing_ok=True)
                else:
                    os.replace(move.staged, move.target)
            for directory in sorted({m.target.parent for m in moves}):
                _sync_directory(directory)
        except BaseException:
            undo(self.path)
            raise
        # Committed: an undo from here on would take back a finished restore.
        (self.path / JOURNAL).unlink()


def undo(stage: Path) -> None:
    """Put back what an unfinished commit in `stage` changed (nothing when there is no journal).
    Safe to run again after an interrupted undo."""
    try:
        journal = json.loads((stage / JOURNAL).read_bytes())
    except (FileNotFoundError, ValueError):
        return
    entries: list[dict[str, Any]] = journal["entries"]
    for i in reversed(range(len(entries))):
        entry = entries[i]
        target, original = Path(entry["target"]), stage / _ORIGINALS / str(i)
        if original.exists() or original.is_symlink():
            os.replace(original, target)
        elif not entry["existed"] and entry["inode"] is not None:
            with suppress(FileNotFoundError):
                if os.stat(target, follow_symlinks=False).st_ino == entry["inode"]:
                    target.unlink()
        if entry["wal"] and target.exists():
            _back_to_wal(target)
    for directory in sorted({Path(entry["target"]).parent for entry in entries}):
        with suppress(OSError):
            _sync_directory(directory)
    (stage / JOURNAL).unlink(missing_ok=True)


@contextmanager
def staging(directory: Path, prefix: str, keep_open: IO[Any] | None = None) -> Iterator[Stage]:
    """A new stage in `directory`, removed when the block ends, or by its janitor if this
    process dies first. `keep_open`: a file the janitor holds open until it is done (the
    home's lock file: a lock taken on it stays held while the janitor undoes a commit)."""
    path = directory / f"{prefix}{secrets.token_hex(8)}"
    # The janitor first, the directory second: a signal between the two leaves nothing behind.
    janitor = _start_janitor(path, keep_open)
    try:
        path.mkdir(mode=0o700)
        yield Stage(path)
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if janitor is not None:
            _dismiss(janitor)


def _start_janitor(stage: Path, keep_open: IO[Any] | None) -> subprocess.Popen[bytes] | None:
    if not sys.executable:
        return None  # an embedded interpreter: the stage is still removed on every exception
    fds = (keep_open.fileno(),) if keep_open is not None else ()
    return subprocess.Popen(
        [sys.executable, "-m", "permits.staging", str(stage), *(str(fd) for fd in fds)],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        pass_fds=fds, start_new_session=True,  # a signal to our process group spares it
    )


def _dismiss(janitor: subprocess.Popen[bytes]) -> None:
    assert janitor.stdin is not None
    with suppress(BrokenPipeError):
        janitor.stdin.write(_DONE)
    with suppress(BrokenPipeError):
        janitor.stdin.close()
    try:
        janitor.wait(timeout=_JANITOR_WAIT_SECONDS)
    except subprocess.TimeoutExpired:
        janitor.kill()
        janitor.wait()


def _janitor(stage: Path) -> None:
    """Wait for the parent; if it went without saying it was done, clean up after it."""
    if sys.stdin.buffer.read() == _DONE:
        return
    undo(stage)
    shutil.rmtree(stage, ignore_errors=True)


def _write_synced(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _back_to_wal(database: Path) -> None:
    with suppress(sqlite3.DatabaseError), closing(sqlite3.connect(database, isolation_level=None, timeout=5)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


if __name__ == "__main__":
    _janitor(Path(sys.argv[1]))
