"""The permit: a frozen value that refuses invalid contents, and its claims in the token.

Claims (DESIGN.md): iss, jti, sub, iat, nbf, exp, ptype, st, ver and `permit`, the fields a
checker must see, under short names because every byte is a QR module:

    permit = {"no": number as printed, "name": holder name, "addr": address,
              "act": [activities], "cond": [conditions]}

`addr`, `act` and `cond` are left out when empty. Times are integer seconds since the epoch.

A permit issued on others (a food-safety certificate on a business registration) carries a
compact reference to each, its basis, signed with the rest:

    basis = [{"iss": agency, "jti": permit id, "st": status index, "ptype": type}, …]

sorted, at most MAX_BASIS, left out when there is none. The status index is the one of the version
the officer was shown; the issuer's status list follows that version's lineage (an amended basis
reads `superseded`, and revoking or suspending a later version marks the earlier ones too). A
basis is named by its id, printed on every permit: its number would cost a QR version.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keys import fields
from keys.fields import MAX_TIME, FieldError
from keys.text import IDENTIFIER

PERMIT_ID_MAX = 32
NUMBER_MAX = 64
HOLDER_ID_MAX = 32
NAME_MAX = 200
ADDRESS_MAX = 300
ITEM_MAX = 300
ACTIVITIES_MAX = 20
CONDITIONS_MAX = 20
MAX_STATUS_INDEX = 2**31 - 1
MAX_VERSION = 10_000
# A permit type rests on a few others at most; every reference is bytes in the QR code.
MAX_BASIS = 4

# Holder ids are registration codes (enterprise code, household business number) or an
# issuer's pseudonym for a natural person; never a citizen ID in clear.
HOLDER_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z./-]{0,31}")
_PERMIT_ID = re.compile(r"[0-9A-Z]{4,32}")

_CLAIMS = frozenset({"iss", "jti", "sub", "iat", "nbf", "exp", "ptype", "st", "ver", "permit"})
_CLAIMS_WITH_BASIS = _CLAIMS | {"basis"}
_PERMIT_REQUIRED = ("no", "name")
_PERMIT_OPTIONAL = ("addr", "act", "cond")
_BASIS_MEMBERS = ("iss", "jti", "st", "ptype")


@dataclass(frozen=True, order=True)
class BasisRef:
    """A signed reference to a permit another one rests on: enough to find its state in its
    issuer's status list, and to name it to a reader, without the permit itself."""

    agency: str
    id: str
    status_index: int
    type: str

    def __post_init__(self) -> None:
        if type(self.agency) is not str or not IDENTIFIER.fullmatch(self.agency):
            raise FieldError("bad", "basis iss must be a lower-case identifier")
        if type(self.type) is not str or not IDENTIFIER.fullmatch(self.type):
            raise FieldError("bad", "basis ptype must be a lower-case identifier")
        if type(self.id) is not str or not _PERMIT_ID.fullmatch(self.id):
            raise FieldError("bad", "basis jti must be 4-32 upper-case letters or digits")
        if not (type(self.status_index) is int and 0 <= self.status_index <= MAX_STATUS_INDEX):
            raise FieldError("bad", f"basis st must be an integer in [0, {MAX_STATUS_INDEX}]")

    def to_claim(self) -> dict[str, Any]:
        return {"iss": self.agency, "jti": self.id, "st": self.status_index, "ptype": self.type}

    @classmethod
    def from_claim(cls, obj: object) -> BasisRef:
        m = fields.members(obj, "basis", _BASIS_MEMBERS)
        return cls(agency=m["iss"], id=m["jti"], status_index=m["st"], type=m["ptype"])


def _check_basis(basis: tuple[BasisRef, ...]) -> None:
    if len(basis) > MAX_BASIS:
        raise FieldError("bad", f"at most {MAX_BASIS} permits as a basis")
    if any(type(ref) is not BasisRef for ref in basis):
        raise FieldError("bad", "basis entries must be references")
    # One canonical form: sorted, and neither one permit nor one type twice.
    if list(basis) != sorted(basis) or len({(r.agency, r.id) for r in basis}) != len(basis) or len({r.type for r in basis}) != len(basis):
        raise FieldError("bad", "basis references must be sorted, each permit and each type once")


@dataclass(frozen=True)
class Permit:
    agency: str
    id: str
    number: str
    type: str
    holder_id: str
    holder_name: str
    holder_address: str | None
    activities: tuple[str, ...]
    conditions: tuple[str, ...]
    issued_at: int
    valid_from: int
    valid_until: int
    status_index: int
    version: int = 1
    basis: tuple[BasisRef, ...] = ()

    def __post_init__(self) -> None:
        # Every verification builds a Permit, so this is the one place claims are checked,
        # once each, with as few calls as the checks allow.
        if type(self.agency) is not str or not IDENTIFIER.fullmatch(self.agency):
            raise FieldError("bad", "iss must be a lower-case identifier")
        if type(self.type) is not str or not IDENTIFIER.fullmatch(self.type):
            raise FieldError("bad", "ptype must be a lower-case identifier")
        if type(self.id) is not str or not _PERMIT_ID.fullmatch(self.id):
            raise FieldError("bad", "jti must be 4-32 upper-case letters or digits")
        if type(self.holder_id) is not str or not HOLDER_ID.fullmatch(self.holder_id):
            raise FieldError("bad", "sub must be a registration code (letters, digits, '.', '/', '-')")
        times = (self.issued_at, self.valid_from, self.valid_until)
        if not all(type(t) is int and 0 <= t <= MAX_TIME for t in times):
            raise FieldError("bad", "iat, nbf and exp must be times (whole seconds since 1970, before the year 10000)")
        if not (type(self.status_index) is int and 0 <= self.status_index <= MAX_STATUS_INDEX):
            raise FieldError("bad", f"st must be an integer in [0, {MAX_STATUS_INDEX}]")
        if not (type(self.version) is int and 1 <= self.version <= MAX_VERSION):
            raise FieldError("bad", f"ver must be an integer in [1, {MAX_VERSION}]")
        if self.valid_until <= self.valid_from:
            raise FieldError("bad", "the permit must end after it starts")
        if len(self.activities) > ACTIVITIES_MAX or len(self.conditions) > CONDITIONS_MAX:
            raise FieldError("bad", "too many activities or conditions")
        texts: list[tuple[object, str, int]] = [(self.number, "permit number", NUMBER_MAX), (self.holder_name, "holder name", NAME_MAX)]
        if self.holder_address is not None:
            texts.append((self.holder_address, "holder address", ADDRESS_MAX))
        texts += [(item, "activity", ITEM_MAX) for item in self.activities]
        texts += [(item, "condition", ITEM_MAX) for item in self.conditions]
        fields.texts(texts)
        if self.basis:
            _check_basis(self.basis)

    @property
    def lifetime(self) -> int:
        return self.valid_until - self.valid_from

    def to_claims(self) -> dict[str, Any]:
        permit: dict[str, Any] = {"no": self.number, "name": self.holder_name}
        if self.holder_address is not None:
            permit["addr"] = self.holder_address
        if self.activities:
            permit["act"] = list(self.activities)
        if self.conditions:
            permit["cond"] = list(self.conditions)
        claims: dict[str, Any] = {
            "iss": self.agency,
            "jti": self.id,
            "sub": self.holder_id,
            "iat": self.issued_at,
            "nbf": self.valid_from,
            "exp": self.valid_until,
            "ptype": self.type,
            "st": self.status_index,
            "ver": self.version,
            "permit": permit,
        }
        if self.basis:
            claims["basis"] = [ref.to_claim() for ref in self.basis]
        return claims

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Permit:
        """Build from verified claims; FieldError (missing / bad / text) for anything else."""
        if not isinstance(claims, dict):
            raise FieldError("bad", "claims must be an object")
        if claims.keys() != _CLAIMS and claims.keys() != _CLAIMS_WITH_BASIS:
            missing = _CLAIMS - claims.keys()
            if missing:
                raise FieldError("missing", f"missing claim {sorted(missing)[0]}")
            raise FieldError("bad", "unknown claim")
        basis: tuple[BasisRef, ...] = ()
        if "basis" in claims:
            refs = claims["basis"]
            if type(refs) is not list or not refs or len(refs) > MAX_BASIS:
                raise FieldError("bad", f"basis must be a list of 1 to {MAX_BASIS} references, or left out")
            basis = tuple(BasisRef.from_claim(ref) for ref in refs)
        p = fields.members(claims["permit"], "permit", _PERMIT_REQUIRED, _PERMIT_OPTIONAL)
        activities, conditions = p.get("act", []), p.get("cond", [])
        if type(activities) is not list or type(conditions) is not list:
            raise FieldError("bad", "act and cond must be lists")
        if ("act" in p and not activities) or ("cond" in p and not conditions):
            raise FieldError("bad", "empty lists are left out, not sent")
        return cls(
            agency=claims["iss"],
            id=claims["jti"],
            number=p["no"],
            type=claims["ptype"],
            holder_id=claims["sub"],
            holder_name=p["name"],
            holder_address=p.get("addr"),
            activities=tuple(activities),
            conditions=tuple(conditions),
            issued_at=claims["iat"],
            valid_from=claims["nbf"],
            valid_until=claims["exp"],
            status_index=claims["st"],
            version=claims["ver"],
            basis=basis,
        )
