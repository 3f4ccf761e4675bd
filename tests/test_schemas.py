"""The published JSON Schemas (verifier/web/schemas.py) describe every document the project writes.

Each kind of document is made for real (a city's registry bundle after a root rotation and a key
retired, the demo's whole home, every permit issued, real verdicts and errors from the API) and
validated with jsonschema against the schema exactly as GET /api/v1/schemas/<name> serves it. A
status list is checked in the IETF Token Status List JWT form: built in the test from the draft's
text, and as every list `permit status publish` writes and the committed vectors hold.
"""

from __future__ import annotations

import json
import time
import zlib
from datetime import date
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from conftest import CITY_VERIFIER, DAY, KEYS_FROM, NOW, City, Clock, passphrase
from flask import Flask
from flask.testing import FlaskClient

from keys.algorithms import ALGORITHMS
from keys.encoding import b64url_decode, b64url_encode
from keys.jws import parse_compact
from keys.reasons import Reason
from permits import demo, issuing, operator
from permits.issuing import Amendment
from permits.ledger import PermitRecord
from permits.status_list import MIN_SIZE, Status
from permits.token import MAX_TOKEN_LENGTH, inflate_claims
from verifier.basis import basis_reader
from verifier.offline import verify_in_home
from verifier.verdict import STATUSES
from verifier.web import schemas
from verifier.web.app import create_app
from verifier.web.openapi import openapi_document

BASE = CITY_VERIFIER  # the test city's base_url
HEADER = ("$schema", "$id", "title")


def validator(name: str, part: tuple[str, ...] = ()) -> jsonschema.Draft202012Validator:
    """A validator for the served schema `name`, or for the subschema at `part` inside it."""
    schema: Any = schemas.published(name, BASE)
    for key in part:
        schema = schema[key]
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def errors(name: str, instance: Any, part: tuple[str, ...] = ()) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(name, part).iter_errors(instance)]


def check_bundle(raw: bytes) -> int:
    """Validate a registry bundle, each signature's protected header and each payload against
    their schemas; the number of root documents in its chain."""
    bundle = json.loads(raw)
    assert errors("registry-bundle.json", bundle) == []
    header = ("properties", "signatures", "items", "properties", "protected", "contentSchema")
    documents = [(root, ("properties", "roots", "items"), "root") for root in bundle["roots"]]
    documents.append((bundle["registry"], ("properties", "registry"), "registry"))
    for document, where, content in documents:
        for entry in document["signatures"]:
            assert errors("registry-bundle.json", json.loads(b64url_decode(entry["protected"])), (*where, *header)) == []
        payload = json.loads(b64url_decode(document["payload"]))
        assert errors("registry-bundle.json", payload, ("$defs", content)) == []
        if content == "registry":
            assert errors("registry.json", payload) == []
    return len(bundle["roots"])


def check_permit_token(token: str) -> dict[str, Any]:
    """The token's claims, inflated from its payload as a verifier does, validated."""
    parsed = parse_compact(token, MAX_TOKEN_LENGTH)
    claims = inflate_claims(parsed.payload, parsed.header["zip"])
    assert errors("permit.json", claims) == [], claims
    return dict(claims)


# --- the schemas themselves ------------------------------------------------------------------


@pytest.mark.parametrize("name", list(schemas.SCHEMAS))
def test_every_published_schema_is_a_valid_2020_12_schema(name: str) -> None:
    schema = schemas.published(name, BASE)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"{BASE}/api/v1/schemas/{name}"
    jsonschema.Draft202012Validator.check_schema(schema)


def test_there_is_a_jwk_schema_for_every_algorithm_the_project_allows() -> None:
    assert tuple(schemas.JWK_OF_ALGORITHM) == ALGORITHMS


def test_the_verdict_and_error_schemas_are_the_openapi_documents_own(client: FlaskClient) -> None:
    components = openapi_document(BASE, 100)["components"]["schemas"]
    assert components["Verdict"] is schemas.VERDICT and components["Error"] is schemas.PROBLEM
    served = client.get("/api/v1/openapi.json").get_json()["components"]["schemas"]
    for name, component in (("verdict.json", "Verdict"), ("problem.json", "Error")):
        published = client.get(f"/api/v1/schemas/{name}").get_json()
        assert {k: v for k, v in published.items() if k not in HEADER} == served[component]


@pytest.mark.parametrize("name", list(schemas.SCHEMAS))
def test_each_schema_is_served_beside_the_openapi_document_and_cacheable(client: FlaskClient, name: str) -> None:
    response = client.get(f"/api/v1/schemas/{name}")
    assert (response.status_code, response.headers["Content-Type"]) == (200, "application/schema+json")
    assert response.headers["Cache-Control"] == "public, max-age=3600"
    assert json.loads(response.data) == json.loads(json.dumps(schemas.published(name, BASE)))


@pytest.mark.parametrize("name", ["nope.json", "verdict", "VERDICT.json", "..%2Fopenapi.json"])
def test_an_unknown_schema_is_a_404_problem(client: FlaskClient, name: str) -> None:
    response = client.get(f"/api/v1/schemas/{name}")
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.get_json()
    assert errors("problem.json", body) == []
    assert (response.status_code, body["error"]["reason"]) == (404, "not_found")


# --- the registry ------------------------------------------------------------------------------


def test_the_registry_bundle_a_city_publishes_matches_after_a_root_rotation_and_a_key_retired(city: City) -> None:
    assert check_bundle(city.home.file("registry.json").read_bytes()) == 1
    operator.rotate_root(city.home, passphrase, 4, 3)
    kid = city.registry.agencies["hcm-sct"].keys[0].kid  # the ES256 agency's key
    operator.retire_key(city.home, "hcm-sct", kid, "superseded", NOW)
    registry = operator.publish(city.home, passphrase, NOW, 30 * DAY).registry
    assert registry.agencies["hcm-sct"].keys[0].retired_reason == "superseded"
    assert {key.alg for agency in registry.agencies.values() for key in agency.keys} == set(ALGORITHMS)
    assert check_bundle(city.home.file("registry.json").read_bytes()) == 2


def test_a_registry_outside_the_schema_is_refused_by_it(city: City) -> None:
    bundle = json.loads(city.home.file("registry.json").read_bytes())
    registry = json.loads(b64url_decode(bundle["registry"]["payload"]))
    agency = registry["agencies"]["hcm-syt"]
    kid, key = next(iter(agency["keys"].items()))
    for broken in (
        {**registry, "agencies": {}},  # empty policy
        {**registry, "agencies": {"hcm-syt": {**agency, "types": []}}},
        {**registry, "agencies": {"hcm-syt": {**agency, "keys": {"x": key}}}},  # not a kid
        {**registry, "agencies": {"hcm-syt": {**agency, "keys": {kid: {**key, "alg": "ES256"}}}}},  # an Ed25519 JWK
        {**registry, "agencies": {"hcm-syt": {**agency, "keys": {kid: {**key, "retired_at": NOW}}}}},  # without its reason
        {**registry, "version": -1},
        {**registry, "types": {**registry["types"], "food-safety": {**registry["types"]["food-safety"], "requires": []}}},  # left out
        {**registry, "types": {**registry["types"], "food-safety": {**registry["types"]["food-safety"], "requires": ["A"]}}},
        {**registry, "extra": 1},
    ):
        assert errors("registry.json", broken) != [], broken
    assert errors("registry-bundle.json", {**bundle, "registry": {**bundle["registry"], "signatures": []}}) != []


def test_a_registry_with_contacts_and_the_verdicts_naming_them_match(city: City, client: FlaskClient) -> None:
    operator.set_contact(city.home, "hcm-syt", "028 3930 9912", "https://medinet.hochiminhcity.gov.vn")
    operator.set_contact(city.home, "hcm-skhdt", "(028) 3829-7336", None)
    operator.set_contact(city.home, "hcm-sct", None, "https://congthuong.hochiminhcity.gov.vn/lien-he?lang=vi")
    operator.set_requirements(city.home, "alcohol-retail", ["business-registration"])
    city.trusted = operator.publish(city.home, passphrase, NOW, 30 * DAY)
    assert check_bundle(city.home.file("registry.json").read_bytes()) == 1
    registration = city.issue("hcm-skhdt", "business-registration", number="0316543210", holder_id="0316543210")
    licence = city.issue("hcm-sct", "alcohol-retail", basis=(registration.permit,), holder_id=None, holder_name=None, holder_address=None)
    revoked = city.issue(number="R")
    city.change(revoked, "revoked")
    city.publish_all()
    client.application.extensions["permit_store"].reload()
    for token in (licence.token, revoked.token):
        verdict = client.post("/api/v1/verify", json={"token": token}).get_json()
        assert errors("verdict.json", verdict) == [], verdict
    verdict = client.post("/api/v1/verify", json={"token": licence.token}).get_json()
    assert verdict["issuer"]["contact"] == {"web": "https://congthuong.hochiminhcity.gov.vn/lien-he?lang=vi"}
    assert verdict["basis"][0]["issuer"]["contact"] == {"phone": "(028) 3829-7336"}
    bundle = json.loads(city.home.file("registry.json").read_bytes())
    registry = json.loads(b64url_decode(bundle["registry"]["payload"]))
    agency = registry["agencies"]["hcm-syt"]
    for contact in ({}, {"phone": "gọi sở"}, {"web": "http://medinet.hochiminhcity.gov.vn"}, {"web": "https://a@b.vn"},
                    {"email": "syt@tphcm.gov.vn"}, {"phone": "028  3930 9912"}):
        assert errors("registry.json", {**registry, "agencies": {"hcm-syt": {**agency, "contact": contact}}}) != [], contact
    for contact in ({}, {"phone": 2839309912}):
        assert errors("verdict.json", {**verdict, "issuer": {**verdict["issuer"], "contact": contact}}) != [], contact


# --- permits ------------------------------------------------------------------------------------


def test_the_claims_of_every_permit_issued_match(city: City) -> None:
    records = [
        city.issue(number="A-1"),
        city.issue(number="A-2", holder_address=None, activities=()),
        city.issue(number="A-3", conditions=("Chỉ hoạt động từ 6 giờ đến 22 giờ",), activities=("Sản xuất", "Kinh doanh")),
        city.issue("hcm-sct", "alcohol-retail", number="ES-1"),
        city.issue("hcm-skhdt", "business-registration", at=KEYS_FROM + DAY, number="OLD-1", valid_until=date(2025, 1, 1)),
    ]
    with city.home.ledger("hcm-syt") as ledger:
        records.append(issuing.amend(ledger, city.registry, city.signers["hcm-syt"], records[0].permit.id,
                                     Amendment(holder_name="Công ty TNHH Thực phẩm Sạch Bình Minh Mới"), "test.officer", NOW))
    city.change(records[1], "revoked")
    for record in records:  # the amended permit's first version too
        assert check_permit_token(record.token) == record.permit.to_claims()
    for agency in city.registry.agencies:
        with city.home.ledger(agency, create=True) as ledger:
            for record in ledger.find(limit=1000):
                assert check_permit_token(record.token) == record.permit.to_claims()
    assert check_permit_token(records[-1].token)["ver"] == 2
    assert {"addr", "act", "cond"} <= check_permit_token(records[2].token)["permit"].keys()
    assert not {"addr", "act"} & check_permit_token(records[1].token)["permit"].keys()


def test_the_committed_vectors_of_genuine_permits_match() -> None:
    vectors = json.loads((Path(__file__).parent / "vectors" / "permits.json").read_text(encoding="utf-8"))
    genuine = [v for v in vectors if v["expected"]["valid"]]
    assert len(genuine) >= 2
    for vector in genuine:
        check_permit_token(vector["token"])


def test_claims_outside_the_schema_are_refused_by_it(city: City) -> None:
    claims = city.issue().permit.to_claims()
    for broken in (
        {k: v for k, v in claims.items() if k != "st"},
        {**claims, "jti": "lower"},
        {**claims, "st": -1},
        {**claims, "ver": 0},
        {**claims, "iat": 1.5},
        {**claims, "permit": {**claims["permit"], "act": []}},  # empty lists are left out
        {**claims, "extra": True},
    ):
        assert errors("permit.json", broken) != [], broken


def test_every_document_of_the_demo_home_matches(tmp_path: Path) -> None:
    home, cases = demo.build_demo(tmp_path / "demo", lambda line: None)
    assert check_bundle(home.file("registry.json").read_bytes()) == 1
    story = demo.once_only(home, lambda line: None, basis_reader)  # the registry's version 2: types resting on others
    assert check_bundle(home.file("registry.json").read_bytes()) == 1
    issued, bases = 0, []
    for agency in home.ledger_agencies():
            with home.ledger(agency) as ledger:
                for record in ledger.find(limit=1000):
                    bases.append(len(check_permit_token(record.token).get("basis", [])))
                    issued += 1
    assert issued == len(cases) - 1 + 3  # every sample but the forged one, and the story's three
    assert sorted(bases)[-2:] == [1, 2]
    for record in (story.registration, *story.resting):
        verdict = verify_in_home(home, record.token, int(time.time()))
        assert errors("verdict.json", json.loads(json.dumps(verdict.to_dict()))) == []


# --- status lists: the Token Status List JWT form -----------------------------------------------


def draft_claims(city: City, values: dict[int, Status], **changes: Any) -> dict[str, Any]:
    """A status list's claims as draft-ietf-oauth-status-list §4 and §5.1 define them: `sub` the
    list's URI, `iat`, `exp`, `ttl` and `status_list` {bits, lst}, `lst` the base64url of the ZLIB
    (RFC 1950) data of the array, entry i in bits 2(i mod 4) and up of byte i div 4."""
    array = bytearray(MIN_SIZE // 4)
    for index, status in values.items():
        array[index // 4] |= status << 2 * (index % 4)
    claims = {"sub": city.registry.agencies["hcm-syt"].status_url, "iat": NOW, "exp": NOW + DAY, "ttl": 3600,
              "status_list": {"bits": 2, "lst": b64url_encode(zlib.compress(bytes(array), 9))}}
    return {**claims, **changes}


def test_a_status_list_in_the_token_status_list_form_matches(city: City) -> None:
    values = {0: Status.VALID, 1: Status.REVOKED, 2: Status.SUSPENDED, 3: Status.SUPERSEDED, MIN_SIZE - 1: Status.REVOKED}
    claims = draft_claims(city, values)
    assert errors("status-list.json", claims) == []
    # and the list reads back as the draft says, every value in its place
    array = zlib.decompress(b64url_decode(claims["status_list"]["lst"]))
    assert [(array[i // 4] >> 2 * (i % 4)) & 3 for i in (0, 1, 2, 3, 4, MIN_SIZE - 1)] == [0, 1, 2, 3, 0, 1]


def test_every_status_list_we_publish_matches(city: City) -> None:
    """The lists the project really writes, each agency's (EdDSA and ES256), and the vectors'."""
    tokens = [city.publish_status(agency).token for agency in city.registry.agencies]
    vectors = Path(__file__).parent / "vectors"
    tokens += [path.read_text().strip() for path in sorted(vectors.glob("status-*.jwt"))]
    assert len(tokens) == len(city.registry.agencies) + 4
    for token in tokens:
        claims = json.loads(b64url_decode(token.split(".")[1]))
        assert errors("status-list.json", claims) == [], claims


def test_status_list_claims_outside_the_form_are_refused_by_it(city: City) -> None:
    claims = draft_claims(city, {7: Status.REVOKED})
    lst = claims["status_list"]["lst"]
    for broken in (
        {k: v for k, v in claims.items() if k != "sub"},
        {k: v for k, v in claims.items() if k != "ttl"},
        {**claims, "ttl": 0},
        {**claims, "status_list": {"bits": 1, "lst": lst}},
        {**claims, "status_list": {"bits": 2, "lst": lst + "=="}},
        {**claims, "status_list": {"bits": 2, "lst": lst, "size": MIN_SIZE}},
        # today's list keeps its claims in the header: {iss, iat, exp, size} is not this form
        {"iss": "hcm-syt", "iat": NOW, "exp": NOW + DAY, "size": MIN_SIZE},
    ):
        assert errors("status-list.json", broken) != [], broken


# --- verdicts and errors from the API -------------------------------------------------------------


def test_verdicts_of_every_status_from_the_api_match(city: City, client: FlaskClient, clock: Clock) -> None:
    tokens = {"valid": city.issue(number="V").token, "revoked": city.issue(number="R").token,
              "suspended": city.issue(number="S").token, "invalid": "not.a.permit",
              "expired": city.issue(at=NOW - 400 * DAY, number="E", valid_until=date(2026, 1, 1)).token,
              "not_yet_valid": city.issue(number="F", valid_from=date(2027, 1, 1)).token}
    city.issue(number="U")
    with city.home.ledger("hcm-syt") as ledger:
        old = ledger.get(ledger.find_by_number("U") or "")
        issuing.amend(ledger, city.registry, city.signers["hcm-syt"], old.permit.id, Amendment(holder_name="Tên Mới"), "test.officer", NOW)
        tokens["superseded"] = old.token
        for number, kind in (("R", "revoked"), ("S", "suspended")):
            issuing.change_status(ledger, ledger.find_by_number(number) or "", kind, "test.officer", NOW, "test")
    city.publish_status("hcm-syt")
    client.application.extensions["permit_store"].reload()
    seen = {}
    for expected, token in tokens.items():
        verdict = client.post("/api/v1/verify", json={"token": token}).get_json()
        assert errors("verdict.json", verdict) == [], verdict
        seen[expected] = verdict["status"]
    clock.now = NOW + 3 * DAY  # the status list is stale now
    stale = client.post("/api/v1/verify/batch", json={"tokens": [tokens["valid"]]}).get_json()["verdicts"][0]
    assert errors("verdict.json", stale) == []
    assert seen == {status: status for status in tokens} and stale["status"] == "status_unknown"
    assert set(seen.values()) | {stale["status"]} == set(STATUSES)


def rest_on_each_other(city: City) -> None:
    """The city's registry, published: food-safety rests on business-registration, alcohol-retail on both."""
    operator.set_requirements(city.home, "food-safety", ["business-registration"])
    operator.set_requirements(city.home, "alcohol-retail", ["business-registration", "food-safety"])
    city.trusted = operator.publish(city.home, passphrase, NOW, 30 * DAY)


def on_bases(city: City, agency: str, type: str, *bases: PermitRecord, **overrides: Any) -> PermitRecord:
    """A permit issued on `bases`, its holder taken from them."""
    values: dict[str, Any] = {"holder_id": None, "holder_name": None, "holder_address": None, **overrides}
    return city.issue(agency, type, basis=tuple(b.permit for b in bases), **values)


def test_verdicts_with_bases_in_every_state_from_the_api_match(city: City, client: FlaskClient, clock: Clock) -> None:
    """Real permits resting on others, each basis then amended, suspended, revoked, or issued by an
    agency the registry no longer allows that type: every verdict, and every basis state, matches."""
    rest_on_each_other(city)
    bundle = city.home.file("registry.json").read_bytes()
    assert check_bundle(bundle) == 1
    assert json.loads(b64url_decode(json.loads(bundle)["registry"]["payload"]))["types"]["alcohol-retail"]["requires"] == [
        "business-registration", "food-safety"]
    registrations = {name: city.issue("hcm-skhdt", "business-registration", number=f"0312345{n:03d}", holder_id=f"0312345{n:03d}")
                     for n, name in enumerate(("valid", "amended", "suspended", "revoked", "invalid"))}
    food = {name: on_bases(city, "hcm-sct" if name == "invalid" else "hcm-syt", "food-safety", registration,
                           number=f"{n}/2026/GCN-ATTP")
            for n, (name, registration) in enumerate(registrations.items())}
    alcohol = {name: on_bases(city, "hcm-sct", "alcohol-retail", registrations[name], food[name], number=f"{n}/2026/GP-SCT")
               for n, name in enumerate(registrations)}
    with city.home.ledger("hcm-skhdt") as ledger:
        issuing.amend(ledger, city.registry, city.signers["hcm-skhdt"], registrations["amended"].permit.id,
                      Amendment(holder_address="45 Lê Lợi, Phường Sài Gòn, TP. Hồ Chí Minh"), "test.officer", NOW)
        for kind in ("suspended", "revoked"):
            issuing.change_status(ledger, registrations[kind].permit.id, kind, "test.officer", NOW, "test")
    # The Department of Industry and Trade may no longer issue food-safety certificates: its own is no basis now.
    operator.set_agency_types(city.home, "hcm-sct", ["alcohol-retail"])
    city.trusted = operator.publish(city.home, passphrase, NOW, 30 * DAY)
    city.publish_all()
    client.application.extensions["permit_store"].reload()

    seen: dict[str, tuple[str, list[str], list[str]]] = {}
    for name, record in alcohol.items():
        verdict = client.post("/api/v1/verify", json={"token": record.token}).get_json()
        assert errors("verdict.json", verdict) == [], verdict
        seen[name] = (verdict["status"], verdict["reasons"], [basis["state"] for basis in verdict["basis"]])
    # References are sorted by agency: hcm-sct's food-safety certificate comes before hcm-skhdt's registration.
    assert seen == {
        "valid": ("valid", [], ["valid", "valid"]),
        "amended": ("valid", [], ["amended", "valid"]),
        "suspended": ("suspended", ["basis_suspended"], ["suspended", "valid"]),
        "revoked": ("revoked", ["basis_revoked"], ["revoked", "valid"]),
        "invalid": ("invalid", ["basis_invalid"], ["invalid", "valid"]),
    }
    first = client.post("/api/v1/verify", json={"token": alcohol["valid"].token}).get_json()["basis"]
    assert first == [
        {"id": registrations["valid"].permit.id,
         "type": {"code": "business-registration", "name": {"vi": "Giấy chứng nhận đăng ký doanh nghiệp", "en": "Business registration certificate"}},
         "issuer": {"id": "hcm-skhdt", "name": {"vi": "Sở Kế hoạch và Đầu tư", "en": "Department of Planning and Investment"}},
         "state": "valid"},
        {"id": food["valid"].permit.id,
         "type": {"code": "food-safety", "name": {"vi": "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", "en": "Food safety certificate"}},
         "issuer": {"id": "hcm-syt", "name": {"vi": "Sở Y tế", "en": "Department of Health"}},
         "state": "valid"},
    ]
    # The bases' lists are out of date: the permits cannot be confirmed (the batch answers alike).
    clock.now = NOW + 3 * DAY
    stale = client.post("/api/v1/verify/batch", json={"tokens": [alcohol["valid"].token]}).get_json()["verdicts"][0]
    assert errors("verdict.json", stale) == []
    assert (stale["status"], [basis["state"] for basis in stale["basis"]]) == ("status_unknown", ["status_unknown", "status_unknown"])
    assert {"status_stale", "basis_status_stale"} <= set(stale["reasons"])
    # And the claims each signed: a basis of one reference, and of two.
    assert [len(check_permit_token(food["valid"].token)["basis"]), len(check_permit_token(alcohol["valid"].token)["basis"])] == [1, 2]


def test_a_verdict_or_a_claim_whose_basis_is_outside_the_form_is_refused_by_it(city: City) -> None:
    rest_on_each_other(city)
    registration = city.issue("hcm-skhdt", "business-registration", number="0312345678")
    claims = on_bases(city, "hcm-syt", "food-safety", registration).permit.to_claims()
    [ref] = claims["basis"]
    for broken in (
        {**claims, "basis": []},  # left out when none
        {**claims, "basis": [ref] * 5},
        {**claims, "basis": [{k: v for k, v in ref.items() if k != "st"}]},
        {**claims, "basis": [{**ref, "jti": "lower"}]},
        {**claims, "basis": [{**ref, "extra": 1}]},
    ):
        assert errors("permit.json", broken) != [], broken
    city.publish_all()
    verdict = json.loads(json.dumps(city.verify(on_bases(city, "hcm-syt", "food-safety", registration, number="2/2026").token).to_dict()))
    assert errors("verdict.json", verdict) == []
    [basis] = verdict["basis"]
    for broken_basis in ({**basis, "state": "superseded"}, {k: v for k, v in basis.items() if k != "issuer"},
                         {**basis, "type": {"name": basis["type"]["name"]}}):
        assert errors("verdict.json", {**verdict, "basis": [broken_basis]}) != [], broken_basis
    assert errors("verdict.json", {**verdict, "basis": []}) != []


def refused(app: Flask, *requests: tuple[str, str, dict[str, Any]]) -> list[tuple[int, str]]:
    client, answers = app.test_client(), []
    for method, path, kwargs in requests:
        response = getattr(client, method)(path, **kwargs)
        assert response.headers["Content-Type"] == "application/problem+json"
        body = response.get_json()
        assert errors("problem.json", body) == [], body
        answers.append((response.status_code, body["error"]["reason"]))
    return answers


def test_errors_of_every_kind_match_the_problem_schema(app: Flask, city: City) -> None:
    big = b'{"roots": [], "registry": {}, "pad": "' + b"x" * (70 * 1024) + b'"}'
    assert refused(
        app,
        ("get", "/api/v1/nowhere", {}),
        ("delete", "/api/v1/verify", {}),
        ("post", "/api/v1/verify", {"data": "{", "content_type": "application/json"}),
        ("post", "/api/v1/verify", {"data": "x", "content_type": "text/plain"}),
        ("post", "/api/v1/verify", {"data": "{" + " " * 9000 + "}", "content_type": "application/json"}),
        ("put", "/api/v1/registry", {"data": "{}", "content_type": "application/json"}),
        ("get", "/api/v1/problems/no_such_reason", {}),
    ) == [(404, "not_found"), (405, "method_not_allowed"), (400, "bad_json"), (415, "unsupported_media_type"),
          (413, "body_too_large"), (422, "registry_invalid"), (404, "not_found")]
    with app.extensions["permit_large_pushes"].turn():  # another large push is being checked
        assert refused(app, ("put", "/api/v1/registry", {"data": big, "content_type": "application/json"})) == [(429, "push_busy")]
    node = create_app({"HOME": str(city.home.path), "BACKGROUND_REFRESH": False, "CLOCK": lambda: float(NOW + 3 * DAY),
                       "TESTING": True, "REFUSE_WHEN_UNREADY": True})
    assert refused(node, ("post", "/api/v1/verify", {"json": {"token": "x"}})) == [(503, "not_ready")]


def test_each_problem_type_is_served_in_both_languages(client: FlaskClient) -> None:
    error = client.post("/api/v1/verify", data="{", content_type="application/json").get_json()
    response = client.get(error["type"].removeprefix(BASE))
    assert (response.status_code, response.headers["Cache-Control"]) == (200, "public, max-age=3600")
    assert response.get_json() == {"type": f"{BASE}/api/v1/problems/bad_json", "reason": "bad_json",
                                   "title": {"vi": "JSON không hợp lệ.", "en": Reason.BAD_JSON.sentence}}
    assert error["title"] == Reason.BAD_JSON.sentence
