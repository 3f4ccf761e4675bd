"""The floor of the HTTP benchmark: a bare Flask endpoint that parses the same JSON body and
returns a constant JSON answer of a verdict's size. Everything our endpoint does beyond this
(strict parsing, verification, the verdict) is what the ratio measures."""

from __future__ import annotations

import json

from flask import Flask, Response, request

# A real verdict's size (a valid permit with a Vietnamese holder name and address).
CONSTANT = json.dumps({
    "valid": True, "status": "valid", "reasons": [], "checked_at": "2026-11-22T02:00:00Z", "registry_version": 1,
    "permit": {"id": "B0000001", "version": 1, "number": "1/2026/GP", "type": {"code": "food-safety", "name": {
        "vi": "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", "en": "Food safety certificate"}},
        "holder": {"id": "0312345678", "name": "Công ty TNHH Thực phẩm Sạch Bình Minh",
                   "address": "128 Lê Lợi, Phường Sài Gòn, TP. Hồ Chí Minh"},
        "activities": ["Kinh doanh dịch vụ ăn uống"], "conditions": [], "issued_at": "2026-11-12T02:00:00Z",
        "valid_from": "2026-11-12T02:00:00Z", "valid_until": "2028-10-22T02:00:00Z"},
    "issuer": {"id": "hcm-a0001", "name": {"vi": "Sở số 1", "en": "Department 1"}},
}, ensure_ascii=False).encode()


def create_bare_app() -> Flask:
    app = Flask("bare")

    @app.post("/api/v1/verify")
    def verify() -> Response:
        body = json.loads(request.get_data())
        assert isinstance(body.get("token"), str)
        return Response(CONSTANT, mimetype="application/json")

    @app.get("/api/v1/healthz")
    def healthz() -> Response:
        return Response(b'{"status": "ok"}', mimetype="application/json")

    return app
