"""The one HTTP client: the verifier's pulls and the CLI's pushes, on httpx2.

A pull (`get`) must not be held up or misled by the host: one deadline for the whole exchange
(connecting, any proxy, the status line, the headers, the body: a host trickling a byte at a
time is cut off at the deadline, not at each read's timeout), a size cap (reading stops past
it), no redirect to another host, and every failure of the transport or of the HTTP parser
reported as one HttpError. It is conditional when the caller holds the document: it sends the
document's `ETag` as `If-None-Match`, and a 304 keeps what is held. The document itself is then
checked by its signature, so transport needs no other trust.

A push (`push`, `put`) carries a signed document to a verifier's PUT endpoint and reports its
answer; a `429` is sent again after its `Retry-After`, a bounded number of times within the
push's deadline. A verifier answers 413 or 429 before it reads a large body and then closes the
connection: the answer is still read and reported, not the reset.

Both honour the proxy the environment names (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY,
in upper or lower case, as httpx2 reads them).
"""

from __future__ import annotations

import email.utils
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx2

from keys.errors import PermitError
from keys.reasons import Reason

MAX_REDIRECTS = 3
# What http.client, the previous client, allowed; h11 alone would take 100 KiB of headers.
MAX_HEADERS = 100
MAX_HEADER_BYTES = 64 * 1024
# A verifier's answer to a push is a few hundred bytes of JSON.
MAX_ANSWER_BYTES = 64 * 1024
PULL_TIMEOUT = 5.0
# A push's deadline covers every attempt and every wait: the largest registry (10.9 MB) on a slow
# uplink, and a few rounds of 429 from a verifier busy with other large documents.
PUSH_TIMEOUT = 120.0
PUSH_ATTEMPTS = 5
DEFAULT_RETRY_AFTER = 1.0
USER_AGENT = "hcm-permits-verifier"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
# Everything httpx2 raises for a failed exchange or an unusable URL or proxy setting (an unknown
# scheme is a ValueError; a SOCKS proxy without socksio an ImportError).
_FAILURES = (httpx2.HTTPError, httpx2.InvalidURL, OSError, ValueError, ImportError)
_ssl_context: ssl.SSLContext | None = None


class HttpError(PermitError):
    """An exchange failed or was refused. A pull's reason is `fetch_failed`; a push's is the
    verifier's own reason, `push_refused` for an answer that is not the API's error shape,
    `unreachable` when no answer could be read, or `bad_url`."""

    reason = Reason.FETCH_FAILED


class AlreadyHeld(HttpError):
    """The verifier already holds this document, or a newer one."""


_ALREADY_HELD = frozenset({Reason.REGISTRY_NOT_NEWER, Reason.STATUS_NOT_NEWER})


@dataclass(frozen=True)
class Fetched:
    """A pulled document. `modified` is False (and `body` empty) only when the caller sent an
    ETag and the host answered 304: the document held is current."""

    body: bytes
    etag: str | None
    modified: bool = True


def get(url: str, max_bytes: int, timeout: float = PULL_TIMEOUT, *, accept: str = "*/*", etag: str | None = None) -> Fetched:
    """GET `url`, with `If-None-Match: etag` when given. Raises HttpError (fetch_failed) when
    it fails, answers anything but 200 (or 304 to an ETag), sends more than `max_bytes`,
    redirects to another host or takes longer than `timeout` seconds in all."""
    headers = {"Accept": accept}
    if etag is not None:
        headers["If-None-Match"] = etag
    deadline = _Deadline(timeout)
    try:
        origin = urlsplit(url)[:2]
        with _client() as client, deadline:
            for _ in range(MAX_REDIRECTS + 1):
                if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
                    raise HttpError(f"not an http(s) URL: {url}")
                with _exchange(client, deadline, "GET", url, headers) as response:
                    if response.status_code in _REDIRECTS:
                        target = urljoin(url, response.headers.get("Location") or "")
                        if urlsplit(target)[:2] != origin:
                            raise HttpError(f"refused redirect from {origin[1]} to another host")
                        url = target
                        continue
                    if response.status_code == 304 and etag is not None:
                        return Fetched(b"", response.headers.get("ETag") or etag, modified=False)
                    if response.status_code != 200:
                        raise HttpError(f"{url} answered HTTP {response.status_code}")
                    declared = response.headers.get("Content-Length", "")
                    if declared.isdigit() and int(declared) > max_bytes:  # refused before a byte of it is read
                        raise HttpError(f"{url} sent more than {max_bytes} bytes")
                    body = _read(response, max_bytes, HttpError(f"{url} sent more than {max_bytes} bytes"))
                    if deadline.passed:
                        raise HttpError(f"{url} took longer than {timeout:g} s")
                    return Fetched(body, response.headers.get("ETag"))
    except HttpError:
        raise
    except _FAILURES as exc:
        late = deadline.passed
        raise HttpError(f"{url} took longer than {timeout:g} s" if late else f"cannot fetch {url}: {_describe(exc)}") from None
    raise HttpError(f"{url}: more than {MAX_REDIRECTS} redirects")


def endpoint(base_url: str, path: str) -> str:
    """`https://verifier.example` (or …/api/v1) → https://verifier.example/api/v1/PATH."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise HttpError(f"not an http(s) URL: {base_url}", reason=Reason.BAD_URL)
    base = base_url.rstrip("/")
    if not base.endswith("/api/v1"):
        base += "/api/v1"
    return f"{base}/{path}"


def put(url: str, body: bytes, content_type: str, timeout: float = PUSH_TIMEOUT) -> dict[str, Any]:
    """PUT `body` to `url`; the verifier's JSON answer. A 429 is sent again after its
    Retry-After, at most PUSH_ATTEMPTS times in all and only while `timeout` seconds (for the
    whole push) allow. Raises HttpError with the verifier's reason when it refuses,
    `push_refused` when its answer is not the API's, `unreachable` when none could be read."""
    headers = {"Content-Type": content_type}
    deadline = _Deadline(timeout)
    try:
        with _client() as client, deadline:
            for attempt in range(1, PUSH_ATTEMPTS + 1):
                with _exchange(client, deadline, "PUT", url, headers, body) as response:
                    status, retry_after = response.status_code, response.headers.get("Retry-After")
                    answer = _read(response, MAX_ANSWER_BYTES,
                                   HttpError(f"{url} answered more than {MAX_ANSWER_BYTES} bytes", reason=Reason.PUSH_REFUSED))
                if 200 <= status < 300:
                    return _answer(url, status, answer)
                refusal = _refusal(url, status, answer)
                wait = _retry_after(retry_after)
                if status != 429 or attempt == PUSH_ATTEMPTS or wait >= deadline.remaining():
                    raise refusal
                time.sleep(wait)
    except HttpError:
        raise
    except _FAILURES as exc:
        late = deadline.passed
        raise HttpError(f"{url} did not answer within {timeout:g} s" if late else f"cannot reach {url}: {_describe(exc)}",
                        reason=Reason.UNREACHABLE) from None
    raise AssertionError("the last attempt returns or raises")


def push(base_url: str, path: str, body: bytes, content_type: str) -> dict[str, Any] | None:
    """PUT a document to a verifier; its answer, or None when it already holds this one or a
    newer one. Any other refusal raises HttpError."""
    try:
        return put(endpoint(base_url, path), body, content_type)
    except AlreadyHeld:
        return None


# --- one exchange ----------------------------------------------------------------------------


class _Deadline:
    """The deadline of one pull or push. httpx2's timeouts bound each read and each write alone,
    so a host sending a byte just within each would hold the exchange for ever: when the deadline
    passes, a timer shuts down the socket of every connection made for it (httpx2's `trace`
    extension hands over each network stream as it is made, and the stream's `get_extra_info`
    its socket), which ends a read or write blocked on it at once."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = float("inf")  # from __enter__ on: time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._passed = False
        self._timer = threading.Timer(max(seconds, 0.0), self._pass)
        self._timer.daemon = True

    def __enter__(self) -> _Deadline:
        self.at = time.monotonic() + self.seconds
        self._timer.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None) -> None:
        self._timer.cancel()

    @property
    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def remaining(self) -> float:
        return max(0.0, self.at - time.monotonic())

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        # A connection is made (and made again once TLS wraps it): its socket is the one to shut.
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            sock = info["return_value"].get_extra_info("socket")
            if isinstance(sock, socket.socket):
                with self._lock:
                    self._sockets.append(sock)
                    if self._passed:
                        _shut(sock)

    def _pass(self) -> None:
        with self._lock:
            self._passed = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # closed already (a socket object never takes another connection's descriptor)
        pass


def _client() -> httpx2.Client:
    """A client for one pull or push. The first one made imports the transport and reads the
    trust store (a good part of a second on a loaded machine): before the deadline starts."""
    global _ssl_context
    if _ssl_context is None:
        # The system's trust store, as http.client and urllib used (httpx2 would otherwise load
        # it through truststore): SSL_CERT_FILE and SSL_CERT_DIR still apply.
        _ssl_context = ssl.create_default_context()
    return httpx2.Client(verify=_ssl_context, trust_env=True, follow_redirects=False,
                         headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})


@contextmanager
def _exchange(client: httpx2.Client, deadline: _Deadline, method: str, url: str, headers: Mapping[str, str],
              body: bytes | None = None) -> Iterator[httpx2.Response]:
    """One request within `deadline`; its response, headers read and bounded, body not yet.
    When the host closes the connection while the body is being sent, httpx2 goes on to read
    its answer (a verifier answers 413 or 429 before it reads a large body)."""
    with client.stream(method, url, headers=headers, content=body, timeout=max(deadline.remaining(), 0.001),
                       extensions={"trace": deadline.trace}) as response:
        raw = response.headers.raw
        if len(raw) > MAX_HEADERS or sum(len(name) + len(value) + 4 for name, value in raw) > MAX_HEADER_BYTES:
            raise HttpError(f"{url} sent more than {MAX_HEADERS} headers or {MAX_HEADER_BYTES} bytes of them",
                            reason=Reason.FETCH_FAILED if method == "GET" else Reason.PUSH_REFUSED)
        yield response


def _read(response: httpx2.Response, limit: int, too_large: HttpError) -> bytes:
    """The body as it arrives (identity was asked for, so the cap counts what is sent)."""
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def _answer(url: str, status: int, answer: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(answer)
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise HttpError(f"{url} answered HTTP {status} without the API's JSON", reason=Reason.PUSH_REFUSED)
    return parsed


def _refusal(url: str, status: int, answer: bytes) -> HttpError:
    try:
        problem = json.loads(answer)["error"]
        code = str(problem["reason"])
        reason = Reason.of(code)
        # A code this version does not know (a newer verifier's) is kept in the message.
        refused = AlreadyHeld if reason in _ALREADY_HELD else HttpError
        return refused(f"{url} refused it: {problem['message']} [{code}]", reason=reason or Reason.PUSH_REFUSED)
    except (ValueError, KeyError, TypeError):
        return HttpError(f"{url} answered HTTP {status}", reason=Reason.PUSH_REFUSED)


def _retry_after(value: str | None) -> float:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if value is None:
        return DEFAULT_RETRY_AFTER
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER
    return max(0.0, when.timestamp() - time.time())


def _describe(exc: BaseException) -> str:
    detail = str(exc).strip()
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
