"""Property-based fuzzing of the HTTP API with schemathesis, against the service's own
/api/v1/openapi.json: whatever schemathesis sends, no 5xx, and every response (status code,
content type, headers, body) is one the document promises.

The schema is loaded from the Flask app itself (WSGI), so every request goes to the app in
this process and never to the `servers` URL written in the document. Generation is
derandomised (a fixed seed per operation and mode) and bounded, so CI runs the same examples
in a few seconds.
"""

from __future__ import annotations

from collections import Counter
from typing import Any
from urllib.parse import urlsplit

import pytest
import schemathesis
from conftest import City
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

EXAMPLES_PER_OPERATION = 50
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
}  # GET /openapi.json itself: schemathesis leaves out the endpoint it loaded the document from


def _label(operation: Any) -> str:
    return f"{operation.method.upper()} {operation.path}"


def _run(operation: Any, mode: GenerationMode, calls: Counter[str], **fixed: Any) -> None:
    label = f"{_label(operation)} [{mode.value}{', ' + str(fixed) if fixed else ''}]"

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        print_blob=True,
    )
    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    def fuzz(case: Any) -> None:
        response = case.call()
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
        if len(operation.path_parameters):
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
