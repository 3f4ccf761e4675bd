"""The demo city of `permit demo`: a Ho Chi Minh City registry with four departments, sample
permits to businesses (valid, revoked, suspended, expired) and a forged one, their QR codes and
the agencies' status lists. The command then verifies each sample, as a verifier would."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from keys.encoding import b64url_decode, b64url_encode
from keys.errors import ConflictError
from keys.jws import split_compact
from keys.reasons import Reason
from permits import issuing, operator, publishing, qr
from permits.home import Home
from permits.i18n import _
from permits.issuing import CITY_TZ, IssueRequest

DEMO_PASSPHRASE = "demo-passphrase-not-for-production"

TYPES = [
    ("business-registration", "Giấy chứng nhận đăng ký doanh nghiệp", "Business registration certificate", 3653),
    ("food-safety", "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", "Food safety certificate", 1096),
    ("alcohol-retail", "Giấy phép bán lẻ rượu", "Alcohol retail licence", 1827),
    ("construction", "Giấy phép xây dựng", "Construction permit", 1096),
    ("pharmacy", "Giấy chứng nhận đủ điều kiện kinh doanh dược", "Pharmacy business certificate", 1827),
]

AGENCIES = [
    ("hcm-skhdt", "Sở Kế hoạch và Đầu tư", "Department of Planning and Investment", ["business-registration"]),
    ("hcm-syt", "Sở Y tế", "Department of Health", ["food-safety", "pharmacy"]),
    ("hcm-sct", "Sở Công Thương", "Department of Industry and Trade", ["alcohol-retail", "food-safety"]),
    ("hcm-sxd", "Sở Xây dựng", "Department of Construction", ["construction"]),
]


@dataclass(frozen=True)
class Sample:
    label: str
    request: IssueRequest
    issued_on: date | None = None  # issue "in the past" (the permit that has since expired)
    then: str | None = None  # "revoked" or "suspended" afterwards


SAMPLES = [
    Sample("valid", IssueRequest(
        agency="hcm-skhdt", type="business-registration", holder_id="0318765432", number="0318765432",
        holder_name="Công ty Cổ phần Cà phê Phố Cổ Sài Gòn",
        holder_address="42 Lê Lợi, Phường Sài Gòn, TP. Hồ Chí Minh",
        activities=("Kinh doanh dịch vụ ăn uống", "Bán lẻ cà phê, chè"),
        valid_until=date(2031, 12, 31))),
    Sample("valid", IssueRequest(
        agency="hcm-syt", type="food-safety", holder_id="0312345678", number="1287/2026/GCN-ATTP",
        holder_name="Công ty TNHH Thực phẩm Sạch Bình Minh",
        holder_address="128 Nguyễn Thị Minh Khai, Phường Xuân Hòa, TP. Hồ Chí Minh",
        activities=("Sản xuất, chế biến thực phẩm",),
        conditions=("Thực hiện đúng quy định về an toàn thực phẩm.",),
        valid_until=date(2029, 11, 21))),
    Sample("revoked", IssueRequest(
        agency="hcm-sct", type="alcohol-retail", holder_id="41M8034567", number="215/2026/GP-SCT",
        holder_name="Hộ kinh doanh Quán Bia Bốn Mùa",
        holder_address="17 Phan Xích Long, Phường Cầu Kiệu, TP. Hồ Chí Minh",
        activities=("Bán lẻ rượu, bia",),
        conditions=("Không bán rượu cho người dưới 18 tuổi.",),
        valid_until=date(2030, 6, 30)), then="revoked"),
    Sample("suspended", IssueRequest(
        agency="hcm-sxd", type="construction", holder_id="0319988776", number="412/GPXD-SXD",
        holder_name="Công ty TNHH Xây dựng Hưng Thịnh Phát",
        holder_address="Lô B2, Khu phố 3, Phường Tân Phú, TP. Hồ Chí Minh",
        activities=("Xây dựng nhà ở riêng lẻ, 5 tầng, 1 tầng hầm, diện tích xây dựng 180 m2",),
        valid_until=date(2027, 11, 21)), then="suspended"),
    Sample("expired", IssueRequest(
        agency="hcm-syt", type="food-safety", holder_id="0310456789", number="0877/2023/GCN-ATTP",
        holder_name="Công ty TNHH Nhà hàng Hương Sen",
        holder_address="9 Tôn Thất Thiệp, Phường Sài Gòn, TP. Hồ Chí Minh",
        activities=("Nhà hàng và dịch vụ ăn uống",),
        valid_from=date(2023, 3, 1), valid_until=date(2026, 2, 28)), issued_on=date(2023, 3, 1)),
]


def _timestamp(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, 9, 0, tzinfo=CITY_TZ).timestamp())


def _tampered(token: str) -> str:
    """A forged copy: the holder's name changed in the payload, the signature left as it was."""
    header, payload, signature = split_compact(token, 4096)
    raw = bytearray(b64url_decode(payload))
    raw[len(raw) // 2] ^= 0x01
    return f"{header}.{b64url_encode(bytes(raw))}.{signature}"


def _prepare(directory: Path) -> Home:
    if directory.exists() and any(directory.iterdir()):
        if not Home(directory).is_demo:
            raise ConflictError(f"{directory} exists and is not a demo directory; choose another --dir", reason=Reason.NOT_A_DEMO)
        shutil.rmtree(directory)
    home = Home.create(directory)
    home.mark_demo()
    return home


def build_demo(directory: Path, say: Callable[[str], None], base_url: str | None = None,
               status_base: str | None = None) -> tuple[Home, list[tuple[str, str]]]:
    """Build the demo city in `directory` (replacing a previous demo there, never anything
    else), saying what it does; return its home and (label, page URL) of each sample.

    `status_base`: where the agencies publish their status lists, `status_base/AGENCY.jwt` (a
    fleet's static origin); by default the verifier at the home's base URL."""
    home = _prepare(directory)
    if base_url:
        home.set_config(base_url=base_url)
    passphrase = os.environ.get("PERMIT_PASSPHRASE", DEMO_PASSPHRASE).encode()
    secret = lambda what: passphrase  # noqa: E731 - one passphrase for the whole demo home
    now = int(time.time())
    history_start = _timestamp(date(2023, 1, 2))

    say(_("Building the demo in {directory}/").format(directory=directory))
    root = operator.init_registry(home, "hcm", "Thành phố Hồ Chí Minh", 3, 2, passphrase, now)
    say("  " + _("trust anchor: {keys} root keys, {threshold} signatures needed").format(keys=len(root.keys), threshold=root.threshold))
    for code, vi, en, days in TYPES:
        operator.add_type(home, code, vi, en, days)
    signers = {}
    for agency_id, vi, en, types in AGENCIES:
        operator.add_agency(home, agency_id, vi, en, types, f"{status_base}/{agency_id}.jwt" if status_base else None)
        signers[agency_id] = home.generate_key(agency_id, passphrase)
        # Keys registered from 2023 on, so the demo can show a permit issued then, since expired.
        operator.add_key(home, agency_id, signers[agency_id].public_key(), history_start)
        say("  " + _("agency {agency} ({name}): key {kid}, may issue {types}").format(agency=agency_id, name=en, kid=signers[agency_id].kid, types=", ".join(types)))
    registry = operator.publish(home, secret, now).registry
    say("  " + _("registry version {version} published, valid until {expires}").format(
        version=registry.version, expires=time.strftime("%Y-%m-%d", time.gmtime(registry.expires_at))))

    qr_dir = directory / "qr"
    qr_dir.mkdir()
    cases: list[tuple[str, str]] = []
    for sample in SAMPLES:
        ledger = home.ledger(sample.request.agency, create=True)
        at = _timestamp(sample.issued_on) if sample.issued_on else now
        record = issuing.issue(ledger, registry, signers[sample.request.agency], sample.request, "demo.officer", at)
        if sample.then:
            record = issuing.change_status(ledger, record.permit.id, sample.then, "demo.officer", now, f"demo: {sample.then}")
        ledger.close()
        url = qr.permit_url(home.base_url, record.token)
        png, svg = qr_dir / f"{record.permit.id}.png", qr_dir / f"{record.permit.id}.svg"
        version = qr.write_png(url, png)
        qr.write_svg(url, svg)
        say("  " + _("issued {id} {type} to {holder}: QR version {version} ({png}, {svg})").format(
            id=record.permit.id, type=f"{record.permit.type:<22}", holder=record.permit.holder_name, version=version, png=png.name, svg=svg.name))
        cases.append((sample.label, url))
    forged_source = next(url for label, url in cases if label == "valid")
    cases.append(("forged", f"{home.base_url}/v#{_tampered(qr.token_from_input(forged_source))}"))

    for agency_id, *_rest in AGENCIES:
        publishing.publish_status_list(home, registry, agency_id, signers[agency_id], now)
    say("  " + _("status lists published for every agency"))
    return home, cases
