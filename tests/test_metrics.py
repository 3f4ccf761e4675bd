"""GET /metrics: verdicts, latency, documents held, pulls and pushes; against a real `permit serve`
with 2 workers (prometheus_client's multi-process mode sums them) and the in-process app."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from conftest import (
    DAY,
    PASSPHRASE,
    City,
    Clock,
    Served,
    free_port,
    passphrase,
    start_server,
    stop_process,
    verifier_home,
)
from flask.testing import FlaskClient
from forge import claims_of, sign_claims, sign_raw
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families
from test_server import call

from keys.signer import KeySigner
from permits import operator
from verifier.web.app import create_app
from verifier.web.serve import metrics_directory

PERMIT = str(Path(sys.executable).parent / "permit")
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def samples(text: str) -> Samples:
    """Every sample of an exposition: (name, labels) → value."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(scraped: Samples, name: str, **labels: str) -> float | None:
    return scraped.get((name, frozenset(labels.items())))


def total(scraped: Samples, name: str) -> float:
    return sum(v for (n, _), v in scraped.items() if n == name)


def scrape(url: str) -> Samples:
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
        assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
        assert response.headers["Cache-Control"] == "no-store"
        return samples(response.read().decode())


def scrape_client(client: FlaskClient) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200
    return samples(response.get_data(as_text=True))


def until(condition: Callable[[], Any], seconds: float = 20) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        result = condition()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def permit_cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PERMIT, *args], env={**os.environ, "PERMIT_HOME": str(home), "PERMIT_PASSPHRASE": PASSPHRASE.decode()},
                          capture_output=True, text=True, timeout=60)


# --- a real node: 2 workers, one sum ------------------------------------------------------------------


def test_metrics_count_every_verification_over_both_workers(city: City, tmp_path: Path) -> None:
    now = int(time.time())
    city.trusted = operator.publish(city.home, passphrase, now - 60, 30 * DAY)
    good, bad = city.issue(at=now - 60, number="M-1"), city.issue(at=now - 60, number="M-2")
    city.change(bad, "revoked")
    city.publish_all(at=now - 60)
    home = verifier_home(city.home.path, tmp_path / "verifier")
    temp = tmp_path / "tmp"
    temp.mkdir()
    # TMPDIR: where `permit serve` makes its private metrics directory, so this test can see it.
    url, process = start_server(home, tmp_path / "access.log", env={"TMPDIR": str(temp)})
    try:
        [directory] = list(temp.glob("permit-metrics-*"))
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700

        def workers_that_counted() -> int:
            return len({path.stem.rsplit("_", 1)[1] for path in directory.glob("counter_*.db")})

        # Rounds of concurrent verifications until both workers have counted some (each writes
        # its own file): which worker takes a connection is the kernel's choice.
        rounds = 0
        batch = [good.token] * 3 + [bad.token] * 2 + ["forged"]
        with ThreadPoolExecutor(6) as pool:
            while rounds < 200 and (rounds < 10 or workers_that_counted() < 2):
                answers = list(pool.map(lambda token: call(f"{url}/api/v1/verify", {"token": token}), batch))
                assert [(status, body["status"]) for status, body in answers] == [(200, "valid")] * 3 + [(200, "revoked")] * 2 + [(200, "invalid")]
                rounds += 1
        assert workers_that_counted() == 2
        # Every scrape, whichever worker answers it, counts every verification.
        for _ in range(4):
            scraped = scrape(url)
            verdicts = {labels: v for (name, labels), v in scraped.items() if name == "permit_verdicts_total"}
            assert verdicts == {
                frozenset({("status", "valid"), ("reason", "none"), ("agency", "hcm-syt")}): 3 * rounds,
                frozenset({("status", "revoked"), ("reason", "revoked"), ("agency", "hcm-syt")}): 2 * rounds,
                frozenset({("status", "invalid"), ("reason", "malformed_token"), ("agency", "unknown")}): rounds,
            }
            assert value(scraped, "permit_request_duration_seconds_count", endpoint="api.verify") == 6 * rounds
            assert value(scraped, "permit_request_duration_seconds_bucket", endpoint="api.verify", le="+Inf") == 6 * rounds
            assert value(scraped, "permit_registry_version") == city.registry.version
            assert value(scraped, "permit_registry_issued_timestamp_seconds") == now - 60
            for agency in city.registry.agencies:
                assert value(scraped, "permit_status_list_held", agency=agency) == 1
                assert value(scraped, "permit_status_list_issued_timestamp_seconds", agency=agency) == now - 60
                assert 60 <= value(scraped, "permit_status_list_age_seconds", agency=agency) <= 120  # type: ignore[operator]

        # A newer list pushed, then the same again: accepted, then not modified.
        city.publish_status("hcm-syt", at=now)
        for _ in range(2):
            pushed = permit_cli(city.home.path, "status", "push", url, "--agency", "hcm-syt")
            assert pushed.returncode == 0, pushed.stderr
        scraped = scrape(url)
        pushes = {labels: v for (name, labels), v in scraped.items() if name == "permit_pushes_total"}
        assert pushes == {
            frozenset({("document", "status_list"), ("outcome", "accepted"), ("reason", "none")}): 1,
            frozenset({("document", "status_list"), ("outcome", "not_modified"), ("reason", "status_not_newer")}): 1,
        }
        assert until(lambda: value(scrape(url), "permit_status_list_issued_timestamp_seconds", agency="hcm-syt") == now)
    finally:
        stop_process(process)
    assert not directory.exists()


def test_a_pull_is_counted(city: City, tmp_path: Path) -> None:
    now = int(time.time())
    city.trusted = operator.publish(city.home, passphrase, now - 60, 30 * DAY)
    city.publish_all(at=now - 60)
    home = verifier_home(city.home.path, tmp_path / "verifier")
    origin = tmp_path / "origin"
    origin.mkdir()
    shutil.copy(city.home.path / "registry.json", origin / "registry.json")
    port = free_port()
    static = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(origin)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    process = None
    try:
        url, process = start_server(home, tmp_path / "access.log", "--registry-url", f"http://127.0.0.1:{port}/registry.json",
                                    "--refresh-interval", "1")
        # The origin serves the registry the node holds already: nothing to install.
        assert until(lambda: value(scrape(url), "permit_pulls_total", document="registry", outcome="not_modified", reason="none"))
        newer = operator.publish(city.home, passphrase, now, 30 * DAY)
        shutil.copy(city.home.path / "registry.json", origin / "registry.json")
        assert until(lambda: value(scrape(url), "permit_registry_version") == newer.registry.version)
        scraped = scrape(url)
        # One worker pulls for the node: exactly one pull installed it.
        assert value(scraped, "permit_pulls_total", document="registry", outcome="accepted", reason="none") == 1
        assert {labels for name, labels in scraped if name == "permit_pulls_total"} <= {
            frozenset({("document", "registry"), ("outcome", outcome), ("reason", "none")}) for outcome in ("accepted", "not_modified")}
    finally:
        if process is not None:
            stop_process(process)
        stop_process(static)


# --- the in-process app ------------------------------------------------------------------------------


def test_metrics_show_the_documents_held_at_the_time_of_asking(city: City, clock: Clock) -> None:
    city.publish_all()
    (city.home.path / "status" / "hcm-sxd.jwt").unlink()
    client = create_app({"HOME": str(city.home.path), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True}).test_client()
    response = client.get("/metrics")
    assert (response.status_code, response.headers["Content-Type"], response.headers["Cache-Control"]) == (200, CONTENT_TYPE_LATEST, "no-store")
    scraped = samples(response.get_data(as_text=True))
    registry = city.registry
    assert value(scraped, "permit_registry_held") == 1
    assert value(scraped, "permit_registry_version") == registry.version
    assert value(scraped, "permit_registry_expires_timestamp_seconds") == registry.expires_at
    assert value(scraped, "permit_registry_age_seconds") == clock.now - registry.issued_at
    assert value(scraped, "permit_status_list_held", agency="hcm-sxd") == 0
    assert value(scraped, "permit_status_list_age_seconds", agency="hcm-sxd") is None
    held = city.lists["hcm-syt"]
    assert value(scraped, "permit_status_list_expires_timestamp_seconds", agency="hcm-syt") == held.expires_at
    clock.now += 100
    assert value(scrape_client(client), "permit_status_list_age_seconds", agency="hcm-syt") == clock.now - held.issued_at


def test_a_refused_push_is_counted_with_its_reason(client: FlaskClient) -> None:
    labels = {"document": "status_list", "outcome": "refused", "reason": "malformed_token"}
    before = value(scrape_client(client), "permit_pushes_total", **labels) or 0
    response = client.put("/api/v1/status/hcm-syt", data="not a list \xff".encode("latin-1"), content_type="application/statuslist+jwt")
    assert (response.status_code, response.get_json()["error"]["reason"]) == (400, "malformed_token")
    assert value(scrape_client(client), "permit_pushes_total", **labels) == before + 1


def test_metrics_is_not_part_of_the_api(client: FlaskClient) -> None:
    assert "/metrics" not in client.get("/api/v1/openapi.json").get_json()["paths"]
    response = client.get("/api/v1/metrics")
    assert (response.status_code, response.get_json()["error"]["reason"]) == (404, "not_found")


def test_random_paths_and_forged_agencies_add_no_series(city: City, client: FlaskClient) -> None:
    # An attacker chooses paths and what a token claims; neither may grow the number of series.
    signer: KeySigner = city.signers["hcm-syt"]
    real = city.issue()

    def claiming_agency() -> str:
        return sign_claims(claims_of(real.permit, iss=f"agency-{secrets.token_hex(6)}"), signer)

    def with_unknown_kid() -> str:
        header = {"alg": "EdDSA", "kid": secrets.token_urlsafe(9), "typ": "permit+jwt", "zip": "DEFv1"}
        return sign_raw(header, secrets.token_bytes(40), signer)

    def path() -> str:
        return secrets.choice(["/api/v1/", "/", "/static/", "/v/", "/api/v1/status/x/"]) + secrets.token_urlsafe(12)

    def attack(count: int) -> None:
        for i in range(count):
            if i % 2:
                token = claiming_agency() if i % 4 == 1 else with_unknown_kid()
                verdict = client.post("/api/v1/verify", json={"token": token}).get_json()
                assert (verdict["status"], verdict["reasons"][0]) in {("invalid", "unknown_issuer"), ("invalid", "unknown_key")}
            else:
                assert client.get(path()).status_code == 404

    attack(40)  # every kind once at least
    before = scrape_client(client)
    attack(1000)
    after = scrape_client(client)
    assert set(after) == set(before)
    assert total(after, "permit_verdicts_total") - total(before, "permit_verdicts_total") == 500
    unknown = {"status": "invalid", "agency": "unknown"}
    assert (value(after, "permit_verdicts_total", reason="unknown_issuer", **unknown) or 0) - (value(before, "permit_verdicts_total", reason="unknown_issuer", **unknown) or 0) == 250
    requests = sum(value(after, "permit_request_duration_seconds_count", endpoint=e) - value(before, "permit_request_duration_seconds_count", endpoint=e)  # type: ignore[operator]
                   for e in ("api.verify", "unmatched", "static", "metrics.metrics"))
    assert requests == 1000 + 1  # and the scrape before


def test_the_request_id_is_echoed_only_when_it_is_one(client: FlaskClient) -> None:
    nginx = secrets.token_hex(16)
    assert client.get("/v", headers={"X-Request-Id": nginx}).headers["X-Request-Id"] == nginx
    assert client.post("/api/v1/verify", json={}, headers={"X-Request-Id": "a.b-c_D"}).headers["X-Request-Id"] == "a.b-c_D"
    for refused in ("a" * 65, "bad id", "x\"y", "é", ""):
        assert "X-Request-Id" not in client.get("/v", headers={"X-Request-Id": refused}).headers


def test_the_metrics_directory_must_be_set_before_prometheus_client_is_imported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # This test process has imported it: a server started from here would count per worker.
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    with pytest.raises(RuntimeError, match="imported before PROMETHEUS_MULTIPROC_DIR"):
        with metrics_directory():
            pass
    given = tmp_path / "metrics"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(given))
    with metrics_directory() as path:
        assert path == str(given) and given.is_dir()
    assert given.is_dir()  # the environment's directory is the operator's to empty


# --- JSON logs -------------------------------------------------------------------------------------


@pytest.fixture
def served_json(city: City, tmp_path: Path) -> Iterator[tuple[Served, str]]:
    """A node logging JSON lines, whose registry URL (query and all) cannot be reached."""
    now = int(time.time())
    city.trusted = operator.publish(city.home, passphrase, now, 30 * DAY)
    city.publish_all(at=now)
    secret = city.issue(at=now).token
    log = tmp_path / "access.log"
    url, process = start_server(city.home.path, log, "--log-format", "json",
                                "--registry-url", f"http://127.0.0.1:{free_port()}/registry.json?key={secret[-40:]}")
    server = Served(city, url, log, process)
    try:
        yield server, secret
    finally:
        server.stop()


def test_json_logs_carry_the_request_id_and_no_token(served_json: tuple[Served, str]) -> None:
    served, token = served_json
    url = served.url
    ids = {name: secrets.token_hex(16) for name in ("verify", "path", "query", "agent", "echo")}
    status, _ = call(f"{url}/api/v1/verify", {"token": token}, headers={"X-Request-Id": ids["verify"]})
    assert status == 200
    call(f"{url}/v/{token}", headers={"X-Request-Id": ids["path"]})
    call(f"{url}/v?token={token}", headers={"X-Request-Id": ids["query"]})
    call(f"{url}/v", headers={"X-Request-Id": ids["agent"], "User-Agent": f"phone {token}"})
    call(f"{url}/v", headers={"X-Request-Id": "not a request id"})
    request = urllib.request.Request(f"{url}/v", headers={"X-Request-Id": ids["echo"]})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.headers["X-Request-Id"] == ids["echo"]
    errors_log = served.access_log.with_suffix(".err")
    assert until(lambda: "registry pull from" in errors_log.read_text())  # the pull fails soon after start
    served.stop()

    lines = [json.loads(line) for line in served.access_log.read_text().splitlines()]
    by_id = {line["request_id"]: line for line in lines if line["request_id"] is not None}
    assert set(by_id) == set(ids.values())
    verify = by_id[ids["verify"]]
    assert (verify["log"], verify["method"], verify["path"], verify["status"]) == ("access", "POST", "/api/v1/verify", 200)
    assert verify["bytes"] > 0 and isinstance(verify["duration_ms"], float) and verify["time"].endswith("Z")
    assert by_id[ids["path"]]["path"] == "/v/[redacted]"
    assert by_id[ids["query"]]["path"] == "/v?[redacted]"
    assert by_id[ids["agent"]]["user_agent"] == "phone [redacted]"
    # Two workers write their lines as they finish, so in either order: the malformed id as none.
    assert sorted(line["request_id"] or "" for line in lines if line["path"] == "/v" and line["user_agent"] != "phone [redacted]") == [
        "", ids["echo"]]

    errors = [json.loads(line) for line in errors_log.read_text().splitlines()]
    assert {line["log"] for line in errors} == {"error"}
    pulls = [line for line in errors if line["logger"] == "permits.verifier" and "registry pull" in line["message"]]
    assert pulls and all("?[redacted]" in line["message"] for line in pulls)

    logged = served.access_log.read_text() + errors_log.read_text()
    windows = {token[i:i + 24] for i in range(0, len(token) - 24, 12)}
    assert sorted(w for w in windows if w in logged) == []
