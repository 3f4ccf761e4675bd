"""keys/registry.py and keys/trust.py: the registry model, threshold-signed bundles and the
TUF-style root chain. Each test builds the real document an attacker or a careless operator
would produce, with the library, and checks the exact outcome."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import pytest
from conftest import DAY, NOW

from keys.algorithms import generate_private_key
from keys.encoding import b64url_decode, b64url_encode, dumps_canonical, loads_strict
from keys.errors import ConflictError, InputError, NotFoundError, RegistryError
from keys.fields import ISSUED_AT_LEEWAY, FieldError
from keys.jws import TYP_REGISTRY, TYP_ROOT, sign_general
from keys.registry import Agency, AgencyKey, Contact, Names, PermitType, Registry
from keys.signer import KeySigner
from keys.trust import (
    MAX_BUNDLE_BYTES,
    MAX_ROOT_KEYS,
    Root,
    TrustedRegistry,
    TrustState,
    make_bundle,
    open_bundle,
    sign_registry,
    sign_root,
)

KEYS_FROM = NOW - 365 * DAY


def new_signer(alg: str = "EdDSA") -> KeySigner:
    return KeySigner(generate_private_key(alg))  # type: ignore[arg-type]


def make_root(signers: Sequence[KeySigner], version: int = 1, threshold: int = 2, registry: str = "hcm") -> Root:
    return Root(registry=registry, version=version, threshold=threshold, keys={s.kid: s.public_key() for s in signers})


FOOD = PermitType("food-safety", Names("Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", "Food safety certificate"), 1096)
ALCOHOL = PermitType("alcohol-retail", Names("Giấy phép bán lẻ rượu", "Alcohol retail licence"), 1827)
HEALTH = Names("Sở Y tế", "Department of Health")
TRADE = Names("Sở Công Thương", "Department of Industry and Trade")


def empty_registry(version: int = 1, issued_at: int = NOW - DAY, expires_at: int = NOW + 30 * DAY) -> Registry:
    return Registry(
        id="hcm",
        name="Thành phố Hồ Chí Minh",
        version=version,
        issued_at=issued_at,
        expires_at=expires_at,
        types={FOOD.code: FOOD, ALCOHOL.code: ALCOHOL},
        agencies={},
    )


def health(keys: tuple[AgencyKey, ...] = (), name: Names = HEALTH) -> Agency:
    return Agency("hcm-syt", name, ("food-safety",), "https://status.hcm.gov.vn/hcm-syt", keys)


class City:
    """Three root keys (2-of-3), two agencies with a key each: the material for every test."""

    def __init__(self) -> None:
        self.root_signers = [new_signer(), new_signer("ES256"), new_signer()]
        self.root = make_root(self.root_signers)
        self.health_key = new_signer()
        self.trade_key = new_signer("ES256")

    def registry(self, version: int = 1, **kwargs: Any) -> Registry:
        registry = empty_registry(version, **kwargs)
        registry = registry.with_agency(health()).with_key("hcm-syt", self.health_key.public_key(), KEYS_FROM)
        registry = registry.with_agency(
            Agency("hcm-sct", TRADE, ("alcohol-retail", "food-safety"), "https://status.hcm.gov.vn/hcm-sct")
        )
        return registry.with_key("hcm-sct", self.trade_key.public_key(), KEYS_FROM)

    def bundle(self, registry: Registry | None = None, signers: Sequence[KeySigner] | None = None) -> bytes:
        registry = registry or self.registry()
        signers = self.root_signers[:2] if signers is None else signers
        return make_bundle([sign_root(self.root, self.root_signers)], sign_registry(registry, signers))

    def open(self, raw: bytes, now: int = NOW, state: TrustState | None = None) -> TrustedRegistry:
        return open_bundle(raw, self.root, now, state)


@pytest.fixture
def city() -> City:
    return City()


def refused(call: Callable[[], object], reason: str = "registry_invalid") -> RegistryError:
    with pytest.raises(RegistryError) as caught:
        call()
    assert caught.value.reason == reason
    return caught.value


def signed_content(content: dict[str, Any], signers: Sequence[KeySigner], typ: str = TYP_REGISTRY) -> dict[str, Any]:
    """A general JWS over exactly `content`: what an operator's tool with a bug would sign."""
    return sign_general(dumps_canonical(content), signers, typ)


def edit_bundle(raw: bytes, edit: Callable[[dict[str, Any]], None]) -> bytes:
    """Change the registry payload by hand, keeping the original signatures."""
    bundle = json.loads(raw)
    content = loads_strict(b64url_decode(bundle["registry"]["payload"]))
    edit(content)
    bundle["registry"]["payload"] = b64url_encode(dumps_canonical(content))
    return dumps_canonical(bundle)


# --- a genuine bundle ------------------------------------------------------------------------


def test_bundle_signed_by_2_of_3_root_keys_opens(city: City) -> None:
    registry = city.registry()
    raw = city.bundle(registry)
    trusted = city.open(raw)
    assert trusted.registry == registry
    assert trusted.root == city.root
    assert trusted.bundle == raw
    assert trusted.state == TrustState(city.root, 1, trusted.digest)
    assert trusted.registry.key(city.health_key.kid) is not None
    assert trusted.registry.key(city.health_key.kid).agency == "hcm-syt"  # type: ignore[union-attr]


@pytest.mark.parametrize("which", [(0, 1), (0, 2), (1, 2), (0, 1, 2), (2, 1)])
def test_any_threshold_subset_of_root_keys_opens(city: City, which: tuple[int, ...]) -> None:
    raw = city.bundle(signers=[city.root_signers[i] for i in which])
    assert city.open(raw).registry.version == 1


# --- threshold attacks -----------------------------------------------------------------------


@pytest.mark.parametrize("which", [0, 1, 2])
def test_registry_signed_by_one_of_2_of_3_root_keys_is_refused(city: City, which: int) -> None:
    refused(lambda: city.open(city.bundle(signers=[city.root_signers[which]])))


def test_the_same_root_key_signing_twice_counts_once(city: City) -> None:
    key = city.root_signers[0]
    refused(lambda: city.open(city.bundle(signers=[key, key])))
    refused(lambda: city.open(city.bundle(signers=[key, key, key])))


def test_the_same_signature_copied_twice_counts_once(city: City) -> None:
    signed = sign_registry(city.registry(), city.root_signers[:1])
    signed["signatures"] = signed["signatures"] * 2
    refused(lambda: city.open(make_bundle([sign_root(city.root, city.root_signers)], signed)))


def test_signature_by_a_key_outside_the_root_does_not_count(city: City) -> None:
    stranger = new_signer()
    refused(lambda: city.open(city.bundle(signers=[city.root_signers[0], stranger])))


def test_agency_key_cannot_stand_in_for_a_root_key(city: City) -> None:
    refused(lambda: city.open(city.bundle(signers=[city.root_signers[0], city.health_key])))


def test_stranger_key_claiming_a_root_kid_does_not_count(city: City) -> None:
    registry = city.registry()
    genuine = sign_registry(registry, city.root_signers[:1])
    stranger = new_signer()
    payload = genuine["payload"]
    # The stranger signs under a protected header naming a genuine root key's kid.
    protected = b64url_encode(dumps_canonical({"alg": "EdDSA", "kid": city.root_signers[2].kid, "typ": TYP_REGISTRY}))
    signature = stranger.sign(f"{protected}.{payload}".encode())
    genuine["signatures"].append({"protected": protected, "signature": b64url_encode(signature)})
    refused(lambda: city.open(make_bundle([sign_root(city.root, city.root_signers)], genuine)))


def test_signature_header_with_the_wrong_alg_for_the_root_key_does_not_count(city: City) -> None:
    registry = city.registry()
    signed = sign_registry(registry, city.root_signers[:1])
    es256 = city.root_signers[1]  # an ES256 root key
    protected = b64url_encode(dumps_canonical({"alg": "EdDSA", "kid": es256.kid, "typ": TYP_REGISTRY}))
    signature = es256.sign(f"{protected}.{signed['payload']}".encode())
    signed["signatures"].append({"protected": protected, "signature": b64url_encode(signature)})
    refused(lambda: city.open(make_bundle([sign_root(city.root, city.root_signers)], signed)))


def test_root_signatures_replayed_onto_a_registry_document_are_refused(city: City) -> None:
    # A threshold of root keys signed these bytes, but as a root document (typ root+jws).
    replayed = signed_content(city.registry().to_dict(), city.root_signers, TYP_ROOT)
    refused(lambda: city.open(make_bundle([sign_root(city.root, city.root_signers)], replayed)))


def test_signed_root_document_offered_as_the_registry_is_refused(city: City) -> None:
    signed_root = sign_root(city.root, city.root_signers)
    refused(lambda: city.open(make_bundle([signed_root], signed_root)))


def test_signed_registry_offered_as_a_root_is_refused(city: City) -> None:
    signed = sign_registry(city.registry(), city.root_signers)
    refused(lambda: city.open(make_bundle([signed], signed)))


# --- tampering -------------------------------------------------------------------------------


def test_bundle_edited_by_hand_keeping_the_signatures_is_refused(city: City) -> None:
    raw = city.bundle()

    def rename(content: dict[str, Any]) -> None:
        # One letter of an agency name: "Sở Y tế" becomes "Sở Y tè".
        name = content["agencies"]["hcm-syt"]["name"]
        assert name["vi"] == "Sở Y tế"
        name["vi"] = "Sở Y tè"

    refused(lambda: city.open(edit_bundle(raw, rename)))


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda c: c["agencies"]["hcm-syt"].update(types=["alcohol-retail", "food-safety"]), id="widen-types"),
        pytest.param(lambda c: c.update(expires_at=c["expires_at"] + 365 * DAY), id="extend-expiry"),
        pytest.param(lambda c: c.update(version=c["version"] + 1), id="bump-version"),
        pytest.param(lambda c: c["agencies"]["hcm-syt"].update(status_url="https://evil.example/s"), id="status-url"),
        pytest.param(lambda c: c["agencies"]["hcm-syt"]["keys"].clear(), id="drop-keys"),
    ],
)
def test_any_payload_change_under_the_old_signatures_is_refused(city: City, edit: Callable[[dict[str, Any]], None]) -> None:
    refused(lambda: city.open(edit_bundle(city.bundle(), edit)))


def test_payload_respelled_with_the_same_content_is_refused(city: City) -> None:
    # Same JSON value, different bytes: the signature covers bytes, not meaning.
    bundle = json.loads(city.bundle())
    content = b64url_decode(bundle["registry"]["payload"])
    bundle["registry"]["payload"] = b64url_encode(b" " + content)
    refused(lambda: city.open(dumps_canonical(bundle)))


def test_non_canonical_base64_payload_is_refused(city: City) -> None:
    bundle = json.loads(city.bundle())
    bundle["registry"]["payload"] += "="
    refused(lambda: city.open(dumps_canonical(bundle)))


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda b: b.update(note="hi"), id="bundle"),
        pytest.param(lambda b: b["registry"].update(header={"alg": "none"}), id="signed-document"),
        pytest.param(lambda b: b["registry"]["signatures"][0].update(header={"kid": "x"}), id="signature-entry"),
        pytest.param(lambda b: b.pop("roots"), id="bundle-missing-roots"),
        pytest.param(lambda b: b["registry"].update(signatures=[]), id="no-signatures"),
    ],
)
def test_unknown_or_missing_member_in_the_bundle_is_refused(city: City, edit: Callable[[dict[str, Any]], None]) -> None:
    bundle = json.loads(city.bundle())
    edit(bundle)
    refused(lambda: city.open(dumps_canonical(bundle)))


def test_duplicate_member_in_the_bundle_is_refused(city: City) -> None:
    raw = city.bundle()
    other = json.dumps(json.loads(city.bundle(city.registry(version=2)))["registry"])
    duplicated = raw.rstrip()[:-1] + b',"registry":' + other.encode() + b"}"
    refused(lambda: city.open(duplicated))


@pytest.mark.parametrize("raw", [b"", b"null", b"[]", b"{}", b"\xef\xbb\xbf{}", b'{"roots":[],"registry":NaN}'])
def test_bundle_that_is_not_strict_json_is_refused(city: City, raw: bytes) -> None:
    refused(lambda: city.open(raw))


def _with_extra(where: str) -> Callable[[dict[str, Any]], None]:
    def add(content: dict[str, Any]) -> None:
        target = {
            "registry": content,
            "agency": content["agencies"]["hcm-syt"],
            "agency-name": content["agencies"]["hcm-syt"]["name"],
            "key": next(iter(content["agencies"]["hcm-syt"]["keys"].values())),
            "jwk": next(iter(content["agencies"]["hcm-syt"]["keys"].values()))["jwk"],
            "type": content["types"]["food-safety"],
        }[where]
        target["x-extra"] = "1"

    return add


@pytest.mark.parametrize("where", ["registry", "agency", "agency-name", "key", "jwk", "type"])
def test_unknown_member_in_a_signed_registry_is_refused(city: City, where: str) -> None:
    # Signed by the threshold, so only the unknown member can be what is refused.
    content = city.registry().to_dict()
    assert city.open(make_bundle([], signed_content(content, city.root_signers[:2]))).registry == city.registry()
    _with_extra(where)(content)
    refused(lambda: city.open(make_bundle([], signed_content(content, city.root_signers[:2]))))


def test_duplicate_kid_across_two_agencies_is_refused(city: City) -> None:
    content = city.registry().to_dict()
    shared = content["agencies"]["hcm-syt"]["keys"]
    content["agencies"]["hcm-sct"]["keys"] = dict(shared)
    refused(lambda: city.open(make_bundle([], signed_content(content, city.root_signers[:2]))))


def test_registry_model_refuses_a_kid_in_two_agencies(city: City) -> None:
    key = AgencyKey("hcm-syt", city.health_key.public_key(), KEYS_FROM)
    twin = AgencyKey("hcm-sct", city.health_key.public_key(), KEYS_FROM)
    agencies = {
        "hcm-syt": health((key,)),
        "hcm-sct": Agency("hcm-sct", TRADE, ("alcohol-retail",), "https://status.hcm.gov.vn/hcm-sct", (twin,)),
    }
    with pytest.raises(FieldError) as caught:
        replace(empty_registry(), agencies=agencies)
    assert caught.value.problem == "bad"


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda c: c["agencies"]["hcm-syt"].update(types=["construction", "food-safety"]), id="type-not-in-catalogue"),
        pytest.param(lambda c: c["agencies"]["hcm-syt"].update(types=[]), id="no-types"),
        pytest.param(lambda c: c["agencies"]["hcm-sct"].update(types=["food-safety", "alcohol-retail"]), id="types-unsorted"),
        pytest.param(lambda c: c["agencies"]["hcm-syt"].update(types=["food-safety", "food-safety"]), id="types-repeated"),
        pytest.param(lambda c: c["agencies"]["hcm-syt"].update(status_url="ftp://status.hcm.gov.vn"), id="status-url-not-http"),
        # urlsplit raises for these rather than parsing them: refused like any other bad URL, never a crash
        pytest.param(lambda c: c["agencies"]["hcm-syt"].update(status_url="https://[x]/s"), id="status-url-bracketed-name"),
        pytest.param(lambda c: c["agencies"]["hcm-syt"].update(status_url="https://[/s"), id="status-url-unclosed-bracket"),
        pytest.param(lambda c: c["agencies"]["hcm-syt"].update(status_url="https://a℀b/s"), id="status-url-host-changed-by-nfkc"),
        pytest.param(lambda c: c["agencies"]["hcm-syt"]["name"].update(vi="Sở Y te\u0301"), id="name-not-nfc"),
        pytest.param(lambda c: c["agencies"]["hcm-syt"]["name"].update(vi="Sở\u202e Y tế"), id="name-bidi"),
        pytest.param(lambda c: c.update(version=True), id="version-bool"),
        pytest.param(lambda c: c.update(registry="HCM"), id="id-not-identifier"),
        pytest.param(lambda c: c.update(registry="hn"), id="id-of-another-registry"),
        pytest.param(lambda c: c["agencies"].update({"HCM-SYT": c["agencies"]["hcm-syt"]}), id="agency-id-upper"),
        pytest.param(lambda c: c["types"]["food-safety"].update(max_days=0), id="type-max-days-0"),
        pytest.param(lambda c: c["agencies"]["hcm-syt"].update(contact={}), id="contact-empty"),
        pytest.param(lambda c: c["agencies"]["hcm-syt"].update(contact={"web": "http://medinet.hochiminhcity.gov.vn"}), id="contact-web-not-https"),
        pytest.param(lambda c: c["agencies"]["hcm-syt"].update(contact={"phone": "gọi sở"}), id="contact-phone-not-a-number"),
        pytest.param(
            lambda c: c["agencies"]["hcm-syt"].update(keys={"AAAAAAAAAAAA": next(iter(c["agencies"]["hcm-syt"]["keys"].values()))}),
            id="kid-not-thumbprint",
        ),
        pytest.param(
            lambda c: next(iter(c["agencies"]["hcm-syt"]["keys"].values())).update(retired_at=NOW),
            id="retired-without-reason",
        ),
        pytest.param(
            lambda c: next(iter(c["agencies"]["hcm-syt"]["keys"].values())).update(retired_at=NOW, retired_reason="lost"),
            id="retired-reason-unknown",
        ),
        pytest.param(
            lambda c: next(iter(c["agencies"]["hcm-syt"]["keys"].values())).update(alg="ES256"),
            id="key-alg-mismatch",
        ),
    ],
)
def test_signed_registry_breaking_a_rule_is_refused(city: City, edit: Callable[[dict[str, Any]], None]) -> None:
    content = city.registry().to_dict()
    edit(content)
    refused(lambda: city.open(make_bundle([], signed_content(content, city.root_signers[:2]))))


def test_signed_registry_with_a_contact_opens_and_one_without_reads_as_before(city: City) -> None:
    content = city.registry().to_dict()
    assert "contact" not in content["agencies"]["hcm-syt"]
    content["agencies"]["hcm-syt"]["contact"] = {"phone": "028 3930 9912", "web": "https://medinet.hochiminhcity.gov.vn"}
    opened = city.open(make_bundle([], signed_content(content, city.root_signers[:2]))).registry
    assert opened.agencies["hcm-syt"].contact == Contact("028 3930 9912", "https://medinet.hochiminhcity.gov.vn")
    assert opened.agencies["hcm-sct"].contact is None and opened.to_dict() == content


def test_agency_with_no_types_cannot_be_built() -> None:
    with pytest.raises(FieldError) as caught:
        Agency("hcm-syt", HEALTH, (), "https://status.hcm.gov.vn/hcm-syt")
    assert caught.value.problem == "bad"


def test_agency_allowed_a_type_outside_the_catalogue_cannot_be_built() -> None:
    with pytest.raises(FieldError) as caught:
        replace(empty_registry(), agencies={"hcm-syt": replace(health(), types=("construction",))})
    assert caught.value.problem == "bad"


def test_empty_registry_is_refused_by_open_bundle(city: City) -> None:
    refused(lambda: city.open(city.bundle(empty_registry())))


def test_empty_registry_cannot_be_published() -> None:
    with pytest.raises(InputError) as caught:
        empty_registry().check_publishable()
    assert caught.value.reason == "empty_registry"


def test_registry_for_another_city_is_refused(city: City) -> None:
    other = replace(city.registry(), id="hn")
    refused(lambda: city.open(city.bundle(other)))


# --- oversize --------------------------------------------------------------------------------


def test_oversized_bundle_is_refused_before_parsing(city: City) -> None:
    raw = city.bundle()
    # Whitespace is valid JSON padding: only the size can refuse this bundle.
    at_limit = raw + b" " * (MAX_BUNDLE_BYTES - len(raw))
    assert len(at_limit) == MAX_BUNDLE_BYTES
    assert city.open(at_limit).registry.version == 1
    refused(lambda: city.open(at_limit + b" "))


# --- rollback and freeze ---------------------------------------------------------------------


def test_rollback_to_an_older_version_is_refused(city: City) -> None:
    state = city.open(city.bundle(city.registry(version=5))).state
    old = city.bundle(city.registry(version=4))
    assert city.open(old).registry.version == 4  # genuine, and accepted by a fresh verifier
    refused(lambda: city.open(old, state=state), "registry_rollback")


def test_a_different_registry_with_the_same_version_is_refused(city: City) -> None:
    state = city.open(city.bundle(city.registry(version=5))).state
    other = city.registry(version=5).with_type(
        PermitType("construction", Names("Giấy phép xây dựng", "Construction permit"), 1096)
    )
    refused(lambda: city.open(city.bundle(other), state=state), "registry_rollback")


def test_the_same_registry_again_is_accepted(city: City) -> None:
    registry = city.registry(version=5)
    state = city.open(city.bundle(registry)).state
    # Signed again by other keys of the threshold: different bytes, same content.
    again = city.open(city.bundle(registry, signers=city.root_signers[1:]), state=state)
    assert again.registry == registry
    assert again.state == state


def test_a_newer_version_is_accepted(city: City) -> None:
    state = city.open(city.bundle(city.registry(version=5))).state
    assert city.open(city.bundle(city.registry(version=6)), state=state).registry.version == 6


@pytest.mark.parametrize("now", [NOW + 30 * DAY, NOW + 30 * DAY + 1, NOW + 400 * DAY])
def test_expired_registry_is_stale(city: City, now: int) -> None:
    # A freeze attack: an attacker keeps serving the last registry after it expired.
    raw = city.bundle(city.registry(issued_at=NOW - DAY, expires_at=NOW + 30 * DAY))
    refused(lambda: city.open(raw, now=now), "registry_stale")


def test_registry_is_fresh_until_the_second_before_it_expires(city: City) -> None:
    raw = city.bundle(city.registry(expires_at=NOW + 30 * DAY))
    assert city.open(raw, now=NOW + 30 * DAY - 1).registry.version == 1


@pytest.mark.parametrize("issued_at", [NOW + ISSUED_AT_LEEWAY + 1, NOW + DAY, NOW + 365 * DAY])
def test_registry_issued_in_the_future_is_refused(city: City, issued_at: int) -> None:
    raw = city.bundle(city.registry(issued_at=issued_at, expires_at=NOW + 400 * DAY))
    refused(lambda: city.open(raw))


def test_registry_issued_within_the_clock_leeway_is_accepted(city: City) -> None:
    raw = city.bundle(city.registry(issued_at=NOW + ISSUED_AT_LEEWAY))
    assert city.open(raw).registry.issued_at == NOW + ISSUED_AT_LEEWAY


# --- the root of trust -----------------------------------------------------------------------


@pytest.mark.parametrize("threshold", [0, -1, 4, 10])
def test_root_threshold_outside_1_to_the_number_of_keys_is_refused(threshold: int) -> None:
    with pytest.raises(FieldError) as caught:
        make_root([new_signer(), new_signer(), new_signer()], threshold=threshold)
    assert caught.value.problem == "bad"


@pytest.mark.parametrize("threshold", [1, 2, 3])
def test_root_threshold_within_range_is_accepted(threshold: int) -> None:
    assert make_root([new_signer(), new_signer(), new_signer()], threshold=threshold).threshold == threshold


def test_root_without_keys_is_refused() -> None:
    with pytest.raises(FieldError) as caught:
        Root(registry="hcm", version=1, threshold=1, keys={})
    assert caught.value.problem == "bad"


def test_root_with_too_many_keys_is_refused() -> None:
    with pytest.raises(FieldError) as caught:
        make_root([new_signer() for _ in range(MAX_ROOT_KEYS + 1)], threshold=1)
    assert caught.value.problem == "bad"


def test_root_key_under_a_kid_that_is_not_its_thumbprint_is_refused() -> None:
    a, b = new_signer(), new_signer()
    with pytest.raises(FieldError) as caught:
        Root(registry="hcm", version=1, threshold=1, keys={a.kid: b.public_key()})
    assert caught.value.problem == "bad"


def test_root_round_trips_through_its_dict() -> None:
    root = make_root([new_signer(), new_signer("ES256")], version=3, threshold=2)
    assert Root.from_dict(loads_strict(dumps_canonical(root.to_dict()))) == root


# --- root rotation ---------------------------------------------------------------------------


class Rotation:
    """Root v1 (keys a, b, c; 2-of-3) rotated to v2 (keys d, e, f; 2-of-3)."""

    def __init__(self, city: City) -> None:
        self.city = city
        self.old = city.root_signers
        self.new = [new_signer(), new_signer(), new_signer()]
        self.v1 = city.root
        self.v2 = make_root(self.new, version=2)
        self.signed_v1 = sign_root(self.v1, self.old)

    def bundle(self, roots: list[dict[str, Any]], registry_signers: Sequence[KeySigner], version: int = 1) -> bytes:
        return make_bundle(roots, sign_registry(self.city.registry(version), registry_signers))


@pytest.fixture
def rotation(city: City) -> Rotation:
    return Rotation(city)


def test_root_v2_signed_by_thresholds_of_old_and_new_keys_is_followed(rotation: Rotation) -> None:
    signed_v2 = sign_root(rotation.v2, [*rotation.old[:2], *rotation.new[:2]])
    raw = rotation.bundle([rotation.signed_v1, signed_v2], rotation.new[1:])
    # A verifier still anchored at v1 follows the chain and trusts the new keys.
    trusted = open_bundle(raw, rotation.v1, NOW)
    assert trusted.root == rotation.v2
    assert trusted.state.root == rotation.v2
    # The chain works without v1 in the bundle too: the anchor is v1 already.
    assert open_bundle(rotation.bundle([signed_v2], rotation.new[:2]), rotation.v1, NOW).root == rotation.v2


@pytest.mark.parametrize(
    ("old", "new"),
    [
        pytest.param((), (0, 1, 2), id="only-new-keys"),
        pytest.param((0, 1, 2), (), id="only-old-keys"),
        pytest.param((0,), (0, 1, 2), id="one-old-key"),
        pytest.param((0, 1, 2), (0,), id="one-new-key"),
        pytest.param((1,), (2,), id="one-of-each"),
    ],
)
def test_root_v2_below_either_threshold_is_refused(rotation: Rotation, old: tuple[int, ...], new: tuple[int, ...]) -> None:
    signers = [rotation.old[i] for i in old] + [rotation.new[i] for i in new]
    signed_v2 = sign_root(rotation.v2, signers)
    raw = rotation.bundle([rotation.signed_v1, signed_v2], rotation.new[:2])
    refused(lambda: open_bundle(raw, rotation.v1, NOW))


def test_root_chain_skipping_a_version_is_refused(rotation: Rotation) -> None:
    v3 = make_root(rotation.new, version=3)
    # Even signed by every old and every new key, v3 cannot follow v1 directly.
    signed_v3 = sign_root(v3, [*rotation.old, *rotation.new])
    raw = rotation.bundle([rotation.signed_v1, signed_v3], rotation.new[:2])
    refused(lambda: open_bundle(raw, rotation.v1, NOW))


def test_root_chain_followed_over_two_rotations(rotation: Rotation) -> None:
    newest = [new_signer(), new_signer()]
    v3 = make_root(newest, version=3, threshold=1)
    signed_v2 = sign_root(rotation.v2, [*rotation.old[:2], *rotation.new[:2]])
    signed_v3 = sign_root(v3, [*rotation.new[:2], newest[0]])
    raw = rotation.bundle([rotation.signed_v1, signed_v2, signed_v3], newest[1:])
    assert open_bundle(raw, rotation.v1, NOW).root == v3


def test_root_chain_of_another_registry_is_refused(rotation: Rotation) -> None:
    v2 = make_root(rotation.new, version=2, registry="hn")
    signed_v2 = sign_root(v2, [*rotation.old, *rotation.new])
    raw = rotation.bundle([signed_v2], rotation.new[:2])
    refused(lambda: open_bundle(raw, rotation.v1, NOW))


def test_root_document_edited_after_signing_is_refused(rotation: Rotation) -> None:
    signed_v2 = sign_root(rotation.v2, [*rotation.old[:2], *rotation.new[:2]])
    lowered = rotation.v2.to_dict() | {"threshold": 1}
    signed_v2["payload"] = b64url_encode(dumps_canonical(lowered))
    raw = rotation.bundle([signed_v2], rotation.new[:1])
    refused(lambda: open_bundle(raw, rotation.v1, NOW))


def test_root_signed_with_the_registry_type_is_refused(rotation: Rotation) -> None:
    signed_v2 = signed_content(rotation.v2.to_dict(), [*rotation.old, *rotation.new], TYP_REGISTRY)
    raw = rotation.bundle([signed_v2], rotation.new[:2])
    refused(lambda: open_bundle(raw, rotation.v1, NOW))


def test_verifier_holding_root_v2_ignores_an_attackers_alternative_v2(rotation: Rotation) -> None:
    # The old keys a and b were stolen, which is why the city rotated. The attacker makes its
    # own v2 with its own key, correctly signed by the stolen old keys and its own.
    genuine_v2 = sign_root(rotation.v2, [*rotation.old[:2], *rotation.new[:2]])
    state = open_bundle(rotation.bundle([genuine_v2], rotation.new[:2]), rotation.v1, NOW).state
    attacker = new_signer()
    evil_v2 = make_root([attacker], version=2, threshold=1)
    signed_evil_v2 = sign_root(evil_v2, [*rotation.old[:2], attacker])
    evil = rotation.bundle([rotation.signed_v1, signed_evil_v2], [attacker], version=2)
    # The attack works against a verifier that only knows v1...
    assert open_bundle(evil, rotation.v1, NOW).root == evil_v2
    # ...and not against one that already accepted the genuine v2.
    refused(lambda: open_bundle(evil, rotation.v1, NOW, state))


def test_verifier_holding_root_v2_needs_no_chain_in_the_bundle(rotation: Rotation) -> None:
    genuine_v2 = sign_root(rotation.v2, [*rotation.old[:2], *rotation.new[:2]])
    state = open_bundle(rotation.bundle([genuine_v2], rotation.new[:2]), rotation.v1, NOW).state
    assert open_bundle(rotation.bundle([], rotation.new[:2], version=2), rotation.v1, NOW, state).root == rotation.v2


@pytest.mark.parametrize("with_chain", [True, False], ids=["chain-in-bundle", "state-holds-v2"])
def test_registry_signed_by_old_root_keys_after_rotation_is_refused(rotation: Rotation, with_chain: bool) -> None:
    genuine_v2 = sign_root(rotation.v2, [*rotation.old[:2], *rotation.new[:2]])
    state = open_bundle(rotation.bundle([genuine_v2], rotation.new[:2]), rotation.v1, NOW).state
    if with_chain:
        raw = rotation.bundle([rotation.signed_v1, genuine_v2], rotation.old, version=2)
        refused(lambda: open_bundle(raw, rotation.v1, NOW))
    else:
        raw = rotation.bundle([rotation.signed_v1], rotation.old, version=2)
        refused(lambda: open_bundle(raw, rotation.v1, NOW, state))


# --- registry edits --------------------------------------------------------------------------


def test_adding_a_type_twice_is_a_conflict() -> None:
    with pytest.raises(ConflictError) as caught:
        empty_registry().with_type(replace(FOOD, max_days=10))
    assert caught.value.reason == "duplicate_type"


def test_adding_an_agency_twice_is_a_conflict() -> None:
    registry = empty_registry().with_agency(health())
    with pytest.raises(ConflictError) as caught:
        registry.with_agency(health(name=Names("Sở Y tế (mới)", "Department of Health (new)")))
    assert caught.value.reason == "duplicate_agency"


def test_adding_an_agency_with_an_unknown_type_is_not_found() -> None:
    with pytest.raises(NotFoundError) as caught:
        empty_registry().with_agency(replace(health(), types=("construction",)))
    assert caught.value.reason == "unknown_type"


def test_adding_a_key_to_an_unknown_agency_is_not_found(city: City) -> None:
    with pytest.raises(NotFoundError) as caught:
        empty_registry().with_key("hcm-syt", city.health_key.public_key(), KEYS_FROM)
    assert caught.value.reason == "unknown_agency"


@pytest.mark.parametrize("agency", ["hcm-syt", "hcm-sct"])
def test_adding_a_registered_key_again_is_a_conflict(city: City, agency: str) -> None:
    # Again to the same agency, or to another one.
    with pytest.raises(ConflictError) as caught:
        city.registry().with_key(agency, city.health_key.public_key(), NOW)
    assert caught.value.reason == "duplicate_key"


@pytest.mark.parametrize(
    ("first", "second"),
    [("superseded", "superseded"), ("compromised", "compromised"), ("compromised", "superseded")],
)
def test_retiring_a_key_twice_is_a_conflict(city: City, first: str, second: str) -> None:
    registry = city.registry().with_retired_key("hcm-syt", city.health_key.kid, first, NOW)  # type: ignore[arg-type]
    with pytest.raises(ConflictError) as caught:
        registry.with_retired_key("hcm-syt", city.health_key.kid, second, NOW + DAY)  # type: ignore[arg-type]
    assert caught.value.reason == "already_retired"


def test_superseded_key_found_compromised_later_keeps_its_retirement_time(city: City) -> None:
    registry = city.registry().with_retired_key("hcm-syt", city.health_key.kid, "superseded", NOW - DAY)
    registry = registry.with_retired_key("hcm-syt", city.health_key.kid, "compromised", NOW)
    key = registry.key(city.health_key.kid)
    assert key is not None
    assert (key.retired_at, key.retired_reason, key.compromised) == (NOW - DAY, "compromised", True)
    assert registry.agency("hcm-syt").active_keys(NOW - 2 * DAY) == []


def test_retiring_an_unknown_key_is_not_found(city: City) -> None:
    with pytest.raises(NotFoundError) as caught:
        city.registry().with_retired_key("hcm-syt", city.trade_key.kid, "superseded", NOW)
    assert caught.value.reason == "unknown_key"


def test_edits_leave_the_original_registry_unchanged(city: City) -> None:
    registry = city.registry()
    before = registry.to_dict()
    registry.with_retired_key("hcm-syt", city.health_key.kid, "compromised", NOW)
    registry.with_key("hcm-syt", new_signer().public_key(), NOW)
    registry.with_agency_types("hcm-syt", ("alcohol-retail", "food-safety"))
    assert registry.to_dict() == before


def test_registry_round_trips_through_its_dict(city: City) -> None:
    registry = (
        city.registry(version=7)
        .with_key("hcm-syt", new_signer("ES256").public_key(), NOW)
        .with_retired_key("hcm-syt", city.health_key.kid, "superseded", NOW - DAY)
        .with_retired_key("hcm-sct", city.trade_key.kid, "compromised", NOW)
    )
    assert Registry.from_dict(registry.to_dict()) == registry
    assert dumps_canonical(Registry.from_dict(registry.to_dict()).to_dict()) == dumps_canonical(registry.to_dict())


def test_registry_with_two_keys_equals_itself_after_publishing(city: City) -> None:
    # An agency's second key whose kid sorts before its first: the published document (a JSON
    # object keyed by kid, written sorted) must still read back as the same registry.
    while True:
        second = new_signer()
        if second.kid < city.health_key.kid:
            break
    registry = city.registry().with_key("hcm-syt", second.public_key(), NOW)
    # Keys are held in kid order, as the document stores them.
    assert [k.kid for k in registry.agency("hcm-syt").keys] == [second.kid, city.health_key.kid]
    assert Registry.from_dict(loads_strict(dumps_canonical(registry.to_dict()))) == registry
    assert city.open(city.bundle(registry)).registry == registry


def test_round_trip_through_a_signed_bundle_preserves_the_registry(city: City) -> None:
    registry = city.registry().with_retired_key("hcm-syt", city.health_key.kid, "superseded", NOW - DAY)
    assert city.open(city.bundle(registry)).registry == registry
