"""axe-core, Deque's accessibility engine (MPL-2.0), for the browser tests: a test tool, never
part of the page. One version, pinned with the integrity the npm registry publishes for it
(`npm view axe-core@VERSION dist.integrity`); `npm pack` fetches it once into the virtualenv, and
the tarball is checked against the pin every time it is read, so every run tests with the same
bytes. Debian's `npm` is needed (`.ci/run` installs it where it is missing)."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from functools import cache
from pathlib import Path

import pytest

VERSION = "4.14.1"
INTEGRITY = "sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ=="
CACHE = Path(sys.prefix) / "cache" / "npm"  # the virtualenv's: `make clean` removes it with the rest
TARBALL = CACHE / f"axe-core-{VERSION}.tgz"
SCRIPT = "package/axe.min.js"


def integrity(data: bytes) -> str:
    """The Subresource Integrity string npm records for a tarball."""
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def _fetch() -> None:
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is required to fetch axe-core for the accessibility tests (apt-get install npm)")
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as scratch:
        env = {**os.environ, "NPM_CONFIG_UPDATE_NOTIFIER": "false", "NPM_CONFIG_FUND": "false", "NPM_CONFIG_AUDIT": "false"}
        done = subprocess.run([npm, "pack", f"axe-core@{VERSION}", "--pack-destination", scratch, "--ignore-scripts", "--silent"],
                              env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            pytest.fail(f"npm pack axe-core@{VERSION} failed: {done.stderr.strip()}")
        Path(scratch, TARBALL.name).replace(TARBALL)


@cache
def source() -> str:
    """axe.min.js of the pinned version; fails the test if its tarball is not the pinned one."""
    if not TARBALL.exists():
        _fetch()
    data = TARBALL.read_bytes()
    if integrity(data) != INTEGRITY:
        TARBALL.unlink()  # fetched again next time
        pytest.fail(f"{TARBALL} is not axe-core {VERSION} as pinned: {integrity(data)}")
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        member = archive.extractfile(SCRIPT)
        assert member is not None
        return member.read().decode()
