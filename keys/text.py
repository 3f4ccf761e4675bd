"""Text rules for every string that is signed, compared or shown.

Vietnamese text is first-class, so all text is Unicode NFC; characters that can hide or
reorder what a person reads (controls, bidirectional overrides, zero-width joiners, lone
surrogates, unusual spaces) are refused outright rather than cleaned up.
"""

from __future__ import annotations

import re
import unicodedata

from keys.errors import InputError, Term
from keys.reasons import N_, Reason

# Unicode's Default_Ignorable_Code_Point set (DerivedCoreProperties.txt): characters a renderer
# draws as nothing. Most are format characters, which isprintable() already refuses; these are
# the rest (combining grapheme joiner, fillers, variation selectors, …), which it lets through.
_DEFAULT_IGNORABLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e"
    "\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0\ufff0-\ufff8"
    "\U0001bca0-\U0001bca3\U0001d173-\U0001d17a\U000e0000-\U000e0fff]"
)

# Identifiers (agency ids, permit type codes, registry id): lower-case ASCII, so that two ids
# that look the same are the same.
IDENTIFIER = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?")


def is_canonical_text(value: str, max_len: int) -> bool:
    """True when `value` is non-empty NFC text of at most `max_len` characters, with no
    surrounding whitespace, only printable characters and nothing that renders as nothing.

    str.isprintable() is False for Cc (controls), Cf (bidi controls, zero-width characters,
    BOM), Cs (surrogates), Co, Cn, Zl, Zp, and every space separator except U+0020; the
    default-ignorable characters outside those categories are refused by name.
    """
    return (
        0 < len(value) <= max_len
        and value.isprintable()
        and value == value.strip()
        and unicodedata.is_normalized("NFC", value)
        and (value.isascii() or not _DEFAULT_IGNORABLE.search(value))
    )


def is_identifier(value: str) -> bool:
    return IDENTIFIER.fullmatch(value) is not None


def normalise_text(value: str, field: str, max_len: int) -> str:
    """Officer input → canonical text: NFC, surrounding whitespace removed; InputError if the
    result is empty, too long or holds characters that are refused. `field` names it in the
    message, in the message's language (mark it N_())."""
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise InputError(N_("{field} must not be empty"), reason=Reason.BAD_TEXT, field=Term(field))
    if len(text) > max_len:
        raise InputError(N_("{field} is longer than {max} characters"), reason=Reason.BAD_TEXT, field=Term(field), max=max_len)
    # NFC and trimmed by construction; what is left to check is the characters themselves.
    if not text.isprintable() or _DEFAULT_IGNORABLE.search(text):
        raise InputError(N_("{field} contains control, invisible or bidirectional characters"), reason=Reason.BAD_TEXT,
                         field=Term(field))
    return text


def check_identifier(value: str, field: str) -> str:
    if not is_identifier(value):
        raise InputError(
            f"{field} {value!r} must be 1-32 lower-case letters, digits or '-'",
            reason=Reason.BAD_IDENTIFIER,
        )
    return value
