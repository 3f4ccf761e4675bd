"""The API's one error shape, and the only place where a refusal becomes an HTTP status.

Every error the API gives is {"error": {"status", "reason", "message"}}. A view that knows the
status raises `ApiError`; any other PermitError that reaches Flask is answered by its type
(`status_of`), so no layer below the web knows about HTTP.
"""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
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


def error_response(status: int, reason: Reason, message: str) -> Response:
    """The one error shape of the API, for every 4xx (and the 500 that should never happen)."""
    response = jsonify({"error": {"status": status, "reason": reason, "message": _bounded(message)}})
    response.status_code = status
    return response


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
