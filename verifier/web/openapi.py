"""The OpenAPI 3.1 description of /api/v1: every path, request and response, errors included.

Built from the same constants the code uses (statuses, reason codes, limits), so the document
cannot drift from what the service does; a schemathesis run in the test suite checks that every
response matches it.
"""

from __future__ import annotations

from typing import Any

from keys.reasons import Reason
from permits.token import MAX_TOKEN_LENGTH
from verifier.web import schemas
from verifier.web.errors import PROBLEM_MEDIA_TYPE

_TIME = {"type": "string", "format": "date-time"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Error"}}}}


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
                "4xx means the request could not be read. Reason codes are stable: add, never rename. "
                "A permit resting on others (a food-safety certificate on a business registration) lists each of them "
                "under `basis` with its state today, found offline in the same registry and status lists, one level deep; "
                "a basis revoked, suspended or whose status cannot be known makes the permit so (basis_revoked, "
                "basis_suspended, basis_status_unavailable, basis_status_stale, basis_invalid). "
                "Every error is RFC 9457 problem details (application/problem+json, whatever the request's Accept) "
                "that keeps the earlier {\"error\": {\"status\", \"reason\", \"message\"}} as an extension member; "
                f"its type is {base_url.rstrip('/')}/api/v1/problems/{{reason}}. JSON Schemas (2020-12) of the documents "
                "the service writes are at /schemas/{name}."
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
            "/schemas/{name}": {
                "get": {
                    "operationId": "getSchema",
                    "summary": "A JSON Schema (2020-12) of a document the service writes: the registry bundle and the registry "
                               "document in it, a status list's claims, a permit's claims, the verdict, the API's error.",
                    "parameters": [{"name": "name", "in": "path", "required": True,
                                    "schema": {"type": "string", "enum": list(schemas.SCHEMAS)}}],
                    "responses": {
                        "200": {"description": "The schema; its $id is its own URL.",
                                "headers": {"Cache-Control": {"description": "public, max-age=3600.", "schema": {"type": "string"}}},
                                "content": {schemas.MEDIA_TYPE: {"schema": {"type": "object"}}}},
                        "404": _error("No such schema (not_found)."),
                    },
                }
            },
            "/problems/{reason}": {
                "get": {
                    "operationId": "getProblemType",
                    "summary": "What an error's type means: the reason and its sentence in Vietnamese and English.",
                    "parameters": [{"name": "reason", "in": "path", "required": True, "schema": {"type": "string", "enum": sorted(Reason)}}],
                    "responses": {
                        "200": {**_json("The problem type.", "ProblemType"),
                                "headers": {"Cache-Control": {"description": "public, max-age=3600.", "schema": {"type": "string"}}}},
                        "404": _error("No such reason (not_found)."),
                    },
                }
            },
        },
        "components": {"schemas": _schemas(max_batch)},
    }


def _schemas(max_batch: int) -> dict[str, Any]:
    return {
        "Error": schemas.PROBLEM,
        "ProblemType": {
            "type": "object", "required": ["type", "reason", "title"], "additionalProperties": False,
            "properties": {"type": {"type": "string", "format": "uri"}, "reason": {"type": "string"},
                           "title": {"type": "object", "required": ["vi", "en"], "additionalProperties": False,
                                     "properties": {"vi": {"type": "string"}, "en": {"type": "string"}}}},
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
        # The very objects /schemas/verdict.json publishes: one source.
        "Verdict": schemas.VERDICT,
        "Permit": schemas.PERMIT_VIEW,
        "Basis": schemas.BASIS_VIEW,
        "BatchVerdicts": {
            "type": "object", "required": ["verdicts"], "additionalProperties": False,
            "properties": {"verdicts": {"type": "array", "items": {"$ref": "#/components/schemas/Verdict"}}},
        },
        "RegistryBundle": {
            "description": "The signed registry bundle; /schemas/registry-bundle.json describes it in full.",
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
