"""The printed permit: one self-contained A4 HTML page, bilingual, laid out like an official
certificate, with the QR code an officer or a citizen checks it by. pdf.py prints the same page.

The page holds no script and loads nothing: CSS is inline and the QR code is inline SVG, so
the file previews, prints and archives the same anywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup

from keys.errors import ConflictError, Term
from keys.reasons import Reason
from keys.registry import Registry
from permits import qr
from permits.days import show_day
from permits.i18n import N_, both
from permits.issuing import city_date
from permits.ledger import PermitRecord
from permits.model import Permit
from permits.status_list import Status

# The symbol (quiet zone excluded) is printed 45 mm wide whatever its version: the demo's
# version 13 (69 modules) gets 0.65 mm modules, and version 18, the largest a token may need,
# still 0.5 mm, the usual minimum for phone cameras reading print. The 4-module quiet zone
# comes on top (about 5 mm).
QR_SYMBOL_MM = 45.0

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("permits", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,  # a misspelt field fails the render, not the printout
    trim_blocks=True,
    lstrip_blocks=True,
)

LABELS: Mapping[str, str] = {
    "country": N_("Socialist Republic of Viet Nam"),
    "motto": N_("Independence – Freedom – Happiness"),
    "electronic": N_("Electronic permit"),
    "number": N_("Permit number"),
    "id": N_("Permit ID"),
    "version": N_("Version"),
    "holder": N_("Holder"),
    "holder_id": N_("Registration code"),
    "address": N_("Address"),
    "activities": N_("Permitted activities"),
    "conditions": N_("Conditions"),
    "validity": N_("Validity"),
    "issued_on": N_("Issued on"),
    "based_on": N_("Based on"),
    "verify": N_("Check this permit"),
    "scan": N_("Scan the QR code with a phone camera. It opens the official verification page at:"),
    "lookalike": N_("Check that the page you land on is at exactly this address. A page at any other address, "
                    "however alike it looks, is not the city's verification page."),
    "no_stamp": N_("This document is verified by its QR code and needs no stamp or signature."),
}
# Sentences with the permit's data in them, filled in after translation.
VALIDITY = N_("from {start} to {end}, both days included")
# A permit this one rests on, named as the registry names its type and its agency, and by the
# id printed on it (its reference carries no number).
BASIS = N_("{type}, permit ID {id} ({issuer})")
QR_NOTE = N_("QR code version {version}, error correction M, {size} × {size} mm ({module} mm modules)")


@dataclass(frozen=True)
class PrintedPermit:
    html: str
    url: str
    qr_version: int
    qr_size_mm: float
    qr_module_mm: float


def verification_address(base_url: str) -> str:
    """The verifier page's address as people read it, without the scheme: 'host/v'."""
    parts = urlsplit(base_url)
    return f"{parts.netloc}{parts.path.rstrip('/')}/v"


def local_number(value: float, lang: str) -> str:
    """`value` as `lang` writes it: 0.65 in English, 0,65 in Vietnamese."""
    return f"{value:g}".replace(".", ",") if lang == "vi" else f"{value:g}"


def _filled(message: str, **values: object) -> dict[str, str]:
    """Both languages of `message` with its fields filled in; a float is written as each language writes numbers."""
    return {lang: text.format(**{k: local_number(v, lang) if isinstance(v, float) else v for k, v in values.items()})
            for lang, text in both(message).items()}


def _bases(permit: Permit, registry: Registry) -> list[dict[str, str]]:
    """Each permit `permit` rests on, in both languages: "<type>, permit ID <id> (<issuer>)". A type or
    an agency the registry no longer knows is named by its code."""
    lines = []
    for ref in permit.basis:
        permit_type, agency = registry.types.get(ref.type), registry.agencies.get(ref.agency)
        type_names = permit_type.name.to_dict() if permit_type else {"vi": ref.type, "en": ref.type}
        agency_names = agency.name.to_dict() if agency else {"vi": ref.agency, "en": ref.agency}
        lines.append({lang: text.format(type=type_names[lang], id=ref.id, issuer=agency_names[lang])
                      for lang, text in both(BASIS).items()})
    return lines


def check_in_force(record: PermitRecord, now: int) -> None:
    """ConflictError (permit_not_in_force) unless the ledger holds the permit active and unexpired:
    a printout of a revoked, suspended or expired permit would mislead whoever is handed it."""
    permit = record.permit
    if record.state != "active" or record.status != Status.VALID:
        raise ConflictError(N_("permit {id} is {state}; only a permit in force is printed"), reason=Reason.PERMIT_NOT_IN_FORCE,
                            id=permit.id, state=Term(record.state))
    if now >= permit.valid_until:
        raise ConflictError(N_("permit {id} expired on {day}; only a permit in force is printed"), reason=Reason.PERMIT_NOT_IN_FORCE,
                            id=permit.id, day=show_day(city_date(permit.valid_until - 1)))


def render(record: PermitRecord, registry: Registry, base_url: str, now: int) -> PrintedPermit:
    """The printable page of the permit's current version. ConflictError (permit_not_in_force)
    if it is not in force; NotFoundError if the registry no longer knows its agency or type."""
    check_in_force(record, now)
    permit = record.permit
    agency = registry.agency(permit.agency)
    permit_type = registry.permit_type(permit.type)
    url = qr.permit_url(base_url, record.token)
    svg, version = qr.svg(url, QR_SYMBOL_MM)
    modules = 17 + 4 * version  # ISO/IEC 18004: the side of a version-v symbol
    module_mm = round(QR_SYMBOL_MM / modules, 2)
    html = _ENV.get_template("printed_permit.html").render(
        t={key: both(message) for key, message in LABELS.items()},
        city=registry.name,
        agency=agency.name.to_dict(),
        type_name=permit_type.name.to_dict(),
        permit=permit,
        bases=_bases(permit, registry),
        validity=_filled(VALIDITY, start=show_day(city_date(permit.valid_from)), end=show_day(city_date(permit.valid_until - 1))),
        issued_on=show_day(city_date(permit.issued_at)),
        qr_svg=Markup(svg),  # made by qrcode from digits: no text of the permit is in it
        qr_note=_filled(QR_NOTE, version=version, size=QR_SYMBOL_MM, module=module_mm),
        address=verification_address(base_url),
    )
    return PrintedPermit(html, url, version, QR_SYMBOL_MM, module_mm)
