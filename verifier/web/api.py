"""The JSON API under /api/v1, as the contract in DESIGN.md and /api/v1/openapi.json say.

A verdict is HTTP 200 whatever it says; a 4xx means the request itself could not be read, and
always has the same shape: RFC 9457 problem details that keep {"error": {"status", "reason",
"message"}} (verifier/web/errors.py).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException

from keys.encoding import loads_strict
from keys.errors import ConflictError, DocumentError, InputError, NotFoundError, RegistryRollback
from keys.reasons import Reason
from keys.text import is_identifier
from keys.trust import MAX_BUNDLE_BYTES
from permits.i18n import both
from permits.qr import token_from_input
from permits.status_list import MAX_STATUS_TOKEN_LENGTH, token_from_bytes
from permits.token import MAX_TOKEN_LENGTH
from verifier.metrics import REGISTRY, STATUS_LIST, count_verdict
from verifier.state import TrustStore
from verifier.verdict import iso
from verifier.web import schemas
from verifier.web.errors import ApiError, problem_type
from verifier.web.observe import counts_push
from verifier.web.openapi import openapi_document

blueprint = Blueprint("api", __name__)

VERIFY_BODY_MAX = 8 * 1024
STATUS_MEDIA_TYPES = ("application/statuslist+jwt", "application/jwt")
# A worker's few threads serve every endpoint, and its one interpreter runs one of them at a
# time. A pushed document larger than LARGE_PUSH_BYTES (a registry bundle; a status list is far
# smaller: 20 KB for a million permits) is read and checked by one thread of a worker at a time,
# and such checks may take, beyond a burst of LARGE_PUSH_BURST seconds, at most
# LARGE_PUSH_CPU_SHARE of the worker's processor time; any other is told to come back (429)
# before its body is read. So pushes, hostile or slow, never take the threads or the time that
# verification needs. (gunicorn then closes the connection rather than read the unread body: a
# client still sending it may see the connection reset.)
LARGE_PUSH_BYTES = 64 * 1024
LARGE_PUSH_CPU_SHARE = 0.25
LARGE_PUSH_BURST = 1.0  # seconds of processor time
PUSH_RETRY_AFTER = 2  # seconds
NOT_READY_RETRY_AFTER = 5  # seconds

class LargePushes:
    """This worker's turn for large pushes: one at a time, paid from a budget of processor time
    that refills at LARGE_PUSH_CPU_SHARE of a second per second, up to LARGE_PUSH_BURST."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._busy = False
        self._budget = LARGE_PUSH_BURST
        self._refilled_at = time.monotonic()

    @contextmanager
    def turn(self) -> Iterator[None]:
        """Hold the turn for the block; raise ApiError(429) when it is taken or the budget spent."""
        with self._lock:
            now = time.monotonic()
            self._budget = min(LARGE_PUSH_BURST, self._budget + (now - self._refilled_at) * LARGE_PUSH_CPU_SHARE)
            self._refilled_at = now
            if self._busy or self._budget <= 0:
                raise ApiError(429, Reason.PUSH_BUSY, "this verifier is checking other large documents; send it again in a moment")
            self._busy = True
        started = time.thread_time()
        try:
            yield
        finally:
            with self._lock:
                self._budget -= time.thread_time() - started
                self._busy = False


@blueprint.record_once
def _large_pushes(state: BlueprintSetupState) -> None:
    state.app.extensions["permit_large_pushes"] = LargePushes()


@blueprint.after_request
def _retry_after(response: Response) -> Response:
    if response.status_code == 429:
        response.headers["Retry-After"] = str(PUSH_RETRY_AFTER)
    elif response.status_code == 503:
        response.headers["Retry-After"] = str(NOT_READY_RETRY_AFTER)
    return response


def _push_turn(limit: int) -> AbstractContextManager[None]:
    """Held while a pushed document is read and checked: none is needed for a small body, or
    for one declared over `limit` (refused 413 before a byte of it is read)."""
    declared = request.content_length
    if declared is not None and (declared <= LARGE_PUSH_BYTES or declared > limit):
        return nullcontext()
    pushes: LargePushes = current_app.extensions["permit_large_pushes"]
    return pushes.turn()


def _store() -> TrustStore:
    store: TrustStore = current_app.extensions["permit_store"]
    if current_app.config["BACKGROUND_REFRESH"]:
        store.start()  # in a process forked after the app was built (app.create_app)
    return store


def _current_store() -> TrustStore:
    """The store, caught up with what another worker of this node accepted: a document or a
    health answer never comes from the older one once a push was answered."""
    store = _store()
    store.catch_up()
    return store


def _verifying_store() -> TrustStore:
    """The store, for an answer that is a verdict. A node of a fleet (REFUSE_WHEN_UNREADY) that
    is not ready refuses with 503 instead, so the load balancer asks another node and, after a
    few such answers, stops sending it traffic; a lone verifier answers with what it holds."""
    store = _store()
    if current_app.config["REFUSE_WHEN_UNREADY"]:
        store.catch_up()
        if not store.snapshot.ready(store.now()):
            raise ApiError(503, Reason.NOT_READY, "this verifier does not hold current documents; ask another")
    return store


def _body(limit: int, media_types: tuple[str, ...]) -> bytes:
    environ = request.environ
    coding = environ.get("HTTP_TRANSFER_ENCODING")
    # gunicorn frames a body by its last coding, chunked, and hands over the rest undecoded: a
    # body sent "gzip, chunked" would be read as if it were plain. Chunked alone, or nothing.
    if coding is not None and [c.strip(" \t").lower() for c in coding.split(",")] != ["chunked"]:
        raise ApiError(400, Reason.UNSUPPORTED_TRANSFER_CODING, "send the body as it is, or chunked and nothing else")
    # A media type sent exactly as named (the usual request) needs no parsing.
    if environ.get("CONTENT_TYPE") not in media_types:
        if request.mimetype not in media_types:
            raise ApiError(415, Reason.UNSUPPORTED_MEDIA_TYPE, f"send Content-Type: {media_types[0]}")
        charset = request.mimetype_params.get("charset")
        if charset is not None and charset.lower() not in ("utf-8", "utf8"):
            raise ApiError(415, Reason.UNSUPPORTED_MEDIA_TYPE, "the body must be UTF-8")
    # One byte more than allowed is read, so a chunked body (no Content-Length) that is too long
    # is refused rather than cut; a declared length over the limit is refused before reading.
    request.max_content_length = limit + 1
    try:
        data = request.get_data(cache=False)
    except HTTPException:
        raise
    except Exception:  # the transport failed mid-body (bad chunking, a closed connection)
        raise ApiError(400, Reason.BAD_BODY, "the request body could not be read") from None
    if len(data) > limit:
        raise ApiError(413, Reason.BODY_TOO_LARGE, f"the body is larger than {limit} bytes")
    return data


def _json_object(limit: int, allowed: frozenset[str]) -> dict[str, Any]:
    try:
        body = loads_strict(_body(limit, ("application/json",)))
    except ValueError as exc:
        raise ApiError(400, Reason.BAD_JSON, f"the body is not strict JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, Reason.BODY_NOT_OBJECT, "the body must be a JSON object")
    unknown = body.keys() - allowed
    if unknown:
        raise ApiError(400, Reason.UNKNOWN_MEMBER, f"unknown member {sorted(unknown)[0]!r}")
    return body


def _token(value: object, where: str) -> str:
    """A token as sent: a compact JWS, or the digits a QR code carries after '#'."""
    if not isinstance(value, str):
        raise ApiError(400, Reason.TOKEN_NOT_STRING, f"{where} must be a string")
    if len(value) > 2 * MAX_TOKEN_LENGTH:
        raise ApiError(413, Reason.TOKEN_TOO_LARGE, f"{where} is longer than any permit")
    if value.isascii() and value.isdigit():
        try:
            return token_from_input(value)
        except ValueError:
            return value  # the pipeline calls it malformed_token
    if len(value) > MAX_TOKEN_LENGTH:
        raise ApiError(413, Reason.TOKEN_TOO_LARGE, f"{where} is longer than {MAX_TOKEN_LENGTH} characters")
    return value


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    return response


# jsonify's answer (compact, UTF-8 as it is, members in their order, a final newline) from an
# encoder built once (jsonify builds one for every response); a verdict is a tree of fresh dicts
# and lists, so the encoder need not look for cycles.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode
_VERIFY_MEMBERS = frozenset({"token"})
_BATCH_MEMBERS = frozenset({"tokens"})


def _verdicts(answer: dict[str, Any]) -> Response:
    """A verdict or a batch of them: JSON, never cached."""
    response = Response(_encode(answer) + "\n", content_type="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.post("/verify")
def verify() -> Response:
    body = _json_object(VERIFY_BODY_MAX, _VERIFY_MEMBERS)
    if "token" not in body:
        raise ApiError(400, Reason.MISSING_TOKEN, "the body must have a token")
    verdict = _verifying_store().verify(_token(body["token"], "token"))
    count_verdict(verdict)
    return _verdicts(verdict.to_dict())


@blueprint.post("/verify/batch")
def verify_batch() -> Response:
    limit = int(current_app.config["MAX_BATCH"])
    body = _json_object(limit * (2 * MAX_TOKEN_LENGTH + 8) + 64, _BATCH_MEMBERS)
    tokens = body.get("tokens")
    if not isinstance(tokens, list):
        raise ApiError(400, Reason.MISSING_TOKENS, "the body must have tokens, a list of strings")
    if len(tokens) > limit:
        raise ApiError(413, Reason.BATCH_TOO_LARGE, f"at most {limit} tokens per request")
    checked = [_token(token, f"tokens[{i}]") for i, token in enumerate(tokens)]
    store = _verifying_store()
    verdicts = [store.verify(token) for token in checked]
    for verdict in verdicts:
        count_verdict(verdict)
    return _verdicts({"verdicts": [verdict.to_dict() for verdict in verdicts]})


def _document(body: bytes, media_type: str, expires_at: int, now: int) -> Response:
    etag = hashlib.sha256(body).hexdigest()[:32]
    max_age = max(0, min(int(current_app.config["REFRESH_INTERVAL"]), expires_at - now))
    response = Response(body, mimetype=media_type)
    response.set_etag(etag)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    if request.if_none_match.contains(etag):
        response.status_code = 304
        response.set_data(b"")
    return response


@blueprint.get("/registry")
def registry() -> Response:
    trusted = _current_store().snapshot.registry
    if trusted is None:
        raise ApiError(404, Reason.REGISTRY_UNAVAILABLE, "this verifier holds no trusted registry yet")
    return _document(trusted.bundle, "application/json", trusted.registry.expires_at, _store().now())


@blueprint.put("/registry")
@counts_push(REGISTRY)
def put_registry() -> Response:
    with _push_turn(MAX_BUNDLE_BYTES):
        raw = _body(MAX_BUNDLE_BYTES, ("application/json",))
        try:
            trusted = _store().put_registry(raw)
        except ConflictError as exc:
            raise ApiError(409, exc.reason, exc.message) from None
        except DocumentError as exc:
            status = 409 if isinstance(exc, RegistryRollback) else 422
            raise ApiError(status, exc.reason, exc.message) from None
    return jsonify({"accepted": True, "version": trusted.registry.version, "expires_at": iso(trusted.registry.expires_at)})


def _agency(agency: str) -> str:
    if not is_identifier(agency):
        raise ApiError(404, Reason.UNKNOWN_ISSUER, "no such agency")
    return agency


@blueprint.get("/status/<agency>")
def status_list(agency: str) -> Response:
    snapshot = _current_store().snapshot
    held = snapshot.lists.get(_agency(agency))
    if held is None:
        raise ApiError(404, Reason.STATUS_UNAVAILABLE, f"this verifier holds no status list of {agency}")
    return _document(held.token.encode("ascii"), "application/statuslist+jwt", held.expires_at, _store().now())


@blueprint.put("/status/<agency>")
@counts_push(STATUS_LIST)
def put_status_list(agency: str) -> Response:
    with _push_turn(MAX_STATUS_TOKEN_LENGTH + 2):
        raw = _body(MAX_STATUS_TOKEN_LENGTH + 2, STATUS_MEDIA_TYPES)
        try:
            token = token_from_bytes(raw)
        except DocumentError:
            raise ApiError(400, Reason.MALFORMED_TOKEN, "a status list is ASCII") from None
        try:
            held = _store().put_status(_agency(agency), token)
        except NotFoundError as exc:
            raise ApiError(404, exc.reason, exc.message) from None
        except ConflictError as exc:
            raise ApiError(409, exc.reason, exc.message) from None
        except (DocumentError, InputError) as exc:
            raise ApiError(422, exc.reason, exc.message) from None
    return jsonify({"accepted": True, "agency": agency, "issued_at": iso(held.issued_at), "expires_at": iso(held.expires_at)})


@blueprint.get("/healthz")
def healthz() -> Response:
    store = _current_store()
    snapshot, now = store.snapshot, store.now()
    body: dict[str, Any] = {"status": "ok", "checked_at": iso(now), "registry": None, "registry_problem": snapshot.registry_problem, "status_lists": {}}
    if snapshot.registry is None:
        body["status"] = "unavailable"
        return _no_store(jsonify(body))
    reg = snapshot.registry.registry
    registry_stale = now >= reg.expires_at + store.grace
    body["registry"] = {"version": reg.version, "issued_at": iso(reg.issued_at), "expires_at": iso(reg.expires_at),
                        "age_seconds": now - reg.issued_at, "stale": registry_stale}
    degraded = registry_stale
    for agency in sorted(reg.agencies):
        held = snapshot.lists.get(agency)
        if held is None:
            body["status_lists"][agency] = {"problem": snapshot.list_problems.get(agency, Reason.STATUS_UNAVAILABLE)}
            degraded = True
            continue
        stale = held.is_expired(now - store.grace)
        degraded = degraded or stale
        body["status_lists"][agency] = {"issued_at": iso(held.issued_at), "expires_at": iso(held.expires_at),
                                        "age_seconds": now - held.issued_at, "stale": stale}
    body["status"] = "degraded" if degraded else "ok"
    return _no_store(jsonify(body))


@blueprint.get("/livez")
def livez() -> Response:
    """Liveness: the process answers. A load balancer or supervisor restarts what fails it."""
    return _no_store(jsonify({"status": "alive"}))


@blueprint.get("/readyz")
def readyz() -> Response:
    """Readiness: 200 while this node holds a trusted registry and a current status list of
    every agency in it; 503 `not_ready` before that and once any of them is stale."""
    store = _store()
    store.catch_up()
    if not store.snapshot.ready(store.now()):
        raise ApiError(503, Reason.NOT_READY, "this verifier does not hold a current registry and every agency's status list")
    return _no_store(jsonify({"status": "ready"}))


@blueprint.get("/openapi.json")
def openapi() -> Response:
    response = jsonify(openapi_document(str(current_app.config["BASE_URL"]), int(current_app.config["MAX_BATCH"])))
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def _described(body: dict[str, Any], mimetype: str = "application/json") -> Response:
    """A description of the API itself: the same until the service is upgraded, so cacheable."""
    response = Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n", mimetype=mimetype)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@blueprint.get("/schemas/<name>")
def schema(name: str) -> Response:
    if name not in schemas.SCHEMAS:
        raise ApiError(404, Reason.NOT_FOUND, f"no schema {name!r}; there are {', '.join(schemas.SCHEMAS)}")
    return _described(schemas.published(name, str(current_app.config["BASE_URL"])), schemas.MEDIA_TYPE)


@blueprint.get("/problems/<reason>")
def problem(reason: str) -> Response:
    """What an error's `type` URI names: its reason and sentence in both languages."""
    found = Reason.of(reason)
    if found is None:
        raise ApiError(404, Reason.NOT_FOUND, "no such problem type")
    return _described({"type": problem_type(str(current_app.config["BASE_URL"]), found), "reason": found, "title": both(found.sentence)})
