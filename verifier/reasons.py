"""What a verdict says, in both languages: its status in large type, and each reason's sentence.

The page, the CLI and integrators' own screens show these; the codes stay the contract. A
reason's sentence is written beside its code (keys/reasons.py); statuses are the verdict's own
(verifier/verdict.py), written here. Both are translated by the gettext catalogue
(permits/i18n.py); tests/test_messages.py checks that every code has a sentence in both languages.
"""

from __future__ import annotations

from keys.reasons import VERDICT_REASONS, Reason
from permits.i18n import N_, both

# What a verdict says, in large type on the page.
STATUS_SENTENCE: dict[str, str] = {
    "valid": N_("VALID"),
    "invalid": N_("NOT VALID"),
    "revoked": N_("REVOKED"),
    "suspended": N_("SUSPENDED"),
    "superseded": N_("SUPERSEDED"),
    "expired": N_("EXPIRED"),
    "not_yet_valid": N_("NOT YET VALID"),
    "status_unknown": N_("CANNOT CHECK NOW"),
}

STATUS_TEXT: dict[str, dict[str, str]] = {code: both(text) for code, text in STATUS_SENTENCE.items()}

# What a verdict says of each permit its permit rests on (verifier/verdict.py BASIS_STATES).
BASIS_STATE_SENTENCE: dict[str, str] = {
    "valid": N_("in force"),
    "amended": N_("in force (amended since)"),
    "revoked": N_("revoked"),
    "suspended": N_("suspended"),
    "status_unknown": N_("cannot check now"),
    "invalid": N_("not valid"),
}
BASIS_STATE_TEXT: dict[str, dict[str, str]] = {code: both(text) for code, text in BASIS_STATE_SENTENCE.items()}
# Each reason a verdict can carry, in both languages (the page's and the API users' table).
REASON_TEXT: dict[Reason, dict[str, str]] = {reason: both(reason.sentence) for reason in Reason if reason in VERDICT_REASONS}
