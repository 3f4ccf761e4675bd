"""Rule 4, JSON: UTF-8 without BOM; no duplicate members; no NaN, Infinity or numbers outside
the exactly-representable range; nesting bounded before anything recurses; time claims are JSON
integers and identifiers JSON strings.
The same strict reader guards permits, status lists, the registry and API request bodies.

Every document here carries a genuine signature (agency key or root threshold), so the JSON
is the only thing that can be wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW, City
from flask.testing import FlaskClient
from forge import permit_header, sign_raw
from hostile import (
    assert_refused,
    assert_valid,
    claims_token,
    copy_city,
    genuine,
    header_token,
    list_claims,
    list_payload,
    open_list,
    open_registry,
    registry_content,
    registry_refused,
    root_signed_bundle,
    status_header,
    status_refused,
)

from keys.encoding import MAX_DEPTH, dumps_canonical
from permits.model import Permit

JSON = "application/json"


@pytest.fixture(scope="module")
def city(city_template: Path, tmp_path_factory: pytest.TempPathFactory) -> City:
    """One city for the whole module: its tests forge and verify, and change nothing shared."""
    return copy_city(city_template, tmp_path_factory.mktemp("rule4_json"))


def canonical(permit: Permit) -> str:
    return dumps_canonical(permit.to_claims()).decode()


def with_member(json_text: str, after: str, member: str) -> str:
    """Insert `member` right after the first occurrence of `after` (an opening brace)."""
    assert json_text.count(after) >= 1
    return json_text.replace(after, after + member + ",", 1)


def time_claim_replaced(permit: Permit, claim: str, literal: str) -> bytes:
    text = canonical(permit)
    value = f'"{claim}":{permit.to_claims()[claim]}'
    assert text.count(value) == 1
    return text.replace(value, f'"{claim}":{literal}').encode()


# --- duplicate members ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "member"),
    [
        ("{", '"iss":"hcm-skhdt"'),  # the claims start with "exp"; "iss" comes again later
        ("{", '"exp":4102444800'),
        ("{", '"ptype":"construction"'),
        ("{", '"sub":"0399999999"'),
        ('"permit":{', '"name":"Công ty TNHH Giả Mạo"'),
        ('"permit":{', '"no":"GP-0000"'),
    ],
    ids=["iss", "exp", "ptype", "sub", "permit.name", "permit.no"],
)
def test_second_json_member_overriding_a_claim_is_refused(city: City, after: str, member: str) -> None:
    permit = genuine(city)
    assert_valid(city.verify(claims_token(city, canonical(permit).encode())))
    doubled = with_member(canonical(permit), after, member)
    assert_refused(city.verify(claims_token(city, doubled.encode())), "malformed_token")


def test_the_whole_permit_object_given_twice_is_refused(city: City) -> None:
    permit = genuine(city)
    forged = with_member(canonical(permit), "{", '"permit":{"name":"Công ty TNHH Giả Mạo","no":"GP-0000"}')
    assert_refused(city.verify(claims_token(city, forged.encode())), "malformed_token")


@pytest.mark.parametrize(
    "template",
    [
        '{{"alg":"none","alg":"{alg}","kid":"{kid}","typ":"permit+jwt","zip":"DEFv1"}}',
        '{{"alg":"{alg}","alg":"HS256","kid":"{kid}","typ":"permit+jwt","zip":"DEFv1"}}',
        '{{"alg":"{alg}","kid":"../other","kid":"{kid}","typ":"permit+jwt","zip":"DEFv1"}}',
        '{{"alg":"{alg}","kid":"{kid}","typ":"statuslist+jwt","typ":"permit+jwt","zip":"DEFv1"}}',
        '{{"alg":"{alg}","kid":"{kid}","typ":"permit+jwt","zip":"DEFv1","zip":"DEF"}}',
        '{{"alg":"{alg}","kid":"{kid}","typ":"permit+jwt","zip":"DEFv1","zip":"DEFv1"}}',
    ],
    ids=["alg none then real", "alg real then HS256", "kid", "typ", "zip other", "zip same value twice"],
)
def test_second_json_member_in_the_header_is_refused(city: City, template: str) -> None:
    permit = genuine(city)
    signer = city.signers["hcm-syt"]
    header = template.format(alg=signer.alg, kid=signer.kid).encode()
    assert_refused(city.verify(header_token(city, header, permit)), "malformed_token")


# --- numbers --------------------------------------------------------------------------------


@pytest.mark.parametrize("claim", ["iat", "nbf", "exp"])
@pytest.mark.parametrize(
    "literal",
    ["NaN", "Infinity", "-Infinity", "1e400", "-1e400", str(2**53), str(2**63), str(10**30), str(-(2**53)), "1" * 5000],
    ids=["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "2^53", "2^63", "10^30", "-2^53", "5000 digits"],
)
def test_nan_and_huge_numbers_in_time_claims_are_refused(city: City, claim: str, literal: str) -> None:
    permit = genuine(city)
    assert_refused(city.verify(claims_token(city, time_claim_replaced(permit, claim, literal))), "malformed_token")


@pytest.mark.parametrize("claim", ["iat", "nbf", "exp", "st", "ver"])
@pytest.mark.parametrize(
    ("literal", "reason"),
    [
        ('"{value}"', "bad_claim"),  # expiry as string
        ("true", "bad_claim"),  # expiry as bool (a Python int subclass)
        ("false", "bad_claim"),
        ("null", "bad_claim"),
        ("[{value}]", "bad_claim"),
        ('{{"$numberLong":"{value}"}}', "bad_claim"),
        ("{value}.0", "malformed_token"),  # expiry as float: the strict reader refuses fractions
        ("{value}.5", "malformed_token"),
        ("{value}e0", "malformed_token"),
    ],
    ids=["string", "true", "false", "null", "array", "object", "float .0", "float .5", "exponent"],
)
def test_time_and_counter_claims_that_are_not_json_integers_are_refused(city: City, claim: str, literal: str, reason: str) -> None:
    permit = genuine(city)
    value = permit.to_claims()[claim]
    forged = time_claim_replaced(permit, claim, literal.format(value=value))
    assert_refused(city.verify(claims_token(city, forged)), reason)


def test_negative_time_claim_is_refused(city: City) -> None:
    permit = genuine(city)
    assert_refused(city.verify(claims_token(city, time_claim_replaced(permit, "nbf", "-1"))), "bad_claim")


@pytest.mark.parametrize("claim", ["iss", "jti", "sub", "ptype"])
@pytest.mark.parametrize("value", [12345, ["hcm-syt"], {"id": "hcm-syt"}, None, True], ids=["int", "list", "object", "null", "true"])
def test_identifiers_that_are_not_json_strings_are_refused(city: City, claim: str, value: object) -> None:
    permit = genuine(city)
    claims: dict[str, Any] = permit.to_claims()
    claims[claim] = value
    assert_refused(city.verify(claims_token(city, dumps_canonical(claims))), "bad_claim")


def test_holder_code_as_a_number_is_refused_so_its_leading_zero_cannot_be_lost(city: City) -> None:
    permit = genuine(city)  # sub "0312345678"
    text = canonical(permit).replace('"sub":"0312345678"', '"sub":312345678')
    assert_refused(city.verify(claims_token(city, text.encode())), "bad_claim")


# --- encodings ------------------------------------------------------------------------------

ENCODINGS = {
    "utf-8 with BOM": lambda text: b"\xef\xbb\xbf" + text.encode(),
    "utf-16": lambda text: text.encode("utf-16"),
    "utf-16-le without BOM": lambda text: text.encode("utf-16-le"),
    "utf-16-be": lambda text: text.encode("utf-16-be"),
    "utf-32": lambda text: text.encode("utf-32"),
    "latin-1 text": lambda text: text.replace("Công ty", "Caf\u00e9").encode("latin-1", errors="replace"),
    "windows-1258": lambda text: text.encode("cp1258", errors="replace"),
    "overlong comma": lambda text: text.encode().replace(b",", b"\xc0\xac", 1),
    "overlong quote": lambda text: text.encode().replace(b'"no"', b'"no\xc0\xa2', 1),
    "cesu-8 surrogates": lambda text: text.encode().replace("Công".encode(), b"C\xed\xa0\xbd\xed\xb8\x80ng", 1),
    "escaped lone high surrogate": lambda text: text.replace("Công", "C\\ud83dng", 1).encode(),
    "escaped lone low surrogate": lambda text: text.replace("Công", "C\\ude00ng", 1).encode(),
    "escaped surrogates reversed": lambda text: text.replace("Công", "C\\ude00\\ud83dng", 1).encode(),
}


@pytest.mark.parametrize("encode", ENCODINGS.values(), ids=ENCODINGS.keys())
def test_claims_not_in_plain_utf8_are_refused(city: City, encode: Any) -> None:
    permit = genuine(city)
    raw = encode(canonical(permit))
    assert raw != canonical(permit).encode()
    assert_refused(city.verify(claims_token(city, raw)), "malformed_token")


@pytest.mark.parametrize("encode", [ENCODINGS["utf-8 with BOM"], ENCODINGS["utf-16"]], ids=["BOM", "utf-16"])
def test_header_not_in_plain_utf8_is_refused(city: City, encode: Any) -> None:
    permit = genuine(city)
    header = json.dumps(permit_header(city.signers["hcm-syt"]))
    assert_refused(city.verify(header_token(city, encode(header), permit)), "malformed_token")


def test_deeply_nested_claims_are_refused_without_crashing_the_verifier(city: City) -> None:
    permit = genuine(city)
    nested = with_member(canonical(permit), '"permit":{', '"act":' + "[" * 3000 + "]" * 3000)
    assert_refused(city.verify(claims_token(city, nested.encode())), "malformed_token")


# --- status lists ---------------------------------------------------------------------------


LIST = '{{"exp":{exp},"iat":{iat},"status_list":{{"bits":2,"lst":"{lst}"}},"sub":"{sub}","ttl":60}}'


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        (LIST[:-2] + ',"sub":"{sub}"}}', "malformed_token"),
        ('{{"exp":{exp},"exp":99999999999,' + LIST[2:], "malformed_token"),
        (LIST.replace('"exp":{exp}', '"exp":NaN'), "malformed_token"),
        (LIST.replace('"iat":{iat}', '"iat":{iat}.0'), "malformed_token"),
        (LIST.replace('"exp":{exp}', '"exp":1e400'), "malformed_token"),
        (LIST.replace('"ttl":60', '"ttl":60.5'), "malformed_token"),
        (LIST.replace('"bits":2', '"bits":2.0'), "malformed_token"),
        (LIST.replace('"iat":{iat}', '"iat":true'), "bad_claim"),
        (LIST.replace('"exp":{exp}', '"exp":"{exp}"'), "bad_claim"),
        (LIST.replace('"bits":2', '"bits":"2"'), "bad_claim"),
        ("\ufeff" + LIST, "malformed_token"),
        (LIST.replace('"ttl":60', '"x":' + "[" * 17 + "]" * 17), "malformed_token"),
    ],
    ids=["sub twice", "exp twice", "exp NaN", "iat float", "exp 1e400", "ttl fraction", "bits float", "iat true",
         "exp string", "bits string", "BOM", "nested 17 deep"],
)
def test_status_list_claims_that_are_not_strict_json_are_refused(city: City, claims: str, reason: str) -> None:
    signer = city.signers["hcm-syt"]
    lst = list_claims(city, "hcm-syt")["status_list"]["lst"]
    sub = city.registry.agencies["hcm-syt"].status_url
    raw = claims.format(iat=NOW, exp=NOW + 86400, lst=lst, sub=sub).encode()
    status_refused(city, sign_raw(status_header(signer), raw, signer), "hcm-syt", reason)
    # The control: the same list written plainly opens.
    plain = LIST.format(iat=NOW, exp=NOW + 86400, lst=lst, sub=sub).encode()
    assert open_list(city, sign_raw(status_header(signer), plain, signer), "hcm-syt").size == 131072


@pytest.mark.parametrize("header", ['{{"alg":"{alg}","kid":"{kid}","typ":"statuslist+jwt","typ":"statuslist+jwt"}}',
                                    '\ufeff{{"alg":"{alg}","kid":"{kid}","typ":"statuslist+jwt"}}'], ids=["typ twice", "BOM"])
def test_status_list_header_that_is_not_strict_json_is_refused(city: City, header: str) -> None:
    signer = city.signers["hcm-syt"]
    raw = header.format(alg=signer.alg, kid=signer.kid).encode()
    status_refused(city, sign_raw(raw, list_payload(city, "hcm-syt"), signer), "hcm-syt", "malformed_token")


# --- the registry ---------------------------------------------------------------------------


def registry_text(city: City) -> str:
    return dumps_canonical(registry_content(city)).decode()


def test_the_registry_text_resigned_unchanged_opens(city: City) -> None:
    assert open_registry(city, root_signed_bundle(city, registry_text(city).encode())).registry == city.registry


@pytest.mark.parametrize(
    ("respell", "because"),
    [
        (lambda t: t.replace('"version":1', '"version":1,"version":99', 1), "duplicate member"),
        (lambda t: t.replace('"agencies":{', '"agencies":{"hcm-syt":{},', 1), "duplicate member"),
        (lambda t: t.replace('"types":["food-safety"]', '"types":["food-safety"],"types":["construction","food-safety"]', 1), "duplicate member"),
        (lambda t: t.replace('"version":1', '"version":1.0', 1), "fractional"),
        (lambda t: t.replace('"version":1', '"version":true', 1), "version must be an integer"),
        (lambda t: t.replace('"version":1', '"version":"1"', 1), "version must be an integer"),
        (lambda t: t.replace('"version":1', f'"version":{2**53}', 1), "out of range"),
        (lambda t: t.replace('"valid_from":', '"valid_from":NaN,"x":', 1), "NaN"),
        (lambda t: t.replace('"valid_from":', '"valid_from":"', 1), "not JSON"),  # an unterminated string
        (lambda t: t.replace('"expires_at":', '"expires_at":1e400,"x":', 1), "fractional"),
    ],
    ids=["version twice", "agency twice", "types twice", "version float", "version bool", "version string",
         "version 2^53", "valid_from NaN", "broken string", "expires_at 1e400"],
)
def test_registry_that_is_not_strict_json_is_refused_despite_genuine_root_signatures(city: City, respell: Any, because: str) -> None:
    text = registry_text(city)
    assert '"version":1,' in text or '"version":1}' in text
    respelled = respell(text)
    assert respelled != text
    registry_refused(city, root_signed_bundle(city, respelled.encode()), because=because)


@pytest.mark.parametrize("encode", [ENCODINGS["utf-8 with BOM"], ENCODINGS["utf-16"], ENCODINGS["utf-32"]], ids=["BOM", "utf-16", "utf-32"])
def test_registry_payload_not_in_plain_utf8_is_refused(city: City, encode: Any) -> None:
    registry_refused(city, root_signed_bundle(city, encode(registry_text(city))), because="not strict JSON")


def test_registry_with_an_escaped_lone_surrogate_is_refused(city: City) -> None:
    text = registry_text(city).replace("Sở Y tế", "S\\udc00 Y tế", 1)
    registry_refused(city, root_signed_bundle(city, text.encode()), because="lone surrogate")


# --- API request bodies -------------------------------------------------------------------


def error_of(response: Any) -> tuple[int, str]:
    body = response.get_json()
    assert response.mimetype == "application/problem+json"
    assert set(body) == {"type", "title", "status", "detail", "error"} and set(body["error"]) == {"status", "reason", "message"}
    assert body["error"]["status"] == body["status"] == response.status_code
    return response.status_code, body["error"]["reason"]


API_BODIES = {
    "token twice, genuine last": lambda g: f'{{"token": "forged", "token": "{g}"}}'.encode(),
    "token twice, genuine first": lambda g: f'{{"token": "{g}", "token": "forged"}}'.encode(),
    "token twice, same value": lambda g: f'{{"token": "{g}", "token": "{g}"}}'.encode(),
    "token Infinity": lambda g: b'{"token": Infinity}',
    "token -Infinity": lambda g: b'{"token": -Infinity}',
    "token 1e400": lambda g: b'{"token": 1e400}',
    "token 2^53 + 1": lambda g: b'{"token": 9007199254740993}',
    "escaped lone surrogate": lambda g: b'{"token": "\\ud800"}',
    "utf-8 with BOM": lambda g: b"\xef\xbb\xbf" + json.dumps({"token": g}).encode(),
    "utf-16 with BOM": lambda g: json.dumps({"token": g}).encode("utf-16"),
    "utf-16-le": lambda g: json.dumps({"token": g}).encode("utf-16-le"),
    "utf-16-be": lambda g: json.dumps({"token": g}).encode("utf-16-be"),
    "utf-32": lambda g: json.dumps({"token": g}).encode("utf-32"),
    "overlong quote": lambda g: b'{"token\xc0\xa2: "x"}',
    "trailing garbage": lambda g: json.dumps({"token": g}).encode() + b"x",
    "two documents": lambda g: json.dumps({"token": g}).encode() * 2,
}


@pytest.mark.parametrize("body", API_BODIES.values(), ids=API_BODIES.keys())
def test_api_verify_body_that_is_not_strict_json_is_refused(city: City, client: FlaskClient, body: Any) -> None:
    token = city.issue().token
    client.application.extensions["permit_store"].reload()
    assert client.post("/api/v1/verify", json={"token": token}).get_json()["status"] == "valid"
    assert error_of(client.post("/api/v1/verify", data=body(token), content_type=JSON)) == (400, "bad_json")


@pytest.mark.parametrize(
    "body",
    [
        lambda g: f'{{"tokens": ["forged"], "tokens": ["{g}"]}}'.encode(),
        lambda g: f'{{"tokens": ["{g}", NaN]}}'.encode(),
        lambda g: json.dumps({"tokens": [g]}).encode("utf-16"),
    ],
    ids=["tokens twice", "NaN item", "utf-16"],
)
def test_api_batch_body_that_is_not_strict_json_is_refused(city: City, client: FlaskClient, body: Any) -> None:
    token = city.issue().token
    assert error_of(client.post("/api/v1/verify/batch", data=body(token), content_type=JSON)) == (400, "bad_json")


@pytest.mark.parametrize("encode", [lambda raw: b"\xef\xbb\xbf" + raw, lambda raw: raw.decode().encode("utf-16")], ids=["BOM", "utf-16"])
def test_api_registry_put_of_the_genuine_bundle_respelled_is_refused(city: City, client: FlaskClient, encode: Any) -> None:
    raw = city.home.file("registry.json").read_bytes()
    response = client.put("/api/v1/registry", data=encode(raw), content_type=JSON)
    assert error_of(response) == (422, "registry_invalid")


# --- nesting depth ---------------------------------------------------------------------------

# 600 levels of arrays around an escaped surrogate pair: 1.2 KB that once made the lone-surrogate
# check recurse past Python's limit, after the decoder had read it without complaint.
DEEP = "[" * 600 + '"\\ud83d\\ude00"' + "]" * 600


def test_deep_json_with_surrogate_pair_is_bad_json_on_every_path(city: City, client: FlaskClient) -> None:
    token = city.issue().token
    client.application.extensions["permit_store"].reload()
    assert client.post("/api/v1/verify", json={"token": token}).get_json()["status"] == "valid"
    body = f'{{"token": {DEEP}}}'.encode()
    assert len(body) < 1300
    assert error_of(client.post("/api/v1/verify", data=body, content_type=JSON)) == (400, "bad_json")
    batch = f'{{"tokens": ["{token}", {DEEP}]}}'.encode()
    assert error_of(client.post("/api/v1/verify/batch", data=batch, content_type=JSON)) == (400, "bad_json")
    # A pushed registry is refused as a registry, whatever is wrong with it (docs/integrator.md).
    bundle = f'{{"roots": {DEEP}, "registry": {{}}}}'.encode()
    assert error_of(client.put("/api/v1/registry", data=bundle, content_type=JSON)) == (422, "registry_invalid")
    assert client.get("/api/v1/healthz").status_code == 200


def test_deep_claims_with_surrogate_pair_signed_by_the_agency_are_malformed(city: City) -> None:
    permit = genuine(city)
    nested = with_member(canonical(permit), '"permit":{', f'"x":{DEEP}')
    assert_refused(city.verify(claims_token(city, nested.encode())), "malformed_token")


def test_deep_registry_with_surrogate_pair_signed_by_the_roots_is_refused(city: City) -> None:
    text = registry_text(city).replace('"agencies":{', f'"x":{DEEP},"agencies":{{', 1)
    registry_refused(city, root_signed_bundle(city, text.encode()), because="nested more than 16 deep")


@pytest.mark.parametrize("depth", [16, 17], ids=["at the limit", "one deeper"])
def test_json_is_read_to_the_documents_depth_and_no_deeper(city: City, client: FlaskClient, depth: int) -> None:
    # One level is the object itself: the token sits in `depth - 1` levels of arrays.
    body = '{"token": ' + "[" * (depth - 1) + '"x"' + "]" * (depth - 1) + "}"
    expected = (400, "token_not_string") if depth <= MAX_DEPTH else (400, "bad_json")
    assert error_of(client.post("/api/v1/verify", data=body, content_type=JSON)) == expected
