"""The verdict: one JSON object, the same in the API, in `permit verify --json` and on the page."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from keys.reasons import VERDICT_REASONS, Reason
from keys.registry import Agency, PermitType
from permits.model import BasisRef, Permit

STATUSES = (
    "valid",
    "invalid",
    "revoked",
    "suspended",
    "superseded",
    "expired",
    "not_yet_valid",
    "status_unknown",
)

# Which status a reason leads to; when several apply the first in STATUS_PRIORITY wins.
_STATUS_OF_REASON: dict[Reason, str] = {
    Reason.REVOKED: "revoked",
    Reason.SUSPENDED: "suspended",
    Reason.SUPERSEDED: "superseded",
    Reason.EXPIRED: "expired",
    Reason.NOT_YET_VALID: "not_yet_valid",
    Reason.STATUS_UNAVAILABLE: "status_unknown",
    Reason.STATUS_STALE: "status_unknown",
    Reason.REGISTRY_STALE: "status_unknown",
    Reason.REGISTRY_INVALID: "status_unknown",
    Reason.REGISTRY_ROLLBACK: "status_unknown",
    Reason.REGISTRY_UNAVAILABLE: "status_unknown",
    # A permit is no more in force than what it rests on.
    Reason.BASIS_REVOKED: "revoked",
    Reason.BASIS_SUSPENDED: "suspended",
    Reason.BASIS_STATUS_UNAVAILABLE: "status_unknown",
    Reason.BASIS_STATUS_STALE: "status_unknown",
}
_STATUS_SET = frozenset(STATUSES)
STATUS_PRIORITY = ("invalid", "revoked", "suspended", "superseded", "expired", "not_yet_valid", "status_unknown")


def status_for(reasons: tuple[Reason, ...]) -> str:
    if not reasons:
        return "valid"
    found = {_STATUS_OF_REASON.get(reason, "invalid") for reason in reasons}
    return next(status for status in STATUS_PRIORITY if status in found)


def iso(timestamp: int) -> str:
    """RFC 3339 in UTC. Never raises for a time a document carries: every parser bounds them to
    [0, keys.fields.MAX_TIME], which datetime writes in any time zone."""
    # What datetime.fromtimestamp(timestamp, UTC).strftime(...) writes, at a third of its cost
    # (a verdict carries four times).
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


# What a verdict says of each permit its permit rests on.
BASIS_STATES = ("valid", "amended", "revoked", "suspended", "status_unknown", "invalid")


@dataclass(frozen=True)
class BasisState:
    """One permit a permit rests on, as the verifier found it: `state` is one of BASIS_STATES
    (`amended`: a newer version replaced the one referenced, and the lineage is in force), and
    `reason` what it makes the permit, None when it is in force. `issuer` and `permit_type` are
    the registry's records, None when the registry does not know them."""

    ref: BasisRef
    state: str
    reason: Reason | None
    issuer: Agency | None
    permit_type: PermitType | None

    def to_dict(self) -> dict[str, Any]:
        permit_type: dict[str, Any] = {"code": self.ref.type}
        if self.permit_type is not None:
            permit_type["name"] = self.permit_type.name.to_dict()
        issuer = _issuer_dict(self.issuer) if self.issuer is not None else {"id": self.ref.agency}
        return {"id": self.ref.id, "type": permit_type, "issuer": issuer, "state": self.state}


@dataclass(frozen=True)
class Verdict:
    """What a verifier concluded about one token at one moment.

    `permit` is present only when the token was signed by the key the registry names for its
    issuer, so nothing an attacker wrote is ever shown as a permit; `issuer` and `permit_type`
    are the registry's own records, never what the token says about itself.
    """

    status: str
    reasons: tuple[Reason, ...]
    checked_at: int
    registry_version: int | None
    permit: Permit | None = None
    issuer: Agency | None = None
    permit_type: PermitType | None = None
    basis: tuple[BasisState, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in _STATUS_SET or not VERDICT_REASONS.issuperset(self.reasons):
            raise ValueError(f"not a verdict: {self.status} {self.reasons}")

    @property
    def valid(self) -> bool:
        return self.status == "valid"

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "valid": self.valid,
            "status": self.status,
            "reasons": list(self.reasons),
            "checked_at": iso(self.checked_at),
            "registry_version": self.registry_version,
        }
        if self.permit is not None:
            out["permit"] = _permit_dict(self.permit, self.permit_type)
            if self.status == "superseded":
                out["superseded_by"] = {"id": self.permit.id, "min_version": self.permit.version + 1}
            if self.basis:
                out["basis"] = [state.to_dict() for state in self.basis]
        if self.issuer is not None:
            out["issuer"] = _issuer_dict(self.issuer)
        return out


def _issuer_dict(agency: Agency) -> dict[str, Any]:
    """An agency as a verdict names it: the registry's id and names, and its contact when the
    registry gives one (whom to call about a permit that is not in force)."""
    out: dict[str, Any] = {"id": agency.id, "name": agency.name.to_dict()}
    if agency.contact is not None:
        out["contact"] = agency.contact.to_dict()
    return out


def _permit_dict(permit: Permit, permit_type: PermitType | None) -> dict[str, Any]:
    holder: dict[str, Any] = {"id": permit.holder_id, "name": permit.holder_name}
    if permit.holder_address is not None:
        holder["address"] = permit.holder_address
    out: dict[str, Any] = {
        "id": permit.id,
        "version": permit.version,
        "number": permit.number,
        "type": {"code": permit.type},
        "holder": holder,
        "activities": list(permit.activities),
        "conditions": list(permit.conditions),
        "issued_at": iso(permit.issued_at),
        "valid_from": iso(permit.valid_from),
        "valid_until": iso(permit.valid_until),
    }
    if permit_type is not None:
        out["type"]["name"] = permit_type.name.to_dict()
    return out
