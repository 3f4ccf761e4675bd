"""What the fleet's rows of the benchmark run: nginx from the shipped template in front of
servers, `permit serve` nodes that pull from an origin, and the processor time of a process
group."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.servers import free_port, stop_group
from deploy.fleet import nginx_values, node_ready, start_nginx, stop_nginx

PERMIT = str(Path(sys.executable).parent / "permit")


@contextmanager
def nginx_front(directory: Path, nodes: list[str], origin: Path, origin_port: int | None = None) -> Iterator[tuple[str, str]]:
    """nginx (deploy/nginx.conf.template) in front of `nodes` (their URLs) and serving `origin`
    (on `origin_port`, or a free one) until the block ends; yields (public URL, origin URL)."""
    public, origin_port = free_port(), origin_port or free_port()
    # nginx wants an upstream server even where only the origin is used: one that never answers.
    upstream = [url.removeprefix("http://") for url in nodes] or ["127.0.0.1:9"]
    values = nginx_values(directory / "run", directory / "logs", public, upstream, origin_port, origin, 1)
    pid = start_nginx(directory / "run", directory / "logs", values)
    try:
        yield f"http://127.0.0.1:{public}", f"http://127.0.0.1:{origin_port}"
    finally:
        stop_nginx(pid)


@contextmanager
def node(home: Path, log: Path, *flags: str) -> Iterator[tuple[str, int]]:
    """`permit serve` (2 workers) over `home` until the block ends, once ready; yields (URL, pid
    of its master, which leads its process group)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log, "ab") as output:
        process = subprocess.Popen([PERMIT, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "2", "--access-log", "/dev/null",
                                    "--base-url", url, *flags], env={**os.environ, "PERMIT_HOME": str(home)},
                                   stdout=output, stderr=output, start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while not node_ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"permit serve did not become ready: {log}")
            time.sleep(0.2)
        yield url, process.pid
    finally:
        stop_group(process)


def group_cpu_seconds(leader: int) -> float:
    """Processor time (user and system) used so far by the live processes of `leader`'s process
    group: a node's master and workers."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # After the command: state (0), ppid, pgrp (2) ... utime (11), stime (12).
        if int(fields[2]) == leader:
            total += int(fields[11]) + int(fields[12])
    return total / ticks
