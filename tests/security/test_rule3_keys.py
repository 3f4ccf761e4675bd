"""Rule 3, keys: the key is found only by kid, in the signed registry; a kid is opaque data (never
a path, a query or a URL); the key's agency must be exactly the token's iss; and every public key
is validated when a registry is loaded (right curve, sound point, no private material, one kid
per key), even when the registry carries genuine root signatures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import NOW, City
from cryptography.hazmat.primitives.asymmetric import ec
from forge import permit_header
from hostile import (
    agency_key,
    assert_refused,
    assert_valid,
    copy_city,
    edited_registry,
    genuine,
    header_token,
    open_registry,
    registry_content,
    registry_refused,
    resign,
    root_signed_bundle,
    root_signers,
)

from keys.algorithms import generate_private_key, jwk_thumbprint
from keys.encoding import b64url_encode, dumps_canonical
from keys.signer import KeySigner
from permits.token import sign_permit


@pytest.fixture(scope="module")
def city(city_template: Path, tmp_path_factory: pytest.TempPathFactory) -> City:
    """One city for the whole module: its tests forge and verify, and change nothing shared."""
    return copy_city(city_template, tmp_path_factory.mktemp("rule3_keys"))


def kid_token(city: City, kid: str) -> str:
    """The genuine permit, genuinely signed by its agency, whose header names `kid`."""
    permit = genuine(city)
    return header_token(city, permit_header(city.signers["hcm-syt"], kid=kid), permit)


# --- kid is opaque data -------------------------------------------------------------------


@pytest.mark.parametrize(
    "template",
    [
        "../../keys/{kid}",
        "../../../../../../etc/passwd",
        "/etc/passwd",
        "..\\..\\keys\\{kid}.json",
        "%2e%2e%2fkeys%2f{kid}",
        "{kid}/../{kid}",
        "./{kid}",
        "keys/hcm-syt/{kid}.jwk.json",
        "{kid}\x00.json",
    ],
)
def test_kid_path_traversal_is_only_an_unknown_key(city: City, template: str) -> None:
    kid = city.signers["hcm-syt"].kid
    assert_refused(city.verify(kid_token(city, template.format(kid=kid))), "unknown_key")


@pytest.mark.parametrize(
    "template",
    [
        "' OR '1'='1",
        "{kid}' OR '1'='1",
        "{kid}'--",
        "x'; DROP TABLE permits; --",
        '{kid}" OR ""="',
        "{kid}' UNION SELECT kid FROM keys --",
    ],
)
def test_kid_sql_injection_is_only_an_unknown_key(city: City, template: str) -> None:
    kid = city.signers["hcm-syt"].kid
    record = city.issue()
    assert_refused(city.verify(kid_token(city, template.format(kid=kid))), "unknown_key")
    ledger = city.home.ledger("hcm-syt")
    try:
        assert ledger.get(record.permit.id).permit == record.permit
    finally:
        ledger.close()


@pytest.mark.parametrize(
    "template",
    [
        "https://evil.example/keys.json#{kid}",
        "https://status.hcm.gov.vn/hcm-syt/{kid}",
        "file:///etc/hcm/keys/{kid}.json",
        "data:application/json,{{\"kty\":\"OKP\"}}",
        "urn:ietf:params:oauth:jwk-thumbprint:sha-256:{kid}",
    ],
)
def test_kid_url_is_only_an_unknown_key(city: City, template: str) -> None:
    kid = city.signers["hcm-syt"].kid
    assert_refused(city.verify(kid_token(city, template.format(kid=kid))), "unknown_key")


@pytest.mark.parametrize(
    "respell",
    [
        lambda kid, full: kid.upper() if kid != kid.upper() else kid.lower(),
        lambda kid, full: kid + " ",
        lambda kid, full: " " + kid,
        lambda kid, full: kid[:-1],
        lambda kid, full: full,  # the whole RFC 7638 thumbprint is not an alias of the kid
        lambda kid, full: full[:13],
        lambda kid, full: kid + "=",
        lambda kid, full: kid.replace("-", "+").replace("_", "/") + ("+" if "-" not in kid and "_" not in kid else ""),
    ],
    ids=["other case", "trailing space", "leading space", "one short", "full thumbprint", "one long", "padded", "std alphabet"],
)
def test_near_misses_of_a_registered_kid_are_unknown_keys(city: City, respell: Any) -> None:
    signer = city.signers["hcm-syt"]
    kid = respell(signer.kid, signer.public_key().thumbprint)
    assert kid != signer.kid
    assert_refused(city.verify(kid_token(city, kid)), "unknown_key")


def test_a_root_key_cannot_sign_permits(city: City) -> None:
    # The city's root keys sign the registry; they are not agency keys and their kids do not
    # find an agency key, however genuine the signature.
    permit = genuine(city)
    root = root_signers(city)[0]
    assert_refused(city.verify(sign_permit(permit, root)), "unknown_key")


def test_a_key_held_by_the_agency_but_never_registered_is_an_unknown_key(city: City) -> None:
    permit = genuine(city)
    # Generated in the agency's own home with its passphrase, but never added to the registry.
    unregistered = city.home.generate_key("hcm-syt", b"correct horse battery staple")
    assert_refused(city.verify(sign_permit(permit, unregistered)), "unknown_key")


# --- the key's agency is exactly the token's iss --------------------------------------------


@pytest.mark.parametrize("iss", ["hcm-skhdt", "hcm-sct", "hcm-sxd"])
def test_genuine_key_of_one_agency_signing_in_the_name_of_another_is_issuer_key_mismatch(city: City, iss: str) -> None:
    permit = genuine(city)
    assert_refused(city.verify(resign(city, permit, by="hcm-syt", agency=iss)), "issuer_key_mismatch")


@pytest.mark.parametrize("iss", ["hcm-sy", "hcm-syt-2", "hcm-syt0", "hcm", "syt"])
def test_iss_that_only_resembles_the_keys_agency_is_an_unknown_issuer(city: City, iss: str) -> None:
    permit = genuine(city)
    assert_refused(city.verify(resign(city, permit, agency=iss)), "unknown_issuer")


# --- every public key is validated when the registry is loaded ------------------------------

ED25519_SMALL_ORDER = {
    "identity (order 1)": bytes([1]) + bytes(31),
    "order 2": ((2**255 - 19) - 1).to_bytes(32, "little"),
    "order 4": bytes(32),
    "order 8": bytes.fromhex("26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"),
}


def ed25519_entry(raw: bytes) -> dict[str, Any]:
    return {"alg": "EdDSA", "jwk": {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw)}, "valid_from": NOW - 86400}


def replace_key(content: dict[str, Any], agency: str, entry: dict[str, Any]) -> None:
    """The agency's keys become exactly `entry`, under its own thumbprint kid, so that only the
    key itself can be what is wrong."""
    content["agencies"][agency]["keys"] = {jwk_thumbprint(entry["jwk"])[:12]: entry}


def test_the_genuine_registry_resigned_the_same_way_opens(city: City) -> None:
    # The control: nothing about re-signing by the root threshold makes a registry fail.
    trusted = open_registry(city, edited_registry(city, lambda content: None))
    assert trusted.registry == city.registry


@pytest.mark.parametrize("raw", ED25519_SMALL_ORDER.values(), ids=ED25519_SMALL_ORDER.keys())
def test_registry_with_a_small_order_ed25519_agency_key_is_refused(city: City, raw: bytes) -> None:
    # With such a key one forged signature verifies for every message.
    entry = ed25519_entry(raw)
    registry_refused(city, edited_registry(city, lambda c: replace_key(c, "hcm-syt", entry)), because="full-order")


def test_registry_with_a_p256_agency_key_off_the_curve_is_refused(city: City) -> None:
    def edit(content: dict[str, Any]) -> None:
        _, entry = agency_key(content, "hcm-sct")
        y = entry["jwk"]["y"]
        entry["jwk"]["y"] = y[:-2] + ("A" if y[-2] != "A" else "B") + y[-1]
        replace_key(content, "hcm-sct", entry)

    registry_refused(city, edited_registry(city, edit), because="not a point on the curve")


@pytest.mark.parametrize(
    ("member", "value"),
    [("d", "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"), ("k", "c2VjcmV0"), ("p", "AQAB"), ("dp", "AQAB")],
)
def test_registry_with_private_or_symmetric_key_material_is_refused(city: City, member: str, value: str) -> None:
    def edit(content: dict[str, Any]) -> None:
        _, entry = agency_key(content, "hcm-syt")
        entry["jwk"][member] = value

    registry_refused(city, edited_registry(city, edit), because="private or symmetric")


def test_registry_carrying_an_agencys_real_private_key_is_refused(city: City) -> None:
    # An operator's tool that exported the whole key pair: the real d of the real key.
    private = generate_private_key("ES256")
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    public = KeySigner(private).public_key()
    jwk = {**public.jwk, "d": b64url_encode(private.private_numbers().private_value.to_bytes(32, "big"))}
    entry = {"alg": "ES256", "jwk": jwk, "valid_from": NOW - 86400}
    registry_refused(city, edited_registry(city, lambda c: replace_key(c, "hcm-sct", entry)), because="private or symmetric")


@pytest.mark.parametrize(
    ("agency", "alg", "because"),
    [
        ("hcm-syt", "ES256", "lacks y"),  # an Ed25519 key read as P-256
        ("hcm-sct", "EdDSA", "unexpected members y"),  # a P-256 key read as Ed25519
        ("hcm-syt", "HS256", "'HS256' is not allowed"),
        ("hcm-syt", "none", "'none' is not allowed"),
        ("hcm-sct", "ES384", "'ES384' is not allowed"),
    ],
)
def test_registry_binding_a_key_to_an_algorithm_of_another_curve_is_refused(city: City, agency: str, alg: str, because: str) -> None:
    def edit(content: dict[str, Any]) -> None:
        _, entry = agency_key(content, agency)
        entry["alg"] = alg

    registry_refused(city, edited_registry(city, edit), because=because)


@pytest.mark.parametrize(
    ("curve", "because"),
    [(ec.SECP384R1(), "must be 32 bytes"), (ec.SECP256K1(), "not a point on the curve"), (ec.SECP521R1(), "must be 32 bytes")],
    ids=["P-384", "secp256k1", "P-521"],
)
def test_registry_with_an_es256_key_from_another_curve_labelled_p256_is_refused(
    city: City, curve: ec.EllipticCurve, because: str
) -> None:
    numbers = ec.generate_private_key(curve).public_key().public_numbers()
    size = (curve.key_size + 7) // 8
    jwk = {"kty": "EC", "crv": "P-256", "x": b64url_encode(numbers.x.to_bytes(size, "big")),
           "y": b64url_encode(numbers.y.to_bytes(size, "big"))}
    entry = {"alg": "ES256", "jwk": jwk, "valid_from": NOW - 86400}
    registry_refused(city, edited_registry(city, lambda c: replace_key(c, "hcm-sct", entry)), because=because)


@pytest.mark.parametrize(
    ("member", "value", "because"),
    [
        ("jku", "https://evil.example/jwks", "unexpected members jku"),
        ("x5u", "https://evil.example/c", "unexpected members x5u"),
        ("x5c", "MIIB", "unexpected members x5c"),
        ("use", "enc", "use must be 'sig'"),
        ("key_ops", "verify", "key_ops"),
    ],
)
def test_registry_key_with_members_that_point_elsewhere_is_refused(city: City, member: str, value: str, because: str) -> None:
    def edit(content: dict[str, Any]) -> None:
        _, entry = agency_key(content, "hcm-syt")
        entry["jwk"][member] = value

    registry_refused(city, edited_registry(city, edit), because=because)


def test_registry_relabelling_a_key_under_a_kid_that_is_not_its_thumbprint_is_refused(city: City) -> None:
    # Would let a token naming "hcm-syt-key" find the Department of Health's key.
    def edit(content: dict[str, Any]) -> None:
        kid, entry = agency_key(content, "hcm-syt")
        content["agencies"]["hcm-syt"]["keys"] = {"hcm-syt-key": entry}

    registry_refused(city, edited_registry(city, edit), because="kid is not the thumbprint")


def test_registry_giving_one_key_to_two_agencies_is_refused(city: City) -> None:
    # The same kid under Health and Planning: a permit signed by it would belong to both.
    def edit(content: dict[str, Any]) -> None:
        kid, entry = agency_key(content, "hcm-syt")
        content["agencies"]["hcm-skhdt"]["keys"][kid] = entry

    registry_refused(city, edited_registry(city, edit), because="appears twice")


def test_registry_listing_the_same_kid_twice_in_one_agency_is_refused(city: City) -> None:
    # Only reachable as raw JSON: the second spelling of the member would silently win.
    content = registry_content(city)
    kid, entry = agency_key(content, "hcm-syt")
    retired = {**entry, "retired_at": NOW - 10, "retired_reason": "compromised"}
    raw = dumps_canonical(content).decode()
    member = f'"{kid}":{dumps_canonical(entry).decode()}'
    assert raw.count(member) == 1
    doubled = raw.replace(member, f'"{kid}":{dumps_canonical(retired).decode()},{member}')
    registry_refused(city, root_signed_bundle(city, doubled.encode()), because="duplicate member")


def test_a_loaded_registry_finds_a_permit_key_only_by_its_exact_kid(city: City) -> None:
    permit = genuine(city)
    signer = city.signers["hcm-syt"]
    assert city.registry.key(signer.kid) is not None
    assert city.registry.key(signer.kid.lower() if signer.kid != signer.kid.lower() else signer.kid.upper()) is None
    assert_valid(city.verify(sign_permit(permit, signer)))
