"""Rule 10, HTTP and the page: JSON only where JSON is expected, size limits, no 5xx on any
input the application reads and one error shape for every refusal it makes (what gunicorn's
parser refuses first never reaches it), no token or personal number in any log, nothing a
permit or a URL says ever runs as script, absolute URLs only from configuration, the security
headers everywhere, and `Cache-Control: no-store` on every verdict."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from attack_http import RawResponse, chunked, live_city, raw_request, request_bytes, serve_city
from conftest import NOW, City, Clock, Served, passphrase
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from permits import operator, qr
from permits.status_list import MAX_STATUS_TOKEN_LENGTH
from verifier.web.app import CONTENT_SECURITY_POLICY, create_app

JSON = "application/json"
PROBLEM = "application/problem+json"
STATUS_JWT = "application/statuslist+jwt"
CONFIGURED = "https://kiemtra.tphcm.gov.vn"
CCCD = "079203001234"  # a citizen identity card number: 12 digits
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


# --- helpers ----------------------------------------------------------------------------------


def error_of(response: Any) -> tuple[int, str]:
    """The one error shape (Flask test response or raw response); returns (status, reason)."""
    if isinstance(response, RawResponse):
        assert response.headers.get("content-type") == PROBLEM, (response.status_line, response.body[:200])
        body, status = response.json, response.status
    else:
        assert response.mimetype == PROBLEM, (response.status, response.data[:200])
        body, status = response.get_json(), response.status_code
    assert set(body) == {"type", "title", "status", "detail", "error"} and set(body["error"]) == {"status", "reason", "message"}
    assert body["error"]["status"] == body["status"] == status
    assert isinstance(body["error"]["reason"], str) and isinstance(body["error"]["message"], str) and body["error"]["message"]
    return status, body["error"]["reason"]


def assert_security_headers(headers: Any) -> None:
    get = headers.get
    for name, value in SECURITY_HEADERS.items():
        assert get(name) == value or get(name.lower()) == value, (name, dict(headers))
    csp = get("Content-Security-Policy") or get("content-security-policy")
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp and "frame-ancestors 'none'" in csp


@pytest.fixture(scope="module")
def live(city_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One real gunicorn verifier for the module, over a city published on the real clock."""
    directory = tmp_path_factory.mktemp("rule10-live")
    server = serve_city(live_city(city_template, directory), directory / "access.log")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def live_token(live: Served) -> str:
    return live.city.issue(at=int(time.time()), number="LIVE-1").token


def post_json(path: str, body: Any) -> bytes:
    data = json.dumps(body).encode()
    return request_bytes("POST", path, {"Content-Type": JSON, "Content-Length": str(len(data))}, data)


def genuine(city: City) -> str:
    return city.issue().token


# --- absolute URLs come from configuration ----------------------------------------------------

HOST_ATTACKS = {
    "host": {"Host": "evil.example"},
    "host-with-port": {"Host": "evil.example:443"},
    "x-forwarded-host": {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "https"},
    "forwarded": {"Forwarded": "for=1.2.3.4;host=evil.example;proto=https"},
    "x-original-url": {"X-Original-URL": "http://evil.example/", "X-Rewrite-URL": "http://evil.example/"},
    "x-forwarded-prefix": {"X-Forwarded-Prefix": "//evil.example", "X-Script-Name": "//evil.example"},
}
PAGES = ["/", "/v", "/v?next=x", "/api/v1//healthz", "//v", "/static//verify.js", "/api/v1/status//hcm-syt", "/api/v1/openapi.json", "/api/v1/healthz", "/api/v1/registry", "/api/v1/status/hcm-syt",
         "/api/v1/nowhere", "/nowhere", "/static/verify.js", "/static/none.js", "/api/v1/verify", "/api/v1/status/hcm-syt/"]


@pytest.fixture
def configured(city: City, clock: Clock) -> FlaskClient:
    city.publish_all()
    return create_app({"HOME": str(city.home.path), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True,
                       "BASE_URL": CONFIGURED}).test_client()


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize("attack", list(HOST_ATTACKS), ids=list(HOST_ATTACKS))
def test_host_header_is_never_reflected(configured: FlaskClient, attack: str, path: str) -> None:
    response = configured.get(path, headers=HOST_ATTACKS[attack])
    text = response.get_data(as_text=True)
    response.close()
    assert response.status_code < 500
    assert "evil" not in text.lower()
    assert not [f"{k}: {v}" for k, v in response.headers.items() if "evil" in v.lower()]
    if path == "/api/v1/openapi.json":
        assert response.get_json()["servers"] == [{"url": f"{CONFIGURED}/api/v1"}]


@pytest.mark.parametrize(
    "data",
    [
        request_bytes("GET", "http://evil.example/api/v1/openapi.json"),
        request_bytes("GET", "/api/v1/openapi.json", {"X-Forwarded-Host": "evil.example"}).replace(b"Host: 127.0.0.1", b"Host: evil.example"),
        request_bytes("GET", "http://evil.example/v"),
        request_bytes("GET", "/nowhere").replace(b"Host: 127.0.0.1", b"Host: evil.example"),
        request_bytes("GET", "/static").replace(b"Host: 127.0.0.1", b"Host: evil.example"),
        request_bytes("GET", "/api/v1//healthz").replace(b"Host: 127.0.0.1", b"Host: evil.example"),
        request_bytes("GET", "http://evil.example/api/v1//openapi.json"),
    ],
    ids=["absolute-form-openapi", "host-openapi", "absolute-form-page", "host-404", "host-static-dir", "host-double-slash", "absolute-form-double-slash"],
)
def test_host_header_is_never_reflected_by_the_real_server(live: Served, data: bytes) -> None:
    response = raw_request(live.url, data)
    assert 200 <= response.status < 500
    assert b"evil" not in response.body.lower()
    assert not [v for v in response.headers.values() if "evil" in v.lower()]
    if b"openapi" in data and b"//openapi" not in data:
        assert response.json["servers"] == [{"url": f"{live.url}/api/v1"}]
    if b"//" in data.split(b" ")[1].split(b"://")[-1]:
        assert (response.status, response.json["error"]["reason"]) == (404, "not_found")  # double slashes are not merged


# --- nothing a permit or a URL says runs as script ------------------------------------------------

MARKUP = [
    "<script>window.__xss=1</script>",
    '"><img src=x onerror="window.__xss=1">',
    "</script><script>window.__xss=1</script>",
    "<svg/onload=window.__xss=1>",
    "'><iframe srcdoc='<script>parent.__xss=1</script>'>",
    "{{7*7}}${7*7}<%= 7*7 %>",
    "javascript:window.__xss=1",
]


def markup_permit(city: City, payload: str, at: int = NOW) -> str:
    return city.issue(at=at, number=payload[:64], holder_name=payload, holder_address=payload,
                      activities=(payload,), conditions=(payload,)).token


@pytest.mark.parametrize("payload", MARKUP)
def test_script_in_holder_name_is_returned_as_inert_json(city: City, client: FlaskClient, payload: str) -> None:
    token = markup_permit(city, payload)
    response = client.post("/api/v1/verify", json={"token": token})
    assert (response.status_code, response.mimetype) == (200, JSON)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    body = response.get_json()
    assert (body["status"], body["reasons"]) == ("valid", [])
    permit = body["permit"]
    assert (permit["holder"]["name"], permit["holder"]["address"], permit["activities"], permit["conditions"], permit["number"]) == (
        payload, payload, [payload], [payload], payload[:64])


def test_the_page_script_only_ever_writes_text() -> None:
    static = Path(__file__).parents[2] / "verifier" / "web" / "static"
    source = (static / "verify.js").read_text()
    # The one link the page makes (a department's phone or website) is written only after its scheme is checked.
    guarded = re.search(r"function link\(href, text\) \{\n    if \(!SAFE_LINK\.test\(href\)\) \{.*?\n    anchor\.href = href;", source, re.S)
    assert guarded, "verify.js's link() must test SAFE_LINK before it sets an href"
    assert re.search(r"SAFE_LINK = /\^\(\?:tel:\\\+\?\[0-9\]\{3,32\}\|https:", source)
    rest = source.replace(guarded.group(0), "")
    for script in (rest, (static / "scan.js").read_text(), (static / "local.js").read_text()):
        sinks = re.findall(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function|setAttribute\(\s*['\"]on"
                           r"|\.src\s*=|\.href\s*=|location\s*=|setTimeout\(\s*['\"]|DOMParser|createContextualFragment", script)
        assert sinks == []
    assert source.count(".textContent =") >= 8


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    chromedriver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (os.path.exists(chromium) and os.path.exists(chromedriver)):
        pytest.fail("Debian's chromium and chromium-driver are required (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


@pytest.mark.parametrize("payload", MARKUP)
def test_script_in_holder_name_is_rendered_as_text(live: Served, browser: webdriver.Chrome, payload: str) -> None:
    # A genuine permit, signed by the agency, whose every free-text field is markup.
    token = markup_permit(live.city, payload, at=int(time.time()))
    browser.get("about:blank")
    browser.get(qr.permit_url(live.url, token))
    result = browser.find_element(By.ID, "result")
    WebDriverWait(browser, 20).until(lambda _: result.get_attribute("data-status") not in (None, "", "checking"))
    assert result.get_attribute("data-status") == "valid"
    shown = {node.get_attribute("data-field"): node.text for node in browser.find_elements(By.CSS_SELECTOR, "#permit dd")}
    assert (shown["holder"], shown["address"], shown["activities"], shown["conditions"], shown["number"]) == (
        payload, payload, payload, payload, payload[:64])
    assert browser.find_elements(By.CSS_SELECTOR, "#result img, #result svg, #result iframe, #result script, #result a") == []
    # the JSON texts and documents, local.js, verify.js and scan.js, nothing more
    assert len(browser.find_elements(By.TAG_NAME, "script")) == 5
    time.sleep(0.3)  # an onerror/onload handler would have fired by now
    assert browser.execute_script("return window.__xss === undefined")


@pytest.mark.parametrize(
    "path",
    ["/v?q=<script>alert(1)</script>", "/<script>alert(1)</script>", "/v/%3Cscript%3Ealert(1)%3C/script%3E",
     "/static/%3Cimg%20src=x%20onerror=alert(1)%3E", "/api/v1/status/<script>alert(1)</script>",
     "/api/v1/<img src=x onerror=alert(1)>", "/v?lang=%22%3E%3Cscript%3Ealert(1)%3C/script%3E"],
)
def test_markup_in_a_url_is_never_reflected_as_html(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code < 500
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    if response.mimetype == "text/html":
        text = response.get_data(as_text=True)
        assert "<script>alert" not in text and "<img src=x" not in text and "alert(1)" not in text
    else:
        assert response.mimetype in (JSON, PROBLEM)


def test_markup_in_the_registry_name_is_escaped_in_the_page(city: City, clock: Clock) -> None:
    draft = city.home.draft()
    city.home.save_draft(replace(draft, name="<script>window.__xss=1</script> TP. Hồ Chí Minh"))
    operator.publish(city.home, passphrase, NOW, 3600)
    page = create_app({"HOME": str(city.home.path), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True}).test_client().get("/v")
    html = page.get_data(as_text=True)
    assert "&lt;script&gt;window.__xss=1&lt;/script&gt; TP. Hồ Chí Minh" in html
    assert "<script>window" not in html


# --- no token or personal number in any log ------------------------------------------------------


def _new_log_text(live: Served, sizes: tuple[int, int]) -> str:
    access, errors = live.access_log, live.access_log.with_suffix(".err")
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and (access.stat().st_size, errors.stat().st_size) == sizes:
        time.sleep(0.05)
    time.sleep(0.2)  # the other log may still be written
    with access.open("rb") as a, errors.open("rb") as e:
        a.seek(sizes[0])
        e.seek(sizes[1])
        grown = a.read() + e.read()
    assert grown, "the request left no trace in any log: nothing was checked"
    return grown.decode("utf-8", errors="replace")


LOG_PLACES = {
    "query": lambda t: request_bytes("GET", f"/v?token={t}"),
    "path": lambda t: request_bytes("GET", f"/v/{t}"),
    "path-percent-encoded": lambda t: request_bytes("GET", "/v/" + quote(t, safe="").replace(".", "%2E")),
    "path-one-segment-per-part": lambda t: request_bytes("GET", "/v/" + t.replace(".", "/")),
    "status-path": lambda t: request_bytes("GET", f"/api/v1/status/{t}"),
    "referer-fragment": lambda t: request_bytes("GET", "/v", {"Referer": f"https://kiemtra.example/v#{t}"}),
    "referer-query": lambda t: request_bytes("GET", "/v", {"Referer": f"https://kiemtra.example/v?t={t}"}),
    "user-agent": lambda t: request_bytes("GET", "/v", {"User-Agent": t}),
    "user-agent-with-prefix": lambda t: request_bytes("GET", "/v", {"User-Agent": f"Mozilla/5.0 (Android) {t}"}),
    "x-forwarded-for": lambda t: request_bytes("GET", "/v", {"X-Forwarded-For": t}),
    "verify-body": lambda t: post_json("/api/v1/verify", {"token": t}),
    "malformed-request-line": lambda t: f"GET /v?token={t}\x01 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode(),
    "raw-byte-in-path": lambda t: f"GET /v/{t}".encode() + b"\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    "transfer-encoding-value": lambda t: request_bytes("POST", "/api/v1/verify", {"Transfer-Encoding": t}),
    "header-value-with-control": lambda t: request_bytes("GET", "/v", {"X-Token": f"{t}\x01"}),
}


@pytest.mark.parametrize("form", ["token", "qr-digits"])
@pytest.mark.parametrize("place", list(LOG_PLACES))
def test_tokens_never_appear_in_the_access_log(live: Served, live_token: str, place: str, form: str) -> None:
    # Tokens travel in POST bodies and URL fragments; a client, a proxy or an attacker can still
    # put one anywhere else in a request. Neither the access log nor the error log may keep it.
    token = live_token if form == "token" else qr.token_to_digits(live_token)
    sizes = (live.access_log.stat().st_size, live.access_log.with_suffix(".err").stat().st_size)
    raw_request(live.url, LOG_PLACES[place](token))
    logged = _new_log_text(live, sizes)
    windows = {token[i:i + 24] for i in range(0, len(token) - 24, 12)}
    leaked = sorted(w for w in windows if w in logged)
    assert leaked == [], f"{place}: {len(leaked)} 24-character pieces of the {form} are in the log: {logged[-400:]}"


@pytest.mark.parametrize(
    "data",
    [request_bytes("GET", f"/v/{CCCD}"), request_bytes("GET", f"/v?cccd={CCCD}"), request_bytes("GET", f"/api/v1/status/{CCCD}"),
     request_bytes("GET", "/v", {"Referer": f"https://kiemtra.example/tra-cuu/{CCCD}"})],
    ids=["path", "query", "status-path", "referer-path"],
)
def test_personal_identity_numbers_never_appear_in_the_access_log(live: Served, data: bytes) -> None:
    sizes = (live.access_log.stat().st_size, live.access_log.with_suffix(".err").stat().st_size)
    raw_request(live.url, data)
    logged = _new_log_text(live, sizes)
    assert CCCD not in logged, logged[-300:]


# --- Cache-Control: no-store on every verdict -------------------------------------------------------

def _revoked(city: City, client: FlaskClient) -> str:
    record = city.issue(number="CACHE-R")
    city.change(record, "revoked")
    city.publish_status("hcm-syt")
    client.application.extensions["permit_store"].reload()
    return record.token


def _forged(city: City, client: FlaskClient) -> str:
    token = genuine(city)
    return token[:-4] + ("AAAA" if token[-4:] != "AAAA" else "BBBB")


VERDICT_REQUESTS = {
    "valid": lambda city, c: c.post("/api/v1/verify", json={"token": genuine(city)}),
    "revoked": lambda city, c: c.post("/api/v1/verify", json={"token": _revoked(city, c)}),
    "qr-digits": lambda city, c: c.post("/api/v1/verify", json={"token": qr.token_to_digits(genuine(city))}),
    "forged": lambda city, c: c.post("/api/v1/verify", json={"token": _forged(city, c)}),
    "malformed": lambda city, c: c.post("/api/v1/verify", json={"token": "x"}),
    "batch": lambda city, c: c.post("/api/v1/verify/batch", json={"tokens": [genuine(city), "x"]}),
    "empty-batch": lambda city, c: c.post("/api/v1/verify/batch", json={"tokens": []}),
    "refused-bad-json": lambda city, c: c.post("/api/v1/verify", data="{", content_type=JSON),
    "refused-too-large": lambda city, c: c.post("/api/v1/verify", json={"token": "x" * 5000}),
    "refused-media-type": lambda city, c: c.post("/api/v1/verify", data=genuine(city), content_type="text/plain"),
    "health": lambda city, c: c.get("/api/v1/healthz"),
    "the-page": lambda city, c: c.get("/v"),
}
EXPECTED_STATUS = {"valid": 200, "revoked": 200, "qr-digits": 200, "forged": 200, "malformed": 200, "batch": 200, "empty-batch": 200,
                   "refused-bad-json": 400, "refused-too-large": 413, "refused-media-type": 415, "health": 200, "the-page": 200}


@pytest.mark.parametrize("kind", list(VERDICT_REQUESTS))
def test_cache_control_no_store_on_every_verdict(city: City, client: FlaskClient, kind: str) -> None:
    response = VERDICT_REQUESTS[kind](city, client)
    assert response.status_code == EXPECTED_STATUS[kind]
    if kind in ("valid", "revoked", "qr-digits"):
        assert response.get_json()["status"] == kind.replace("qr-digits", "valid")
    assert response.headers["Cache-Control"] == "no-store"
    assert "ETag" not in response.headers and "Last-Modified" not in response.headers and "Expires" not in response.headers


def test_cache_control_no_store_on_verdicts_over_real_http(live: Served, live_token: str) -> None:
    for path, body in (("/api/v1/verify", {"token": live_token}), ("/api/v1/verify/batch", {"tokens": [live_token]})):
        response = raw_request(live.url, post_json(path, body))
        assert response.status == 200
        assert response.headers["cache-control"] == "no-store"


# --- JSON only where JSON is expected --------------------------------------------------------------

NOT_JSON = [
    "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", "text/xml", "application/xml",
    "text/html", "application/javascript", "application/json-patch+json", "application/ld+json", "application/problem+json",
    "application/x-json", "application/jsonx", "text/json", "application/json; charset=utf-16", "application/json; charset=latin-1",
    "application/statuslist+jwt", "", None,
]


@pytest.mark.parametrize("content_type", NOT_JSON)
@pytest.mark.parametrize("path", ["/api/v1/verify", "/api/v1/verify/batch", "/api/v1/registry"])
def test_json_only_where_json_is_expected(city: City, client: FlaskClient, path: str, content_type: str | None) -> None:
    body = {"/api/v1/verify": {"token": genuine(city)}, "/api/v1/verify/batch": {"tokens": [genuine(city)]}}.get(path)
    data = json.dumps(body).encode() if body else city.home.file("registry.json").read_bytes()
    method = client.put if path == "/api/v1/registry" else client.post
    headers = {} if content_type is None else {"Content-Type": content_type}
    assert error_of(method(path, data=data, headers=headers)) == (415, "unsupported_media_type")


@pytest.mark.parametrize("content_type", [JSON, "application/json; charset=utf-8", "application/json; charset=UTF-8", "Application/JSON"])
def test_json_is_accepted_in_its_spellings(city: City, client: FlaskClient, content_type: str) -> None:
    response = client.post("/api/v1/verify", data=json.dumps({"token": genuine(city)}), headers={"Content-Type": content_type})
    assert (response.status_code, response.get_json()["status"]) == (200, "valid")


@pytest.mark.parametrize("content_type", [JSON, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""])
def test_status_list_push_takes_only_its_media_types(city: City, client: FlaskClient, content_type: str) -> None:
    token = city.home.status_path("hcm-syt").read_text().strip()
    response = client.put("/api/v1/status/hcm-syt", data=token, headers={"Content-Type": content_type})
    assert error_of(response) == (415, "unsupported_media_type")


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "text/plain", "*/*", "application/json;q=0"])
@pytest.mark.parametrize("path", ["/api/v1/healthz", "/api/v1/nowhere", "/api/v1/verify"])
def test_the_api_answers_json_whatever_the_client_accepts(client: FlaskClient, path: str, accept: str) -> None:
    response = client.get(path, headers={"Accept": accept})
    if response.status_code >= 400:
        error_of(response)  # application/problem+json, whatever the client accepts (RFC 9457 §3)
    else:
        assert response.mimetype == JSON


# --- one error shape for every refusal, never a 5xx ----------------------------------------------

BIG = "x" * (MAX_STATUS_TOKEN_LENGTH + 3)
APP_REFUSALS = [
    # methods
    ("PATCH", "/api/v1/verify", {}, 405, "method_not_allowed"),
    ("DELETE", "/api/v1/verify/batch", {}, 405, "method_not_allowed"),
    ("TRACE", "/api/v1/healthz", {}, 405, "method_not_allowed"),
    ("PROPFIND", "/api/v1/registry", {}, 405, "method_not_allowed"),
    ("CONNECT", "/api/v1/openapi.json", {}, 405, "method_not_allowed"),
    ("POST", "/api/v1/registry", {"json": {}}, 405, "method_not_allowed"),
    ("PUT", "/api/v1/healthz", {"json": {}}, 405, "method_not_allowed"),
    ("DELETE", "/api/v1/status/hcm-syt", {}, 405, "method_not_allowed"),
    ("GET", "/api/v1/verify/batch", {}, 405, "method_not_allowed"),
    # paths
    ("GET", "/api/v1/", {}, 404, "not_found"),
    ("GET", "/api/v1", {}, 404, "not_found"),
    ("GET", "/api/v1/status/", {}, 404, "not_found"),
    ("GET", "/api/v1/status/hcm-syt/x", {}, 404, "not_found"),
    ("GET", "/api/v1/status/%00", {}, 404, "unknown_issuer"),
    ("GET", "/api/v1/status/%ff%fe", {}, 404, "unknown_issuer"),
    ("GET", "/api/v1/status/" + "a" * 5000, {}, 404, "unknown_issuer"),
    ("GET", "/api/v1/status/..", {}, 404, "unknown_issuer"),
    ("GET", "/api/v1/status/hcm-syt%2F..%2F..%2Fregistry", {}, 404, "not_found"),
    ("GET", "/api/v1/%C0%AE%C0%AE/registry", {}, 404, "not_found"),
    ("GET", "/api/v1/healthz.json", {}, 404, "not_found"),
    # bodies
    ("POST", "/api/v1/verify", {"data": b"\xff\xfe{}", "content_type": JSON}, 400, "bad_json"),
    ("POST", "/api/v1/verify", {"data": '{"token": "\\ud800"}', "content_type": JSON}, 400, "bad_json"),
    ("POST", "/api/v1/verify", {"data": "[" * 100_000, "content_type": JSON}, 413, "body_too_large"),
    ("POST", "/api/v1/verify", {"data": "[" * 8000, "content_type": JSON}, 400, "bad_json"),
    ("POST", "/api/v1/verify", {"data": '{"token": 1e400}', "content_type": JSON}, 400, "bad_json"),
    ("POST", "/api/v1/verify", {"data": '{"token": 99999999999999999999}', "content_type": JSON}, 400, "bad_json"),
    ("POST", "/api/v1/verify", {"data": '{"token": true}', "content_type": JSON}, 400, "token_not_string"),
    ("POST", "/api/v1/verify", {"data": '{"token": {"$ne": ""}}', "content_type": JSON}, 400, "token_not_string"),
    ("POST", "/api/v1/verify", {"data": '{"__proto__": {"x": 1}, "token": "x"}', "content_type": JSON}, 400, "unknown_member"),
    ("POST", "/api/v1/verify", {"data": '{"token": "' + "1" * 4097 + '"}', "content_type": JSON}, 413, "token_too_large"),
    ("POST", "/api/v1/verify/batch", {"data": '{"tokens": [' + ",".join(['"' + "x" * 4096 + '"'] * 101) + "]}", "content_type": JSON}, 413, "body_too_large"),
    ("POST", "/api/v1/verify/batch", {"data": '{"tokens": ["x", ["y"]]}', "content_type": JSON}, 400, "token_not_string"),
    ("POST", "/api/v1/verify/batch", {"data": '{"tokens": null}', "content_type": JSON}, 400, "missing_tokens"),
    ("PUT", "/api/v1/status/hcm-syt", {"data": BIG, "content_type": STATUS_JWT}, 413, "body_too_large"),
    ("PUT", "/api/v1/status/hcm-syt", {"data": b"\x00\x01\x02", "content_type": STATUS_JWT}, 422, "malformed_token"),
    ("PUT", "/api/v1/status/hcm-syt", {"data": "", "content_type": STATUS_JWT}, 422, "malformed_token"),
    ("PUT", "/api/v1/status/hcm-syt", {"data": "a.b.c", "content_type": "application/statuslist+jwt; charset=utf-16"}, 415, "unsupported_media_type"),
    ("PUT", "/api/v1/registry", {"data": b"\x00" * 100, "content_type": JSON}, 422, "registry_invalid"),
    ("PUT", "/api/v1/registry", {"data": '{"roots": [], "registry": {}, "roots": []}', "content_type": JSON}, 422, "registry_invalid"),
]


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "reason"), APP_REFUSALS,
                         ids=[f"{m} {p[:40]} {s}" for m, p, _, s, _ in APP_REFUSALS])
def test_every_4xx_has_the_error_shape(client: FlaskClient, method: str, path: str, kwargs: dict[str, Any], status: int, reason: str) -> None:
    response = client.open(path, method=method, **kwargs)
    assert error_of(response) == (status, reason)
    assert_security_headers(response.headers)
    if status == 405:
        assert response.headers["Allow"]


def _verify_request(headers: dict[str, str], body: bytes = b"") -> bytes:
    return request_bytes("POST", "/api/v1/verify", {"Content-Type": JSON, **headers}, body)


SERVER_REFUSALS = {
    "content-length-a-terabyte": (_verify_request({"Content-Length": str(10**12)}, b"{}"), 413, "body_too_large"),
    "content-length-over-the-limit": (_verify_request({"Content-Length": "8193"}, b"{" + b" " * 8191 + b"}"), 413, "body_too_large"),
    "chunked-small": (_verify_request({"Transfer-Encoding": "chunked"}, chunked(b"{}")), 400, "missing_token"),
    "chunked-over-the-limit": (_verify_request({"Transfer-Encoding": "chunked"}, chunked(b'{"token": "x"}' + b" " * 9000, 1000)), 413, "body_too_large"),
    "chunked-valid-json-then-more": (_verify_request({"Transfer-Encoding": "chunked"}, chunked(b'{"token": "x"' + b" " * 8178 + b"}" + b"garbage", 1000)), 413, "body_too_large"),
    "chunked-status-list-over-the-limit": (request_bytes("PUT", "/api/v1/status/hcm-syt", {"Content-Type": STATUS_JWT, "Transfer-Encoding": "chunked"},
                                                         chunked(b"a" * (MAX_STATUS_TOKEN_LENGTH + 100), 1 << 20)), 413, "body_too_large"),
    "percent-encoded-invalid-utf8": (request_bytes("GET", "/api/v1/status/%ff%c0%80"), 404, "unknown_issuer"),
    "percent-encoded-nul": (request_bytes("GET", "/api/v1/verify%00"), 404, "not_found"),
    "http-1.0": (b"GET /api/v1/nowhere HTTP/1.0\r\n\r\n", 404, "not_found"),
    "no-host-header": (b"GET /api/v1/nowhere HTTP/1.1\r\nConnection: close\r\n\r\n", 404, "not_found"),
    "expect-100-continue": (_verify_request({"Content-Length": "2", "Expect": "100-continue"}, b"{}"), 400, "missing_token"),
    "content-encoding-gzip": (_verify_request({"Content-Length": "20", "Content-Encoding": "gzip"}, b"\x1f\x8b" + b"\x00" * 18), 400, "bad_json"),
}
# Chunked framing that breaks inside the body: gunicorn finds out only while the view reads it.
BAD_CHUNKS = {"chunk-size-not-hex": b"zz\r\n{}\r\n0\r\n\r\n", "chunk-without-terminator": b"2\r\n{}XX0\r\n\r\n"}
BODY_ENDPOINTS = {"verify": ("POST", "/api/v1/verify", JSON), "registry": ("PUT", "/api/v1/registry", JSON),
                  "status": ("PUT", "/api/v1/status/hcm-syt", STATUS_JWT)}
for _chunks, _body in BAD_CHUNKS.items():
    for _name, (_method, _path, _type) in BODY_ENDPOINTS.items():
        SERVER_REFUSALS[f"{_chunks}-{_name}"] = (
            request_bytes(_method, _path, {"Content-Type": _type, "Transfer-Encoding": "chunked"}, _body), 400, "bad_body")


@pytest.mark.parametrize("case", list(SERVER_REFUSALS))
def test_every_4xx_has_the_error_shape_over_real_http(live: Served, case: str) -> None:
    data, status, reason = SERVER_REFUSALS[case]
    started = time.monotonic()
    response = raw_request(live.url, data, timeout=15)
    if response.status == 100:  # the interim answer to Expect: 100-continue
        response = RawResponse(response.body)
    assert error_of(response) == (status, reason)
    assert_security_headers(response.headers)
    assert time.monotonic() - started < 5


# Requests gunicorn's own parser refuses, before any application code: conflicting or impossible
# framing, a malformed request line or header, limits. They never reach the verifier, so they never
# get its error shape: gunicorn answers them with its short HTML page (an unknown transfer coding
# with 501, as RFC 9112 advises). The buffering proxy that faces clients refuses them itself first
# (docs/operator.md); what must hold here is that each is refused, by status, on a closed
# connection, and that nothing from the request comes back as markup.
PROTOCOL_REFUSALS = {
    "raw-non-ascii-byte-in-path": (b"GET /api/v1/status/\xff HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
    "control-character-in-path": (b"GET /api/v1/\x01 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
    "space-in-path": (b"GET /api/v1/a b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
    "markup-in-request-line": (b"GET /<script>x</script> HTTP/1.1 <b>\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
    "bad-http-version": (b"GET /api/v1/healthz HTTP/9.9\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
    "lower-case-method": (b"get /api/v1/healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400),
    "two-content-lengths": (_verify_request({"Content-Length": "2"}, b"{}").replace(b"Connection: close", b"Connection: close\r\nContent-Length: 3"), 400),
    "negative-content-length": (_verify_request({"Content-Length": "-1"}, b"{}"), 400),
    "content-length-and-chunked": (_verify_request({"Content-Length": "5", "Transfer-Encoding": "chunked"}, b"0\r\n\r\n"), 400),
    "transfer-encoding-gzip": (_verify_request({"Transfer-Encoding": "gzip"}, b"{}"), 400),
    "transfer-encoding-unknown": (_verify_request({"Transfer-Encoding": "x-custom"}, b"{}"), 501),
    "header-name-with-space": (request_bytes("GET", "/api/v1/healthz", {"Bad Header": "x"}), 400),
    "obsolete-line-folding": (request_bytes("GET", "/api/v1/healthz", {"X-A": "x\r\n y"}), 400),
    "request-line-over-4k": (request_bytes("GET", "/api/v1/" + "a" * 9000), 414),
    "too-many-headers": (request_bytes("GET", "/api/v1/healthz", {f"X-H{i}": "x" for i in range(200)}), 431),
    "unknown-expectation": (_verify_request({"Content-Length": "2", "Expect": "fast"}, b"{}"), 417),
}


def assert_refused_by_gunicorn(response: RawResponse, status: int) -> None:
    """gunicorn's own refusal: the status, its HTML page with the request's text escaped, and the
    connection closed; never an answer of the application (which speaks JSON on /api/)."""
    assert response.status == status, response.status_line
    assert (response.headers.get("content-type"), response.headers.get("connection")) == ("text/html", "close"), response.headers
    assert response.body.startswith(b"<html>") and b"<script>" not in response.body and b"<b>" not in response.body


@pytest.mark.parametrize("case", list(PROTOCOL_REFUSALS))
def test_requests_the_http_server_refuses_never_reach_the_application(live: Served, case: str) -> None:
    data, status = PROTOCOL_REFUSALS[case]
    assert_refused_by_gunicorn(raw_request(live.url, data), status)


@settings(max_examples=300, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
    path=st.one_of(
        st.sampled_from(["/api/v1/verify", "/api/v1/verify/batch", "/api/v1/registry", "/api/v1/status/hcm-syt", "/api/v1/healthz", "/v"]),
        st.text(st.characters(codec="utf-8", exclude_characters="?#"), max_size=40).map(lambda s: "/api/v1/" + quote(s)),
    ),
    content_type=st.sampled_from([JSON, STATUS_JWT, "text/plain", "multipart/form-data; boundary=b", "application/json; charset=x", ""]),
    body=st.one_of(st.binary(max_size=300), st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["token", "tokens", "roots", "registry", "x"]), inner, max_size=3),
        max_leaves=10).map(lambda v: json.dumps(v).encode())),
)
def test_no_5xx_for_any_method_path_or_body(app: Flask, method: str, path: str, content_type: str, body: bytes) -> None:
    response = app.test_client().open(path, method=method, data=body, headers={"Content-Type": content_type})
    assert response.status_code < 500, (method, path, content_type, body, response.data[:200])
    if path.startswith("/api/") and response.status_code >= 400 and method != "HEAD":
        error_of(response)
    assert_security_headers(response.headers)


# --- transfer codings: chunked or nothing ---------------------------------------------------------

BODY_REQUESTS = {  # endpoint: (method, path, content type, body builder from a genuine token and the city)
    "verify": ("POST", "/api/v1/verify", JSON, lambda token, city: json.dumps({"token": token}).encode()),
    "batch": ("POST", "/api/v1/verify/batch", JSON, lambda token, city: json.dumps({"tokens": [token]}).encode()),
    "registry": ("PUT", "/api/v1/registry", JSON, lambda token, city: city.home.file("registry.json").read_bytes()),
    "status": ("PUT", "/api/v1/status/hcm-syt", STATUS_JWT, lambda token, city: city.home.status_path("hcm-syt").read_bytes()),
}
# What gunicorn 27 does with each: it frames the body by a last `chunked` and passes the rest
# over undecoded (the first group reaches the API, which refuses it rather than read it as plain
# text), or refuses the request itself (the second group).
PASSED_ON_BY_GUNICORN = {"gzip, chunked": ["gzip, chunked"], "mixed case": ["GZIP, Chunked"], "deflate, chunked": ["deflate, chunked"],
                         "compress, chunked": ["compress, chunked"], "identity, chunked": ["identity, chunked"],
                         "two headers, gzip then chunked": ["gzip", "chunked"], "two headers, identity then chunked": ["identity", "chunked"]}
REFUSED_BY_GUNICORN = {"chunked, gzip": ["chunked, gzip"], "identity": ["identity"], "gzip": ["gzip"], "x-custom, chunked": ["x-custom, chunked"],
                       "chunked, chunked": ["chunked, chunked"], "chunked then empty": ["chunked,"],
                       "two headers, chunked then gzip": ["chunked", "gzip"], "two headers, chunked twice": ["chunked", "chunked"]}
CODINGS = {**PASSED_ON_BY_GUNICORN, **REFUSED_BY_GUNICORN}


@pytest.mark.parametrize("coding", list(CODINGS))
def test_gzip_chunked_transfer_coding_is_refused(city: City, client: FlaskClient, coding: str) -> None:
    token = genuine(city)
    headers = {"Transfer-Encoding": ",".join(CODINGS[coding])}  # how a WSGI server joins two headers
    for endpoint, (method, path, content_type, body) in BODY_REQUESTS.items():
        response = client.open(path, method=method, data=body(token, city), headers={"Content-Type": content_type, **headers})
        assert error_of(response) == (400, "unsupported_transfer_coding"), endpoint
        assert_security_headers(response.headers)


def _coded_request(method: str, path: str, content_type: str, codings: list[str], body: bytes) -> bytes:
    head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close", f"Content-Type: {content_type}"]
    head += [f"Transfer-Encoding: {coding}" for coding in codings]
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + chunked(body)


@pytest.mark.parametrize("coding", list(PASSED_ON_BY_GUNICORN))
def test_gzip_chunked_transfer_coding_is_refused_by_the_real_server(live: Served, live_token: str, coding: str) -> None:
    for endpoint, (method, path, content_type, body) in BODY_REQUESTS.items():
        response = raw_request(live.url, _coded_request(method, path, content_type, CODINGS[coding], body(live_token, live.city)))
        assert error_of(response) == (400, "unsupported_transfer_coding"), endpoint
        assert_security_headers(response.headers)


@pytest.mark.parametrize("coding", list(REFUSED_BY_GUNICORN))
def test_transfer_codings_gunicorn_refuses_never_reach_the_application(live: Served, live_token: str, coding: str) -> None:
    status = 501 if coding in ("x-custom, chunked", "chunked then empty") else 400  # a coding it does not know: 501, as RFC 9112 advises
    for method, path, content_type, body in BODY_REQUESTS.values():
        response = raw_request(live.url, _coded_request(method, path, content_type, CODINGS[coding], body(live_token, live.city)))
        assert_refused_by_gunicorn(response, status)


@pytest.mark.parametrize("coding", ["chunked", "Chunked", "CHUNKED"])
def test_chunked_alone_is_read_by_the_real_server(live: Served, live_token: str, coding: str) -> None:
    body = json.dumps({"token": live_token}).encode()
    response = raw_request(live.url, _coded_request("POST", "/api/v1/verify", JSON, [coding], body))
    assert (response.status, response.json["status"]) == (200, "valid"), response.body[:300]


def test_deep_json_with_surrogate_pair_is_bad_json_on_the_real_server(live: Served, live_token: str) -> None:
    deep = "[" * 600 + '"\\ud83d\\ude00"' + "]" * 600
    for path, body in (("/api/v1/verify", f'{{"token": {deep}}}'), ("/api/v1/verify/batch", f'{{"tokens": ["{live_token}", {deep}]}}')):
        data = body.encode()
        for framing in ({"Content-Length": str(len(data))}, {"Transfer-Encoding": "chunked"}):
            sent = chunked(data) if "Transfer-Encoding" in framing else data
            response = raw_request(live.url, request_bytes("POST", path, {"Content-Type": JSON, **framing}, sent))
            assert error_of(response) == (400, "bad_json"), (path, framing, response.status_line, response.body[:200])
    raw = f'{{"roots": {deep}, "registry": {{}}}}'.encode()
    response = raw_request(live.url, request_bytes("PUT", "/api/v1/registry", {"Content-Type": JSON, "Content-Length": str(len(raw))}, raw))
    assert error_of(response) == (422, "registry_invalid")
    health = raw_request(live.url, request_bytes("GET", "/api/v1/healthz"))
    assert (health.status, health.json["status"]) == (200, "ok")

# --- the security headers everywhere ----------------------------------------------------------------

HEADER_REQUESTS = [
    ("GET", "/v", {}), ("GET", "/", {}), ("HEAD", "/v", {}), ("OPTIONS", "/api/v1/verify", {}), ("GET", "/static/page.css", {}),
    ("GET", "/api/v1/registry", {}), ("GET", "/api/v1/status/hcm-syt", {}), ("GET", "/api/v1/openapi.json", {}),
    ("POST", "/api/v1/verify", {"json": {"token": "x"}}), ("POST", "/api/v1/verify", {"data": "{", "content_type": JSON}),
    ("PUT", "/api/v1/registry", {"data": "{}", "content_type": JSON}), ("PUT", "/api/v1/status/hcm-syt", {"data": "x", "content_type": STATUS_JWT}),
    ("DELETE", "/v", {}), ("GET", "/nowhere", {}), ("GET", "/static/../app.py", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), HEADER_REQUESTS, ids=[f"{m} {p}" for m, p, _ in HEADER_REQUESTS])
def test_security_headers_on_every_status_and_method(client: FlaskClient, method: str, path: str, kwargs: dict[str, Any]) -> None:
    response = client.open(path, method=method, **kwargs)
    response.close()
    assert response.status_code < 500
    assert_security_headers(response.headers)
    if response.status_code == 200 and path in ("/api/v1/registry", "/api/v1/status/hcm-syt"):
        etag = response.headers["ETag"]
        again = client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304
        assert_security_headers(again.headers)
