"""keys/text.py and keys/fields.py: canonical text, identifiers and the typed field checks."""

from __future__ import annotations

import unicodedata

import pytest

from keys import fields
from keys.encoding import MAX_SAFE_INT
from keys.errors import InputError
from keys.fields import FieldError
from keys.text import check_identifier, is_canonical_text, is_identifier, normalise_text

NAME = "Công ty TNHH Thực phẩm Sạch Sài Gòn"
VIETNAMESE = [
    NAME,
    "Sở Kế hoạch và Đầu tư",
    "Nguyễn Thị Minh Khai",
    "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm",
    "Phường Xuân Hòa, TP. Hồ Chí Minh",
    "Đà Nẵng",
]

# Characters that can hide or reorder what a reader sees, each refused wherever it appears.
CONTROLS = ["\x00", "\x07", "\x08", "\t", "\n", "\r", "\x1b", "\x7f", "\x85", "\x9b"]
BIDI_CONTROLS = [
    "\u202a",  # LEFT-TO-RIGHT EMBEDDING
    "\u202b",  # RIGHT-TO-LEFT EMBEDDING
    "\u202c",  # POP DIRECTIONAL FORMATTING
    "\u202d",  # LEFT-TO-RIGHT OVERRIDE
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE
    "\u2066",  # LEFT-TO-RIGHT ISOLATE
    "\u2067",  # RIGHT-TO-LEFT ISOLATE
    "\u2068",  # FIRST STRONG ISOLATE
    "\u2069",  # POP DIRECTIONAL ISOLATE
    "\u200e",  # LEFT-TO-RIGHT MARK
    "\u200f",  # RIGHT-TO-LEFT MARK
    "\u061c",  # ARABIC LETTER MARK
]
ZERO_WIDTH = [
    "\u200b",  # ZERO WIDTH SPACE
    "\u200c",  # ZERO WIDTH NON-JOINER
    "\u200d",  # ZERO WIDTH JOINER
    "\u2060",  # WORD JOINER
    "\ufeff",  # ZERO WIDTH NO-BREAK SPACE (BOM)
    "\u00ad",  # SOFT HYPHEN
]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff"]
UNUSUAL_SPACES = [
    "\u00a0",  # NO-BREAK SPACE
    "\u3000",  # IDEOGRAPHIC SPACE
    "\u2007",  # FIGURE SPACE
    "\u202f",  # NARROW NO-BREAK SPACE
    "\u2028",  # LINE SEPARATOR
    "\u2029",  # PARAGRAPH SEPARATOR
    "\u1680",  # OGHAM SPACE MARK
]
REFUSED = CONTROLS + BIDI_CONTROLS + ZERO_WIDTH + SURROGATES + UNUSUAL_SPACES + ["\ue000", "\U000e0041"]


def _name(char: str) -> str:
    return f"U+{ord(char):04X}"


# --- NFC -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", VIETNAMESE)
def test_nfc_vietnamese_is_canonical(text: str) -> None:
    assert unicodedata.is_normalized("NFC", text)
    assert is_canonical_text(text, 200) is True


@pytest.mark.parametrize("text", VIETNAMESE)
def test_decomposed_vietnamese_is_not_canonical(text: str) -> None:
    nfd = unicodedata.normalize("NFD", text)
    assert nfd != text
    assert is_canonical_text(nfd, 200) is False


def test_mixed_composition_is_not_canonical() -> None:
    # "ễ" as e + U+0302 + U+0303, and as ê + U+0303: neither is the NFC spelling U+1EC5.
    assert is_canonical_text("Nguye\u0302\u0303n", 200) is False
    assert is_canonical_text("Nguy\u00ea\u0303n", 200) is False
    assert is_canonical_text("Nguy\u1ec5n", 200) is True


@pytest.mark.parametrize("text", VIETNAMESE)
def test_normalise_text_turns_nfd_into_nfc_and_strips_surrounding_spaces(text: str) -> None:
    nfd = unicodedata.normalize("NFD", text)
    assert normalise_text(f"  {nfd}\t\n", "holder name", 200) == text
    assert normalise_text(text, "holder name", 200) == text


def test_normalise_text_counts_length_after_composition() -> None:
    text = "ễ" * 10
    nfd = unicodedata.normalize("NFD", text)
    assert len(nfd) == 30
    assert normalise_text(nfd, "name", 10) == text


# --- refused characters --------------------------------------------------------------------


@pytest.mark.parametrize("char", REFUSED, ids=_name)
@pytest.mark.parametrize("where", ["inside", "start", "end", "alone"])
def test_hidden_reordering_and_unusual_characters_are_not_canonical(char: str, where: str) -> None:
    text = {"inside": f"Sở{char} Y tế", "start": f"{char}Sở Y tế", "end": f"Sở Y tế{char}", "alone": char}[where]
    assert is_canonical_text(text, 200) is False


@pytest.mark.parametrize("char", REFUSED, ids=_name)
def test_normalise_text_refuses_rather_than_cleans_characters_inside(char: str) -> None:
    with pytest.raises(InputError) as caught:
        normalise_text(f"Công ty{char} TNHH", "holder name", 200)
    assert caught.value.reason == "bad_text"


@pytest.mark.parametrize("char", ["\u200b", "\u202e", "\u2066", "\ufeff", "\u200d"], ids=_name)
def test_normalise_text_does_not_strip_invisible_characters_at_the_edges(char: str) -> None:
    with pytest.raises(InputError) as caught:
        normalise_text(f"{char}Sở Y tế", "name", 200)
    assert caught.value.reason == "bad_text"


@pytest.mark.parametrize("text", [" Sở Y tế", "Sở Y tế ", " a "])
def test_surrounding_spaces_are_not_canonical(text: str) -> None:
    assert is_canonical_text(text, 200) is False


def test_inner_ascii_space_is_canonical() -> None:
    assert is_canonical_text("Sở Y tế", 200) is True


# --- length --------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", " ", "   ", "\t\n", "\u3000"])
def test_empty_text_is_refused(text: str) -> None:
    assert is_canonical_text(text, 200) is False
    with pytest.raises(InputError) as caught:
        normalise_text(text, "name", 200)
    assert caught.value.reason == "bad_text"


def test_text_at_the_limit_is_accepted_and_one_more_is_refused() -> None:
    assert is_canonical_text("ồ" * 200, 200) is True
    assert is_canonical_text("ồ" * 201, 200) is False
    assert normalise_text("ồ" * 200, "name", 200) == "ồ" * 200
    with pytest.raises(InputError) as caught:
        normalise_text("ồ" * 201, "name", 200)
    assert caught.value.reason == "bad_text"


# --- identifiers ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["hcm", "hcm-syt", "food-safety", "a", "0", "a1-b2", "a--b", "a" * 32])
def test_lower_case_ascii_identifiers_are_valid(value: str) -> None:
    assert is_identifier(value) is True
    assert check_identifier(value, "agency id") == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "A",
        "Hcm-syt",
        "HCM",
        "-hcm",
        "hcm-",
        "-",
        "a" * 33,
        "hcm_syt",
        "hcm.syt",
        "hcm syt",
        "hcm/syt",
        "hcm\n",
        "\nhcm",
        "hcm\x00",
        "đ",
        "Đ",  # U+0110 LATIN CAPITAL LETTER D WITH STROKE (Vietnamese)
        "Ð",  # U+00D0 LATIN CAPITAL LETTER ETH (Icelandic)
        "hcm-sđt",
        "ｈcm",  # fullwidth h
        "hcm-s\u0443t",  # Cyrillic у
        "hcm\u200b",
        "hcm-\u0131",  # dotless i
        "\u0661",  # ARABIC-INDIC DIGIT ONE
    ],
)
def test_anything_else_is_not_an_identifier(value: str) -> None:
    assert is_identifier(value) is False
    with pytest.raises(InputError) as caught:
        check_identifier(value, "agency id")
    assert caught.value.reason == "bad_identifier"


def test_vietnamese_d_with_stroke_and_icelandic_eth_are_never_equal() -> None:
    d_stroke, eth = "\u0110", "\u00d0"
    assert d_stroke != eth
    for form in ("NFC", "NFD", "NFKC", "NFKD"):
        assert unicodedata.normalize(form, d_stroke) != unicodedata.normalize(form, eth)
    assert d_stroke.lower() != eth.lower()
    assert d_stroke.casefold() != eth.casefold()
    # Both are ordinary printable letters, so names using either are canonical text, and they
    # stay two different names after normalisation.
    assert normalise_text("Đà Nẵng", "name", 200) != normalise_text("Ðà Nẵng", "name", 200)
    assert is_canonical_text("Đà Nẵng", 200) and is_canonical_text("Ðà Nẵng", 200)
    assert not is_identifier(d_stroke) and not is_identifier(eth)
    assert not is_identifier(d_stroke.lower()) and not is_identifier(eth.lower())


# --- fields --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [
        (True, 0, MAX_SAFE_INT),
        (False, 0, MAX_SAFE_INT),
        (1.0, 0, MAX_SAFE_INT),
        (0.0, 0, MAX_SAFE_INT),
        (float("nan"), 0, MAX_SAFE_INT),
        ("1", 0, MAX_SAFE_INT),
        ("", 0, MAX_SAFE_INT),
        (None, 0, MAX_SAFE_INT),
        ([1], 0, MAX_SAFE_INT),
        (-1, 0, MAX_SAFE_INT),
        (MAX_SAFE_INT + 1, 0, MAX_SAFE_INT),
        (0, 1, 10),
        (11, 1, 10),
    ],
)
def test_integer_refuses_bool_float_str_and_out_of_range(value: object, low: int, high: int) -> None:
    with pytest.raises(FieldError) as caught:
        fields.integer(value, "version", low, high)
    assert caught.value.problem == "bad"


def test_integer_refuses_an_int_subclass() -> None:
    class Sneaky(int):
        pass

    with pytest.raises(FieldError) as caught:
        fields.integer(Sneaky(3), "version")
    assert caught.value.problem == "bad"


@pytest.mark.parametrize(("value", "low", "high"), [(0, 0, MAX_SAFE_INT), (MAX_SAFE_INT, 0, MAX_SAFE_INT), (1, 1, 10), (10, 1, 10)])
def test_integer_accepts_the_bounds(value: int, low: int, high: int) -> None:
    assert fields.integer(value, "version", low, high) == value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "bad"),
        (1, "bad"),
        (b"S\xe1\xbb\x9f", "bad"),
        ("", "bad"),
        ("x" * 21, "bad"),
        (unicodedata.normalize("NFD", "Sở Y tế"), "text"),
        ("Sở\u202eY", "text"),
        (" Sở", "text"),
    ],
)
def test_text_field_says_which_problem(value: object, problem: str) -> None:
    with pytest.raises(FieldError) as caught:
        fields.text(value, "name", 20)
    assert caught.value.problem == problem


def test_text_field_returns_canonical_text() -> None:
    assert fields.text("Sở Y tế", "name", 7) == "Sở Y tế"


@pytest.mark.parametrize("value", [None, 1, "HCM", "hcm_syt", "", "Đ"])
def test_identifier_field_refuses_non_identifiers(value: object) -> None:
    with pytest.raises(FieldError) as caught:
        fields.identifier(value, "agency id")
    assert caught.value.problem == "bad"


def test_text_list_checks_every_item_and_the_count() -> None:
    assert fields.text_list(["a", "Sở"], "activities", 2, 10) == ("a", "Sở")
    for value, problem in [("a", "bad"), (["a", "b", "c"], "bad"), (["a", 1], "bad"), (["a", "b\u200b"], "text")]:
        with pytest.raises(FieldError) as caught:
            fields.text_list(value, "activities", 2, 10)
        assert caught.value.problem == problem


@pytest.mark.parametrize(
    ("obj", "problem"),
    [
        ([], "bad"),
        ("x", "bad"),
        (None, "bad"),
        ({"vi": "a"}, "missing"),
        ({}, "missing"),
        ({"vi": "a", "en": "b", "fr": "c"}, "bad"),
        ({"vi": "a", "en": "b", "note": "c", "extra": 1}, "bad"),
    ],
)
def test_members_requires_exactly_the_known_members(obj: object, problem: str) -> None:
    with pytest.raises(FieldError) as caught:
        fields.members(obj, "name", ("vi", "en"), ("note",))
    assert caught.value.problem == problem


def test_members_accepts_required_and_optional() -> None:
    obj = {"vi": "a", "en": "b", "note": "c"}
    assert fields.members(obj, "name", ("vi", "en"), ("note",)) == obj
    assert fields.members({"vi": "a", "en": "b"}, "name", ("vi", "en"), ("note",)) == {"vi": "a", "en": "b"}
