"""Other people's code verifies every kind of document we sign: jwcrypto and PyJWT's PyJWS, two
independent JOSE implementations, with nothing of ours but the public keys from the registry.

Permits and status lists are compact JWS; the registry and the root documents are JWS JSON
serialization with one signature per root key (each signature checked on its own)."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from conftest import City
from jwcrypto import jwk, jws

from keys.encoding import b64url_decode, b64url_encode
from keys.jws import TYP_PERMIT, TYP_REGISTRY, TYP_ROOT, TYP_STATUS_LIST
from permits.token import inflate_claims

ALGS = ["EdDSA", "ES256"]


def jwcrypto_verified(serialized: str, public_jwk: dict[str, Any]) -> tuple[Any, bytes]:
    """(protected header, or the list of them for the JSON serialization; payload) once jwcrypto
    has verified `serialized` with the key; raises jwcrypto's InvalidJWSSignature otherwise."""
    token = jws.JWS()
    token.allowed_algs = ALGS
    token.deserialize(serialized)
    token.verify(jwk.JWK(**public_jwk))
    return token.jose_header, bytes(token.payload)


def tampered_compact(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(b64url_decode(payload))
    raw[0] ^= 1
    return f"{header}.{b64url_encode(bytes(raw))}.{signature}"


@pytest.mark.parametrize(("agency", "type_code", "alg"), [("hcm-syt", "food-safety", "EdDSA"), ("hcm-sct", "alcohol-retail", "ES256")])
def test_jwcrypto_and_pyjws_verify_our_permits(city: City, agency: str, type_code: str, alg: str) -> None:
    record = city.issue(agency, type_code)
    key = city.registry.key(city.signers[agency].kid)
    assert key is not None
    header, payload = jwcrypto_verified(record.token, dict(key.public_key.jwk))
    assert header == {"alg": alg, "kid": key.kid, "typ": TYP_PERMIT, "zip": "DEFv1"}
    assert inflate_claims(payload) == record.permit.to_claims()
    assert jwt.PyJWS().decode_complete(record.token, key.public_key.key, algorithms=[alg])["payload"] == payload
    # Not a check that cannot fail: one bit of the payload changed, both refuse.
    with pytest.raises(jws.InvalidJWSSignature):
        jwcrypto_verified(tampered_compact(record.token), dict(key.public_key.jwk))
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.PyJWS().decode_complete(tampered_compact(record.token), key.public_key.key, algorithms=[alg])


@pytest.mark.parametrize("agency", ["hcm-syt", "hcm-sct"])
def test_jwcrypto_and_pyjws_verify_our_status_lists(city: City, agency: str) -> None:
    token = city.publish_status(agency).token
    key = city.registry.key(city.signers[agency].kid)
    assert key is not None
    header, payload = jwcrypto_verified(token, dict(key.public_key.jwk))
    assert (header["typ"], header["kid"], header["alg"]) == (TYP_STATUS_LIST, key.kid, key.alg)
    assert jwt.PyJWS().decode_complete(token, key.public_key.key, algorithms=[key.alg])["payload"] == payload
    with pytest.raises(jws.InvalidJWSSignature):
        jwcrypto_verified(tampered_compact(token), dict(key.public_key.jwk))


def _each_signature(document: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """(protected header, compact form) of each signature of a general JWS: a signature of the
    JSON serialization is exactly the compact JWS of its protected header and the payload."""
    return [(json.loads(b64url_decode(s["protected"])), f"{s['protected']}.{document['payload']}.{s['signature']}")
            for s in document["signatures"]]


def test_jwcrypto_and_pyjws_verify_every_root_signature_on_the_registry_and_the_root_documents(city: City) -> None:
    bundle = json.loads(city.trusted.bundle)
    root = city.trusted.root
    documents = [(TYP_REGISTRY, bundle["registry"])] + [(TYP_ROOT, signed) for signed in bundle["roots"]]
    checked = 0
    for typ, document in documents:
        serialized = json.dumps(document)
        for header, compact in _each_signature(document):
            assert header["typ"] == typ
            public = root.keys[header["kid"]]
            # jwcrypto reads the JSON serialization itself and finds the signature this key made.
            headers, payload = jwcrypto_verified(serialized, dict(public.jwk))
            assert header in headers
            assert payload == b64url_decode(document["payload"])
            assert jwt.PyJWS().decode_complete(compact, public.key, algorithms=[header["alg"]])["payload"] == payload
            checked += 1
    assert checked >= root.threshold + 1  # the registry's threshold signatures, and the root's own
    # A registry whose payload was changed after signing: jwcrypto finds no signature that holds.
    forged = dict(bundle["registry"], payload=b64url_encode(b64url_decode(bundle["registry"]["payload"]) + b" "))
    with pytest.raises(jws.InvalidJWSSignature):
        jwcrypto_verified(json.dumps(forged), dict(next(iter(root.keys.values())).jwk))
