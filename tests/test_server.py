"""The real server: `permit serve` (gunicorn, 2 workers) on 127.0.0.1, spoken to over HTTP."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from conftest import Served

from permits import qr


def call(url: str, body: Any = None, method: str | None = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if response.headers.get_content_type() == "application/json" else raw
    except urllib.error.HTTPError as error:
        raw = error.read()
        return error.code, json.loads(raw) if raw.startswith(b"{") else raw


def test_verify_over_real_http(served: Served) -> None:
    now = int(time.time())
    good = served.city.issue(at=now, number="HTTP-1")
    bad = served.city.issue(at=now, number="HTTP-2")
    served.city.change(bad, "revoked")
    served.city.publish_status("hcm-syt", at=now)
    # Another process published the list: every worker picks it up from the home within seconds.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        answers = [call(f"{served.url}/api/v1/verify", {"token": bad.token}) for _ in range(6)]
        if all(verdict["status"] == "revoked" for _, verdict in answers):
            break
        time.sleep(0.3)
    status, verdict = answers[-1]
    assert (status, verdict["status"], verdict["reasons"]) == (200, "revoked", ["revoked"])
    time.sleep(2.5)  # one poll interval more: no worker can still hold the old list
    status, verdict = call(f"{served.url}/api/v1/verify", {"token": qr.token_to_digits(good.token)})
    assert (status, verdict["status"]) == (200, "valid")
    status, batch = call(f"{served.url}/api/v1/verify/batch", {"tokens": [good.token, bad.token, "forged"]})
    assert [v["status"] for v in batch["verdicts"]] == ["valid", "revoked", "invalid"]
    status, error = call(f"{served.url}/api/v1/verify", b"{", headers={"Content-Type": "application/json"})
    assert (status, error["error"]["reason"]) == (400, "bad_json")
    status, page = call(f"{served.url}/v")
    assert status == 200 and b"verify.js" in page


def test_access_log_never_holds_a_token(served: Served) -> None:
    now = int(time.time())
    token = served.city.issue(at=now).token
    digits = qr.token_to_digits(token)
    url = served.url
    call(f"{url}/api/v1/verify", {"token": token})
    call(f"{url}/api/v1/verify", {"token": digits})
    call(f"{url}/v?token={token}")  # a client that puts it in the query string
    call(f"{url}/v/{token}")  # ... or in the path
    call(f"{url}/api/v1/status/{digits[:200]}")
    call(f"{url}/v", headers={"Referer": f"{url}/v#{digits}", "User-Agent": "phone"})
    served.stop()  # flush and close the log
    log = served.access_log.read_text()
    assert log.count("\n") >= 6
    for secret in (token, token.split(".")[1][:24], token.split(".")[2][:24], digits[:24], digits[-24:]):
        assert secret not in log
    assert '"POST /api/v1/verify HTTP/1.1" 200' in log
    assert "GET /v?[redacted] HTTP/1.1" in log


def _workers(master: int) -> list[int]:
    """gunicorn's worker processes: the children of its master, once they have all started."""
    deadline = time.monotonic() + 30
    while True:
        workers = [int(pid) for pid in Path(f"/proc/{master}/task/{master}/children").read_text().split()]
        if len(workers) == 2 or time.monotonic() > deadline:
            return workers
        time.sleep(0.1)


def _connections_held(pid: int, port: int) -> int:
    """Established TCP connections on the server's port among the sockets process `pid` holds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    held = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port, state, inode = int(fields[1].split(":")[1], 16), fields[3], fields[9]
        held += local_port == port and state == "01" and inode in inodes
    return held


def test_a_burst_of_new_connections_is_shared_by_the_workers(served: Served) -> None:
    """Sixteen keep-alive connections arrive while the workers are busy elsewhere (stopped here),
    and one worker gets the CPU a few milliseconds before the other: it must not take them all,
    or every request on them waits for that one worker while the other idles."""
    port = int(served.url.rsplit(":", 1)[1])
    workers = _workers(served.process.pid)
    assert len(workers) == 2
    time.sleep(1)  # both workers have loaded the app and listen
    for pid in workers:
        os.kill(pid, signal.SIGSTOP)
    clients: list[http.client.HTTPConnection] = []
    try:
        for _ in range(16):
            client = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            client.connect()  # completed by the kernel; waits in the listen queue
            client.request("GET", "/api/v1/healthz")
            clients.append(client)
    finally:
        os.kill(workers[0], signal.SIGCONT)
        time.sleep(0.005)
        os.kill(workers[1], signal.SIGCONT)
    try:
        assert {client.getresponse().status for client in clients} == {200}
        held = [_connections_held(pid, port) for pid in workers]
    finally:
        for client in clients:
            client.close()
    assert sum(held) == 16
    assert min(held) >= 3, held  # without the yield: 16 and 0
