"""Writing a file whole: a crash leaves the old file or the new one, never half of either."""

from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: Path, data: bytes, mode: int = 0o644, *, exact_mode: bool = False, sync_directory: bool = False) -> None:
    """Write `data` to a temporary file created with `mode`, fsync it, rename it over `path`.

    The temporary file is created exclusively after removing any leftover one, so a stale or
    planted file (or symlink) can never lend it its permissions or redirect the write; it is
    removed again if the write fails. `mode` passes through the umask like any new file's,
    unless `exact_mode`: a document a static host serves must be readable by all whatever the
    umask of whoever published it. `sync_directory` also fsyncs the directory, so that the
    rename itself survives a crash (a published document must not come back as the old one).
    Raises OSError.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        try:
            if exact_mode:
                os.fchmod(fd, mode)
            written = memoryview(data)
            while written:  # a write may take only part of what it is given
                written = written[os.write(fd, written):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_directory:
        directory = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
