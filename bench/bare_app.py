"""The floor of the HTTP benchmark: the least any verifier must do, in a bare Flask endpoint.

It reads the same JSON body, splits the compact JWS, looks the key up by the header's kid and
checks the Ed25519 signature with `cryptography` directly, then answers a constant JSON object
of a real verdict's size. Everything our endpoint does beyond this (strict parsing, the checks
of the claims, the issuer and the status list, the verdict, the error handling and the security
headers) is what the ratio measures. The keys are read once at start from the home's trusted
registry; nothing of ours runs per request.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from flask import Flask, Response, request

from permits.home import Home

# A real verdict's size (a valid permit with a Vietnamese holder name and address).
VALID = json.dumps({
    "valid": True, "status": "valid", "reasons": [], "checked_at": "2026-11-22T02:00:00Z", "registry_version": 1,
    "permit": {"id": "B0000001", "version": 1, "number": "1/2026/GP", "type": {"code": "food-safety", "name": {
        "vi": "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", "en": "Food safety certificate"}},
        "holder": {"id": "0312345678", "name": "Công ty TNHH Thực phẩm Sạch Bình Minh",
                   "address": "128 Lê Lợi, Phường Sài Gòn, TP. Hồ Chí Minh"},
        "activities": ["Kinh doanh dịch vụ ăn uống"], "conditions": [], "issued_at": "2026-11-12T02:00:00Z",
        "valid_from": "2026-11-12T02:00:00Z", "valid_until": "2028-10-22T02:00:00Z"},
    "issuer": {"id": "hcm-a0001", "name": {"vi": "Sở số 1", "en": "Department 1"}},
}, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
INVALID = b'{"valid":false,"status":"invalid","reasons":["bad_signature"]}\n'


def _b64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def ed25519_keys(home: Path) -> dict[str, ed25519.Ed25519PublicKey]:
    """kid → public key of every Ed25519 agency key in the home's trusted registry."""
    registry = Home(home).trusted_registry(int(time.time())).registry
    keys = {}
    for agency in registry.agencies.values():
        for key in agency.keys:
            if isinstance(key.public_key.key, ed25519.Ed25519PublicKey):
                keys[key.kid] = key.public_key.key
    return keys


def create_bare_app(home: Path) -> Flask:
    app = Flask("bare")
    keys = ed25519_keys(home)

    @app.post("/api/v1/verify")
    def verify() -> Response:
        token = json.loads(request.get_data())["token"]
        header, payload, signature = token.split(".")
        key = keys[json.loads(_b64url(header))["kid"]]
        try:
            key.verify(_b64url(signature), f"{header}.{payload}".encode("ascii"))
            answer = VALID
        except InvalidSignature:
            answer = INVALID
        return Response(answer, mimetype="application/json")

    @app.get("/api/v1/healthz")
    def healthz() -> Response:
        return Response(b'{"status": "ok"}', mimetype="application/json")

    return app
