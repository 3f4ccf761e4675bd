"""The Signer protocol: what permits/ and the registry need from a private key.

Anything with a kid, an alg and a sign() can issue permits, so a hardware security module or
a remote signing service can replace a key file without touching permits/.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from keys.algorithms import Alg, PrivateKey, PublicKey, public_key_of, sign_raw


@runtime_checkable
class Signer(Protocol):
    @property
    def kid(self) -> str: ...

    @property
    def alg(self) -> Alg: ...

    def sign(self, data: bytes) -> bytes:
        """Return the JWS signature of `data` (64 bytes for both allowed algorithms)."""
        ...

    def public_key(self) -> PublicKey: ...


class KeySigner:
    """A Signer over a private key held in memory (loaded from an encrypted key file)."""

    def __init__(self, private_key: PrivateKey) -> None:
        self._private_key = private_key
        self._public = public_key_of(private_key)
        # A thumbprint hashes the JWK: once, not with each signature (8 µs of the 46 an
        # import's signature took, measured; an import signs a million).
        self._kid = self._public.kid

    @property
    def kid(self) -> str:
        return self._kid

    @property
    def alg(self) -> Alg:
        return self._public.alg

    def sign(self, data: bytes) -> bytes:
        return sign_raw(self._private_key, data)

    def public_key(self) -> PublicKey:
        return self._public

    def __repr__(self) -> str:
        return f"KeySigner(kid={self.kid!r}, alg={self.alg!r})"
