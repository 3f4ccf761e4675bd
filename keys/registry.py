"""The trust registry: which agencies exist, their keys, and which permit types each may issue.

This module is the model and its edits, all pure. Signing, the root of trust and the checks a
verifier makes before trusting a registry are in keys/trust.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import urlsplit

from keys import fields
from keys.algorithms import Alg, KeyRejected, PublicKey, load_public_jwk
from keys.errors import ConflictError, InputError, NotFoundError
from keys.fields import FieldError
from keys.reasons import N_, Reason

NAME_MAX = 200
URL_MAX = 512
# An agency's contact for the people who check its permits: a phone number as printed
# ("028 3829 7336", "+84 28 3829 7336", "(028) 3829-7336") and a web address to read on a phone.
PHONE_MAX = 32
PHONE = re.compile(r"[0-9+()-]+(?: [0-9+()-]+)*")
WEB_MAX = 200
MAX_VALIDITY_DAYS = 36_500
RetiredReason = Literal["superseded", "compromised"]
RETIRED_REASONS: tuple[RetiredReason, ...] = ("superseded", "compromised")


@dataclass(frozen=True)
class Names:
    """A name in Vietnamese (shown first) and English."""

    vi: str
    en: str

    def __post_init__(self) -> None:
        fields.text(self.vi, "Vietnamese name", NAME_MAX)
        fields.text(self.en, "English name", NAME_MAX)

    def to_dict(self) -> dict[str, str]:
        return {"vi": self.vi, "en": self.en}

    @classmethod
    def from_dict(cls, obj: object, what: str) -> Names:
        m = fields.members(obj, what, ("vi", "en"))
        return cls(vi=fields.text(m["vi"], f"{what}.vi", NAME_MAX), en=fields.text(m["en"], f"{what}.en", NAME_MAX))


@dataclass(frozen=True)
class PermitType:
    """A permit type; `requires` names the types a permit of this type rests on (a food-safety
    certificate on a business registration): issuing one needs a permit of each as its basis."""

    code: str
    name: Names
    max_days: int
    requires: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        fields.identifier(self.code, "permit type code")
        fields.integer(self.max_days, "maximum validity (days)", 1, MAX_VALIDITY_DAYS)
        for required in self.requires:
            fields.identifier(required, "required permit type code")
        if tuple(sorted(set(self.requires))) != self.requires:
            raise FieldError("bad", f"type {self.code} required types must be sorted and unique")

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name.to_dict(), "max_days": self.max_days}
        # Left out when empty: registries signed before types could rest on others read the same.
        if self.requires:
            out["requires"] = list(self.requires)
        return out

    @classmethod
    def from_dict(cls, code: str, obj: object) -> PermitType:
        what = f"type {code}"
        m = fields.members(obj, what, ("name", "max_days"), ("requires",))
        requires = m.get("requires", [])
        if type(requires) is not list or ("requires" in m and not requires):
            raise FieldError("bad", f"{what}: requires must be a non-empty list, or left out")
        return cls(
            code=code,
            name=Names.from_dict(m["name"], f"{what} name"),
            max_days=m["max_days"],
            requires=tuple(fields.identifier(r, f"{what} requires") for r in requires),
        )


@dataclass(frozen=True)
class AgencyKey:
    """One agency signing key and its life: valid from `valid_from`; once retired, either
    `superseded` (permits signed before `retired_at` stay valid) or `compromised` (nothing
    signed by it is valid, whenever it claims to have been signed)."""

    agency: str
    public_key: PublicKey
    valid_from: int
    retired_at: int | None = None
    retired_reason: RetiredReason | None = None

    def __post_init__(self) -> None:
        fields.time_value(self.valid_from, "key valid_from")
        if (self.retired_at is None) != (self.retired_reason is None):
            raise FieldError("bad", "retired_at and retired_reason go together")
        if self.retired_at is not None:
            fields.time_value(self.retired_at, "key retired_at")
        if self.retired_reason is not None and self.retired_reason not in RETIRED_REASONS:
            raise FieldError("bad", "retired_reason must be superseded or compromised")

    @property
    def kid(self) -> str:
        return self.public_key.kid

    @property
    def alg(self) -> Alg:
        return self.public_key.alg

    @property
    def compromised(self) -> bool:
        return self.retired_reason == "compromised"

    def usable_for_signing_at(self, at: int) -> bool:
        """Whether something signed at `at` by this key is acceptable (compromise aside)."""
        if at < self.valid_from:
            return False
        return self.retired_at is None or at < self.retired_at

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"alg": self.alg, "jwk": dict(self.public_key.jwk), "valid_from": self.valid_from}
        if self.retired_at is not None:
            out["retired_at"] = self.retired_at
            out["retired_reason"] = self.retired_reason
        return out

    @classmethod
    def from_dict(cls, agency: str, kid: str, obj: object) -> AgencyKey:
        what = f"key {kid} of {agency}"
        m = fields.members(obj, what, ("alg", "jwk", "valid_from"), ("retired_at", "retired_reason"))
        try:
            public_key = load_public_jwk(m["jwk"], m["alg"])
        except KeyRejected as exc:
            raise FieldError("bad", f"{what}: {exc}") from None
        if public_key.kid != kid:
            raise FieldError("bad", f"{what}: kid is not the thumbprint of the key")
        return cls(
            agency=agency,
            public_key=public_key,
            valid_from=m["valid_from"],
            retired_at=m.get("retired_at"),
            retired_reason=m.get("retired_reason"),
        )


def check_url(value: object, what: str) -> str:
    url = fields.text(value, what, URL_MAX)
    try:
        parts = urlsplit(url)
    except ValueError:  # a bracketed host that is not an IPv6 address, or one NFKC changes
        raise FieldError("bad", f"{what} must be an http(s) URL") from None
    if parts.scheme not in ("https", "http") or not parts.netloc or " " in url:
        raise FieldError("bad", f"{what} must be an http(s) URL")
    return url


def check_phone(value: object, what: str) -> str:
    """A phone number as people write it: digits, single spaces and + ( ) -, with 3 digits or more."""
    if (not isinstance(value, str) or not 0 < len(value) <= PHONE_MAX or PHONE.fullmatch(value) is None
            or sum(c.isdigit() for c in value) < 3):
        raise FieldError("bad", f"{what} must be a phone number of digits, spaces and + ( ) -, at most {PHONE_MAX} characters")
    return value


def check_web(value: object, what: str) -> str:
    """A web address people may open: https, a host, no user name or password in it (an address
    like https://hochiminhcity.gov.vn@example.com would show one site and open another)."""
    if not isinstance(value, str) or not 0 < len(value) <= WEB_MAX or not value.isascii() or not value.isprintable():
        raise FieldError("bad", f"{what} must be an https address of at most {WEB_MAX} characters")
    try:
        parts = urlsplit(value)
    except ValueError:  # an unclosed [ in the host, say
        parts = urlsplit("")
    if parts.scheme != "https" or not parts.hostname or "@" in parts.netloc or " " in value:
        raise FieldError("bad", f"{what} must be an https address of at most {WEB_MAX} characters")
    return value


@dataclass(frozen=True)
class Contact:
    """How people reach an agency about its permits: a phone number, a web address, or both."""

    phone: str | None = None
    web: str | None = None

    def __post_init__(self) -> None:
        if self.phone is None and self.web is None:
            raise FieldError("bad", "a contact needs a phone number or a web address")
        if self.phone is not None:
            check_phone(self.phone, "contact phone")
        if self.web is not None:
            check_web(self.web, "contact web address")

    def to_dict(self) -> dict[str, str]:
        out = {}
        if self.phone is not None:
            out["phone"] = self.phone
        if self.web is not None:
            out["web"] = self.web
        return out

    @classmethod
    def from_dict(cls, obj: object, what: str) -> Contact:
        m = fields.members(obj, what, (), ("phone", "web"))
        if not m:
            raise FieldError("bad", f"{what} must have a phone or a web member, or be left out")
        return cls(phone=check_phone(m["phone"], f"{what} phone") if "phone" in m else None,
                   web=check_web(m["web"], f"{what} web") if "web" in m else None)


@dataclass(frozen=True)
class Agency:
    """An agency: its names, the permit types it may issue, where its status list is published,
    its keys, and how people reach it (`contact`, None when the registry gives none)."""

    id: str
    name: Names
    types: tuple[str, ...]
    status_url: str
    keys: tuple[AgencyKey, ...] = ()
    contact: Contact | None = None

    def __post_init__(self) -> None:
        fields.identifier(self.id, "agency id")
        if not self.types:
            # Empty policy is an error, not a pass: an agency that may issue nothing is a mistake.
            raise FieldError("bad", f"agency {self.id} must be allowed at least one permit type")
        for code in self.types:
            fields.identifier(code, "permit type code")
        if tuple(sorted(set(self.types))) != self.types:
            raise FieldError("bad", f"agency {self.id} permit types must be sorted and unique")
        check_url(self.status_url, f"agency {self.id} status_url")
        for key in self.keys:
            if key.agency != self.id:
                raise FieldError("bad", f"key {key.kid} belongs to another agency")
        # Keys in kid order, as the signed document stores them: a registry equals itself
        # after a round trip through JSON.
        object.__setattr__(self, "keys", tuple(sorted(self.keys, key=lambda k: k.kid)))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name.to_dict(),
            "types": list(self.types),
            "status_url": self.status_url,
            "keys": {key.kid: key.to_dict() for key in self.keys},
        }
        # Left out when none: registries signed before agencies had a contact read the same.
        if self.contact is not None:
            out["contact"] = self.contact.to_dict()
        return out

    @classmethod
    def from_dict(cls, agency_id: str, obj: object) -> Agency:
        what = f"agency {agency_id}"
        m = fields.members(obj, what, ("name", "types", "status_url", "keys"), ("contact",))
        if not isinstance(m["types"], list) or not isinstance(m["keys"], dict):
            raise FieldError("bad", f"{what}: types must be a list and keys an object")
        return cls(
            id=fields.identifier(agency_id, "agency id"),
            name=Names.from_dict(m["name"], f"{what} name"),
            types=tuple(fields.identifier(code, f"{what} type") for code in m["types"]),
            status_url=m["status_url"],
            keys=tuple(AgencyKey.from_dict(agency_id, kid, key) for kid, key in m["keys"].items()),
            contact=Contact.from_dict(m["contact"], f"{what} contact") if "contact" in m else None,
        )

    def active_keys(self, at: int) -> list[AgencyKey]:
        """Keys that may sign something now, newest first."""
        usable = [k for k in self.keys if not k.compromised and k.usable_for_signing_at(at)]
        return sorted(usable, key=lambda k: (k.valid_from, k.kid), reverse=True)


def _check_requirements(types: Mapping[str, PermitType]) -> None:
    """Every required type exists and no type rests, however indirectly, on itself: a cycle
    would make a permit that can never be issued first. FieldError names the cycle."""
    for permit_type in types.values():
        for required in permit_type.requires:
            if required not in types:
                raise FieldError("bad", f"type {permit_type.code} requires unknown type {required}")
    done: set[str] = set()

    def visit(code: str, path: tuple[str, ...]) -> None:
        if code in path:
            cycle = " → ".join((*path[path.index(code):], code))
            raise FieldError("bad", f"permit types require each other in a cycle: {cycle}")
        if code in done:
            return
        for required in types[code].requires:
            visit(required, (*path, code))
        done.add(code)

    for code in sorted(types):
        visit(code, ())


@dataclass(frozen=True)
class Registry:
    """A registry document: a draft on the operator's side, or a published, verified version."""

    id: str
    name: str
    version: int
    issued_at: int
    expires_at: int
    types: Mapping[str, PermitType]
    agencies: Mapping[str, Agency]
    _keys_by_kid: Mapping[str, AgencyKey] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        fields.identifier(self.id, "registry id")
        fields.text(self.name, "registry name", NAME_MAX)
        fields.integer(self.version, "registry version")
        fields.time_value(self.issued_at, "registry issued_at")
        fields.time_value(self.expires_at, "registry expires_at")
        _check_requirements(self.types)
        by_kid: dict[str, AgencyKey] = {}
        for agency in self.agencies.values():
            for code in agency.types:
                if code not in self.types:
                    raise FieldError("bad", f"agency {agency.id} may issue unknown type {code}")
            for key in agency.keys:
                if key.kid in by_kid:
                    raise FieldError("bad", f"kid {key.kid} appears twice in the registry")
                by_kid[key.kid] = key
        object.__setattr__(self, "_keys_by_kid", by_kid)

    def key(self, kid: str) -> AgencyKey | None:
        return self._keys_by_kid.get(kid)

    def to_dict(self) -> dict[str, Any]:
        return {
            "registry": self.id,
            "name": self.name,
            "version": self.version,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "types": {code: t.to_dict() for code, t in sorted(self.types.items())},
            "agencies": {aid: a.to_dict() for aid, a in sorted(self.agencies.items())},
        }

    @classmethod
    def from_dict(cls, obj: object) -> Registry:
        """Build and check a registry; raises FieldError with a one-line reason."""
        m = fields.members(obj, "registry", ("registry", "name", "version", "issued_at", "expires_at", "types", "agencies"))
        if not isinstance(m["types"], dict) or not isinstance(m["agencies"], dict):
            raise FieldError("bad", "registry types and agencies must be objects")
        return cls(
            id=m["registry"],
            name=m["name"],
            version=m["version"],
            issued_at=m["issued_at"],
            expires_at=m["expires_at"],
            types={code: PermitType.from_dict(code, t) for code, t in m["types"].items()},
            agencies={aid: Agency.from_dict(aid, a) for aid, a in m["agencies"].items()},
        )

    # --- edits (each returns a new draft) ---------------------------------------------------

    def agency(self, agency_id: str) -> Agency:
        try:
            return self.agencies[agency_id]
        except KeyError:
            raise NotFoundError(N_("unknown agency {agency!r}"), reason=Reason.UNKNOWN_AGENCY, agency=agency_id) from None

    def permit_type(self, code: str) -> PermitType:
        try:
            return self.types[code]
        except KeyError:
            raise NotFoundError(N_("unknown permit type {code!r}"), reason=Reason.UNKNOWN_TYPE, code=code) from None

    def with_type(self, permit_type: PermitType) -> Registry:
        if permit_type.code in self.types:
            raise ConflictError(f"permit type {permit_type.code!r} already exists", reason=Reason.DUPLICATE_TYPE)
        for required in permit_type.requires:
            self.permit_type(required)
        return replace(self, types={**self.types, permit_type.code: permit_type})

    def with_requirements(self, code: str, requires: tuple[str, ...]) -> Registry:
        """The draft with type `code` resting on `requires` (empty: on nothing)."""
        permit_type = self.permit_type(code)
        for required in requires:
            self.permit_type(required)
        types = {**self.types, code: replace(permit_type, requires=tuple(sorted(set(requires))))}
        try:
            _check_requirements(types)
        except FieldError as exc:
            raise InputError(str(exc), reason=Reason.REQUIREMENT_CYCLE) from None
        return replace(self, types=types)

    def with_agency(self, agency: Agency) -> Registry:
        if agency.id in self.agencies:
            raise ConflictError(f"agency {agency.id!r} already exists", reason=Reason.DUPLICATE_AGENCY)
        for code in agency.types:
            self.permit_type(code)
        return replace(self, agencies={**self.agencies, agency.id: agency})

    def with_agency_types(self, agency_id: str, types: tuple[str, ...]) -> Registry:
        for code in types:
            self.permit_type(code)
        agency = replace(self.agency(agency_id), types=tuple(sorted(set(types))))
        return replace(self, agencies={**self.agencies, agency_id: agency})

    def with_contact(self, agency_id: str, contact: Contact | None) -> Registry:
        """The draft with `contact` for the agency (None: none)."""
        agency = replace(self.agency(agency_id), contact=contact)
        return replace(self, agencies={**self.agencies, agency_id: agency})

    def with_key(self, agency_id: str, public_key: PublicKey, valid_from: int) -> Registry:
        agency = self.agency(agency_id)
        existing = self.key(public_key.kid)
        if existing is not None:
            raise ConflictError(f"key {public_key.kid} is already registered to {existing.agency}", reason=Reason.DUPLICATE_KEY)
        key = AgencyKey(agency=agency_id, public_key=public_key, valid_from=valid_from)
        agency = replace(agency, keys=(*agency.keys, key))
        return replace(self, agencies={**self.agencies, agency_id: agency})

    def with_retired_key(self, agency_id: str, kid: str, reason: RetiredReason, at: int) -> Registry:
        agency = self.agency(agency_id)
        keys = list(agency.keys)
        for i, key in enumerate(keys):
            if key.kid == kid:
                if key.compromised:
                    raise ConflictError(f"key {kid} is already retired as compromised", reason=Reason.ALREADY_RETIRED)
                if key.retired_reason == "superseded" and reason == "superseded":
                    raise ConflictError(f"key {kid} is already retired", reason=Reason.ALREADY_RETIRED)
                # A superseded key can still be found compromised later; that only hardens it.
                retired_at = key.retired_at if key.retired_at is not None else at
                keys[i] = replace(key, retired_at=retired_at, retired_reason=reason)
                agency = replace(agency, keys=tuple(keys))
                return replace(self, agencies={**self.agencies, agency_id: agency})
        raise NotFoundError(f"agency {agency_id} has no key {kid}", reason=Reason.UNKNOWN_KEY)

    def check_publishable(self) -> None:
        """Empty policy is an error: refuse to publish a registry that authorises nothing."""
        if not self.agencies:
            raise InputError("the registry has no agencies; add one before publishing", reason=Reason.EMPTY_REGISTRY)
