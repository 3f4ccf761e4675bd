"""Pushing a signed document to a verifier's PUT endpoint (`permit registry push`,
`permit status push`). The verifier checks it; this only carries it and reports the answer."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from keys.errors import PermitError
from keys.reasons import Reason


class PushRefused(PermitError):
    """The verifier answered with an error; `reason` is the verifier's own reason code."""

    reason = Reason.PUSH_REFUSED


class AlreadyHeld(PushRefused):
    """The verifier already holds this document, or a newer one (409)."""


_ALREADY_HELD = frozenset({Reason.REGISTRY_NOT_NEWER, Reason.STATUS_NOT_NEWER})


def endpoint(base_url: str, path: str) -> str:
    """`https://verifier.example` (or …/api/v1) → https://verifier.example/api/v1/PATH."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PushRefused(f"not an http(s) URL: {base_url}", reason=Reason.BAD_URL)
    base = base_url.rstrip("/")
    if not base.endswith("/api/v1"):
        base += "/api/v1"
    return f"{base}/{path}"


def put(url: str, body: bytes, content_type: str, timeout: float = 15) -> dict[str, Any]:
    request = urllib.request.Request(url, data=body, method="PUT", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            answer: dict[str, Any] = json.loads(response.read())
            return answer
    except urllib.error.HTTPError as error:
        try:
            problem = json.loads(error.read())["error"]
            code = str(problem["reason"])
            # A code this version does not know (a newer verifier) is kept in the message.
            reason = Reason.of(code)
            refused = AlreadyHeld if reason in _ALREADY_HELD else PushRefused
            raise refused(f"{url} refused it: {problem['message']} [{code}]", reason=reason) from None
        except (ValueError, KeyError, TypeError):
            raise PushRefused(f"{url} answered HTTP {error.code}") from None
    except (urllib.error.URLError, OSError) as error:
        raise PushRefused(f"cannot reach {url}: {getattr(error, 'reason', error)}", reason=Reason.UNREACHABLE) from None


def push(base_url: str, path: str, body: bytes, content_type: str) -> dict[str, Any] | None:
    """PUT a document to a verifier; its answer, or None when it already holds this one or a
    newer one. Any other refusal raises PushRefused."""
    try:
        return put(endpoint(base_url, path), body, content_type)
    except AlreadyHeld:
        return None
