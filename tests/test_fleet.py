"""The fleet, end to end, from the shipped files (deploy/): the real nginx of
deploy/nginx.conf.template in front of three real `permit serve` nodes (gunicorn, 2 workers
each), which pull the registry and the status lists from the static origin the same nginx
serves; started and stopped by deploy/fleet.py, as `make fleet` does.

The fleet runs once for this module (each scenario is one test, in this order) with a pull
interval of 2 s; every wait is bounded. The figures (propagation times, requests, latencies
under attack) are printed: `pytest -s tests/test_fleet.py` shows them. Also here: the systemd
units, the environment file and the nginx template, checked without a fleet.
"""

from __future__ import annotations

import asyncio
import configparser
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.servers import WrkResult, parse_wrk
from deploy.fleet import NGINX_REFUSALS, TEMPLATE, Fleet, batch_body_max, nginx, problem_values, render, running
from keys.reasons import Reason
from permits.demo import DEMO_PASSPHRASE
from verifier import settings

ROOT = Path(__file__).parent.parent
DEPLOY = ROOT / "deploy"
PERMIT = str(Path(sys.executable).parent / "permit")
INTERVAL = 2  # each node's pull interval in this fleet, seconds
# Counts every answer that is not a 200 `valid` verdict, as well as wrk's own failures.
VERIFY_LUA = """
local tokens = {}
for line in io.lines(os.getenv("TOKENS")) do
  if #line > 0 then tokens[#tokens + 1] = line end
end
local counter = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) wrong = 0 end
request = function()
  counter = counter + 1
  local token = tokens[(counter % #tokens) + 1]
  return wrk.format("POST", "/api/v1/verify", {["Content-Type"] = "application/json"}, '{"token":"' .. token .. '"}')
end
response = function(status, headers, body)
  if status ~= 200 or not string.find(body, '"status":"valid"', 1, true) then wrong = wrong + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("wrong") end
  io.write(string.format("Not valid: %d\\n", total))
end
"""


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout} s"
        time.sleep(0.05)


def post(url: str, path: str, body: bytes, timeout: float = 5, source: str = "127.0.0.1",
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=timeout, source_address=(source, 0))
    try:
        connection.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), json.loads(response.read())
    finally:
        connection.close()


def request(url: str, method: str, path: str, body: bytes | None = None) -> tuple[int, dict[str, str], Any]:
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        connection.request(method, path, body)
        response = connection.getresponse()
        raw = response.read()
        return response.status, dict(response.getheaders()), json.loads(raw) if raw.startswith(b"{") else raw
    finally:
        connection.close()


def verdict(url: str, token: str, source: str = "127.0.0.1") -> str:
    status, _, body = post(url, "/api/v1/verify", json.dumps({"token": token}).encode(), source=source)
    assert status == 200, body
    return str(body["status"])


def error_of(status: int, reason: Reason) -> dict[str, Any]:
    """What an error answer's body is, its message aside."""
    return {"status": status, "reason": str(reason)}


def shape(body: Any) -> dict[str, Any]:
    """The API's error shape (RFC 9457 problem details keeping the `error` member), whoever
    answered, a node or nginx: its status and reason."""
    assert set(body) == {"type", "title", "status", "detail", "error"} and set(body["error"]) == {"status", "reason", "message"}, body
    error = body["error"]
    assert (body["status"], body["detail"], body["title"]) == (error["status"], error["message"], Reason(error["reason"]).sentence), body
    assert body["type"].endswith(f"/api/v1/problems/{error['reason']}"), body
    return {"status": error["status"], "reason": error["reason"]}


def permit(fleet: Fleet, *args: str) -> str:
    """Run `permit` as the city's officer; its standard output."""
    env = {**os.environ, "PERMIT_HOME": str(fleet.city), "PERMIT_PASSPHRASE": DEMO_PASSPHRASE}
    done = subprocess.run([PERMIT, *args], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def access_log(fleet: Fleet, n: int) -> list[dict[str, Any]]:
    """Node n's access log: one JSON object per request (the fleet's nodes log JSON lines)."""
    try:
        lines = fleet.node_access_log(n).read_text().splitlines()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in lines if line.endswith("}")]  # a line being written is left out


def verifications(fleet: Fleet, n: int) -> int:
    """How many POST /api/v1/verify node n has answered."""
    return sum(1 for line in access_log(fleet, n) if (line["method"], line["path"]) == ("POST", "/api/v1/verify"))


class Load:
    """wrk posting valid tokens through the public server until stopped (SIGINT: wrk reports)."""

    def __init__(self, fleet: Fleet, tokens: Path, lua: Path, connections: int = 8) -> None:
        self.socket_errors: tuple[int, ...] = (0, 0, 0, 0)
        self.process = subprocess.Popen(
            ["wrk", "-t1", f"-c{connections}", "-d120s", "--latency", "--timeout", "5s", "-s", str(lua), fleet.public_url],
            env={**os.environ, "TOKENS": str(tokens)}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def stop(self) -> tuple[WrkResult, int]:
        """wrk's figures and the count of answers that were not `valid` verdicts."""
        self.process.send_signal(signal.SIGINT)
        out, err = self.process.communicate(timeout=20)
        assert "Not valid:" in out, out + err
        found = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
        # wrk's socket errors by kind: connect, read (the connection closed before a whole answer), write, timeout.
        self.socket_errors = tuple(int(n) for n in found.groups()) if found else (0, 0, 0, 0)
        return parse_wrk(out), int(re.search(r"Not valid: (\d+)", out).group(1))  # type: ignore[union-attr]

    def __enter__(self) -> Load:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# --- the fleet ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    fleet = Fleet.create(tmp_path_factory.mktemp("fleet"), nodes=3, interval=INTERVAL)
    started = time.monotonic()
    fleet.up()
    print(f"\nFLEET up in {time.monotonic() - started:.1f} s: {fleet.public_url}")
    try:
        yield fleet
    finally:
        nginx = int((fleet.run_dir / "nginx.pid").read_text())
        nodes = [pid for n in range(3) if (pid := fleet.node_pid(n)) is not None]
        fleet.down()
        # Nothing of it runs any more: not nginx, nor any node's master or workers.
        assert not running(nginx)
        assert not [pid for pid in nodes if running(pid)]
        assert not [p for p in Path("/proc").iterdir() if p.name.isdigit() and _in_groups(int(p.name), nodes)]


def _in_groups(pid: int, groups: list[int]) -> bool:
    try:
        return os.getpgid(pid) in groups and running(pid)
    except OSError:
        return False


@pytest.fixture(scope="module")
def tokens(fleet: Fleet) -> list[str]:
    """The demo's valid permits, as tokens."""
    samples = json.loads((fleet.dir / "samples.json").read_text())
    return [url.split("#", 1)[1] for label, url in samples if label == "valid"]


@pytest.fixture(scope="module")
def load_files(fleet: Fleet, tokens: list[str]) -> tuple[Path, Path]:
    token_file, lua = fleet.dir / "tokens.txt", fleet.dir / "verify-valid.lua"
    token_file.write_text("\n".join(tokens) + "\n")
    lua.write_text(VERIFY_LUA)
    return token_file, lua


def publish_to_origin(fleet: Fleet, agency: str) -> None:
    permit(fleet, "status", "publish", "--agency", agency, "--origin", str(fleet.origin))


def test_a_revocation_published_to_the_origin_reaches_every_node_within_its_interval(fleet: Fleet) -> None:
    issued = json.loads(permit(fleet, "issue", "--agency", "hcm-syt", "--type", "food-safety", "--holder-id", "0312345678",
                               "--holder-name", "Công ty TNHH Thực phẩm Sạch Sài Gòn", "--valid-until", "2028-12-31", "--json"))
    token = issued["token"]
    for n in range(3):
        assert verdict(fleet.node_url(n), token) == "valid"
    permit(fleet, "revoke", issued["id"], "--reason", "cơ sở ngừng hoạt động")
    publish_to_origin(fleet, "hcm-syt")  # no push to any node
    published = time.monotonic()
    learnt: dict[int, float] = {}
    deadline = published + INTERVAL + 3
    while len(learnt) < 3 and time.monotonic() < deadline:
        for n in set(range(3)) - set(learnt):
            if verdict(fleet.node_url(n), token) == "revoked":
                learnt[n] = time.monotonic() - published
        time.sleep(0.02)
    print(f"\nFLEET propagation (publish to the origin → node answers revoked), pull interval {INTERVAL} s: "
          + ", ".join(f"node{n} {learnt[n]:.2f} s" for n in sorted(learnt)))
    assert sorted(learnt) == [0, 1, 2], f"nodes that never answered revoked: {set(range(3)) - set(learnt)}"
    # Within the pull interval, plus what one pull and one look at the home take.
    assert max(learnt.values()) <= INTERVAL + 1.0
    assert verdict(fleet.public_url, token) == "revoked"


def test_a_node_killed_under_load_fails_no_request_and_takes_traffic_again_once_ready(
        fleet: Fleet, load_files: tuple[Path, Path]) -> None:
    """Every request the killed node had not begun to answer goes to another node (nginx retries
    it: verification only reads). The one thing no proxy can retry is an answer the node had
    begun to send: gunicorn writes a response's headers and then its body in two writes, and a
    kill between the two leaves nginx holding half an answer it has already passed on. Such a
    request fails, and nginx logs it as "upstream prematurely closed connection while reading
    upstream" from the killed node; it happened in 0 to 2 of some 5,000 requests per kill, only on
    a loaded machine. The test counts those exactly: any other failure, of any kind, fails it."""
    before = [verifications(fleet, n) for n in range(3)]
    errors_before = (fleet.logs / "nginx-error.log").read_text() if (fleet.logs / "nginx-error.log").exists() else ""
    with Load(fleet, *load_files) as load:
        wait_until(lambda: all(verifications(fleet, n) > before[n] for n in range(3)), 15, "every node serving")
        fleet.stop_node(0, signal.SIGKILL)  # master and workers at once: nothing is finished
        killed = time.monotonic()
        fleet.start_node(0)
        fleet.wait_ready(0, 30)
        ready = time.monotonic()
        served = verifications(fleet, 0)
        wait_until(lambda: verifications(fleet, 0) > served, 15, "the restarted node answering again")
        back = time.monotonic()
        result, not_valid = load.stop()
    print(f"\nFLEET SIGKILL of node0 under load: {result.requests:,} requests, {result.errors} socket errors, "
          f"{result.non_2xx} non-2xx, {not_valid} not a valid verdict; node0 ready {ready - killed:.1f} s after the kill, "
          f"answering through nginx {back - ready:.1f} s after that; socket errors (connect, read, write, timeout) "
          f"{load.socket_errors}")
    logged = (fleet.logs / "nginx-error.log").read_text()[len(errors_before):]
    half_answered = len(re.findall(r"upstream prematurely closed connection while reading upstream, .*"
                                   rf"upstream: \"http://127\.0\.0\.1:{fleet.node_ports[0]}/", logged))
    connect, read, write, timeout = load.socket_errors
    assert (connect, write, timeout, result.non_2xx, not_valid) == (0, 0, 0, 0, 0)
    assert read == half_answered, logged[-3000:]
    assert result.errors == read and result.requests > 0


def test_a_rolling_restart_under_load_fails_no_request(fleet: Fleet, load_files: tuple[Path, Path]) -> None:
    before = [verifications(fleet, n) for n in range(3)]
    took = []
    with Load(fleet, *load_files) as load:
        wait_until(lambda: all(verifications(fleet, n) > before[n] for n in range(3)), 15, "every node serving")
        for n in range(3):
            started = time.monotonic()
            fleet.stop_node(n, signal.SIGTERM)  # graceful: gunicorn finishes what it has
            fleet.start_node(n)
            fleet.wait_ready(n, 30)
            served = verifications(fleet, n)
            wait_until(lambda n=n, served=served: verifications(fleet, n) > served, 15, f"node{n} answering again")
            took.append(time.monotonic() - started)
        result, not_valid = load.stop()
    print(f"\nFLEET rolling restart of 3 nodes under load: {result.requests:,} requests, {result.errors} socket errors, "
          f"{result.non_2xx} non-2xx, {not_valid} not a valid verdict; each node back in traffic after "
          + ", ".join(f"{t:.1f} s" for t in took))
    assert (result.errors, result.non_2xx, not_valid) == (0, 0, 0)


# --- slow clients ------------------------------------------------------------------------------

ATTACK_SECONDS = 15
ATTACKERS = [f"127.0.0.{i}" for i in range(2, 22)]  # 20 addresses × 15 connections: under limit_conn
HEAD = b"POST /api/v1/verify HTTP/1.1\r\nHost: xacminh.example\r\nContent-Type: application/json\r\n"


class Attack:
    """300 slow connections through nginx, each kind 75, opened again as soon as nginx cuts one."""

    KINDS = ("slowloris", "expect-100-no-body", "trickled-chunked", "content-length-then-nothing")

    def __init__(self, port: int, seconds: float) -> None:
        self.port, self.seconds = port, seconds
        self.open = 0
        self.opened: Counter[str] = Counter()
        self.cut: Counter[str] = Counter()
        self.started = threading.Event()

    async def _one(self, kind: str, source: str, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.port, local_addr=(source, 0))
            except OSError:
                await asyncio.sleep(0.1)
                continue
            self.open += 1
            self.opened[kind] += 1
            try:
                if kind == "slowloris":
                    writer.write(b"POST /api/v1/verify HTTP/1.1\r\n")
                elif kind == "expect-100-no-body":
                    writer.write(HEAD + b"Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n")
                elif kind == "trickled-chunked":
                    writer.write(HEAD + b"Transfer-Encoding: chunked\r\n\r\n")
                else:
                    writer.write(HEAD + b"Content-Length: 8000\r\n\r\n")
                await writer.drain()
                n = 0
                while time.monotonic() < deadline:
                    try:
                        data = await asyncio.wait_for(reader.read(4096), timeout=1.0)
                        if not data:
                            self.cut[kind] += 1  # nginx closed it: open another
                            break
                    except TimeoutError:
                        pass
                    n += 1
                    if kind == "slowloris":
                        writer.write(f"X-Padding-{n}: {n}\r\n".encode())
                    elif kind == "trickled-chunked":
                        writer.write(b"1\r\n{\r\n")
                    await writer.drain()
            except OSError:
                self.cut[kind] += 1
            finally:
                self.open -= 1
                writer.close()

    async def _all(self) -> None:
        deadline = time.monotonic() + self.seconds
        jobs = [self._one(kind, ATTACKERS[i % len(ATTACKERS)], deadline)
                for i, kind in enumerate(k for k in self.KINDS for _ in range(75))]
        tasks = [asyncio.ensure_future(job) for job in jobs]
        while self.open < 300 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        self.started.set()
        await asyncio.gather(*tasks)

    def run(self) -> None:
        asyncio.run(self._all())


def test_slow_clients_through_nginx_leave_verification_answering_within_a_second(fleet: Fleet, tokens: list[str]) -> None:
    attack = Attack(fleet.public_port, ATTACK_SECONDS)
    attacker = threading.Thread(target=attack.run, daemon=True)
    attacker.start()
    assert attack.started.wait(10), f"the attack did not open its 300 connections ({attack.open} open)"
    latencies: list[float] = []
    held: list[int] = []  # attack connections open when each verification was sent
    answers: Counter[str] = Counter()
    while attacker.is_alive():
        held.append(attack.open)
        started = time.monotonic()
        answers[verdict(fleet.public_url, tokens[len(latencies) % len(tokens)])] += 1
        latencies.append(time.monotonic() - started)
        time.sleep(0.2)
    attacker.join(10)
    print(f"\nFLEET slow clients: 300 connections for {ATTACK_SECONDS} s ({dict(attack.opened)} opened, "
          f"{dict(attack.cut)} cut by nginx, median {sorted(held)[len(held) // 2]} open during a verification, "
          f"fewest {min(held)}); {len(latencies)} verifications through nginx meanwhile: max {max(latencies) * 1000:.0f} ms, "
          f"median {sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms")
    assert not attacker.is_alive()
    assert answers == {"valid": len(latencies)} and len(latencies) >= 3 * ATTACK_SECONDS
    assert max(latencies) < 1.0
    # The attack held its connections all along: nginx cuts the slow ones after 5 s, and they
    # came back at once.
    assert sorted(held)[len(held) // 2] >= 290
    assert attack.cut["slowloris"] > 0 and attack.cut["content-length-then-nothing"] > 0


# --- what nginx answers itself ------------------------------------------------------------------


def test_metrics_are_not_public(fleet: Fleet) -> None:
    status, headers, body = request(fleet.public_url, "GET", "/metrics")
    assert (status, shape(body)) == (404, error_of(404, Reason.NOT_FOUND))
    assert headers["Content-Type"] == "application/problem+json"
    # ... while each node answers them at its own address.
    status, headers, body = request(fleet.node_url(1), "GET", "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain")
    assert b'permit_verdicts_total{agency="hcm-skhdt",reason="none",status="valid"}' in body
    for path in ("/", "/v", "/favicon.ico"):  # the page and its icon stay public
        assert request(fleet.public_url, "GET", path)[0] == 200
    for path in ("/healthz", "/api/v2/verify", "/.errors/not_found", "/static/../metrics", "/api/v1/../../metrics"):
        status, _, body = request(fleet.public_url, "GET", path)
        assert (status, shape(body)) == (404, error_of(404, Reason.NOT_FOUND)), path


def test_a_request_has_one_id_in_nginx_s_log_and_the_node_s(fleet: Fleet, tokens: list[str]) -> None:
    status, headers, body = post(fleet.public_url, "/api/v1/verify", json.dumps({"token": tokens[0]}).encode())
    assert (status, body["status"]) == (200, "valid")
    request_id = headers["X-Request-Id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    wait_until(lambda: any(line.get("request_id") == request_id for n in range(3) for line in access_log(fleet, n)), 5,
               "the node's log line")
    [line] = [line for n in range(3) for line in access_log(fleet, n) if line.get("request_id") == request_id]
    assert (line["method"], line["path"], line["status"]) == ("POST", "/api/v1/verify", 200)
    wait_until(lambda: request_id in (fleet.logs / "nginx-access.log").read_text(), 5, "nginx's log line")
    [logged] = [entry for entry in (fleet.logs / "nginx-access.log").read_text().splitlines() if request_id in entry]
    assert '"POST /api/v1/verify HTTP/1.1" 200 ' in logged


def test_nginx_refuses_in_the_api_error_shape(fleet: Fleet, tokens: list[str]) -> None:
    token_body = json.dumps({"token": tokens[0]}).encode()
    # A body over the API's own limit (8 KiB for one verification) never reaches a node.
    status, headers, body = post(fleet.public_url, "/api/v1/verify", token_body + b" " * 8192)
    assert (status, shape(body)) == (413, error_of(413, Reason.BODY_TOO_LARGE))
    status, _, body = post(fleet.public_url, "/api/v1/verify/batch", b" " * (batch_body_max() + 1))
    assert (status, shape(body)) == (413, error_of(413, Reason.BODY_TOO_LARGE))
    # nginx's limit for a batch is the node's own: a body at it reaches the node (which reads it
    # and finds no JSON), one byte more the node too refuses.
    status, _, body = post(fleet.public_url, "/api/v1/verify/batch", b" " * batch_body_max())
    assert (status, shape(body)) == (400, error_of(400, Reason.BAD_JSON))
    status, _, body = post(fleet.node_url(0), "/api/v1/verify/batch", b" " * (batch_body_max() + 1))
    assert (status, shape(body)) == (413, error_of(413, Reason.BODY_TOO_LARGE))
    # ... while a body at the limit does.
    status, _, body = post(fleet.public_url, "/api/v1/verify", token_body + b" " * (8192 - len(token_body)))
    assert (status, body["status"]) == (200, "valid")
    # Pushes are not public.
    status, headers, body = request(fleet.public_url, "PUT", "/api/v1/registry", b"{}")
    assert (status, shape(body), headers["Allow"]) == (405, error_of(405, Reason.METHOD_NOT_ALLOWED), "GET, HEAD")
    status, _, body = request(fleet.public_url, "PUT", "/api/v1/status/hcm-syt", b"x")
    assert (status, shape(body)) == (405, error_of(405, Reason.METHOD_NOT_ALLOWED))
    # A transfer coding other than chunked, and a request line that is not HTTP.
    status, _, body = post(fleet.public_url, "/api/v1/verify", b"", headers={"Transfer-Encoding": "gzip"})
    assert (status, shape(body)) == (400, error_of(400, Reason.UNSUPPORTED_TRANSFER_CODING))
    with socket.create_connection(("127.0.0.1", fleet.public_port), timeout=5) as raw:
        raw.sendall(b"NOT HTTP\r\n\r\n")
        answer = raw.makefile("rb").read()
    assert answer.startswith(b"HTTP/1.1 400 ") and shape(json.loads(answer.split(b"\r\n\r\n", 1)[1])) == error_of(400, Reason.BAD_REQUEST)


def test_nginx_limits_the_connections_of_one_address(fleet: Fleet, tokens: list[str]) -> None:
    """20 requests at once per address: a 21st is refused 429 rate_limited, with Retry-After."""
    held = []
    try:
        for _ in range(20):  # requests whose body never comes: each holds a connection slot
            sock = socket.create_connection(("127.0.0.1", fleet.public_port), timeout=5, source_address=("127.0.0.50", 0))
            sock.sendall(HEAD + b"Content-Length: 100\r\n\r\n")
            held.append(sock)
        wait_until(lambda: _refused(fleet, tokens[0]) == 429, 3, "the 21st request refused")
        status, headers, body = post(fleet.public_url, "/api/v1/verify", json.dumps({"token": tokens[0]}).encode(),
                                     source="127.0.0.50")
        assert (status, shape(body), headers["Retry-After"]) == (429, error_of(429, Reason.RATE_LIMITED), "1")
        # Another address, and this machine, are not held back.
        assert verdict(fleet.public_url, tokens[0], source="127.0.0.51") == "valid"
        assert verdict(fleet.public_url, tokens[0]) == "valid"
    finally:
        for sock in held:
            sock.close()


def _refused(fleet: Fleet, token: str) -> int:
    return post(fleet.public_url, "/api/v1/verify", json.dumps({"token": token}).encode(), source="127.0.0.50")[0]


def test_with_no_node_left_nginx_answers_503_service_unavailable(fleet: Fleet, tokens: list[str]) -> None:
    """Last: it stops every node."""
    for n in range(3):
        fleet.stop_node(n, signal.SIGTERM)
    status, headers, body = post(fleet.public_url, "/api/v1/verify", json.dumps({"token": tokens[0]}).encode())
    assert (status, shape(body), headers["Retry-After"]) == (503, error_of(503, Reason.SERVICE_UNAVAILABLE), "5")


# --- the shipped files, without a fleet -----------------------------------------------------------------


def test_every_error_page_of_the_nginx_template_is_the_nodes_own_problem_bytes(tmp_path: Path) -> None:
    """What nginx refuses itself is answered byte for byte as a node answers a refusal: the
    same problem details, under the same public address."""
    from verifier.web.app import create_app
    from verifier.web.errors import error_response

    pages = re.findall(r"location = /\.errors/\w+ \{[^}]*?return (\d{3}) '\$\{PROBLEM_(\w+)\}\\n';", TEMPLATE.read_text())
    assert sorted(name for _, name in pages) == sorted(NGINX_REFUSALS)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "tests" / "vectors" / "anchor.json", home / "anchor.json")
    app = create_app({"HOME": str(home), "BASE_URL": "https://xacminh.example", "BACKGROUND_REFRESH": False})
    values = problem_values("https://xacminh.example")
    with app.app_context():
        for status, name in pages:
            expected_status, reason, message = NGINX_REFUSALS[name]
            node = error_response(expected_status, reason, message)
            assert int(status) == expected_status
            assert (values[f"PROBLEM_{name}"] + "\n").encode() == node.get_data(), name


def test_the_nginx_template_renders_only_with_every_value_and_nginx_accepts_it(tmp_path: Path) -> None:
    values = {**problem_values("https://xacminh.example"), "NGINX_USER": "www-data", "PID_FILE": str(tmp_path / "nginx.pid"), "TEMP_DIR": str(tmp_path), "LOG_DIR": str(tmp_path), "PUBLIC_LISTEN": "127.0.0.1:8080",
              "SERVER_NAME": "xacminh.example", "NODES": "server 127.0.0.1:8001 max_fails=1 fail_timeout=5s;",
              "BATCH_BODY_MAX": str(batch_body_max()), "ORIGIN_LISTEN": "127.0.0.1:8090", "ORIGIN_DIR": str(tmp_path),
              "ORIGIN_MAX_AGE": "15"}
    text = render(TEMPLATE.read_text(), values)
    assert "${" not in text and "$request_id" in text and "$binary_remote_addr" in text
    with pytest.raises(Exception, match="without a value: \\['SERVER_NAME'\\]"):
        render(TEMPLATE.read_text(), {k: v for k, v in values.items() if k != "SERVER_NAME"})
    with pytest.raises(Exception, match="for no placeholder: \\['SERVER_NAMES'\\]"):
        render(TEMPLATE.read_text(), {**values, "SERVER_NAMES": "x"})
    (tmp_path / "nginx.conf").write_text(text)
    checked = subprocess.run([nginx(), "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"),
                              "-e", str(tmp_path / "error.log")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr


def unit(name: str) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / name)
    return parser


def permit_command(exec_start: str) -> list[str]:
    """The `permit` command line a unit's ExecStart runs (directly or through `sh -c`)."""
    words = shlex.split(exec_start)
    if words[0] == "/bin/sh":
        words = shlex.split(words[words.index("-c") + 1])
        words = words[next(i for i, w in enumerate(words) if w == "exec") + 1:]
    assert words[0] == "/opt/permit/bin/permit", words
    return words[1:]


@pytest.mark.parametrize(("name", "subcommand"), [("permit-verifier@.service", ["serve"]),
                                                  ("permit-publisher.service", ["status", "publish"])])
def test_each_unit_runs_a_permit_command_with_flags_it_has(name: str, subcommand: list[str]) -> None:
    service = unit(name)["Service"]
    words = permit_command(service["ExecStart"])
    assert words[:len(subcommand)] == subcommand
    usage = subprocess.run([PERMIT, *subcommand, "--help"], capture_output=True, text=True, check=True).stdout
    flags = [w for w in words if w.startswith("--")]
    assert flags and all(re.search(rf"{re.escape(flag)}\b", usage) for flag in flags), (flags, usage)
    for setting, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes", "ProtectHome": "yes"}.items():
        assert service[setting] == value, setting
    assert service["ReadWritePaths"] and service["User"] != "root"


def test_the_publisher_takes_its_passphrase_from_a_credential_not_an_environment_file() -> None:
    service = unit("permit-publisher.service")["Service"]
    assert service["LoadCredential"].startswith("passphrase:/etc/permit/credentials/")
    assert '"$(cat "$CREDENTIALS_DIRECTORY/passphrase")"' in service["ExecStart"]
    assert "PASSPHRASE" not in (DEPLOY / "permit.env").read_text()
    timer = unit("permit-publisher.timer")["Timer"]
    assert timer["OnCalendar"] and timer["Persistent"] == "true"


def test_systemd_accepts_the_units(tmp_path: Path) -> None:
    """systemd-analyze verify (Debian's systemd; .ci/run installs it): the units' syntax and
    their executables (permit is put where the units expect it)."""
    assert shutil.which("systemd-analyze"), "systemd-analyze is needed: apt-get install systemd"
    for source in (DEPLOY / "systemd").iterdir():
        (tmp_path / source.name).write_text(source.read_text().replace("/opt/permit/bin/permit", PERMIT))
    (tmp_path / "permit-verifier@8001.service").symlink_to(tmp_path / "permit-verifier@.service")
    checked = subprocess.run(["systemd-analyze", "verify", "--man=no", "permit-verifier@8001.service",
                              "permit-publisher.service", "permit-publisher.timer"],
                             cwd=tmp_path, capture_output=True, text=True)
    assert (checked.returncode, checked.stdout + checked.stderr) == (0, "")


def test_the_environment_file_names_every_setting() -> None:
    named = set(re.findall(r"^#?(PERMIT_[A-Z_]+)=", (DEPLOY / "permit.env").read_text(), re.MULTILINE))
    # Every setting of verifier/settings.py, and the configuration file's own variable.
    assert named == {f"PERMIT_{setting.name}" for setting in settings.SETTINGS} | {"PERMIT_CONFIG"}
