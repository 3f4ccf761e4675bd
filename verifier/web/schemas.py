"""JSON Schemas (draft 2020-12) of every document the project writes, served beside the OpenAPI
document at /api/v1/schemas/<name>.

Built from the constants the code checks against (identifiers, sizes, times, algorithms, reason
codes), as verifier/web/openapi.py is, so a schema cannot drift from what the code writes and
accepts; tests/test_schemas.py validates every kind of document the project writes against them.
The verdict and the error are the very objects the OpenAPI document uses.

A schema says the form; what it cannot say the code still checks (signatures, NFC text without
invisible characters, a key on its curve, the times' order, a registry's threshold).
"""

from __future__ import annotations

import re
from typing import Any

from keys.algorithms import ALGORITHMS, KID_LENGTH
from keys.encoding import MAX_SAFE_INT
from keys.fields import MAX_TIME
from keys.jws import GENERAL_PROTECTED_MAX, SIGNATURE_CHARS, TYP_REGISTRY, TYP_ROOT
from keys.reasons import VERDICT_REASONS, Reason
from keys.registry import MAX_VALIDITY_DAYS, PHONE, PHONE_MAX, RETIRED_REASONS, URL_MAX, WEB_MAX
from keys.registry import NAME_MAX as REGISTRY_NAME_MAX
from keys.text import IDENTIFIER
from keys.trust import (
    MAX_AGENCIES,
    MAX_KEYS_PER_AGENCY,
    MAX_REGISTRY_PAYLOAD,
    MAX_ROOT_CHAIN,
    MAX_ROOT_KEYS,
    MAX_ROOT_PAYLOAD,
    MAX_TYPES,
)
from permits import model
from permits.status_list import Status
from verifier.verdict import BASIS_STATES, STATUSES
from verifier.web.errors import MESSAGE_MAX

DIALECT = "https://json-schema.org/draft/2020-12/schema"
MEDIA_TYPE = "application/schema+json"
PATH = "/api/v1/schemas/"


def _anchored(regex: re.Pattern[str]) -> str:
    """A pattern the whole string must match, as the code's `fullmatch` does."""
    return f"^(?:{regex.pattern})$"


def _base64url(length: str = "*") -> str:
    return f"^[A-Za-z0-9_-]{length}$"


_TEXT_RULE = "Unicode NFC, printable, without surrounding whitespace or characters that render as nothing."


def _text(max_length: int, description: str = "") -> dict[str, Any]:
    return {"type": "string", "minLength": 1, "maxLength": max_length, "description": f"{description} {_TEXT_RULE}".strip()}


def _integer(low: int, high: int, description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": low, "maximum": high}
    return {**schema, "description": description} if description else schema


_SECONDS = _integer(0, MAX_TIME, "A time in whole seconds since 1970-01-01T00:00:00Z, before the year 10000.")
_IDENTIFIER = {"type": "string", "pattern": _anchored(IDENTIFIER), "description": "A lower-case identifier."}
_KID = {"type": "string", "pattern": _base64url(f"{{{KID_LENGTH}}}"),
        "description": f"The key's RFC 7638 thumbprint (SHA-256, base64url), its first {KID_LENGTH} characters."}

# --- the registry -------------------------------------------------------------------------------

_COORDINATE = {"type": "string", "pattern": _base64url("{43}"), "description": "32 bytes, base64url without padding."}
# The public JWK of each algorithm, exactly as the registry stores it (keys/algorithms.py; a test checks
# there is one for each of ALGORITHMS).
JWK_OF_ALGORITHM: dict[str, dict[str, Any]] = {
    "EdDSA": {"type": "object", "required": ["kty", "crv", "x"], "additionalProperties": False,
              "properties": {"kty": {"const": "OKP"}, "crv": {"const": "Ed25519"}, "x": _COORDINATE}},
    "ES256": {"type": "object", "required": ["kty", "crv", "x", "y"], "additionalProperties": False,
              "properties": {"kty": {"const": "EC"}, "crv": {"const": "P-256"}, "x": _COORDINATE, "y": _COORDINATE}},
}
_ALG_AND_JWK = {"oneOf": [{"properties": {"alg": {"const": alg}, "jwk": jwk}} for alg, jwk in JWK_OF_ALGORITHM.items()]}

_NAMES = {
    "type": "object", "required": ["vi", "en"], "additionalProperties": False,
    "properties": {"vi": _text(REGISTRY_NAME_MAX, "In Vietnamese."), "en": _text(REGISTRY_NAME_MAX, "In English.")},
}
_AGENCY_KEY = {
    "type": "object", "required": ["alg", "jwk", "valid_from"], "additionalProperties": False,
    "properties": {
        "alg": {"enum": list(ALGORITHMS)},
        "jwk": {"type": "object"},
        "valid_from": _SECONDS,
        "retired_at": _SECONDS,
        "retired_reason": {"enum": list(RETIRED_REASONS),
                           "description": "superseded: what it signed before retired_at stays valid; compromised: nothing it signed is valid."},
    },
    "dependentRequired": {"retired_at": ["retired_reason"], "retired_reason": ["retired_at"]},
    **_ALG_AND_JWK,
}
_PHONE = {"type": "string", "maxLength": PHONE_MAX, "pattern": _anchored(PHONE),
          "description": "A phone number as printed: digits, single spaces and + ( ) -, with at least 3 digits."}
_WEB = {"type": "string", "format": "uri", "maxLength": WEB_MAX, "pattern": "^https://[^ @/?#]+([/?#][^ ]*)?$",
        "description": "An https address people may open (no user name or password in it)."}
_CONTACT_MEANING = "How people reach the agency about its permits: a phone number, a web address, or both."
_CONTACT: dict[str, Any] = {
    "type": "object", "minProperties": 1, "additionalProperties": False, "description": _CONTACT_MEANING,
    "properties": {"phone": _PHONE, "web": _WEB},
}
_AGENCY = {
    "type": "object", "required": ["name", "types", "status_url", "keys"], "additionalProperties": False,
    "properties": {
        "name": _NAMES,
        "types": {"type": "array", "minItems": 1, "uniqueItems": True, "items": _IDENTIFIER,
                  "description": "The permit types the agency may issue, sorted."},
        "status_url": {"type": "string", "format": "uri", "maxLength": URL_MAX, "pattern": "^https?://[^ ]+$",
                       "description": "Where the agency's status list is published; a verifier fetches it from here only."},
        "keys": {"type": "object", "maxProperties": MAX_KEYS_PER_AGENCY, "propertyNames": _KID, "additionalProperties": _AGENCY_KEY},
        "contact": {**_CONTACT, "description": f"{_CONTACT_MEANING} Left out when the registry gives none."},
    },
}
REGISTRY: dict[str, Any] = {
    "description": "The registry document: which agencies exist, their signing keys, and which permit types each may issue. "
                   "It is the payload of the bundle's registry member.",
    "type": "object", "required": ["registry", "name", "version", "issued_at", "expires_at", "types", "agencies"],
    "additionalProperties": False,
    "properties": {
        "registry": _IDENTIFIER,
        "name": _text(REGISTRY_NAME_MAX),
        "version": _integer(0, MAX_SAFE_INT, "Grows with each publication; a verifier never goes back to a lower one."),
        "issued_at": _SECONDS,
        "expires_at": _SECONDS,
        "types": {"type": "object", "maxProperties": MAX_TYPES, "propertyNames": _IDENTIFIER, "additionalProperties": {
            "type": "object", "required": ["name", "max_days"], "additionalProperties": False,
            "properties": {"name": _NAMES, "max_days": _integer(1, MAX_VALIDITY_DAYS, "The longest validity of a permit of this type, in days."),
                           "requires": {"type": "array", "minItems": 1, "uniqueItems": True, "items": _IDENTIFIER,
                                        "description": "The types a permit of this type rests on (sorted; left out when none)."}},
        }},
        "agencies": {"type": "object", "minProperties": 1, "maxProperties": MAX_AGENCIES, "propertyNames": _IDENTIFIER,
                     "additionalProperties": _AGENCY},
    },
}
ROOT: dict[str, Any] = {
    "description": "A version of the root of trust: the keys that sign the registry and how many of them must.",
    "type": "object", "required": ["registry", "version", "threshold", "keys"], "additionalProperties": False,
    "properties": {
        "registry": _IDENTIFIER,
        "version": _integer(1, MAX_SAFE_INT),
        "threshold": _integer(1, MAX_ROOT_KEYS),
        "keys": {"type": "object", "minProperties": 1, "maxProperties": MAX_ROOT_KEYS, "propertyNames": _KID,
                 "additionalProperties": {"type": "object", "required": ["alg", "jwk"], "additionalProperties": False,
                                          "properties": {"alg": {"enum": list(ALGORITHMS)}, "jwk": {"type": "object"}}, **_ALG_AND_JWK}},
    },
}


def _signed(typ: str, max_signatures: int, max_payload: int, content: str) -> dict[str, Any]:
    """A JWS in the general JSON serialization (RFC 7515 §7.2.1), as keys/jws.py writes it."""
    header = {"type": "object", "required": ["alg", "kid", "typ"], "additionalProperties": False,
              "properties": {"alg": {"enum": list(ALGORITHMS)}, "kid": _KID, "typ": {"const": typ}}}
    return {
        "type": "object", "required": ["payload", "signatures"], "additionalProperties": False,
        "properties": {
            "payload": {"type": "string", "maxLength": max_payload, "pattern": _base64url(),
                        "contentEncoding": "base64url", "contentMediaType": "application/json", "contentSchema": {"$ref": f"#/$defs/{content}"}},
            "signatures": {"type": "array", "minItems": 1, "maxItems": max_signatures, "items": {
                "type": "object", "required": ["protected", "signature"], "additionalProperties": False,
                "properties": {
                    "protected": {"type": "string", "maxLength": GENERAL_PROTECTED_MAX, "pattern": _base64url(),
                                  "contentEncoding": "base64url", "contentMediaType": "application/json", "contentSchema": header},
                    "signature": {"type": "string", "pattern": _base64url(f"{{{SIGNATURE_CHARS}}}")},
                },
            }},
        },
    }


REGISTRY_BUNDLE: dict[str, Any] = {
    "description": "The published registry bundle (registry.json, GET /api/v1/registry): the root chain and the registry, each signed "
                   "in the JWS general JSON serialization. Each payload is base64url of the JSON document its contentSchema describes.",
    "type": "object", "required": ["roots", "registry"], "additionalProperties": False,
    "properties": {
        "roots": {"type": "array", "maxItems": MAX_ROOT_CHAIN, "items": _signed(TYP_ROOT, 2 * MAX_ROOT_KEYS, MAX_ROOT_PAYLOAD, "root")},
        "registry": _signed(TYP_REGISTRY, MAX_ROOT_KEYS, MAX_REGISTRY_PAYLOAD, "registry"),
    },
    "$defs": {"registry": REGISTRY, "root": ROOT},
}

# --- a status list ------------------------------------------------------------------------------

# Each permit's state in as many bits as the largest value needs: 2.
STATUS_BITS = max(Status).bit_length()
STATUS_LIST_CLAIMS: dict[str, Any] = {
    "description": "The claims of an agency's status list, a Token Status List in JWT form (draft-ietf-oauth-status-list, "
                   "typ statuslist+jwt, media type application/statuslist+jwt). Values: "
                   + ", ".join(f"{status.value} {status.name.lower()}" for status in Status)
                   + f" (the draft's VALID, INVALID and SUSPENDED; {Status.SUPERSEDED.value} is this profile's application-specific value).",
    "type": "object", "required": ["sub", "iat", "exp", "ttl", "status_list"], "additionalProperties": False,
    "properties": {
        "sub": {"type": "string", "format": "uri", "maxLength": URL_MAX, "pattern": "^https?://[^ ]+$",
                "description": "The list's URI: the status_url the registry gives its agency."},
        "iat": _SECONDS,
        "exp": _SECONDS,
        "ttl": {"type": "integer", "minimum": 1, "description": "Seconds a reader may keep the list before fetching it again."},
        "status_list": {
            "type": "object", "required": ["bits", "lst"], "additionalProperties": False,
            "properties": {
                "bits": {"const": STATUS_BITS},
                "lst": {"type": "string", "minLength": 1, "pattern": _base64url(), "contentEncoding": "base64url",
                        "contentMediaType": "application/zlib",
                        "description": f"ZLIB (RFC 1950) data of the list, {8 // STATUS_BITS} entries a byte, entry i in bits "
                                       f"{STATUS_BITS}(i mod {8 // STATUS_BITS}) and up of byte i div {8 // STATUS_BITS}; base64url without padding."},
            },
        },
    },
}

# --- a permit -----------------------------------------------------------------------------------


def _items(max_items: int) -> dict[str, Any]:
    return {"type": "array", "minItems": 1, "maxItems": max_items, "items": _text(model.ITEM_MAX),
            "description": "Left out when empty."}


PERMIT_CLAIMS: dict[str, Any] = {
    "description": "The claims a permit token carries once its payload is inflated (permits/token.py): times are whole seconds "
                   "since 1970, and `permit` holds what a checker must see, under short names because every byte is a QR module.",
    "type": "object", "required": ["iss", "jti", "sub", "iat", "nbf", "exp", "ptype", "st", "ver", "permit"], "additionalProperties": False,
    "properties": {
        "iss": {**_IDENTIFIER, "description": "The issuing agency's id in the registry."},
        "jti": {"type": "string", "pattern": f"^[0-9A-Z]{{4,{model.PERMIT_ID_MAX}}}$", "description": "The permit's id."},
        "sub": {"type": "string", "pattern": _anchored(model.HOLDER_ID),
                "description": "The holder's registration code (never a citizen's identity number in clear)."},
        "iat": {**_SECONDS, "description": "When the permit was signed."},
        "nbf": {**_SECONDS, "description": "The first moment it is valid."},
        "exp": {**_SECONDS, "description": "The first moment it is no longer valid (after nbf)."},
        "ptype": {**_IDENTIFIER, "description": "The permit type's code in the registry."},
        "st": _integer(0, model.MAX_STATUS_INDEX, "The permit's index in its agency's status list."),
        "ver": _integer(1, model.MAX_VERSION, "The permit's version; a newer one supersedes it."),
        "permit": {
            "type": "object", "required": ["no", "name"], "additionalProperties": False,
            "properties": {
                "no": _text(model.NUMBER_MAX, "The permit number as printed."),
                "name": _text(model.NAME_MAX, "The holder's name."),
                "addr": _text(model.ADDRESS_MAX, "The holder's address."),
                "act": _items(model.ACTIVITIES_MAX),
                "cond": _items(model.CONDITIONS_MAX),
            },
        },
        "basis": {
            "type": "array", "minItems": 1, "maxItems": model.MAX_BASIS,
            "description": "The permits this one rests on (sorted, each permit and each type once); left out when none.",
            "items": {
                "type": "object", "required": ["iss", "jti", "st", "ptype"], "additionalProperties": False,
                "properties": {
                    "iss": {**_IDENTIFIER, "description": "The agency that issued the permit rested on."},
                    "jti": {"type": "string", "pattern": f"^[0-9A-Z]{{4,{model.PERMIT_ID_MAX}}}$", "description": "Its id."},
                    "st": _integer(0, model.MAX_STATUS_INDEX, "Its index in its agency's status list (of the version referenced)."),
                    "ptype": {**_IDENTIFIER, "description": "Its type."},
                },
            },
        },
    },
}

# --- the verdict and the error (the OpenAPI document uses these very objects) -----------------

_TIME = {"type": "string", "format": "date-time"}
_TEXTS = {"type": "array", "items": {"type": "string"}}
_VERDICT_NAMES = {"type": "object", "required": ["vi", "en"], "additionalProperties": False,
                  "properties": {"vi": {"type": "string"}, "en": {"type": "string"}}}
PERMIT_VIEW: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "version", "number", "type", "holder", "activities", "conditions", "issued_at", "valid_from", "valid_until"],
    "properties": {
        "id": {"type": "string"}, "version": {"type": "integer"}, "number": {"type": "string"},
        "type": {"type": "object", "required": ["code"], "additionalProperties": False,
                 "properties": {"code": {"type": "string"}, "name": _VERDICT_NAMES}},
        "holder": {"type": "object", "required": ["id", "name"], "additionalProperties": False,
                   "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "address": {"type": "string"}}},
        "activities": _TEXTS, "conditions": _TEXTS,
        "issued_at": _TIME, "valid_from": _TIME, "valid_until": {**_TIME, "description": "Exclusive: the first moment it is no longer valid."},
    },
}
# Whom to call about a permit, as the registry gives it; left out when it gives none.
_VERDICT_CONTACT = {**_CONTACT, "description": "The agency's contact from the registry, for people to call about a permit "
                                               "(one that is revoked or suspended, say); left out when the registry gives none."}
# What a verdict says of each permit the permit rests on (verifier/verdict.py BASIS_STATES).
_BASIS_STATE_MEANING = {
    "valid": "in force",
    "amended": "in force: a newer version replaced the one referenced, and that lineage is in force",
    "revoked": "revoked (the permit is then revoked too: basis_revoked)",
    "suspended": "suspended (the permit is then suspended too: basis_suspended)",
    "status_unknown": "its agency's status list is missing or out of date (the permit's status is then unknown: "
                      "basis_status_unavailable, basis_status_stale)",
    "invalid": "the registry does not vouch for its agency, or not for that type (the permit is then invalid: basis_invalid)",
}
BASIS_VIEW: dict[str, Any] = {
    "type": "object", "required": ["id", "type", "issuer", "state"], "additionalProperties": False,
    "description": "A permit the permit rests on, as this verifier finds it today in the same registry and status lists, "
                   "one level deep (its own basis is not followed).",
    "properties": {
        "id": {"type": "string", "description": "Its permit id, printed on it as its permit ID (Mã giấy phép)."},
        "type": {"type": "object", "required": ["code"], "additionalProperties": False,
                 "properties": {"code": {"type": "string"}, "name": {**_VERDICT_NAMES, "description": "Left out when the registry does not know the type."}}},
        "issuer": {"type": "object", "required": ["id"], "additionalProperties": False,
                   "properties": {"id": {"type": "string"}, "name": {**_VERDICT_NAMES, "description": "Left out when the registry does not know the agency."},
                                  "contact": _VERDICT_CONTACT}},
        "state": {"type": "string", "enum": list(BASIS_STATES),
                  "description": "; ".join(f"{state}: {_BASIS_STATE_MEANING[state]}" for state in BASIS_STATES) + "."},
    },
}
VERDICT: dict[str, Any] = {
    "description": "What a verifier concluded about one token at one moment (POST /api/v1/verify, permit verify --json).",
    "type": "object", "additionalProperties": False,
    "required": ["valid", "status", "reasons", "checked_at", "registry_version"],
    "properties": {
        "valid": {"type": "boolean"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "reasons": {"type": "array", "items": {"type": "string", "enum": sorted(VERDICT_REASONS)}},
        "checked_at": _TIME,
        "registry_version": {"type": ["integer", "null"]},
        "permit": PERMIT_VIEW,
        "issuer": {"type": "object", "required": ["id", "name"], "additionalProperties": False,
                   "properties": {"id": {"type": "string"}, "name": _VERDICT_NAMES, "contact": _VERDICT_CONTACT}},
        "superseded_by": {"type": "object", "required": ["id", "min_version"], "additionalProperties": False,
                          "properties": {"id": {"type": "string"}, "min_version": {"type": "integer"}}},
        "basis": {"type": "array", "minItems": 1, "items": BASIS_VIEW,
                  "description": "With `permit`, when the permit rests on others: each of them and its state today."},
    },
}
PROBLEM: dict[str, Any] = {
    "description": "An API error: RFC 9457 problem details (application/problem+json), with the earlier shape kept as `error`.",
    "type": "object", "required": ["type", "title", "status", "detail", "error"], "additionalProperties": False,
    "properties": {
        "type": {"type": "string", "format": "uri",
                 "description": "{BASE_URL}/api/v1/problems/{reason}: one URI per reason; GET it for what the problem means."},
        "title": {"type": "string", "description": "The reason's sentence, in English; the same for every occurrence."},
        "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status."},
        "detail": {"type": "string", "minLength": 1, "maxLength": MESSAGE_MAX + 1,
                   "description": f"What was wrong with this request, for a person: at most {MESSAGE_MAX} characters and an ellipsis."},
        "error": {
            "type": "object", "required": ["status", "reason", "message"], "additionalProperties": False,
            "properties": {
                "status": {"type": "integer", "description": "The HTTP status, as `status`."},
                "reason": {"type": "string", "enum": sorted(Reason), "description": "The stable reason code; never renamed."},
                "message": {"type": "string", "description": "The same as `detail`."},
            },
        },
    },
}

# Each published schema: its file name, its title and the schema.
SCHEMAS: dict[str, tuple[str, dict[str, Any]]] = {
    "registry-bundle.json": ("Registry bundle", REGISTRY_BUNDLE),
    "registry.json": ("Registry document", REGISTRY),
    "status-list.json": ("Status list claims", STATUS_LIST_CLAIMS),
    "permit.json": ("Permit claims", PERMIT_CLAIMS),
    "verdict.json": ("Verdict", VERDICT),
    "problem.json": ("API error (problem details)", PROBLEM),
}


def published(name: str, base_url: str) -> dict[str, Any]:
    """The schema `name` as served: its dialect, its own URL as `$id`, its title, then the schema.
    Raises KeyError for a name that is not in SCHEMAS."""
    title, schema = SCHEMAS[name]
    return {"$schema": DIALECT, "$id": f"{base_url.rstrip('/')}{PATH}{name}", "title": title, **schema}
