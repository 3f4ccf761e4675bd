"""The real server: `permit serve` (gunicorn, 2 workers) on 127.0.0.1, spoken to over HTTP."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from conftest import Served

from permits import qr

PERMIT = Path(sys.executable).parent / "permit"


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


@pytest.mark.parametrize("command", [["serve"], ["demo", "--serve"]], ids=["serve", "demo --serve"])
def test_the_verifier_listens_on_the_loopback_address_by_default(command: list[str]) -> None:
    # gunicorn's threads read requests themselves, so a slow client holds one: the service is
    # exposed only through a buffering proxy, and reachable from this machine alone until told.
    help_text = " ".join(subprocess.run([str(PERMIT), *command, "--help"], capture_output=True, text=True, check=True).stdout.split())
    # `demo` shows click's default; `serve` names the default its setting has (verifier/settings.py,
    # whose value tests/test_settings.py checks), since a flag not given leaves it to PERMIT_BIND.
    assert re.search(r"--bind TEXT [^\[]*(\[default: 127\.0\.0\.1:8000\]|PERMIT_BIND; default 127\.0\.0\.1:8000\))", help_text), help_text
