"""A verifier node: all its workers answer from one copy of the truth, one of them pulls, and
it says when it is ready to take traffic (issue 14)."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import DAY, NOW, City, Clock, Served, passphrase, start_server, verifier_home
from flask.testing import FlaskClient

from permits import operator
from verifier.http_client import push
from verifier.web.app import create_app


def call(url: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, str], Any]:
    """One request on a connection of its own (so gunicorn may give it to any worker)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", "Connection": "close"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read())


def live(city: City) -> int:
    """Publish the city's registry and lists on the real clock (gunicorn reads the real clock)."""
    now = int(time.time())
    city.trusted = operator.publish(city.home, passphrase, now, 30 * DAY)
    city.publish_all(at=now)
    return now


def test_every_worker_answers_suspended_once_a_suspension_push_is_accepted(city: City, tmp_path: Path) -> None:
    now = live(city)
    record = city.issue(at=now)
    city.publish_status("hcm-syt", at=now)
    home = verifier_home(city.home.path, tmp_path / "verifier")
    # Workers would also notice the new list by polling the home; an hour between polls leaves
    # only the generation counter to tell them.
    url, process = start_server(home, tmp_path / "access.log", "--workers", "4", env={"PERMIT_POLL_INTERVAL": "3600"})
    server = Served(city, url, tmp_path / "access.log", process)
    try:
        # Every worker has read the home and holds the list in which the permit is in force.
        assert {call(f"{url}/api/v1/verify", {"token": record.token})[2]["status"] for _ in range(60)} == {"valid"}
        city.change(record, "suspended")
        suspended = city.publish_status("hcm-syt", at=now + 1)
        assert push(url, "status/hcm-syt", (suspended.token + "\n").encode(), "application/statuslist+jwt")
        answers = [call(f"{url}/api/v1/verify", {"token": record.token}) for _ in range(200)]
        assert [(status, body["status"], body["reasons"]) for status, _, body in answers] == [(200, "suspended", ["suspended"])] * 200
    finally:
        server.stop()


def test_every_worker_serves_a_pushed_registry_and_list_at_once(city: City, tmp_path: Path) -> None:
    """GET /registry, GET /status/AGENCY and healthz answer from what a push to any worker
    brought, as verifications do: a worker that had not reloaded yet once answered 404 (a home
    holding only the anchor) for up to its poll interval."""
    now = live(city)
    home = tmp_path / "verifier"
    home.mkdir()
    shutil.copy(city.home.path / "anchor.json", home / "anchor.json")
    url, process = start_server(home, tmp_path / "access.log", "--workers", "4", env={"PERMIT_POLL_INTERVAL": "3600"})
    server = Served(city, url, tmp_path / "access.log", process)
    try:
        assert {call(f"{url}/api/v1/registry")[0] for _ in range(40)} == {404}  # every worker has answered once
        assert push(url, "registry", city.home.file("registry.json").read_bytes(), "application/json")
        assert push(url, "status/hcm-syt", city.home.status_path("hcm-syt").read_bytes(), "application/statuslist+jwt")
        bundle = json.loads(city.home.file("registry.json").read_bytes())
        for _ in range(60):
            assert call(f"{url}/api/v1/registry")[:3:2] == (200, bundle)
            assert call(f"{url}/api/v1/healthz")[2]["registry"]["version"] == city.registry.version
            with urllib.request.urlopen(f"{url}/api/v1/status/hcm-syt", timeout=10) as response:
                assert response.read() == city.home.status_path("hcm-syt").read_bytes().rstrip(b"\n")
        assert city.registry.issued_at == now
    finally:
        server.stop()


class Origin:
    """A static host on 127.0.0.1 serving a directory with ETags, recording each request."""

    def __init__(self, root: Path) -> None:
        self.requests: list[tuple[str, str | None, int]] = []  # (path, If-None-Match, status)
        origin = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = root / self.path.lstrip("/")
                body = path.read_bytes() if path.is_file() else None
                etag = f'"{hash(body) & 0xFFFFFFFF:08x}"' if body is not None else None
                sent = self.headers.get("If-None-Match")
                status = 404 if body is None else 304 if sent == etag else 200
                origin.requests.append((self.path, sent, status))
                self.send_response(status)
                if etag:
                    self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body) if body is not None and status == 200 else 0))
                self.end_headers()
                if status == 200 and body is not None:
                    self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def origin(tmp_path: Path) -> Iterator[Origin]:
    (tmp_path / "origin").mkdir()
    host = Origin(tmp_path / "origin")
    yield host
    host.close()


def test_a_node_pulls_each_document_once_per_interval_whatever_its_workers(city: City, tmp_path: Path, origin: Origin) -> None:
    live(city)
    shutil.copy(city.home.file("registry.json"), tmp_path / "origin" / "registry.json")
    home = tmp_path / "verifier"
    home.mkdir()
    shutil.copy(city.home.file("anchor.json"), home / "anchor.json")
    url, process = start_server(home, tmp_path / "access.log", "--workers", "3", "--registry-url", f"{origin.url}/registry.json",
                                "--refresh-interval", "2", env={"PERMIT_POLL_INTERVAL": "0.25"})
    server = Served(city, url, tmp_path / "access.log", process)
    try:
        deadline = time.monotonic() + 15
        while call(f"{url}/api/v1/healthz")[2]["registry"] is None:
            assert time.monotonic() < deadline, "the node never pulled the registry"
            time.sleep(0.1)
        started, first = time.monotonic(), len(origin.requests)
        time.sleep(7)
        window = origin.requests[first:]
        elapsed = time.monotonic() - started
    finally:
        server.stop()
    # One puller, every 2 s: three or four pulls in 7 s (three workers pulling would make ~10).
    assert 2 <= len(window) <= elapsed / 2 + 1, origin.requests
    # Each one conditional, on the ETag the first brought, and answered "not modified".
    etag = origin.requests[0][1]
    assert origin.requests[0][2] == 200 and etag is None
    assert {(path, status) for path, _, status in window} == {("/registry.json", 304)}
    assert all(sent is not None for _, sent, _ in window)


@pytest.fixture
def fleet_node(city: City, clock: Clock) -> FlaskClient:
    """A node of a fleet, in process: it refuses to verify while it is not ready."""
    city.publish_all()
    app = create_app({"HOME": str(city.home.path), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True,
                      "REFUSE_WHEN_UNREADY": True})
    return app.test_client()


def test_liveness_is_always_200_and_readiness_200_once_every_document_is_held(client: FlaskClient) -> None:
    assert (client.get("/api/v1/livez").status_code, client.get("/api/v1/livez").get_json()) == (200, {"status": "alive"})
    ready = client.get("/api/v1/readyz")
    assert (ready.status_code, ready.get_json(), ready.headers["Cache-Control"]) == (200, {"status": "ready"}, "no-store")


def _not_ready(response: Any) -> tuple[int, str, str]:
    return response.status_code, response.get_json()["error"]["reason"], response.headers.get("Retry-After")


def test_readiness_is_503_while_an_agency_list_is_missing_and_200_once_it_is_pushed(city: City, clock: Clock) -> None:
    city.publish_all()
    missing = city.home.status_path("hcm-sxd")
    token = missing.read_text().strip()
    missing.unlink()
    client = create_app({"HOME": str(city.home.path), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True}).test_client()
    assert _not_ready(client.get("/api/v1/readyz")) == (503, "not_ready", "5")
    # The detailed report stays 200 and says why.
    health = client.get("/api/v1/healthz")
    assert (health.status_code, health.get_json()["status"], health.get_json()["status_lists"]["hcm-sxd"]) == (
        200, "degraded", {"problem": "status_unavailable"})
    pushed = client.put("/api/v1/status/hcm-sxd", data=token, content_type="application/statuslist+jwt")
    assert pushed.status_code == 200
    assert client.get("/api/v1/readyz").status_code == 200


def test_readiness_is_503_again_once_a_list_goes_stale(client: FlaskClient, clock: Clock, city: City) -> None:
    assert client.get("/api/v1/readyz").status_code == 200
    clock.now = min(held.expires_at for held in city.lists.values())
    assert _not_ready(client.get("/api/v1/readyz")) == (503, "not_ready", "5")


def test_readiness_is_503_without_a_registry(city: City, clock: Clock, tmp_path: Path) -> None:
    home = tmp_path / "bare"
    home.mkdir()
    shutil.copy(city.home.file("anchor.json"), home / "anchor.json")
    client = create_app({"HOME": str(home), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True}).test_client()
    assert _not_ready(client.get("/api/v1/readyz")) == (503, "not_ready", "5")


def test_a_fleet_node_refuses_to_verify_while_not_ready_so_the_balancer_asks_another(fleet_node: FlaskClient, city: City,
                                                                                     clock: Clock) -> None:
    record = city.issue()
    city.publish_status("hcm-syt")
    body = {"token": record.token}
    answer = fleet_node.post("/api/v1/verify", json=body)
    assert (answer.status_code, answer.get_json()["status"]) == (200, "valid")
    clock.now = min(held.expires_at for held in city.lists.values()) + 1
    for path, payload in (("/api/v1/verify", body), ("/api/v1/verify/batch", {"tokens": [record.token]})):
        assert _not_ready(fleet_node.post(path, json=payload)) == (503, "not_ready", "5")


def test_a_lone_verifier_answers_with_what_it_holds_when_not_ready(client: FlaskClient, city: City, clock: Clock) -> None:
    record = city.issue()
    city.publish_status("hcm-syt")
    clock.now = NOW + 3 * DAY  # every list is past its expiry
    answer = client.post("/api/v1/verify", json={"token": record.token})
    assert (answer.status_code, answer.get_json()["status"], answer.get_json()["reasons"]) == (200, "status_unknown", ["status_stale"])
