"""Freshness: a verifier pulls the registry and status lists in the background, never blocks a
request on the network, and says so honestly when what it holds has gone stale."""

from __future__ import annotations

import http.server
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import DAY, NOW, City, Clock, passphrase
from flask.testing import FlaskClient

from keys.errors import PermitError
from permits import operator
from verifier.http_client import HttpError, get
from verifier.web.app import create_app


class Publisher:
    """A real HTTP server on 127.0.0.1 serving an agency's and the operator's published files."""

    def __init__(self, routes: dict[str, Callable[[], tuple[int, bytes, dict[str, str]]]]) -> None:
        self.routes = routes
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server interface
                route = outer.routes.get(self.path)
                status, body, headers = route() if route else (404, b"", {})
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except BrokenPipeError:
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def publisher() -> Iterator[Publisher]:
    server = Publisher({})
    yield server
    server.stop()


def serve_file(path: Path) -> Callable[[], tuple[int, bytes, dict[str, str]]]:
    return lambda: (200, path.read_bytes(), {"Content-Type": "application/octet-stream"})


def point_status_urls_at(city: City, base: str, at: int) -> None:
    """Republish the registry with each agency's status list published at `base`."""
    draft = city.home.draft()
    agencies = {aid: replace(a, status_url=f"{base}/status/{aid}.jwt") for aid, a in draft.agencies.items()}
    city.home.save_draft(replace(draft, agencies=agencies))
    city.trusted = operator.publish(city.home, passphrase, at, 30 * DAY)


@pytest.fixture
def pulling(city: City, publisher: Publisher, tmp_path: Path, clock: Clock) -> Iterator[tuple[FlaskClient, City]]:
    """A verifier with only the anchor, pulling everything from the publisher every second."""
    point_status_urls_at(city, publisher.url, NOW)
    city.publish_all()
    publisher.routes["/registry.json"] = serve_file(city.home.file("registry.json"))
    for agency in city.registry.agencies:
        publisher.routes[f"/status/{agency}.jwt"] = serve_file(city.home.status_path(agency))
    home = tmp_path / "verifier"
    home.mkdir()
    shutil.copy(city.home.file("anchor.json"), home / "anchor.json")
    app = create_app({
        "HOME": str(home), "REGISTRY_URL": f"{publisher.url}/registry.json", "STATUS_PULL": True,
        "REFRESH_INTERVAL": 1, "POLL_INTERVAL": 0.1, "FETCH_TIMEOUT": 2, "CLOCK": clock, "TESTING": True,
    })
    yield app.test_client(), city
    app.extensions["permit_store"].stop()


def wait_for(check: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def verdict(client: FlaskClient, token: str) -> dict:  # type: ignore[type-arg]
    return client.post("/api/v1/verify", json={"token": token}).get_json()  # type: ignore[no-any-return]


def test_a_verifier_configured_with_only_the_anchor_pulls_everything(pulling: tuple[FlaskClient, City], clock: Clock) -> None:
    client, city = pulling
    record = city.issue()
    client.get("/api/v1/healthz")  # the first request starts the refresher
    wait_for(lambda: client.get("/api/v1/healthz").get_json()["status"] == "ok")
    assert verdict(client, record.token)["status"] == "valid"

    # The agency revokes and publishes: within one refresh interval, the verifier knows.
    city.change(record, "revoked")
    city.publish_status("hcm-syt", at=NOW + 10)
    clock.now = NOW + 10
    wait_for(lambda: verdict(client, record.token)["status"] == "revoked", seconds=10)


def test_a_verifier_cut_off_from_updates_says_stale_never_valid(pulling: tuple[FlaskClient, City], publisher: Publisher, clock: Clock) -> None:
    client, city = pulling
    record = city.issue()
    client.get("/api/v1/healthz")
    wait_for(lambda: client.get("/api/v1/healthz").get_json()["status"] == "ok")
    publisher.routes.clear()  # the publisher goes away: every pull now fails
    clock.now = NOW + 3 * DAY  # past the status lists' two-day lifetime
    time.sleep(0.5)
    assert verdict(client, record.token)["reasons"] == ["status_stale"]
    clock.now = NOW + 31 * DAY  # past the registry's expiry as well
    body = verdict(client, record.token)
    assert (body["status"], body["valid"]) == ("status_unknown", False)
    assert "registry_stale" in body["reasons"]
    assert client.get("/api/v1/healthz").get_json()["registry"]["stale"] is True


def test_a_slow_host_never_holds_up_requests(pulling: tuple[FlaskClient, City], publisher: Publisher) -> None:
    client, city = pulling
    record = city.issue()
    client.get("/api/v1/healthz")
    wait_for(lambda: client.get("/api/v1/healthz").get_json()["status"] == "ok")

    def stalls() -> tuple[int, bytes, dict[str, str]]:
        time.sleep(6)
        return 200, b"", {}

    publisher.routes["/registry.json"] = stalls
    publisher.routes["/status/hcm-syt.jwt"] = stalls
    time.sleep(1.5)  # the refresher is now waiting on the stalled host
    started = time.monotonic()
    for _ in range(20):
        assert verdict(client, record.token)["status"] == "valid"
    assert time.monotonic() - started < 2


# --- the fetcher's own rules -------------------------------------------------------------------


def test_fetch_refuses_a_redirect_to_another_host(publisher: Publisher) -> None:
    other = Publisher({"/registry.json": lambda: (200, b"{}", {})})
    try:
        publisher.routes["/moved"] = lambda: (302, b"", {"Location": f"{other.url}/registry.json"})
        with pytest.raises(HttpError, match="another host"):
            get(f"{publisher.url}/moved", 1000, 2)
        publisher.routes["/same"] = lambda: (302, b"", {"Location": f"{publisher.url}/ok"})
        publisher.routes["/ok"] = lambda: (200, b"fine", {})
        assert get(f"{publisher.url}/same", 1000, 2).body == b"fine"
    finally:
        other.stop()


def test_fetch_stops_at_the_size_limit(publisher: Publisher) -> None:
    publisher.routes["/big"] = lambda: (200, b"x" * 100_000, {})
    with pytest.raises(HttpError, match="more than"):
        get(f"{publisher.url}/big", 10_000, 2)


def test_fetch_has_a_deadline_for_the_whole_transfer(publisher: Publisher) -> None:
    def slow() -> tuple[int, bytes, dict[str, str]]:
        time.sleep(4)
        return 200, b"late", {}

    publisher.routes["/slow"] = slow
    started = time.monotonic()
    with pytest.raises(HttpError):
        get(f"{publisher.url}/slow", 1000, 1)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.org/x", "gopher://x", "http://127.0.0.1:1/closed"])
def test_fetch_only_speaks_http_and_fails_cleanly(url: str) -> None:
    with pytest.raises(PermitError) as failed:
        get(url, 1000, 1)
    assert failed.value.reason == "fetch_failed"
