"""A home's generation: a counter the home bumps each time it accepts a shared document (a
registry or a status list), so that every process serving from the home learns at once that
what it holds is old.

Every worker of a verifier answers from its own copy of the accepted documents. Re-reading the
home on a timer leaves a window in which a worker still says `valid` after a suspension was
accepted by another; asking the file system on every request costs a system call. Instead the
counter lives in an 8-byte file that each reader maps into memory once: reading it is a memory
load, and the kernel's page cache makes a write by one process visible to all of them at once.

The counter is only ever bumped under the home's lock, after the new document is in place, so a
reader that sees the new value and then reads the home finds at least that document.
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

_COUNTER = struct.Struct("<Q")


class Generation:
    """The counter in the file at `path`, created (as 0) if it is missing."""

    def __init__(self, path: Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            if os.fstat(fd).st_size < _COUNTER.size:
                # Extending with zeros never undoes a value another process wrote: a file that
                # is already long enough is left as it is.
                os.ftruncate(fd, _COUNTER.size)
            self._map = mmap.mmap(fd, _COUNTER.size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)  # the mapping keeps the file

    def current(self) -> int:
        return int(_COUNTER.unpack_from(self._map)[0])

    def bump(self) -> int:
        """Add one and return the new value. The caller holds the home's lock."""
        value = self.current() + 1
        _COUNTER.pack_into(self._map, 0, value)
        return value
