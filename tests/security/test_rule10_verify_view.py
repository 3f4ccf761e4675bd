"""Rule 10 for POST /api/v1/verify, which one Flask view answers.

A WSGI fast path once answered the plain request (Content-Type exactly application/json, a
declared length, one string token) in front of the view, without its error handling: what
raised inside it reached gunicorn, which answered with its own HTML 500. These are the requests
that did (each fixed at its source since), sent to a real `permit serve` the way the fast path
took them.
"""

from __future__ import annotations

import json
import time

from attack_http import RawResponse, raw_request, request_bytes
from conftest import DAY, Served
from hostile import claims_json, claims_token
from test_rule10_http import JSON, assert_security_headers, error_of

# 600 levels of arrays around an escaped surrogate pair: the lone-surrogate check recursed past
# Python's limit (RecursionError, not the ValueError the fast path caught).
DEEP_TOKEN = '{"token": ' + "[" * 600 + '"\\ud83d\\ude00"' + "]" * 600 + "}"
# A permit its agency signed to run into year 10000: writing the verdict raised ValueError.
YEAR_10000 = 253_402_300_800


def _post(served: Served, body: bytes) -> RawResponse:
    """The request as the fast path took it: exactly application/json, a declared length."""
    return raw_request(served.url, request_bytes("POST", "/api/v1/verify", {"Content-Type": JSON, "Content-Length": str(len(body))}, body))


def test_requests_the_fast_path_failed_on_get_the_apis_json_answer(served: Served) -> None:
    now = int(time.time())
    permit = served.city.issue(at=now, number="YEAR-10000").permit
    token = claims_token(served.city, claims_json(permit, iat=now, nbf=YEAR_10000 - DAY, exp=YEAR_10000))

    deep = _post(served, DEEP_TOKEN.encode())
    assert error_of(deep) == (400, "bad_json"), (deep.status_line, deep.body[:200])
    assert_security_headers(deep.headers)

    past = _post(served, json.dumps({"token": token}).encode())
    assert (past.status, past.headers["content-type"]) == (200, JSON), (past.status_line, past.body[:200])
    assert (past.json["status"], past.json["reasons"]) == ("invalid", ["bad_claim"])
    assert past.headers["cache-control"] == "no-store"
    assert_security_headers(past.headers)

    # Whatever gunicorn or the app logs about a request is written before the answer is sent.
    assert "Traceback" not in served.access_log.with_suffix(".err").read_text()
