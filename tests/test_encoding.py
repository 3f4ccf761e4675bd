"""keys/encoding.py: one accepted spelling per value, in base64url and in JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keys.encoding import (
    MAX_SAFE_INT,
    b64url_decode,
    b64url_encode,
    dumps_canonical,
    load_json_file_strict,
    loads_strict,
)
from keys.errors import InputError

# --- base64url -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", ""),
        (b"\x00", "AA"),
        (b"\x00\x00", "AAA"),
        (b"\x00\x00\x00", "AAAA"),
        (b"\xfb\xff", "-_8"),
        (b"\xfb\xef\xbe", "----"),
        (b"\xff\xff\xff", "____"),
        ("Hồ Chí Minh".encode(), "SOG7kyBDaMOtIE1pbmg"),
    ],
)
def test_b64url_encodes_unpadded_url_safe_and_decodes_back(data: bytes, text: str) -> None:
    assert b64url_encode(data) == text
    assert b64url_decode(text) == data


@given(st.binary(max_size=200))
def test_b64url_round_trip_is_exact(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text
    assert b64url_decode(text) == data


@pytest.mark.parametrize(
    "text",
    [
        # padding, which RFC 7515 forbids
        "AA==",
        "AAA=",
        "AAAA====",
        "=",
        # whitespace: with it removed, each of these would be valid
        "AAAA AA",
        "AA AAAA",
        "AAAA\r\nAA",
        "AAAA\tAA",
        "AAAAAA\n\n",
        # characters outside the alphabet, which a lenient decoder silently skips
        "AA.AAA",
        "AAAA.AA",
        "AA*A",
        "AA~A",
        "AA%3D",
        "AA\x00A",
        "AAÀA",
        "AA\u0410A",
        # the standard alphabet: the same bytes as "-_-_" spelled a second way
        "+/+/",
        "AA+A",
        "AA/A",
        # non-zero unused low bits in the last character: "AB" and "AA" would both be b"\x00"
        "AB",
        "AP",
        "AAB",
        "AAD",
        "-_9",
        # a length of 1 mod 4 cannot hold whole bytes
        "A",
        "AAAAA",
        "AAAAAAAAA",
    ],
)
def test_b64url_refuses_every_non_canonical_spelling(text: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(text)


def test_b64url_one_value_has_exactly_one_accepted_spelling() -> None:
    # Of the 64 possible last characters after "A", only the four with zero low bits decode.
    accepted = []
    for last in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_":
        try:
            b64url_decode("A" + last)
        except ValueError:
            continue
        accepted.append(last)
    assert accepted == ["A", "Q", "g", "w"]
    assert [b64url_decode("A" + last) for last in accepted] == [b"\x00", b"\x01", b"\x02", b"\x03"]


# --- strict JSON: what is refused ----------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1,"a":2}',
        '{"a":1,"a":1}',
        '{"x":{"a":1,"a":1}}',
        '[{"a":1,"a":2}]',
        '{"a":1,"b":{"c":[{"d":1,"d":2}]}}',
        # two spellings of one member name are still one member twice
        '{"a":1,"\\u0061":2}',
        '{"\\u1ed3":1,"ồ":2}',
    ],
)
def test_duplicate_members_at_any_depth_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        loads_strict(text)
    with pytest.raises(ValueError):
        loads_strict(text.encode())


@pytest.mark.parametrize(
    "text",
    ["NaN", "Infinity", "-Infinity", '{"exp":NaN}', "[Infinity]", '{"iat":-Infinity}'],
)
def test_non_finite_constants_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        loads_strict(text)


@pytest.mark.parametrize(
    "text",
    ["1.0", "1.5", "-0.0", "0.0", "1e3", "1E3", "1e+3", "1e-3", "0e0", "-1e0", '{"exp":1.9e9}', "[2.0]"],
)
def test_fractions_and_exponents_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        loads_strict(text)


@pytest.mark.parametrize("value", [MAX_SAFE_INT + 1, -(MAX_SAFE_INT + 1), 2**63, -(2**63), 10**30])
def test_integers_beyond_the_safe_range_are_refused(value: int) -> None:
    with pytest.raises(ValueError):
        loads_strict(str(value))
    with pytest.raises(ValueError):
        loads_strict(f'{{"exp":{value}}}')


@pytest.mark.parametrize("value", [MAX_SAFE_INT, -MAX_SAFE_INT, 0, -1, 1])
def test_integers_within_the_safe_range_are_read_exactly(value: int) -> None:
    assert loads_strict(str(value)) == value
    assert type(loads_strict(str(value))) is int


def test_integers_are_safe_from_2_to_53_minus_1() -> None:
    assert MAX_SAFE_INT == 9_007_199_254_740_991


@pytest.mark.parametrize("data", [b'\xef\xbb\xbf{"a":1}', "\ufeff{}"], ids=["bytes", "str"])
def test_byte_order_mark_is_refused(data: bytes | str) -> None:
    with pytest.raises(ValueError):
        loads_strict(data)


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'"\xff"', id="invalid-byte"),
        pytest.param(b'"\xc3"', id="truncated-sequence"),
        pytest.param(b'"\x80"', id="lone-continuation"),
        pytest.param(b'"\xe1\xbb"', id="truncated-3-byte"),
        pytest.param(b'"\xc0\xaf"', id="overlong-2-byte-slash"),
        pytest.param(b'"\xc1\xbf"', id="overlong-2-byte"),
        pytest.param(b'"\xe0\x80\xaf"', id="overlong-3-byte"),
        pytest.param(b'"\xf0\x80\x80\xaf"', id="overlong-4-byte"),
        pytest.param(b'"\xed\xa0\x80"', id="encoded-high-surrogate"),
        pytest.param(b'"\xed\xbf\xbf"', id="encoded-low-surrogate"),
        pytest.param(b'"\xed\xa0\xbd\xed\xb8\x80"', id="cesu-8-surrogate-pair"),
        pytest.param(b'"\xf4\x90\x80\x80"', id="beyond-u10ffff"),
        pytest.param('{"a":"Hồ"}'.encode("utf-16"), id="utf-16"),
        pytest.param('{"a":"é"}'.encode("latin-1"), id="latin-1"),
    ],
)
def test_bytes_that_are_not_strict_utf8_are_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        loads_strict(data)


def test_escaped_lone_surrogate_is_refused_as_i_json_requires() -> None:
    # RFC 7493 §2.1: strings MUST NOT hold surrogate code points. A lone surrogate also has no
    # UTF-8 form, so dumps_canonical could never write such a value back.
    with pytest.raises(ValueError):
        loads_strict(b'"\\ud800"')
    with pytest.raises(ValueError):
        loads_strict(b'{"kid":"\\udfff"}')


def test_escaped_surrogate_pair_is_one_character() -> None:
    assert loads_strict(b'"\\ud83d\\ude00"') == "\U0001f600"


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 100_000 + "1" + "}" * 100_000,
        "[{" * 50_000,
    ],
    ids=["arrays", "objects", "unclosed"],
)
def test_deep_nesting_is_a_value_error_not_a_recursion_error(text: str) -> None:
    with pytest.raises(ValueError):
        loads_strict(text)


@pytest.mark.parametrize(
    "text",
    ["", " ", "{", '{"a":1}x', '{"a":1}{}', "{'a':1}", '{"a":1,}', "[1,]", "01", "+1", "-", "true false", '"\t"'],
)
def test_text_that_is_not_json_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        loads_strict(text)


def test_strict_reader_accepts_ordinary_json() -> None:
    raw = '{"name":"Sở Y tế","types":["food-safety"],"version":7,"retired":null,"ok":true}'.encode()
    assert loads_strict(raw) == {
        "name": "Sở Y tế",
        "types": ["food-safety"],
        "version": 7,
        "retired": None,
        "ok": True,
    }


def test_json_file_reader_turns_every_failure_into_bad_json() -> None:
    with pytest.raises(InputError) as caught:
        load_json_file_strict(b'{"a":1,"a":2}', "public key file")
    assert caught.value.reason == "bad_json"
    assert str(caught.value).startswith("public key file is not valid JSON")
    assert load_json_file_strict(b'{"a":1}', "public key file") == {"a": 1}


# --- canonical output ----------------------------------------------------------------------


def test_canonical_dumps_is_sorted_compact_and_leaves_non_ascii_unescaped() -> None:
    document = {"b": 1, "a": {"d": "Hồ Chí Minh", "c": [3, 1, 2]}, "A": None}
    assert dumps_canonical(document) == '{"A":null,"a":{"c":[3,1,2],"d":"Hồ Chí Minh"},"b":1}'.encode()


def test_canonical_dumps_does_not_depend_on_insertion_order() -> None:
    assert dumps_canonical({"x": 1, "y": {"q": 2, "p": 3}}) == dumps_canonical({"y": {"p": 3, "q": 2}, "x": 1})


def test_canonical_dumps_still_escapes_what_json_must_escape() -> None:
    assert dumps_canonical({"s": 'a"b\\c\n\x00'}) == b'{"s":"a\\"b\\\\c\\n\\u0000"}'


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_canonical_dumps_refuses_non_finite_numbers(value: float) -> None:
    with pytest.raises(ValueError):
        dumps_canonical({"x": value})


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-MAX_SAFE_INT, MAX_SAFE_INT)
    | st.text(st.characters(exclude_categories=("Cs",)), max_size=20),
    lambda children: st.lists(children, max_size=5)
    | st.dictionaries(st.text(st.characters(exclude_categories=("Cs",)), max_size=8), children, max_size=5),
    max_leaves=30,
)


@given(JSON_VALUES)
def test_strict_reader_reads_back_what_canonical_dumps_writes(value: Any) -> None:
    raw = dumps_canonical(value)
    assert loads_strict(raw) == value
    # Canonical: writing what was read gives the same bytes.
    assert dumps_canonical(loads_strict(raw)) == raw
    assert json.loads(raw) == value
