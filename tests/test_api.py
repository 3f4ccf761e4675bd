"""The JSON API through Flask's test client: every endpoint, every error, the PUT rules."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import CITY_VERIFIER, DAY, NOW, City, Clock, passphrase
from flask.testing import FlaskClient

from keys.reasons import Reason
from permits import operator, qr
from permits.status_list import build_status_list
from verifier.web.app import create_app
from verifier.web.openapi import openapi_document

JSON = "application/json"
PROBLEM = "application/problem+json"


def error_of(response: Any) -> tuple[int, str]:
    """Assert the one error shape (RFC 9457 problem details that keep the earlier `error`
    member) and return (status, reason)."""
    body = response.get_json()
    assert response.headers["Content-Type"] == PROBLEM
    assert list(body) == ["type", "title", "status", "detail", "error"]
    assert set(body["error"]) == {"status", "reason", "message"}
    assert body["error"]["status"] == body["status"] == response.status_code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["detail"] == body["error"]["message"]
    reason = Reason(body["error"]["reason"])
    assert body["type"].startswith("http") and body["type"].endswith(f"/api/v1/problems/{reason}")  # exactly: test_problem_type_*
    assert body["title"] == reason.sentence
    assert response.data.isascii()
    return response.status_code, body["error"]["reason"]


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "reason"),
    [
        ("post", "/api/v1/verify", {"data": "token=x", "content_type": "application/x-www-form-urlencoded"}, 415, "unsupported_media_type"),
        ("post", "/api/v1/verify", {"data": '{"token": "x"}', "content_type": "text/plain"}, 415, "unsupported_media_type"),
        ("post", "/api/v1/verify", {"data": '{"token": "x"}', "content_type": "application/json; charset=latin-1"}, 415, "unsupported_media_type"),
        ("post", "/api/v1/verify", {"data": "not json", "content_type": JSON}, 400, "bad_json"),
        ("post", "/api/v1/verify", {"data": "", "content_type": JSON}, 400, "bad_json"),
        ("post", "/api/v1/verify", {"data": '{"token": "a", "token": "b"}', "content_type": JSON}, 400, "bad_json"),
        ("post", "/api/v1/verify", {"data": b'\xef\xbb\xbf{"token": "x"}', "content_type": JSON}, 400, "bad_json"),
        ("post", "/api/v1/verify", {"data": b'{"token": "\xff"}', "content_type": JSON}, 400, "bad_json"),
        ("post", "/api/v1/verify", {"data": '{"token": NaN}', "content_type": JSON}, 400, "bad_json"),
        ("post", "/api/v1/verify", {"data": "[]", "content_type": JSON}, 400, "body_not_object"),
        ("post", "/api/v1/verify", {"data": '"token"', "content_type": JSON}, 400, "body_not_object"),
        ("post", "/api/v1/verify", {"data": "{}", "content_type": JSON}, 400, "missing_token"),
        ("post", "/api/v1/verify", {"data": '{"token": 5}', "content_type": JSON}, 400, "token_not_string"),
        ("post", "/api/v1/verify", {"data": '{"token": null}', "content_type": JSON}, 400, "token_not_string"),
        ("post", "/api/v1/verify", {"data": '{"token": ["a"]}', "content_type": JSON}, 400, "token_not_string"),
        ("post", "/api/v1/verify", {"data": '{"token": "x", "lang": "en"}', "content_type": JSON}, 400, "unknown_member"),
        ("post", "/api/v1/verify", {"data": json.dumps({"token": "x" * 5000}), "content_type": JSON}, 413, "token_too_large"),
        ("post", "/api/v1/verify", {"data": json.dumps({"token": "x" * 3000}), "content_type": JSON}, 413, "token_too_large"),
        ("post", "/api/v1/verify", {"data": "{" + " " * 9000 + "}", "content_type": JSON}, 413, "body_too_large"),
        ("get", "/api/v1/verify", {}, 405, "method_not_allowed"),
        ("put", "/api/v1/verify", {}, 405, "method_not_allowed"),
        ("delete", "/api/v1/registry", {}, 405, "method_not_allowed"),
        ("post", "/api/v1/healthz", {}, 405, "method_not_allowed"),
        ("get", "/api/v1/nowhere", {}, 404, "not_found"),
        ("get", "/api/v2/verify", {}, 404, "not_found"),
        ("post", "/api/v1/verify/batch", {"data": '{"tokens": "x"}', "content_type": JSON}, 400, "missing_tokens"),
        ("post", "/api/v1/verify/batch", {"data": "{}", "content_type": JSON}, 400, "missing_tokens"),
        ("post", "/api/v1/verify/batch", {"data": '{"tokens": ["x", 1]}', "content_type": JSON}, 400, "token_not_string"),
        ("post", "/api/v1/verify/batch", {"data": json.dumps({"tokens": ["x"] * 101}), "content_type": JSON}, 413, "batch_too_large"),
        ("post", "/api/v1/verify/batch", {"data": '{"token": "x"}', "content_type": JSON}, 400, "unknown_member"),
        ("put", "/api/v1/registry", {"data": "{}", "content_type": "text/plain"}, 415, "unsupported_media_type"),
        ("put", "/api/v1/registry", {"data": "{}", "content_type": JSON}, 422, "registry_invalid"),
        ("put", "/api/v1/registry", {"data": "not json", "content_type": JSON}, 422, "registry_invalid"),
        ("put", "/api/v1/status/hcm-syt", {"data": "x.y.z", "content_type": "text/plain"}, 415, "unsupported_media_type"),
        ("put", "/api/v1/status/hcm-syt", {"data": "x.y.z", "content_type": "application/statuslist+jwt"}, 422, "malformed_token"),
        ("put", "/api/v1/status/hcm-syt", {"data": "é".encode(), "content_type": "application/statuslist+jwt"}, 400, "malformed_token"),
        ("put", "/api/v1/status/hcm-stnmt", {"data": "x.y.z", "content_type": "application/statuslist+jwt"}, 404, "unknown_issuer"),
        ("get", "/api/v1/status/HCM-SYT", {}, 404, "unknown_issuer"),
        ("get", "/api/v1/status/..%2Fregistry", {}, 404, "not_found"),
        ("get", "/api/v1/status/hcm-stnmt", {}, 404, "status_unavailable"),
    ],
)
def test_every_request_error_has_the_one_shape(client: FlaskClient, method: str, path: str, kwargs: dict, status: int, reason: str) -> None:  # type: ignore[type-arg]
    response = getattr(client, method)(path, **kwargs)
    assert error_of(response) == (status, reason)
    if status == 405:
        assert response.headers["Allow"]


def test_verify_a_valid_permit_by_token_and_by_qr_digits(city: City, client: FlaskClient) -> None:
    record = city.issue()
    city.publish_status("hcm-syt")
    client.application.extensions["permit_store"].reload()
    for sent in (record.token, qr.token_to_digits(record.token)):
        response = client.post("/api/v1/verify", json={"token": sent})
        assert response.status_code == 200
        assert response.headers["Cache-Control"] == "no-store"
        body = response.get_json()
        assert (body["valid"], body["status"], body["reasons"]) == (True, "valid", [])
        assert body["issuer"]["name"]["en"] == "Department of Health"


def test_any_verdict_is_http_200(client: FlaskClient) -> None:
    response = client.post("/api/v1/verify", json={"token": "not.a.permit"})
    assert response.status_code == 200
    assert response.get_json()["reasons"] == ["malformed_token"]


def test_batch_keeps_order_one_verdict_per_token(city: City, client: FlaskClient) -> None:
    good, bad = city.issue(number="1"), city.issue(number="2")
    city.change(bad, "revoked")
    city.publish_status("hcm-syt")
    client.application.extensions["permit_store"].reload()
    tokens = [good.token, "forged", bad.token, good.token]
    response = client.post("/api/v1/verify/batch", json={"tokens": tokens})
    assert response.status_code == 200
    assert [v["status"] for v in response.get_json()["verdicts"]] == ["valid", "invalid", "revoked", "valid"]


def test_batch_of_exactly_the_limit_is_accepted(client: FlaskClient) -> None:
    response = client.post("/api/v1/verify/batch", json={"tokens": ["x"] * 100})
    assert response.status_code == 200 and len(response.get_json()["verdicts"]) == 100
    assert client.post("/api/v1/verify/batch", json={"tokens": []}).get_json() == {"verdicts": []}


@pytest.mark.parametrize("path", ["/api/v1/registry", "/api/v1/status/hcm-syt"])
def test_documents_have_etags_and_answer_304(client: FlaskClient, path: str) -> None:
    first = client.get(path)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"].startswith("public, max-age=")
    again = client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


def test_registry_is_served_exactly_as_signed(city: City, client: FlaskClient) -> None:
    assert client.get("/api/v1/registry").data == city.home.file("registry.json").read_bytes()
    body = client.get("/api/v1/status/hcm-syt")
    assert body.mimetype == "application/statuslist+jwt"
    assert body.data.decode() == city.lists["hcm-syt"].token


# --- a verifier that starts with nothing but the trust anchor ---------------------------------


@pytest.fixture
def bare(city: City, tmp_path: Path, clock: Clock) -> FlaskClient:
    """A verifier home holding only anchor.json: everything else must be pushed to it."""
    home = tmp_path / "verifier"
    home.mkdir()
    shutil.copy(city.home.file("anchor.json"), home / "anchor.json")
    app = create_app({"HOME": str(home), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True})
    return app.test_client()


def put_registry(client: FlaskClient, raw: bytes) -> Any:
    return client.put("/api/v1/registry", data=raw, content_type=JSON)


def test_a_verifier_with_only_the_anchor_cannot_check_yet(bare: FlaskClient, city: City) -> None:
    verdict = bare.post("/api/v1/verify", json={"token": city.issue().token}).get_json()
    assert (verdict["status"], verdict["reasons"]) == ("status_unknown", ["registry_unavailable"])
    assert error_of(bare.get("/api/v1/registry")) == (404, "registry_unavailable")
    assert bare.get("/api/v1/healthz").get_json()["status"] == "unavailable"


def test_put_registry_newer_is_accepted_older_and_equal_refused(bare: FlaskClient, city: City) -> None:
    first = city.home.file("registry.json").read_bytes()
    response = put_registry(bare, first)
    assert response.status_code == 200 and response.get_json()["version"] == 1
    assert error_of(put_registry(bare, first)) == (409, "registry_not_newer")
    newer = operator.publish(city.home, passphrase, NOW, 60 * DAY)
    assert put_registry(bare, newer.bundle).get_json()["version"] == 2
    assert error_of(put_registry(bare, first)) == (409, "registry_rollback")
    assert bare.get("/api/v1/healthz").get_json()["registry"]["version"] == 2


def test_put_registry_forged_is_refused_and_changes_nothing(bare: FlaskClient, city: City) -> None:
    put_registry(bare, city.home.file("registry.json").read_bytes())
    bundle = json.loads(city.home.file("registry.json").read_bytes())
    from keys.encoding import b64url_decode, b64url_encode

    payload = json.loads(b64url_decode(bundle["registry"]["payload"]))
    payload["version"] = 99
    payload["agencies"]["hcm-syt"]["types"] = ["construction", "food-safety"]
    bundle["registry"]["payload"] = b64url_encode(json.dumps(payload, ensure_ascii=False).encode())
    assert error_of(put_registry(bare, json.dumps(bundle).encode())) == (422, "registry_invalid")
    assert bare.get("/api/v1/healthz").get_json()["registry"]["version"] == 1


def test_put_registry_expired_is_refused(bare: FlaskClient, city: City, clock: Clock) -> None:
    clock.now = NOW + 90 * DAY
    assert error_of(put_registry(bare, city.home.file("registry.json").read_bytes())) == (422, "registry_stale")


def test_put_status_rules(bare: FlaskClient, city: City) -> None:
    put_registry(bare, city.home.file("registry.json").read_bytes())
    signer = city.signers["hcm-syt"]
    older = build_status_list(city.registry.agencies["hcm-syt"].status_url, 131072, [], signer, NOW - 100, NOW + DAY)
    newer = build_status_list(city.registry.agencies["hcm-syt"].status_url, 131072, [(5, 1)], signer, NOW, NOW + DAY)
    put = lambda agency, token: bare.put(f"/api/v1/status/{agency}", data=token, content_type="application/statuslist+jwt")  # noqa: E731
    accepted = put("hcm-syt", newer)
    assert accepted.status_code == 200 and accepted.get_json()["agency"] == "hcm-syt"
    assert error_of(put("hcm-syt", newer)) == (409, "status_not_newer")
    assert error_of(put("hcm-syt", older)) == (409, "status_rollback")
    other = build_status_list(city.registry.agencies["hcm-skhdt"].status_url, 131072, [], city.signers["hcm-skhdt"], NOW + 5, NOW + DAY)
    assert error_of(put("hcm-syt", other)) == (422, "issuer_key_mismatch")
    header, payload, signature = newer.split(".")
    forged = f"{header}.{other.split('.')[1]}.{signature}"
    assert error_of(put("hcm-syt", forged)) == (422, "bad_signature")
    expired = build_status_list(city.registry.agencies["hcm-syt"].status_url, 131072, [], signer, NOW - 3 * DAY, NOW - DAY)
    assert error_of(put("hcm-syt", expired)) == (422, "status_stale")
    assert bare.get("/api/v1/status/hcm-syt").data.decode() == newer


def test_status_list_before_any_registry_is_refused(bare: FlaskClient, city: City) -> None:
    token = build_status_list(city.registry.agencies["hcm-syt"].status_url, 131072, [], city.signers["hcm-syt"], NOW, NOW + DAY)
    response = bare.put("/api/v1/status/hcm-syt", data=token, content_type="application/statuslist+jwt")
    assert error_of(response) == (422, "registry_unavailable")


def test_healthz_reports_version_ages_and_staleness(client: FlaskClient, clock: Clock) -> None:
    body = client.get("/api/v1/healthz").get_json()
    assert body["status"] == "ok" and body["registry"]["version"] == 1
    assert body["registry"]["age_seconds"] == DAY
    assert body["status_lists"]["hcm-syt"] == {"issued_at": "2026-11-22T02:00:00Z", "expires_at": "2026-11-24T02:00:00Z",
                                               "age_seconds": 0, "stale": False}
    clock.now = NOW + 3 * DAY
    body = client.get("/api/v1/healthz").get_json()
    assert body["status"] == "degraded" and body["status_lists"]["hcm-syt"]["stale"] is True


def test_stale_status_list_verdict_is_never_valid(city: City, client: FlaskClient, clock: Clock) -> None:
    record = city.issue()
    city.publish_status("hcm-syt")
    client.application.extensions["permit_store"].reload()
    clock.now = NOW + 3 * DAY
    verdict = client.post("/api/v1/verify", json={"token": record.token}).get_json()
    assert (verdict["status"], verdict["reasons"]) == ("status_unknown", ["status_stale"])


# --- OpenAPI ------------------------------------------------------------------------------------


def _validate(document: dict[str, Any], ref: str, instance: Any) -> None:
    schema = {"$ref": f"#/components/schemas/{ref}", "components": document["components"]}
    jsonschema.Draft202012Validator(schema).validate(instance)


def test_openapi_describes_every_route_and_its_responses(client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    routes = {re.sub(r"<(\w+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
              for rule in client.application.url_map.iter_rules() if rule.rule.startswith("/api/v1")}
    assert routes == set(document["paths"])
    jsonschema.Draft202012Validator.check_schema({"components": document["components"]})
    assert document == openapi_document(CITY_VERIFIER, 100)  # the city home's base_url


def test_real_responses_match_the_openapi_schemas(city: City, client: FlaskClient) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    record = city.issue()
    city.change(record, "revoked")
    city.publish_status("hcm-syt")
    client.application.extensions["permit_store"].reload()
    _validate(document, "Verdict", client.post("/api/v1/verify", json={"token": record.token}).get_json())
    _validate(document, "Verdict", client.post("/api/v1/verify", json={"token": "x"}).get_json())
    _validate(document, "BatchVerdicts", client.post("/api/v1/verify/batch", json={"tokens": [record.token, "y"]}).get_json())
    _validate(document, "Health", client.get("/api/v1/healthz").get_json())
    _validate(document, "Error", client.get("/api/v1/nowhere").get_json())
    _validate(document, "RegistryBundle", client.get("/api/v1/registry").get_json())


# --- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/v", "/", "/api/v1/healthz", "/static/verify.js", "/favicon.ico", "/no-such-page"])
def test_security_headers_on_every_response(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    response.close()
    headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp and "script-src 'self'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer"


def test_the_page_has_no_inline_script_and_does_not_reflect_the_host(client: FlaskClient) -> None:
    html = client.get("/v", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert "evil.example" not in html
    scripts = [chunk.split(">", 1)[0] for chunk in html.split("<script")[1:]]
    # The texts and the documents' addresses and anchor (JSON, never run), the check (a module,
    # run first), the page's script and the scanner's.
    assert scripts == [' type="application/json" id="texts"', ' type="application/json" id="documents"',
                       ' type="module" src="/local.js"', ' defer src="/static/verify.js"', ' defer src="/static/scan.js"']
    texts = json.loads(html.split('id="texts">', 1)[1].split("</script>", 1)[0])
    assert texts["status"]["valid"] == {"vi": "HỢP LỆ", "en": "VALID"}
    assert '<html lang="vi">' in html and 'name="viewport"' in html


# --- problem details ------------------------------------------------------------------------------


def test_problem_type_is_one_absolute_uri_per_reason_under_the_public_address(city: City) -> None:
    app = create_app({"HOME": str(city.home.path), "BACKGROUND_REFRESH": False, "TESTING": True, "BASE_URL": "https://xacminh.example/"})
    response = app.test_client().post("/api/v1/verify", data="{", content_type=JSON)
    assert error_of(response) == (400, "bad_json")
    body = response.get_json()
    assert body["type"] == "https://xacminh.example/api/v1/problems/bad_json"
    assert (body["title"], body["status"]) == ("The JSON is not valid.", 400)
    assert body["detail"].startswith("the body is not strict JSON")


@pytest.mark.parametrize("accept", ["application/json", "application/problem+json", "application/json, application/problem+json;q=0.5", None])
def test_errors_are_problem_json_whatever_json_the_client_accepts(client: FlaskClient, accept: str | None) -> None:
    headers = {"Accept": accept} if accept else {}
    response = client.post("/api/v1/verify", data="{}", content_type=JSON, headers=headers)
    assert error_of(response) == (400, "missing_token")
    assert response.headers["Content-Type"] == "application/problem+json"  # no charset: the body is ASCII


def test_a_message_quoting_what_a_client_sent_stays_ascii(client: FlaskClient) -> None:
    response = client.post("/api/v1/verify", data='{"token": "x", "tên": 1}', content_type=JSON)
    assert error_of(response) == (400, "unknown_member")
    assert "\\u00ean" in response.get_data(as_text=True) and response.get_json()["detail"] == "unknown member 'tên'"
