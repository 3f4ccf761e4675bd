"""The demo city of `permit demo`: a Ho Chi Minh City registry with four departments, sample
permits to businesses (valid, revoked, suspended, expired) and a forged one, their QR codes and
the agencies' status lists. The command then verifies each sample, as a verifier would.

Then the story the service exists for, "once only" (`once_only`): the operator makes food-safety
certificates rest on a business registration and alcohol retail licences on both; the Department
of Planning and Investment issues a restaurant's registration; the Department of Health issues its
food-safety certificate from the registration's QR code, and the Department of Industry and Trade
its alcohol licence from both QR codes, nobody retyping the business's details; each is printed.
`revoke_basis` then revokes the registration, and the two permits resting on it are no longer
valid wherever they are checked. Reading a basis needs the verifier (verifier/basis.py), which
the caller passes in: this package does not import it."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

from keys.encoding import b64url_decode, b64url_encode
from keys.errors import ConflictError
from keys.jws import split_compact
from keys.reasons import Reason
from keys.signer import KeySigner
from permits import issuing, operator, printing, publishing, qr
from permits.home import Home
from permits.i18n import _, ngettext
from permits.importing import BasisReader
from permits.issuing import CITY_TZ, IssueRequest
from permits.ledger import PermitRecord

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
# Whom people call about each department's permits, shown by the page beside a permit that is not
# in force (the numbers are made up for the demo; the sites are the departments' own).
CONTACTS = {
    "hcm-skhdt": ("028 3829 7336", "https://dpi.hochiminhcity.gov.vn"),
    "hcm-syt": ("028 3930 9912", "https://medinet.hochiminhcity.gov.vn"),
    "hcm-sct": ("028 3829 6464", "https://congthuong.hochiminhcity.gov.vn"),
    "hcm-sxd": ("028 3932 5960", "https://soxaydung.hochiminhcity.gov.vn"),
}


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


# Once only: what each type rests on, and one restaurant's three permits. The two resting on the
# registration name no holder: it is taken from the registration's QR code.
REQUIREMENTS = {"food-safety": ["business-registration"], "alcohol-retail": ["business-registration", "food-safety"]}
REGISTRATION = IssueRequest(
    agency="hcm-skhdt", type="business-registration", holder_id="0316543210", number="0316543210",
    holder_name="Công ty TNHH Nhà hàng Bến Nghé",
    holder_address="75 Hai Bà Trưng, Phường Sài Gòn, TP. Hồ Chí Minh",
    activities=("Nhà hàng và dịch vụ ăn uống", "Bán lẻ đồ uống có cồn"),
    valid_until=date(2031, 12, 31))
FOOD_SAFETY = IssueRequest(
    agency="hcm-syt", type="food-safety", holder_id=None, holder_name=None, number="1302/2026/GCN-ATTP",
    activities=("Kinh doanh dịch vụ ăn uống",),
    conditions=("Thực hiện đúng quy định về an toàn thực phẩm.",),
    valid_until=date(2029, 11, 20))
ALCOHOL_RETAIL = IssueRequest(
    agency="hcm-sct", type="alcohol-retail", holder_id=None, holder_name=None, number="0458/2026/GP-SCT",
    activities=("Bán lẻ rượu, bia",),
    conditions=("Không bán rượu cho người dưới 18 tuổi.",),
    valid_until=date(2031, 6, 30))  # asked beyond the food-safety certificate's end: brought back to it


@dataclass(frozen=True)
class Story:
    """The once-only story's permits, as issued: the business registration, then the food-safety
    certificate and the alcohol retail licence resting on it; and the printed page of each."""

    registration: PermitRecord
    resting: tuple[PermitRecord, PermitRecord]
    printed: tuple[Path, ...]


def _passphrase() -> bytes:
    return os.environ.get("PERMIT_PASSPHRASE", DEMO_PASSPHRASE).encode()


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
    passphrase = _passphrase()
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
        operator.add_agency(home, agency_id, vi, en, types, f"{status_base}/{agency_id}.jwt" if status_base else None,
                            *CONTACTS[agency_id])
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


def once_only(home: Home, say: Callable[[str], None], read_basis: Callable[[Home, int], BasisReader]) -> Story:
    """In the demo home `build_demo` made: make food-safety rest on business-registration and
    alcohol-retail on both (registry version 2), then issue the story's three permits, each
    resting one on the QR code images of the ones before, as officers of three departments
    would; print each (HTML, in print/). `read_basis` verifies a basis offline
    (verifier.basis.basis_reader); a basis it refuses raises its InputError."""
    passphrase = _passphrase()
    secret = lambda what: passphrase  # noqa: E731 - one passphrase for the whole demo home
    now = int(time.time())
    say("\n" + _("Once only: a business registration, then two permits resting on it"))
    for code, requires in REQUIREMENTS.items():
        operator.set_requirements(home, code, requires)
    registry = operator.publish(home, secret, now).registry
    say("  " + _("registry version {version} published: {rules}").format(version=registry.version, rules="; ".join(
        _("{type} rests on {types}").format(type=code, types=", ".join(requires)) for code, requires in REQUIREMENTS.items())))
    signers: dict[str, KeySigner] = {}
    qr_dir, print_dir = home.path / "qr", home.path / "print"
    print_dir.mkdir(exist_ok=True)
    read = read_basis(home, now)

    def issue(request: IssueRequest, bases: Sequence[PermitRecord]) -> PermitRecord:
        if request.agency not in signers:
            signers[request.agency] = home.agency_signer(registry, request.agency, secret, now)
        # Each basis as the next officer is handed it: the QR code image, read and verified here.
        shown = [qr_dir / f"{basis.permit.id}.png" for basis in bases]
        with home.ledger(request.agency, create=True) as ledger:
            record = issuing.issue(ledger, registry, signers[request.agency],
                                   replace(request, basis=tuple(read(str(png)) for png in shown)), "demo.officer", now)
        png = qr_dir / f"{record.permit.id}.png"
        version = qr.write_png(qr.permit_url(home.base_url, record.token), png)
        permit = record.permit
        if shown:
            say("  " + ngettext("{agency} read the QR code {images} (the holder's details come from it) and issued {id} {type} on it: "
                                "QR version {version} ({png})",
                                "{agency} read the QR codes {images} (the holder's details come from them) and issued {id} {type} on them: "
                                "QR version {version} ({png})", len(shown)).format(
                agency=permit.agency, images=_(" and ").join(image.name for image in shown), id=permit.id, type=permit.type,
                version=version, png=png.name))
        else:
            say("  " + _("{agency} issued {id} {type} to {holder}: QR version {version} ({png})").format(
                agency=permit.agency, id=permit.id, type=permit.type, holder=permit.holder_name, version=version, png=png.name))
        if issuing.last_day(permit) < request.valid_until:
            say("    " + _("The end date is {last}, not {asked}: a permit does not outlive the permits it rests on.").format(
                last=issuing.last_day(permit).isoformat(), asked=request.valid_until.isoformat()))
        return record

    registration = issue(REGISTRATION, ())
    food = issue(FOOD_SAFETY, (registration,))
    alcohol = issue(ALCOHOL_RETAIL, (registration, food))
    printed = []
    for record in (registration, food, alcohol):
        page = print_dir / f"{record.permit.id}.html"
        page.write_text(printing.render(record, registry, home.base_url, now).html, encoding="utf-8")
        printed.append(page)
    say("  " + _("printed: {files}").format(files=", ".join(f"print/{page.name}" for page in printed)))
    return Story(registration, (food, alcohol), tuple(printed))


def revoke_basis(home: Home, story: Story, say: Callable[[str], None]) -> None:
    """Revoke the story's business registration and publish its agency's status list, naming
    the permits of the home that rest on it (what an officer sees before revoking)."""
    passphrase = _passphrase()
    now = int(time.time())
    registry = home.trusted_registry(now).registry
    basis = story.registration.permit
    resting = []
    for agency in home.ledger_agencies():
        with home.ledger(agency) as ledger:
            resting += ledger.resting_on(basis.id, basis.agency)
    with home.ledger(basis.agency) as ledger:
        issuing.change_status(ledger, basis.id, "revoked", "demo.officer", now, "demo: doanh nghiệp giải thể")
    signer = home.agency_signer(registry, basis.agency, lambda what: passphrase, now)
    publishing.publish_status_list(home, registry, basis.agency, signer, now)
    say("\n" + _("{agency} revoked the business registration {id} and published its status list; permits resting on it: {resting}").format(
        agency=basis.agency, id=basis.id, resting=", ".join(f"{r.permit.id} ({r.permit.type}, {r.permit.agency})" for r in resting)))
