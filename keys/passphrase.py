"""The rule for a passphrase that protects a new key file: long enough, and not guessable.

A key file stolen from a backup or a laptop is attacked offline, guess after guess; the
iteration count only makes each guess slower. Guessers try repeated characters, patterns,
sequences, keyboard walks and lists of leaked passwords first, so such passphrases are refused
whatever their length. The estimate is zxcvbn's (Dropbox's model of how guessers proceed).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from keys.errors import InputError
from keys.reasons import Reason

MIN_PASSPHRASE_CHARACTERS = 12
# zxcvbn's score 3: "safely unguessable: moderate protection from an offline slow-hash scenario"
# (more than 10^8 guesses), which is the attack on a stolen key file.
MIN_SCORE = 3
ADVICE = "choose several unrelated words, e.g. four or more"

# Why a passphrase is guessable, from the pattern that covers most of it (zxcvbn's match
# sequence): the reason code and the English detail; the sentence per code is in verifier/reasons.py.
_WEAKNESS: dict[str, tuple[Reason, str]] = {
    "repeated_character": (Reason.WEAK_PASSPHRASE_REPEATED_CHARACTER, "it repeats one character"),
    "repeated_pattern": (Reason.WEAK_PASSPHRASE_REPEATED_PATTERN, "it repeats a short pattern"),
    "sequence": (Reason.WEAK_PASSPHRASE_SEQUENCE, "it is built on a sequence such as abcd or 1234"),
    "common": (Reason.WEAK_PASSPHRASE_COMMON, "it is built on a common password, word or name from the lists guessers try first"),
    "keyboard": (Reason.WEAK_PASSPHRASE_KEYBOARD, "it is built on a keyboard pattern such as qwerty"),
    "identifier": (Reason.WEAK_PASSPHRASE_IDENTIFIER, "it is built on the agency's or the registry's identifier"),
    "guessable": (Reason.WEAK_PASSPHRASE_GUESSABLE, "it is too easy to guess (dates, years and short words are tried first)"),
}


def _kind(match: dict[str, Any]) -> str:
    pattern = match["pattern"]
    if pattern == "repeat":
        return "repeated_character" if len(match["base_token"]) == 1 else "repeated_pattern"
    if pattern == "sequence":
        return "sequence"
    if pattern == "spatial":
        return "keyboard"
    if pattern == "dictionary":
        return "identifier" if match["dictionary_name"] == "user_inputs" else "common"
    return "guessable"  # date, regex (recent years), bruteforce


def check_new_passphrase(passphrase: bytes, context: Iterable[str] = ()) -> None:
    """Refuse a passphrase for a new key file that is short or guessable.

    `context` holds words an attacker would try first for this home (the agency id, the
    registry id and name). Raises InputError whose reason says why: weak_passphrase (fewer than
    12 characters) or one of the weak_passphrase_* codes. The passphrase itself never appears
    in the message.
    """
    text = passphrase.decode("utf-8", errors="replace")
    if len(text) < MIN_PASSPHRASE_CHARACTERS:
        raise InputError(
            f"the passphrase must be at least {MIN_PASSPHRASE_CHARACTERS} characters long; {ADVICE}", reason=Reason.WEAK_PASSPHRASE
        )
    # Imported here: its word lists cost every command's start-up, and only a new key needs them.
    from zxcvbn import zxcvbn

    result = zxcvbn(text, user_inputs=[word for word in context if word])
    if result["score"] >= MIN_SCORE:
        return
    # The pattern that covers the most characters says best why the whole is guessable.
    patterns = [m for m in result["sequence"] if m["pattern"] != "bruteforce"]
    kind = _kind(max(patterns, key=lambda m: len(m["token"]))) if patterns else "guessable"
    reason, why = _WEAKNESS[kind]
    raise InputError(f"the passphrase is refused: {why}; {ADVICE}", reason=reason)
