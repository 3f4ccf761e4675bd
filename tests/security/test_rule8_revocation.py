"""Rule 8, revocation: the status list comes only from where the registry says, is signed by the
issuer itself with the right typ, never goes back in time or past its expiry, is inflated only
after its signature checks and never beyond its bound, and answers for the permit's identity
(issuer + status index), never for one spelling of its token."""

from __future__ import annotations

import http.server
import json
import threading
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

import pytest
from conftest import DAY, NOW, City, Clock
from flask import Flask
from flask.testing import FlaskClient
from forge import claims_of, permit_header, sign_claims, sign_raw

from keys.encoding import b64url_decode, b64url_encode, dumps_canonical
from keys.errors import DocumentError
from permits import status_list as status_list_module
from permits.dictionary import DICTIONARY_V1
from permits.status_list import MAX_SIZE, MIN_SIZE, build_status_list, open_status_list
from verifier.http_client import Fetched
from verifier.state import TrustStore
from verifier.web.app import create_app

P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
STATUS_JWT = "application/statuslist+jwt"


# --- helpers ----------------------------------------------------------------------------------


def store_of(client: FlaskClient) -> TrustStore:
    store: TrustStore = client.application.extensions["permit_store"]
    return store


def verdict(client: FlaskClient, token: str) -> tuple[str, list[str]]:
    response = client.post("/api/v1/verify", json={"token": token})
    assert response.status_code == 200
    body = response.get_json()
    return body["status"], body["reasons"]


def error_of(response: Any) -> tuple[int, str]:
    body = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert set(body) == {"type", "title", "status", "detail", "error"} and set(body["error"]) == {"status", "reason", "message"}
    assert body["error"]["status"] == body["status"] == response.status_code
    return response.status_code, body["error"]["reason"]


def put_status(client: FlaskClient, agency: str, token: str) -> Any:
    return client.put(f"/api/v1/status/{agency}", data=token, content_type=STATUS_JWT)


def malleate_es256(token: str) -> str:
    """The same ES256 signature spelled differently: (r, s) → (r, n - s), still valid for the key."""
    header, payload, signature = token.split(".")
    raw = b64url_decode(signature)
    r, s = raw[:32], int.from_bytes(raw[32:], "big")
    return f"{header}.{payload}.{b64url_encode(r + (P256_ORDER - s).to_bytes(32, 'big'))}"


def list_header(signer: Any, **changes: Any) -> dict[str, Any]:
    header = {"alg": signer.alg, "kid": signer.kid, "typ": "statuslist+jwt"}
    header.update(changes)
    return {k: v for k, v in header.items() if v is not None}


def url(city: City, agency: str = "hcm-syt") -> str:
    """Where the registry says `agency`'s list lives: every list names it as its `sub`."""
    return city.registry.agencies[agency].status_url


def list_claims(city: City, lst: bytes, **changes: Any) -> bytes:
    """A list's claims around the ZLIB data `lst`, issued ten seconds after NOW."""
    claims = {"sub": url(city), "iat": NOW + 10, "exp": NOW + DAY, "ttl": 60, "status_list": {"bits": 2, "lst": b64url_encode(lst)}}
    claims.update(changes)
    return json.dumps(claims).encode()


class Recorder:
    """A real HTTP server on 127.0.0.1 that notes every request and answers a clean status list."""

    def __init__(self, body: bytes = b"") -> None:
        self.requests: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server interface
                outer.requests.append(self.path)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder(city: City) -> Iterator[Recorder]:
    clean = build_status_list(url(city), MIN_SIZE, [], city.signers["hcm-syt"], NOW + 10, NOW + DAY)
    server = Recorder(clean.encode())
    yield server
    server.stop()


@pytest.fixture
def revoked(city: City, client: FlaskClient) -> tuple[str, int]:
    """A genuine hcm-syt permit, revoked and published; the verifier holds that list."""
    record = city.issue(number="REV-1")
    city.change(record, "revoked")
    city.publish_status("hcm-syt")
    store_of(client).reload()
    assert verdict(client, record.token) == ("revoked", ["revoked"])
    return record.token, record.permit.status_index


# --- one permit, many spellings: revocation follows the permit -------------------------------


@pytest.mark.parametrize("kind", ["revoked", "suspended"])
def test_malleated_es256_signature_of_a_revoked_permit_is_still_revoked(city: City, client: FlaskClient, kind: str) -> None:
    # hcm-sct signs with ES256; (r, n-s) is a second valid signature nobody at the agency made.
    record = city.issue("hcm-sct", "alcohol-retail", number=f"SCT-{kind}")
    city.change(record, kind)
    city.publish_status("hcm-sct")
    store_of(client).reload()
    malleated = malleate_es256(record.token)
    assert malleated != record.token
    jws_header, payload, signature = malleated.split(".")
    # The malleated signature really verifies: the verdict below is not a bad_signature in disguise.
    key = city.registry.key(city.signers["hcm-sct"].kid)
    assert key is not None and key.public_key.verify(b64url_decode(signature), f"{jws_header}.{payload}".encode())

    assert (city.verify(malleated).status, city.verify(malleated).reasons) == (kind, (kind,))
    assert verdict(client, malleated) == (kind, [kind])
    body = client.post("/api/v1/verify/batch", json={"tokens": [record.token, malleated]}).get_json()
    assert [(v["status"], v["reasons"], v["permit"]["id"]) for v in body["verdicts"]] == [(kind, [kind], record.permit.id)] * 2


def _deflate_level_1(claims: dict[str, Any]) -> bytes:
    compressor = zlib.compressobj(1, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARY_V1)
    return compressor.compress(dumps_canonical(claims)) + compressor.flush()


def _deflate_spaced_json(claims: dict[str, Any]) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARY_V1)
    return compressor.compress(json.dumps(claims, ensure_ascii=False, indent=1).encode()) + compressor.flush()


def _deflate_reordered(claims: dict[str, Any]) -> bytes:
    reordered = dict(reversed(list(claims.items())))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARY_V1)
    return compressor.compress(json.dumps(reordered, ensure_ascii=False).encode()) + compressor.flush()


@pytest.mark.parametrize("encode", [_deflate_level_1, _deflate_spaced_json, _deflate_reordered],
                         ids=["deflate-level-1", "indented-json", "reordered-members"])
def test_revoked_permit_signed_again_as_another_token_string_is_still_revoked(
    city: City, client: FlaskClient, revoked: tuple[str, int], encode: Callable[[dict[str, Any]], bytes]
) -> None:
    # The agency's own key signs the same permit (same iss, jti, st) with other payload bytes:
    # a list keyed by token string or token hash would not know this one.
    original, _ = revoked
    signer = city.signers["hcm-syt"]
    claims = json.loads(zlib.decompressobj(-15, zdict=DICTIONARY_V1).decompress(b64url_decode(original.split(".")[1])))
    respelled = sign_raw(permit_header(signer), encode(claims), signer)
    assert respelled.split(".")[1] != original.split(".")[1]
    assert verdict(client, respelled) == ("revoked", ["revoked"])


# --- where the list comes from -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"header": {"jku": "{url}/jku"}}, ("invalid", ["unsupported_header"])),
        ({"header": {"x5u": "{url}/x5u"}}, ("invalid", ["unsupported_header"])),
        ({"header": {"status_url": "{url}/header-status-url"}}, ("invalid", ["unsupported_header"])),
        ({"header": {"status": {"idx": 0, "uri": "{url}/header-status"}}}, ("invalid", ["unsupported_header"])),
        ({"claims": {"status": {"status_list": {"idx": 0, "uri": "{url}/claim-status-list"}}}}, ("invalid", ["bad_claim"])),
        ({"claims": {"status_url": "{url}/claim-status-url"}}, ("invalid", ["bad_claim"])),
        ({"permit": {"status_url": "{url}/permit-status-url"}}, ("invalid", ["bad_claim"])),
    ],
    ids=["header-jku", "header-x5u", "header-status_url", "header-status", "claim-status_list", "claim-status_url", "permit-member"],
)
def test_status_list_url_in_a_token_is_never_fetched(
    city: City, recorder: Recorder, clock: Clock, where: dict[str, dict[str, Any]], expected: tuple[str, list[str]]
) -> None:
    record = city.issue(number="URL-1")
    city.change(record, "revoked")
    city.publish_all()
    # A verifier that does pull status lists, so a URL it wrongly honoured would be fetched.
    app = create_app({"HOME": str(city.home.path), "BACKGROUND_REFRESH": False, "STATUS_PULL": True,
                      "REFRESH_INTERVAL": 0, "CLOCK": clock, "TESTING": True})
    store = store_of(app.test_client())
    fetched: list[str] = []
    held = {agency: city.home.status_path(agency).read_bytes() for agency in city.registry.agencies}
    by_url = {a.status_url: held[a.id] for a in city.registry.agencies.values()}

    def fetcher(url: str, max_bytes: int, timeout: float, etag: str | None) -> Fetched:
        fetched.append(url)
        return Fetched(by_url[url], None)

    store.fetcher = fetcher
    signer = city.signers["hcm-syt"]
    text = json.dumps(where).replace("{url}", recorder.url)
    where = json.loads(text)
    claims = claims_of(record.permit)
    claims.update(where.get("claims", {}))
    claims["permit"].update(where.get("permit", {}))
    token = sign_claims(claims, signer, **where.get("header", {}))

    client = app.test_client()
    assert verdict(client, token) == expected
    store.refresh()
    assert verdict(client, token) == expected
    assert verdict(client, record.token) == ("revoked", ["revoked"])
    time.sleep(0.2)  # a stray request in flight would have arrived by now
    assert recorder.requests == []
    # The refresher pulled exactly the URLs the registry names, one per agency.
    assert sorted(fetched) == sorted(by_url)


@pytest.mark.parametrize(
    ("author", "claimed_place"),
    [("hcm-skhdt", "hcm-skhdt"), ("hcm-skhdt", "hcm-syt"), ("hcm-sct", "hcm-syt"), ("hcm-sxd", "hcm-syt")],
    ids=["another-agencys-own-list", "victims-name-planning-key", "victims-name-es256-key", "victims-name-construction-key"],
)
def test_pushed_status_list_signed_by_another_agency_is_refused(
    city: City, client: FlaskClient, revoked: tuple[str, int], author: str, claimed_place: str
) -> None:
    token, _ = revoked
    before = client.get("/api/v1/status/hcm-syt").data
    # A clean list, newer than the one held: accepted, it would un-revoke every Health permit.
    forged = build_status_list(url(city, claimed_place), MIN_SIZE, [], city.signers[author], NOW + 10, NOW + DAY)
    assert error_of(put_status(client, "hcm-syt", forged)) == (422, "issuer_key_mismatch")
    assert client.get("/api/v1/status/hcm-syt").data == before
    assert verdict(client, token) == ("revoked", ["revoked"])


@pytest.mark.parametrize(
    ("header", "signed_by", "reason"),
    [
        ({"typ": "permit+jwt"}, "hcm-syt", "wrong_type"),
        ({"typ": "JWT"}, "hcm-syt", "wrong_type"),
        ({"typ": "statuslist+JWT"}, "hcm-syt", "wrong_type"),
        ({"typ": None}, "hcm-syt", "wrong_type"),
        ({"alg": "ES256"}, "hcm-syt", "algorithm_mismatch"),
        ({"alg": "HS256"}, "hcm-syt", "unsupported_header"),
        ({"alg": "none"}, "hcm-syt", "unsupported_header"),
        ({}, "hcm-skhdt", "bad_signature"),  # Health's kid in the header, Planning's signature
        ({"kid": "AAAAAAAAAAAA"}, "hcm-syt", "unknown_key"),
        ({"jku": "https://evil.example/keys"}, "hcm-syt", "unsupported_header"),
    ],
    ids=["typ-permit", "typ-JWT", "typ-case", "typ-missing", "alg-confusion", "alg-hs256", "alg-none",
         "kid-of-victim-signed-by-other", "unknown-kid", "jku"],
)
def test_pushed_status_list_with_the_wrong_type_algorithm_or_key_is_refused(
    city: City, client: FlaskClient, revoked: tuple[str, int], header: dict[str, Any], signed_by: str, reason: str
) -> None:
    token, _ = revoked
    victim = city.signers["hcm-syt"]
    forged = sign_raw(list_header(victim, **header), list_claims(city, zlib.compress(bytes(MIN_SIZE // 4))), city.signers[signed_by])
    assert error_of(put_status(client, "hcm-syt", forged)) == (422, reason)
    assert verdict(client, token) == ("revoked", ["revoked"])


def test_another_agencys_list_left_in_the_issuers_place_fails_closed(city: City, clock: Clock) -> None:
    record = city.issue(number="SWAP-1")
    city.publish_all()
    # Someone copies Planning's (valid, clean) list over Health's file in the verifier's home.
    city.home.status_path("hcm-syt").write_bytes(city.home.status_path("hcm-skhdt").read_bytes())
    app = create_app({"HOME": str(city.home.path), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True})
    client = app.test_client()
    assert verdict(client, record.token) == ("status_unknown", ["status_unavailable"])
    assert client.get("/api/v1/healthz").get_json()["status_lists"]["hcm-syt"] == {"problem": "issuer_key_mismatch"}


# --- inflating: bounded, and only after the signature -------------------------------------------


@lru_cache(maxsize=1)
def bomb() -> bytes:
    """ZLIB of 64 MiB of zeros: 64 KB that inflate 1,000-fold, four times past the largest list."""
    compressor = zlib.compressobj(9)
    chunk = bytes(1 << 24)
    return b"".join(compressor.compress(chunk) for _ in range(4)) + compressor.flush()


def test_status_list_decompression_bomb_is_refused_before_exhausting_memory(city: City, client: FlaskClient) -> None:
    signer = city.signers["hcm-syt"]
    token = sign_raw(list_header(signer), list_claims(city, bomb()), signer)  # genuinely signed by the agency
    assert len(token) < 150_000
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(DocumentError) as refused:
            open_status_list(token, city.registry, "hcm-syt", NOW)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.reason == "malformed_token"
    # At most the largest list (MAX_SIZE/4 bytes) and one byte more is ever inflated
    # (zlib.decompressobj's max_length), never the bomb's 64 MiB.
    assert peak < 2 * (MAX_SIZE // 4) + 4 * 1024 * 1024, peak
    assert time.monotonic() - started < 5
    assert error_of(put_status(client, "hcm-syt", token)) == (422, "malformed_token")


@pytest.mark.parametrize(
    ("header", "claims", "signed_by", "reason"),
    [
        ({}, {}, "hcm-skhdt", "bad_signature"),
        ({"kid": "{skhdt}"}, {}, "hcm-skhdt", "issuer_key_mismatch"),
        ({"kid": "AAAAAAAAAAAA"}, {}, "hcm-syt", "unknown_key"),
        ({"typ": "permit+jwt"}, {}, "hcm-syt", "wrong_type"),
        ({}, {"sub": "https://evil.example/hcm-syt"}, "hcm-syt", "bad_claim"),
        ({}, {"iat": NOW + DAY, "exp": NOW + 2 * DAY}, "hcm-syt", "issued_in_future"),
    ],
    ids=["forged-signature", "another-agency", "unknown-key", "wrong-typ", "another-place", "from-the-future"],
)
def test_status_list_is_never_inflated_before_its_signature_and_claims_check(
    city: City, client: FlaskClient, monkeypatch: pytest.MonkeyPatch, header: dict[str, Any], claims: dict[str, Any], signed_by: str, reason: str
) -> None:
    made: list[object] = []
    real = zlib.decompressobj

    def counting() -> Any:
        made.append(None)
        return real()

    monkeypatch.setattr(status_list_module.zlib, "decompressobj", counting)
    header = {k: (city.signers["hcm-skhdt"].kid if v == "{skhdt}" else v) for k, v in header.items()}
    token = sign_raw(list_header(city.signers["hcm-syt"], **header), list_claims(city, bomb(), **claims), city.signers[signed_by])
    with pytest.raises(DocumentError) as refused:
        open_status_list(token, city.registry, "hcm-syt", NOW)
    assert refused.value.reason == reason
    assert error_of(put_status(client, "hcm-syt", token)) == (422, reason)
    assert made == []
    # The control: a genuine list is inflated, once.
    genuine = build_status_list(url(city), MIN_SIZE, [], city.signers["hcm-syt"], NOW, NOW + DAY)
    open_status_list(genuine, city.registry, "hcm-syt", NOW)
    assert len(made) == 1


# --- time: never older than held, never expired ------------------------------------------------


@pytest.mark.parametrize("channel", ["push", "pull", "file"])
def test_status_list_replayed_from_yesterday_is_refused(
    city: City, app: Flask, client: FlaskClient, clock: Clock, channel: str
) -> None:
    record = city.issue(number="REPLAY-1")
    # Yesterday's list, genuinely signed, still within its two-day lifetime: the permit was fine then.
    yesterday = build_status_list(url(city), MIN_SIZE, [], city.signers["hcm-syt"], NOW - DAY, NOW + DAY)
    city.change(record, "revoked")
    city.publish_status("hcm-syt")
    store = store_of(client)
    store.reload()
    held = client.get("/api/v1/status/hcm-syt").data
    assert verdict(client, record.token) == ("revoked", ["revoked"])

    if channel == "push":
        assert error_of(put_status(client, "hcm-syt", yesterday)) == (409, "status_rollback")
    elif channel == "pull":  # a mirror (or a man in the middle) serves the old list
        store.pull_status, store.refresh_interval = True, 0
        store.fetcher = lambda url, max_bytes, timeout, etag: Fetched(yesterday.encode(), None)
        store.pull()
    else:  # the old file dropped into the running verifier's home
        city.home.status_path("hcm-syt").write_text(yesterday + "\n")
        store.reload()
    assert verdict(client, record.token) == ("revoked", ["revoked"])
    assert client.get("/api/v1/status/hcm-syt").data == held


@pytest.mark.parametrize("age", [2 * DAY, 7 * DAY, 365 * DAY], ids=["two-days", "a-week", "a-year"])
def test_expired_status_list_is_refused_and_never_counts_as_fresh(city: City, app: Flask, client: FlaskClient, clock: Clock, age: int) -> None:
    record = city.issue(number="EXP-1")
    old = build_status_list(url(city), MIN_SIZE, [], city.signers["hcm-syt"], NOW - age - DAY, NOW - age)
    assert error_of(put_status(client, "hcm-syt", old)) == (422, "status_stale")
    # The verifier that is cut off keeps only lists that have since expired: never "valid".
    clock.now = NOW + 3 * DAY
    assert verdict(client, record.token) == ("status_unknown", ["status_stale"])
    assert error_of(put_status(client, "hcm-syt", old)) == (422, "status_stale")


# --- lookup: out of range or not zero fails closed ---------------------------------------------


@pytest.mark.parametrize(
    ("index", "expected"),
    [
        (MIN_SIZE, ("status_unknown", ["status_unavailable"])),
        (MIN_SIZE + 3, ("status_unknown", ["status_unavailable"])),
        (2**31 - 1, ("status_unknown", ["status_unavailable"])),
        (2**31, ("invalid", ["bad_claim"])),
        (-1, ("invalid", ["bad_claim"])),
        ("7", ("invalid", ["bad_claim"])),
        (None, ("invalid", ["bad_claim"])),
    ],
    ids=["first-past-the-end", "past-the-end", "largest-index", "too-large", "negative", "string", "null"],
)
def test_status_index_out_of_range_fails_closed(city: City, client: FlaskClient, index: object, expected: tuple[str, list[str]]) -> None:
    # Genuinely signed by the agency, so only the index decides.
    record = city.issue(number="IDX-1")
    token = sign_claims(claims_of(record.permit, st=index), city.signers["hcm-syt"])
    assert verdict(client, token) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, ("valid", [])), (1, ("revoked", ["revoked"])), (2, ("suspended", ["suspended"])), (3, ("superseded", ["superseded"]))],
)
def test_every_status_value_but_zero_fails_closed(city: City, client: FlaskClient, value: int, expected: tuple[str, list[str]]) -> None:
    # All four 2-bit values, set by a genuine list around the permit's own entry.
    record = city.issue(number="VAL-1")
    index = record.permit.status_index
    neighbours = [(i, 1) for i in (index - 1, index + 1) if 0 <= i < MIN_SIZE]
    token = build_status_list(url(city), MIN_SIZE, [*neighbours, (index, value)], city.signers["hcm-syt"], NOW + 10, NOW + DAY)
    assert put_status(client, "hcm-syt", token).status_code == 200
    assert verdict(client, record.token) == expected
