"""Running a verifier (or the bare baseline) under gunicorn with the same settings, and wrk."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# On a machine of two cores the server gets the first and wrk the second, so that they do not
# take turns on the same core and the figure measures the server.
PINNED = (os.cpu_count() or 1) >= 2 and shutil.which("taskset") is not None
SERVER_CPU, CLIENT_CPU = "0", "1"


def _pinned(command: list[str], cpu: str) -> list[str]:
    return ["taskset", "-c", cpu, *command] if PINNED else command


@contextmanager
def server(app: str, home: Path | None, workers: int, threads: int, worker_class: str,
           pin: bool = True) -> Iterator[tuple[str, list[int]]]:
    """Run bench/serve.py (our app or the bare one) until the block ends; yields (url, worker pids)."""
    port = free_port()
    command = [PYTHON, str(BENCH / "serve.py"), app, f"127.0.0.1:{port}", str(workers), str(threads), worker_class]
    command = _pinned(command, SERVER_CPU) if pin else command
    env = {**os.environ, "PYTHONPATH": str(BENCH.parent)}
    if home is not None:
        env["PERMIT_HOME"] = str(home)
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/v1/healthz", timeout=2) as response:
                    if response.status == 200 and (app == "bare" or json.loads(response.read())["status"] == "ok"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{app} server did not start")
            time.sleep(0.3)
        workers = _children(process.pid)
        _settle(workers)
        yield url, workers
    finally:
        stop_group(process)


def stop_group(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started in a session of its own, and all its processes: SIGTERM, and
    SIGKILL if it has not ended within 30 s."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    return total


def _settle(workers: list[int], timeout: float = 120) -> None:
    """Wait until every worker has finished loading: the first one to answer /healthz may be
    ready while another still reads a large registry, and would be measured doing so."""
    deadline = time.monotonic() + timeout
    before = _cpu_seconds(workers)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        after = _cpu_seconds(workers)
        if after - before < 0.05:
            return
        before = after
    raise RuntimeError("the server's workers did not settle")


def _children(pid: int) -> list[int]:
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    except OSError:
        return []
    return [int(p) for p in out.split()]


def rss_mib(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class WrkResult:
    requests_per_second: float
    p99_ms: float
    requests: int
    errors: int  # socket errors of any kind
    non_2xx: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, tokens_file: Path, seconds: int, connections: int, threads: int = 1, pin: bool = True) -> WrkResult:
    """POST /api/v1/verify with the tokens of `tokens_file` in turn."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s",
               "-s", str(BENCH / "verify.lua"), url]
    out = subprocess.run(
        _pinned(command, CLIENT_CPU) if pin else command,
        env={**os.environ, "TOKENS": str(tokens_file)}, capture_output=True, text=True, check=True,
    ).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> WrkResult:
    """wrk's report (with --latency) as figures."""
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    errors_match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    errors = sum(int(n) for n in errors_match.groups()) if errors_match else 0
    non_2xx_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(rps, p99, requests, errors, int(non_2xx_match.group(1)) if non_2xx_match else 0)
