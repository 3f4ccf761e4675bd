"""Serving the verifier with gunicorn, through its documented settings only: logs that never
hold a token.

Tokens travel in POST bodies and in URL fragments, which browsers never send, so a well-formed
request has none in its request line. A client can still put one in a path, a query string or
a header; every log line (access and error log alike) drops query strings and blanks long runs
of token characters and of digits (a citizen ID number is 9 or 12 digits) before it is written.

gunicorn's threads read each request themselves, so a client that sends it slowly holds a thread
for as long as it keeps sending. Facing untrusted clients, the service belongs behind a proxy
that buffers whole requests and limits connections per client (docs/operator.md); that proxy
also answers, itself, the malformed requests gunicorn's parser would refuse with its own page.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.config import Config
from gunicorn.glogging import Logger

from verifier.web.app import create_app

# 20+ characters from the alphabets of compact JWS and of QR digits (never a real path segment),
# and runs of 9+ digits (identity and registration numbers).
_TOKENISH = re.compile(r"[A-Za-z0-9_\-.%]{20,}|\d{9,}")
REDACTED = "[redacted]"
ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(r)s" %(s)s %(b)s %(M)sms "%(f)s" "%(a)s"'


def redact(text: str) -> str:
    """A request line, path, header or log message with query strings removed and token-like
    runs blanked."""
    text = re.sub(r"\?[^\s\"']*", f"?{REDACTED}", text)
    return _TOKENISH.sub(REDACTED, text)


class _RedactRecords(logging.Filter):
    """The error log's safety net: whatever gunicorn or the application writes (a refused request
    line, a traceback), it is redacted as one text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + logging.Formatter().formatException(record.exc_info)
            record.exc_info, record.exc_text = None, None
        record.msg, record.args = redact(message), ()
        return True


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger with every line redacted, chosen through the documented `logger_class`
    setting ("a class that quacks like gunicorn.glogging.Logger"): the access log's atoms are the
    documented `access_log_format` identifiers."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.addFilter(_RedactRecords())

    def atoms(self, resp: Any, req: Any, environ: Mapping[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f", "a"):
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


def gunicorn_setting_names() -> list[str]:
    """The names a gunicorn configuration file may set (verifier/settings.py reads the file)."""
    return list(Config().settings)


def serve(config: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """Run `create_app(config)` under gunicorn with `options` (gunicorn's settings by their
    names) until interrupted."""
    VerifierServer(config, options).run()
