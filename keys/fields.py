"""Field checks shared by every `from_dict`: exact member sets, typed values, bounded text.

They raise FieldError, which says what kind of problem it is (missing, bad, non-canonical
text) so each caller can map it onto its own reason code.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Literal

from keys.encoding import MAX_SAFE_INT
from keys.text import is_canonical_text, is_identifier

Problem = Literal["missing", "bad", "text"]


class FieldError(ValueError):
    def __init__(self, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


def members(
    obj: object, what: str, required: Collection[str], optional: Collection[str] = ()
) -> Mapping[str, Any]:
    """`obj` as a JSON object with all of `required`, some of `optional`, nothing else."""
    if not isinstance(obj, dict):
        raise FieldError("bad", f"{what} must be an object")
    missing = [name for name in required if name not in obj]
    if missing:
        raise FieldError("missing", f"{what} lacks {', '.join(sorted(missing))}")
    for name in obj:
        if name not in required and name not in optional:
            raise FieldError("bad", f"{what} has unknown member {name!r}")
    return obj


def integer(value: object, what: str, low: int = 0, high: int = MAX_SAFE_INT) -> int:
    # bool is a subclass of int in Python; JSON true is not a number.
    if type(value) is not int or not low <= value <= high:
        raise FieldError("bad", f"{what} must be an integer in [{low}, {high}]")
    return value


# 9999-12-31T09:59:59Z: the last second that is still in year 9999 in every time zone (23:59:59
# at UTC+14), year 9999 being the last that RFC 3339 and Python's datetime write. A time a
# document carries is then written without fail as RFC 3339 in UTC (253402300799 is the last)
# and as a date in Ho Chi Minh City, where 9999-12-31T17:00:00Z is already year 10000.
MAX_TIME = 253_402_300_799 - 14 * 3600


# A document (a registry, a status list) may be signed on a machine whose clock is a little ahead
# of the verifier's: how far ahead its issue time may be before it counts as issued in the future.
ISSUED_AT_LEEWAY = 300


def time_value(value: object, what: str) -> int:
    """A time in whole seconds since the epoch, from 1970 to MAX_TIME (year 9999)."""
    if type(value) is not int or not 0 <= value <= MAX_TIME:
        raise FieldError("bad", f"{what} must be a time in whole seconds since 1970, before the year 10000")
    return value


def text(value: object, what: str, max_len: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= max_len:
        raise FieldError("bad", f"{what} must be a string of 1 to {max_len} characters")
    if not is_canonical_text(value, max_len):
        raise FieldError("text", f"{what} is not canonical NFC text without invisible characters")
    return value


def texts(values: list[tuple[object, str, int]]) -> None:
    """Check several (value, what, max_len) texts at once: each a string of bounded length
    without surrounding whitespace, and all of them canonical.

    The character checks run once over the texts joined by spaces: a space is printable, has
    no decomposition and cannot combine with what follows, so the joined text is canonical
    exactly when every part is (and a permit has a dozen texts to check on every verification).
    """
    for value, what, max_len in values:
        if type(value) is not str or not 0 < len(value) <= max_len:
            raise FieldError("bad", f"{what} must be a string of 1 to {max_len} characters")
        if value != value.strip():
            raise FieldError("text", f"{what} has surrounding whitespace")
    joined = " ".join(value for value, _, _ in values)  # type: ignore[misc]
    if not is_canonical_text(joined, len(joined)):
        raise FieldError("text", "text is not canonical NFC without invisible characters")


def identifier(value: object, what: str) -> str:
    if not isinstance(value, str) or not is_identifier(value):
        raise FieldError("bad", f"{what} must be a lower-case identifier")
    return value


def text_list(value: object, what: str, max_items: int, max_len: int) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > max_items:
        raise FieldError("bad", f"{what} must be a list of at most {max_items} strings")
    return tuple(text(item, what, max_len) for item in value)
