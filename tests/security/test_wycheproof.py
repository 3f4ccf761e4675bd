"""The signature layer and the registry's key loader against Project Wycheproof's vectors.

The vectors are public test data kept beside the project (../shared/vectors/wycheproof/,
C2SP/wycheproof testvectors_v1 at dac1dd47); they are read in place, never copied here.

Each vector goes through the same path a registry key and a permit signature take: the public
key is loaded from its JWK by `load_public_jwk` (or, where a group has no JWK, from the JWK
made of its coordinates), then `PublicKey.verify` checks the signature. Every `valid` vector
must verify and every `invalid` one must be refused. The Ed25519 and ECDSA files contain no
`acceptable` vectors. The JSON Web Key file's `valid` vectors use HS256 and RS256 keys, which
this profile refuses by design (EdDSA and ES256 only): they are decided "refused" below, and
the reason is checked to be the profile, not a failed signature.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from keys.algorithms import KeyRejected, load_public_jwk
from keys.encoding import b64url_encode
from keys.errors import DocumentError
from keys.jws import TYP_PERMIT, check_header, parse_compact

PROJECT = Path(__file__).resolve().parents[2]
CANDIDATES = [PROJECT.parent / "shared" / "vectors" / "wycheproof", Path("/work/shared/vectors/wycheproof")]


def vectors_dir() -> Path:
    for candidate in CANDIDATES:
        if (candidate / "ed25519_test.json").exists():
            return candidate
    pytest.fail(f"Wycheproof vectors not found in {', '.join(map(str, CANDIDATES))}")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((vectors_dir() / name).read_text())
    return data


def cases(name: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    data = load(name)
    return [(group, test) for group in data["testGroups"] for test in group["tests"]]


def group_jwk(group: dict[str, Any]) -> dict[str, str]:
    """The group's public JWK as a registry would hold it (Wycheproof's placeholder kid dropped)."""
    if "publicKeyJwk" in group:
        return {k: v for k, v in group["publicKeyJwk"].items() if k != "kid"}
    key = group["publicKey"]
    return {"kty": "EC", "crv": "P-256",
            "x": b64url_encode(int(key["wx"], 16).to_bytes(32, "big")),
            "y": b64url_encode(int(key["wy"], 16).to_bytes(32, "big"))}


ED25519 = cases("ed25519_test.json")
ECDSA = cases("ecdsa_secp256r1_sha256_p1363_test.json")
JWK = cases("json_web_key_test.json")


def test_the_vector_files_are_the_ones_documented() -> None:
    assert (len(ED25519), len(ECDSA), len(JWK)) == (151, 262, 26)
    assert {t["result"] for _, t in ED25519 + ECDSA} == {"valid", "invalid"}  # no `acceptable` to decide


@pytest.mark.parametrize(("alg", "group", "test"), [("EdDSA", g, t) for g, t in ED25519] + [("ES256", g, t) for g, t in ECDSA],
                         ids=[f"ed25519-{t['tcId']}" for _, t in ED25519] + [f"p256-{t['tcId']}" for _, t in ECDSA])
def test_signature_vector(alg: str, group: dict[str, Any], test: dict[str, Any]) -> None:
    key = load_public_jwk(group_jwk(group), alg)
    verified = key.verify(bytes.fromhex(test["sig"]), bytes.fromhex(test["msg"]))
    assert verified is (test["result"] == "valid"), f"{test['comment']} {test['flags']}"


def _keys_of(group: dict[str, Any]) -> list[dict[str, Any]]:
    keyset = group.get("public") or group["private"]
    return list(keyset["keys"])


@pytest.mark.parametrize(("group", "test"), JWK, ids=[f"jwk-{t['tcId']}-{t['comment']}" for _, t in JWK])
def test_json_web_key_vector_is_refused_by_the_profile(group: dict[str, Any], test: dict[str, Any]) -> None:
    """Every vector is refused: the `invalid` ones for the reason Wycheproof gives, the `valid`
    ones (HS256/RS256) because the profile allows only EdDSA and ES256 keys."""
    refusals = []
    for jwk in _keys_of(group):
        try:
            load_public_jwk(jwk, jwk.get("alg", ""))
        except KeyRejected as exc:
            refusals.append(str(exc))
            continue
        # A key the loader accepted must still not verify this JWS under our profile.
        try:
            jws = parse_compact(test["jws"], 4096)
            alg, _ = check_header({**jws.header, "typ": TYP_PERMIT, "zip": "DEFv1"}, TYP_PERMIT, {"alg", "kid", "typ", "zip"})
        except DocumentError as exc:
            refusals.append(exc.reason)
            continue
        verified = alg == jwk["alg"] and load_public_jwk(jwk, alg).verify(jws.signature, jws.signing_input)
        assert not verified, f"vector {test['tcId']} verified"
        refusals.append("signature refused")
    assert refusals, test["comment"]
    if test["result"] == "valid":
        assert all("not allowed" in r or "private or symmetric" in r for r in refusals), refusals
