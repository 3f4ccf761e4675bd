"""An agency inside the federation that misbehaves: it holds a genuine, registered key (from the
`city` fixture), so every signature it makes is real, and it uses them to reach beyond what the
registry lets it do. Each attempt must fail with its exact reason, and show nothing it wrote."""

from __future__ import annotations

import bz2
import json
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import DAY, KEYS_FROM, NOW, City
from flask.testing import FlaskClient
from forge import claims_of, permit_header, sign_claims
from hostile import (
    assert_refused,
    assert_valid,
    claims_json,
    claims_token,
    copy_city,
    genuine,
    header_token,
    list_token,
    open_list,
    payload_token,
    registry_content,
    status_header,
    status_refused,
)

from keys.encoding import b64url_encode, dumps_canonical
from keys.jws import TYP_REGISTRY, sign_general
from keys.trust import make_bundle
from permits.dictionary import DICTIONARY_V1
from permits.model import Permit
from permits.status_list import MAX_SIZE, MIN_SIZE, build_status_list
from permits.token import MAX_CLAIMS_BYTES, MAX_TOKEN_LENGTH, sign_permit

# (misbehaving agency, one of its own permit types)
ROGUES = [("hcm-sct", "alcohol-retail"), ("hcm-skhdt", "business-registration")]
VICTIMS = {"hcm-syt": "food-safety", "hcm-sxd": "construction"}


@pytest.fixture(scope="module")
def city(city_template: Path, tmp_path_factory: pytest.TempPathFactory) -> City:
    """One city for the whole module: its tests forge and verify, and change nothing shared."""
    return copy_city(city_template, tmp_path_factory.mktemp("misbehaving_agency"))


def own_permit(city: City, rogue: str, type_code: str) -> Permit:
    return genuine(city, rogue, type_code)


@pytest.mark.parametrize(("rogue", "own_type"), ROGUES)
@pytest.mark.parametrize("victim", VICTIMS)
def test_agency_signing_in_the_name_of_another_agency_is_issuer_key_mismatch(city: City, rogue: str, own_type: str, victim: str) -> None:
    permit = own_permit(city, rogue, own_type)
    # Its own key and kid; the victim's name and the victim's own permit type.
    forged = sign_permit(replace(permit, agency=victim, type=VICTIMS[victim]), city.signers[rogue])
    assert_refused(city.verify(forged), "issuer_key_mismatch")


@pytest.mark.parametrize(
    ("rogue", "own_type", "foreign_type"),
    [("hcm-sct", "alcohol-retail", "construction"), ("hcm-sct", "food-safety", "business-registration"),
     ("hcm-skhdt", "business-registration", "food-safety"), ("hcm-skhdt", "business-registration", "alcohol-retail")],
)
def test_agency_issuing_a_type_outside_its_scope_is_not_authorised(city: City, rogue: str, own_type: str, foreign_type: str) -> None:
    permit = own_permit(city, rogue, own_type)
    assert foreign_type not in city.registry.agencies[rogue].types
    assert_refused(city.verify(sign_permit(replace(permit, type=foreign_type), city.signers[rogue])), "not_authorised_for_type")


@pytest.mark.parametrize(("rogue", "own_type"), ROGUES)
@pytest.mark.parametrize("issued_at", [KEYS_FROM - 1, KEYS_FROM - 2 * 365 * DAY], ids=["a second before", "two years before"])
def test_agency_backdating_before_its_key_was_valid_is_refused(city: City, rogue: str, own_type: str, issued_at: int) -> None:
    permit = replace(own_permit(city, rogue, own_type), valid_from=NOW - DAY, valid_until=NOW + DAY)
    assert_valid(city.verify(sign_permit(replace(permit, issued_at=KEYS_FROM), city.signers[rogue])))
    assert_refused(city.verify(sign_permit(replace(permit, issued_at=issued_at), city.signers[rogue])), "key_not_valid_at_issue")


@pytest.mark.parametrize(("rogue", "own_type"), ROGUES)
def test_agency_exceeding_the_types_maximum_lifetime_is_refused(city: City, rogue: str, own_type: str) -> None:
    permit = own_permit(city, rogue, own_type)
    max_days = city.registry.types[own_type].max_days
    forever = replace(permit, valid_until=permit.valid_from + max_days * DAY + 1)
    assert_refused(city.verify(sign_permit(forever, city.signers[rogue])), "bad_claim")


@pytest.mark.parametrize(("rogue", "own_type"), ROGUES)
@pytest.mark.parametrize("iss", ["hcm-ѕyt", "hcm-sуt", "hсm-syt", "ｈｃｍ－ｓｙｔ", "hcm-syt\u200b", "hcm-syt "],
                         ids=["cyrillic dze", "cyrillic u", "cyrillic es", "fullwidth", "zero width space", "trailing space"])
def test_agency_signing_for_a_homoglyph_of_another_agency_is_refused(city: City, rogue: str, own_type: str, iss: str) -> None:
    permit = own_permit(city, rogue, own_type)
    forged = sign_claims(claims_of(permit, iss=iss, ptype="food-safety"), city.signers[rogue])
    assert_refused(city.verify(forged), "bad_claim")


@pytest.mark.parametrize(("rogue", "own_type"), ROGUES)
@pytest.mark.parametrize("iss", ["victim", "rogue"])
def test_agency_reusing_another_agencys_kid_with_its_own_key_is_bad_signature(city: City, rogue: str, own_type: str, iss: str) -> None:
    permit = own_permit(city, rogue, own_type)
    victim = city.signers["hcm-syt"]  # EdDSA
    claims = permit if iss == "rogue" else replace(permit, agency="hcm-syt", type="food-safety")
    # The header names the victim's kid and the victim's algorithm; the rogue's key signs.
    header = permit_header(victim)
    assert_refused(city.verify(header_token(city, header, claims, city.signers[rogue])), "bad_signature")


def test_es256_agency_naming_an_eddsa_kid_with_its_own_alg_is_algorithm_mismatch(city: City) -> None:
    permit = own_permit(city, "hcm-sct", "alcohol-retail")
    header = permit_header(city.signers["hcm-syt"], alg="ES256")
    forged = header_token(city, header, replace(permit, agency="hcm-syt", type="food-safety"), city.signers["hcm-sct"])
    assert_refused(city.verify(forged), "algorithm_mismatch")


# --- status lists ------------------------------------------------------------------------


@pytest.mark.parametrize("place", ["hcm-syt", "hcm-sct"], ids=["at the victim's place", "at its own place"])
def test_agency_signing_a_status_list_for_another_agency_is_refused(city: City, place: str) -> None:
    rogue = city.signers["hcm-sct"]
    token = build_status_list(city.registry.agencies[place].status_url, MIN_SIZE, [], rogue, NOW, NOW + DAY)
    status_refused(city, token, "hcm-syt", "issuer_key_mismatch")
    # Under the draft's optional iss, naming the victim changes nothing: the key decides.
    status_refused(city, list_token(city, "hcm-syt", rogue, iss="hcm-syt"), "hcm-syt", "issuer_key_mismatch")


def test_agency_signing_a_status_list_under_the_victims_kid_is_bad_signature(city: City) -> None:
    rogue, victim = city.signers["hcm-skhdt"], city.signers["hcm-syt"]
    token = list_token(city, "hcm-syt", rogue, header=status_header(victim))
    status_refused(city, token, "hcm-syt", "bad_signature")


def test_agency_pushing_a_clean_list_over_the_victims_revocation_is_refused(city: City, client: FlaskClient) -> None:
    # Health has revoked a permit; Industry and Trade tries to erase that with a list of its own.
    record = city.issue()
    city.change(record, "revoked")
    city.publish_status("hcm-syt", at=NOW + 1)
    client.application.extensions["permit_store"].reload()
    held = client.get("/api/v1/status/hcm-syt").data
    assert client.post("/api/v1/verify", json={"token": record.token}).get_json()["status"] == "revoked"
    for place in ("hcm-syt", "hcm-sct"):
        clean = build_status_list(city.registry.agencies[place].status_url, MIN_SIZE, [], city.signers["hcm-sct"], NOW + 60, NOW + DAY)
        response = client.put("/api/v1/status/hcm-syt", data=clean, content_type="application/statuslist+jwt")
        body = response.get_json()
        assert (response.status_code, body["error"]["reason"]) == (422, "issuer_key_mismatch")
    assert client.get("/api/v1/status/hcm-syt").data == held
    verdict = client.post("/api/v1/verify", json={"token": record.token}).get_json()
    assert (verdict["status"], verdict["reasons"]) == ("revoked", ["revoked"])


def test_agency_shipping_a_zlib_bomb_as_its_status_list_is_refused(city: City) -> None:
    bomb = zlib.compress(bytes(MAX_SIZE // 4 + 1), 9)  # one byte past the largest list: 16 MiB of zeros
    assert len(bomb) < 20_000
    status_refused(city, list_token(city, "hcm-syt", status_list={"bits": 2, "lst": b64url_encode(bomb)}), "hcm-syt", "malformed_token")
    assert open_list(city, list_token(city, "hcm-syt"), "hcm-syt").size == MIN_SIZE


# --- decompression bombs and stray bytes in a permit ---------------------------------------


def deflate(data: bytes, zdict: bytes | None = DICTIONARY_V1, wbits: int = -15) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits, 9, zlib.Z_DEFAULT_STRATEGY, **({"zdict": zdict} if zdict else {}))
    return compressor.compress(data) + compressor.flush()


BOMBS = {
    "claims then a megabyte of JSON whitespace": lambda claims: claims + b" " * (1 << 20),
    "a megabyte of whitespace before the claims": lambda claims: b" " * (1 << 20) + claims,
    "a megabyte holder name": lambda claims: claims.replace(b'"name":"', b'"name":"' + "Đ".encode() * (1 << 19), 1),
    "a megabyte of zero bytes": lambda claims: bytes(1 << 20),
}


@pytest.mark.parametrize("bloat", BOMBS.values(), ids=BOMBS.keys())
def test_agency_shipping_a_decompression_bomb_in_a_permit_is_refused(city: City, bloat: Any) -> None:
    permit = genuine(city)
    inflated = bloat(dumps_canonical(permit.to_claims()))
    assert len(inflated) > 100 * MAX_CLAIMS_BYTES
    # A DEFLATE stream with the project's own dictionary, genuinely signed, that fits a QR code.
    token = payload_token(city, deflate(inflated))
    assert len(token) <= MAX_TOKEN_LENGTH
    assert_refused(city.verify(token), "malformed_token")


def test_claims_just_over_the_inflate_cap_are_refused_and_just_under_are_read(city: City) -> None:
    permit = genuine(city)
    claims = dumps_canonical(permit.to_claims())
    at_cap = claims[:-1] + b" " * (MAX_CLAIMS_BYTES - len(claims)) + b"}"
    assert len(at_cap) == MAX_CLAIMS_BYTES
    assert_valid(city.verify(payload_token(city, deflate(at_cap))))
    over = at_cap[:-1] + b" }"
    assert_refused(city.verify(payload_token(city, deflate(over))), "malformed_token")


STRAY = {
    "valid DEFLATE then trailing garbage": lambda claims: deflate(claims) + b"\x00garbage",
    "valid DEFLATE then one zero byte": lambda claims: deflate(claims) + b"\x00",
    "two DEFLATE streams": lambda claims: deflate(claims) + deflate(claims),
    "truncated stream": lambda claims: deflate(claims)[:-4],
    "zlib wrapper": lambda claims: deflate(claims, wbits=15),
    "gzip wrapper": lambda claims: deflate(claims, None, wbits=31),
    "bzip2": lambda claims: bz2.compress(claims),
    "uncompressed JSON": lambda claims: claims,
}


@pytest.mark.parametrize("pack", STRAY.values(), ids=STRAY.keys())
def test_payload_that_is_not_exactly_one_deflate_stream_is_refused(city: City, pack: Any) -> None:
    permit = genuine(city)
    claims = dumps_canonical(permit.to_claims())
    assert_valid(city.verify(payload_token(city, deflate(claims))))
    assert_refused(city.verify(payload_token(city, pack(claims))), "malformed_token")


# --- the registry is not an agency's to sign -----------------------------------------------


def test_agency_signing_a_registry_that_widens_its_own_scope_is_refused(city: City, client: FlaskClient) -> None:
    content = registry_content(city)
    content["version"] += 1
    content["agencies"]["hcm-sct"]["types"] = sorted(content["types"])
    # Signed with the agency's genuine key, under the registry's typ, and pushed to a verifier.
    signed = sign_general(dumps_canonical(content), [city.signers["hcm-sct"]], TYP_REGISTRY)
    bundle = make_bundle(city.home.root_chain(), signed)
    response = client.put("/api/v1/registry", data=bundle, content_type="application/json")
    body = response.get_json()
    assert (response.status_code, body["error"]["reason"]) == (422, "registry_invalid")
    assert json.loads(client.get("/api/v1/registry").data) == json.loads(city.home.file("registry.json").read_bytes())
    permit = genuine(city, "hcm-sct", "alcohol-retail")
    assert_refused(city.verify(sign_permit(replace(permit, type="construction"), city.signers["hcm-sct"])), "not_authorised_for_type")


def test_agency_claims_json_with_its_own_extra_claims_is_refused(city: City) -> None:
    # An agency adding claims of its own ("admin", a status-list URL) that no verifier reads.
    permit = genuine(city)
    for extra in ({"admin": True}, {"status_url": "https://evil.example/list"}, {"permit_url": "https://evil.example"}):
        assert_refused(city.verify(sign_claims({**permit.to_claims(), **extra}, city.signers["hcm-syt"])), "bad_claim")
    raw = claims_json(permit, permit_photo="https://evil.example/p.png")
    assert_refused(city.verify(claims_token(city, raw)), "bad_claim")
