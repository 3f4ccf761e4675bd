"""The API's one error shape, and the only place where a refusal becomes an HTTP status.

Every error the API gives is an RFC 9457 problem details object, served as
application/problem+json, that also keeps the shape integrators used before it:

    {"type": "{BASE_URL}/api/v1/problems/<reason>", "title": <the reason's English sentence>,
     "status": <HTTP status>, "detail": <message>,
     "error": {"status": <HTTP status>, "reason": <reason>, "message": <message>}}

A view that knows the status raises `ApiError`; any other PermitError that reaches Flask is
answered by its type (`status_of`), so no layer below the web knows about HTTP.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, current_app, render_template, request
from werkzeug.exceptions import HTTPException

from keys.errors import ConflictError, DocumentError, LedgerError, NotFoundError, PermitError, RegistryRollback
from keys.reasons import Reason

log = logging.getLogger("permits.verifier")
MESSAGE_MAX = 200


class ApiError(PermitError):
    """A request the API refuses with this HTTP status and reason."""

    def __init__(self, status: int, reason: Reason, message: str) -> None:
        super().__init__(message, reason=reason)
        self.status = status


def status_of(exc: PermitError) -> int:
    """The HTTP status for an error that reached the API: by its type."""
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, NotFoundError):
        return 404
    if isinstance(exc, ConflictError | RegistryRollback):
        return 409
    if isinstance(exc, DocumentError):
        return 422
    if isinstance(exc, LedgerError):
        return 500
    return 400


def _bounded(message: str) -> str:
    """Messages can quote what a client sent: keep them short and free of control characters."""
    text = "".join(c if c.isprintable() else "?" for c in message[:MESSAGE_MAX])
    return text + ("…" if len(message) > MESSAGE_MAX else "")


PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEMS_PATH = "/api/v1/problems/"


def problem_type(base_url: str, reason: Reason) -> str:
    """The `type` of a problem with this reason: an absolute https (or http) URI under the
    verifier's public address, where GET answers what the problem means, in Vietnamese and English.

    Why this scheme (RFC 9457 §3.1.1, §4): consumers identify a problem by its `type`, so it is
    one URI per reason, never about:blank (§4.2.1: that means nothing beyond the HTTP status,
    and several reasons share a status here); absolute, because a relative reference resolves
    against each request's URL; a locator, because a locator SHOULD lead to documentation of the
    problem, and each verifier serves it. BASE_URL is the address printed in every permit's QR
    code, the one public address of the city's verifiers, so every node of a fleet gives the same
    URI. A tag: URI would be the same everywhere but needs a DNS name the city held on a date,
    which this project cannot choose for its operators, and a URN a registered namespace. A
    client that talks to verifiers under different addresses compares `error.reason`, which is
    the last segment of the path and never changes."""
    return f"{base_url.rstrip('/')}{PROBLEMS_PATH}{reason}"


def problem(base_url: str, status: int, reason: Reason, message: str) -> dict[str, Any]:
    """The problem details object for a refusal: RFC 9457's members, then the earlier shape's
    `error` as an extension member (§3.2), with the same status and the same message."""
    detail = _bounded(message)
    return {
        "type": problem_type(base_url, reason),
        "title": reason.sentence,
        "status": status,
        "detail": detail,
        "error": {"status": status, "reason": reason, "message": detail},
    }


def error_response(status: int, reason: Reason, message: str) -> Response:
    """The one error shape of the API, for every 4xx (and the 500 that should never happen).

    Served as application/problem+json whatever the request's Accept says (RFC 9457 §3 allows
    it; a client asking for application/json reads it as JSON: the +json suffix). The body is
    ASCII, every other character written as a JSON \\u escape, so that it reads the same
    whatever charset a client assumes: the media type, like application/json, has no charset
    parameter."""
    body = json.dumps(problem(str(current_app.config["BASE_URL"]), status, reason, message), separators=(",", ":"))
    return Response(body + "\n", status=status, content_type=PROBLEM_MEDIA_TYPE)


# What Werkzeug refuses before a view runs.
HTTP_REASONS = {
    400: Reason.BAD_REQUEST,
    404: Reason.NOT_FOUND,
    405: Reason.METHOD_NOT_ALLOWED,
    413: Reason.BODY_TOO_LARGE,
    415: Reason.UNSUPPORTED_MEDIA_TYPE,
}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(PermitError)
    def permit_error(exc: PermitError) -> Response:
        return error_response(status_of(exc), exc.reason, exc.message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | tuple[str, int]:
        status = exc.code or 500
        if request.path.startswith("/api/"):
            response = error_response(status, HTTP_REASONS.get(status, Reason.HTTP_ERROR), exc.description or exc.name)
            if status == 405 and exc.get_response().headers.get("Allow"):
                response.headers["Allow"] = exc.get_response().headers["Allow"]
            return response
        return render_template("error.html", status=status, name=exc.name), status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception) -> Response:
        # A bug, not an input problem: logged with its traceback, answered in the same shape.
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, Reason.INTERNAL_ERROR, "the verifier failed unexpectedly; the error was logged")
