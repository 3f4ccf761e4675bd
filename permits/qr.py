"""The QR code: the verifier page's URL with the permit token in the fragment.

    https://verifier.example/v#<digits>

A stock phone camera opens the URL; the fragment never reaches a server or its log. The token
is carried as digits because QR numeric mode stores 3.3 bits per digit against 8 per
character in byte mode: the token's bytes, read as one big-endian integer and written in decimal
(the leading byte keeps leading zero bytes and names the layout). That is 8.03 bits per token
byte, where base64url in byte mode costs 10.7: two to three QR versions fewer.

Layout 2, for every permit whose header is the one this project signs (canonical JSON of alg,
kid, typ permit+jws and zip), leaves the header out and keeps what differs, 10 bytes instead of
about 70 (one to two QR versions):

    0x02, form (alg index + 16 × zip index), kid (its 9 bytes), signature (64 bytes), payload

Layout 1 carries any other token as it is:

    0x01, len(header), len(signature), header, signature, payload

The page and `permit verify` turn either back into the compact JWS; a plain JWS after the `#` is
accepted too.
"""

from __future__ import annotations

import json
from pathlib import Path

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M

from keys.encoding import b64url_decode, b64url_encode, dumps_canonical
from keys.jws import TYP_PERMIT
from permits.token import ZIP_V1, ZIP_V2

_LAYOUT_V1 = 1
_LAYOUT_V2 = 2
_MAX_DIGITS = 4000  # a 2048-character token is 1536 bytes, 3700 digits
# Layout 2's form byte: index of the header's alg, plus 16 times the index of its zip.
_ALGS = ("EdDSA", "ES256")
_ZIPS = (ZIP_V1, ZIP_V2)
_KID_BYTES = 9  # a kid is 12 base64url characters (keys.algorithms.KID_LENGTH)
_SIGNATURE_BYTES = 64  # Ed25519, and ES256 as r || s


def _header(alg: str, kid: str, zip_name: str) -> bytes:
    """The header this project signs a permit with (keys/jws.py sign_compact)."""
    return dumps_canonical({"alg": alg, "kid": kid, "typ": TYP_PERMIT, "zip": zip_name})


def token_to_digits(token: str) -> str:
    header_b64, payload_b64, signature_b64 = token.split(".")
    header, payload, signature = (b64url_decode(s) for s in (header_b64, payload_b64, signature_b64))
    packed = _layout_2(header, signature, payload)
    if packed is None:
        if len(header) > 255 or len(signature) > 255:
            raise ValueError("header or signature too long for the QR layout")
        packed = bytes([_LAYOUT_V1, len(header), len(signature)]) + header + signature + payload
    return str(int.from_bytes(packed, "big"))


def _layout_2(header: bytes, signature: bytes, payload: bytes) -> bytes | None:
    """The token in layout 2, or None when its header is not one layout 2 rebuilds byte for byte."""
    try:
        fields = json.loads(header)
        alg, kid, zip_name = fields["alg"], fields["kid"], fields["zip"]
        kid_bytes = b64url_decode(kid)
    except (ValueError, TypeError, KeyError):
        return None
    if (alg not in _ALGS or zip_name not in _ZIPS or len(kid_bytes) != _KID_BYTES or len(signature) != _SIGNATURE_BYTES
            or _header(alg, kid, zip_name) != header):
        return None
    return bytes([_LAYOUT_V2, _ALGS.index(alg) + 16 * _ZIPS.index(zip_name)]) + kid_bytes + signature + payload


def digits_to_token(digits: str) -> str:
    """Inverse of token_to_digits; ValueError for anything that is not exactly such a number."""
    if not (0 < len(digits) <= _MAX_DIGITS and digits.isascii() and digits.isdigit()) or digits[0] == "0":
        raise ValueError("not a QR token number")
    number = int(digits)
    packed = number.to_bytes((number.bit_length() + 7) // 8, "big")
    if len(packed) >= 1 and packed[0] == _LAYOUT_V2:
        return _from_layout_2(packed)
    if len(packed) < 3 or packed[0] != _LAYOUT_V1:
        raise ValueError("unknown QR token layout")
    header_len, signature_len = packed[1], packed[2]
    header = packed[3 : 3 + header_len]
    signature = packed[3 + header_len : 3 + header_len + signature_len]
    payload = packed[3 + header_len + signature_len :]
    if len(header) != header_len or len(signature) != signature_len or not (header and signature and payload):
        raise ValueError("QR token number is truncated")
    return ".".join(b64url_encode(part) for part in (header, payload, signature))


def _from_layout_2(packed: bytes) -> str:
    start = 2 + _KID_BYTES
    if len(packed) <= start + _SIGNATURE_BYTES:
        raise ValueError("QR token number is truncated")
    alg_index, zip_index = packed[1] % 16, packed[1] // 16
    if alg_index >= len(_ALGS) or zip_index >= len(_ZIPS):
        raise ValueError("unknown QR token form")
    header = _header(_ALGS[alg_index], b64url_encode(packed[2:start]), _ZIPS[zip_index])
    signature, payload = packed[start : start + _SIGNATURE_BYTES], packed[start + _SIGNATURE_BYTES :]
    return ".".join(b64url_encode(part) for part in (header, payload, signature))


def permit_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/v#{token_to_digits(token)}"


def token_from_input(text: str) -> str:
    """The token in what a person pasted or a camera read: a URL with the token after '#'
    (as digits or as a JWS), a bare digit string, or a bare JWS. Leading and trailing
    whitespace is kept: it is not part of any token, so the token will be refused."""
    candidate = text.split("#", 1)[1] if "#" in text else text
    if candidate and candidate.isascii() and candidate.isdigit():
        return digits_to_token(candidate)
    return candidate


def _make(url: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=4, box_size=8)
    code.add_data(url, optimize=20)
    code.make(fit=True)
    return code


def qr_version(url: str) -> int:
    return int(_make(url).version)


def write_png(url: str, path: Path) -> int:
    """Write the QR code as PNG; return its version."""
    code = _make(url)
    code.make_image().save(str(path))
    return int(code.version)


def svg(url: str, symbol_mm: float | None = None) -> tuple[str, int]:
    """The QR code as SVG markup (4-module quiet zone included) and its version. `symbol_mm`
    fixes the printed width of the symbol itself, quiet zone excluded; by default a module is
    0.8 mm."""
    code = _make(url)
    image = code.make_image(image_factory=qrcode.image.svg.SvgPathImage)
    if symbol_mm is not None:
        modules = int(code.modules_count)
        side = f"{symbol_mm * (modules + 2 * code.border) / modules:.4f}mm"
        image.get_image().set("width", side)
        image.get_image().set("height", side)
    return str(image.to_string(encoding="unicode")), int(code.version)


def write_svg(url: str, path: Path) -> int:
    """Write the QR code as SVG (vector, for print); return its version."""
    markup, version = svg(url)
    path.write_bytes(b"<?xml version='1.0' encoding='UTF-8'?>\n" + markup.encode())
    return version
