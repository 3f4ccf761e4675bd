"""Hostile JSON shapes for the property tests (test_properties.py, test_schemathesis.py): deep
nesting, huge integers, extreme times and surrogate escapes, as JSON text to splice into a
document, each knowing what the strict reader makes of it.

A shape is spliced as text, not as a Python value, because the text is the attack: `json.dumps`
would never write 2^64 as a time or nest 600 arrays the way a hostile agency can.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from conftest import DAY, KEYS_FROM, NOW
from hypothesis import strategies as st

from keys.encoding import MAX_DEPTH, MAX_SAFE_INT, dumps_canonical
from keys.fields import MAX_TIME

YEAR_10000 = 253_402_300_800  # 10000-01-01T00:00:00Z


@dataclass(frozen=True)
class Shape:
    """A JSON literal. `depth` counts the arrays and objects it opens; `value` is the integer it
    is when it is a plain integer the strict reader accepts, else None."""

    text: str
    depth: int = 0
    value: int | None = None
    unreadable: bool = False  # an integer beyond ±2^53 or a lone surrogate: never strict JSON

    def in_document(self, at_depth: int) -> bool:
        """Whether a document holding this shape inside `at_depth` arrays and objects is strict
        JSON at all (the document itself otherwise being so)."""
        return not self.unreadable and at_depth + self.depth <= MAX_DEPTH

    @property
    def time(self) -> int | None:
        """The time it is, when it is an integer every time field accepts."""
        return self.value if self.value is not None and 0 <= self.value <= MAX_TIME else None


# The bound and past it first: Hypothesis draws the first of a list most often in short runs.
EXTREME_TIMES = [YEAR_10000, MAX_TIME + 1, MAX_SAFE_INT, MAX_TIME, 253_402_300_799, 2**53 - 2, MAX_TIME - 1, 0, 1, -1,
                 KEYS_FROM, NOW, NOW + 1, NOW + DAY, 2**31 - 1, 2**31, 2**32, -NOW, -MAX_SAFE_INT]
HUGE = [MAX_SAFE_INT + 1, -(MAX_SAFE_INT + 1), 2**63 - 1, 2**63, 2**64, 10**30, -(10**30), int("9" * 400)]

# Extremes, times around the test clock, the key's first day and the bound (where documents are
# accepted, so that what is accepted is then shown by every GET), and any safe integer.
near = st.sampled_from([NOW, KEYS_FROM, MAX_TIME]).flatmap(lambda t: st.integers(t - 2 * DAY, t + 2 * DAY))
extremes = st.sampled_from(EXTREME_TIMES).map(lambda v: Shape(str(v), value=v))
integers = st.one_of(st.sampled_from(EXTREME_TIMES), near, st.integers(-MAX_SAFE_INT, MAX_SAFE_INT)).map(lambda v: Shape(str(v), value=v))
huge = st.one_of(st.sampled_from(HUGE), st.integers(MAX_SAFE_INT + 1, 2**128), st.integers(-(2**128), -MAX_SAFE_INT - 1)).map(
    lambda v: Shape(str(v), unreadable=True))
escapes = st.sampled_from([Shape('"\\ud83d\\ude00"'), Shape('"\\u00e9"'), Shape('"\\ud800"', unreadable=True),
                           Shape('"\\udc00\\ud800"', unreadable=True), Shape('"\\\\\\"[{"')])
leaves = st.one_of(integers, huge, escapes)


@st.composite
def nested(draw: st.DrawFn) -> Shape:
    """A leaf inside arrays and objects, as deep as the limit and beyond (600: the 1.2 KB body)."""
    leaf = draw(leaves)
    levels = draw(st.one_of(st.integers(1, MAX_DEPTH + 4), st.sampled_from([MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, 600])))
    kinds = draw(st.lists(st.booleans(), min_size=levels, max_size=levels))
    text = leaf.text
    for is_object in kinds:
        text = f'{{"k":{text}}}' if is_object else f"[{text}]"
    return Shape(text, depth=levels, unreadable=leaf.unreadable)


SHAPES = st.one_of(integers, huge, escapes, nested())
# For the members that hold a time: mostly integers, the extremes above all, so that documents
# are accepted too (and then shown by every GET).
TIME_SHAPES = st.one_of(extremes, integers, SHAPES)


def spliced(document: dict[str, Any], shape: Shape, *path: str) -> bytes:
    """A copy of `document` as canonical JSON with the member at `path` written as `shape`."""
    document = copy.deepcopy(document)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = "@@SHAPE@@"
    return dumps_canonical(document).decode().replace('"@@SHAPE@@"', shape.text, 1).encode()
