"""The verification pipeline: (token, registry, status lists, now) → Verdict. Pure and fast.

Every check a permit must pass, in an order where nothing is decoded before it may be: size
and form first; the key from the registry by kid (never from the header); the signature; only
then the claims are inflated and read, and checked against what the registry says about the
issuer, its key and its authority; then time; then the issuer's status list; then, in the same status lists, the state of each
permit it rests on (its basis), one level deep.

The token is parsed once. Headers repeat (one per key), so decoded headers are cached; the
signature check is the only expensive step, and nothing is done twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from keys.encoding import b64url_decode
from keys.errors import DocumentError
from keys.fields import FieldError
from keys.jws import TYP_PERMIT, TYP_PERMIT_BEFORE_2026_12, check_header, decode_header, split_compact
from keys.reasons import Reason
from keys.registry import Registry
from permits.model import BasisRef, Permit
from permits.status_list import Status, StatusList
from permits.token import DICTIONARIES, MAX_TOKEN_LENGTH, PERMIT_HEADER_MEMBERS, inflate_claims
from verifier.verdict import BasisState, Verdict, status_for

# Clock difference tolerated between issuer and verifier, in seconds.
LEEWAY = 60
_DAY = 86_400
_FIELD_REASON = {"missing": Reason.MISSING_CLAIM, "bad": Reason.BAD_CLAIM, "text": Reason.NON_CANONICAL_TEXT}
# What a permit's header may say it is: today's type, and the one permits signed before it carry.
_PERMIT_TYPES = frozenset({TYP_PERMIT, TYP_PERMIT_BEFORE_2026_12})
_STATUS_REASON = {Status.REVOKED: Reason.REVOKED, Status.SUSPENDED: Reason.SUSPENDED, Status.SUPERSEDED: Reason.SUPERSEDED}
# A basis's entry in its issuer's list, as a state of the basis and what it makes the permit.
# Superseded is an amended basis: its lineage is in force, since revoking or suspending a later
# version marks the earlier ones too (permits/issuing.py).
_BASIS_OF_STATUS: dict[int, tuple[str, Reason | None]] = {
    Status.VALID: ("valid", None),
    Status.SUPERSEDED: ("amended", None),
    Status.REVOKED: ("revoked", Reason.BASIS_REVOKED),
    Status.SUSPENDED: ("suspended", Reason.BASIS_SUSPENDED),
}


@lru_cache(maxsize=1024)
def _permit_header(segment: str) -> tuple[str, str, str]:
    header = decode_header(segment)
    alg, kid = check_header(header, _PERMIT_TYPES, PERMIT_HEADER_MEMBERS)
    zip_name = header.get("zip")
    if type(zip_name) is not str or zip_name not in DICTIONARIES:
        raise DocumentError("unsupported compression", reason=Reason.UNSUPPORTED_HEADER)
    return alg, kid, zip_name


def verify(
    token: object,
    registry: Registry,
    status_lists: Mapping[str, StatusList],
    now: int,
    *,
    grace: int = 0,
) -> Verdict:
    """Verify one permit token. Never raises for any token; the verdict says what was wrong.

    `registry` must already be trusted (keys.trust.open_bundle); `status_lists` maps agency id
    to that agency's verified list. A registry or status list more than `grace` seconds past
    its expiry is stale: the verdict is then never `valid`.
    """

    def refused(reason: Reason) -> Verdict:
        return Verdict("invalid", (reason,), now, registry.version)

    try:
        header_b64, payload_b64, signature_b64 = split_compact(token, MAX_TOKEN_LENGTH)
        alg, kid, zip_name = _permit_header(header_b64)
        payload = b64url_decode(payload_b64)
        signature = b64url_decode(signature_b64)
    except DocumentError as exc:
        return refused(exc.reason)
    except ValueError:
        return refused(Reason.MALFORMED_TOKEN)

    key = registry.key(kid)
    if key is None:
        return refused(Reason.UNKNOWN_KEY)
    if key.alg != alg:
        return refused(Reason.ALGORITHM_MISMATCH)
    if not key.public_key.verify(signature, f"{header_b64}.{payload_b64}".encode("ascii")):
        return refused(Reason.BAD_SIGNATURE)

    # The bytes are the issuer's; now they may be read.
    try:
        permit = Permit.from_claims(inflate_claims(payload, zip_name))
    except FieldError as exc:
        return refused(_FIELD_REASON[exc.problem])
    except ValueError:
        return refused(Reason.MALFORMED_TOKEN)

    agency = registry.agencies.get(permit.agency)
    if agency is None:
        return refused(Reason.UNKNOWN_ISSUER)
    if key.agency != permit.agency:
        return refused(Reason.ISSUER_KEY_MISMATCH)
    if key.compromised:
        return refused(Reason.KEY_COMPROMISED)
    if not key.usable_for_signing_at(permit.issued_at):
        return refused(Reason.KEY_NOT_VALID_AT_ISSUE)
    permit_type = registry.types.get(permit.type)
    if permit_type is None or permit.type not in agency.types:
        return refused(Reason.NOT_AUTHORISED_FOR_TYPE)
    if permit.lifetime > permit_type.max_days * _DAY:
        return refused(Reason.BAD_CLAIM)
    if permit.issued_at > now + LEEWAY:
        return refused(Reason.ISSUED_IN_FUTURE)

    reasons: list[Reason] = []
    if now >= permit.valid_until + LEEWAY:
        reasons.append(Reason.EXPIRED)
    elif now + LEEWAY < permit.valid_from:
        reasons.append(Reason.NOT_YET_VALID)

    status_list = status_lists.get(permit.agency)
    status = status_list.status(permit.status_index) if status_list is not None else None
    if status is None:
        reasons.append(Reason.STATUS_UNAVAILABLE)
    elif status_list is not None and status_list.is_expired(now - grace):
        # A revocation is final, so a stale list still proves it; anything else may have changed.
        reasons.append(Reason.REVOKED if status == Status.REVOKED else Reason.STATUS_STALE)
    elif status:
        reasons.append(_STATUS_REASON[Status(status)])

    basis = tuple(_basis_state(ref, registry, status_lists, now - grace) for ref in permit.basis) if permit.basis else ()
    for state in basis:
        if state.reason is not None and state.reason not in reasons:
            reasons.append(state.reason)

    if now >= registry.expires_at + grace:
        reasons.append(Reason.REGISTRY_STALE)

    final = tuple(reasons)
    return Verdict(status_for(final), final, now, registry.version, permit, agency, permit_type, basis)


def _basis_state(ref: BasisRef, registry: Registry, status_lists: Mapping[str, StatusList], stale_at: int) -> BasisState:
    """What the permit `ref` names is today, from the registry and its issuer's status list.

    The reference is signed by the permit's issuer, who checked the basis when issuing; here
    the registry must still vouch for the basis's issuer and its authority for that type."""
    agency = registry.agencies.get(ref.agency)
    permit_type = registry.types.get(ref.type)
    if agency is None or permit_type is None or ref.type not in agency.types:
        return BasisState(ref, "invalid", Reason.BASIS_INVALID, agency, permit_type)
    status_list = status_lists.get(ref.agency)
    status = status_list.status(ref.status_index) if status_list is not None else None
    if status_list is None or status is None:
        return BasisState(ref, "status_unknown", Reason.BASIS_STATUS_UNAVAILABLE, agency, permit_type)
    if status_list.is_expired(stale_at) and status != Status.REVOKED:
        return BasisState(ref, "status_unknown", Reason.BASIS_STATUS_STALE, agency, permit_type)
    state, reason = _BASIS_OF_STATUS[status]
    return BasisState(ref, state, reason, agency, permit_type)
