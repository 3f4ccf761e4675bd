"""Accepting another department's permit as the basis of a new one, instead of a paper copy.

An officer gives the basis as its QR code (a photo or scan), the link the QR code holds, the
token, or the id of a permit in this home's ledgers. It is verified here in full, offline, with
the home's registry and status lists, exactly as any verifier would (verifier/pipeline.py), and
must be in force today. What a permit may rest on, and whether the holder is the same, is the
issuing side's to check (permits/issuing.py), with the verified permit this returns.
"""

from __future__ import annotations

import re
from pathlib import Path

from keys.errors import InputError, NotFoundError
from keys.reasons import Reason
from permits import qr
from permits.home import Home
from permits.importing import BasisReader
from permits.model import Permit
from verifier.offline import verify_in_home
from verifier.scan import read_qr
from verifier.verdict import Verdict

# What a verdict on a basis makes of it, when it is not valid; `invalid` covers every other
# status and names the verdict's own reason.
_REFUSAL_OF_STATUS = {
    "revoked": Reason.BASIS_REVOKED,
    "suspended": Reason.BASIS_SUSPENDED,
    "superseded": Reason.BASIS_SUPERSEDED,
    "expired": Reason.BASIS_EXPIRED,
    "not_yet_valid": Reason.BASIS_EXPIRED,
    "status_unknown": Reason.BASIS_STATUS_UNKNOWN,
}
_PERMIT_ID = re.compile(r"[0-9A-Z]{4,32}")
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".bmp", ".webp", ".tif", ".tiff"})


def basis_token(home: Home, given: str) -> str:
    """The token `given` names: the text of a QR image file, a link or a token as pasted, or
    the current version of a permit of this home's ledgers by its id. NotFoundError
    (basis_not_found) when it names a permit id no ledger here holds."""
    path = Path(given)
    if path.suffix.lower() in _IMAGE_SUFFIXES or _is_file(path):
        return qr_text_to_token(read_qr(path))
    if _PERMIT_ID.fullmatch(given):
        try:
            agency = home.agency_of(given)
        except NotFoundError:
            raise NotFoundError(f"no permit {given!r} in any ledger of this home; give its QR code or link instead",
                                reason=Reason.BASIS_NOT_FOUND) from None
        with home.ledger(agency) as ledger:
            return ledger.get(given).token
    return qr_text_to_token(given)


def qr_text_to_token(text: str) -> str:
    try:
        return qr.token_from_input(text.strip())
    except ValueError:
        return text  # not a valid QR number: the pipeline says malformed_token


def accept(verdict: Verdict, given: str) -> Permit:
    """The basis's permit when `verdict` says it is in force; InputError with the reason otherwise."""
    if verdict.valid and verdict.permit is not None:
        return verdict.permit
    first = verdict.reasons[0] if verdict.reasons else Reason.BASIS_INVALID
    name = f"permit {verdict.permit.id}" if verdict.permit is not None else repr(_short(given))
    refusal = _REFUSAL_OF_STATUS.get(verdict.status, Reason.BASIS_INVALID)
    hint = " Fetch the agencies' current status lists with `permit status pull`." if refusal == Reason.BASIS_STATUS_UNKNOWN else ""
    raise InputError(f"the basis ({name}) is refused: [{first}] {first.sentence}{hint}", reason=refusal)


def basis_reader(home: Home, now: int) -> BasisReader:
    """A reader of bases for one command: each one verified with what the home holds at `now`."""

    def read(given: str) -> Permit:
        return accept(verify_in_home(home, basis_token(home, given), now), given)

    return read


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # a pasted token is longer than a file name may be
        return False


def _short(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:37]}..."
