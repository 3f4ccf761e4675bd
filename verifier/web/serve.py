"""Serving the verifier with gunicorn: logs that never hold a token, and the API's own error
shape even for requests gunicorn's parser refuses before the application sees them.

Tokens travel in POST bodies and in URL fragments, which browsers never send, so a well-formed
request has none in its request line. A client can still put one in a path, a query string or
a header; every log line (access and error log alike) drops query strings and blanks long runs
of token characters and of digits (a citizen ID number is 9 or 12 digits) before it is written.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import ssl
import time
from collections.abc import Mapping
from typing import Any

from flask import Flask
from gunicorn import util
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.http.errors import (
    ExpectationFailed,
    InvalidHeader,
    LimitRequestHeaders,
    LimitRequestLine,
    ParseException,
    UnsupportedTransferCoding,
)
from gunicorn.workers import gthread
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

from keys.reasons import Reason
from verifier.web.app import CACHE_AND_SECURITY_HEADERS, create_app

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


_PARSER_STATUS = {LimitRequestLine: (414, Reason.REQUEST_LINE_TOO_LONG), LimitRequestHeaders: (431, Reason.HEADERS_TOO_LARGE),
                  ExpectationFailed: (417, Reason.EXPECTATION_FAILED),
                  UnsupportedTransferCoding: (400, Reason.UNSUPPORTED_TRANSFER_CODING)}


def _parser_refusal(exc: BaseException) -> tuple[int, Reason]:
    """The status and reason for a request gunicorn could not parse. A Transfer-Encoding it
    refuses (chunked not last or twice, identity, an unknown coding, chunked in HTTP/1.0) gets
    the same reason as the codings the API refuses itself."""
    if isinstance(exc, InvalidHeader) and exc.hdr == "TRANSFER-ENCODING":
        return 400, Reason.UNSUPPORTED_TRANSFER_CODING
    return next((v for cls, v in _PARSER_STATUS.items() if isinstance(exc, cls)), (400, Reason.BAD_REQUEST))


class _JsonErrorPages:
    """A request gunicorn refuses while parsing it (bad request line, header, chunking, …) gets
    the API's error shape with the security headers, not gunicorn's HTML page quoting the
    request; an unsupported transfer coding is the client's error (400), not a 501."""

    log: Any

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        if not isinstance(exc, (ParseException, ssl.SSLError)):
            super().handle_error(req, client, addr, exc)  # type: ignore[misc]
            return
        status, reason = _parser_refusal(exc)
        self.log.warning("refused request from %s: %s", (addr or ("",))[0], type(exc).__name__)
        body = json.dumps({"error": {"status": status, "reason": reason,
                                     "message": f"the request could not be read ({type(exc).__name__})"}}).encode()
        head = [f"HTTP/1.1 {status} Refused", "Connection: close", "Content-Type: application/json",
                f"Content-Length: {len(body)}", *(f"{name}: {value}" for name, value in CACHE_AND_SECURITY_HEADERS)]
        try:
            util.write_nonblock(client, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        except Exception:  # the client is gone; nothing more to tell it
            self.log.debug("could not send the refusal")


class JsonErrorSyncWorker(_JsonErrorPages, SyncWorker):  # type: ignore[misc]
    pass


PEEK_BYTES = 65536
REQUEST_ARRIVAL_DEADLINE = 10.0  # seconds for a request to arrive whole once it has begun


class PatientThreadWorker(_JsonErrorPages, ThreadWorker):  # type: ignore[misc]
    """A thread is given to a request only once it has arrived whole.

    gunicorn's threads read the request themselves, so a client that sends it a byte at a time
    holds a thread for as long as it likes, and a few dozen such clients starve every other
    request. Here the connection is first looked at without reading (MSG_PEEK): until the
    headers (and a small declared body) are all there, it goes back to the worker's poller,
    which waits on many sockets without a thread; after REQUEST_ARRIVAL_DEADLINE it is closed.
    The request then goes to gunicorn's own parser exactly as it came.
    """

    def accept(self, listener: Any) -> None:
        # Every worker polls the same listening socket and the first one awake takes the
        # connection, so a burst of new keep-alive connections (a gateway opening its pool) can
        # all land on one worker while the other idles: half the throughput, measured. A worker
        # that already holds a connection per thread lets a moment pass before it accepts, so a
        # less busy worker takes the connection; if none does, this one still does.
        if self.nr_conns >= self.cfg.threads:
            time.sleep(ACCEPT_YIELD_SECONDS)
        super().accept(listener)

    def handle(self, conn: Any) -> Any:
        if not _arrived(conn):
            started = getattr(conn, "arrival_started", None)
            if started is None:
                conn.arrival_started = started = time.monotonic()
            if time.monotonic() - started > REQUEST_ARRIVAL_DEADLINE:
                self.log.info("closed a connection whose request took more than %.0f s to arrive", REQUEST_ARRIVAL_DEADLINE)
                return False
            conn.data_ready = False
            return _GTHREAD_DEFER
        conn.arrival_started = None
        return super().handle(conn)


def _arrived(conn: Any) -> bool:
    """Whether the request waiting on this connection is all there (or too big to wait for)."""
    if conn.parser is not None and conn.parser.unreader.buf.getvalue():
        return True  # gunicorn already holds read-ahead bytes: let it go on
    try:
        data = conn.sock.recv(PEEK_BYTES, socket.MSG_PEEK | socket.MSG_DONTWAIT)
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True  # let gunicorn meet the error and close the connection
    if not data:
        return True  # closed by the client: gunicorn handles that
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return len(data) >= PEEK_BYTES
    head = data[:end]
    lengths = _CONTENT_LENGTH.findall(head)
    if len(lengths) != 1 or _EXPECT_CONTINUE.search(head) or _TRANSFER_ENCODING.search(head):
        # No body to wait for, one sent only when asked, or a framing gunicorn refuses itself.
        return True
    declared = int(lengths[0])
    return bool(end + 4 + declared > PEEK_BYTES or len(data) >= end + 4 + declared)


ACCEPT_YIELD_SECONDS = 0.002
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d{1,12})[ \t]*(?=\r\n|$)", re.IGNORECASE)
_EXPECT_CONTINUE = re.compile(rb"\r\nexpect:[ \t]*100-continue", re.IGNORECASE)
_TRANSFER_ENCODING = re.compile(rb"\r\ntransfer-encoding:", re.IGNORECASE)
_GTHREAD_DEFER = gthread._DEFER  # gunicorn's "not yet: give it back to the poller" (gunicorn < 28)


WORKER_CLASSES = {"sync": f"{__name__}.JsonErrorSyncWorker", "gthread": f"{__name__}.PatientThreadWorker"}


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
        settings["worker_class"] = WORKER_CLASSES.get(settings["worker_class"], settings["worker_class"])
        for key, value in settings.items():
            if value is not None:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        return create_app(self.app_config)


def serve(config: Mapping[str, Any], bind: str, workers: int, threads: int, access_log: str, worker_class: str = "gthread") -> None:
    """Run until interrupted."""
    options = {"bind": bind, "workers": workers, "threads": threads, "accesslog": access_log, "worker_class": worker_class}
    VerifierServer(config, options).run()
