"""The QR code: URL layout, the digits codec, real decoding, and the size budget."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import zxingcpp
from conftest import NOW, City
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from keys.encoding import b64url_decode, b64url_encode
from permits import issuing, qr
from permits.demo import SAMPLES, Sample

segment = st.binary(min_size=1, max_size=255)

# A phone's QR scanner looks for QR codes only; so does verifier/scan.py. Looking for every format,
# zxing now and then also finds a short 1D code in the QR's modules.
QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


@given(header=segment, payload=st.binary(min_size=1, max_size=1200), signature=segment)
def test_digits_round_trip_any_token(header: bytes, payload: bytes, signature: bytes) -> None:
    token = ".".join(b64url_encode(part) for part in (header, payload, signature))
    digits = qr.token_to_digits(token)
    assert digits.isdigit() and digits[0] != "0"
    assert qr.digits_to_token(digits) == token


@pytest.mark.parametrize(
    "digits",
    ["", "0123", "12a4", "１２３", "9" * 4001, str(int.from_bytes(b"\x03\x01\x01abc", "big")), str(int.from_bytes(b"\x01\x05\x40ab", "big")),
     str(int.from_bytes(b"\x02\x00" + bytes(9 + 64), "big")), str(int.from_bytes(b"\x02\x02" + bytes(9 + 64) + b"x", "big")),
     str(int.from_bytes(b"\x02\x20" + bytes(9 + 64) + b"x", "big"))],
    ids=["empty", "leading-zero", "letter", "fullwidth-digits", "too-long", "unknown-layout", "truncated",
         "layout-2-no-payload", "layout-2-unknown-alg", "layout-2-unknown-zip"],
)
def test_digits_that_are_not_a_token_are_refused(digits: str) -> None:
    with pytest.raises(ValueError):
        qr.digits_to_token(digits)


def packed_of(digits: str) -> bytes:
    return int(digits).to_bytes((int(digits).bit_length() + 7) // 8, "big")


@pytest.mark.parametrize(("agency", "type_code"), [("hcm-syt", "food-safety"), ("hcm-sct", "alcohol-retail")], ids=["EdDSA", "ES256"])
def test_a_permit_s_qr_leaves_its_header_out(city: City, agency: str, type_code: str) -> None:
    # Layout 2: the header every permit of a key shares is rebuilt, not carried (about 60 bytes).
    token = city.issue(agency, type_code).token
    digits = qr.token_to_digits(token)
    packed = packed_of(digits)
    payload = token.split(".")[1]
    assert packed[:2] == bytes([2, 1 if agency == "hcm-sct" else 0])
    assert len(packed) == 2 + 9 + 64 + len(b64url_decode(payload))
    assert qr.digits_to_token(digits) == token


def test_a_qr_in_layout_1_printed_before_still_reads(city: City) -> None:
    token = city.issue().token
    header, payload, signature = (b64url_decode(part) for part in token.split("."))
    layout_1 = str(int.from_bytes(bytes([1, len(header), len(signature)]) + header + signature + payload, "big"))
    assert qr.digits_to_token(layout_1) == token
    assert len(layout_1) > len(qr.token_to_digits(token)) + 140  # what layout 2 saves: ~60 bytes, 2.4 digits each


def test_a_header_layout_2_cannot_rebuild_byte_for_byte_is_carried_whole(city: City) -> None:
    token = city.issue().token
    _, payload, signature = token.split(".")
    for header in (b'{"alg":"EdDSA","kid":"HvbruHBr7LTS","typ":"permit+jwt","zip":"DEFv1"}',  # signed before December 2026
                   b'{"kid":"HvbruHBr7LTS","alg":"EdDSA","typ":"permit+jws","zip":"DEFv1"}',  # members out of order
                   b'{"alg":"EdDSA","kid":"HvbruHBr7LT","typ":"permit+jws","zip":"DEFv1"}'):  # an 11-character kid
        other = f"{b64url_encode(header)}.{payload}.{signature}"
        digits = qr.token_to_digits(other)
        assert packed_of(digits)[:2] == bytes([1, len(header)])
        assert qr.digits_to_token(digits) == other


def test_token_from_input_forms(city: City) -> None:
    token = city.issue().token
    url = qr.permit_url("https://verify.example.vn/", token)
    assert url.startswith("https://verify.example.vn/v#")
    assert qr.token_from_input(url) == token
    assert qr.token_from_input(qr.token_to_digits(token)) == token
    assert qr.token_from_input(f"https://verify.example.vn/v#{token}") == token
    assert qr.token_from_input(token) == token
    assert qr.token_from_input(f" {token}") == f" {token}"  # kept, so the pipeline refuses it


def _decode_png(path: Path) -> list[str]:
    with Image.open(path) as image:
        return [code.text for code in zxingcpp.read_barcodes(image, formats=QR_ONLY)]


def test_png_decodes_to_the_exact_url_with_a_real_decoder(city: City, tmp_path: Path) -> None:
    token = city.issue().token
    url = qr.permit_url(city.home.base_url, token)
    version = qr.write_png(url, tmp_path / "permit.png")
    assert _decode_png(tmp_path / "permit.png") == [url]
    assert version == qr.qr_version(url)


def _rasterise_svg_path(svg: str, scale: int = 10) -> Image.Image:
    """Draw the rectangles of qrcode's SVG path (M x,y H x V y H x z) into a bitmap."""
    width = float(re.search(r'viewBox="0 0 ([\d.]+) ', svg).group(1))  # type: ignore[union-attr]
    image = Image.new("L", (int(width * scale) + 1, int(width * scale) + 1), 255)
    draw = ImageDraw.Draw(image)
    for x0, y0, x1, y1, _ in re.findall(r"M([\d.]+),([\d.]+)H([\d.]+)V([\d.]+)H([\d.]+)z", svg):
        draw.rectangle([float(x0) * scale, float(y0) * scale, float(x1) * scale - 1, float(y1) * scale - 1], fill=0)
    return image


def test_svg_draws_the_same_code(city: City, tmp_path: Path) -> None:
    url = qr.permit_url(city.home.base_url, city.issue().token)
    version = qr.write_svg(url, tmp_path / "permit.svg")
    svg = (tmp_path / "permit.svg").read_text()
    modules = 17 + 4 * version + 2 * 4  # with the quiet zone; 0.8 mm per module
    assert f'width="{modules * 0.8:g}mm"' in svg
    assert [code.text for code in zxingcpp.read_barcodes(_rasterise_svg_path(svg), formats=QR_ONLY)] == [url]


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.request.holder_name for s in SAMPLES])
def test_demo_permits_fit_the_qr_budget(city: City, sample: Sample) -> None:
    # Issued today (the demo's expired sample was issued in 2023; its content is what matters).
    request = replace(sample.request, valid_from=None, valid_until=date(2028, 11, 21))
    ledger = city.home.ledger(request.agency, create=True)
    record = issuing.issue(ledger, city.registry, city.signers[request.agency], request, "officer", NOW)
    url = qr.permit_url("https://xacminh.hochiminhcity.gov.vn", record.token)
    # The issue's limit is version 18 at error correction M; the aim was 15.
    assert qr.qr_version(url) <= 15


def test_a_long_permit_in_words_the_dictionary_does_not_know_stays_within_version_18(city: City) -> None:
    record = city.issue(
        holder_name="Công ty TNHH Sản xuất Thương mại Dịch vụ Kỹ nghệ Điện lạnh Ánh Dương Quốc Tế",
        holder_address="Số 1234/56/7 đường Trần Xuân Soạn, Khu dân cư Him Lam, Phường Tân Hưng, Thành phố Hồ Chí Minh",
        activities=("Chế biến và bảo quản rau quả", "Sản xuất món ăn, thức ăn chế biến sẵn", "Kho bãi và lưu giữ hàng hóa"),
        conditions=("Chỉ hoạt động trong khung giờ từ 6 giờ đến 22 giờ", "Định kỳ kiểm tra mẫu nước mỗi sáu tháng"),
        number="12345/2026/GCN-ATTP-SYT",
    )
    assert qr.qr_version(qr.permit_url("https://xacminh.hochiminhcity.gov.vn", record.token)) <= 18
