"""The permit: a frozen value that refuses invalid contents, and its claims in the token.

Claims (DESIGN.md): iss, jti, sub, iat, nbf, exp, ptype, st, ver and `permit`, the fields a
checker must see, under short names because every byte is a QR module:

    permit = {"no": number as printed, "name": holder name, "addr": address,
              "act": [activities], "cond": [conditions]}

`addr`, `act` and `cond` are left out when empty. Times are integer seconds since the epoch.
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

# Holder ids are registration codes (enterprise code, household business number) or an
# issuer's pseudonym for a natural person; never a citizen ID in clear.
HOLDER_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z./-]{0,31}")
_PERMIT_ID = re.compile(r"[0-9A-Z]{4,32}")

_CLAIMS = frozenset({"iss", "jti", "sub", "iat", "nbf", "exp", "ptype", "st", "ver", "permit"})
_PERMIT_REQUIRED = ("no", "name")
_PERMIT_OPTIONAL = ("addr", "act", "cond")


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
        return {
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

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Permit:
        """Build from verified claims; FieldError (missing / bad / text) for anything else."""
        if not isinstance(claims, dict):
            raise FieldError("bad", "claims must be an object")
        if claims.keys() != _CLAIMS:
            missing = _CLAIMS - claims.keys()
            if missing:
                raise FieldError("missing", f"missing claim {sorted(missing)[0]}")
            raise FieldError("bad", "unknown claim")
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
        )
