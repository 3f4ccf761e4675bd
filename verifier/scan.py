"""Reading the text of a permit's QR code from a photo or a scan (zxing-cpp)."""

from __future__ import annotations

from pathlib import Path

import zxingcpp
from PIL import Image, UnidentifiedImageError

from keys.errors import InputError
from keys.reasons import Reason

MAX_IMAGE_PIXELS = 40_000_000


def read_qr(path: Path) -> str:
    """The text of the one QR code in the image at `path`; InputError otherwise."""
    Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS
    try:
        with Image.open(path) as image:
            image.load()
            codes = zxingcpp.read_barcodes(image.convert("L"), formats=zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode))
    except FileNotFoundError:
        raise InputError(f"image {path} does not exist", reason=Reason.BAD_IMAGE) from None
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise InputError(f"{path} is not an image that can be read", reason=Reason.BAD_IMAGE) from None
    texts = {code.text for code in codes if code.valid}
    if not texts:
        raise InputError(f"no readable QR code in {path}", reason=Reason.NO_QR_CODE)
    if len(texts) > 1:
        raise InputError(f"{path} holds {len(texts)} different QR codes; crop it to one", reason=Reason.SEVERAL_QR_CODES)
    return texts.pop()
