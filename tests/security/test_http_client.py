"""The one HTTP client (verifier/http_client.py) with the real parts: a real proxy (Debian's
tinyproxy) named by the environment, conditional pulls from a real `permit serve`, pushes that
come back after a 429 when its Retry-After says, and refusals that are read and reported even
when the verifier closes the connection on a body it did not read. The deadline for a whole
pull, the size cap and redirects are rule 9's (test_rule9_registry.py)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from attack_http import Host, live_city, respond, trickle
from click.testing import CliRunner
from conftest import DAY, City, Served, free_port, passphrase, start_server, verifier_home

from cli import cli
from keys.trust import MAX_BUNDLE_BYTES
from permits import operator
from permits.home import Home
from verifier import http_client
from verifier.http_client import HttpError, get, push, put
from verifier.state import TrustStore
from verifier.web.app import create_app

JSON = "application/json"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


# --- the parts ---------------------------------------------------------------------------------


@dataclass
class Proxy:
    """tinyproxy on 127.0.0.1 with its own configuration and log."""

    url: str
    log: Path

    def requests(self) -> list[tuple[str, str]]:
        """(method, absolute URL) of each request it has forwarded so far."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return re.findall(r"Request \(file descriptor \d+\): (\S+) (\S+) HTTP/", text)


@pytest.fixture
def tinyproxy(tmp_path: Path) -> Iterator[Proxy]:
    port = free_port()
    log = tmp_path / "tinyproxy.log"
    config = tmp_path / "tinyproxy.conf"
    config.write_text(f'Port {port}\nListen 127.0.0.1\nTimeout 30\nLogFile "{log}"\nLogLevel Connect\n'
                      f'PidFile "{tmp_path / "tinyproxy.pid"}"\nMaxClients 20\nAllow 127.0.0.1\n')
    # .ci/run installs Debian's tinyproxy: without it this fails, as it should.
    process = subprocess.Popen(["tinyproxy", "-d", "-c", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, "tinyproxy exited at start"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "tinyproxy did not listen within 10 s"
                time.sleep(0.05)
        yield Proxy(f"http://127.0.0.1:{port}", log)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # it waits for open connections up to its Timeout
            process.kill()
            process.wait()


@pytest.fixture
def no_proxy_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No proxy variable of the developer's own (in either case) reaches the test."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


@pytest.fixture
def upstream(city_template: Path, tmp_path: Path) -> Iterator[Served]:
    """A real `permit serve` over a verifier home of its own, whose registry names it as the
    place of every agency's status list: the documents a pulling verifier follows. One worker,
    so that a document pushed to it is the one it serves next (another worker would read it
    from the home within its poll interval)."""
    city = live_city(city_template, tmp_path)
    log = tmp_path / "upstream.log"
    upstream_home = verifier_home(city.home.path, tmp_path / "upstream")
    url, process = start_server(upstream_home, log, "--workers", "1")
    served = Served(city, url, log, process)
    try:
        draft = city.home.draft()
        agencies = {aid: replace(a, status_url=f"{url}/api/v1/status/{aid}") for aid, a in draft.agencies.items()}
        city.home.save_draft(replace(draft, agencies=agencies))
        city.trusted = operator.publish(city.home, passphrase, int(time.time()), 30 * DAY)
        assert push(url, "registry", city.home.file("registry.json").read_bytes(), JSON) is not None
        # Each list names its place (`sub`): published again for the new one, and laid in the
        # upstream's home (not pushed: the tests count the requests it answers).
        now = int(time.time())
        city.publish_all(at=now + 1)
        for aid in agencies:
            Home(upstream_home).install_status_list(city.home.status_path(aid).read_text().strip(), city.registry, aid, now + 1)
        wait_for(lambda: not any("problem" in held for held in healthz(url)["status_lists"].values()))
        yield served
    finally:
        served.stop()


def healthz(url: str) -> Any:
    with urllib.request.urlopen(f"{url}/api/v1/healthz") as response:
        return json.loads(response.read())


def answered(access_log: Path, method: str, path: str) -> list[int]:
    """The statuses the server answered to `method path`, in order."""
    pattern = rf'"{method} {re.escape(path)} HTTP/1\.1" (\d{{3}}) '
    return [int(status) for status in re.findall(pattern, access_log.read_text())]


def wait_for(condition: Callable[[], bool], seconds: float = 10) -> None:
    """Poll until `condition()` holds (a log line written by another process, say)."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not within the time allowed"
        time.sleep(0.05)


def pulling_store(home: Path, anchor: Path, registry_url: str, status_pull: bool = True) -> TrustStore:
    """A verifier with only the anchor, pulling the registry (and every status list) whenever
    asked (REFRESH_INTERVAL 0)."""
    home.mkdir()
    shutil.copy(anchor, home / "anchor.json")
    app = create_app({"HOME": str(home), "BACKGROUND_REFRESH": False, "TESTING": True, "REGISTRY_URL": registry_url,
                      "STATUS_PULL": status_pull, "REFRESH_INTERVAL": 0})
    store: TrustStore = app.extensions["permit_store"]
    return store


def push_status(upstream: Served, agency: str, env: dict[str, str] | None = None) -> str:
    """`permit status push` from the agency's home: its one line of output."""
    result = CliRunner().invoke(cli, ["status", "push", upstream.url, "--agency", agency],
                                env={"PERMIT_HOME": str(upstream.city.home.path), **(env or {})}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output.strip()


# --- proxies from the environment --------------------------------------------------------------


def test_pulls_and_pushes_go_through_the_proxy_the_environment_names_and_around_it_for_no_proxy(
    upstream: Served, tinyproxy: Proxy, no_proxy_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    city, agencies = upstream.city, sorted(upstream.city.registry.agencies)
    store = pulling_store(tmp_path / "pulling", city.home.file("anchor.json"), f"{upstream.url}/api/v1/registry")
    record = city.issue(at=int(time.time()), number="PROXY-1")
    no_proxy_environment.setenv("HTTP_PROXY", tinyproxy.url)

    store.pull()
    city.change(record, "suspended")
    city.publish_status("hcm-syt", at=int(time.time()) + 10)  # newer than the list upstream holds
    assert push_status(upstream, "hcm-syt") == f"Status list of hcm-syt accepted by {upstream.url}"
    wait_for(lambda: len(tinyproxy.requests()) == 2 + len(agencies))
    assert sorted(tinyproxy.requests()) == sorted(
        [("GET", f"{upstream.url}/api/v1/registry"), ("PUT", f"{upstream.url}/api/v1/status/hcm-syt")]
        + [("GET", f"{upstream.url}/api/v1/status/{aid}") for aid in agencies])
    assert store.snapshot.registry is not None and store.snapshot.registry.registry.version == city.registry.version
    assert sorted(store.snapshot.lists) == agencies

    # The same with the verifier's host in NO_PROXY: straight to it, the proxy sees nothing.
    no_proxy_environment.setenv("NO_PROXY", "127.0.0.1")
    city.change(record, "revoked")
    city.publish_status("hcm-syt", at=int(time.time()) + 20)
    assert push_status(upstream, "hcm-syt") == f"Status list of hcm-syt accepted by {upstream.url}"
    store.pull()
    wait_for(lambda: answered(upstream.access_log, "GET", "/api/v1/status/hcm-syt") == [200, 200])
    assert answered(upstream.access_log, "PUT", "/api/v1/status/hcm-syt") == [200, 200]
    assert len(tinyproxy.requests()) == 2 + len(agencies)
    assert store.verify(record.token).status == "revoked"


@pytest.mark.parametrize("case", [str.upper, str.lower], ids=["upper-case", "lower-case"])
def test_proxy_variables_are_read_in_either_case(tinyproxy: Proxy, no_proxy_environment: pytest.MonkeyPatch,
                                                 case: Callable[[str], str]) -> None:
    host = Host(lambda path, sock: respond(sock, 200, b"through"))
    try:
        no_proxy_environment.setenv(case("HTTP_PROXY"), tinyproxy.url)
        assert get(f"{host.url}/one", 100, 5).body == b"through"
        no_proxy_environment.setenv(case("NO_PROXY"), "127.0.0.1")
        assert get(f"{host.url}/two", 100, 5).body == b"through"
    finally:
        host.stop()
    assert tinyproxy.requests() == [("GET", f"{host.url}/one")]
    assert host.paths == ["/one", "/two"]


def test_a_host_trickling_through_the_proxy_is_cut_off_at_the_deadline(
    tinyproxy: Proxy, no_proxy_environment: pytest.MonkeyPatch
) -> None:
    # The proxy passes on a byte every 0.3 s: every read succeeds; the whole pull may not.
    host = Host(lambda path, sock: None)
    host.answer = lambda path, sock: trickle(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"a", 0.3, host.closing, 8)
    no_proxy_environment.setenv("HTTP_PROXY", tinyproxy.url)
    started = time.monotonic()
    try:
        with pytest.raises(HttpError) as failed:
            get(f"{host.url}/registry.json", 1 << 20, 1)
    finally:
        host.stop()
    assert (failed.value.reason, time.monotonic() - started < 2.5) == ("fetch_failed", True)
    assert "took longer than 1 s" in failed.value.message
    assert tinyproxy.requests() == [("GET", f"{host.url}/registry.json")]


def test_a_document_announced_larger_than_the_cap_is_refused_before_its_body_is_read() -> None:
    host = Host(lambda path, sock: None)
    host.answer = lambda path, sock: trickle(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 1000000000\r\n\r\n", b"", 1, host.closing, 8)
    started = time.monotonic()
    try:
        with pytest.raises(HttpError) as refused:
            get(f"{host.url}/registry.json", MAX_BUNDLE_BYTES, 5)
    finally:
        host.stop()
    assert (refused.value.reason, time.monotonic() - started < 2) == ("fetch_failed", True)
    assert refused.value.message.endswith(f"sent more than {MAX_BUNDLE_BYTES} bytes")


# --- conditional pulls ---------------------------------------------------------------------------


def test_a_pull_of_documents_held_is_a_304_that_changes_nothing_and_a_newer_one_is_pulled_and_installed(
    upstream: Served, no_proxy_environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    city, agencies, log = upstream.city, sorted(upstream.city.registry.agencies), upstream.access_log
    home = tmp_path / "pulling"
    store = pulling_store(home, city.home.file("anchor.json"), f"{upstream.url}/api/v1/registry")
    files = [home / "registry.json", *(home / "status" / f"{aid}.jwt" for aid in agencies)]

    def held() -> list[tuple[bytes, int]]:
        return [(path.read_bytes(), path.stat().st_mtime_ns) for path in files]

    def answers() -> dict[str, list[int]]:
        return {path: answered(log, "GET", path) for path in ["/api/v1/registry", *(f"/api/v1/status/{aid}" for aid in agencies)]}

    store.pull()
    wait_for(lambda: all(answers().values()))
    assert set(map(tuple, answers().values())) == {(200,)}
    first, snapshot = held(), store.snapshot

    store.pull()  # nothing changed upstream: every answer a 304, nothing written
    wait_for(lambda: all(len(statuses) == 2 for statuses in answers().values()))
    assert set(map(tuple, answers().values())) == {(200, 304)}
    assert held() == first
    assert store.snapshot.registry is snapshot.registry
    assert all(store.snapshot.lists[aid] is snapshot.lists[aid] for aid in agencies)

    # Newer documents pushed upstream: a suspension by hcm-syt and the next registry version.
    record = city.issue(at=int(time.time()), number="COND-1")
    city.change(record, "suspended")
    city.publish_status("hcm-syt", at=int(time.time()) + 10)
    assert push_status(upstream, "hcm-syt") == f"Status list of hcm-syt accepted by {upstream.url}"
    city.trusted = operator.publish(city.home, passphrase, int(time.time()), 30 * DAY)
    assert push(upstream.url, "registry", city.home.file("registry.json").read_bytes(), JSON) is not None

    store.pull()
    wait_for(lambda: all(len(statuses) == 3 for statuses in answers().values()))
    assert answers() == {"/api/v1/registry": [200, 304, 200], "/api/v1/status/hcm-syt": [200, 304, 200],
                         **{f"/api/v1/status/{aid}": [200, 304, 304] for aid in agencies if aid != "hcm-syt"}}
    now_held = held()
    assert now_held[0][0] == city.home.file("registry.json").read_bytes()
    assert store.snapshot.registry is not None and store.snapshot.registry.registry.version == city.registry.version
    changed = [aid for aid, before, after in zip(agencies, first[1:], now_held[1:], strict=True) if before != after]
    assert changed == ["hcm-syt"]
    assert store.verify(record.token).status == "suspended"


def test_an_etag_is_sent_only_for_a_document_held(city_template: Path, tmp_path: Path, no_proxy_environment: pytest.MonkeyPatch) -> None:
    # What a pull brought and the verifier refused is not held: the next pull must fetch it
    # whole (a 304 would leave it out for good), and only the one installed is asked for by ETag.
    city = live_city(city_template, tmp_path)
    good = city.home.file("registry.json").read_bytes()
    served: list[bytes] = [b'{"not": "a registry"}']
    seen: list[str | None] = []

    def answer(path: str, sock: socket.socket) -> None:
        respond(sock, 200, served[-1], {"ETag": f'"{len(served)}"'})

    host = Host(answer)
    store = pulling_store(tmp_path / "pulling", city.home.file("anchor.json"), f"{host.url}/registry.json", status_pull=False)
    original = store.fetcher
    store.fetcher = lambda url, max_bytes, timeout, etag: (seen.append(etag), original(url, max_bytes, timeout, etag))[1]
    try:
        store.pull()  # refused: nothing held, nothing remembered
        served.append(good)
        store.pull()  # fetched whole, installed
        store.pull()  # held: conditional
    finally:
        host.stop()
    assert seen == [None, None, '"2"']
    assert store.snapshot.registry is not None and store.snapshot.registry.bundle == good


# --- pushes: 429 and Retry-After, refusals read after a reset -------------------------------------


def _busy(times: int, retry_after: str, seen: list[float]) -> Callable[[str, socket.socket], None]:
    """A verifier that answers 429 push_busy `times` times (then 200), noting when each came."""
    refusal = json.dumps({"error": {"status": 429, "reason": "push_busy", "message": "checking other large documents"}}).encode()

    def answer(path: str, sock: socket.socket) -> None:
        seen.append(time.monotonic())
        if len(seen) <= times:
            respond(sock, 429, refusal, {"Content-Type": JSON, "Retry-After": retry_after})
        else:
            respond(sock, 200, json.dumps({"agency": "hcm-syt", "accepted": True}).encode(), {"Content-Type": JSON})

    return answer


def test_a_push_told_to_come_back_is_sent_again_after_retry_after() -> None:
    seen: list[float] = []
    host = Host(_busy(2, "1", seen))
    try:
        answer = put(f"{host.url}/api/v1/status/hcm-syt", b"token\n", "application/statuslist+jwt", timeout=10)
    finally:
        host.stop()
    assert answer == {"agency": "hcm-syt", "accepted": True}
    assert len(seen) == 3
    assert all(later - earlier >= 1.0 for earlier, later in zip(seen, seen[1:], strict=False))


def test_a_push_still_busy_after_its_attempts_is_reported_push_busy(city: City) -> None:
    city.publish_status("hcm-syt")
    seen: list[float] = []
    host = Host(_busy(1000, "1", seen))
    try:
        result = CliRunner().invoke(cli, ["status", "push", host.url, "--agency", "hcm-syt"],
                                    env={"PERMIT_HOME": str(city.home.path)}, catch_exceptions=False)
    finally:
        host.stop()
    assert result.exit_code == 2
    assert result.output.startswith("Error: [push_busy] ")
    assert len(seen) == http_client.PUSH_ATTEMPTS


def test_a_retry_after_past_the_pushs_deadline_is_not_waited_for() -> None:
    seen: list[float] = []
    host = Host(_busy(1000, "3600", seen))
    started = time.monotonic()
    try:
        with pytest.raises(HttpError) as refused:
            put(f"{host.url}/api/v1/registry", b"{}", JSON, timeout=10)
    finally:
        host.stop()
    assert (refused.value.reason, len(seen), time.monotonic() - started < 2) == ("push_busy", 1, True)


def _trickled_push(url: str, stop: threading.Event, started: threading.Event) -> None:
    """A chunked registry push whose chunks come slowly: it holds the worker's one turn for
    large pushes while its body is read, until `stop`."""
    host, port = url.split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(b"PUT /api/v1/registry HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
        started.set()
        while not stop.wait(0.2):
            sock.sendall(b"1\r\n \r\n")
        sock.sendall(b"0\r\n\r\n")
        sock.recv(65536)


def _release_after_429(log: Path, stop: threading.Event) -> None:
    """Let the slow push end once the verifier has told another to come back (or after 20 s)."""
    deadline = time.monotonic() + 20
    while 429 not in answered(log, "PUT", "/api/v1/registry") and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()


def test_a_large_push_to_a_busy_verifier_is_read_as_429_then_sent_again_and_accepted(
    city_template: Path, tmp_path: Path, no_proxy_environment: pytest.MonkeyPatch
) -> None:
    # A real `permit serve` with one worker, whose turn for pushes over 64 KiB is held by a slow
    # chunked push. The operator's registry (4 MiB: padded, as a large one is) is answered 429
    # push_busy before its body is read, and the connection closed under it: the client reads
    # that answer (the previous one said `unreachable`), waits Retry-After and sends it again.
    city = live_city(city_template, tmp_path)
    log = tmp_path / "access.log"
    url, process = start_server(verifier_home(city.home.path, tmp_path / "verifier"), log, "--workers", "1")
    served = Served(city, url, log, process)
    newer = operator.publish(city.home, passphrase, int(time.time()), 30 * DAY)
    padded = newer.bundle[:-1] + b" " * (4 * 1024 * 1024) + b"\n"
    stop, started = threading.Event(), threading.Event()
    holder = threading.Thread(target=_trickled_push, args=(url, stop, started), daemon=True)
    try:
        holder.start()
        assert started.wait(10)
        threading.Thread(target=_release_after_429, args=(log, stop), daemon=True).start()
        began = time.monotonic()
        answer = put(f"{url}/api/v1/registry", padded, JSON, timeout=60)
        took = time.monotonic() - began
        holder.join(timeout=30)
    finally:
        stop.set()
        served.stop()
    assert answer["version"] == newer.registry.version
    statuses = answered(log, "PUT", "/api/v1/registry")
    print(f"\nPUT /api/v1/registry answered {statuses}; the 4 MiB push took {took:.1f} s")
    assert statuses.count(200) == 1 and statuses[-1] == 200 and 429 in statuses, statuses
    assert took >= 2  # the verifier's Retry-After


def test_a_push_over_the_cap_is_reported_as_the_verifiers_413_not_as_the_reset_after_it(
    upstream: Served, no_proxy_environment: pytest.MonkeyPatch
) -> None:
    # Declared larger than any registry: refused before a byte is read, and the connection
    # closed while the client is still sending (the previous client said `unreachable`).
    for _ in range(3):
        with pytest.raises(HttpError) as refused:
            put(f"{upstream.url}/api/v1/registry", b" " * (MAX_BUNDLE_BYTES + 1024 * 1024), JSON, timeout=30)
        assert refused.value.reason == "body_too_large"
    assert answered(upstream.access_log, "PUT", "/api/v1/registry")[-3:] == [413, 413, 413]
