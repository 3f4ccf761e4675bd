"""Property-based fuzzing of the HTTP API with schemathesis, against the service's own
/api/v1/openapi.json: whatever schemathesis sends, no 5xx, and every response (status code,
content type, headers, body) is one the document promises.

The schema is loaded from the Flask app itself (WSGI), so every request goes to the app in
this process and never to the `servers` URL written in the document. Generation is
derandomised (a fixed seed per operation and mode) and bounded, so CI runs the same examples
in a few seconds. A third run turns each body into a hostile shape (tests/security/shapes.py):
deep nesting, huge integers and extreme times, in bodies, in permits signed by an agency's key,
in status lists signed by it and in registries signed by the root keys; the GETs come after.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from conftest import NOW, City
from flask import Flask
from forge import sign_raw
from hostile import agency_key, claims_token, genuine, list_claims, registry_content, root_signers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from shapes import SHAPES, TIME_SHAPES, Shape, spliced

from keys.jws import TYP_REGISTRY, sign_general
from keys.trust import make_bundle

EXAMPLES_PER_OPERATION = 50
HOSTILE_EXAMPLES_PER_OPERATION = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
OPERATIONS = {
    "POST /verify",
    "POST /verify/batch",
    "GET /registry",
    "PUT /registry",
    "GET /status/{agency}",
    "PUT /status/{agency}",
    "GET /healthz",
    "GET /livez",
    "GET /readyz",
    "GET /schemas/{name}",
    "GET /problems/{reason}",
}  # GET /openapi.json itself: schemathesis leaves out the endpoint it loaded the document from


def _label(operation: Any) -> str:
    return f"{operation.method.upper()} {operation.path}"


def _takes_agency(operation: Any) -> bool:
    return "agency" in {parameter.name for parameter in operation.path_parameters}


def _run(operation: Any, mode: GenerationMode, calls: Counter[str], examples: int = EXAMPLES_PER_OPERATION, **fixed: Any) -> None:
    label = f"{_label(operation)} [{mode.value}{', ' + str(fixed) if fixed else ''}]"

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def fuzz(case: Any) -> None:
        # The WSGI transport hands the body over as sent, without undoing a Content-Encoding; the
        # contract is about the content (compression is tested in tests/test_offline_page.py).
        response = case.call(headers={"Accept-Encoding": "identity"})
        assert urlsplit(response.request.url).path.startswith("/api/v1/"), response.request.url
        case.validate_response(response, checks=CHECKS)
        calls[label] += 1
        calls[f"status {response.status_code}"] += 1

    fuzz()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["positive", "negative"])
def test_schemathesis_finds_no_5xx_and_no_response_outside_the_openapi_document(
    city: City, app: Flask, mode: GenerationMode, capsys: pytest.CaptureFixture[str]
) -> None:
    # A genuine, revoked permit is in the held status list, so verdicts with a permit body occur too.
    city.change(city.issue(), "revoked")
    city.publish_status("hcm-syt")
    app.extensions["permit_store"].reload()

    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {_label(op) for op in operations} == OPERATIONS
    assert all(op.app is app for op in operations)  # calls go to the WSGI app, not the network

    if mode is GenerationMode.NEGATIVE:
        # Only a body can break its schema: a path parameter is any string and the GETs take nothing.
        operations = [op for op in operations if len(op.body)]
    calls: Counter[str] = Counter()
    for operation in operations:
        _run(operation, mode, calls)
        if _takes_agency(operation):
            # Random agency ids are all unknown (404): run again on a real agency, so that the
            # document and the body checks behind the 404 are fuzzed too.
            _run(operation, mode, calls, path_parameters={"agency": "hcm-syt"})

    per_operation = {label: n for label, n in calls.items() if not label.startswith("status ")}
    statuses = {label: n for label, n in calls.items() if label.startswith("status ")}
    with capsys.disabled():
        print(f"\nschemathesis [{mode.value}]: {sum(per_operation.values())} examples; "
              f"{dict(sorted(per_operation.items()))}; responses {dict(sorted(statuses.items()))}")
    # Every operation was exercised; a mode that finds nothing to vary still sends its examples.
    assert {label.split(" [")[0] for label in per_operation} == {_label(op) for op in operations}
    assert sum(per_operation.values()) >= len(OPERATIONS) * 5
    assert not any(label.startswith("status 5") for label in statuses)


def _value(shape: Shape) -> Any:
    """The shape as the Python value schemathesis serialises back to the same JSON (integers of
    any size, lone surrogates as escapes, 600 levels of nesting)."""
    return json.loads(shape.text)


def hostile_bodies(city: City, app: Flask) -> Callable[[Any, Any], st.SearchStrategy[Any]]:
    """A flatmap_body hook: each body schemathesis generates becomes a hostile one, a bare shape or
    a document genuinely signed around one."""
    store = app.extensions["permit_store"]
    agency, roots = city.signers["hcm-syt"], root_signers(city)
    claims = genuine(city).to_claims()
    content = registry_content(city)
    kid = agency_key(content, "hcm-syt")[0]

    def token(claim: str, shape: Shape) -> str:
        return claims_token(city, spliced(claims, shape, claim))

    def status_list(member: str, shape: Shape) -> str:
        held = store.snapshot.lists.get("hcm-syt")
        header = {"alg": agency.alg, "kid": agency.kid, "typ": "statuslist+jwt"}
        claims = list_claims(city, "hcm-syt", iat=(held.issued_at if held else NOW) + 1)
        return sign_raw(header, spliced(claims, shape, member), agency)

    def registry(path: tuple[str, ...], shape: Shape) -> Any:
        payload = spliced({**content, "version": store.snapshot.registry.registry.version + 1}, shape, *path)
        return json.loads(make_bundle(city.home.root_chain(), sign_general(payload, roots, TYP_REGISTRY)))

    claims_at = st.sampled_from(["iat", "nbf", "exp", "st", "ver", "permit"])
    tokens = st.one_of(SHAPES.map(_value), st.builds(token, claims_at, SHAPES))
    registry_at = st.sampled_from([("issued_at",), ("expires_at",), ("version",), ("agencies", "hcm-syt", "keys", kid, "valid_from")])
    strategies = {
        "POST /verify": tokens.map(lambda t: {"token": t}),
        "POST /verify/batch": st.lists(tokens, min_size=1, max_size=3).map(lambda ts: {"tokens": ts}),
        "PUT /registry": st.one_of(SHAPES.map(lambda s: {"roots": _value(s), "registry": {}}), st.builds(registry, registry_at, TIME_SHAPES)),
        "PUT /status/{agency}": st.builds(status_list, st.sampled_from(["iat", "exp"]), TIME_SHAPES).map(str.encode),
    }

    def flatmap_body(context: Any, body: Any) -> st.SearchStrategy[Any]:
        return strategies[_label(context.operation)]

    return flatmap_body


def test_schemathesis_finds_no_5xx_with_hostile_shapes_in_every_body_and_document(
    city: City, app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    schema.hook(hostile_bodies(city, app))
    operations = [result.ok() for result in schema.get_all_operations()]
    # The bodies first (the registry last: one accepted may leave the agency's lists unverifiable),
    # then the GETs: whatever hostile document was accepted, every GET answers.
    operations.sort(key=lambda op: (not len(op.body), _label(op) == "PUT /registry"))
    calls: Counter[str] = Counter()
    for operation in operations:
        fixed = {"path_parameters": {"agency": "hcm-syt"}} if _takes_agency(operation) else {}
        _run(operation, GenerationMode.POSITIVE, calls, HOSTILE_EXAMPLES_PER_OPERATION if len(operation.body) else 5, **fixed)
    statuses = {label: n for label, n in calls.items() if label.startswith("status ")}
    with capsys.disabled():
        print(f"\nschemathesis [hostile]: {sum(n for label, n in calls.items() if not label.startswith('status '))} examples; "
              f"responses {dict(sorted(statuses.items()))}")
    assert {label.split(" [")[0] for label in calls if not label.startswith("status ")} == OPERATIONS
    assert not any(label.startswith("status 5") for label in statuses)
