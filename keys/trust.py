"""The root of trust and the published registry bundle (TUF-style).

A verifier is configured by hand with one thing, the trust anchor: the city's root public keys
and threshold (a root document). Everything else arrives signed, from anywhere, in one file:

    {"roots": [signed root v1, v2, …], "registry": signed registry}

`open_bundle` checks it all before trusting any of it: each new root version is signed by a
threshold of the previous root's keys and of its own (so the chain can be followed from an old
anchor across key rotations), the registry is signed by a threshold of the newest root, its
version does not go back (rollback), and it has not expired (freeze).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from keys import fields
from keys.algorithms import KeyRejected, PublicKey, load_public_jwk
from keys.encoding import b64url_decode, dumps_canonical, loads_strict
from keys.errors import DocumentError, RegistryError
from keys.fields import FieldError
from keys.jws import TYP_REGISTRY, TYP_ROOT, sign_general, verify_general
from keys.registry import Registry
from keys.signer import Signer

MAX_BUNDLE_BYTES = 16 * 1024 * 1024
MAX_ROOT_KEYS = 16
# A registry may be signed on a machine whose clock is a little ahead of the verifier's.
ISSUED_AT_LEEWAY = 300


@dataclass(frozen=True)
class Root:
    """One version of the root of trust: the keys that sign the registry and how many must."""

    registry: str
    version: int
    threshold: int
    keys: Mapping[str, PublicKey]

    def __post_init__(self) -> None:
        fields.identifier(self.registry, "root registry id")
        fields.integer(self.version, "root version", 1)
        if not 0 < len(self.keys) <= MAX_ROOT_KEYS:
            raise FieldError("bad", f"a root needs 1 to {MAX_ROOT_KEYS} keys")
        # A threshold of zero would trust anything: refuse it, as any empty policy.
        fields.integer(self.threshold, "root threshold", 1, len(self.keys))
        for kid, key in self.keys.items():
            if key.kid != kid:
                raise FieldError("bad", f"root key {kid}: kid is not the thumbprint of the key")

    def to_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "version": self.version,
            "threshold": self.threshold,
            "keys": {kid: {"alg": k.alg, "jwk": dict(k.jwk)} for kid, k in sorted(self.keys.items())},
        }

    @classmethod
    def from_dict(cls, obj: object) -> Root:
        m = fields.members(obj, "root", ("registry", "version", "threshold", "keys"))
        if not isinstance(m["keys"], dict):
            raise FieldError("bad", "root keys must be an object")
        keys = {}
        for kid, entry in m["keys"].items():
            k = fields.members(entry, f"root key {kid}", ("alg", "jwk"))
            try:
                keys[kid] = load_public_jwk(k["jwk"], k["alg"])
            except KeyRejected as exc:
                raise FieldError("bad", f"root key {kid}: {exc}") from None
        return cls(registry=m["registry"], version=m["version"], threshold=m["threshold"], keys=keys)

    def signed_by_threshold(self, kids: frozenset[str]) -> bool:
        return len(kids & self.keys.keys()) >= self.threshold


@dataclass(frozen=True)
class TrustState:
    """What a verifier last accepted, so that it never goes back."""

    root: Root
    registry_version: int
    registry_digest: str


@dataclass(frozen=True)
class TrustedRegistry:
    """A registry that passed every check, with the root it was checked against."""

    registry: Registry
    root: Root
    digest: str
    bundle: bytes

    @property
    def state(self) -> TrustState:
        return TrustState(self.root, self.registry.version, self.digest)


def sign_root(root: Root, signers: Iterable[Signer]) -> dict[str, Any]:
    return sign_general(dumps_canonical(root.to_dict()), signers, TYP_ROOT)


def sign_registry(registry: Registry, signers: Iterable[Signer]) -> dict[str, Any]:
    return sign_general(dumps_canonical(registry.to_dict()), signers, TYP_REGISTRY)


def make_bundle(signed_roots: list[dict[str, Any]], signed_registry: dict[str, Any]) -> bytes:
    return dumps_canonical({"roots": signed_roots, "registry": signed_registry}) + b"\n"


def _invalid(why: str) -> RegistryError:
    return RegistryError(f"registry not trusted: {why}", reason="registry_invalid")


def _payload(document: object, typ: str, keys: Mapping[str, PublicKey]) -> tuple[Any, frozenset[str]]:
    try:
        payload, signed_by = verify_general(document, typ, keys)
        return loads_strict(payload), signed_by
    except DocumentError as exc:
        raise _invalid(str(exc)) from None
    except ValueError as exc:
        raise _invalid(f"payload is not strict JSON ({exc})") from None


def follow_roots(anchor: Root, signed_roots: object) -> Root:
    """Walk the root chain from `anchor`; return the newest root reachable by valid rotations."""
    if not isinstance(signed_roots, list):
        raise _invalid("roots must be a list")
    current = anchor
    for document in signed_roots:
        # Read the version first (unverified) to know which keys must have signed it.
        claimed = _peek_root(document)
        if claimed.version <= current.version:
            continue  # already trusted through the anchor or an earlier link
        if claimed.version != current.version + 1:
            raise _invalid(f"root chain skips from version {current.version} to {claimed.version}")
        if claimed.registry != current.registry:
            raise _invalid("root chain belongs to another registry")
        _, signed_by = _payload(document, TYP_ROOT, {**current.keys, **claimed.keys})
        # TUF rotation rule: a threshold of the old keys and of the new keys.
        if not (current.signed_by_threshold(signed_by) and claimed.signed_by_threshold(signed_by)):
            raise _invalid(f"root version {claimed.version} is not signed by the thresholds of the old and new root keys")
        current = claimed
    return current


def _peek_root(document: object) -> Root:
    if not isinstance(document, dict) or not isinstance(document.get("payload"), str):
        raise _invalid("root document is malformed")
    try:
        return Root.from_dict(loads_strict(b64url_decode(document["payload"])))
    except (ValueError, FieldError) as exc:
        raise _invalid(f"root document: {exc}") from None


def open_bundle(
    raw: bytes, anchor: Root, now: int, state: TrustState | None = None, *, allow_stale: bool = False
) -> TrustedRegistry:
    """Verify a published registry bundle; raise RegistryError with reason registry_invalid,
    registry_rollback or registry_stale. `state` is what this verifier accepted before.
    `allow_stale`: an expired registry is still genuine (a restore keeps it; the home then says
    registry_stale until a newer one arrives)."""
    if len(raw) > MAX_BUNDLE_BYTES:
        raise _invalid("bundle is too large")
    try:
        bundle = fields.members(loads_strict(raw), "bundle", ("roots", "registry"))
    except (ValueError, FieldError) as exc:
        raise _invalid(str(exc)) from None
    start = anchor
    if state is not None and state.root.version > anchor.version:
        start = state.root
    root = follow_roots(start, bundle["roots"])
    content, signed_by = _payload(bundle["registry"], TYP_REGISTRY, root.keys)
    if not root.signed_by_threshold(signed_by):
        raise _invalid(f"signed by {len(signed_by & root.keys.keys())} root key(s), {root.threshold} required")
    try:
        registry = Registry.from_dict(content)
    except FieldError as exc:
        raise _invalid(str(exc)) from None
    if registry.id != root.registry:
        raise _invalid("registry id does not match the root")
    if not registry.agencies:
        raise _invalid("registry authorises no agency")
    digest = hashlib.sha256(dumps_canonical(content)).hexdigest()
    if state is not None:
        if registry.version < state.registry_version:
            raise RegistryError(
                f"registry version {registry.version} is older than version {state.registry_version} already accepted",
                reason="registry_rollback",
            )
        if registry.version == state.registry_version and digest != state.registry_digest:
            raise RegistryError(
                f"a different registry with the same version {registry.version}", reason="registry_rollback"
            )
    if registry.issued_at > now + ISSUED_AT_LEEWAY:
        raise _invalid("registry issued in the future")
    if now >= registry.expires_at and not allow_stale:
        raise RegistryError(f"registry version {registry.version} has expired", reason="registry_stale")
    return TrustedRegistry(registry=registry, root=root, digest=digest, bundle=raw)
