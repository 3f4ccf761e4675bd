"""Why the strict profile exists: tokens that a "reasonably configured" PyJWT accepts (algorithm
pinned, the right agency key given) and that this verifier refuses, each with its exact reason.

Every token below carries a genuine signature by the Department of Health's registered key, so
PyJWT's acceptance is not a matter of keys: it is the form, the header and the JSON it tolerates.
Each case was confirmed against the PyJWT installed here; if a PyJWT release starts refusing one,
its test fails and the case should move to the list of things both refuse."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import jwt
import pytest
from conftest import City
from forge import compress, permit_header
from hostile import assert_refused, assert_valid, copy_city, genuine, resign

from keys.encoding import b64url_encode, dumps_canonical
from permits.model import Permit
from permits.token import MAX_TOKEN_LENGTH

Build = Callable[[City, Permit], str]


@pytest.fixture(scope="module")
def city(city_template: Path, tmp_path_factory: pytest.TempPathFactory) -> City:
    """One city for the whole module: its tests forge and verify, and change nothing shared."""
    return copy_city(city_template, tmp_path_factory.mktemp("pyjwt_comparison"))


def pyjwt_accepts(city: City, token: str) -> dict[str, Any]:
    """PyJWT's compact JWS decoder, algorithm pinned to the agency's, with the agency's key."""
    key = city.signers["hcm-syt"].public_key().key
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        decoded: dict[str, Any] = jwt.PyJWS().decode_complete(token, key, algorithms=["EdDSA"])
    return decoded


def signed(city: City, header: bytes | str, payload: bytes | str) -> str:
    """Sign exactly these segments (raw JSON bytes are encoded; str segments are used as given)."""
    h = header if isinstance(header, str) else b64url_encode(header)
    p = payload if isinstance(payload, str) else b64url_encode(payload)
    signature = city.signers["hcm-syt"].sign(f"{h}.{p}".encode())
    return f"{h}.{p}.{b64url_encode(signature)}"


def header_json(city: City, **members: Any) -> bytes:
    return json.dumps(permit_header(city.signers["hcm-syt"], **members), separators=(",", ":")).encode()


def raw_header(city: City, template: str) -> bytes:
    signer = city.signers["hcm-syt"]
    return template.format(alg=signer.alg, kid=signer.kid).encode()


def claims(permit: Permit) -> bytes:
    return compress(dumps_canonical(permit.to_claims()))


def padded_payload(city: City, permit: Permit) -> str:
    """The permit's payload segment with RFC 4648 padding, genuinely signed as such."""
    for n in range(1, 30):
        payload = b64url_encode(claims(replace(permit, number="GP-" + "7" * n)))
        if len(payload) % 4:
            return signed(city, header_json(city), payload + "=" * (-len(payload) % 4))
    raise AssertionError("no payload length needing padding")


CASES: dict[str, tuple[Build, str]] = {
    "jku naming an attacker's key set": (
        lambda c, p: signed(c, header_json(c, jku="https://evil.example/jwks.json"), claims(p)), "unsupported_header"),
    "x5u naming an attacker's certificate": (
        lambda c, p: signed(c, header_json(c, x5u="https://evil.example/cert.pem"), claims(p)), "unsupported_header"),
    "embedded jwk": (
        lambda c, p: signed(c, header_json(c, jwk={"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}), claims(p)),
        "unsupported_header"),
    "crit b64 extension": (
        lambda c, p: signed(c, header_json(c, crit=["b64"], b64=True), claims(p)), "unsupported_header"),
    "unknown zip": (lambda c, p: signed(c, header_json(c, zip="DEF"), claims(p)), "unsupported_header"),
    "typ JWT": (lambda c, p: signed(c, header_json(c, typ="JWT"), claims(p)), "wrong_type"),
    "typ of a status list": (lambda c, p: signed(c, header_json(c, typ="statuslist+jwt"), claims(p)), "wrong_type"),
    "duplicate alg, none first": (
        lambda c, p: signed(c, raw_header(c, '{{"alg":"none","alg":"{alg}","kid":"{kid}","typ":"permit+jwt","zip":"DEFv1"}}'), claims(p)),
        "malformed_token"),
    "duplicate typ": (
        lambda c, p: signed(c, raw_header(c, '{{"alg":"{alg}","kid":"{kid}","typ":"statuslist+jwt","typ":"permit+jwt","zip":"DEFv1"}}'), claims(p)),
        "malformed_token"),
    "duplicate kid": (
        lambda c, p: signed(c, raw_header(c, '{{"alg":"{alg}","kid":"../../x","kid":"{kid}","typ":"permit+jwt","zip":"DEFv1"}}'), claims(p)),
        "malformed_token"),
    "NaN in the header": (
        lambda c, p: signed(c, raw_header(c, '{{"alg":"{alg}","kid":"{kid}","typ":"permit+jwt","zip":"DEFv1","exp":NaN}}'), claims(p)),
        "malformed_token"),
    "1e400 in the header": (
        lambda c, p: signed(c, raw_header(c, '{{"alg":"{alg}","kid":"{kid}","typ":"permit+jwt","zip":"DEFv1","iat":1e400}}'), claims(p)),
        "malformed_token"),
    "header with a byte order mark": (
        lambda c, p: signed(c, b"\xef\xbb\xbf" + header_json(c), claims(p)), "malformed_token"),
    "header in UTF-16": (
        lambda c, p: signed(c, header_json(c).decode().encode("utf-16"), claims(p)), "malformed_token"),
    "padded signature segment": (  # a 64-byte signature is 86 characters: "==" completes it
        lambda c, p: signed(c, header_json(c), claims(p)) + "==", "malformed_token"),
    "padded payload segment, signed": (padded_payload, "malformed_token"),
    "kid as a path": (
        lambda c, p: signed(c, header_json(c, kid="../../../../etc/passwd"), claims(p)), "unknown_key"),
    "duplicate iss in the payload": (
        lambda c, p: signed(c, header_json(c), compress(dumps_canonical(p.to_claims()).replace(b"{", b'{"iss":"hcm-skhdt",', 1))),
        "malformed_token"),
    "decompression bomb in the payload": (
        lambda c, p: signed(c, header_json(c), compress(dumps_canonical(p.to_claims()) + b" " * (1 << 20))), "malformed_token"),
}


@pytest.mark.parametrize(("build", "reason"), CASES.values(), ids=CASES.keys())
def test_pyjwt_accepts_what_the_strict_profile_refuses(city: City, build: Build, reason: str) -> None:
    permit = genuine(city)
    token = build(city, permit)
    decoded = pyjwt_accepts(city, token)
    assert decoded["header"]["alg"] == "EdDSA"
    assert_refused(city.verify(token), reason)


def test_pyjwt_accepts_a_genuine_token_beyond_the_qr_size_cap(city: City) -> None:
    permit = genuine(city)
    noise = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(1500))  # CJK text that barely compresses
    token = resign(city, replace(permit, conditions=tuple(noise[i:i + 250] for i in range(0, 1500, 250))))
    assert len(token) > MAX_TOKEN_LENGTH
    pyjwt_accepts(city, token)
    assert_refused(city.verify(token), "token_too_large")


def test_both_accept_the_genuine_permit(city: City) -> None:
    # The control: the comparison is between two verifiers that agree on the genuine token.
    permit = genuine(city)
    token = signed(city, header_json(city), claims(permit))
    assert pyjwt_accepts(city, token)["payload"] == claims(permit)
    assert_valid(city.verify(token))
