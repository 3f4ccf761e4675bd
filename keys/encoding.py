"""Strict encodings shared by every signed document: base64url and JSON.

Strict means one accepted spelling per value. A verifier that tolerates padding, stray
characters, duplicate members or `NaN` lets two different byte strings mean the same thing,
and that is where signature-confusion attacks start.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from keys.errors import InputError
from keys.reasons import Reason

# The largest integer every JSON implementation reads exactly (I-JSON, RFC 7493).
MAX_SAFE_INT = 2**53 - 1
_BOM = b"\xef\xbb\xbf"
# An escaped UTF-16 surrogate (\uD800-\uDFFF); only pairs of them stand for a character.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
# The deepest document this project writes nests 6 levels (registry, agencies, an agency, its
# keys, a key, its JWK); a bundle 5, an API body 2. 16 leaves room to grow, and a document
# deeper than that is refused before the decoder or anything after it recurses into it.
MAX_DEPTH = 16


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_B64_VALUE = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}


def b64url_decode(text: str) -> bytes:
    """Decode canonical unpadded base64url; raise ValueError for anything else.

    Canonical: only the 64 URL-safe characters, no padding, no whitespace, and the unused low
    bits of the last character are zero, so that one byte string has exactly one spelling.
    """
    remainder = len(text) % 4
    if remainder == 1 or not _B64URL.fullmatch(text):
        raise ValueError("not base64url")
    # 12 or 16 bits left over in the last group: the last character's low 4 or 2 bits are unused.
    if remainder and _B64_VALUE[text[-1]] & (0x0F if remainder == 2 else 0x03):
        raise ValueError("not canonical base64url")
    try:
        return binascii.a2b_base64(text.encode("ascii").translate(_TO_STANDARD) + b"=" * (-remainder % 4), strict_mode=True)
    except binascii.Error:
        raise ValueError("not base64url") from None


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member")
    return obj


def _safe_int(text: str) -> int:
    value = int(text)
    if -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
        return value
    raise ValueError("integer out of range")


def _no_float(text: str) -> float:
    # No document of this project has a fractional number; refusing them keeps time claims
    # integers and makes 1 and 1.0 impossible to confuse.
    raise ValueError("fractional numbers are not allowed")


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


_decoder = json.JSONDecoder(
    object_pairs_hook=_object_without_duplicates,
    parse_int=_safe_int,
    parse_float=_no_float,
    parse_constant=_no_constant,
)


def loads_strict(data: bytes | str) -> Any:
    """Parse I-JSON: UTF-8 without BOM, no duplicate members, integers within ±2^53, no NaN,
    Infinity or fractions, arrays and objects nested at most MAX_DEPTH deep. Raise ValueError
    otherwise."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    _check_depth(raw)
    if isinstance(data, bytes):
        if data.startswith(_BOM):
            raise ValueError("byte order mark")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("not UTF-8") from None
    else:
        text = data
        if text.startswith("\ufeff"):
            raise ValueError("byte order mark")
    try:
        value = _decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg}") from None
    # Escaped pairs decode to one character; a lone surrogate survives decoding and is not
    # text (RFC 7493 §2.1). Only inputs with such an escape pay for the check.
    if _SURROGATE_ESCAPE.search(text) and _has_lone_surrogate(value):
        raise ValueError("lone surrogate")
    return value


def _nesting_pattern(depth: int) -> re.Pattern[bytes]:
    """The skeleton of JSON nested at most `depth` deep: strings (their escapes already gone)
    and square brackets. Every repetition is possessive and every choice is decided by its
    first byte, so matching never backtracks: one pass, linear in the skeleton."""
    string = rb'"[^"]*+"'
    value = string
    for _ in range(depth):
        value = rb"(?:" + string + rb"|\[(?:" + value + rb")*+\])"
    return re.compile(rb"(?:" + value + rb")*+")


_NESTED_AT_MOST_MAX_DEPTH = _nesting_pattern(MAX_DEPTH)
# Objects become arrays, and of the rest only quotes and brackets are kept.
_SKELETON = (bytes.maketrans(b"{}", b"[]"), bytes(set(range(256)) - set(b'"[]{}')))


def _check_depth(raw: bytes) -> None:
    """ValueError when `raw`, read as JSON, nests arrays and objects more than MAX_DEPTH deep
    (or its brackets or quotes do not pair up), found in linear time and without recursion.

    Escaped backslashes and quotes are dropped first, so every quote left opens or closes a
    string; then everything but quotes and brackets. No byte of a multi-byte UTF-8 character
    is a quote, a backslash or a bracket, so bytes stand for themselves. Each step is one pass
    of a bytes method or of the regular expression engine: about 50 ms for a 9 MiB registry
    (decoding it takes 130 to 190 ms), at most about 250 ms for 16 MiB of hostile brackets.
    """
    # Too few brackets to be too deep: the common case, made cheap. A verify request (one
    # object, no array) is recognised by two memchr scans, four times faster than counting.
    if b"[" not in raw and raw.find(b"{", 1) < 0:
        return
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return
    skeleton = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(*_SKELETON)
    if not _NESTED_AT_MOST_MAX_DEPTH.fullmatch(skeleton):
        if skeleton.count(b'"') % 2:
            raise ValueError("not JSON: a string is not closed")
        raise ValueError(f"nested more than {MAX_DEPTH} deep, or brackets that do not pair up")


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def dumps_canonical(obj: Any) -> bytes:
    """Deterministic compact UTF-8 JSON (sorted members, no escapes for non-ASCII text)."""
    return json.dumps(
        obj, ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
    ).encode("utf-8")


def load_json_file_strict(raw: bytes, what: str) -> Any:
    """`loads_strict` for files an officer handed in: one-line InputError naming the file kind."""
    try:
        return loads_strict(raw)
    except ValueError as exc:
        raise InputError(f"{what} is not valid JSON ({exc})", reason=Reason.BAD_JSON) from None
