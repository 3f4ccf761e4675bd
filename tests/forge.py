"""Building tokens the way an attacker or a misbehaving agency would: any header, any claims,
signed by any key. Tests use these to construct the real conditions a verifier must refuse."""

from __future__ import annotations

import json
import zlib
from typing import Any

from keys.encoding import b64url_decode, b64url_encode, dumps_canonical
from keys.jws import TYP_PERMIT
from keys.signer import Signer
from permits.dictionary import DICTIONARY_V1
from permits.model import Permit


def compress(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARY_V1)
    return compressor.compress(data) + compressor.flush()


def sign_raw(header: dict[str, Any] | bytes, payload: bytes, signer: Signer) -> str:
    """A compact JWS with exactly this header (dict, or raw bytes) and payload bytes."""
    header_bytes = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    signing_input = f"{b64url_encode(header_bytes)}.{b64url_encode(payload)}"
    return f"{signing_input}.{b64url_encode(signer.sign(signing_input.encode()))}"


def permit_header(signer: Signer, **extra: Any) -> dict[str, Any]:
    return {"alg": signer.alg, "kid": signer.kid, "typ": TYP_PERMIT, "zip": "DEFv1", **extra}


def sign_claims(claims: dict[str, Any], signer: Signer, **header: Any) -> str:
    """Claims as given (canonical JSON, compressed), under a permit header."""
    return sign_raw(permit_header(signer, **header), compress(dumps_canonical(claims)), signer)


def claims_of(permit: Permit, **changes: Any) -> dict[str, Any]:
    claims = permit.to_claims()
    for name, value in changes.items():
        if name.startswith("permit_"):
            claims["permit"][name[len("permit_"):]] = value
        else:
            claims[name] = value
    return claims


def segments(token: str) -> tuple[bytes, bytes, bytes]:
    header, payload, signature = token.split(".")
    return b64url_decode(header), b64url_decode(payload), b64url_decode(signature)
