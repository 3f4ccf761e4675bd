"""Serving the verifier with gunicorn, with access logs that never hold a token.

Tokens travel in POST bodies and in URL fragments, which browsers never send, so a well-formed
request has none in its request line. A client can still put one in a path or a query string
(`GET /v?token=…`); the access logger drops query strings and blanks any long run of token
characters in the request line, the path and the Referer before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from verifier.web.app import create_app

# 20+ characters from the alphabets of compact JWS and of QR digits: never a real path segment.
_TOKENISH = re.compile(r"[A-Za-z0-9_\-.%]{20,}")
REDACTED = "[redacted]"
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'


def redact(text: str) -> str:
    """A request line, path or URL with its query string removed and token-like runs blanked."""
    head, sep, tail = text.partition("?")
    if sep:
        # Keep the protocol at the end of a request line ("GET /x?q HTTP/1.1").
        protocol = tail.rsplit(" ", 1)[1] if " " in tail else ""
        text = f"{head}?{REDACTED}" + (f" {protocol}" if protocol else "")
    return _TOKENISH.sub(REDACTED, text)


class RedactingLogger(Logger):  # type: ignore[misc]
    def atoms(self, resp: Any, req: Any, environ: Mapping[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        atoms["q"] = REDACTED if atoms.get("q") else ""
        return atoms


class VerifierServer(BaseApplication):  # type: ignore[misc]
    """gunicorn running `create_app(config)` in each worker."""

    def __init__(self, config: Mapping[str, Any], options: Mapping[str, Any]) -> None:
        self.app_config = dict(config)
        self.options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        settings = {
            "worker_class": "gthread",
            "accesslog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
            "logger_class": RedactingLogger,
            "keepalive": 5,
            "timeout": 30,
            "graceful_timeout": 10,
            # Several verifiers may run on one machine; the shared default socket path would clash.
            "control_socket_disable": True,
            **self.options,
        }
        for key, value in settings.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app(self.app_config)


def serve(config: Mapping[str, Any], bind: str, workers: int, threads: int, access_log: str) -> None:
    """Run until interrupted. Defaults suit 2 cores: one worker per core, a few threads each
    so a slow client cannot hold a whole process."""
    VerifierServer(config, {"bind": bind, "workers": workers, "threads": threads, "accesslog": access_log}).run()
