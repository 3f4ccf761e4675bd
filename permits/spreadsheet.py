"""CSV that is safe to open in a spreadsheet, and read back as it was written.

A spreadsheet treats a cell that starts with `=`, `+`, `-` or `@` (or a tab or carriage return,
which some strip before looking) as a formula: a holder named `=HYPERLINK("http://…")` would
become a live link, or worse, in the officer's spreadsheet. Every CSV this project writes goes
through `writer`, which puts a `'` in front of such a cell (OWASP's rule for CSV injection); the
spreadsheet then shows it as text. `restore` takes exactly that `'` off again, so a file written
here and read back (the import's rejected-rows file, fixed and imported again) gives the values
that were written.

A cell that already starts with `'`s before one of those characters gets one more, so that
`restore` never takes off a `'` that was part of the value.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import TextIO

FORMULA_START = "=+-@\t\r"
_NEUTRALISED = re.compile(r"'*[=+\-@\t\r]")


def neutralise(cell: str) -> str:
    """`cell` as a spreadsheet shows it as text: a `'` in front when it starts with one of
    FORMULA_START (or with `'`s before one); otherwise unchanged."""
    return "'" + cell if _NEUTRALISED.match(cell) else cell


def restore(cell: str) -> str:
    """The value `neutralise` was given: one leading `'` taken off a cell that starts with `'`s
    before one of FORMULA_START; any other cell unchanged."""
    return cell[1:] if cell[:1] == "'" and _NEUTRALISED.match(cell, 1) else cell


class Writer:
    """csv.writer whose every cell is neutralised: the one way this project writes CSV."""

    def __init__(self, handle: TextIO, delimiter: str = ",") -> None:
        self._writer = csv.writer(handle, delimiter=delimiter)

    def writerow(self, cells: Iterable[str | int]) -> None:
        self._writer.writerow([neutralise(str(cell)) for cell in cells])

    def writerows(self, rows: Iterable[Iterable[str | int]]) -> None:
        for cells in rows:
            self.writerow(cells)
