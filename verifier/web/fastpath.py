"""POST /api/v1/verify served straight from WSGI, in front of Flask.

Verification is the one hot endpoint, and on it Flask's request context, routing and response
objects cost about as much as half an Ed25519 signature check (bench/RESULTS.md). This layer
answers the ordinary request (exactly `Content-Type: application/json`, a declared length
within the limit, a strict JSON object holding one string token) itself, and hands every other
request to the Flask view unchanged (the body it read is put back), so errors, limits and
unusual forms keep one implementation. Both produce the same bytes for the same request:
tests/test_fastpath.py checks it.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterable
from typing import Any

from keys.encoding import loads_strict
from permits.token import MAX_TOKEN_LENGTH
from verifier.state import TrustStore

PATH = "/api/v1/verify"
BODY_MAX = 8 * 1024  # also the view's limit (api.VERIFY_BODY_MAX)

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class VerifyFastPath:
    def __init__(self, store: TrustStore, app: WSGIApp, background_refresh: bool) -> None:
        self.store = store
        self.app = app
        self.background_refresh = background_refresh

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != PATH or environ.get("REQUEST_METHOD") != "POST" or environ.get("CONTENT_TYPE") != "application/json":
            return self.app(environ, start_response)
        length = environ.get("CONTENT_LENGTH", "")
        # Any Transfer-Encoding goes to the view, which reads chunked bodies and refuses the rest.
        if not (length.isdigit() and 0 < int(length) <= BODY_MAX) or environ.get("HTTP_TRANSFER_ENCODING"):
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read(int(length))
        token = _plain_token(body)
        if token is None:
            environ["wsgi.input"] = io.BytesIO(body)  # the view reads it again and says what is wrong
            return self.app(environ, start_response)
        if self.background_refresh:
            self.store.start()  # as the Flask app's before_request does
        payload = json.dumps(self.store.verify(token).to_dict(), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
                                  ("Cache-Control", "no-store")])
        return [payload]


def _plain_token(body: bytes) -> str | None:
    """The token of `{"token": "…"}` when that is all the body is and the token is a compact
    JWS-sized string; None for anything the view should handle."""
    try:
        value = loads_strict(body)
    except ValueError:
        return None
    if type(value) is not dict or len(value) != 1:
        return None
    token = value.get("token")
    if type(token) is not str or len(token) > MAX_TOKEN_LENGTH or token.isdigit():
        return None
    return token
