"""What the service tells its operators: GET /metrics (an operator endpoint, outside /api/v1, never
to be reachable through the public proxy), each request's latency by endpoint, the request id
the proxy in front assigns, and the outcome of each push.

The request id is the `X-Request-Id` header nginx sets (`$request_id`): accepted only as a short
token of safe characters (REQUEST_ID), echoed on the response, where the access log reads it.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar

from flask import Blueprint, Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST
from werkzeug.exceptions import HTTPException

from keys.errors import PermitError
from keys.trust import TrustedRegistry
from permits.status_list import StatusList
from verifier import metrics
from verifier.state import TrustStore
from verifier.web.errors import HTTP_REASONS

P = ParamSpec("P")
R = TypeVar("R")

blueprint = Blueprint("metrics", __name__)
# What a proxy's request id looks like (nginx: 32 hexadecimal digits; a UUID): at most 64
# characters, so that whatever a client sends there, no whole token reaches a log.
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
REQUEST_ID_HEADER = "X-Request-Id"
_STARTED = "permit.started"


def request_id(value: str | None) -> str | None:
    """The request id a proxy sent, if it is one (REQUEST_ID), else None."""
    return value if value is not None and REQUEST_ID.fullmatch(value) else None


def init_app(app: Flask) -> None:
    """Serve GET /metrics for `app`, and observe each of its requests."""
    store: TrustStore = app.extensions["permit_store"]

    def documents() -> tuple[TrustedRegistry | None, Mapping[str, StatusList], int]:
        snapshot = store.snapshot
        return snapshot.registry, snapshot.lists, store.now()

    app.extensions["permit_metrics"] = metrics.Exposition(metrics.DocumentsCollector(documents))
    app.register_blueprint(blueprint)
    app.wsgi_app = Observed(app.wsgi_app)  # type: ignore[method-assign]


@blueprint.get("/metrics", endpoint="metrics")
def metrics_text() -> Response:
    exposition: metrics.Exposition = current_app.extensions["permit_metrics"]
    response = Response(exposition.text(), content_type=CONTENT_TYPE_LATEST)
    response.headers["Cache-Control"] = "no-store"
    return response


class Observed:
    """At the WSGI layer, around Flask: the time a request arrives, for the latency observed when
    Flask tears the request down (`_observe`, which knows the endpoint it matched), and the
    request id echoed."""

    def __init__(self, app: Callable[[dict[str, Any], Any], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        environ[_STARTED] = time.perf_counter()
        rid = request_id(environ.get("HTTP_X_REQUEST_ID"))
        if rid is None:
            return self.app(environ, start_response)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            headers.append((REQUEST_ID_HEADER, rid))
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


@blueprint.teardown_app_request
def _observe(exc: BaseException | None) -> None:
    started = request.environ.get(_STARTED)
    if started is not None:  # not a request context made without the WSGI layer
        metrics.observe_request(request.endpoint, time.perf_counter() - started)


def counts_push(document: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a push view: its answer counts as `accepted`; a refusal (a PermitError, an ApiError
    among them, or a refusal of Werkzeug's such as 413) by metrics.outcome_of with its reason;
    anything else as `failed`."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(view)
        def counted(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                answer = view(*args, **kwargs)
            except PermitError as exc:
                metrics.count_push(document, metrics.outcome_of(exc), exc.reason)
                raise
            except HTTPException as exc:
                reason = HTTP_REASONS.get(exc.code or 500)
                metrics.count_push(document, metrics.REFUSED if reason else metrics.FAILED, reason or metrics.NO_REASON)
                raise
            except Exception:
                metrics.count_push(document, metrics.FAILED)
                raise
            metrics.count_push(document, metrics.ACCEPTED)
            return answer

        return counted

    return decorate
