"""Serving the verifier with gunicorn, through its documented settings only: logs that never
hold a token, as text or as JSON lines, and metrics summed over the workers.

Tokens travel in POST bodies and in URL fragments, which browsers never send, so a well-formed
request has none in its request line. A client can still put one in a path, a query string or
a header; every log line (access and error log alike) drops query strings and blanks long runs
of token characters and of digits (a citizen ID number is 9 or 12 digits) before it is written.

gunicorn's threads read each request themselves, so a client that sends it slowly holds a thread
for as long as it keeps sending. Facing untrusted clients, the service belongs behind a proxy
that buffers whole requests and limits connections per client (docs/operator.md); that proxy
also answers, itself, the malformed requests gunicorn's parser would refuse with its own page.

Metrics (verifier/metrics.py) use prometheus_client's multi-process mode: each worker writes its
counts to files in PROMETHEUS_MULTIPROC_DIR, which the server sets, before any worker starts, to
a fresh private directory (unless the environment names one), removed when it stops.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from gunicorn.app.base import BaseApplication
from gunicorn.config import Config
from gunicorn.glogging import Logger

if TYPE_CHECKING:
    from flask import Flask

# Read by prometheus_client when it is first imported: the app (and so the library) is imported
# only in the workers, after the server has set it.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LOG_FORMATS = ("text", "json")

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


# The verifier's own loggers (permits.verifier: a pull that failed, an unexpected error) write
# through the error log's handlers, so they are redacted and formatted as it is.
_APP_LOG = logging.getLogger("permits")
_app_handlers: list[logging.Handler] = []


class RedactingLogger(Logger):  # type: ignore[misc]
    """gunicorn's logger with every line redacted, chosen through the documented `logger_class`
    setting ("a class that quacks like gunicorn.glogging.Logger"): the access log's atoms are the
    documented `access_log_format` identifiers."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.addFilter(_RedactRecords())
        # setup runs again when gunicorn reloads its configuration, with new handlers.
        for handler in _app_handlers:
            _APP_LOG.removeHandler(handler)
        _app_handlers[:] = self.error_log.handlers
        for handler in _app_handlers:
            _APP_LOG.addHandler(handler)

    def atoms(self, resp: Any, req: Any, environ: Mapping[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U", "f", "a"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        atoms["q"] = REDACTED if atoms.get("q") else ""
        return atoms


class _Atoms(dict[str, Any]):
    """gunicorn's atoms as they are ("-" for one absent, `{Header}i` in any case): its own
    wrapper escapes quotes for its text format, and JSON escapes them itself."""

    def __missing__(self, key: str) -> Any:
        if key.startswith("{") and key.lower() in self:
            return self[key.lower()]
        return "-"


def _utc(created: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(created % 1 * 1000):03d}Z"


class _JsonAccess(logging.Formatter):
    """One access-log line as one JSON object, from the (redacted) atoms of the record."""

    def format(self, record: logging.LogRecord) -> str:
        atoms: Mapping[str, Any] = record.args if isinstance(record.args, Mapping) else {}
        sent = atoms.get("B")
        line = {
            "time": _utc(record.created),
            "log": "access",
            "remote": atoms.get("h"),
            "method": atoms.get("m"),
            "path": atoms.get("U", "") + ("?" + REDACTED if atoms.get("q") else ""),
            "status": int(atoms["s"]) if str(atoms.get("s")).isdigit() else atoms.get("s"),
            "bytes": sent if isinstance(sent, int) else 0,
            "duration_ms": round(atoms.get("D", 0) / 1000, 3),
            # what the application echoed: a request id it accepted (verifier.web.observe)
            "request_id": atoms.get("{x-request-id}o"),
            "referer": atoms.get("f"),
            "user_agent": atoms.get("a"),
        }
        return json.dumps(line, ensure_ascii=False)


class _JsonError(logging.Formatter):
    """One error-log line (gunicorn's or the verifier's, already redacted) as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        return json.dumps({"time": _utc(record.created), "log": "error", "level": record.levelname.lower(),
                           "logger": record.name, "pid": record.process, "message": record.getMessage()}, ensure_ascii=False)


class JsonLogger(RedactingLogger):
    """RedactingLogger writing JSON lines: one object per access-log line (time, method, path,
    status, bytes, duration_ms, request_id, user agent, ...) and per error-log line."""

    atoms_wrapper_class = _Atoms

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.error_log.handlers:
            handler.setFormatter(_JsonError())
        for handler in self.access_log.handlers:
            handler.setFormatter(_JsonAccess())

    def atoms(self, resp: Any, req: Any, environ: Mapping[str, Any], request_time: Any) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("m", "h"):
            if isinstance(atoms.get(key), str):
                atoms[key] = redact(atoms[key])
        return atoms


def _child_exit(server: Any, worker: Any) -> None:
    """gunicorn's `child_exit` hook, in the master: prometheus_client's bookkeeping for a worker
    gone (its live gauges' files)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


@contextmanager
def metrics_directory() -> Iterator[str]:
    """PROMETHEUS_MULTIPROC_DIR for the block: the environment's, or a fresh private directory
    (0700) removed afterwards by this process (never by a worker forked inside the block).
    Raises RuntimeError when prometheus_client was imported before it could be set."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        os.makedirs(given, mode=0o700, exist_ok=True)
        yield given
        return
    if "prometheus_client" in sys.modules:
        raise RuntimeError(f"prometheus_client was imported before {MULTIPROC_ENV} was set: metrics would count one worker each")
    owner, path = os.getpid(), tempfile.mkdtemp(prefix="permit-metrics-")
    os.environ[MULTIPROC_ENV] = path
    try:
        yield path
    finally:
        if os.getpid() == owner:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(path, ignore_errors=True)


class VerifierServer(BaseApplication):  # type: ignore[misc]
    """gunicorn running `create_app(config)` in each worker."""

    def __init__(self, config: Mapping[str, Any], options: Mapping[str, Any]) -> None:
        self.app_config = dict(config)
        self.options = dict(options)
        log_format = str(self.app_config.get("LOG_FORMAT") or "text")
        if log_format not in LOG_FORMATS:
            raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
        self.verifier_logger = JsonLogger if log_format == "json" else RedactingLogger
        super().__init__()

    def load_config(self) -> None:
        settings = {
            "worker_class": "gthread",
            "accesslog": "-",
            "access_log_format": ACCESS_LOG_FORMAT,
            "logger_class": self.verifier_logger,
            "child_exit": _child_exit,
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
        from verifier.web.app import create_app  # in the worker: see MULTIPROC_ENV

        return create_app(self.app_config)

    def run(self) -> None:
        """Serve until stopped, with the metrics directory set before any worker starts."""
        with metrics_directory():
            super().run()


def gunicorn_setting_names() -> list[str]:
    """The names a gunicorn configuration file may set (verifier/settings.py reads the file)."""
    return list(Config().settings)


def serve(config: Mapping[str, Any], options: Mapping[str, Any]) -> None:
    """Run `create_app(config)` under gunicorn with `options` (gunicorn's settings by their
    names) until interrupted. `config["LOG_FORMAT"]`: "text" (the default) or "json"."""
    VerifierServer(config, options).run()
