"""Property tests: whatever is done to a valid token, status list or registry, the result never
passes for something it is not, and the verifier never raises. Hostile shapes (deep nesting,
huge integers, extreme times: tests/security/shapes.py) in documents signed with the real keys
and in request bodies get their exact refusal on every endpoint, never a 5xx, and leave every
GET answering.

Runs are derandomised (a fixed seed per test) so CI sees the same examples every time.
"""

from __future__ import annotations

import copy
import json
import zlib
from typing import Any

import pytest
from conftest import DAY, NOW, City, Clock, build_city, passphrase
from forge import sign_raw
from hostile import agency_key, claims_token, copy_city, genuine, registry_content, root_signers
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from shapes import SHAPES, TIME_SHAPES, Shape, spliced

from keys.encoding import MAX_DEPTH, b64url_encode, loads_strict
from keys.errors import DocumentError, RegistryError
from keys.fields import MAX_TIME
from keys.jws import TYP_REGISTRY, sign_general
from keys.reasons import VERDICT_REASONS
from keys.signer import Signer
from keys.trust import make_bundle, open_bundle
from permits.home import Home
from permits.status_list import MIN_SIZE, open_status_list
from verifier.pipeline import verify
from verifier.verdict import STATUSES, iso
from verifier.web.app import create_app

EMPTY_LIST = b64url_encode(zlib.compress(bytes(MIN_SIZE // 4), 9))


def examples(count: int) -> settings:
    return settings(max_examples=count, derandomize=True, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One city for the whole module: valid tokens of both algorithms, their lists, the bundle."""
    path = tmp_path_factory.mktemp("properties") / "hcm"
    build_city(path)
    home = Home(path)
    trusted = home.trusted_registry(NOW)
    city = City(home, trusted, {a: home.agency_signer(trusted.registry, a, passphrase, NOW) for a in trusted.registry.agencies})
    good = city.issue("hcm-syt", number="P-1")
    revoked = city.issue("hcm-sct", "alcohol-retail", number="P-2")
    city.change(revoked, "revoked")
    city.publish_all()
    return {"city": city, "tokens": [good.token, revoked.token], "bundle": home.file("registry.json").read_bytes()}


def mutate(text: str, edits: list[tuple[int, int, str]]) -> str:
    """Apply (kind, position, character) edits: 0 replace, 1 insert, 2 delete."""
    chars = list(text)
    for kind, position, char in edits:
        at = position % (len(chars) + (kind == 1)) if chars or kind == 1 else 0
        if kind == 0 and chars:
            chars[at] = char
        elif kind == 1:
            chars.insert(at, char)
        elif kind == 2 and chars:
            del chars[at]
    return "".join(chars)


EDITS = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.characters(codec="utf-8")), min_size=1, max_size=4)
JWS_CHARS = st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.= \n+/%")
EDITS_IN_ALPHABET = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), JWS_CHARS), min_size=1, max_size=3)


def assert_well_formed(verdict: object) -> None:
    assert verdict.status in STATUSES  # type: ignore[attr-defined]
    assert set(verdict.reasons) <= VERDICT_REASONS  # type: ignore[attr-defined]
    assert verdict.to_dict()["valid"] is (verdict.status == "valid")  # type: ignore[attr-defined]


@examples(400)
@given(which=st.integers(0, 1), edits=st.one_of(EDITS, EDITS_IN_ALPHABET))
def test_a_mutated_token_never_verifies_as_valid(world: dict, which: int, edits: list) -> None:  # type: ignore[type-arg]
    city: City = world["city"]  # type: ignore[assignment]
    original = world["tokens"][which]  # type: ignore[index]
    mutated = mutate(original, edits)
    assume(mutated != original)
    verdict = verify(mutated, city.registry, city.lists, NOW)
    assert_well_formed(verdict)
    assert verdict.status == "invalid"
    assert "permit" not in verdict.to_dict()


@examples(300)
@given(token=st.one_of(st.text(max_size=3000), st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
                       st.lists(st.text(alphabet="AB_-=.09", max_size=60), min_size=1, max_size=5).map(".".join)))
def test_verify_never_raises_and_always_gives_a_known_reason(world: dict, token: str) -> None:  # type: ignore[type-arg]
    city: City = world["city"]  # type: ignore[assignment]
    verdict = verify(token, city.registry, city.lists, NOW)
    assert_well_formed(verdict)
    assert verdict.status == "invalid" and len(verdict.reasons) == 1


@examples(200)
@given(agency=st.sampled_from(["hcm-syt", "hcm-sct"]), edits=st.one_of(EDITS, EDITS_IN_ALPHABET))
def test_a_mutated_status_list_is_always_refused(world: dict, agency: str, edits: list) -> None:  # type: ignore[type-arg]
    city: City = world["city"]  # type: ignore[assignment]
    original = city.lists[agency].token
    mutated = mutate(original, edits)
    assume(mutated != original)
    with pytest.raises(DocumentError):
        open_status_list(mutated, city.registry, agency, NOW)


@examples(200)
@given(edits=st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10**6), st.characters(codec="utf-8")), min_size=1, max_size=3))
def test_a_mutated_registry_never_passes_for_another_registry(world: dict, edits: list) -> None:  # type: ignore[type-arg]
    city: City = world["city"]  # type: ignore[assignment]
    original: bytes = world["bundle"]  # type: ignore[assignment]
    mutated = mutate(original.decode("utf-8"), edits).encode("utf-8")
    assume(mutated != original)
    try:
        trusted = open_bundle(mutated, city.home.anchor(), NOW)
    except RegistryError:
        return
    # Only a change of layout outside the signed parts (whitespace between JSON tokens) can pass,
    # and then it is exactly the registry that was signed.
    assert trusted.registry == city.registry and trusted.digest == city.trusted.digest


def test_the_property_world_is_what_it_seems(world: dict) -> None:  # type: ignore[type-arg]
    city: City = world["city"]  # type: ignore[assignment]
    statuses = [verify(token, city.registry, city.lists, NOW).status for token in world["tokens"]]  # type: ignore[attr-defined]
    assert statuses == ["valid", "revoked"]
    assert open_bundle(world["bundle"], city.home.anchor(), NOW).registry == city.registry  # type: ignore[arg-type]


# --- hostile shapes: deep nesting, huge integers, extreme times, in every document and endpoint ----


def _depth(value: object) -> int:
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    return 0


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    if len({key for key, _ in pairs}) != len(pairs):
        raise ValueError("duplicate member")
    return dict(pairs)


REFUSED = object()


def _reference(text: str) -> object:
    """What the strict reader must make of `text`, found the slow way: Python's decoder (under
    its own recursion limit), then the depth, then surrogates."""
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, RecursionError):
        return REFUSED
    if _depth(value) > MAX_DEPTH:
        return REFUSED
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return REFUSED  # a lone surrogate
    return value


JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.text(max_size=4),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
                           max_leaves=12)
STRUCTURE_EDITS = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.sampled_from('[]{}"\\:,u')), max_size=3)


@examples(400)
@given(value=JSON_VALUES, wrap=st.integers(0, MAX_DEPTH + 3), objects=st.booleans(), ascii=st.booleans(), edits=STRUCTURE_EDITS)
def test_the_depth_bound_refuses_exactly_what_is_too_deep_or_not_json(value: Any, wrap: int, objects: bool, ascii: bool, edits: list) -> None:  # type: ignore[type-arg]
    for _ in range(wrap):
        value = {"k": value} if objects else [value]
    text = mutate(json.dumps(value, ensure_ascii=ascii), edits) if edits else json.dumps(value, ensure_ascii=ascii)
    expected = _reference(text)
    try:
        read = loads_strict(text.encode("utf-8", "surrogatepass"))
    except ValueError:
        assert expected is REFUSED, text
        return
    assert read == expected, text


@pytest.fixture
def live_world(world: dict[str, Any], tmp_path: pytest.TempPathFactory) -> tuple[City, Any]:
    """A copy of the world's home behind the Flask app (its WSGI layers included), on the test clock:
    each test may change what it holds."""
    city = copy_city(world["city"].home.path, tmp_path)  # type: ignore[arg-type]
    city.lists = dict(world["city"].lists)  # type: ignore[attr-defined]
    app = create_app({"HOME": str(city.home.path), "BACKGROUND_REFRESH": False, "CLOCK": Clock(), "TESTING": True})
    return city, app.test_client()


def _still_up(client: Any) -> None:
    """Whatever was accepted, every GET answers: healthz, the registry and the page with 200, the
    status list with 200, or 404 once a registry accepted meanwhile no longer vouches for it."""
    health = client.get("/api/v1/healthz")
    assert health.status_code == 200 and health.get_json()["registry"] is not None, health.data[:300]
    for path in ("/api/v1/registry", "/v", "/api/v1/openapi.json"):
        assert client.get(path).status_code == 200, path
    held = client.get("/api/v1/status/hcm-syt")
    assert held.status_code == 200 or (held.status_code, held.get_json()["error"]["reason"]) == (404, "status_unavailable")


PERMIT_LIMITS = {"st": (0, 2**31 - 1), "ver": (1, 10_000)}


@examples(150)
@given(claim=st.sampled_from(["iat", "nbf", "exp", "st", "ver", "permit"]), shape=SHAPES)
def test_hostile_claims_signed_by_the_agency_never_give_a_5xx(live_world: tuple[City, Any], claim: str, shape: Shape) -> None:
    city, client = live_world
    permit = genuine(city)
    token = claims_token(city, spliced(permit.to_claims(), shape, claim))
    if not shape.in_document(1):
        expected: str | None = "malformed_token"
    elif claim in ("iat", "nbf", "exp"):
        expected = "bad_claim" if shape.time is None else None  # in range: any verdict
    elif claim == "permit":
        expected = "missing_claim" if shape.text.startswith("{") else "bad_claim"
    else:
        low, high = PERMIT_LIMITS[claim]
        expected = "bad_claim" if shape.value is None or not low <= shape.value <= high else None
    verdict = city.verify(token)
    assert_well_formed(verdict)
    if expected is not None:
        assert (verdict.status, verdict.reasons, verdict.permit) == ("invalid", (expected,), None)
    answer = client.post("/api/v1/verify", json={"token": token})
    assert answer.status_code == 200 and answer.get_json() == verdict.to_dict()
    batch = client.post("/api/v1/verify/batch", json={"tokens": [token, token]})
    assert batch.status_code == 200 and batch.get_json()["verdicts"] == [verdict.to_dict()] * 2
    assert client.get("/api/v1/healthz").status_code == 200


@examples(100)
@given(member=st.sampled_from(["iat", "exp"]), shape=TIME_SHAPES)
def test_hostile_status_list_times_signed_by_the_agency_never_give_a_5xx(live_world: tuple[City, Any], member: str, shape: Shape) -> None:
    city, client = live_world
    signer = city.signers["hcm-syt"]
    newer = client.application.extensions["permit_store"].snapshot.lists["hcm-syt"].issued_at + 1
    header = {"alg": signer.alg, "kid": signer.kid, "typ": "statuslist+jwt"}
    claims = {"sub": city.registry.agencies["hcm-syt"].status_url, "iat": newer, "exp": NOW + DAY, "ttl": 60,
              "status_list": {"bits": 2, "lst": EMPTY_LIST}}
    token = sign_raw(header, spliced(claims, shape, member), signer)
    iat, exp = (shape.value, NOW + DAY) if member == "iat" else (newer, shape.value)
    if not shape.in_document(1):
        expected: str | None = "malformed_token"
    elif iat is None or exp is None or not 0 <= iat < exp <= MAX_TIME:
        expected = "bad_claim"
    else:
        expected = None  # in range: accepted, or refused for its age or its key's life
    try:
        open_status_list(token, city.registry, "hcm-syt", NOW)
        opened = None
    except DocumentError as exc:
        opened = exc.reason
    if expected is not None:
        assert opened == expected
    response = client.put("/api/v1/status/hcm-syt", data=token, content_type="application/statuslist+jwt")
    assert response.status_code in (200, 409, 422), response.data[:300]
    if expected is not None:
        assert (response.status_code, response.get_json()["error"]["reason"]) == (422, expected)
    elif response.status_code == 200:
        assert response.get_json()["expires_at"] == iso(exp)  # type: ignore[arg-type]
    _still_up(client)


REGISTRY_FIELDS = {"issued_at": ("issued_at",), "expires_at": ("expires_at",), "version": ("version",),
                   "key valid_from": ("agencies", "hcm-syt", "keys", "KID", "valid_from"),
                   "key retired_at": ("agencies", "hcm-syt", "keys", "KID", "retired_at")}


@pytest.fixture
def roots(live_world: tuple[City, Any]) -> tuple[list[Signer], dict[str, Any]]:
    """The root threshold's signers and the registry document they signed, loaded once."""
    city, _ = live_world
    return root_signers(city), registry_content(city)


@examples(80)
@given(field=st.sampled_from(list(REGISTRY_FIELDS)), shape=TIME_SHAPES)
def test_hostile_registry_times_signed_by_the_roots_never_give_a_5xx(
    live_world: tuple[City, Any], roots: tuple[list[Signer], dict[str, Any]], field: str, shape: Shape
) -> None:
    city, client = live_world
    signers, content = roots[0], copy.deepcopy(roots[1])
    content["version"] = client.application.extensions["permit_store"].snapshot.registry.registry.version + 1
    path = tuple(agency_key(content, "hcm-syt")[0] if part == "KID" else part for part in REGISTRY_FIELDS[field])
    if field == "key retired_at":
        agency_key(content, "hcm-syt")[1]["retired_reason"] = "superseded"
    raw = make_bundle(city.home.root_chain(), sign_general(spliced(content, shape, *path), signers, TYP_REGISTRY))
    if not shape.in_document(len(path)) or shape.value is None:
        determined = True
    elif field == "version":
        determined = shape.value < 0
    else:
        determined = shape.time is None
    try:
        open_bundle(raw, city.home.anchor(), NOW)
        opened = None
    except RegistryError as exc:
        opened = exc.reason
    if determined:
        assert opened == "registry_invalid"
    response = client.put("/api/v1/registry", data=raw, content_type="application/json")
    assert response.status_code in (200, 409, 422), response.data[:300]
    if determined:
        assert (response.status_code, response.get_json()["error"]["reason"]) == (422, "registry_invalid")
    _still_up(client)


@examples(200)
@given(form=st.sampled_from(["verify", "verify body", "batch", "registry"]), shape=SHAPES)
def test_hostile_shapes_in_request_bodies_get_their_exact_refusal(live_world: tuple[City, Any], form: str, shape: Shape) -> None:
    _, client = live_world
    is_string, is_object = shape.text.startswith('"'), shape.text.startswith("{")
    if form == "verify":
        body, at = '{"token":' + shape.text + "}", 1
        readable = (200, None) if is_string else (400, "token_not_string")
    elif form == "verify body":
        body, at = shape.text, 0
        readable = (400, "unknown_member" if is_object else "body_not_object")
    elif form == "batch":
        body, at = '{"tokens":[' + shape.text + "]}", 2
        readable = (200, None) if is_string else (400, "token_not_string")
    else:
        body, at = '{"roots":' + shape.text + ',"registry":{}}', 1
        readable = (422, "registry_invalid")
    path, method = {"registry": ("/api/v1/registry", "PUT"), "batch": ("/api/v1/verify/batch", "POST")}.get(form, ("/api/v1/verify", "POST"))
    response = client.open(path, method=method, data=body.encode(), content_type="application/json")
    if form == "registry":
        expected = readable  # a pushed registry is refused as a registry, whatever is wrong with it
    else:
        expected = readable if shape.in_document(at) else (400, "bad_json")
    got = (response.status_code, None if response.status_code == 200 else response.get_json()["error"]["reason"])
    assert got == expected, (body[:200], response.data[:200])
