"""A push flood: clients pushing hostile documents to a verifier as fast as it answers them,
while another client measures POST /api/v1/verify. bench/run.py and
tests/security/test_push_flood.py run the same scenario with these documents.

`PUT /api/v1/registry` and `PUT /api/v1/status/AGENCY` take documents from anyone (they
authenticate themselves), so anyone can make a verifier check them. Each hostile document below
is a way to make that check cost as much as possible: as large as the verifier takes (or
larger), with as many signatures as fit, by the real root or agency key ids (public: they are in
the anchor and the registry) and well-formed signature bytes, so that nothing short of the
cryptography tells them from genuine ones.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography.hazmat.primitives.asymmetric import ed25519

from keys.algorithms import PublicKey
from keys.encoding import b64url_encode, dumps_canonical
from keys.jws import TYP_REGISTRY, TYP_ROOT, TYP_STATUS_LIST
from keys.trust import MAX_BUNDLE_BYTES, MAX_REGISTRY_PAYLOAD, Root
from permits.status_list import MAX_STATUS_TOKEN_LENGTH

MIB = 1024 * 1024
JSON = "application/json"
STATUS_LIST = "application/statuslist+jwt"
# What a client sees when the verifier answers before reading the body it is still sending
# (413, 429) and closes the connection: the answer is in the verifier's access log.
CLOSED = "connection closed"
# An Ed25519 signature of something else: its scalar is in range and its point on the curve,
# so a verifier learns it is wrong only by hashing the whole signed input.
WELL_FORMED_SIGNATURE = b64url_encode(ed25519.Ed25519PrivateKey.from_private_bytes(bytes(32)).sign(b"something else"))


@dataclass(frozen=True)
class Hostile:
    name: str
    path: str
    content_type: str
    body: bytes


def signature_entry(alg: str, kid: str, typ: str) -> dict[str, str]:
    """A signature entry by `kid` of the form of any other, whose signature is of something else."""
    protected = b64url_encode(dumps_canonical({"alg": alg, "kid": kid, "typ": typ}))
    return {"protected": protected, "signature": WELL_FORMED_SIGNATURE}


def _bundle(roots: list[object], registry: object) -> bytes:
    return dumps_canonical({"roots": roots, "registry": registry}) + b"\n"


def garbage_signatures(anchor: Root, size: int) -> bytes:
    """A registry bundle of `size` bytes that is nothing but signatures, by the root's own kids
    in turn (the attack of issue 12: 86,000 of them in 16 MiB)."""
    entries = [signature_entry(key.alg, kid, TYP_REGISTRY) for kid, key in sorted(anchor.keys.items())]
    one = len(json.dumps(entries[0], separators=(",", ":"))) + 1
    shell = len(_bundle([], {"payload": "e30", "signatures": []}))
    count = (size - shell) // one
    raw = _bundle([], {"payload": "e30", "signatures": [entries[i % len(entries)] for i in range(count)]})
    return raw[:-1] + b" " * (size - len(raw)) + b"\n"


def long_root_chain(anchor: Root, size: int) -> bytes:
    """A bundle of `size` bytes that is one root version after another, each signed by the
    root's kids (a verifier that reads every one's keys before checking anything pays for all)."""
    payload = b64url_encode(dumps_canonical({**anchor.to_dict(), "version": 1}))
    element = {"payload": payload, "signatures": [signature_entry(key.alg, kid, TYP_ROOT) for kid, key in sorted(anchor.keys.items())]}
    one = len(dumps_canonical(element)) + 1
    registry = {"payload": "e30", "signatures": [signature_entry(key.alg, kid, TYP_REGISTRY) for kid, key in sorted(anchor.keys.items())]}
    count = (size - len(_bundle([], registry))) // one
    raw = _bundle([element] * count, registry)
    return raw[:-1] + b" " * (size - len(raw)) + b"\n"


def huge_payload(anchor: Root, characters: int, seed: int = 12) -> bytes:
    """A registry bundle whose payload is `characters` of base64url and which carries one
    well-formed signature per root key: of correct form, so every signature is checked over
    the whole payload."""
    rng = random.Random(seed)
    payload = b64url_encode(rng.randbytes(characters * 3 // 4))
    return _bundle([], {"payload": payload, "signatures": [signature_entry(key.alg, kid, TYP_REGISTRY) for kid, key in sorted(anchor.keys.items())]})


def padded_status_list(key: PublicKey, length: int, seed: int = 13) -> bytes:
    """A status list token of `length` characters under the agency's registered kid, with a
    payload of random bytes and a well-formed signature: its claims are never decoded, since
    the signature over all of it is checked first."""
    header = b64url_encode(dumps_canonical({"alg": key.alg, "kid": key.kid, "typ": TYP_STATUS_LIST}))
    room = length - len(header) - len(WELL_FORMED_SIGNATURE) - 2
    payload = b64url_encode(random.Random(seed).randbytes(room * 3 // 4))
    return f"{header}.{payload}.{WELL_FORMED_SIGNATURE}".encode("ascii")


def hostile_documents(anchor: Root, agency: str, agency_key: PublicKey, now: int) -> list[Hostile]:
    """The hostile shapes a flood pushes: each 16 MiB, or as large as the verifier takes."""
    status_path = f"/api/v1/status/{agency}"
    return [
        Hostile("garbage signatures, 16 MiB", "/api/v1/registry", JSON, garbage_signatures(anchor, 16 * MIB)),
        Hostile("garbage signatures, at the cap", "/api/v1/registry", JSON, garbage_signatures(anchor, MAX_BUNDLE_BYTES)),
        Hostile("long root chain, at the cap", "/api/v1/registry", JSON, long_root_chain(anchor, MAX_BUNDLE_BYTES)),
        Hostile("huge payload, one signature per root key", "/api/v1/registry", JSON, huge_payload(anchor, MAX_REGISTRY_PAYLOAD)),
        Hostile("status list, 16 MiB", status_path, STATUS_LIST, padded_status_list(agency_key, 16 * MIB)),
        Hostile("status list, at the cap", status_path, STATUS_LIST, padded_status_list(agency_key, MAX_STATUS_TOKEN_LENGTH)),
    ]


# --- clients ----------------------------------------------------------------------------------


def _connection(url: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    return http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=timeout)


@dataclass
class Flood:
    """Clients pushing `documents` in turn until stopped; `outcomes` counts (document, HTTP
    status or CLOSED)."""

    url: str
    documents: Sequence[Hostile]
    clients: int = 4
    outcomes: Counter[tuple[str, int | str]] = field(default_factory=Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        for n in range(self.clients):
            thread = threading.Thread(target=self._push, args=(n,), name=f"flood-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=120)

    def pushed(self) -> int:
        """How many pushes were answered (or cut) so far."""
        with self._lock:
            return sum(self.outcomes.values())

    @property
    def statuses(self) -> Counter[int | str]:
        total: Counter[int | str] = Counter()
        for (_, outcome), count in self.outcomes.items():
            total[outcome] += count
        return total

    def _push(self, n: int) -> None:
        connection: http.client.HTTPConnection | None = None
        i = n  # each client starts with another shape
        while not self._stop.is_set():
            document = self.documents[i % len(self.documents)]
            i += 1
            outcome: int | str
            try:
                connection = connection or _connection(self.url, 60)
                connection.request("PUT", document.path, body=document.body, headers={"Content-Type": document.content_type})
                response = connection.getresponse()
                response.read()
                outcome = response.status
                if response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException):
                outcome = CLOSED
                if connection is not None:
                    connection.close()
                connection = None
            with self._lock:
                self.outcomes[(document.name, outcome)] += 1
        if connection is not None:
            connection.close()


@dataclass
class Latencies:
    """POST /api/v1/verify, one request after another on one kept-alive connection."""

    seconds: list[float] = field(default_factory=list)
    statuses: Counter[int | str] = field(default_factory=Counter)

    def p(self, share: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else float("nan")


def measure_verify(url: str, token: str, until: Callable[[], bool], timeout: float = 30) -> Latencies:
    """Verify `token` again and again until `until()`; every answer's time and status."""
    body = json.dumps({"token": token}).encode()
    result = Latencies()
    connection: http.client.HTTPConnection | None = None
    while not until():
        started = time.perf_counter()
        status: int | str
        try:
            connection = connection or _connection(url, timeout)
            connection.request("POST", "/api/v1/verify", body=body, headers={"Content-Type": JSON})
            response = connection.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException) as exc:
            status = type(exc).__name__
            if connection is not None:
                connection.close()
            connection = None
        result.seconds.append(time.perf_counter() - started)
        result.statuses[status] += 1
    if connection is not None:
        connection.close()
    return result
