"""Fetching a signed document over HTTP without trusting the network.

A verifier that pulls the registry or a status list must not be held up or misled by the host:
one deadline for the whole exchange (connecting, the status line, the headers, the body: a
watchdog shuts the socket when it passes, so a host trickling a byte at a time cannot hold the
thread), a size cap, no redirect to another host, and every failure of the transport or of the
HTTP parser reported as one FetchError. Only the background refresher calls this; request
workers never wait on the network. The document itself is then checked by its signature, so
transport needs no other trust.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from urllib.parse import urljoin, urlsplit

from keys.errors import PermitError
from keys.reasons import Reason

MAX_REDIRECTS = 3
_CHUNK = 64 * 1024
_REDIRECTS = (301, 302, 303, 307, 308)


class FetchError(PermitError):
    reason = Reason.FETCH_FAILED


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError(f"not an http(s) URL: {url}")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        if parts.scheme == "https":
            return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()), path
        return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout), path
    except ValueError:
        raise FetchError(f"not a usable URL: {url}") from None


def _shut(connection: http.client.HTTPConnection) -> None:
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def fetch(url: str, max_bytes: int, timeout: float = 5.0, accept: str = "*/*") -> bytes:
    """GET `url`; the body, or FetchError when it fails, is too large or takes longer than
    `timeout` seconds in all."""
    deadline = time.monotonic() + timeout
    origin = urlsplit(url)[:2]
    for _ in range(MAX_REDIRECTS + 1):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise FetchError(f"{url} took longer than {timeout:g} s")
        connection, path = _connection(url, remaining)
        watchdog = threading.Timer(remaining, _shut, (connection,))
        watchdog.daemon = True
        watchdog.start()
        try:
            connection.request("GET", path, headers={"Accept": accept, "User-Agent": "hcm-permits-verifier"})
            response = connection.getresponse()
            if response.status in _REDIRECTS:
                target = urljoin(url, response.getheader("Location") or "")
                if urlsplit(target)[:2] != origin:
                    raise FetchError(f"refused redirect from {origin[1]} to another host")
                url = target
                continue
            if response.status != 200:
                raise FetchError(f"{url} answered HTTP {response.status}")
            body = bytearray()
            while chunk := response.read1(_CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise FetchError(f"{url} sent more than {max_bytes} bytes")
            if time.monotonic() > deadline:
                raise FetchError(f"{url} took longer than {timeout:g} s")
            return bytes(body)
        except FetchError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            late = time.monotonic() >= deadline
            raise FetchError(f"{url} took longer than {timeout:g} s" if late else f"cannot fetch {url}: {type(exc).__name__}") from None
        finally:
            watchdog.cancel()
            connection.close()
    raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")
