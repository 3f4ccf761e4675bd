"""The OpenAPI 3.1 description of /api/v1: every path, request and response, errors included.

Built from the same constants the code uses (statuses, reason codes, limits), so the document
cannot drift from what the service does; a schemathesis run in the test suite checks that every
response matches it.
"""

from __future__ import annotations

from typing import Any

from keys.reasons import VERDICT_REASONS
from permits.token import MAX_TOKEN_LENGTH
from verifier.verdict import STATUSES

_NAMES = {"type": "object", "required": ["vi", "en"], "additionalProperties": False,
          "properties": {"vi": {"type": "string"}, "en": {"type": "string"}}}
_TIME = {"type": "string", "format": "date-time"}
_TEXTS = {"type": "array", "items": {"type": "string"}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(description: str, schema_ref: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}}}


_NOT_MODIFIED = {"description": "Not modified: the If-None-Match ETag is current."}
_BUSY = {**_error("This worker is checking another document over 64 KiB, or has spent its time for them (push_busy): send it again after Retry-After seconds."),
         "headers": {"Retry-After": {"description": "Seconds to wait before sending again.", "schema": {"type": "integer"}}}}
_NOT_READY = {**_error("A node of a fleet (run with REFUSE_WHEN_UNREADY) that does not hold a current registry and every agency's status list "
                        "(not_ready): the load balancer sends the request to another node."),
              "headers": {"Retry-After": {"description": "Seconds to wait before asking this node again.", "schema": {"type": "integer"}}}}
_CACHE_HEADERS = {
    "ETag": {"description": "Entity tag of the document.", "schema": {"type": "string"}},
    "Cache-Control": {"description": "public, max-age up to the document's expiry.", "schema": {"type": "string"}},
}


def openapi_document(base_url: str, max_batch: int) -> dict[str, Any]:
    verify_errors = {
        "400": _error("The body is not a strict JSON object with a string token (bad_json, body_not_object, unknown_member, missing_token, token_not_string), "
                       "or is sent in a transfer coding other than chunked (unsupported_transfer_coding)."),
        "413": _error("The body or the token is over its size limit (body_too_large, token_too_large)."),
        "415": _error("Content-Type is not application/json (unsupported_media_type)."),
        "503": _NOT_READY,
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Ho Chi Minh City e-permit verifier",
            "version": "1.0.0",
            "description": (
                "Verify electronic permits issued by city agencies. A verdict is HTTP 200 whatever it says; "
                "4xx means the request could not be read. Reason codes are stable: add, never rename."
            ),
        },
        "servers": [{"url": f"{base_url.rstrip('/')}/api/v1"}],
        "paths": {
            "/verify": {
                "post": {
                    "operationId": "verify",
                    "summary": "Verify one permit token.",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/VerifyRequest"}}}},
                    "responses": {"200": _json("The verdict.", "Verdict"), **verify_errors},
                }
            },
            "/verify/batch": {
                "post": {
                    "operationId": "verifyBatch",
                    "summary": f"Verify up to {max_batch} tokens; one verdict per token, in order.",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BatchRequest"}}}},
                    "responses": {
                        "200": _json("The verdicts, in the order of the tokens.", "BatchVerdicts"),
                        "400": _error("Not a strict JSON object with a list of string tokens, or sent in a transfer coding other than chunked."),
                        "413": _error("More tokens than allowed, a token or the body too large (batch_too_large, token_too_large, body_too_large)."),
                        "415": _error("Content-Type is not application/json."),
                        "503": _NOT_READY,
                    },
                }
            },
            "/registry": {
                "get": {
                    "operationId": "getRegistry",
                    "summary": "The signed registry bundle this verifier trusts.",
                    "responses": {
                        "200": {"description": "The bundle, exactly as signed.", "headers": _CACHE_HEADERS,
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RegistryBundle"}}}},
                        "304": _NOT_MODIFIED,
                        "404": _error("No trusted registry yet (registry_unavailable)."),
                    },
                },
                "put": {
                    "operationId": "putRegistry",
                    "summary": "Offer a newer signed registry bundle; it authenticates itself.",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RegistryBundle"}}}},
                    "responses": {
                        "200": _json("Accepted.", "RegistryAccepted"),
                        "400": _error("Sent in a transfer coding other than chunked (unsupported_transfer_coding)."),
                        "409": _error("Not newer than the registry held (registry_rollback, registry_not_newer)."),
                        "413": _error("Larger than any registry."),
                        "415": _error("Content-Type is not application/json."),
                        "422": _error("Does not verify against the trust anchor (registry_invalid) or has expired (registry_stale)."),
                        "429": _BUSY,
                    },
                },
            },
            "/status/{agency}": {
                "parameters": [{"name": "agency", "in": "path", "required": True, "schema": {"type": "string"}, "description": "Agency id in the registry."}],
                "get": {
                    "operationId": "getStatusList",
                    "summary": "The agency's signed status list this verifier holds.",
                    "responses": {
                        "200": {"description": "The status list token.", "headers": _CACHE_HEADERS,
                                "content": {"application/statuslist+jwt": {"schema": {"type": "string"}}}},
                        "304": _NOT_MODIFIED,
                        "404": _error("Unknown agency (unknown_issuer) or no list held (status_unavailable)."),
                    },
                },
                "put": {
                    "operationId": "putStatusList",
                    "summary": "Offer a newer status list of the agency, signed by one of its registered keys.",
                    "requestBody": {"required": True, "content": {
                        "application/statuslist+jwt": {"schema": {"type": "string"}},
                        "application/jwt": {"schema": {"type": "string"}},
                    }},
                    "responses": {
                        "200": _json("Accepted.", "StatusAccepted"),
                        "400": _error("Not ASCII, or sent in a transfer coding other than chunked."),
                        "404": _error("Unknown agency (unknown_issuer)."),
                        "409": _error("Not newer than the list held (status_rollback, status_not_newer)."),
                        "413": _error("Larger than any status list."),
                        "415": _error("Content-Type is not application/statuslist+jwt."),
                        "422": _error("Does not verify: malformed, wrong type, another agency's key, bad signature, expired …"),
                        "429": _BUSY,
                    },
                },
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "The registry version and the age of each status list; always 200.",
                    "responses": {"200": _json("Health.", "Health")},
                }
            },
            "/livez": {
                "get": {
                    "operationId": "liveness",
                    "summary": "Liveness: 200 while the process answers.",
                    "responses": {"200": _json("Alive.", "Alive")},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readiness",
                    "summary": "Readiness: 200 while this verifier holds a trusted registry and a current status list of every agency in it.",
                    "responses": {"200": _json("Ready.", "Ready"), "503": {**_NOT_READY, "description": "Not ready (not_ready)."}},
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document.",
                    "responses": {"200": {"description": "OpenAPI 3.1.", "content": {"application/json": {"schema": {"type": "object"}}}}},
                }
            },
        },
        "components": {"schemas": _schemas(max_batch)},
    }


def _schemas(max_batch: int) -> dict[str, Any]:
    return {
        "Error": {
            "type": "object", "required": ["error"], "additionalProperties": False,
            "properties": {"error": {
                "type": "object", "required": ["status", "reason", "message"], "additionalProperties": False,
                "properties": {"status": {"type": "integer"}, "reason": {"type": "string"}, "message": {"type": "string"}},
            }},
        },
        "VerifyRequest": {
            "type": "object", "required": ["token"], "additionalProperties": False,
            "properties": {"token": {"type": "string", "maxLength": 2 * MAX_TOKEN_LENGTH,
                                     "description": "A compact JWS, or the digits a permit's QR code carries after '#'."}},
        },
        "BatchRequest": {
            "type": "object", "required": ["tokens"], "additionalProperties": False,
            "properties": {"tokens": {"type": "array", "maxItems": max_batch, "items": {"type": "string", "maxLength": 2 * MAX_TOKEN_LENGTH}}},
        },
        "Verdict": {
            "type": "object", "additionalProperties": False,
            "required": ["valid", "status", "reasons", "checked_at", "registry_version"],
            "properties": {
                "valid": {"type": "boolean"},
                "status": {"type": "string", "enum": list(STATUSES)},
                "reasons": {"type": "array", "items": {"type": "string", "enum": sorted(VERDICT_REASONS)}},
                "checked_at": _TIME,
                "registry_version": {"type": ["integer", "null"]},
                "permit": {"$ref": "#/components/schemas/Permit"},
                "issuer": {"type": "object", "required": ["id", "name"], "additionalProperties": False,
                           "properties": {"id": {"type": "string"}, "name": _NAMES}},
                "superseded_by": {"type": "object", "required": ["id", "min_version"], "additionalProperties": False,
                                  "properties": {"id": {"type": "string"}, "min_version": {"type": "integer"}}},
            },
        },
        "Permit": {
            "type": "object", "additionalProperties": False,
            "required": ["id", "version", "number", "type", "holder", "activities", "conditions", "issued_at", "valid_from", "valid_until"],
            "properties": {
                "id": {"type": "string"}, "version": {"type": "integer"}, "number": {"type": "string"},
                "type": {"type": "object", "required": ["code"], "additionalProperties": False,
                         "properties": {"code": {"type": "string"}, "name": _NAMES}},
                "holder": {"type": "object", "required": ["id", "name"], "additionalProperties": False,
                           "properties": {"id": {"type": "string"}, "name": {"type": "string"}, "address": {"type": "string"}}},
                "activities": _TEXTS, "conditions": _TEXTS,
                "issued_at": _TIME, "valid_from": _TIME, "valid_until": {**_TIME, "description": "Exclusive: the first moment it is no longer valid."},
            },
        },
        "BatchVerdicts": {
            "type": "object", "required": ["verdicts"], "additionalProperties": False,
            "properties": {"verdicts": {"type": "array", "items": {"$ref": "#/components/schemas/Verdict"}}},
        },
        "RegistryBundle": {
            "type": "object", "required": ["roots", "registry"],
            "properties": {"roots": {"type": "array", "items": {"type": "object"}}, "registry": {"type": "object"}},
        },
        "RegistryAccepted": {
            "type": "object", "required": ["accepted", "version", "expires_at"], "additionalProperties": False,
            "properties": {"accepted": {"const": True}, "version": {"type": "integer"}, "expires_at": _TIME},
        },
        "StatusAccepted": {
            "type": "object", "required": ["accepted", "agency", "issued_at", "expires_at"], "additionalProperties": False,
            "properties": {"accepted": {"const": True}, "agency": {"type": "string"}, "issued_at": _TIME, "expires_at": _TIME},
        },
        "Alive": {"type": "object", "required": ["status"], "additionalProperties": False,
                  "properties": {"status": {"const": "alive"}}},
        "Ready": {"type": "object", "required": ["status"], "additionalProperties": False,
                  "properties": {"status": {"const": "ready"}}},
        "Health": {
            "type": "object", "required": ["status", "checked_at", "registry", "registry_problem", "status_lists"], "additionalProperties": False,
            "properties": {
                "status": {"type": "string", "enum": ["ok", "degraded", "unavailable"]},
                "checked_at": _TIME,
                "registry_problem": {"type": ["string", "null"]},
                "registry": {"oneOf": [{"type": "null"}, {
                    "type": "object", "required": ["version", "issued_at", "expires_at", "age_seconds", "stale"], "additionalProperties": False,
                    "properties": {"version": {"type": "integer"}, "issued_at": _TIME, "expires_at": _TIME,
                                   "age_seconds": {"type": "integer"}, "stale": {"type": "boolean"}},
                }]},
                "status_lists": {"type": "object", "additionalProperties": {"oneOf": [
                    {"type": "object", "required": ["problem"], "additionalProperties": False, "properties": {"problem": {"type": "string"}}},
                    {"type": "object", "required": ["issued_at", "expires_at", "age_seconds", "stale"], "additionalProperties": False,
                     "properties": {"issued_at": _TIME, "expires_at": _TIME, "age_seconds": {"type": "integer"}, "stale": {"type": "boolean"}}},
                ]}},
            },
        },
    }
