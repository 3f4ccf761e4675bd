"""Rule 1, form: only a compact JWS of exactly three non-empty segments of canonical unpadded
base64url is read, its size is capped before anything is decoded, and whitespace around it is
never stripped. Each test starts from a genuine permit (checked valid first) and respells it the
way a lenient parser would still accept, so the refusal can only come from the form rule."""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import City
from flask.testing import FlaskClient
from forge import compress
from hostile import assert_refused, assert_valid, copy_city, genuine, resign

from keys.encoding import b64url_decode, b64url_encode, dumps_canonical
from keys.jws import _COMPACT_HEADER_MAX
from permits import qr
from permits.model import Permit
from permits.token import MAX_CLAIMS_BYTES, MAX_TOKEN_LENGTH

ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


@pytest.fixture(scope="module")
def city(city_template: Path, tmp_path_factory: pytest.TempPathFactory) -> City:
    """One city for the whole module: its tests forge and verify, and change nothing shared."""
    return copy_city(city_template, tmp_path_factory.mktemp("rule1_form"))


def genuine_token(city: City) -> str:
    token = resign(city, genuine(city), number="GP-1")
    assert_valid(city.verify(token))
    return token


def signed(city: City, header_segment: str, payload_segment: str, agency: str = "hcm-syt") -> str:
    """A compact JWS over exactly these (possibly non-canonical) segments, genuinely signed."""
    signing_input = f"{header_segment}.{payload_segment}"
    return f"{signing_input}.{b64url_encode(city.signers[agency].sign(signing_input.encode('ascii')))}"


def compressed(permit: Permit) -> bytes:
    return compress(dumps_canonical(permit.to_claims()))


def header_bytes(city: City, spaces: int = 0, agency: str = "hcm-syt") -> bytes:
    signer = city.signers[agency]
    return (f'{{"alg":"{signer.alg}","kid":"{signer.kid}","typ":"permit+jwt","zip":"DEFv1"'
            + " " * spaces + "}").encode()


# --- base64url: one spelling per value ------------------------------------------------------


@pytest.mark.parametrize("padding", ["==", "=", "===", "%3D%3D"])
def test_padding_smuggled_into_the_signature_segment_is_refused(city: City, padding: str) -> None:
    token = genuine_token(city)
    assert len(token.split(".")[2]) % 4 == 2  # a 64-byte signature: "==" is its RFC 4648 padding
    assert_refused(city.verify(token + padding), "malformed_token")


@pytest.mark.parametrize("segment", ["header", "payload"])
def test_padding_in_a_header_or_payload_segment_is_refused_even_under_a_valid_signature(city: City, segment: str) -> None:
    permit = genuine(city)
    # Respell until the segment has a remainder, so that RFC 4648 padding exists for it.
    for n in range(1, 30):
        header = b64url_encode(header_bytes(city, n))
        payload = b64url_encode(compressed(replace(permit, number="GP-" + "7" * n)))
        if len(header if segment == "header" else payload) % 4:
            break
    assert len(header if segment == "header" else payload) % 4
    assert_valid(city.verify(signed(city, header, payload)))
    if segment == "header":
        header += "=" * (-len(header) % 4)
    else:
        payload += "=" * (-len(payload) % 4)
    # The signature covers the padded segments: only the spelling is wrong.
    assert_refused(city.verify(signed(city, header, payload)), "malformed_token")


def test_non_zero_trailing_bits_respelling_a_genuine_signature_is_refused(city: City) -> None:
    token = genuine_token(city)
    header, payload, signature = token.split(".")
    last = ALPHABET.index(signature[-1])
    assert last & 0b1111 == 0  # 86 characters carry 516 bits for 512: the last 4 are zero
    for bits in (0b0001, 0b0100, 0b1111):
        respelled = signature[:-1] + ALPHABET[last | bits]
        # A lenient decoder reads the very same signature bytes from the respelling ...
        assert base64.urlsafe_b64decode(respelled + "==") == b64url_decode(signature)
        # ... so without the canonical check two different strings would be one valid permit.
        assert_refused(city.verify(f"{header}.{payload}.{respelled}"), "malformed_token")


def test_standard_base64_alphabet_respelling_is_refused(city: City) -> None:
    permit = genuine(city)
    # Ed25519 is deterministic: vary the permit number until the signature holds '-' or '_'.
    token = next(t for t in (resign(city, permit, number=f"GP-{i}") for i in range(100)) if set("-_") & set(t.split(".")[2]))
    assert_valid(city.verify(token))
    header, payload, signature = token.split(".")
    respelled = signature.replace("-", "+").replace("_", "/")
    assert base64.b64decode(respelled + "==") == b64url_decode(signature)
    assert_refused(city.verify(f"{header}.{payload}.{respelled}"), "malformed_token")


@pytest.mark.parametrize("junk", ["*", "!", "$", "~", "\\", "\x00", "é", "\u0660"])
def test_characters_a_lenient_decoder_would_skip_are_refused(city: City, junk: str) -> None:
    token = genuine_token(city)
    header, payload, signature = token.split(".")
    smuggled = signature[:40] + junk + signature[40:]
    assert_refused(city.verify(f"{header}.{payload}.{smuggled}"), "malformed_token")


# --- whitespace is part of the input, never trimmed -----------------------------------------

WHITESPACE: dict[str, Callable[[str], str]] = {
    "leading space": lambda t: " " + t,
    "trailing newline": lambda t: t + "\n",
    "trailing crlf": lambda t: t + "\r\n",
    "leading tab": lambda t: "\t" + t,
    "no-break space": lambda t: t + "\u00a0",
    "ideographic space": lambda t: "\u3000" + t,
    "byte order mark": lambda t: "\ufeff" + t,
    "zero width space": lambda t: t + "\u200b",
    "mime line wrap at 76": lambda t: t[:76] + "\r\n" + t[76:],
    "space after a dot": lambda t: t.replace(".", ". ", 1),
    "newline before a dot": lambda t: t.replace(".", "\n.", 1),
}


@pytest.mark.parametrize("respell", WHITESPACE.values(), ids=WHITESPACE.keys())
def test_whitespace_around_or_inside_a_genuine_token_is_not_stripped(city: City, respell: Callable[[str], str]) -> None:
    token = genuine_token(city)
    assert_refused(city.verify(respell(token)), "malformed_token")


# --- exactly three non-empty segments --------------------------------------------------------

SEGMENTS: dict[str, Callable[[str, str, str], str]] = {
    "detached payload (RFC 7515 appendix F)": lambda h, p, s: f"{h}..{s}",
    "signature stripped (unsecured JWS)": lambda h, p, s: f"{h}.{p}.",
    "header stripped": lambda h, p, s: f".{p}.{s}",
    "trailing dot": lambda h, p, s: f"{h}.{p}.{s}.",
    "leading dot": lambda h, p, s: f".{h}.{p}.{s}",
    "two segments": lambda h, p, s: f"{h}.{p}",
    "five segments like a JWE": lambda h, p, s: f"{h}.{p}.{s}.{p}.{s}",
    "signature twice": lambda h, p, s: f"{h}.{p}.{s}.{s}",
}


@pytest.mark.parametrize("rearrange", SEGMENTS.values(), ids=SEGMENTS.keys())
def test_a_genuine_token_rearranged_into_other_than_three_non_empty_segments_is_refused(
    city: City, rearrange: Callable[[str, str, str], str]
) -> None:
    header, payload, signature = genuine_token(city).split(".")
    assert_refused(city.verify(rearrange(header, payload, signature)), "malformed_token")


@pytest.mark.parametrize("form", ["flattened", "general"])
def test_json_serialisation_of_a_genuine_permit_is_refused(city: City, form: str) -> None:
    header, payload, signature = genuine_token(city).split(".")
    entry = {"protected": header, "signature": signature}
    document = {"payload": payload, **entry} if form == "flattened" else {"payload": payload, "signatures": [entry]}
    assert_refused(city.verify(json.dumps(document)), "malformed_token")


# --- the size cap comes first ---------------------------------------------------------------


def big_permit(permit: Permit, length: int, seed: int = 0) -> Permit:
    """`permit` with conditions of incompressible text totalling `length` characters."""
    rng = random.Random(seed)
    letters = string.ascii_letters + string.digits
    text = "".join(rng.choice(letters) for _ in range(length))
    return replace(permit, conditions=tuple(text[i:i + 250] for i in range(0, length, 250)))


def token_of_length(city: City, permit: Permit, length: int) -> str:
    """A genuinely signed, otherwise valid token of exactly `length` characters: insignificant
    JSON whitespace in the header takes up the difference."""
    payload = b64url_encode(compressed(permit))
    for spaces in range(400):
        header = b64url_encode(header_bytes(city, spaces))
        if len(header) + len(payload) + 88 == length:
            token = signed(city, header, payload)
            assert len(token) == length
            return token
    raise AssertionError(f"no header spelling gives {length} characters")


def test_a_genuine_permit_of_exactly_the_cap_is_read_and_one_character_more_is_not(city: City) -> None:
    permit = genuine(city)
    # Conditions of random text sized so that both lengths can be reached with a header of at
    # most 512 characters (base64url never has a length of 4k + 1).
    for seed in range(200):
        grown = big_permit(permit, 1500 + seed % 40, seed)
        spare = MAX_TOKEN_LENGTH - 88 - len(b64url_encode(compressed(grown)))
        if 120 < spare < _COMPACT_HEADER_MAX - 2 and spare % 4 in (2, 3):
            break
    assert 120 < spare < _COMPACT_HEADER_MAX - 2 and spare % 4 in (2, 3)
    assert len(dumps_canonical(grown.to_claims())) < MAX_CLAIMS_BYTES
    assert_valid(city.verify(token_of_length(city, grown, MAX_TOKEN_LENGTH)))
    assert_refused(city.verify(token_of_length(city, grown, MAX_TOKEN_LENGTH + 1)), "token_too_large")


def test_a_genuinely_signed_permit_beyond_the_qr_cap_is_refused_unread(city: City) -> None:
    token = resign(city, big_permit(genuine(city), 2500))
    assert len(dumps_canonical(replace(genuine(city), conditions=()).to_claims())) + 2600 < MAX_CLAIMS_BYTES
    assert MAX_TOKEN_LENGTH < len(token) < 2 * MAX_TOKEN_LENGTH
    key = city.registry.key(city.signers["hcm-syt"].kid)
    assert key is not None
    header, payload, signature = token.split(".")
    assert key.public_key.verify(b64url_decode(signature), f"{header}.{payload}".encode())
    assert_refused(city.verify(token), "token_too_large")


@pytest.mark.parametrize(
    "oversized",
    [
        "a" * (MAX_TOKEN_LENGTH - 1) + "..",  # three segments, but two of them empty
        "." * (MAX_TOKEN_LENGTH + 1),
        "é" * (MAX_TOKEN_LENGTH + 1),
        "\ud800" * (MAX_TOKEN_LENGTH + 1),
        "eyJ" + "A" * (4 * 1024 * 1024) + ".e30.AAAA",  # a 4 MiB header that would be decoded
    ],
    ids=["empty segments", "only dots", "non-ascii", "lone surrogates", "4 MiB header"],
)
def test_size_is_capped_before_anything_is_decoded(city: City, oversized: str) -> None:
    # Each of these would be malformed; over the cap, size is the first and only thing looked at.
    assert_refused(city.verify(oversized), "token_too_large")


def test_oversized_header_is_refused_before_it_is_parsed(city: City) -> None:
    permit = genuine(city)
    payload = b64url_encode(compressed(permit))
    at_cap = next(s for s in range(400) if len(b64url_encode(header_bytes(city, s))) == _COMPACT_HEADER_MAX)
    assert_valid(city.verify(signed(city, b64url_encode(header_bytes(city, at_cap)), payload)))
    beyond = b64url_encode(header_bytes(city, at_cap + 2))
    assert len(beyond) > _COMPACT_HEADER_MAX
    token = signed(city, beyond, payload)
    assert len(token) < MAX_TOKEN_LENGTH  # well inside the token cap: only the header is too large
    assert_refused(city.verify(token), "malformed_token")


# --- the same rules through the API --------------------------------------------------------


@pytest.mark.parametrize(
    "respell",
    [
        lambda t: " " + t,
        lambda t: t + "\n",
        lambda t: " " + qr.token_to_digits(t),
        lambda t: qr.token_to_digits(t) + "\n",
        lambda t: "0" + qr.token_to_digits(t),
        lambda t: "+" + qr.token_to_digits(t),
        lambda t: qr.token_to_digits(t).translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")),
    ],
    ids=["space before", "newline after", "space before digits", "newline after digits", "leading zero digit",
         "plus sign", "arabic-indic digits"],
)
def test_api_refuses_respelled_tokens_and_qr_digits(city: City, client: FlaskClient, respell: Callable[[str], str]) -> None:
    token = genuine_token(city)
    client.application.extensions["permit_store"].reload()
    assert client.post("/api/v1/verify", json={"token": qr.token_to_digits(token)}).get_json()["status"] == "valid"
    response = client.post("/api/v1/verify", json={"token": respell(token)})
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["reasons"]) == ("invalid", ["malformed_token"])
    assert "permit" not in body and "issuer" not in body
