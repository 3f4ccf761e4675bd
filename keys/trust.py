"""The root of trust and the published registry bundle (TUF-style).

A verifier is configured by hand with one thing, the trust anchor: the city's root public keys
and threshold (a root document). Everything else arrives signed, from anywhere, in one file:

    {"roots": [signed root v1, v2, …], "registry": signed registry}

`open_bundle` checks it all before trusting any of it: each new root version is signed by a
threshold of the previous root's keys and of its own (so the chain can be followed from an old
anchor across key rotations), the registry is signed by a threshold of the newest root, its
version does not go back (rollback), and it has not expired (freeze).

A bundle comes from anyone, so the work it may cause is bounded before any of it is done: its
size, the length of the root chain, the size of every payload and the number of signatures
(one per root key at most) are checked on its form alone, before any key is parsed or any
signature checked; a payload is decoded only once a threshold has signed it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from keys import fields
from keys.algorithms import KeyRejected, PublicKey, load_public_jwk
from keys.encoding import dumps_canonical, loads_strict
from keys.errors import DocumentError, RegistryError, RegistryRollback, RegistryStale
from keys.fields import ISSUED_AT_LEEWAY, FieldError
from keys.jws import (
    GENERAL_PROTECTED_MAX,
    SIGNATURE_CHARS,
    TYP_REGISTRY,
    TYP_ROOT,
    GeneralJWS,
    parse_general,
    sign_general,
    verify_general,
)
from keys.reasons import Reason
from keys.registry import Registry
from keys.signer import Signer

# --- capacity: what one registry may hold, and the sizes that follow from it -----------------
#
# Comfortably more than the benchmark world (bench/world.py: 1,000 agencies × 3 keys, 4 types)
# and than a national registry for Viet Nam after the 2025 reorganisation: about 4,000 issuing
# bodies (3,321 communes, some 700 departments of 34 provinces, the ministries), each with its
# key in use and a few superseded ones, and the 227 conditional business lines of the Investment
# Law with room for other permits.
MAX_AGENCIES = 5_000
MAX_KEYS_PER_AGENCY = 8  # a key every two years for a ten-year permit, and room for compromises
MAX_KEYS = 20_000  # in the whole registry: four per agency on average
MAX_TYPES = 500
MAX_ROOT_KEYS = 16
MAX_ROOT_CHAIN = 32  # root versions in one bundle: a rotation a year for 32 years

# Bytes of one entry as canonical JSON, generously above measured real ones: an agency with a
# 50-character Vietnamese name, its English name, four types and an https status URL, without
# its keys, 338 (and 418 with a contact, a phone number and a web address); a retired P-256
# agency key 243; a permit type 179; a P-256 root key 180.
AGENCY_BYTES = 512
KEY_BYTES = 256
TYPE_BYTES = 256
REGISTRY_HEAD_BYTES = 1_024  # id, name, version and times
ROOT_KEY_BYTES = 256
ROOT_HEAD_BYTES = 256


def _base64url_length(size: int) -> int:
    return (4 * size + 2) // 3


MAX_REGISTRY_PAYLOAD = _base64url_length(
    REGISTRY_HEAD_BYTES + MAX_AGENCIES * AGENCY_BYTES + MAX_KEYS * KEY_BYTES + MAX_TYPES * TYPE_BYTES
)
MAX_ROOT_PAYLOAD = _base64url_length(ROOT_HEAD_BYTES + MAX_ROOT_KEYS * ROOT_KEY_BYTES)
_SIGNATURE_ENTRY = len('{"protected":"","signature":""},') + GENERAL_PROTECTED_MAX + SIGNATURE_CHARS
_SIGNED_DOCUMENT = len('{"payload":"","signatures":[]},')
# A root rotation is signed by old and new keys: up to twice MAX_ROOT_KEYS signatures.
MAX_ROOT_DOCUMENT = _SIGNED_DOCUMENT + MAX_ROOT_PAYLOAD + 2 * MAX_ROOT_KEYS * _SIGNATURE_ENTRY
MAX_REGISTRY_DOCUMENT = _SIGNED_DOCUMENT + MAX_REGISTRY_PAYLOAD + MAX_ROOT_KEYS * _SIGNATURE_ENTRY
# The largest bundle the limits above allow, as make_bundle writes it: 10,887,896 bytes.
MAX_BUNDLE_BYTES = len('{"registry":,"roots":[]}\n') + MAX_ROOT_CHAIN * MAX_ROOT_DOCUMENT + MAX_REGISTRY_DOCUMENT



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
        if not 0 < len(m["keys"]) <= MAX_ROOT_KEYS:  # counted before any key is parsed
            raise FieldError("bad", f"a root needs 1 to {MAX_ROOT_KEYS} keys")
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
    return RegistryError(f"registry not trusted: {why}", reason=Reason.REGISTRY_INVALID)


def _form(document: object, typ: str, max_signatures: int, max_payload: int) -> GeneralJWS:
    try:
        return parse_general(document, typ, max_signatures, max_payload)
    except DocumentError as exc:
        raise _invalid(str(exc)) from None


def _chain(signed_roots: object) -> list[GeneralJWS]:
    """The root chain's form, before anything in it is decoded."""
    if not isinstance(signed_roots, list):
        raise _invalid("roots must be a list")
    if len(signed_roots) > MAX_ROOT_CHAIN:
        raise _invalid(f"root chain of {len(signed_roots)} versions, at most {MAX_ROOT_CHAIN}")
    return [_form(document, TYP_ROOT, 2 * MAX_ROOT_KEYS, MAX_ROOT_PAYLOAD) for document in signed_roots]


def _signed_by(document: GeneralJWS, keys: Mapping[str, PublicKey]) -> frozenset[str]:
    try:
        return verify_general(document, keys)
    except DocumentError as exc:
        raise _invalid(str(exc)) from None


def _content(document: GeneralJWS, what: str) -> Any:
    try:
        return loads_strict(document.payload())
    except DocumentError as exc:
        raise _invalid(f"{what}: {exc}") from None
    except ValueError as exc:
        raise _invalid(f"{what}: payload is not strict JSON ({exc})") from None


def _root_version(document: GeneralJWS) -> int:
    """The version a root document claims, read without verifying it or parsing its keys: it
    says which keys must have signed it. Its payload is small (MAX_ROOT_PAYLOAD)."""
    claimed = _content(document, "root document")
    version = claimed.get("version") if isinstance(claimed, dict) else None
    if type(version) is not int:
        raise _invalid("root document has no version")
    return version


def follow_roots(anchor: Root, signed_roots: object) -> Root:
    """Walk the root chain from `anchor`; return the newest root reachable by valid rotations."""
    return _follow(anchor, _chain(signed_roots))


def _follow(anchor: Root, chain: Sequence[GeneralJWS]) -> Root:
    current = anchor
    for document in chain:
        version = _root_version(document)
        if version <= current.version:
            continue  # already trusted through the anchor or an earlier link; its keys are not parsed
        if version != current.version + 1:
            raise _invalid(f"root chain skips from version {current.version} to {version}")
        claimed = _claimed_root(document)
        if claimed.registry != current.registry:
            raise _invalid("root chain belongs to another registry")
        signed_by = _signed_by(document, {**current.keys, **claimed.keys})
        # TUF rotation rule: a threshold of the old keys and of the new keys.
        if not (current.signed_by_threshold(signed_by) and claimed.signed_by_threshold(signed_by)):
            raise _invalid(f"root version {version} is not signed by the thresholds of the old and new root keys")
        current = claimed
    return current


def _claimed_root(document: GeneralJWS) -> Root:
    """The root a document claims, keys parsed but not yet verified: only for the one version
    checked next."""
    try:
        return Root.from_dict(_content(document, "root document"))
    except FieldError as exc:
        raise _invalid(f"root document: {exc}") from None


def _within_capacity(content: object) -> None:
    """Refuse a registry larger than the capacity (counted before any key of it is parsed)."""
    if not isinstance(content, dict):
        return  # Registry.from_dict says what is wrong with it
    types, agencies = content.get("types"), content.get("agencies")
    if isinstance(types, dict) and len(types) > MAX_TYPES:
        raise _invalid(f"{len(types)} permit types, at most {MAX_TYPES}")
    if not isinstance(agencies, dict):
        return
    if len(agencies) > MAX_AGENCIES:
        raise _invalid(f"{len(agencies)} agencies, at most {MAX_AGENCIES}")
    total = 0
    for agency_id, agency in agencies.items():
        keys = agency.get("keys") if isinstance(agency, dict) else None
        count = len(keys) if isinstance(keys, dict) else 0
        if count > MAX_KEYS_PER_AGENCY:
            raise _invalid(f"agency {agency_id} has {count} keys, at most {MAX_KEYS_PER_AGENCY}")
        total += count
    if total > MAX_KEYS:
        raise _invalid(f"{total} agency keys, at most {MAX_KEYS}")


def open_bundle(
    raw: bytes, anchor: Root, now: int, state: TrustState | None = None, *, allow_stale: bool = False
) -> TrustedRegistry:
    """Verify a published registry bundle; raise RegistryError with reason registry_invalid,
    registry_rollback or registry_stale. `state` is what this verifier accepted before.
    `allow_stale`: an expired registry is still genuine (a restore keeps it; the home then says
    registry_stale until a newer one arrives)."""
    if len(raw) > MAX_BUNDLE_BYTES:
        raise _invalid(f"bundle is larger than {MAX_BUNDLE_BYTES} bytes")
    try:
        bundle = fields.members(loads_strict(raw), "bundle", ("roots", "registry"))
    except (ValueError, FieldError) as exc:
        raise _invalid(str(exc)) from None
    # The whole form first: nothing is verified or parsed in a bundle that is the wrong shape.
    chain = _chain(bundle["roots"])
    document = _form(bundle["registry"], TYP_REGISTRY, MAX_ROOT_KEYS, MAX_REGISTRY_PAYLOAD)
    start = anchor
    if state is not None and state.root.version > anchor.version:
        start = state.root
    root = _follow(start, chain)
    signed_by = _signed_by(document, root.keys)
    if not root.signed_by_threshold(signed_by):
        raise _invalid(f"signed by {len(signed_by & root.keys.keys())} root key(s), {root.threshold} required")
    content = _content(document, "registry")
    _within_capacity(content)
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
            raise RegistryRollback(
                f"registry version {registry.version} is older than version {state.registry_version} already accepted"
            )
        if registry.version == state.registry_version and digest != state.registry_digest:
            raise RegistryRollback(f"a different registry with the same version {registry.version}")
    if registry.issued_at > now + ISSUED_AT_LEEWAY:
        raise _invalid("registry issued in the future")
    if now >= registry.expires_at and not allow_stale:
        raise RegistryStale(f"registry version {registry.version} has expired")
    return TrustedRegistry(registry=registry, root=root, digest=digest, bundle=raw)
