"""Rule 7, text: every string is NFC; control characters, bidirectional controls, zero-width and
other invisible characters and lone surrogates are refused, not cleaned; every string has a
length bound; and characters that look alike but differ (Đ U+0110 and Ð U+00D0, Latin and
Cyrillic letters, ASCII and fullwidth forms) are never taken for one another in a lookup.

Permits here are signed by the agency's genuine key: only the text can be what is wrong."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

import pytest
from conftest import City
from flask.testing import FlaskClient
from forge import claims_of, permit_header, sign_claims
from hostile import (
    assert_refused,
    assert_valid,
    claims_json,
    claims_token,
    copy_city,
    edited_registry,
    genuine,
    header_token,
    list_token,
    registry_refused,
    resign,
)

from keys.errors import ConflictError
from permits import model
from permits.model import Permit

FIELDS = ["permit_name", "permit_addr", "permit_no", "permit_act", "permit_cond"]
VIETNAMESE = "Công ty TNHH Thương mại Đức Hưng"


@pytest.fixture(scope="module")
def city(city_template: Path, tmp_path_factory: pytest.TempPathFactory) -> City:
    """One city for the whole module: its tests forge and verify, and change nothing shared."""
    return copy_city(city_template, tmp_path_factory.mktemp("rule7_text"))


def with_text(city: City, permit: Permit, field: str, text: str, by: str = "hcm-syt") -> str:
    """The permit with `text` in one field (a list field gets it as its only item), signed."""
    value: Any = [text] if field in ("permit_act", "permit_cond") else text
    return sign_claims(claims_of(permit, **{field: value}), city.signers[by])


def around(char: str) -> str:
    return f"Công ty{char} TNHH Đức{char}Hưng"


# --- characters that hide or reorder what a person reads -----------------------------------

BIDI = {
    "RLO U+202E": "\u202e", "LRO U+202D": "\u202d", "RLE U+202B": "\u202b", "LRE U+202A": "\u202a", "PDF U+202C": "\u202c",
    "RLI U+2067": "\u2067", "LRI U+2066": "\u2066", "FSI U+2068": "\u2068", "PDI U+2069": "\u2069",
    "RLM U+200F": "\u200f", "LRM U+200E": "\u200e", "ALM U+061C": "\u061c",
}


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("char", BIDI.values(), ids=BIDI.keys())
def test_rtl_override_and_other_bidi_controls_in_permit_text_are_refused(city: City, field: str, char: str) -> None:
    permit = genuine(city)
    assert_refused(city.verify(with_text(city, permit, field, around(char))), "non_canonical_text")


def test_rtl_override_that_would_show_a_forged_name_is_refused(city: City) -> None:
    # Displayed as "Công ty TNHH Sạch Bình Minh": the override reverses the tail on screen.
    permit = genuine(city)
    name = "Công ty TNHH \u202ehniM hnìB hcạS"
    assert_refused(city.verify(with_text(city, permit, "permit_name", name)), "non_canonical_text")


ZERO_WIDTH = {
    "ZWJ U+200D": "\u200d", "ZWNJ U+200C": "\u200c", "ZWSP U+200B": "\u200b", "WJ U+2060": "\u2060",
    "ZWNBSP U+FEFF": "\ufeff", "soft hyphen U+00AD": "\u00ad", "MVS U+180E": "\u180e", "invisible times U+2062": "\u2062",
    "tag A U+E0041": "\U000e0041",
}


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("char", ZERO_WIDTH.values(), ids=ZERO_WIDTH.keys())
def test_zero_width_joiner_and_other_format_characters_are_refused(city: City, field: str, char: str) -> None:
    permit = genuine(city)
    assert_refused(city.verify(with_text(city, permit, field, around(char))), "non_canonical_text")


# Default-ignorable code points (Unicode DerivedCoreProperties) whose general category is a
# mark or a letter: they render as nothing, so two names differing only by them look identical.
INVISIBLE_MARKS_AND_LETTERS = {
    "combining grapheme joiner U+034F": "\u034f",
    "hangul filler U+3164": "\u3164",
    "halfwidth hangul filler U+FFA0": "\uffa0",
    "hangul choseong filler U+115F": "\u115f",
    "khmer vowel inherent U+17B4": "\u17b4",
    "mongolian free variation selector U+180B": "\u180b",
    "variation selector-1 U+FE00": "\ufe00",
    "variation selector-16 U+FE0F": "\ufe0f",
    "variation selector-17 U+E0100": "\U000e0100",
}


@pytest.mark.parametrize("char", INVISIBLE_MARKS_AND_LETTERS.values(), ids=INVISIBLE_MARKS_AND_LETTERS.keys())
def test_invisible_default_ignorable_characters_in_a_holder_name_are_refused(city: City, char: str) -> None:
    permit = genuine(city)
    name = f"Công{char} ty TNHH Đức Hưng"
    assert unicodedata.is_normalized("NFC", name)
    assert_refused(city.verify(with_text(city, permit, "permit_name", name)), "non_canonical_text")


CONTROLS = {
    "NUL": "\x00", "ESC sequence": "\x1b[2J", "backspace": "\x08", "DEL": "\x7f", "NEL U+0085": "\x85", "CSI U+009B": "\x9b",
    "line separator": "\u2028", "paragraph separator": "\u2029", "CR": "\r", "LF": "\n", "tab": "\t",
}


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("char", CONTROLS.values(), ids=CONTROLS.keys())
def test_control_characters_in_permit_text_are_refused(city: City, field: str, char: str) -> None:
    permit = genuine(city)
    assert_refused(city.verify(with_text(city, permit, field, around(char))), "non_canonical_text")


SPACES = {"no-break U+00A0": "\u00a0", "narrow no-break U+202F": "\u202f", "figure U+2007": "\u2007",
          "ideographic U+3000": "\u3000", "en quad U+2000": "\u2000", "ogham U+1680": "\u1680"}


@pytest.mark.parametrize("char", SPACES.values(), ids=SPACES.keys())
def test_unusual_spaces_that_look_like_a_plain_space_are_refused(city: City, char: str) -> None:
    permit = genuine(city)
    assert_refused(city.verify(with_text(city, permit, "permit_name", VIETNAMESE.replace(" ", char, 1))), "non_canonical_text")


@pytest.mark.parametrize("name", [" " + VIETNAMESE, VIETNAMESE + " ", VIETNAMESE + "  "],
                         ids=["leading", "trailing", "two trailing"])
def test_surrounding_spaces_are_refused_not_trimmed(city: City, name: str) -> None:
    permit = genuine(city)
    assert_refused(city.verify(with_text(city, permit, "permit_name", name)), "non_canonical_text")


@pytest.mark.parametrize("field", ["permit_name", "permit_addr", "permit_act", "permit_cond", "permit_no"])
@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\udc00\\ud800"], ids=["high", "low", "reversed pair"])
def test_lone_surrogates_in_any_text_field_are_refused(city: City, field: str, escape: str) -> None:
    permit = genuine(city)
    marker = "ZZSURROGATEZZ"
    raw = claims_json(permit, **{field: [marker] if field in ("permit_act", "permit_cond") else marker})
    assert_refused(city.verify(claims_token(city, raw.replace(marker.encode(), escape.encode()))), "malformed_token")


# --- NFC ----------------------------------------------------------------------------------

DECOMPOSED = {
    "NFD": lambda text: unicodedata.normalize("NFD", text),
    "one letter decomposed": lambda text: text.replace("ư", "u\u031b", 1),
    "tone mark on a precomposed vowel": lambda text: text.replace("Đức", "Đư\u0301c", 1),
    "marks in the other order": lambda text: text.replace("Đức", "Đu\u0301\u031bc", 1),
}


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("decompose", DECOMPOSED.values(), ids=DECOMPOSED.keys())
def test_decomposed_vietnamese_is_refused_in_every_field(city: City, field: str, decompose: Any) -> None:
    permit = genuine(city)
    text = decompose(VIETNAMESE)
    # Looks the same and means the same, once normalised; but it is not what was signed in NFC.
    assert text != VIETNAMESE and unicodedata.normalize("NFC", text) == VIETNAMESE
    assert_refused(city.verify(with_text(city, permit, field, text)), "non_canonical_text")


def test_the_same_vietnamese_text_in_nfc_is_valid_in_every_field(city: City) -> None:
    permit = genuine(city)
    shown = resign(city, permit, holder_name=VIETNAMESE, holder_address=VIETNAMESE, number=VIETNAMESE,
                   activities=(VIETNAMESE,), conditions=(VIETNAMESE,))
    verdict = city.verify(shown)
    assert_valid(verdict)
    holder = verdict.to_dict()["permit"]["holder"]
    assert holder["name"] == holder["address"] == VIETNAMESE


# --- length bounds ------------------------------------------------------------------------

BOUNDS = {
    "holder name": ("permit_name", model.NAME_MAX),
    "address": ("permit_addr", model.ADDRESS_MAX),
    "permit number": ("permit_no", model.NUMBER_MAX),
    "activity": ("permit_act", model.ITEM_MAX),
    "condition": ("permit_cond", model.ITEM_MAX),
}


@pytest.mark.parametrize(("field", "limit"), BOUNDS.values(), ids=BOUNDS.keys())
def test_oversized_claim_text_is_refused_at_one_character_past_its_bound(city: City, field: str, limit: int) -> None:
    permit = genuine(city)
    # Vietnamese letters with two diacritics are one code point each in NFC: the bound counts them.
    assert_valid(city.verify(with_text(city, permit, field, "Ệ" * limit)))
    assert_refused(city.verify(with_text(city, permit, field, "Ệ" * (limit + 1))), "bad_claim")


@pytest.mark.parametrize(("field", "limit"), [("permit_act", model.ACTIVITIES_MAX), ("permit_cond", model.CONDITIONS_MAX)])
def test_too_many_activities_or_conditions_are_refused(city: City, field: str, limit: int) -> None:
    permit = genuine(city)
    signer = city.signers["hcm-syt"]
    assert_valid(city.verify(sign_claims(claims_of(permit, **{field: ["Bán lẻ"] * limit}), signer)))
    assert_refused(city.verify(sign_claims(claims_of(permit, **{field: ["Bán lẻ"] * (limit + 1)}), signer)), "bad_claim")


@pytest.mark.parametrize(
    ("claim", "value"),
    [("jti", "A" * 33), ("sub", "0" * 33), ("iss", "hcm-" + "s" * 29), ("ptype", "food-safety-" + "x" * 21), ("permit_name", "")],
    ids=["jti 33", "sub 33", "iss 33", "ptype 33", "empty name"],
)
def test_identifiers_and_names_outside_their_length_bounds_are_refused(city: City, claim: str, value: str) -> None:
    permit = genuine(city)
    assert_refused(city.verify(sign_claims(claims_of(permit, **{claim: value}), city.signers["hcm-syt"])), "bad_claim")


# --- look-alikes are never confused --------------------------------------------------------

CYRILLIC = str.maketrans("aceopxyABCEHKMOPTXs", "асеорхуАВСЕНКМОРТХѕ")


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


@pytest.mark.parametrize(
    "iss",
    ["hcm-ѕyt", "hcm-sуt", "hсm-syt", fullwidth("hcm-syt"), "ｈcm-syt", "hcm‐syt", "hcm-sÿt", "hcm-skhđt", "HCM-SYT"],
    ids=["cyrillic dze", "cyrillic u", "cyrillic es", "fullwidth", "one fullwidth letter", "unicode hyphen", "diaeresis",
         "d with stroke", "upper case"],
)
def test_mixed_script_homoglyph_agency_id_is_never_taken_for_the_real_one(city: City, iss: str) -> None:
    permit = genuine(city)
    assert iss != "hcm-syt"
    assert_refused(city.verify(sign_claims(claims_of(permit, iss=iss), city.signers["hcm-syt"])), "bad_claim")


@pytest.mark.parametrize("script", ["cyrillic", "fullwidth"])
def test_homoglyph_of_a_registered_kid_is_an_unknown_key(city: City, script: str) -> None:
    # Pick an agency whose kid has a letter with a Cyrillic twin (all four lacking one: ~1e-6).
    agency = next(a for a, s in city.signers.items() if s.kid.translate(CYRILLIC) != s.kid)
    signer = city.signers[agency]
    type_code = city.registry.agencies[agency].types[0]
    permit = genuine(city, agency, type_code)
    if script == "cyrillic":
        index = next(i for i, c in enumerate(signer.kid) if c.translate(CYRILLIC) != c)
        kid = signer.kid[:index] + signer.kid[index].translate(CYRILLIC) + signer.kid[index + 1:]
    else:
        kid = fullwidth(signer.kid[0]) + signer.kid[1:]
    # A lookup that normalised (NFKC) would take the fullwidth spelling for the real kid.
    assert unicodedata.normalize("NFKC", kid) == (signer.kid if script == "fullwidth" else kid)
    assert_refused(city.verify(header_token(city, permit_header(signer, kid=kid), permit)), "unknown_key")


@pytest.mark.parametrize("ptype", ["fооd-safety", fullwidth("food-safety"), "food-ѕafety"], ids=["cyrillic o", "fullwidth", "cyrillic dze"])
def test_homoglyph_of_a_permit_type_is_never_matched_to_it(city: City, ptype: str) -> None:
    permit = genuine(city)
    assert_refused(city.verify(sign_claims(claims_of(permit, ptype=ptype), city.signers["hcm-syt"])), "bad_claim")


def test_permit_numbers_with_d_stroke_and_eth_are_two_different_numbers(city: City) -> None:
    vietnamese = city.issue(number="GP-ĐKKD/2026/001")  # Đ U+0110, Vietnamese capital D with stroke
    icelandic = city.issue(number="GP-ÐKKD/2026/001")  # Ð U+00D0, Icelandic capital eth
    assert vietnamese.permit.number != icelandic.permit.number
    ledger = city.home.ledger("hcm-syt")
    try:
        assert ledger.find_by_number("GP-ĐKKD/2026/001") == vietnamese.permit.id
        assert ledger.find_by_number("GP-ÐKKD/2026/001") == icelandic.permit.id
        assert ledger.find_by_number("GP-DKKD/2026/001") is None
    finally:
        ledger.close()
    city.publish_status("hcm-syt")
    for record in (vietnamese, icelandic):
        verdict = city.verify(record.token)
        assert_valid(verdict)
        assert verdict.to_dict()["permit"]["number"] == record.permit.number


def test_canonically_equivalent_spellings_of_a_number_are_one_number(city: City) -> None:
    # The converse: the NFD spelling of a number already used is that number, not a new one.
    city.issue(number="GP-SỐ/2026/001")
    with pytest.raises(ConflictError) as conflict:
        city.issue(number=unicodedata.normalize("NFD", "GP-SỐ/2026/001"))
    assert conflict.value.reason == "duplicate_permit_number"


@pytest.mark.parametrize("agency", ["hcm-ѕyt", fullwidth("hcm-syt"), "hcm-sуt"], ids=["cyrillic dze", "fullwidth", "cyrillic u"])
def test_api_status_lookup_by_a_homoglyph_agency_id_finds_nothing(city: City, client: FlaskClient, agency: str) -> None:
    assert client.get("/api/v1/status/hcm-syt").status_code == 200
    for response in (
        client.get(f"/api/v1/status/{agency}"),
        client.put(f"/api/v1/status/{agency}", content_type="application/statuslist+jwt",
                   data=list_token(city, "hcm-syt")),
    ):
        body = response.get_json()
        assert (response.status_code, body["error"]["reason"]) == (404, "unknown_issuer")


# --- the registry's own text -------------------------------------------------------------


@pytest.mark.parametrize(
    ("edit", "because"),
    [
        (lambda c: c["agencies"]["hcm-syt"]["name"].update(vi="Sở \u202eế\u202c Y tế"), "not canonical NFC text"),
        (lambda c: c["agencies"]["hcm-syt"]["name"].update(vi=unicodedata.normalize("NFD", "Sở Y tế")), "not canonical NFC text"),
        (lambda c: c["types"]["food-safety"]["name"].update(en="Food\u200d safety certificate"), "not canonical NFC text"),
        (lambda c: c.update(name="Thành phố Hồ Chí Minh\n"), "not canonical NFC text"),
        (lambda c: c["agencies"]["hcm-syt"]["name"].update(en="D" * 201), "1 to 200 characters"),
        (lambda c: c["agencies"].update({"hcm-ѕyt": c["agencies"].pop("hcm-syt")}), "lower-case identifier"),
        (lambda c: c["types"].update({"fооd-safety": c["types"]["food-safety"]}), "lower-case identifier"),
    ],
    ids=["bidi in agency name", "NFD agency name", "ZWJ in type name", "newline in registry name", "201-char name",
         "cyrillic agency id", "cyrillic type code"],
)
def test_registry_text_breaking_the_text_rules_is_refused_despite_root_signatures(city: City, edit: Any, because: str) -> None:
    registry_refused(city, edited_registry(city, edit), because=because)
