"""Rule 2, header: only the members the project defines; typ exactly the one of each kind of
document; alg one of the two allowed and equal to the algorithm of the key the registry binds to
the kid. Anything that would make a verifier fetch or trust a key named by the token itself
(jwk, jku, x5u, x5c, crit, ...) is refused, never honoured."""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import City
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from forge import compress, permit_header, sign_raw
from hostile import (
    assert_refused,
    assert_valid,
    copy_city,
    genuine,
    header_token,
    list_payload,
    open_list,
    registry_content,
    registry_refused,
    root_signed_bundle,
    status_header,
    status_refused,
)

from keys.algorithms import generate_private_key
from keys.encoding import b64url_encode, dumps_canonical
from keys.jws import TYP_PERMIT, TYP_PERMIT_BEFORE_2026_12, TYP_REGISTRY, TYP_ROOT, TYP_STATUS_LIST, decode_header
from keys.signer import KeySigner
from permits.dictionary import DICTIONARY_V1, DICTIONARY_V2
from permits.model import Permit


@pytest.fixture(scope="module")
def city(city_template: Path, tmp_path_factory: pytest.TempPathFactory) -> City:
    """One city for the whole module: its tests forge and verify, and change nothing shared."""
    return copy_city(city_template, tmp_path_factory.mktemp("rule2_header"))


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """A verifier that honoured jku or x5u would have to connect somewhere: make that fail loudly."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the verifier tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def attacker() -> KeySigner:
    return KeySigner(generate_private_key("EdDSA"))


def hmac_token(header: dict[str, Any], payload: bytes, secret: bytes, digest: str) -> str:
    signing_input = f"{b64url_encode(json.dumps(header).encode())}.{b64url_encode(payload)}"
    mac = hmac.new(secret, signing_input.encode(), getattr(hashlib, digest)).digest()
    return f"{signing_input}.{b64url_encode(mac)}"


def genuine_payload(permit: Permit) -> bytes:
    return compress(dumps_canonical(permit.to_claims()))


# --- alg -----------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE", ""])
def test_alg_none_downgrade_is_refused(city: City, alg: str) -> None:
    permit = genuine(city)
    signer = city.signers["hcm-syt"]
    header = b64url_encode(json.dumps(permit_header(signer, alg=alg)).encode())
    payload = b64url_encode(genuine_payload(permit))
    # RFC 7519 unsecured form: empty signature; and the same with a leftover signature.
    assert_refused(city.verify(f"{header}.{payload}."), "malformed_token")
    signature = b64url_encode(signer.sign(f"{header}.{payload}".encode()))
    assert_refused(city.verify(f"{header}.{payload}.{signature}"), "unsupported_header")


@pytest.mark.parametrize("spelling", ["raw", "jwk", "pem", "der"])
@pytest.mark.parametrize(("alg", "digest"), [("HS256", "sha256"), ("HS384", "sha384"), ("HS512", "sha512")])
def test_hs256_key_confusion_with_the_agency_public_key_is_refused(city: City, spelling: str, alg: str, digest: str) -> None:
    permit = genuine(city)
    signer = city.signers["hcm-syt"]
    public = signer.public_key()
    # The public key is public: an attacker MACs with it and hopes the verifier does the same.
    secret = {
        "raw": public.key.public_bytes(Encoding.Raw, PublicFormat.Raw),
        "jwk": json.dumps(public.jwk).encode(),
        "pem": public.key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo),
        "der": public.key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo),
    }[spelling]
    forged = hmac_token(permit_header(signer, alg=alg), genuine_payload(permit), secret, digest)
    assert_refused(city.verify(forged), "unsupported_header")


@pytest.mark.parametrize("alg", ["Ed25519", "Ed448", "ES256K", "ES384", "RS256", "PS256", "eddsa", "EDDSA", "EdDSA ", " EdDSA", "ES256\u0000"])
def test_algorithm_names_outside_the_two_allowed_are_refused_even_with_a_genuine_signature(city: City, alg: str) -> None:
    # "Ed25519" (RFC 9864) names exactly the signature the agency made; still not in the profile.
    permit = genuine(city)
    assert_refused(city.verify(header_token(city, permit_header(city.signers["hcm-syt"], alg=alg), permit)), "unsupported_header")


@pytest.mark.parametrize("alg", [["EdDSA"], {"EdDSA": True}, 1, True, None])
def test_alg_that_is_not_a_string_is_refused(city: City, alg: object) -> None:
    permit = genuine(city)
    header = {k: v for k, v in permit_header(city.signers["hcm-syt"], alg=alg).items() if v is not None}
    assert_refused(city.verify(header_token(city, header, permit)), "unsupported_header")


@pytest.mark.parametrize(("agency", "claimed"), [("hcm-syt", "ES256"), ("hcm-sct", "EdDSA")])
def test_header_alg_of_the_other_allowed_family_is_algorithm_mismatch(city: City, agency: str, claimed: str) -> None:
    permit = genuine(city, agency, "alcohol-retail" if agency == "hcm-sct" else "food-safety")
    signer = city.signers[agency]
    # Both signatures are 64 bytes; only the registry says which verification applies.
    assert_refused(city.verify(header_token(city, permit_header(signer, alg=claimed), permit)), "algorithm_mismatch")


# --- members that name a key or change processing ------------------------------------------

ATTACKER_JWK = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
FOREIGN_MEMBERS: dict[str, Any] = {
    "jku": "https://evil.example/.well-known/jwks.json",
    "jwk": ATTACKER_JWK,
    "x5u": "https://evil.example/agency.pem",
    "x5c": ["MIIBszCCAVmgAwIBAgIUevil"],
    "x5t": "bm90LWEtY2VydA",
    "x5t#S256": "bm90LWEtY2VydC1laXRoZXI",
    "crit": ["exp"],
    "cty": "JWT",
    "url": "https://evil.example/status",
    "nonce": "x",
    "enc": "A256GCM",
    "epk": ATTACKER_JWK,
    "iss": "hcm-syt",
    "exp": 4102444800,
}


@pytest.mark.parametrize("member", FOREIGN_MEMBERS)
@pytest.mark.parametrize("who", ["attacker", "agency"])
def test_token_with_a_jku_or_any_member_outside_the_profile_is_refused_never_honoured(city: City, member: str, who: str) -> None:
    permit = genuine(city)
    agency_signer = city.signers["hcm-syt"]
    # The attacker signs with its own key but names the agency's kid, so a verifier that fetched
    # or embedded the key from the token would find one that checks.
    signer = attacker() if who == "attacker" else agency_signer
    value = dict(signer.public_key().jwk) if member in ("jwk", "epk") else FOREIGN_MEMBERS[member]
    header = permit_header(agency_signer, **{member: value})
    assert_refused(city.verify(header_token(city, header, permit, signer)), "unsupported_header")


@pytest.mark.parametrize(
    "extra",
    [{"b64": False}, {"b64": True, "crit": ["b64"]}, {"zip": "DEF"}, {"zip": "GZIP"}, {"zip": None}, {"zip": "defv1"},
     {"zip": "DEFv3"}, {"zip": ["DEFv1"]}],
    ids=["b64 false", "crit b64", "zip DEF", "zip GZIP", "zip null", "zip case", "zip DEFv3", "zip list"],
)
def test_processing_changes_asked_by_the_header_are_refused(city: City, extra: dict[str, Any]) -> None:
    permit = genuine(city)
    assert_refused(city.verify(header_token(city, permit_header(city.signers["hcm-syt"], **extra), permit)), "unsupported_header")


@pytest.mark.parametrize(("named", "used"), [("DEFv2", DICTIONARY_V1), ("DEFv1", DICTIONARY_V2)], ids=["v2 named, v1 used", "v1 named, v2 used"])
def test_a_payload_compressed_with_another_dictionary_than_zip_names_is_malformed(city: City, named: str, used: bytes) -> None:
    # The header says which dictionary inflates the payload; any other gives other bytes, never the claims.
    permit = genuine(city)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=used)
    payload = compressor.compress(dumps_canonical(permit.to_claims())) + compressor.flush()
    token = sign_raw(permit_header(city.signers["hcm-syt"], zip=named), payload, city.signers["hcm-syt"])
    assert_refused(city.verify(token), "malformed_token")


def test_header_without_zip_is_refused_although_every_other_member_is_right(city: City) -> None:
    permit = genuine(city)
    header = permit_header(city.signers["hcm-syt"])
    del header["zip"]
    assert_refused(city.verify(header_token(city, header, permit)), "unsupported_header")


def test_permits_are_signed_as_permit_jws_and_those_signed_before_as_permit_jwt_still_verify(city: City) -> None:
    """A permit's payload is compressed, not a JWT claims set: new permits say so. Permits signed
    before December 2026 say permit+jwt, are printed on paper and may be in force for ten years."""
    record = city.issue()
    assert decode_header(record.token.split(".")[0])["typ"] == "permit+jws"
    older = header_token(city, permit_header(city.signers["hcm-syt"], typ="permit+jwt"), record.permit)
    verdict = city.verify(older)
    assert (verdict.status, verdict.reasons, verdict.permit) == ("valid", (), record.permit)


@pytest.mark.parametrize("header", [[], "permit+jwt", 1, None, True], ids=["array", "string", "number", "null", "true"])
def test_header_that_is_not_a_json_object_is_refused(city: City, header: object) -> None:
    permit = genuine(city)
    assert_refused(city.verify(header_token(city, json.dumps(header).encode(), permit)), "malformed_token")


@pytest.mark.parametrize("kid", [7, ["k"], {"kid": "k"}, None, True, "", "k" * 65], ids=["int", "list", "object", "null", "true", "empty", "65 chars"])
def test_kid_that_is_not_a_short_string_is_refused(city: City, kid: object) -> None:
    permit = genuine(city)
    header = permit_header(city.signers["hcm-syt"], kid=kid)
    assert_refused(city.verify(header_token(city, header, permit)), "malformed_token")


# --- typ: exactly the kind of document ------------------------------------------------------


@pytest.mark.parametrize(
    "typ",
    ["JWT", "jwt", "PERMIT+JWS", "Permit+JWS", "PERMIT+JWT", "application/permit+jws", "application/permit+jwt", "permit+jws ",
     "permit+jwt ", "permit", "JOSE", TYP_STATUS_LIST, TYP_REGISTRY, TYP_ROOT, "", None, ["permit+jws"], ["permit+jwt"], {"permit+jws": 1}],
)
def test_permit_typ_must_be_exactly_permit_jws_or_the_type_of_older_permits(city: City, typ: object) -> None:
    permit = genuine(city)
    header = permit_header(city.signers["hcm-syt"], typ=typ)
    if typ is None:
        del header["typ"]
    assert_refused(city.verify(header_token(city, header, permit)), "wrong_type")


@pytest.mark.parametrize("typ", ["JWT", "statuslist+JWT", "application/statuslist+jwt", TYP_PERMIT, TYP_PERMIT_BEFORE_2026_12, TYP_REGISTRY, None])
def test_status_list_typ_must_be_exactly_statuslist_jwt(city: City, typ: str | None) -> None:
    signer = city.signers["hcm-syt"]
    token = sign_raw(status_header(signer, typ=typ), list_payload(city, "hcm-syt"), signer)
    status_refused(city, token, "hcm-syt", "wrong_type")
    assert open_list(city, sign_raw(status_header(signer), list_payload(city, "hcm-syt"), signer), "hcm-syt").size


@pytest.mark.parametrize("typ", [TYP_ROOT, TYP_PERMIT, TYP_PERMIT_BEFORE_2026_12, TYP_STATUS_LIST, "JWT", "registry+jwt"])
def test_registry_signed_by_the_genuine_root_keys_under_another_typ_is_refused(city: City, typ: str) -> None:
    registry_refused(city, root_signed_bundle(city, dumps_canonical(registry_content(city)), typ), because="another kind of document")


def test_genuine_status_list_presented_as_a_permit_is_refused(city: City) -> None:
    # Its header is exactly alg, kid and typ (the draft's): only its typ tells it from a permit.
    status_list = city.publish_status("hcm-syt")
    assert_refused(city.verify(status_list.token), "wrong_type")


def test_genuine_permit_presented_as_a_status_list_is_refused(city: City) -> None:
    record = city.issue()
    status_refused(city, record.token, "hcm-syt", "unsupported_header")


def test_root_signature_recast_as_a_compact_token_is_wrong_type(city: City) -> None:
    # The root document's signatures are genuine JWS signatures over protected.payload: glued
    # into compact form they are well-formed and signed, but they are not a permit.
    document = city.home.root_chain()[0]
    signature = document["signatures"][0]
    recast = f"{signature['protected']}.{document['payload']}.{signature['signature']}"
    assert len(recast) < 2048
    assert_refused(city.verify(recast), "wrong_type")


def test_genuine_permit_is_valid_with_exactly_the_profile_header(city: City) -> None:
    # The control for every refusal above: the same construction with the profile's header passes.
    permit = genuine(city)
    assert_valid(city.verify(header_token(city, permit_header(city.signers["hcm-syt"]), permit)))
