"""Rule 9, the registry: threshold-signed by distinct root keys with signatures that belong to
this kind of document only; never older, never a second document under a version already held;
never past its expiry; never larger than the cap. And the verifier's own fetches: a deadline for
the whole transfer, a size cap, no redirect to another host, never a request worker waiting."""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from attack_http import Host, chunked, live_city, raw_request, request_bytes, respond, serve_city, trickle
from conftest import DAY, NOW, City, Clock, passphrase
from flask.testing import FlaskClient

from keys.algorithms import generate_private_key
from keys.encoding import b64url_decode, b64url_encode, dumps_canonical
from keys.jws import TYP_REGISTRY, TYP_ROOT, sign_general
from keys.registry import Registry
from keys.signer import KeySigner
from keys.trust import MAX_BUNDLE_BYTES, Root, make_bundle, sign_registry, sign_root
from permits import operator
from permits.status_list import MIN_SIZE, build_status_list
from verifier.http_client import Fetched, HttpError, get
from verifier.state import TrustStore
from verifier.web.app import create_app

JSON = "application/json"


# --- helpers ----------------------------------------------------------------------------------


def store_of(client: FlaskClient) -> TrustStore:
    store: TrustStore = client.application.extensions["permit_store"]
    return store


def error_of(response: Any) -> tuple[int, str]:
    body = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert set(body) == {"type", "title", "status", "detail", "error"} and set(body["error"]) == {"status", "reason", "message"}
    assert body["error"]["status"] == body["status"] == response.status_code
    return response.status_code, body["error"]["reason"]


def put_registry(client: FlaskClient, raw: bytes) -> Any:
    return client.put("/api/v1/registry", data=raw, content_type=JSON)


def held_version(client: FlaskClient) -> int | None:
    registry = client.get("/api/v1/healthz").get_json()["registry"]
    return None if registry is None else int(registry["version"])


def verdict(client: FlaskClient, token: str) -> tuple[str, list[str]]:
    body = client.post("/api/v1/verify", json={"token": token}).get_json()
    return body["status"], body["reasons"]


def roots(city: City) -> list[KeySigner]:
    return operator.root_signers(city.home, passphrase, operator.current_root(city.home))


def next_registry(city: City, version: int = 2, **changes: Any) -> Registry:
    return replace(city.registry, version=version, issued_at=NOW, expires_at=NOW + 30 * DAY, **changes)


def payload_of(registry: Registry) -> str:
    return b64url_encode(dumps_canonical(registry.to_dict()))


def signature_entry(signer: KeySigner, payload_b64: str, header: bytes) -> dict[str, str]:
    """One general-JWS signature over `payload_b64` under exactly these protected header bytes."""
    protected = b64url_encode(header)
    return {"protected": protected, "signature": b64url_encode(signer.sign(f"{protected}.{payload_b64}".encode()))}


def canonical_header(signer: KeySigner, typ: str = TYP_REGISTRY, **changes: str) -> bytes:
    return dumps_canonical({"alg": signer.alg, "kid": signer.kid, "typ": typ, **changes})


def bundle(city: City, signed_registry: dict[str, Any], extra_roots: list[dict[str, Any]] | None = None) -> bytes:
    return make_bundle([*city.home.root_chain(), *(extra_roots or [])], signed_registry)


def fresh_signer() -> KeySigner:
    return KeySigner(generate_private_key("EdDSA"))


@pytest.fixture
def bare(city: City, tmp_path: Path, clock: Clock) -> FlaskClient:
    """A verifier that holds only the anchor and, pushed to it, registry version 1."""
    home = tmp_path / "verifier"
    home.mkdir()
    shutil.copy(city.home.file("anchor.json"), home / "anchor.json")
    app = create_app({"HOME": str(home), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True})
    client = app.test_client()
    assert put_registry(client, city.home.file("registry.json").read_bytes()).status_code == 200
    return client


# --- signatures that belong to another kind of document -----------------------------------------


@pytest.mark.parametrize("typ", [TYP_ROOT, "permit+jwt", "statuslist+jwt", "JWT"])
def test_root_signature_replayed_as_registry_signature_is_refused(city: City, client: FlaskClient, typ: str) -> None:
    # A threshold of root keys did sign these exact bytes, but as a root document (or any other
    # kind): such a signature must never count for a registry.
    payload = dumps_canonical(next_registry(city).to_dict())
    replayed = sign_general(payload, roots(city)[:2], typ)
    assert error_of(put_registry(client, bundle(city, replayed))) == (422, "registry_invalid")
    assert held_version(client) == 1
    # The control: the same signers, the registry's own typ.
    assert put_registry(client, bundle(city, sign_general(payload, roots(city)[:2], TYP_REGISTRY))).status_code == 200
    assert held_version(client) == 2


def test_root_document_presented_as_the_registry_is_refused(city: City, client: FlaskClient) -> None:
    root_document = city.home.root_chain()[0]  # genuinely signed by every root key, typ root+jws
    assert error_of(put_registry(client, bundle(city, root_document))) == (422, "registry_invalid")
    # Its signatures relabelled registry+jws no longer verify: zero keys toward the threshold.
    relabelled = {"payload": root_document["payload"], "signatures": [
        {"protected": b64url_encode(dumps_canonical({**json.loads(b64url_decode(entry["protected"])), "typ": TYP_REGISTRY})),
         "signature": entry["signature"]} for entry in root_document["signatures"]]}
    response = put_registry(client, bundle(city, relabelled))
    assert error_of(response) == (422, "registry_invalid")
    assert "signed by 0 root key(s), 2 required" in response.get_json()["error"]["message"]
    assert held_version(client) == 1


def test_registry_signature_replayed_as_a_root_rotation_is_refused(city: City, client: FlaskClient) -> None:
    old = roots(city)
    new = [fresh_signer() for _ in range(3)]
    new_root = Root(registry="hcm", version=2, threshold=2, keys={s.kid: s.public_key() for s in new})
    # The rotation signed by old and new keys, but with the registry's typ.
    wrong_kind = sign_general(dumps_canonical(new_root.to_dict()), [*old[:2], *new[:2]], TYP_REGISTRY)
    signed_registry = sign_registry(next_registry(city), new[:2])
    assert error_of(put_registry(client, bundle(city, signed_registry, [wrong_kind]))) == (422, "registry_invalid")
    assert held_version(client) == 1
    rotation = sign_root(new_root, [*old[:2], *new[:2]])
    assert put_registry(client, bundle(city, signed_registry, [rotation])).status_code == 200


# --- threshold: distinct root keys only ---------------------------------------------------------


def _twice(signer: KeySigner, payload_b64: str, how: str, typ: str = TYP_REGISTRY) -> list[dict[str, str]]:
    """Two signature entries by one key: the same entry again, or the same key under another
    spelling of the same protected header (so the entries differ byte for byte)."""
    first = signature_entry(signer, payload_b64, canonical_header(signer, typ))
    if how == "same-entry-twice":
        return [first, dict(first)]
    if how == "reordered-header":
        header = json.dumps({"typ": typ, "kid": signer.kid, "alg": signer.alg}, separators=(",", ":")).encode()
    elif how == "spaced-header":
        header = json.dumps({"alg": signer.alg, "kid": signer.kid, "typ": typ}, indent=2).encode()
    else:  # escaped-kid: the same kid, spelled with JSON escapes
        escaped = "".join(f"\\u{ord(c):04x}" for c in signer.kid)
        header = f'{{"alg":"{signer.alg}","kid":"{escaped}","typ":"{typ}"}}'.encode()
    second = signature_entry(signer, payload_b64, header)
    assert second["protected"] != first["protected"] and second["signature"] != first["signature"]
    return [first, second]


HOW_TWICE = ["same-entry-twice", "reordered-header", "spaced-header", "escaped-kid"]


@pytest.mark.parametrize("how", HOW_TWICE)
def test_same_root_key_signing_twice_is_refused(city: City, client: FlaskClient, how: str) -> None:
    # A key signs once: a second signature by it (however its header is spelled) is refused on
    # the document's form, before any signature is checked, as it could only add work.
    signer = roots(city)[0]
    payload_b64 = payload_of(next_registry(city))
    forged = {"payload": payload_b64, "signatures": _twice(signer, payload_b64, how)}
    response = put_registry(client, bundle(city, forged))
    assert error_of(response) == (422, "registry_invalid")
    assert f"key '{signer.kid}' signs more than once" in response.get_json()["error"]["message"]
    assert held_version(client) == 1


@pytest.mark.parametrize("how", HOW_TWICE)
def test_same_old_root_key_signing_a_rotation_twice_is_refused(city: City, client: FlaskClient, how: str) -> None:
    # An attacker holding one old root key (of the two needed) rotates the root to keys of their own.
    old = roots(city)[0]
    new = [fresh_signer() for _ in range(2)]
    new_root = Root(registry="hcm", version=2, threshold=1, keys={s.kid: s.public_key() for s in new})
    payload_b64 = b64url_encode(dumps_canonical(new_root.to_dict()))
    entries = _twice(old, payload_b64, how, TYP_ROOT)
    entries += [signature_entry(s, payload_b64, canonical_header(s, TYP_ROOT)) for s in new]
    rotation = {"payload": payload_b64, "signatures": entries}
    response = put_registry(client, bundle(city, sign_registry(next_registry(city), new[:1]), [rotation]))
    assert error_of(response) == (422, "registry_invalid")
    assert f"key '{old.kid}' signs more than once" in response.get_json()["error"]["message"]
    assert held_version(client) == 1


@pytest.mark.parametrize("second", ["agency-key", "fresh-key-claiming-a-root-kid", "root-key-claiming-another-root-kid", "root-key-under-alg-ES256"])
def test_signature_by_anything_but_a_second_root_key_does_not_count(city: City, client: FlaskClient, second: str) -> None:
    first, other = roots(city)[0], roots(city)[1]
    payload_b64 = payload_of(next_registry(city))
    entries = [signature_entry(first, payload_b64, canonical_header(first))]
    if second == "agency-key":
        agency = city.signers["hcm-syt"]
        entries.append(signature_entry(agency, payload_b64, canonical_header(agency)))
    elif second == "fresh-key-claiming-a-root-kid":
        entries.append(signature_entry(fresh_signer(), payload_b64, canonical_header(first, kid=other.kid)))
    elif second == "root-key-claiming-another-root-kid":
        entries.append(signature_entry(first, payload_b64, canonical_header(first, kid=other.kid)))
    else:
        entries.append(signature_entry(other, payload_b64, canonical_header(other, alg="ES256")))
    response = put_registry(client, bundle(city, {"payload": payload_b64, "signatures": entries}))
    assert error_of(response) == (422, "registry_invalid")
    assert "signed by 1 root key(s), 2 required" in response.get_json()["error"]["message"]
    assert held_version(client) == 1


def test_one_root_key_listed_under_two_kids_is_refused(city: City, client: FlaskClient) -> None:
    # A rotation whose threshold of 2 could be met by one key listed twice under two names.
    old = roots(city)
    mine = fresh_signer()
    entry = {"alg": mine.alg, "jwk": dict(mine.public_key().jwk)}
    root_dict = {"registry": "hcm", "version": 2, "threshold": 2, "keys": {mine.kid: entry, "AAAAAAAAAAAA": entry}}
    payload = dumps_canonical(root_dict)
    rotation = sign_general(payload, [*old[:2], mine], TYP_ROOT)
    rotation["signatures"].append(signature_entry(mine, rotation["payload"], canonical_header(mine, TYP_ROOT, kid="AAAAAAAAAAAA")))
    forged = {"payload": payload_of(next_registry(city)), "signatures": []}
    forged["signatures"] = [signature_entry(mine, forged["payload"], canonical_header(mine, kid=kid)) for kid in (mine.kid, "AAAAAAAAAAAA")]
    response = put_registry(client, bundle(city, forged, [rotation]))
    assert error_of(response) == (422, "registry_invalid")
    assert "kid is not the thumbprint of the key" in response.get_json()["error"]["message"]
    assert held_version(client) == 1


# --- versions: never back, never a second document under one version ----------------------------


@pytest.fixture
def pulling_verifier(city: City, tmp_path: Path, clock: Clock) -> Iterator[tuple[FlaskClient, list[bytes]]]:
    """A verifier over its own home (anchor + registry v1) pulling its registry from a mirror
    whose next answer the test sets in the returned list."""
    home = tmp_path / "pulling"
    home.mkdir()
    for name in ("anchor.json", "registry.json", "trust-state.json"):
        shutil.copy(city.home.file(name), home / name)
    app = create_app({"HOME": str(home), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True,
                      "REGISTRY_URL": "http://mirror.invalid/registry.json", "REFRESH_INTERVAL": 0})
    served: list[bytes] = []
    store = app.extensions["permit_store"]
    store.fetcher = lambda url, max_bytes, timeout, etag: Fetched(served[-1], None)
    yield app.test_client(), served


def _restarted(home: Path, clock: Clock) -> FlaskClient:
    return create_app({"HOME": str(home), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True}).test_client()


@pytest.mark.parametrize("channel", ["push", "pull", "file-then-restart"])
def test_forked_registry_with_the_same_version_is_refused(
    city: City, pulling_verifier: tuple[FlaskClient, list[bytes]], clock: Clock, channel: str
) -> None:
    client, mirror = pulling_verifier
    home = store_of(client).home
    original = home.file("registry.json").read_bytes()
    token = city.issue().token
    # Version 1 again, validly signed by a threshold of root keys, but another document.
    fork = replace(city.registry, name="Thành phố Hồ Chí Minh (bản song song)")
    forked = bundle(city, sign_registry(fork, roots(city)[1:]))
    if channel == "push":
        assert error_of(put_registry(client, forked)) == (409, "registry_rollback")
    elif channel == "pull":
        mirror.append(forked)
        store_of(client).pull()
    else:
        home.file("registry.json").write_bytes(forked)
        store_of(client).reload()
        assert held_version(client) == 1
        restarted = _restarted(home.path, clock)
        assert verdict(restarted, token) == ("status_unknown", ["registry_rollback"])
        assert restarted.get("/api/v1/healthz").get_json()["registry_problem"] == "registry_rollback"
        return
    assert held_version(client) == 1
    assert client.get("/api/v1/registry").data == original == home.file("registry.json").read_bytes()


@pytest.mark.parametrize("channel", ["push", "pull", "file-then-restart"])
def test_registry_rolled_back_to_an_older_version_is_refused(
    city: City, pulling_verifier: tuple[FlaskClient, list[bytes]], clock: Clock, channel: str
) -> None:
    client, mirror = pulling_verifier
    home = store_of(client).home
    version_1 = home.file("registry.json").read_bytes()
    version_2 = operator.publish(city.home, passphrase, NOW, 60 * DAY).bundle
    assert put_registry(client, version_2).status_code == 200
    token = city.issue().token
    if channel == "push":
        assert error_of(put_registry(client, version_1)) == (409, "registry_rollback")
    elif channel == "pull":
        mirror.append(version_1)
        store_of(client).pull()
    else:
        home.file("registry.json").write_bytes(version_1)
        assert verdict(_restarted(home.path, clock), token) == ("status_unknown", ["registry_rollback"])
        return
    assert held_version(client) == 2
    assert client.get("/api/v1/registry").data == version_2


# --- freeze: expiry is enforced ------------------------------------------------------------------


def test_frozen_registry_fails_closed(city: City, tmp_path: Path, clock: Clock) -> None:
    # A registry valid for one hour; status lists good for two days. The operator stops publishing
    # (or an attacker holds back every newer registry): after the hour nothing is valid.
    frozen = operator.publish(city.home, passphrase, NOW, 3600)
    city.trusted = frozen
    good, bad = city.issue(number="F-1"), city.issue(number="F-2")
    city.change(bad, "revoked")
    city.publish_all()
    app = create_app({"HOME": str(city.home.path), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True})
    client = app.test_client()
    clock.now = NOW + 3599
    assert verdict(client, good.token) == ("valid", [])
    clock.now = NOW + 3600
    assert verdict(client, good.token) == ("status_unknown", ["registry_stale"])
    assert verdict(client, bad.token) == ("revoked", ["revoked", "registry_stale"])
    health = client.get("/api/v1/healthz").get_json()
    assert (health["status"], health["registry"]["stale"]) == ("degraded", True)
    # Replaying the frozen registry from a mirror does not thaw it.
    assert error_of(put_registry(client, frozen.bundle)) == (422, "registry_stale")
    # Nor does restarting the verifier: it holds no registry at all then.
    restarted = _restarted(city.home.path, clock)
    body = restarted.post("/api/v1/verify", json={"token": good.token}).get_json()
    assert (body["status"], body["reasons"], body["registry_version"]) == ("status_unknown", ["registry_stale"], None)
    assert error_of(restarted.get("/api/v1/registry")) == (404, "registry_unavailable")


@pytest.mark.parametrize(
    ("issued_at", "expires_at", "status", "reason"),
    [
        (NOW + 301, NOW + 30 * DAY, 422, "registry_invalid"),  # dated beyond the 5-minute leeway
        (NOW + DAY, NOW + 30 * DAY, 422, "registry_invalid"),
        (NOW - 30 * DAY, NOW, 422, "registry_stale"),  # expires this very second
        (NOW - 30 * DAY, NOW - 1, 422, "registry_stale"),
        (NOW, NOW + 3600, 200, None),  # the control
    ],
    ids=["a-little-ahead", "a-day-ahead", "expiring-now", "just-expired", "control"],
)
def test_registry_dated_in_the_future_or_already_expired_is_refused(
    city: City, bare: FlaskClient, issued_at: int, expires_at: int, status: int, reason: str | None
) -> None:
    registry = replace(city.registry, version=2, issued_at=issued_at, expires_at=expires_at)
    response = put_registry(bare, bundle(city, sign_registry(registry, roots(city)[:2])))
    if reason is None:
        assert response.status_code == status and response.get_json()["version"] == 2
    else:
        assert error_of(response) == (status, reason)
        assert held_version(bare) == 1


# --- size -----------------------------------------------------------------------------------------


def _padded(size: int) -> bytes:
    shell = b'{"roots": [], "registry": {}}'
    return shell[:-1] + b" " * (size - len(shell)) + b"}"


@pytest.mark.parametrize(
    ("body", "status", "reason"),
    [
        (lambda: _padded(MAX_BUNDLE_BYTES + 1), 413, "body_too_large"),
        (lambda: _padded(4 * MAX_BUNDLE_BYTES), 413, "body_too_large"),
        (lambda: _padded(MAX_BUNDLE_BYTES), 422, "registry_invalid"),  # at the cap: read, then refused on its merits
        (lambda: b"[" * 200_000 + b"]" * 200_000, 422, "registry_invalid"),  # nesting deeper than any parser stack
        (lambda: b'{"roots": [' + b'{"payload": "", "signatures": []},' * 100_000 + b'{}], "registry": {}}', 422, "registry_invalid"),
    ],
    ids=["one-byte-over", "four-times-over", "exactly-the-cap", "deeply-nested", "hundred-thousand-roots"],
)
def test_oversized_registry_push_is_refused_413_or_422(client: FlaskClient, body: Any, status: int, reason: str) -> None:
    assert error_of(put_registry(client, body())) == (status, reason)
    assert held_version(client) == 1


@pytest.fixture(scope="module")
def live(city_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    directory = tmp_path_factory.mktemp("rule9-live")
    server = serve_city(live_city(city_template, directory), directory / "access.log")
    yield server
    server.stop()


@pytest.mark.parametrize("framing", ["declared-length-no-body", "chunked"])
def test_oversized_registry_push_over_real_http_is_refused_413(live: Any, framing: str) -> None:
    oversized = _padded(MAX_BUNDLE_BYTES + 1024)
    if framing == "chunked":
        data = request_bytes("PUT", "/api/v1/registry", {"Content-Type": JSON, "Transfer-Encoding": "chunked"}, chunked(oversized, 1 << 20))
    else:  # announce the size and send nothing: refused before anything is read
        data = request_bytes("PUT", "/api/v1/registry", {"Content-Type": JSON, "Content-Length": str(len(oversized))})
    started = time.monotonic()
    response = raw_request(live.url, data, timeout=20)
    assert (response.status, response.json["error"]["reason"]) == (413, "body_too_large")
    assert time.monotonic() - started < 5


# --- fetching: no redirect to another host ----------------------------------------------------------


@pytest.fixture
def hosts() -> Iterator[dict[str, Host]]:
    made: dict[str, Host] = {}
    yield made
    for host in made.values():
        host.stop()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("target", ["other-port", "other-name-same-port", "protocol-relative", "userinfo-trick"])
@pytest.mark.parametrize("document", ["registry", "status-list"])
def test_redirect_to_another_host_is_never_followed(
    city: City, bare: FlaskClient, hosts: dict[str, Host], code: int, target: str, document: str
) -> None:
    store = store_of(bare)
    newer: dict[str, bytes] = {}
    other = hosts["other"] = Host(lambda path, sock: respond(sock, 200, newer.get(path, b"")))

    def first_answer(path: str, sock: socket.socket) -> None:
        if path in newer:  # followed after all: serve the document, so a follow would show
            respond(sock, 200, newer[path])
            return
        location = {
            "other-port": f"{other.url}{path}.next",
            "other-name-same-port": f"http://localhost:{first.port}{path}.next",
            "protocol-relative": f"//localhost:{first.port}{path}.next",
            "userinfo-trick": f"http://127.0.0.1:{first.port}@localhost:{other.port}{path}.next",
        }[target]
        respond(sock, code, b"", {"Location": location})

    first = hosts["first"] = Host(first_answer)
    if document == "registry":
        newer["/registry.json.next"] = operator.publish(city.home, passphrase, NOW, 60 * DAY).bundle
        store.registry_url, store.refresh_interval = f"{first.url}/registry.json", 0
    else:  # every agency's list is published at the first host, which redirects each
        draft = city.home.draft()
        agencies = {aid: replace(a, status_url=f"{first.url}/status/{aid}.jwt") for aid, a in draft.agencies.items()}
        city.home.save_draft(replace(draft, agencies=agencies))
        assert put_registry(bare, operator.publish(city.home, passphrase, NOW, 60 * DAY).bundle).status_code == 200
        for aid in agencies:
            held = build_status_list(agencies[aid].status_url, MIN_SIZE, [(7, 1)], city.signers[aid], NOW, NOW + DAY)
            assert bare.put(f"/api/v1/status/{aid}", data=held, content_type="application/statuslist+jwt").status_code == 200
            clean = build_status_list(agencies[aid].status_url, MIN_SIZE, [], city.signers[aid], NOW + 60, NOW + DAY)
            newer[f"/status/{aid}.jwt.next"] = clean.encode()
        store.pull_status, store.refresh_interval = True, 0
    before_version = held_version(bare)
    before_list = bare.get("/api/v1/status/hcm-syt").data
    store.pull()
    time.sleep(0.1)
    asked = ["/registry.json"] if document == "registry" else [f"/status/{aid}.jwt" for aid in city.registry.agencies]
    assert sorted(first.paths) == sorted(asked)
    assert other.paths == []
    assert held_version(bare) == before_version
    assert bare.get("/api/v1/status/hcm-syt").data == before_list


def test_redirect_on_the_same_host_is_followed(city: City, bare: FlaskClient, hosts: dict[str, Host]) -> None:
    # The control for the test above: the same pull, redirected within the host, does update.
    newer = operator.publish(city.home, passphrase, NOW, 60 * DAY).bundle
    host = hosts["same"] = Host(lambda path, sock: respond(sock, 302, b"", {"Location": "/v2.json"}) if path == "/registry.json" else respond(sock, 200, newer))
    store = store_of(bare)
    store.registry_url, store.refresh_interval = f"{host.url}/registry.json", 0
    store.pull()
    assert host.paths == ["/registry.json", "/v2.json"]
    assert held_version(bare) == 2


# --- fetching: a dead or slow host ---------------------------------------------------------------


def _stall(how: str, closing: threading.Event) -> Callable[[str, socket.socket], None]:
    def answer(path: str, sock: socket.socket) -> None:
        if how == "silent":  # accepts, reads the request, never answers
            closing.wait(8)
        elif how == "trickled-status-line":
            trickle(sock, b"", b"H", 0.3, closing, 8)
        elif how == "trickled-headers":
            trickle(sock, b"HTTP/1.1 200 OK\r\nX-Padding: ", b"a", 0.3, closing, 8)
        elif how == "trickled-body":
            trickle(sock, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"a", 0.3, closing, 8)
        else:  # endless: a body that never ends, as fast as the socket takes it
            sock.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
            while not closing.is_set():
                sock.sendall(b" " * 65536)

    return answer


def _fetch_outcome(url: str, timeout: float = 1.0) -> tuple[str, float]:
    """What get() did: the name of what it raised (or "returned"), and how long it took."""
    started = time.monotonic()
    try:
        get(url, 1 << 20, timeout)
        outcome = "returned"
    except HttpError:
        outcome = "HttpError"
    except Exception as exc:  # the contract is HttpError and nothing else: name what escaped
        outcome = f"{type(exc).__module__}.{type(exc).__name__}"
    return outcome, time.monotonic() - started


@pytest.mark.parametrize("how", ["silent", "trickled-status-line", "trickled-headers", "trickled-body", "endless"])
def test_fetch_gives_up_on_a_slow_or_endless_host_within_its_deadline(hosts: dict[str, Host], how: str) -> None:
    host = hosts["slow"] = Host(lambda path, sock: None)
    host.answer = _stall(how, host.closing)
    outcome, held = _fetch_outcome(f"{host.url}/registry.json")
    # One second of deadline and some scheduling slack; a trickling host would go on for eight.
    assert (outcome, held < 2.5) == ("HttpError", True), f"{how}: get raised {outcome} after {held:.1f} s (deadline 1 s)"


GARBAGE = {
    "bad-status-line": b"HELLO WORLD\r\n\r\n",
    "status-code-2000": b"HTTP/1.1 2000 OK\r\n\r\n",
    "not-http-at-all": b"\x00\x01binary",
    "101-headers": b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 101 + b"\r\n",
    "70k-header-line": b"HTTP/1.1 200 OK\r\nX-A: " + b"a" * 70_000 + b"\r\n\r\n",
    "broken-chunking": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n",
    "bad-location": b"HTTP/1.1 302 Found\r\nLocation: http://[::1\r\nContent-Length: 0\r\n\r\n",
}


@pytest.mark.parametrize("answer", list(GARBAGE), ids=list(GARBAGE))
def test_fetch_turns_any_garbage_answer_into_fetch_failed(hosts: dict[str, Host], answer: str) -> None:
    host = hosts["garbage"] = Host(lambda path, sock: sock.sendall(GARBAGE[answer]))
    outcome, held = _fetch_outcome(f"{host.url}/registry.json")
    assert (outcome, held < 2.5) == ("HttpError", True), f"{answer}: get raised {outcome} after {held:.1f} s"


@pytest.mark.parametrize("failure", ["garbage", "trickle"])
@pytest.mark.parametrize("broken", ["registry-host", "first-agencys-status-host"])
def test_a_broken_or_slow_host_does_not_hold_up_the_other_pulls(
    city: City, bare: FlaskClient, hosts: dict[str, Host], broken: str, failure: str
) -> None:
    # One publisher answers garbage, or trickles its headers for 20 s; within a few seconds every
    # other agency's list must still be pulled (one refresher thread serves them all).
    documents: dict[str, bytes] = {}
    good = hosts["good"] = Host(lambda path, sock: respond(sock, 200, documents.get(path, b"")))
    bad = hosts["bad"] = Host(lambda path, sock: None)
    bad.answer = (lambda path, sock: sock.sendall(GARBAGE["bad-status-line"])) if failure == "garbage" else _stall("trickled-headers", bad.closing)
    draft = city.home.draft()
    agencies = {aid: replace(a, status_url=f"{good.url}/status/{aid}.jwt") for aid, a in draft.agencies.items()}
    first = sorted(agencies)[0]  # the registry keeps agencies in id order: pulled first
    if broken == "first-agencys-status-host":
        agencies[first] = replace(agencies[first], status_url=f"{bad.url}/status/{first}.jwt")
    city.home.save_draft(replace(draft, agencies=agencies))
    assert put_registry(bare, operator.publish(city.home, passphrase, NOW, 60 * DAY).bundle).status_code == 200
    for aid in agencies:
        documents[f"/status/{aid}.jwt"] = build_status_list(agencies[aid].status_url, MIN_SIZE, [], city.signers[aid], NOW, NOW + DAY).encode()
    store = store_of(bare)
    store.registry_url = f"{(bad if broken == 'registry-host' else good).url}/registry.json"
    store.pull_status, store.fetch_timeout, store.refresh_interval, store.poll_interval = True, 1, 0.5, 0.05
    expected = sorted(a for a in agencies if broken == "registry-host" or a != first)
    before = set(threading.enumerate())
    store.start()  # the real refresher thread, as in a served worker
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sorted(store.snapshot.lists) != expected:
            time.sleep(0.1)
    finally:
        lists = sorted(store.snapshot.lists)
        store.stop()
        bad.stop()  # a stuck round ends when its host goes away
        good.stop()
        for thread in set(threading.enumerate()) - before:
            thread.join(timeout=5)
    assert lists == expected, f"pulled within 5 s while one host misbehaved: {lists}"


def test_slowloris_host_does_not_hold_request_workers(city_template: Path, tmp_path: Path) -> None:
    # The verifier pulls the registry and every status list from a host that trickles its
    # headers, a byte every 0.3 s: each pull hangs. Requests must not notice.
    stall = Host(lambda path, sock: None)
    stall.answer = _stall("trickled-headers", stall.closing)
    try:
        city = live_city(city_template, tmp_path, status_base=stall.url)
        record = city.issue(at=int(time.time()), number="SLOW-1")
        server = serve_city(city, tmp_path / "access.log", "--registry-url", f"{stall.url}/registry.json",
                            "--status-pull", "--refresh-interval", "1")
        try:
            deadline = time.monotonic() + 10
            while stall.connections < 2 and time.monotonic() < deadline:  # both workers' refreshers are stuck
                time.sleep(0.1)
            assert stall.connections >= 2

            def ask(i: int) -> tuple[int, float]:
                started = time.monotonic()
                path = "/api/v1/healthz" if i % 3 == 0 else "/api/v1/verify"
                body = b"" if i % 3 == 0 else json.dumps({"token": record.token}).encode()
                method = "GET" if i % 3 == 0 else "POST"
                response = raw_request(server.url, request_bytes(method, path, {"Content-Type": JSON, "Content-Length": str(len(body))}, body))
                status = response.status if i % 3 == 0 else (200 if response.json["status"] == "valid" else 0)
                return status, time.monotonic() - started

            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                answers = list(pool.map(ask, range(48)))
            assert [status for status, _ in answers] == [200] * 48
            assert max(seconds for _, seconds in answers) < 2
        finally:
            server.stop()
    finally:
        stall.stop()


def test_endless_registry_from_a_mirror_is_cut_at_the_cap(city: City, bare: FlaskClient, hosts: dict[str, Host]) -> None:
    endless = hosts["endless"] = Host(lambda path, sock: None)
    endless.answer = _stall("endless", endless.closing)
    store = store_of(bare)
    store.registry_url, store.refresh_interval, store.fetch_timeout = f"{endless.url}/registry.json", 0, 10
    started = time.monotonic()
    store.pull()
    assert time.monotonic() - started < 10
    assert held_version(bare) == 1

