"""Property tests: whatever is done to a valid token, status list or registry, the result never
passes for something it is not, and the verifier never raises.

Runs are derandomised (a fixed seed per test) so CI sees the same examples every time.
"""

from __future__ import annotations

import pytest
from conftest import NOW, City, build_city, passphrase
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from keys.errors import VERDICT_REASONS, DocumentError, RegistryError
from keys.trust import open_bundle
from permits.home import Home
from permits.status_list import open_status_list
from verifier.pipeline import verify
from verifier.verdict import STATUSES


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
