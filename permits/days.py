"""Calendar days as officers type and read them: the one parser and the one way of writing them.

A day is typed as Vietnamese documents and spreadsheets write it, day first (31/12/2028, or
31-12-2028), or as ISO 8601 (2028-12-31); the year has four digits, so the forms cannot be taken
for one another. Everything that reads a typed day (`permit issue --valid-until`, `amend`,
`registry add-key --valid-from`, each date cell of a CSV import) reads it here, and a day shown to
an officer is written here as the printed permit writes it (31/12/2028). JSON keeps ISO 8601.
"""

from __future__ import annotations

import re
from datetime import date

from keys.errors import InputError
from keys.reasons import N_, Reason

# Day and month may have one digit (a spreadsheet writes 1/3/2027); the year always four, so
# 01/02/03 (which century, and which is the day?) is refused rather than guessed.
# ASCII digits only: \d would also take other scripts' digits, which int() reads as well.
_ISO = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_DAY_FIRST = re.compile(r"(\d{1,2})([/-])(\d{1,2})\2(\d{4})", re.ASCII)


def parse_day(text: str, what: str) -> date:
    """The day `text` names, read as DD/MM/YYYY, DD-MM-YYYY or YYYY-MM-DD (surrounding spaces
    ignored). InputError (bad_dates), naming `what` (the option or column), for anything else,
    a day that does not exist (31/02/2027) included. A regular expression rather than strptime:
    an import reads three days a row, for a million rows."""
    value = text.strip()
    try:
        if match := _ISO.fullmatch(value):
            return date(int(match[1]), int(match[2]), int(match[3]))
        if match := _DAY_FIRST.fullmatch(value):
            return date(int(match[4]), int(match[3]), int(match[1]))
    except ValueError:
        pass
    raise InputError(N_("{what} {text!r} is not a date (DD/MM/YYYY, DD-MM-YYYY or YYYY-MM-DD)"), reason=Reason.BAD_DATES,
                     what=what, text=text)


def show_day(day: date) -> str:
    """`day` as the printed permit and Vietnamese documents write it: 31/12/2028."""
    return day.strftime("%d/%m/%Y")
