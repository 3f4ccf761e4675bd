"""The two signature algorithms the project allows, their public JWKs and their key checks.

EdDSA (Ed25519) is the default: small keys, small signatures, no nonce to get wrong. ES256
(ECDSA P-256, signatures as raw r‖s per RFC 7518 §3.4) is allowed where an agency's hardware
only does NIST curves. Nothing else is ever accepted.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from keys.encoding import b64url_decode, b64url_encode, dumps_canonical
from keys.errors import InputError
from keys.reasons import Reason

Alg = Literal["EdDSA", "ES256"]
ALGORITHMS: tuple[Alg, ...] = ("EdDSA", "ES256")
DEFAULT_ALG: Alg = "EdDSA"

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
RawPublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey

# A kid is the RFC 7638 thumbprint cut to 72 bits (12 base64url characters): every character
# costs QR modules, and the registry refuses a second key with the same kid, so a collision
# can only block a registration, never confuse a verifier.
KID_LENGTH = 12

# Members a JWK may carry that reveal private or symmetric key material.
_SECRET_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
# Members a handed-over public JWK file may carry besides the key itself.
_ADVISORY_MEMBERS = frozenset({"alg", "use", "kid", "key_ops"})

_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_P256_PRIME = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())
# RFC 6979: the nonce is derived from key and message, so signing needs no randomness
# (a weak RNG cannot leak the key) and test vectors are reproducible.
_ECDSA_SHA256_DETERMINISTIC = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


@dataclass(frozen=True)
class PublicKey:
    """A validated public key bound to exactly one algorithm."""

    alg: Alg
    jwk: dict[str, str] = field(compare=True)
    key: RawPublicKey = field(compare=False, repr=False)

    @property
    def thumbprint(self) -> str:
        return jwk_thumbprint(self.jwk)

    @property
    def kid(self) -> str:
        return self.thumbprint[:KID_LENGTH]

    def verify(self, signature: bytes, message: bytes) -> bool:
        """True only for a valid signature; every failure is simply False."""
        return verify_signature(self.alg, self.key, signature, message)

    def handover_jwk(self) -> dict[str, str]:
        """The public JWK as an agency hands it to the registry operator."""
        return {**self.jwk, "alg": self.alg, "use": "sig", "kid": self.kid}


def jwk_thumbprint(jwk: dict[str, str]) -> str:
    """RFC 7638 thumbprint (SHA-256, base64url) over the required members only."""
    required = ("crv", "kty", "x") if jwk["kty"] == "OKP" else ("crv", "kty", "x", "y")
    members = {name: jwk[name] for name in required}
    return b64url_encode(hashlib.sha256(dumps_canonical(members)).digest())


def verify_signature(alg: str, key: RawPublicKey, signature: bytes, message: bytes) -> bool:
    try:
        if alg == "EdDSA" and isinstance(key, ed25519.Ed25519PublicKey):
            if len(signature) != 64:
                return False
            key.verify(signature, message)
            return True
        if alg == "ES256" and isinstance(key, ec.EllipticCurvePublicKey):
            if len(signature) != 64:
                return False
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            if not (0 < r < _P256_ORDER and 0 < s < _P256_ORDER):
                return False
            key.verify(encode_dss_signature(r, s), message, _ECDSA_SHA256)
            return True
    except InvalidSignature:
        return False
    return False


def generate_private_key(alg: Alg = DEFAULT_ALG) -> PrivateKey:
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    raise InputError(f"unsupported algorithm {alg!r}; use EdDSA or ES256", reason=Reason.BAD_ALGORITHM)


def alg_of(private_key: PrivateKey) -> Alg:
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    if isinstance(private_key, ec.EllipticCurvePrivateKey) and isinstance(
        private_key.curve, ec.SECP256R1
    ):
        return "ES256"
    raise InputError("key is neither Ed25519 nor P-256", reason=Reason.BAD_ALGORITHM)


def sign_raw(private_key: PrivateKey, message: bytes) -> bytes:
    """Sign in the JWS encoding: 64-byte Ed25519 signature, or raw r‖s for ES256."""
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return private_key.sign(message)
    r, s = decode_dss_signature(private_key.sign(message, _ECDSA_SHA256_DETERMINISTIC))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def public_jwk_of(key: RawPublicKey) -> dict[str, str]:
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(Encoding.Raw, PublicFormat.Raw)
        return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}
    numbers = key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(numbers.x.to_bytes(32, "big")),
        "y": b64url_encode(numbers.y.to_bytes(32, "big")),
    }


def public_key_of(private_key: PrivateKey) -> PublicKey:
    raw = private_key.public_key()
    return PublicKey(alg=alg_of(private_key), jwk=public_jwk_of(raw), key=raw)


class KeyRejected(ValueError):
    """A JWK is not an acceptable public key; the message says why in one line."""


def load_public_jwk(jwk: object, alg: str) -> PublicKey:
    """Validate a public JWK for `alg` and return the key.

    Refused: anything but a JSON object; private or symmetric members; a key type or curve
    that does not match `alg`; `use` other than "sig"; an `alg` member that disagrees;
    coordinates that are not canonical fixed-length base64url; a point not on the curve; a
    small-order (degenerate) Ed25519 point. Raises KeyRejected.
    """
    if alg not in ALGORITHMS:
        raise KeyRejected(f"algorithm {alg!r} is not allowed")
    if not isinstance(jwk, dict) or not all(isinstance(v, str) for v in jwk.values()):
        raise KeyRejected("a JWK must be an object of strings")
    secret = _SECRET_MEMBERS & jwk.keys()
    if secret:
        raise KeyRejected("the JWK holds private or symmetric key material; hand over the public key only")
    if jwk.get("use", "sig") != "sig":
        raise KeyRejected("the JWK is not a signing key (use must be 'sig')")
    if jwk.get("alg", alg) != alg:
        raise KeyRejected(f"the JWK says alg {jwk['alg']!r}, the registry entry says {alg!r}")
    if "key_ops" in jwk:
        raise KeyRejected("key_ops is not supported; omit it")
    if alg == "EdDSA":
        return _load_ed25519(jwk)
    return _load_p256(jwk)


def _expect_members(jwk: dict[str, str], required: set[str]) -> None:
    missing = required - jwk.keys()
    unknown = jwk.keys() - required - _ADVISORY_MEMBERS
    if missing:
        raise KeyRejected(f"the JWK lacks {', '.join(sorted(missing))}")
    if unknown:
        raise KeyRejected(f"the JWK has unexpected members {', '.join(sorted(unknown))}")


def _coordinate(jwk: dict[str, str], name: str) -> bytes:
    try:
        raw = b64url_decode(jwk[name])
    except ValueError:
        raise KeyRejected(f"JWK member {name} is not canonical base64url") from None
    if len(raw) != 32:
        raise KeyRejected(f"JWK member {name} must be 32 bytes")
    return raw


def _load_ed25519(jwk: dict[str, str]) -> PublicKey:
    _expect_members(jwk, {"kty", "crv", "x"})
    if jwk["kty"] != "OKP" or jwk["crv"] != "Ed25519":
        raise KeyRejected("an EdDSA key must be kty OKP, crv Ed25519")
    raw = _coordinate(jwk, "x")
    if not _ed25519_point_is_sound(raw):
        raise KeyRejected("the Ed25519 public key is not a valid, full-order curve point")
    key = ed25519.Ed25519PublicKey.from_public_bytes(raw)
    return PublicKey(alg="EdDSA", jwk={"kty": "OKP", "crv": "Ed25519", "x": jwk["x"]}, key=key)


def _load_p256(jwk: dict[str, str]) -> PublicKey:
    _expect_members(jwk, {"kty", "crv", "x", "y"})
    if jwk["kty"] != "EC" or jwk["crv"] != "P-256":
        raise KeyRejected("an ES256 key must be kty EC, crv P-256")
    x = int.from_bytes(_coordinate(jwk, "x"), "big")
    y = int.from_bytes(_coordinate(jwk, "y"), "big")
    # OpenSSL reduces coordinates modulo p; x + p would be a second spelling (and a second
    # kid) of the same key, a way to register a retired key again.
    if not (x < _P256_PRIME and y < _P256_PRIME):
        raise KeyRejected("P-256 coordinates must be less than the field prime")
    try:
        # OpenSSL checks the coordinates are field elements and the point is on the curve;
        # P-256 has cofactor 1, so every such point other than infinity has full order.
        key = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError:
        raise KeyRejected("the P-256 public key is not a point on the curve") from None
    return PublicKey(
        alg="ES256",
        jwk={"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"]},
        key=key,
    )


# --- Ed25519 point checks (RFC 8032 §5.1.3) --------------------------------------------------
_P = 2**255 - 19
_D = (-121665 * pow(121666, _P - 2, _P)) % _P
_SQRT_M1 = pow(2, (_P - 1) // 4, _P)


def _ed25519_point_is_sound(encoded: bytes) -> bool:
    """Canonical encoding of a curve point whose order is not a divisor of 8.

    OpenSSL accepts small-order public keys, for which a forged signature can verify for
    every message; they can only come from a broken or malicious key generator.
    """
    value = int.from_bytes(encoded, "little")
    sign = value >> 255
    y = value & ((1 << 255) - 1)
    if y >= _P:
        return False
    u = (y * y - 1) % _P
    v = (_D * y * y + 1) % _P
    x = (u * pow(v, 3, _P) * pow(u * pow(v, 7, _P), (_P - 5) // 8, _P)) % _P
    vx2 = (v * x * x) % _P
    if vx2 == (-u) % _P:
        x = (x * _SQRT_M1) % _P
    elif vx2 != u:
        return False  # not on the curve
    if x == 0 and sign:
        return False  # non-canonical encoding of x = 0
    # Multiply by the cofactor 8 (three doublings, extended coordinates, a = -1).
    X, Y, Z = x, y, 1
    for _ in range(3):
        A, B, C = X * X % _P, Y * Y % _P, 2 * Z * Z % _P
        E = ((X + Y) * (X + Y) - A - B) % _P
        G = (B - A) % _P
        F = (G - C) % _P
        H = (-A - B) % _P
        X, Y, Z = E * F % _P, G * H % _P, F * G % _P
    return not (X == 0 and Y == Z)
