"""JSON Web Signatures in the project's strict profile.

Two serialisations (RFC 7515): compact, for permits and status lists (one signer, fits a QR
code), and general JSON, for the registry (m-of-n root signatures over one payload). Each kind
of document has its own `typ`, protected by the signature, so a signature made for one kind can
never be replayed as another.

Parsing only establishes the form; which key and algorithm apply is decided by the caller from
the registry, never from the header.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from keys.algorithms import ALGORITHMS, PublicKey
from keys.encoding import b64url_decode, b64url_encode, dumps_canonical, loads_strict
from keys.errors import DocumentError
from keys.reasons import Reason
from keys.signer import Signer

# A permit's payload is DEFLATE data, not a JWT claims set, so its type says JWS, not JWT.
# Permits signed before December 2026 say "permit+jwt": they are printed on paper and may be in
# force for ten years, so that type is still read (and never written again).
TYP_PERMIT = "permit+jws"
TYP_PERMIT_BEFORE_2026_12 = "permit+jwt"
TYP_STATUS_LIST = "statuslist+jwt"
TYP_REGISTRY = "registry+jws"
TYP_ROOT = "root+jws"

MAX_KID_LENGTH = 64
_COMPACT_HEADER_MAX = 512  # characters of the encoded header; ours are under 100


# --- signing -------------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _encoded_header(alg: str, kid: str, typ: str, extra: tuple[tuple[str, Any], ...]) -> str:
    return b64url_encode(dumps_canonical({"alg": alg, "kid": kid, "typ": typ, **dict(extra)}))


def sign_compact(
    payload: bytes, signer: Signer, typ: str, extra_header: Mapping[str, Any] | None = None
) -> str:
    """Compact JWS over the exact `payload` bytes, header {alg, kid, typ, **extra_header} as
    canonical JSON.

    Written here rather than with PyJWT's encoder: a permit's header is the same for every
    permit a key signs, so it is encoded once, and PyJWT's per-token header handling cost as
    much as the Ed25519 signature itself (measured in bench/). PyJWT verifies these tokens in
    the test suite (tests/test_interop.py).
    """
    header = _encoded_header(signer.alg, signer.kid, typ, tuple(sorted((extra_header or {}).items())))
    signing_input = f"{header}.{b64url_encode(payload)}"
    return f"{signing_input}.{b64url_encode(signer.sign(signing_input.encode('ascii')))}"


def sign_general(payload: bytes, signers: Iterable[Signer], typ: str) -> dict[str, Any]:
    """General JSON serialisation: one payload, one protected header and signature per signer."""
    payload_b64 = b64url_encode(payload)
    signatures = []
    for signer in signers:
        protected = b64url_encode(dumps_canonical({"alg": signer.alg, "kid": signer.kid, "typ": typ}))
        signature = signer.sign(f"{protected}.{payload_b64}".encode("ascii"))
        signatures.append({"protected": protected, "signature": b64url_encode(signature)})
    if not signatures:
        raise ValueError("a document needs at least one signature")
    return {"payload": payload_b64, "signatures": signatures}


# --- parsing -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompactJWS:
    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes


def decode_header(segment: str) -> dict[str, Any]:
    """Decode a protected header segment: canonical base64url of a strict JSON object."""
    if len(segment) > _COMPACT_HEADER_MAX:
        raise DocumentError("header too large", reason=Reason.MALFORMED_TOKEN)
    try:
        header = loads_strict(b64url_decode(segment))
    except ValueError:
        raise DocumentError("header is not base64url JSON", reason=Reason.MALFORMED_TOKEN) from None
    if not isinstance(header, dict):
        raise DocumentError("header is not a JSON object", reason=Reason.MALFORMED_TOKEN)
    return header


def split_compact(token: object, max_length: int) -> tuple[str, str, str]:
    """The three segments of a compact JWS, after the size cap and the form checks.

    Nothing is decoded before the length is known to be acceptable; surrounding whitespace is
    an error, not something to strip.
    """
    if not isinstance(token, str):
        raise DocumentError("token must be a string", reason=Reason.MALFORMED_TOKEN)
    if len(token) > max_length:
        raise DocumentError("token is too large", reason=Reason.TOKEN_TOO_LARGE)
    # Counted before splitting: a long run of dots would otherwise become millions of strings.
    if token.count(".") != 2:
        raise DocumentError("not a compact JWS", reason=Reason.MALFORMED_TOKEN)
    parts = token.split(".")
    if not all(parts):
        raise DocumentError("not a compact JWS", reason=Reason.MALFORMED_TOKEN)
    return parts[0], parts[1], parts[2]


def parse_compact(token: object, max_length: int) -> CompactJWS:
    header_b64, payload_b64, signature_b64 = split_compact(token, max_length)
    header = decode_header(header_b64)
    try:
        payload = b64url_decode(payload_b64)
        signature = b64url_decode(signature_b64)
    except ValueError:
        raise DocumentError("segment is not canonical base64url", reason=Reason.MALFORMED_TOKEN) from None
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    return CompactJWS(header, payload, signing_input, signature)


def check_header(header: Mapping[str, Any], typ: str | frozenset[str], allowed: Collection[str]) -> tuple[str, str]:
    """Enforce the header profile for one kind of document; return (alg, kid). `typ`: the
    document's type, or the set of types it may carry (exactly, case included).

    Members outside `allowed` (jwk, jku, x5u, x5c, crit, b64, zip, …) are refused, never
    honoured: the registry alone says which key signs.
    """
    extra = header.keys() - allowed
    if extra:
        raise DocumentError("unsupported header member", reason=Reason.UNSUPPORTED_HEADER)
    found = header.get("typ")
    if not isinstance(found, str) or (found != typ if isinstance(typ, str) else found not in typ):
        raise DocumentError("wrong document type", reason=Reason.WRONG_TYPE)
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise DocumentError("algorithm not allowed", reason=Reason.UNSUPPORTED_HEADER)
    kid = header.get("kid")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_LENGTH:
        raise DocumentError("kid missing or malformed", reason=Reason.MALFORMED_TOKEN)
    return alg, kid


_GENERAL_HEADER = frozenset({"alg", "kid", "typ"})
# Both algorithms (keys/algorithms.py) make 64-byte signatures: Ed25519, and ES256 as r‖s.
SIGNATURE_CHARS = 86
# A general-JWS protected header is exactly {alg, kid, typ}: 68 characters encoded with a
# thumbprint kid, 138 with a kid of MAX_KID_LENGTH.
GENERAL_PROTECTED_MAX = 160


@dataclass(frozen=True, slots=True)
class Signature:
    """One entry of a general-JSON JWS, its form checked, its signature not yet."""

    alg: str
    kid: str
    protected: str
    signature: bytes


@dataclass(frozen=True, slots=True)
class GeneralJWS:
    """A general-JSON JWS whose form is checked and whose signatures are not yet: nothing in it
    is trusted, and its payload is still base64url text."""

    payload_b64: str
    signatures: tuple[Signature, ...]

    def payload(self) -> bytes:
        """The payload bytes; decode them only once the signatures are known to count."""
        try:
            return b64url_decode(self.payload_b64)
        except ValueError:
            raise _general_invalid("payload is not canonical base64url") from None


def _general_invalid(why: str) -> DocumentError:
    return DocumentError(why, reason=Reason.REGISTRY_INVALID)


def parse_general(document: object, typ: str, max_signatures: int, max_payload: int) -> GeneralJWS:
    """Check the form of a general-JSON JWS without any cryptography: exactly payload and
    signatures; a payload of at most `max_payload` characters; 1 to `max_signatures` entries,
    each exactly protected ({alg, kid, typ} with this `typ`) and a 64-byte signature; no kid
    twice. Sizes and counts are checked before anything is decoded.

    Raises DocumentError(registry_invalid)."""
    invalid = _general_invalid
    if not isinstance(document, dict) or document.keys() != {"payload", "signatures"}:
        raise invalid("signed document must have exactly payload and signatures")
    payload_b64, entries = document["payload"], document["signatures"]
    if not isinstance(payload_b64, str) or not isinstance(entries, list) or not entries:
        raise invalid("signed document is malformed")
    if len(payload_b64) > max_payload:
        raise invalid(f"payload is larger than {max_payload} characters")
    if not payload_b64.isascii():
        raise invalid("payload is not canonical base64url")
    if len(entries) > max_signatures:
        raise invalid(f"{len(entries)} signatures, at most {max_signatures} allowed")
    signatures: list[Signature] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.keys() != {"protected", "signature"}:
            raise invalid("each signature must have exactly protected and signature")
        protected, signature_b64 = entry["protected"], entry["signature"]
        if not isinstance(protected, str) or not isinstance(signature_b64, str):
            raise invalid("signature entry is malformed")
        if len(protected) > GENERAL_PROTECTED_MAX:
            raise invalid("signature header is too long")
        if len(signature_b64) != SIGNATURE_CHARS:
            raise invalid("signature is not 64 bytes")
        try:
            header = decode_header(protected)
            signature = b64url_decode(signature_b64)
        except (DocumentError, ValueError):
            raise invalid("signature entry is not canonical") from None
        if header.keys() != _GENERAL_HEADER:
            raise invalid("signature header must have exactly alg, kid and typ")
        if header["typ"] != typ:
            raise invalid("signature made for another kind of document")
        alg, kid = header["alg"], header["kid"]
        if not isinstance(alg, str) or not isinstance(kid, str):
            raise invalid("signature header alg and kid must be strings")
        signatures.append(Signature(alg, kid, protected, signature))
    kids = [s.kid for s in signatures]
    if len(set(kids)) != len(kids):
        # One signature per key, as the registry counts them: a repeat only adds work.
        repeated = next(kid for kid in kids if kids.count(kid) > 1)
        raise invalid(f"key {repeated!r} signs more than once")
    return GeneralJWS(payload_b64, tuple(signatures))


def verify_general(jws: GeneralJWS, keys: Mapping[str, PublicKey]) -> frozenset[str]:
    """The kids of `keys` whose signatures over `jws` verify. Signatures by keys outside `keys`,
    or under another algorithm than the key's, are not counted and cost no cryptography. The
    caller applies the threshold.

    Raises DocumentError(registry_invalid) when there are more signatures than `keys` holds."""
    if len(jws.signatures) > len(keys):
        raise _general_invalid(f"{len(jws.signatures)} signatures for {len(keys)} key(s)")
    signed_by: set[str] = set()
    for entry in jws.signatures:
        key = keys.get(entry.kid)
        if key is None or key.alg != entry.alg:
            continue
        if key.verify(entry.signature, f"{entry.protected}.{jws.payload_b64}".encode("ascii")):
            signed_by.add(entry.kid)
    return frozenset(signed_by)
