"""The WSGI fast path for POST /api/v1/verify answers exactly as the Flask view would."""

from __future__ import annotations

import json

import pytest
from conftest import City, Clock
from werkzeug.test import Client

from permits import qr
from verifier.web.app import Hardening, create_app


@pytest.fixture
def both(city: City, clock: Clock) -> tuple[Client, Client, dict[str, str]]:
    good = city.issue(number="FAST-1")
    revoked = city.issue(number="FAST-2")
    city.change(revoked, "revoked")
    city.publish_all()
    app = create_app({"HOME": str(city.home.path), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True})
    fast = app.wsgi_app
    assert isinstance(fast, Hardening)
    slow = Hardening(fast.app.app)  # the same app without the fast path
    return Client(fast), Client(slow), {"good": good.token, "revoked": revoked.token}


BODIES = [
    lambda t: json.dumps({"token": t["good"]}),
    lambda t: json.dumps({"token": t["revoked"]}),
    lambda t: json.dumps({"token": t["good"][:-3] + "AAA"}),
    lambda t: json.dumps({"token": "not a token"}),
    lambda t: json.dumps({"token": qr.token_to_digits(t["good"])}),  # the QR form: the view decodes it
    lambda t: json.dumps({"token": t["good"], "extra": 1}),
    lambda t: '{"token": "a", "token": "b"}',
    lambda t: json.dumps({"token": 5}),
    lambda t: json.dumps(["x"]),
    lambda t: "{",
    lambda t: json.dumps({"token": "x" * 3000}),
    lambda t: " " * 9000,
]


@pytest.mark.parametrize("body", BODIES, ids=["valid", "revoked", "forged", "junk", "digits", "extra-member", "duplicate",
                                                "number", "array", "broken", "long-token", "too-long-body"])
@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=utf-8", "text/plain"])
def test_fast_and_flask_paths_give_the_same_answer(both: tuple[Client, Client, dict[str, str]], body, content_type: str) -> None:  # type: ignore[no-untyped-def]
    fast, slow, tokens = both
    data = body(tokens).encode()
    a = fast.post("/api/v1/verify", data=data, content_type=content_type)
    b = slow.post("/api/v1/verify", data=data, content_type=content_type)
    assert (a.status_code, a.get_data()) == (b.status_code, b.get_data())
    for header in ("Content-Type", "Content-Length", "Cache-Control", "Content-Security-Policy", "X-Content-Type-Options",
                   "Referrer-Policy", "X-Frame-Options"):
        assert a.headers.get(header) == b.headers.get(header), header


def test_the_fast_path_really_answers_the_plain_request(both: tuple[Client, Client, dict[str, str]]) -> None:
    fast, _, tokens = both
    app_called = []
    hardening = fast.application
    inner = hardening.app.app

    def spy(environ, start_response):  # type: ignore[no-untyped-def]
        app_called.append(environ["PATH_INFO"])
        return inner(environ, start_response)

    hardening.app.app = spy
    fast.post("/api/v1/verify", data=json.dumps({"token": tokens["good"]}), content_type="application/json")
    assert app_called == []  # answered without Flask
    fast.post("/api/v1/verify", data=json.dumps({"token": "x", "y": 1}), content_type="application/json")
    assert app_called == ["/api/v1/verify"]  # anything unusual goes to the view
