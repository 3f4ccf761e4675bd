"""The page's icon: a white tick on the red of the page's header, drawn here with Pillow rather
than kept as a binary file, in the sizes a browser's tab, bookmark and shortcut ask for."""

from __future__ import annotations

import io
from functools import cache

from PIL import Image, ImageDraw

RED = (0x9B, 0x1C, 0x1C, 255)  # the page header's colour (static/page.css)
WHITE = (255, 255, 255, 255)
# The drawing on a 64-unit square: corner radius, the tick's three points and its stroke width.
UNITS = 64
RADIUS = 14
TICK = ((17, 33), (28, 44), (48, 21))
STROKE = 8
ICO_SIZES = (16, 32, 48)


def draw(size: int) -> Image.Image:
    """The icon as a `size`-pixel square RGBA image (drawn four times larger, then reduced, for
    smooth edges)."""
    big = 4 * size
    scale = big / UNITS
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    pen = ImageDraw.Draw(image)
    pen.rounded_rectangle((0, 0, big - 1, big - 1), radius=round(RADIUS * scale), fill=RED)
    points = [(x * scale, y * scale) for x, y in TICK]
    width = round(STROKE * scale)
    pen.line(points, fill=WHITE, width=width, joint="curve")
    for x, y in (points[0], points[-1]):  # round ends
        pen.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=WHITE)
    return image.resize((size, size), Image.Resampling.LANCZOS)


@cache
def ico() -> bytes:
    """/favicon.ico: the icon at 16, 32 and 48 pixels (each stored as PNG in the ICO)."""
    out = io.BytesIO()
    largest = draw(max(ICO_SIZES))
    largest.save(out, format="ICO", sizes=[(s, s) for s in ICO_SIZES], append_images=[draw(s) for s in ICO_SIZES[:-1]])
    return out.getvalue()
