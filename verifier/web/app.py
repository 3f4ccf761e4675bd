"""The Flask application: `create_app(config=None)`.

Configuration is layered: the defaults of verifier/settings.py (every setting is described
there), then `PERMIT_*` environment variables, then the `config` mapping (`permit serve`
resolves flags, environment and its configuration file into it; tests pass theirs).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask_cors import CORS

from keys.errors import NotFoundError
from keys.reasons import Reason
from keys.trust import MAX_BUNDLE_BYTES
from permits.home import Home
from verifier import settings
from verifier.state import TrustStore
from verifier.web import api, compression, local, observe, page
from verifier.web.errors import register_error_handlers

# What is not a setting an operator gives (verifier/settings.py has those): for tests.
DEFAULTS: dict[str, Any] = {
    "BACKGROUND_REFRESH": True,
    "CLOCK": time.time,
    # The largest body of any endpoint (a registry bundle); each view sets its own lower cap.
    "MAX_CONTENT_LENGTH": MAX_BUNDLE_BYTES,
}

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; "
    "frame-ancestors 'none'"
)
log = logging.getLogger("permits.verifier")


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(settings.defaults())
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(settings.from_environment(os.environ))
    if config:
        app.config.from_mapping(config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]

    if not app.config["HOME"]:
        raise NotFoundError("the verifier needs a home with anchor.json: set PERMIT_HOME", reason=Reason.HOME_MISSING)
    home = Home.existing(Path(str(app.config["HOME"])))
    home.anchor()  # the trust anchor is the one thing that must be there at start
    if not app.config["BASE_URL"]:
        app.config["BASE_URL"] = home.base_url
    store = TrustStore(
        home,
        registry_url=app.config["REGISTRY_URL"] or None,
        pull_status=bool(app.config["STATUS_PULL"]),
        refresh_interval=float(app.config["REFRESH_INTERVAL"]),
        poll_interval=float(app.config["POLL_INTERVAL"]),
        grace=int(app.config["GRACE"]),
        fetch_timeout=float(app.config["FETCH_TIMEOUT"]),
        clock=app.config["CLOCK"],
    )
    store.reload()
    app.extensions["permit_store"] = store

    if app.config["BACKGROUND_REFRESH"]:
        # gunicorn builds the app in each worker, so the refresher starts there; the API starts it
        # again when it reads the store in a process forked after this point (threads do not
        # survive fork). Not on every request: a hook costs more than the check.
        store.start()

    # Werkzeug would answer "//v" with a redirect to an absolute URL built from the Host header.
    app.url_map.merge_slashes = False
    app.url_map.redirect_defaults = False
    app.register_blueprint(api.blueprint, url_prefix="/api/v1")
    app.register_blueprint(page.blueprint)
    app.register_blueprint(local.blueprint)
    compression.init_app(app)
    observe.init_app(app)  # GET /metrics, and each request observed
    register_error_handlers(app)
    if app.config["CORS_ORIGINS"]:
        # Other agencies' web front ends call the API from their pages: reading verdicts and
        # documents, never pushing them (a push authenticates itself, but has no use in a page).
        CORS(app, resources={r"/api/v1/*": {"origins": list(app.config["CORS_ORIGINS"])}}, methods=["GET", "HEAD", "POST"],
             allow_headers=["Content-Type"], expose_headers=["Retry-After", "ETag"], max_age=600)
    app.wsgi_app = Hardening(app.wsgi_app)  # type: ignore[method-assign]
    return app


SECURITY_HEADERS = [
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
]


class Hardening:
    """At the WSGI layer, so that whatever answers (a view, an error handler, the static files)
    passes here: the security headers on every response, `Cache-Control: no-store` where a view
    set no caching policy (appending tuples costs far less than Werkzeug's header objects on the
    hot path), and an empty path read as "/" (Werkzeug would otherwise redirect it to an absolute
    URL built from the Host header, and Flask sends routing redirects past error handlers)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("PATH_INFO"):
            environ["PATH_INFO"] = "/"

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            present = {name.lower() for name, _ in headers}
            headers.extend(header for header in SECURITY_HEADERS if header[0].lower() not in present)
            if "cache-control" not in present:
                headers.append(("Cache-Control", "no-store"))
            return start_response(status, headers, exc_info)

        return self.app(environ, start)
