"""HTTP plumbing shared by the security tests: raw requests (what no well-behaved client would
send), a real `permit serve` over a fresh copy of the city, and scripted hosts on 127.0.0.1 that
redirect, stall or trickle the way a hostile or broken publisher would."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from conftest import DAY, City, Served, passphrase, start_server

from permits import operator
from permits.home import Home

# --- talking HTTP by hand ------------------------------------------------------------------------


class RawResponse:
    def __init__(self, raw: bytes) -> None:
        head, _, self.body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status_line = lines[0]
        self.status = int(lines[0].split(" ")[1]) if lines[0].startswith("HTTP/") else 0
        self.headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers[name.strip().lower()] = value.strip()

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def raw_request(base_url: str, data: bytes, timeout: float = 10) -> RawResponse:
    """Send `data` as it is on one connection; read until the server closes it."""
    host, port = base_url.split("//", 1)[1].split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        received = bytearray()
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    return RawResponse(bytes(received))


def request_bytes(method: str, path: str, headers: dict[str, str] | None = None, body: bytes = b"") -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def chunked(body: bytes, size: int = 65536) -> bytes:
    pieces = [b"%x\r\n%s\r\n" % (len(body[i:i + size]), body[i:i + size]) for i in range(0, len(body), size)]
    return b"".join(pieces) + b"0\r\n\r\n"


# --- a real verifier ---------------------------------------------------------------------------


def live_city(template: Path, directory: Path, status_base: str | None = None) -> City:
    """A copy of the city with its registry and status lists published on the real clock (a
    gunicorn verifier reads the real clock); `status_base` moves every agency's status_url."""
    path = directory / "hcm"
    shutil.copytree(template, path)
    home = Home(path)
    now = int(time.time())
    if status_base is not None:
        draft = home.draft()
        agencies = {aid: replace(a, status_url=f"{status_base}/status/{aid}.jwt") for aid, a in draft.agencies.items()}
        home.save_draft(replace(draft, agencies=agencies))
    trusted = operator.publish(home, passphrase, now, 30 * DAY)
    signers = {agency: home.agency_signer(trusted.registry, agency, passphrase, now) for agency in trusted.registry.agencies}
    city = City(home, trusted, signers)
    city.publish_all(at=now)
    return city


def serve_city(city: City, log: Path, *extra: str) -> Served:
    url, process = start_server(city.home.path, log, *extra)
    return Served(city, url, log, process)


# --- scripted hosts ------------------------------------------------------------------------------

Answer = Callable[[str, socket.socket], None]


class Host:
    """A host on 127.0.0.1 that records each request's path and lets `answer(path, sock)` reply,
    one thread per connection."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.paths: list[str] = []
        self.connections = 0
        self._closing = threading.Event()
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                sock, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        sock.settimeout(5)
        try:
            head = bytearray()
            while b"\r\n\r\n" not in head:
                chunk = sock.recv(4096)
                if not chunk:
                    return
                head += chunk
            path = head.split(b" ", 2)[1].decode("latin-1")
            self.paths.append(path)
            self.answer(path, sock)
        except OSError:
            pass
        finally:
            sock.close()

    @property
    def closing(self) -> threading.Event:
        return self._closing

    def stop(self) -> None:
        self._closing.set()
        self._listener.close()


def respond(sock: socket.socket, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)


def trickle(sock: socket.socket, prefix: bytes, drip: bytes, every: float, closing: threading.Event, seconds: float) -> None:
    """Send `prefix`, then `drip` every `every` seconds for `seconds` (or until the host stops):
    each read on the other side succeeds long before any per-read timeout."""
    sock.sendall(prefix)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not closing.is_set():
        sock.sendall(drip)
        time.sleep(every)
