"""Permit tokens on the wire: compact JWS over DEFLATE-compressed UTF-8 JSON claims.

    header  {"alg": "EdDSA"|"ES256", "kid": …, "typ": "permit+jws", "zip": "DEFv1"|"DEFv2"}
    payload raw DEFLATE (RFC 1951) of the canonical JSON claims, with the preset dictionary `zip`
            names: v2 for a permit with bases, v1 for any other

The specification other implementations follow is docs/token-profile.md. The payload is not a
JWT claims set (it is compressed), so the type says JWS; permits signed before December 2026
say "permit+jwt" and are still read.

PyJWT's `jwt.encode` would escape every Vietnamese letter as \\uXXXX (six bytes each); the JWS
layer signs the bytes given to it, so the claims are compressed first. A verifier inflates only
after the signature has been checked, and never beyond MAX_CLAIMS_BYTES.
"""

from __future__ import annotations

import zlib
from typing import Any

from keys.encoding import b64url_decode, dumps_canonical, loads_strict
from keys.jws import TYP_PERMIT, decode_header, sign_compact, split_compact
from keys.signer import Signer
from permits.dictionary import DICTIONARY_V1, DICTIONARY_V2
from permits.model import Permit

ZIP_V1 = "DEFv1"
ZIP_V2 = "DEFv2"
DICTIONARIES = {ZIP_V1: DICTIONARY_V1, ZIP_V2: DICTIONARY_V2}
PERMIT_HEADER_MEMBERS = frozenset({"alg", "kid", "typ", "zip"})
# A QR code at error correction M holds at most ~2300 characters; nothing longer is a permit.
MAX_TOKEN_LENGTH = 2048
MAX_CLAIMS_BYTES = 8192


def compress_claims(claims_json: bytes, zip_name: str = ZIP_V1) -> bytes:
    # memLevel 8: level 9 output, without the larger hash table that costs more to set up than
    # a permit takes to compress.
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, zdict=DICTIONARIES[zip_name])
    return compressor.compress(claims_json) + compressor.flush()


def inflate_claims(payload: bytes, zip_name: str = ZIP_V1) -> Any:
    """Inflate (with the dictionary `zip_name` names) and parse a verified payload; ValueError
    when it is not exactly one bounded DEFLATE stream of strict JSON."""
    inflater = zlib.decompressobj(-15, zdict=DICTIONARIES[zip_name])
    try:
        data = inflater.decompress(payload, MAX_CLAIMS_BYTES)
    except zlib.error:
        raise ValueError("payload is not DEFLATE data") from None
    if inflater.unconsumed_tail or not inflater.eof or inflater.unused_data:
        raise ValueError("payload is too large, truncated or followed by other data")
    return loads_strict(data)


def claims_of(token: str) -> Any:
    """The claims of a token this project signed (a ledger's): read, not verified."""
    header_b64, payload_b64, _ = split_compact(token, MAX_TOKEN_LENGTH)
    return inflate_claims(b64url_decode(payload_b64), decode_header(header_b64)["zip"])


def claims_json(permit: Permit) -> bytes:
    """The canonical JSON of a permit's claims: what is signed, and what the ledger keeps."""
    return dumps_canonical(permit.to_claims())


def zip_for(permit: Permit) -> str:
    """The dictionary a permit is compressed with: v2 only for a permit with bases, so that a
    verifier older than bases reads every other permit as before."""
    return ZIP_V2 if permit.basis else ZIP_V1


def sign_claims(claims: bytes, signer: Signer, zip_name: str = ZIP_V1) -> str:
    """The compact token for canonical claims JSON, compressed with `zip_name`, signed by `signer`."""
    return sign_compact(compress_claims(claims, zip_name), signer, TYP_PERMIT, {"zip": zip_name})


def sign_permit(permit: Permit, signer: Signer) -> str:
    """The compact token for `permit`, signed by `signer` (whose kid must be in the registry)."""
    return sign_claims(claims_json(permit), signer, zip_for(permit))
