"""`permit`: the officer's command line. A thin layer: parse, call the library, print.

Every library error is caught in one place (PermitGroup.invoke) and printed as one line with
its reason code; exit status 0 success, 1 "not valid" (verify), 2 usage or input error,
3 an internal error (with the traceback only when PERMIT_DEBUG=1).

Messages and help are written in English and shown in Vietnamese with `--lang vi` (anywhere on
the command line), PERMIT_LANG=vi or a Vietnamese locale (permits/i18n.py, gettext).
"""

from __future__ import annotations

import getpass
import gettext
import inspect
import json
import os
import re
import shutil
import sqlite3
import sys
import time
import traceback
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import click

from keys.algorithms import KID_LENGTH
from keys.errors import InputError, NotFoundError, PermitError
from keys.files import write_atomic
from keys.reasons import Reason
from keys.registry import RETIRED_REASONS, Registry
from keys.trust import MAX_BUNDLE_BYTES
from permits import days, issuing, layout, operator, origin, pdf, printing, qr
from permits.backup import Manifest, backup_home
from permits.desk import Desk, publish_first_status_lists
from permits.home import Home, KeyAction, Passphrase
from permits.i18n import (
    DOMAIN,
    LANGUAGES,
    LOCALE_DIR,
    N_,
    _,
    current_language,
    error_detail,
    language,
    language_from_environment,
    ngettext,
    translate,
)
from permits.ledger import LISTED_STATES, PermitRecord
from permits.model import Permit
from permits.restore import RestoreReport, restore_home
from permits.status_list import StatusList
from verifier.offline import verify_in_home
from verifier.reasons import BASIS_STATE_TEXT, REASON_TEXT, STATUS_TEXT
from verifier.scan import read_qr
from verifier.verdict import Verdict, iso

EXIT_NOT_VALID = 1
EXIT_INPUT = 2
EXIT_INTERNAL = 3


class CommandFailed(click.ClickException):
    exit_code = EXIT_INPUT

    def __init__(self, reason: Reason, message: str, error: PermitError | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.error = error

    @classmethod
    def of(cls, error: PermitError) -> CommandFailed:
        return cls(error.reason, error.message, error)

    def format_message(self) -> str:
        # In Vietnamese: the sentence for the reason code, then the detail (it names the permit,
        # file or value concerned), in Vietnamese where the catalogue has its template.
        lang = current_language()
        if lang == "en":
            return f"[{self.reason}] {self.message}"
        detail = error_detail(self.error, lang) if self.error is not None else translate(self.message, lang)
        return f"[{self.reason}] {translate(self.reason.sentence, lang)} ({detail})"


# --- language --------------------------------------------------------------------------------


def split_language(args: Sequence[str]) -> tuple[str, list[str]]:
    """Take `--lang X` / `--lang=X` out of the arguments (before any `--`), so it works
    anywhere on the command line; without it, the environment decides."""
    lang: str | None = None
    rest: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg == "--lang":
            if i + 1 == len(args):
                raise CommandFailed(Reason.BAD_LANGUAGE, "--lang needs a value: vi or en")
            lang, i = args[i + 1], i + 2
            continue
        if arg.startswith("--lang="):
            lang, i = arg.partition("=")[2], i + 1
            continue
        rest.append(arg)
        i += 1
    if lang is not None and lang not in LANGUAGES:
        raise CommandFailed(Reason.BAD_LANGUAGE, f"--lang must be one of {', '.join(LANGUAGES)}, not {lang!r}")
    return lang or language_from_environment(), rest


@contextmanager
def click_speaks(lang: str) -> Iterator[None]:
    """click's own messages ("Usage:", "Missing option …") come from gettext's default domain
    and the LANGUAGE variable: point both at our catalogue for this run, then put them back."""
    previous_domain, previous = gettext.textdomain(), os.environ.get("LANGUAGE")
    gettext.bindtextdomain(DOMAIN, str(LOCALE_DIR))
    gettext.textdomain(DOMAIN)
    os.environ["LANGUAGE"] = lang
    try:
        yield
    finally:
        gettext.textdomain(previous_domain)
        if previous is None:
            os.environ.pop("LANGUAGE", None)
        else:
            os.environ["LANGUAGE"] = previous


class TranslatedHelp:
    """A command whose help is shown in the language of this run: its English help (the
    docstring) is the catalogue's message id."""

    help: str | None

    @contextmanager
    def _help_translated(self) -> Iterator[None]:
        english = self.help
        self.help = _(inspect.cleandoc(english)) if english else english
        try:
            yield
        finally:
            self.help = english

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with self._help_translated():
            super().format_help_text(ctx, formatter)  # type: ignore[misc]

    def get_short_help_str(self, limit: int = 45) -> str:
        with self._help_translated():
            return super().get_short_help_str(limit)  # type: ignore[misc, no-any-return]


class TranslatedCommand(TranslatedHelp, click.Command):
    pass


class KidArgumentCommand(TranslatedCommand):
    """A command that takes a key id. A kid is base64url, so one in 64 begins with "-" (some
    with "-h"): a token that is a whole kid is an argument, never an option (or help)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        kids = [arg for arg in args if arg.startswith("-") and _KID.fullmatch(arg)]
        others = [arg for arg in args if arg not in kids]
        # After "--" click reads every token as an argument; the agency comes first either way.
        return super().parse_args(ctx, [*others, "--", *kids] if kids else others)


_KID = re.compile(rf"[A-Za-z0-9_-]{{{KID_LENGTH}}}")


class TranslatedGroup(TranslatedHelp, click.Group):
    command_class = TranslatedCommand
    group_class = type  # subgroups are of the same class


class TranslatedOption(click.Option):
    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        english = self.help
        self.help = _(english) if english else english
        try:
            return super().get_help_record(ctx)
        finally:
            self.help = english


def option(*decls: str, **attrs: Any) -> Callable[[Any], Any]:
    return click.option(*decls, cls=TranslatedOption, **attrs)


class Day(click.ParamType):  # type: ignore[type-arg]  # generic only from click 8.4; we allow 8.1.3
    """A day as an officer types it: 31/12/2028, 31-12-2028 or 2028-12-31 (permits/days.py, the
    parser the CSV import uses too); anything else is one line, [bad_dates]."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        return days.parse_day(str(value), param.opts[0] if param is not None and param.opts else "date")


DATE = Day()


class PermitGroup(TranslatedGroup):
    """Turns every expected failure into one line and an exit status, never a traceback."""

    def main(self, args: Sequence[str] | None = None, *rest: Any, **extra: Any) -> Any:
        try:
            lang, remaining = split_language(sys.argv[1:] if args is None else list(args))
        except CommandFailed as exc:
            exc.show()
            sys.exit(exc.exit_code)
        with language(lang), click_speaks(lang):
            return super().main(remaining, *rest, **extra)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PermitError as exc:
            raise CommandFailed.of(exc) from None
        except sqlite3.DatabaseError as exc:
            raise CommandFailed(Reason.LEDGER_CORRUPT, f"the ledger database cannot be used: {exc}") from None
        except BrokenPipeError:
            # The reader went away (`permit list | head`): nothing to report, and nothing more to
            # write; point stdout at /dev/null so that Python's own flush at exit stays quiet too.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            ctx.exit(1)
        except OSError as exc:
            raise CommandFailed(Reason.IO_ERROR, f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": ")) from None
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as exc:  # a bug: say so in one line; the traceback on request
            if os.environ.get("PERMIT_DEBUG") == "1":
                traceback.print_exc()
            click.echo(_("Error: [internal] {kind}: {detail} (set PERMIT_DEBUG=1 for details)").format(
                kind=type(exc).__name__, detail=exc), err=True)
            ctx.exit(EXIT_INTERNAL)


# --- the terminal ----------------------------------------------------------------------------


def paint(text: str, **style: Any) -> str:
    """Colour for a terminal: click.echo drops it when the output is not one; NO_COLOR drops it always."""
    return text if os.environ.get("NO_COLOR") else click.style(text, **style)


STATE_COLOUR = {"active": "green", "suspended": "yellow", "revoked": "red", "expired": "magenta"}
STATE_LABEL = {"active": N_("active"), "suspended": N_("suspended"), "revoked": N_("revoked"), "expired": N_("expired")}
# What happened to a permit, as its history shows it (the ledger's event kinds).
EVENT_LABEL = {"issued": N_("issued"), "amended": N_("amended"), "suspended": N_("suspended"), "reinstated": N_("reinstated"),
               "revoked": N_("revoked"), "reissued": N_("reissued")}


def width(text: str) -> int:
    """Columns a text takes on a terminal: combining marks none, wide (CJK) characters two."""
    return sum(0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], colour: Callable[[int, int], str | None] | None = None) -> list[str]:
    """Aligned columns under a bold header; `colour(row, column)` colours a cell (after padding,
    so escape codes never upset the alignment)."""
    widths = [max(width(cell) for cell in column) for column in zip(headers, *rows, strict=True)]

    def pad(i: int, cell: str) -> str:
        return cell if i == len(widths) - 1 else cell + " " * (widths[i] - width(cell))

    out = ["  ".join(paint(pad(i, cell), bold=True) for i, cell in enumerate(headers)).rstrip()]
    for n, row in enumerate(rows):
        cells = [pad(i, cell) for i, cell in enumerate(row)]
        out.append("  ".join(paint(cell, fg=fg) if (fg := colour and colour(n, i)) else cell for i, cell in enumerate(cells)).rstrip())
    return out


class ProgressBar:
    """A one-line progress bar on stderr: percentage, count, rate and time left. On a terminal
    it redraws in place; otherwise (a log) it writes a line every few seconds and at the end.
    Work that ends within `delay` seconds shows nothing: only long work needs a bar."""

    def __init__(self, label: str, unit: str, delay: float = 0.0, rate: bool = True) -> None:
        self.label = label
        self.unit = unit
        self.delay = delay
        self.show_rate = rate
        self.started = time.monotonic()
        self.interactive = sys.stderr.isatty()
        self.last_shown = 0.0

    def __call__(self, done: int, total: int) -> None:
        clock = time.monotonic()
        elapsed = max(clock - self.started, 1e-6)
        if elapsed < self.delay or (done < total and clock - self.last_shown < (0.2 if self.interactive else 5)):
            return
        self.last_shown = clock
        share = done / total if total else 1
        line = _("{label} [{bar}] {share} {done}/{total} {unit}").format(
            label=self.label, bar=f"{'#' * int(share * 30):<30}", share=f"{share:6.1%}", done=f"{done:,}", total=f"{total:,}", unit=self.unit)
        if self.show_rate:
            rate = done / elapsed
            left = int((total - done) / rate) if rate else 0
            line += "  " + _("{rate} {unit}/s  ETA {eta}").format(rate=f"{rate:,.0f}", unit=self.unit, eta=f"{left // 60}:{left % 60:02d}")
        click.echo(("\r" + line) if self.interactive else line, err=True, nl=not self.interactive)
        if self.interactive and done >= total:
            click.echo("", err=True)


# --- helpers --------------------------------------------------------------------------------


def now() -> int:
    return int(time.time())


def home_of(ctx: click.Context, create: bool = False) -> Home:
    path = ctx.find_root().params.get("home")
    if not path:
        raise NotFoundError(N_("no permit home: set PERMIT_HOME or pass --home DIR"), reason=Reason.HOME_MISSING)
    return Home.create(Path(path)) if create else Home.existing(Path(path))


def officer_of(ctx: click.Context) -> str:
    return str(ctx.find_root().params.get("officer") or getpass.getuser())


def passphrases(confirm: bool = False) -> Passphrase:
    """Passphrases come from PERMIT_PASSPHRASE or a hidden prompt, never from an argument."""
    asked: dict[str, bytes] = {}

    def get(what: str) -> bytes:
        from_env = os.environ.get("PERMIT_PASSPHRASE")
        if from_env:
            return from_env.encode()
        if "value" not in asked:
            if not sys.stdin.isatty():
                raise InputError(N_("set PERMIT_PASSPHRASE, or run in a terminal to be asked"), reason=Reason.PASSPHRASE_REQUIRED)
            asked["value"] = click.prompt(_("Passphrase for {what}").format(what=what), hide_input=True, confirmation_prompt=confirm).encode()
        return asked["value"]

    return get


def new_passphrase() -> bytes:
    """A new passphrase comes from PERMIT_NEW_PASSPHRASE or a hidden prompt typed twice, never from an argument."""
    from_env = os.environ.get("PERMIT_NEW_PASSPHRASE")
    if from_env:
        return from_env.encode()
    if not sys.stdin.isatty():
        raise InputError(N_("set PERMIT_NEW_PASSPHRASE, or run in a terminal to be asked"), reason=Reason.PASSPHRASE_REQUIRED)
    return str(click.prompt(_("New passphrase for the keys"), hide_input=True, confirmation_prompt=True)).encode()


def say(*lines: str) -> None:
    for line in lines:
        click.echo(line)


def emit(data: Any, as_json: bool, human: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        human()


def desk_of(ctx: click.Context, agency: str) -> Desk:
    """The desk of `agency` in this home, for this officer, on this command's clock."""
    return Desk(home_of(ctx), agency, officer_of(ctx), passphrases(), now())


def desk_of_permit(ctx: click.Context, permit_id: str, agency: str | None) -> Desk:
    """The desk of the agency whose ledger holds `permit_id` (or of `agency`, when named)."""
    return Desk.of_permit(home_of(ctx), permit_id, agency, officer_of(ctx), passphrases(), now())


ORIGIN = click.Path(file_okay=False, path_type=Path)


def push_document(urls: Sequence[str], document: origin.Document) -> list[dict[str, Any]]:
    """Push `document` to each verifier as `registry push` and `status push` do: whether each
    accepted it (False: it already held it or a newer one)."""
    from verifier.http_client import push

    return [{"url": url, "accepted": bool(push(url, document.endpoint, document.body, document.content_type))} for url in urls]


def record_dict(home: Home, record: PermitRecord) -> dict[str, Any]:
    p = record.permit
    return {
        "id": p.id,
        "agency": p.agency,
        "number": p.number,
        "type": p.type,
        "version": p.version,
        "state": record.state_at(now()),
        "holder": {"id": p.holder_id, "name": p.holder_name, "address": p.holder_address},
        "activities": list(p.activities),
        "conditions": list(p.conditions),
        "issued_at": iso(p.issued_at),
        "valid_from": issuing.city_date(p.valid_from).isoformat(),
        "valid_until": issuing.city_date(p.valid_until - 1).isoformat(),
        "status_index": p.status_index,
        "basis": [{"agency": ref.agency, "id": ref.id, "type": ref.type, "status_index": ref.status_index} for ref in p.basis],
        "kid": record.kid,
        "token": record.token,
        "url": qr.permit_url(home.base_url, record.token),
    }


def labelled(rows: Sequence[tuple[str, str]]) -> None:
    """`  Label     value` lines, the values aligned whatever the labels' language."""
    column = max((width(label) for label, _value in rows), default=0) + 1
    for label, value in rows:
        click.echo(f"  {label}{' ' * (column - width(label))}{value}")


def shown_day(iso_day: str) -> str:
    """A day of a record (ISO, as --json gives it) as an officer reads it: 31/12/2028."""
    return days.show_day(date.fromisoformat(iso_day))


def state_label(state: str) -> str:
    return paint(_(STATE_LABEL.get(state, state)), fg=STATE_COLOUR.get(state))


def print_record(data: dict[str, Any]) -> None:
    click.echo(_("Permit {id}  (number {number}, version {version}, {state})").format(
        id=paint(data["id"], bold=True), number=data["number"], version=data["version"], state=state_label(data["state"])))
    rows = [(_("Type"), _("{type}  issued by {agency}").format(type=data["type"], agency=data["agency"])),
            (_("Holder"), f"{data['holder']['name']} ({data['holder']['id']})")]
    if data["holder"]["address"]:
        rows.append((_("Address"), data["holder"]["address"]))
    rows += [(_("Activity"), item) for item in data["activities"]]
    rows += [(_("Condition"), item) for item in data["conditions"]]
    rows.append((_("Valid"), _("{first} to {last}").format(first=shown_day(data["valid_from"]), last=shown_day(data["valid_until"]))))
    rows += [(_("Based on"), basis_line(ref)) for ref in data["basis"]]
    rows += [(_("Rested on by"), _("{id} ({type} of {agency}, {state})").format(
        id=other["id"], type=other["type"], agency=other["agency"], state=state_label(other["state"]))) for other in data.get("resting_on", ())]
    rows.append((_("URL"), data["url"]))
    labelled(rows)


def basis_line(ref: dict[str, Any]) -> str:
    return _("{type} {id} of {agency}").format(type=ref["type"], id=ref["id"], agency=ref["agency"])


def resting_on(home: Home, basis_id: str, basis_agency: str | None, limit: int = 100) -> list[PermitRecord]:
    """The permits of this home's ledgers whose current version rests on permit `basis_id`."""
    found: list[PermitRecord] = []
    for agency in home.ledger_agencies():
        with home.ledger(agency) as ledger:
            found += ledger.resting_on(basis_id, basis_agency, limit)
    return found


# --- the command tree -----------------------------------------------------------------------


@click.group(cls=PermitGroup, context_settings={"help_option_names": ["-h", "--help"]})
# Declared for --help only: PermitGroup.main takes --lang out wherever it is (see split_language).
@option("--lang", type=click.Choice(LANGUAGES), expose_value=False,
        help="Language of messages and help: vi or en (or PERMIT_LANG, or the locale). Anywhere on the command line.")
@option("--home", envvar="PERMIT_HOME", type=click.Path(file_okay=False), help="Permit home directory (or PERMIT_HOME).")
@option("--officer", envvar="PERMIT_OFFICER", help="Name recorded in the ledger's event log (or PERMIT_OFFICER; default: login name).")
@click.version_option(package_name="hcm-permits", cls=TranslatedOption)
def cli(home: str | None, officer: str | None) -> None:
    """Issue, manage and verify electronic permits signed by city agencies.

    Example: permit --home ./hcm verify "https://xacminh.example/v#1234…"
    """


@cli.group()
def registry() -> None:
    """The trust registry: agencies, their keys and permit types (operator).

    Example: permit registry show
    """


@registry.command("init")
@option("--id", "registry_id", required=True, help="Registry id, e.g. hcm.")
@option("--name", required=True, help="Name of the city or authority.")
@option("--roots", default=1, show_default=True, help="Number of root keys to create.")
@option("--threshold", default=1, show_default=True, help="Root signatures needed to publish.")
@option("--base-url", help="Public URL of the verifier, printed in QR codes.")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def registry_init(ctx: click.Context, registry_id: str, name: str, roots: int, threshold: int, base_url: str | None, as_json: bool) -> None:
    """Create the root keys, the trust anchor and an empty registry draft.

    Example: permit registry init --id hcm --name "TP. Hồ Chí Minh" --roots 3 --threshold 2
    """
    home = home_of(ctx, create=True)
    root = operator.init_registry(home, registry_id, name, roots, threshold, passphrases(confirm=True)("the root keys"), now())
    if base_url:
        home.set_config(base_url=base_url)
    data = {"registry": registry_id, "roots": sorted(root.keys), "threshold": threshold, "anchor": str(home.file(layout.ANCHOR))}
    emit(data, as_json, lambda: say(
        _("Registry {id} initialised: {roots} root key(s), threshold {threshold}.").format(id=registry_id, roots=roots, threshold=threshold),
        _("Trust anchor for verifiers: {file} (root keys {keys})").format(file=data["anchor"], keys=", ".join(sorted(root.keys)))))


@registry.command("add-type")
@click.argument("code")
@option("--name-vi", required=True, help="Vietnamese name.")
@option("--name-en", required=True, help="English name.")
@option("--max-days", default=1826, show_default=True, help="Longest validity allowed, in days.")
@option("--requires", "requires", multiple=True, metavar="TYPE", help="A permit type a permit of this type rests on (repeat).")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def registry_add_type(ctx: click.Context, code: str, name_vi: str, name_en: str, max_days: int, requires: tuple[str, ...],
                      as_json: bool) -> None:
    """Add a permit type to the draft; --requires names the types it rests on.

    Example: permit registry add-type food-safety --name-vi "Giấy chứng nhận…" --name-en "Food safety certificate" --max-days 1095 --requires business-registration
    """
    operator.add_type(home_of(ctx), code, name_vi, name_en, max_days, requires)
    emit({"type": code, "name": {"vi": name_vi, "en": name_en}, "max_days": max_days, "requires": sorted(set(requires)), "draft": True},
         as_json, lambda: click.echo(_("Permit type {code} added to the draft; publish to make it effective.").format(code=code)))


@registry.command("set-requires")
@click.argument("code")
@option("--requires", "requires", multiple=True, metavar="TYPE", help="A permit type it rests on (repeat; none: it rests on nothing).")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def registry_set_requires(ctx: click.Context, code: str, requires: tuple[str, ...], as_json: bool) -> None:
    """Set which permit types an existing type rests on, in the draft.

    Example: permit registry set-requires alcohol-retail --requires business-registration --requires food-safety
    """
    draft = operator.set_requirements(home_of(ctx), code, requires)
    rests = list(draft.types[code].requires)
    emit({"type": code, "requires": rests, "draft": True}, as_json, lambda: click.echo(
        (_("Permit type {code} now rests on {types} in the draft; publish to make it effective.") if rests else
         _("Permit type {code} now rests on no other permit in the draft; publish to make it effective.")).format(
            code=code, types=", ".join(rests))))


@registry.command("add-agency")
@click.argument("agency_id")
@option("--name-vi", required=True, help="Vietnamese name.")
@option("--name-en", required=True, help="English name.")
@option("--type", "types", multiple=True, required=True, help="Permit type it may issue (repeat).")
@option("--status-url", help="Where its status list is published (default: the verifier's /api/v1/status/ID).")
@option("--phone", help="Phone number people call about its permits, shown by the verification page.")
@option("--web", help="Its web address (https), shown by the verification page.")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def registry_add_agency(ctx: click.Context, agency_id: str, name_vi: str, name_en: str, types: tuple[str, ...], status_url: str | None,
                        phone: str | None, web: str | None, as_json: bool) -> None:
    """Add an agency and the permit types it may issue to the draft.

    Example: permit registry add-agency hcm-syt --name-vi "Sở Y tế" --name-en "Department of Health" --type food-safety --phone "028 3930 9912"
    """
    draft = operator.add_agency(home_of(ctx), agency_id, name_vi, name_en, list(types), status_url, phone, web)
    data: dict[str, Any] = {"agency": agency_id, "name": {"vi": name_vi, "en": name_en}, "types": list(types), "status_url": status_url}
    contact = draft.agencies[agency_id].contact
    if contact is not None:
        data["contact"] = contact.to_dict()
    emit({**data, "draft": True},
         as_json, lambda: click.echo(_("Agency {agency} added to the draft; add its key, then publish.").format(agency=agency_id)))


@registry.command("set-contact")
@click.argument("agency_id")
@option("--phone", help="Phone number people call about its permits.")
@option("--web", help="Its web address (https).")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def registry_set_contact(ctx: click.Context, agency_id: str, phone: str | None, web: str | None, as_json: bool) -> None:
    """Set how people reach an agency, in the draft: what is not given is removed (neither: no contact).

    The verification page shows it beside a permit of the agency that is not in force.

    Example: permit registry set-contact hcm-syt --phone "028 3930 9912" --web https://medinet.hochiminhcity.gov.vn
    """
    contact = operator.set_contact(home_of(ctx), agency_id, phone, web).agencies[agency_id].contact
    shown = _contact_text(contact.to_dict()) if contact is not None else ""
    emit({"agency": agency_id, "contact": contact.to_dict() if contact is not None else None, "draft": True}, as_json, lambda: click.echo(
        (_("Contact of {agency} set to {contact} in the draft; publish to make it effective.") if contact is not None else
         _("Contact of {agency} removed from the draft; publish to make it effective.")).format(agency=agency_id, contact=shown)))


def _contact_text(contact: dict[str, str]) -> str:
    return " · ".join(contact[member] for member in ("phone", "web") if member in contact)


@registry.command("add-key")
@click.argument("agency_id")
@option("--public-key", type=click.Path(dir_okay=False, path_type=Path), help="Public JWK file handed over by the agency.")
@option("--alg", type=click.Choice(["EdDSA", "ES256"]), help="Algorithm (default EdDSA, or the JWK's alg).")
@option("--valid-from", type=DATE, help="First day the key may sign (default: now).")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def registry_add_key(ctx: click.Context, agency_id: str, public_key: Path | None, alg: str | None, valid_from: date | None,
                     as_json: bool) -> None:
    """Register a signing key of an agency: generated here, or from its public JWK file.

    Example: permit registry add-key hcm-syt --public-key hcm-syt.jwk.json
    """
    home = home_of(ctx)
    home.draft().agency(agency_id)  # fail before generating a key for an unknown agency
    if public_key is not None:
        key = operator.read_public_key_file(public_key, alg)  # type: ignore[arg-type]
    else:
        key = home.generate_key(agency_id, passphrases(confirm=True)(_("the new key of {agency}").format(agency=agency_id)), alg or "EdDSA").public_key()  # type: ignore[arg-type]
    start = issuing.start_of_day(valid_from) if valid_from else now()
    operator.add_key(home, agency_id, key, start)
    emit({"agency": agency_id, "kid": key.kid, "alg": key.alg, "valid_from": iso(start), "draft": True}, as_json, lambda: click.echo(
        _("Key {kid} ({alg}) of {agency} added to the draft; publish to make it effective.").format(kid=key.kid, alg=key.alg, agency=agency_id)))


@registry.command("retire-key", cls=KidArgumentCommand)
@click.argument("agency_id")
@click.argument("kid")
@option("--reason", type=click.Choice(RETIRED_REASONS), required=True, help="superseded: earlier permits stay valid; compromised: none are.")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def registry_retire_key(ctx: click.Context, agency_id: str, kid: str, reason: str, as_json: bool) -> None:
    """Retire an agency key in the draft.

    Example: permit registry retire-key hcm-syt 3q2Xs9AbCdEf --reason superseded
    """
    at = now()
    operator.retire_key(home_of(ctx), agency_id, kid, reason, at)  # type: ignore[arg-type]
    emit({"agency": agency_id, "kid": kid, "reason": reason, "retired_at": iso(at), "draft": True}, as_json, lambda: click.echo(
        _("Key {kid} of {agency} retired as {reason} in the draft; publish to make it effective.").format(kid=kid, agency=agency_id, reason=reason)))


@registry.command("publish")
@option("--valid-days", default=30, show_default=True, help="Days until verifiers must have a newer version.")
@option("--origin", "origins", multiple=True, type=ORIGIN, help="Also write it to this origin directory (repeatable).")
@option("--push", "pushes", multiple=True, metavar="URL", help="Also push it to this verifier (repeatable).")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def registry_publish(ctx: click.Context, valid_days: int, origins: tuple[Path, ...], pushes: tuple[str, ...], as_json: bool) -> None:
    """Sign the draft with the root keys as a new version and write registry.json.

    --origin writes it to a directory a static host serves to the fleet; --push sends it to a
    verifier as `permit registry push` does.

    Example: permit registry publish --valid-days 30 --origin /srv/origin
    """
    home = home_of(ctx)
    secret = passphrases()
    trusted = operator.publish(home, secret, now(), valid_days * 86_400, origins)
    reg = trusted.registry
    pushed = push_document(pushes, origin.registry_document(home))
    # An agency whose key this home holds can issue from now on: its first status list goes
    # where the registry goes.
    firsts = publish_first_status_lists(home, reg, officer_of(ctx), secret, now(), origins)
    first_pushed = {first.agency: push_document(pushes, origin.status_document(home, first.agency)) for first in firsts}
    written = [str(origin.registry_file(directory)) for directory in origins]
    data = {"version": reg.version, "expires_at": iso(reg.expires_at), "file": str(home.file(layout.REGISTRY)), "digest": trusted.digest,
            "origins": written, "pushed": pushed,
            "first_status_lists": [{**_first_list_dict(home, first), "pushed": first_pushed[first.agency]} for first in firsts]}

    def human() -> None:
        click.echo(_("Published registry version {version}, valid until {expires}: {file}").format(
            version=reg.version, expires=iso(reg.expires_at), file=data["file"]))
        for file in written:
            click.echo(_("Registry version {version} written to {file}").format(version=reg.version, file=file))
        for answer in pushed:
            message = _("Registry version {version} accepted by {url}") if answer["accepted"] else _("Registry version {version} already held by {url}")
            click.echo(message.format(version=reg.version, url=answer["url"]))
        _print_first_lists(home, firsts, origins, first_pushed)

    emit(data, as_json, human)


def _first_list_dict(home: Home, status_list: StatusList) -> dict[str, Any]:
    return {"agency": status_list.agency, "size": status_list.size, "expires_at": iso(status_list.expires_at),
            "file": str(home.status_path(status_list.agency))}


def _print_first_lists(home: Home, firsts: Sequence[StatusList], origins: Sequence[Path] = (),
                       pushed: dict[str, list[dict[str, Any]]] | None = None) -> None:
    """Each agency that can now issue in this home, and where its first status list went."""
    for first in firsts:
        click.echo(_("{agency} can issue here: its first status list is published, valid until {expires}: {file}").format(
            agency=first.agency, expires=iso(first.expires_at), file=home.status_path(first.agency)))
        for directory in origins:
            click.echo(_("Status list of {agency} written to {file}").format(agency=first.agency, file=origin.status_file(directory, first.agency)))
        for answer in (pushed or {}).get(first.agency, []):
            message = _("Status list of {agency} accepted by {url}") if answer["accepted"] else _("Status list of {agency} already held by {url}")
            click.echo(message.format(agency=first.agency, url=answer["url"]))


def _registry_summary(reg: Registry) -> None:
    click.echo(_('Registry {id} "{name}" version {version}, expires {expires}').format(
        id=reg.id, name=reg.name, version=reg.version, expires=iso(reg.expires_at)))
    for code, ptype in sorted(reg.types.items()):
        click.echo("  " + _("type {code}: {vi} / {en} (max {days} days)").format(code=code, vi=ptype.name.vi, en=ptype.name.en, days=ptype.max_days))
        if ptype.requires:
            click.echo("    " + _("rests on {types}").format(types=", ".join(ptype.requires)))
    for agency in reg.agencies.values():
        click.echo("  " + _("agency {id}: {vi} / {en}; may issue {types}").format(
            id=agency.id, vi=agency.name.vi, en=agency.name.en, types=", ".join(agency.types)))
        if agency.contact is not None:
            click.echo("    " + _("contact: {contact}").format(contact=_contact_text(agency.contact.to_dict())))
        for key in agency.keys:
            state = (paint(_("retired {reason} at {at}").format(reason=key.retired_reason, at=iso(key.retired_at)), fg="red")
                     if key.retired_at else paint(_("active"), fg="green"))
            click.echo("    " + _("key {kid} {alg} from {start}: {state}").format(kid=key.kid, alg=key.alg, start=iso(key.valid_from), state=state))


@registry.command("show")
@option("--draft", is_flag=True, help="Show the operator's unpublished draft.")
@option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_context
def registry_show(ctx: click.Context, draft: bool, as_json: bool) -> None:
    """Show the published registry (checked against the trust anchor) or the draft.

    Example: permit registry show --json
    """
    home = home_of(ctx)
    reg = home.draft() if draft else home.trusted_registry(now()).registry
    emit(reg.to_dict(), as_json, lambda: _registry_summary(reg))


@registry.command("install")
@click.argument("source")
@option("--anchor", "anchor_file", type=click.Path(dir_okay=False, path_type=Path),
        help="The operator's anchor.json, the first time (this home then trusts it).")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def registry_install(ctx: click.Context, source: str, anchor_file: Path | None, as_json: bool) -> None:
    """Accept a published registry (a file or a URL) after checking it against the trust anchor.

    This is how an agency's home, or a verifier's, picks up a new registry version.

    Example: permit registry install https://xacminh.example/api/v1/registry --anchor anchor.json
    """
    from verifier.http_client import get

    home = home_of(ctx, create=True)
    if anchor_file is not None:
        operator.install_anchor(home, anchor_file)
    if source.startswith(("http://", "https://")):
        raw = get(source, MAX_BUNDLE_BYTES, 15, accept="application/json").body
    else:
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            raise InputError(f"cannot read {source}: {exc.strerror}", reason=Reason.BAD_REGISTRY_FILE) from None
    trusted = home.install_registry(raw, now())
    reg = trusted.registry
    firsts = publish_first_status_lists(home, reg, officer_of(ctx), passphrases(), now())
    data = {"version": reg.version, "expires_at": iso(reg.expires_at), "digest": trusted.digest,
            "first_status_lists": [_first_list_dict(home, first) for first in firsts]}

    def human() -> None:
        click.echo(_("Registry version {version} installed (valid until {expires}).").format(version=reg.version, expires=iso(reg.expires_at)))
        _print_first_lists(home, firsts)

    emit(data, as_json, human)


@registry.command("push")
@click.argument("url")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def registry_push(ctx: click.Context, url: str, as_json: bool) -> None:
    """Send this home's registry to a verifier (PUT /api/v1/registry); it checks it itself.

    Example: permit registry push https://xacminh.example
    """
    from verifier.http_client import push

    home = home_of(ctx)
    version = home.trusted_registry(now()).registry.version
    answer = push(url, "registry", home.file(layout.REGISTRY).read_bytes(), "application/json")
    message = _("Registry version {version} accepted by {url}") if answer else _("Registry version {version} already held by {url}")
    emit({"version": version, "url": url, "accepted": bool(answer)}, as_json, lambda: click.echo(message.format(version=version, url=url)))


@registry.command("rotate-root")
@option("--roots", default=3, show_default=True, help="Number of new root keys.")
@option("--threshold", default=2, show_default=True, help="Signatures the new root needs.")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def registry_rotate_root(ctx: click.Context, roots: int, threshold: int, as_json: bool) -> None:
    """Replace the root keys: the new root is signed by the old threshold and the new one.

    Verifiers anchored on the old root follow the chain; publish afterwards.

    Example: permit registry rotate-root --roots 3 --threshold 2 && permit registry publish
    """
    root = operator.rotate_root(home_of(ctx), passphrases(confirm=True), roots, threshold)
    emit({"root_version": root.version, "roots": sorted(root.keys), "threshold": threshold}, as_json, lambda: click.echo(
        _("Root version {version}: {roots} new key(s), threshold {threshold}. Publish the registry to sign with them.").format(
            version=root.version, roots=roots, threshold=threshold)))


@cli.group()
def keys() -> None:
    """Agency key pairs.

    Example: permit keys generate --agency hcm-syt --out hcm-syt.jwk.json
    """


@keys.command("generate")
@option("--agency", required=True, help="Agency the key is for.")
@option("--alg", type=click.Choice(["EdDSA", "ES256"]), default="EdDSA", show_default=True, help="Signature algorithm.")
@option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Also write the public JWK here, to hand over.")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def keys_generate(ctx: click.Context, agency: str, alg: str, out: Path | None, as_json: bool) -> None:
    """Generate a key pair in this home; only the public key is ever handed over.

    Example: permit keys generate --agency hcm-syt --out hcm-syt.jwk.json
    """
    home = home_of(ctx, create=True)
    signer = home.generate_key(agency, passphrases(confirm=True)(_("the new key of {agency}").format(agency=agency)), alg)  # type: ignore[arg-type]
    if out is not None:
        out.write_text(json.dumps(signer.public_key().handover_jwk(), indent=2) + "\n")
    data = {"agency": agency, "kid": signer.kid, "alg": alg, "private_key": str(home.private_key_path(agency, signer.kid)),
            "public_key": str(out or home.public_key_path(signer.kid))}
    emit(data, as_json, lambda: say(
        _("Key {kid} ({alg}) for {agency}: private key {file}").format(kid=signer.kid, alg=alg, agency=agency, file=data["private_key"]),
        _("Public key to hand to the registry operator: {file}").format(file=data["public_key"])))


KEY_ACTION_TEXT = {
    KeyAction.REPROTECTED: N_("re-protected"),
    KeyAction.NEW_PASSPHRASE: N_("re-protected under the new passphrase"),
    KeyAction.KEPT: N_("already meets the standard"),
}


@keys.command("protect")
@option("--owner", "owners", multiple=True, help="Only the keys of this owner: root, or an agency id (repeat).")
@option("--new-passphrase", "change", is_flag=True, help="Also change the passphrase: from PERMIT_NEW_PASSPHRASE, or asked twice.")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def keys_protect(ctx: click.Context, owners: tuple[str, ...], change: bool, as_json: bool) -> None:
    """Re-protect this home's private key files to the current standard, PBKDF2-HMAC-SHA256 with
    600,000 iterations; optionally under a new passphrase.

    Each file is replaced only after its new form decrypts to the same key; a file already at
    the standard is left as it is.

    Example: permit keys protect --json
    """
    home = home_of(ctx)
    results = home.protect_keys(passphrases(), new_passphrase() if change else None, owners)
    data = {
        "keys": [{"owner": r.label, "kid": r.kid, "file": str(r.path), "action": r.action.value,
                  "before": r.before.to_dict(), "after": r.after.to_dict()} for r in results],
        "rewritten": sum(r.action is not KeyAction.KEPT for r in results),
        "kept": sum(r.action is KeyAction.KEPT for r in results),
    }

    def human() -> None:
        if not results:
            click.echo(_("This home holds no private key files."))
            return
        rows = [(r.label, r.kid, str(r.before), str(r.after), _(KEY_ACTION_TEXT[r.action])) for r in results]
        for line in table([_("Owner"), _("Key"), _("Before"), _("Now"), _("Done")], rows,
                          lambda n, i: "green" if i == 4 and results[n].action is not KeyAction.KEPT else None):
            click.echo(line)
        click.echo(_("{rewritten} key file(s) rewritten, {kept} already met the standard.").format(
            rewritten=data["rewritten"], kept=data["kept"]))
    emit(data, as_json, human)


@cli.command("issue")
@option("--agency", required=True, help="Issuing agency id.")
@option("--type", "type_code", required=True, help="Permit type code.")
@option("--basis", "bases", multiple=True, metavar="QR_IMAGE|URL|TOKEN|ID",
        help="A permit this one rests on: its QR code image, its link or token, or its id in this home (repeat).")
@option("--holder-id", help="Holder's business or household-business registration code (default: the basis's).")
@option("--holder-name", help="Holder's name as on the permit (default: the basis's).")
@option("--holder-address", help="Holder's address.")
@option("--activity", "activities", multiple=True, help="Permitted activity (repeat).")
@option("--condition", "conditions", multiple=True, help="Condition attached (repeat).")
@option("--number", help="Permit number as printed (default: the permit id).")
@option("--valid-from", type=DATE, help="First day of validity (default: today).")
@option("--valid-until", type=DATE, required=True, help="Last day of validity.")
@option("--json", "as_json", is_flag=True, help="Print the permit (with its token and URL) as JSON.")
@click.pass_context
def issue_cmd(ctx: click.Context, agency: str, type_code: str, bases: tuple[str, ...], holder_id: str | None, holder_name: str | None,
              holder_address: str | None, activities: tuple[str, ...], conditions: tuple[str, ...], number: str | None,
              valid_from: date | None, valid_until: date, as_json: bool) -> None:
    """Issue a permit: check, record in the ledger, sign.

    A permit of a type that rests on others (the registry says which) is issued on them:
    --basis gives each one's QR code, verified offline here; the holder's details come from it.

    Example: permit issue --agency hcm-syt --type food-safety --basis giay-dkkd.png --valid-until 2029-12-31
    """
    desk = desk_of(ctx, agency)
    basis = read_bases(desk.home, bases)
    record = desk.issue(issuing.IssueRequest(
        agency=agency, type=type_code, holder_id=holder_id, holder_name=holder_name, holder_address=holder_address,
        activities=activities, conditions=conditions, number=number, valid_from=valid_from, valid_until=valid_until,
        basis=basis,
    ))
    data = record_dict(desk.home, record)
    data["qr_version"] = qr.qr_version(data["url"])
    capped = capped_note(record, valid_until)
    def human() -> None:
        click.echo(paint(_("Issued."), fg="green"))
        print_record(data)
        if capped:
            click.echo(paint(capped, fg="yellow"))
    emit(data, as_json, human)


def read_bases(home: Home, given: Sequence[str]) -> tuple[Permit, ...]:
    """Each basis the officer gave, verified offline with this home's registry and status lists."""
    from verifier.basis import basis_reader

    read = basis_reader(home, now())
    return tuple(read(text) for text in given)


def capped_note(record: PermitRecord, asked: date) -> str | None:
    """What to tell the officer when the end date was brought forward to a basis's."""
    last = issuing.last_day(record.permit)
    if not record.permit.basis or last >= asked:
        return None
    return _("The end date is {last}, not {asked}: a permit does not outlive the permits it rests on.").format(
        last=days.show_day(last), asked=days.show_day(asked))


@cli.command("import")
@click.argument("csv_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@option("--agency", required=True, help="Agency id.")
@option("--type", "type_code", required=True, help="Permit type of every row.")
@option("--batch-size", type=int, default=None, help="Rows per transaction (one commit each) [default: 5000].")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def import_cmd(ctx: click.Context, csv_file: Path, agency: str, type_code: str, batch_size: int | None, as_json: bool) -> None:
    """Import existing (paper) permits from a CSV file as signed e-permits.

    Columns: number, holder_id, holder_name, valid_until (required), holder_address,
    activities and conditions (several separated by "|"), valid_from; dates DD/MM/YYYY,
    DD-MM-YYYY or YYYY-MM-DD; separated by commas or semicolons; UTF-8 with or without BOM. Bad
    rows are reported with their line and written to FILE.rejected.csv, to fix and import again.
    Interrupted, it resumes where it stopped.

    A basis column holds the QR link of each permit a row's permit rests on (several separated
    by "|"); holder_id and holder_name may then be left empty, to be taken from it.

    Example: permit import giay-phep-cu.csv --agency hcm-syt --type food-safety
    """
    from permits.importing import BATCH_SIZE

    batch_size = BATCH_SIZE if batch_size is None else batch_size
    if not 1 <= batch_size <= 100_000:
        raise InputError(N_("--batch-size must be between 1 and 100000"), reason=Reason.BAD_BATCH_SIZE)
    from verifier.basis import basis_reader

    desk = desk_of(ctx, agency)
    report = desk.import_csv(csv_file, type_code, batch_size, ProgressBar(_("Importing"), _("rows")), basis_reader(desk.home, desk.now))
    data = {"rows": report.rows, "imported": report.imported, "already_imported": report.total_imported - report.imported,
            "rejected": report.rejected, "rejected_file": str(report.rejected_file) if report.rejected_file else None,
            "resumed_after_line": report.resumed_after, "source_sha256": report.source}
    def human() -> None:
        resumed = _(" (resumed after line {line})").format(line=report.resumed_after) if report.resumed_after else ""
        click.echo(_("Imported {imported} permit(s){resumed}; {total} from this file in all; {rejected} row(s) rejected.").format(
            imported=f"{report.imported:,}", resumed=resumed, total=f"{report.total_imported:,}",
            rejected=paint(f"{report.rejected:,}", fg="red" if report.rejected else None)))
        if report.rejected_file:
            click.echo(_("Rejected rows, with line and reason, to fix and import again: {file}").format(file=report.rejected_file))
        click.echo(_("Status list of {agency} published.").format(agency=agency))
    emit(data, as_json, human)


@cli.command("list")
@option("--agency", help="Only this agency's ledger.")
@option("--state", type=click.Choice(LISTED_STATES),
        help="Only permits in this state; expired: active permits whose last day is past.")
@option("--type", "type_code", help="Only this permit type.")
@option("--basis", "basis_id", metavar="PERMIT_ID", help="Only the permits resting on this permit (of any agency).")
@option("--limit", default=100, show_default=True, help="At most this many permits per ledger.")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def list_cmd(ctx: click.Context, agency: str | None, state: str | None, type_code: str | None, basis_id: str | None, limit: int,
             as_json: bool) -> None:
    """List permits in this home's ledgers, newest first; says when --limit left some out.

    Example: permit list --agency hcm-syt --state active
    """
    home = home_of(ctx)
    at = now()
    agencies = [agency] if agency else home.ledger_agencies()
    rows = []
    total = 0
    for name in agencies:
        if not home.ledger_path(name).exists():
            continue  # an agency that has issued nothing yet
        with home.ledger(name) as ledger:
            if basis_id is None:
                found, count = ledger.find(state, type_code, limit, at), ledger.count(state, type_code, at)
            else:  # the permits resting on one permit are few: all read, then filtered and cut
                resting = [r for r in ledger.resting_on(basis_id, None, -1)
                           if state in (None, r.state_at(at)) and type_code in (None, r.permit.type)]
                found, count = resting[:max(limit, 0)], len(resting)
            rows += [record_dict(home, r) for r in found]
            total += count
    data = {"permits": rows, "total": total, "truncated": len(rows) < total}

    def human() -> None:
        if rows:
            headers = [_("ID"), _("Agency"), _("Type"), _("State"), _("Ver."), _("Valid until"), _("Holder")]
            cells = [[row["id"], row["agency"], row["type"], _(STATE_LABEL[row["state"]]), str(row["version"]), shown_day(row["valid_until"]),
                      row["holder"]["name"]] for row in rows]
            state_column = 3
            for line in table(headers, cells, lambda n, i: STATE_COLOUR[rows[n]["state"]] if i == state_column else None):
                click.echo(line)
        if data["truncated"]:
            click.echo(ngettext("Showing {shown} of {total} permit; use --limit to see more.",
                                "Showing {shown} of {total} permits; use --limit to see more.", total).format(
                shown=f"{len(rows):,}", total=f"{total:,}"))
        else:
            click.echo(ngettext("{n} permit", "{n} permits", len(rows)).format(n=len(rows)))
    emit(data, as_json, human)


@cli.command("show")
@click.argument("permit_id")
@option("--agency", help="Agency whose ledger holds it (if several could).")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def show_cmd(ctx: click.Context, permit_id: str, agency: str | None, as_json: bool) -> None:
    """Show a permit, its current token and URL, and its event history.

    Example: permit show 7KQ2M9XD
    """
    desk = desk_of_permit(ctx, permit_id, agency)
    record, events = desk.history(permit_id)
    data = record_dict(desk.home, record)
    data["events"] = [{"at": iso(e.at), "kind": e.kind, "version": e.version, "officer": e.officer, "reason": e.reason}
                      for e in events]
    # What revoking or suspending this permit would reach: the permits here that rest on it.
    data["resting_on"] = [{"agency": r.permit.agency, "id": r.permit.id, "type": r.permit.type, "state": r.state_at(now())}
                          for r in resting_on(desk.home, permit_id, record.permit.agency)]
    def human() -> None:
        print_record(data)
        click.echo(_("History:"))
        cells = [[e["at"], _(EVENT_LABEL.get(e["kind"], e["kind"])), f"v{e['version']}", e["officer"], e["reason"] or ""] for e in data["events"]]
        for line in table([_("At"), _("Event"), _("Ver."), _("Officer"), _("Reason")], cells):
            click.echo("  " + line)
    emit(data, as_json, human)


@cli.command("amend")
@click.argument("permit_id")
@option("--agency", help="Agency whose ledger holds it.")
@option("--holder-name", help="New holder name.")
@option("--holder-address", help="New holder address.")
@option("--activity", "activities", multiple=True, help="Replace the activities (repeat).")
@option("--condition", "conditions", multiple=True, help="Replace the conditions (repeat).")
@option("--valid-until", type=DATE, help="New last day of validity.")
@option("--basis", "bases", multiple=True, metavar="QR_IMAGE|URL|TOKEN|ID", help="Replace the permits it rests on (repeat, one each).")
@option("--reason", required=True, help="Why it is amended (kept in the ledger).")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def amend_cmd(ctx: click.Context, permit_id: str, agency: str | None, holder_name: str | None, holder_address: str | None,
              activities: tuple[str, ...], conditions: tuple[str, ...], valid_until: date | None, bases: tuple[str, ...],
              reason: str, as_json: bool) -> None:
    """Issue a new version of a permit; the old version becomes superseded.

    Example: permit amend 7KQ2M9XD --holder-address "45 Lê Lợi, Phường Sài Gòn" --reason "moved"
    """
    desk = desk_of_permit(ctx, permit_id, agency)
    changes = issuing.Amendment(
        holder_name=holder_name, holder_address=holder_address, activities=activities or None,
        conditions=conditions or None, valid_until=valid_until, basis=read_bases(desk.home, bases) if bases else None,
    )
    # Without --valid-until the end asked for is the permit's own, which a new basis may cap too.
    asked = valid_until if valid_until else issuing.last_day(desk.record(permit_id).permit)
    record = desk.amend(permit_id, changes, reason)
    data = record_dict(desk.home, record)
    capped = capped_note(record, asked)
    def human() -> None:
        click.echo(_("Amended: version {new} issued, version {old} superseded.").format(new=record.permit.version, old=record.permit.version - 1))
        print_record(data)
        if capped:
            click.echo(paint(capped, fg="yellow"))
        click.echo(_("Publish the status list: {command}").format(command=f"permit status publish --agency {record.permit.agency}"))
    emit(data, as_json, human)


def _status_command(kind: str, verb: str, help_text: str, reason_required: bool) -> click.Command:
    @click.command(verb, cls=TranslatedCommand)
    @click.argument("permit_id")
    @option("--agency", help="Agency whose ledger holds it.")
    @option("--reason", required=reason_required, help="Why (kept in the ledger).")
    @option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
    @click.pass_context
    def command(ctx: click.Context, permit_id: str, agency: str | None, reason: str | None, as_json: bool) -> None:
        desk = desk_of_permit(ctx, permit_id, agency)
        record = desk.change_status(permit_id, kind, reason)
        data = record_dict(desk.home, record)
        emit(data, as_json, lambda: click.echo(_("Permit {id} is now {state}. Publish the status list: {command}").format(
            id=permit_id, state=state_label(record.state), command=f"permit status publish --agency {record.permit.agency}")))

    command.help = help_text
    return command


cli.add_command(_status_command("suspended", "suspend", N_("""Suspend a permit (recorded in the ledger's event log).

Example: permit suspend 7KQ2M9XD --reason 'inspection pending'"""), True))
cli.add_command(_status_command("reinstated", "reinstate", N_("""Reinstate a suspended permit (recorded in the ledger's event log).

Example: permit reinstate 7KQ2M9XD --reason 'inspection passed'"""), False))
cli.add_command(_status_command("revoked", "revoke", N_("""Revoke a permit (recorded in the ledger's event log).

Example: permit revoke 7KQ2M9XD --reason 'business closed'"""), True))


@cli.group()
def status() -> None:
    """Agency status lists (revocation and suspension).

    Example: permit status publish --agency hcm-syt
    """


@status.command("publish")
@option("--agency", required=True, help="Agency id.")
@option("--ttl-hours", default=48, show_default=True, help="Hours until verifiers must fetch a newer list.")
@option("--origin", "origins", multiple=True, type=ORIGIN, help="Also write it to this origin directory (repeatable).")
@option("--push", "pushes", multiple=True, metavar="URL", help="Also push it to this verifier (repeatable).")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def status_publish(ctx: click.Context, agency: str, ttl_hours: int, origins: tuple[Path, ...], pushes: tuple[str, ...],
                   as_json: bool) -> None:
    """Sign the agency's status list from its ledger and write it to status/AGENCY.jwt.

    --origin writes it to a directory a static host serves to the fleet; --push sends it to a
    verifier as `permit status push` does.

    Example: permit status publish --agency hcm-syt --ttl-hours 24 --origin /srv/origin
    """
    if not 1 <= ttl_hours <= 24 * 31:
        raise InputError(N_("--ttl-hours must be between 1 and 744"), reason=Reason.BAD_TTL)
    desk = desk_of(ctx, agency)
    status_list = desk.publish(ttl_hours * 3600, ProgressBar(_("Publishing"), _("steps"), delay=1.0, rate=False), origins)
    pushed = push_document(pushes, origin.status_document(desk.home, agency))
    written = [str(origin.status_file(directory, agency)) for directory in origins]
    data = {"agency": agency, "size": status_list.size, "issued_at": iso(status_list.issued_at),
            "expires_at": iso(status_list.expires_at), "bytes": len(status_list.token), "file": str(desk.home.status_path(agency)),
            "origins": written, "pushed": pushed}

    def human() -> None:
        click.echo(_("Status list of {agency} published: {size} entries, {bytes} bytes, valid until {expires}: {file}").format(
            agency=agency, size=data["size"], bytes=data["bytes"], expires=data["expires_at"], file=data["file"]))
        for file in written:
            click.echo(_("Status list of {agency} written to {file}").format(agency=agency, file=file))
        for answer in pushed:
            message = _("Status list of {agency} accepted by {url}") if answer["accepted"] else _("Status list of {agency} already held by {url}")
            click.echo(message.format(agency=agency, url=answer["url"]))

    emit(data, as_json, human)


@status.command("pull")
@option("--agency", "agencies", multiple=True, help="Only this agency (repeat; default: every agency whose ledger is not in this home).")
@option("--origin", "origin_dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
        help="Read them from this origin directory (status/AGENCY.jwt) instead of where the registry says.")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def status_pull(ctx: click.Context, agencies: tuple[str, ...], origin_dir: Path | None, as_json: bool) -> None:
    """Fetch other agencies' current status lists into this home, each verified before it is
    kept, so that their permits can be checked here offline (a basis given to `issue --basis`).

    Exit status: 0 when every list is current here, 2 when one could not be had.

    Example: permit status pull
    """
    from verifier.offline import fetch_status_lists

    outcome = fetch_status_lists(home_of(ctx), now(), origin_dir, agencies)
    data = {agency: result if isinstance(result, str) else {"error": str(result.reason), "message": result.message}
            for agency, result in outcome.items()}
    def human() -> None:
        for agency, result in outcome.items():
            if result == "installed":
                click.echo(_("Status list of {agency}: updated.").format(agency=agency))
            elif result == "held":
                click.echo(_("Status list of {agency}: already current.").format(agency=agency))
            elif isinstance(result, PermitError):
                click.echo(paint(_("Status list of {agency}: not fetched: [{reason}] {message}").format(
                    agency=agency, reason=result.reason, message=result.message), fg="red"))
    emit(data, as_json, human)
    if any(not isinstance(result, str) for result in outcome.values()):
        ctx.exit(EXIT_INPUT)


@status.command("push")
@click.argument("url")
@option("--agency", required=True, help="Agency id.")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def status_push(ctx: click.Context, url: str, agency: str, as_json: bool) -> None:
    """Send the agency's current status list to a verifier (PUT /api/v1/status/AGENCY).

    Example: permit status push https://xacminh.example --agency hcm-syt
    """
    from verifier.http_client import push

    home = home_of(ctx)
    path = home.status_path(agency)
    if not path.exists():
        raise NotFoundError(N_("no status list of {agency} here; run: permit status publish --agency {agency}"), reason=Reason.STATUS_UNAVAILABLE,
                            agency=agency)
    answer = push(url, f"status/{agency}", path.read_bytes(), "application/statuslist+jwt")
    message = _("Status list of {agency} accepted by {url}") if answer else _("Status list of {agency} already held by {url}")
    emit({"agency": agency, "url": url, "accepted": bool(answer)}, as_json, lambda: click.echo(message.format(agency=agency, url=url)))


@cli.group("origin")
def origin_group() -> None:
    """A static origin: the directory a web server or object store serves to a fleet of verifiers.

    Example: permit origin sync /srv/origin
    """


@origin_group.command("sync")
@click.argument("directory", type=ORIGIN)
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def origin_sync(ctx: click.Context, directory: Path, as_json: bool) -> None:
    """Copy this home's registry and every status list it holds to an origin directory.

    A document the origin already holds is left untouched; one newer than this home's is never
    replaced. For a first deployment, and for the publisher's timer.

    Example: permit origin sync /srv/origin
    """
    copies = origin.sync(home_of(ctx), directory, now())
    data = {"origin": str(directory), "documents": [{"file": str(c.file), "written": c.written} for c in copies]}

    def human() -> None:
        for copy in copies:
            click.echo((_("{file}: written") if copy.written else _("{file}: unchanged")).format(file=copy.file))
        written = sum(copy.written for copy in copies)
        click.echo(_("Origin {origin}: {written} written, {unchanged} unchanged.").format(
            origin=directory, written=written, unchanged=len(copies) - written))

    emit(data, as_json, human)


@cli.command("reissue")
@option("--agency", required=True, help="Agency id.")
@option("--key", "old_kid", required=True, help="The kid of the key whose permits are re-issued.")
@option("--reason", default="signing key replaced", show_default=True, help="Recorded in the ledger for each permit.")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def reissue_cmd(ctx: click.Context, agency: str, old_kid: str, reason: str, as_json: bool) -> None:
    """Re-issue, under the agency's current key, every permit signed by KEY (after a compromise).

    Each becomes a new version; the status list is published. Safe to run again.

    Example: permit reissue --agency hcm-syt --key 3q2Xs9AbCdEf --reason "key compromised"
    """
    desk = desk_of(ctx, agency)
    records = desk.reissue(old_kid, reason, ProgressBar(_("Re-issuing"), _("permits"), delay=1.0))
    data = {"agency": agency, "old_key": old_kid, "new_key": desk.signer.kid, "count": len(records),
            "permits": [record_dict(desk.home, r) for r in records]}
    def human() -> None:
        click.echo(_("Re-issued {count} permit(s) of {agency} under key {kid}; status list published.").format(
            count=len(records), agency=agency, kid=data["new_key"]))
        for row in (record_dict(desk.home, r) for r in records):
            click.echo(f"  {row['id']} v{row['version']}  {row['holder']['name']}  {row['url']}")
    emit(data, as_json, human)


@cli.command("qr")
@click.argument("permit_id")
@option("--agency", help="Agency whose ledger holds it.")
@option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True, help="Output file, .png or .svg.")
@option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.pass_context
def qr_cmd(ctx: click.Context, permit_id: str, agency: str | None, out: Path, as_json: bool) -> None:
    """Write the QR code of a permit's current version (PNG or SVG).

    Example: permit qr 7KQ2M9XD --out permit.png
    """
    desk = desk_of_permit(ctx, permit_id, agency)
    record = desk.record(permit_id)
    url = qr.permit_url(desk.base_url, record.token)
    writers = {".png": qr.write_png, ".svg": qr.write_svg}
    if out.suffix.lower() not in writers:
        raise InputError(N_("--out must end in .png or .svg"), reason=Reason.BAD_OUTPUT)
    version = writers[out.suffix.lower()](url, out)
    emit({"id": permit_id, "file": str(out), "qr_version": version, "error_correction": "M", "url": url}, as_json, lambda: say(
        _("QR code (version {version}, error correction M) written to {file}").format(version=version, file=out), url))


@cli.command("print")
@click.argument("permit_id")
@option("--agency", help="Agency whose ledger holds it.")
@option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
        help="Output file: .pdf (printed by headless Chromium) or .html.")
@option("--json", "as_json", is_flag=True, help="Print what was written as JSON.")
@click.pass_context
def print_cmd(ctx: click.Context, permit_id: str, agency: str | None, out: Path, as_json: bool) -> None:
    """Write a permit in force as an A4 document to print or send: PDF or HTML, with its QR code.

    Example: permit print 7KQ2M9XD --out permit.pdf
    """
    kind = out.suffix.lower()
    if kind not in (".pdf", ".html"):
        raise InputError(N_("--out must end in .pdf or .html"), reason=Reason.BAD_OUTPUT)
    if kind == ".pdf":
        pdf.require_chromium()  # before any work, in one line
    desk = desk_of_permit(ctx, permit_id, agency)
    record = desk.record(permit_id)
    printed = printing.render(record, desk.registry, desk.base_url, desk.now)
    if kind == ".pdf":
        pdf.write_pdf(printed.html, out)
    else:
        write_atomic(out, printed.html.encode())
    data = {"id": record.permit.id, "version": record.permit.version, "file": str(out), "url": printed.url,
            "qr_version": printed.qr_version, "qr_size_mm": printed.qr_size_mm, "qr_module_mm": printed.qr_module_mm}

    def human() -> None:
        click.echo(_("Permit {id} (version {version}) written to {file}").format(**data))
        lang = current_language()
        click.echo(_("QR code version {qr_version}, printed {qr_size_mm} × {qr_size_mm} mm ({qr_module_mm} mm modules)").format(
            qr_version=printed.qr_version, qr_size_mm=printing.local_number(printed.qr_size_mm, lang),
            qr_module_mm=printing.local_number(printed.qr_module_mm, lang)))
    emit(data, as_json, human)


def _print_verdict(verdict: Verdict) -> None:
    lang = current_language()
    d = verdict.to_dict()
    mark = "✔" if verdict.valid else "✘"
    click.echo(paint(f"{mark} {STATUS_TEXT[verdict.status][lang]}", fg="green" if verdict.valid else "red", bold=True) + f" ({verdict.status})")
    for reason in verdict.reasons:
        click.echo(f"  - {REASON_TEXT[reason][lang]} [{reason}]")
    rows = []
    permit = d.get("permit")
    if permit:
        type_name = permit["type"].get("name", {}).get(lang, permit["type"]["code"])
        rows.append((_("Permit"), _("{type}: {number} (id {id}, version {version})").format(
            type=type_name, number=permit["number"], id=permit["id"], version=permit["version"])))
        rows.append((_("Holder"), f"{permit['holder']['name']} ({permit['holder']['id']})"))
        if "address" in permit["holder"]:
            rows.append((_("Address"), permit["holder"]["address"]))
        rows += [(_("Activity"), item) for item in permit["activities"]]
        rows += [(_("Condition"), item) for item in permit["conditions"]]
    if verdict.permit is not None:
        first = days.show_day(issuing.city_date(verdict.permit.valid_from))
        last = days.show_day(issuing.city_date(verdict.permit.valid_until - 1))
        rows.append((_("Valid"), _("{first} to {last} (Ho Chi Minh City time)").format(first=first, last=last)))
    if "issuer" in d:
        rows.append((_("Issuer"), f"{d['issuer']['name'][lang]} ({d['issuer']['id']})"))
    for basis in d.get("basis", ()):
        type_name = basis["type"].get("name", {}).get(lang, basis["type"]["code"])
        issuer = basis["issuer"].get("name", {}).get(lang, basis["issuer"]["id"])
        state = paint(BASIS_STATE_TEXT[basis["state"]][lang], fg="green" if basis["state"] in ("valid", "amended") else "red")
        rows.append((_("Based on"), _("{type} {id}, {issuer}: {state}").format(type=type_name, id=basis["id"], issuer=issuer, state=state)))
    rows.append((_("Checked"), _("{at} against registry version {version}").format(at=d["checked_at"], version=d["registry_version"])))
    labelled(rows)


@cli.command("verify")
@click.argument("token_or_url", required=False)
@option("--qr", "qr_image", type=click.Path(dir_okay=False, path_type=Path), help="Read the token from a QR code image.")
@option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@click.pass_context
def verify_cmd(ctx: click.Context, token_or_url: str | None, qr_image: Path | None, as_json: bool) -> None:
    """Verify a permit offline with this home's registry and status lists.

    Exit status: 0 valid, 1 not valid, 2 usage or input error.

    Example: permit verify "http://127.0.0.1:8000/v#1234…" --json
    """
    if (token_or_url is None) == (qr_image is None):
        raise click.UsageError(_("give a token or URL, or --qr IMAGE (one of them)"))
    text = read_qr(qr_image) if qr_image is not None else str(token_or_url)
    try:
        token = qr.token_from_input(text)
    except ValueError:
        token = text  # not a valid QR number: let the pipeline say malformed_token
    verdict = verify_in_home(home_of(ctx), token, now())
    emit(verdict.to_dict(), as_json, lambda: _print_verdict(verdict))
    if not verdict.valid:
        ctx.exit(EXIT_NOT_VALID)


@cli.command("serve")
@option("--config", "config_file", type=click.Path(dir_okay=False, path_type=Path),
        help="A gunicorn configuration file; it may also set the verifier's settings by their lower-case names (or PERMIT_CONFIG).")
@option("--bind", help="Address and port to listen on (PERMIT_BIND; default 127.0.0.1:8000).")
@option("--workers", type=int, help="Worker processes, one per core (PERMIT_WORKERS; default 2).")
@option("--threads", type=int, help="Threads per worker (PERMIT_THREADS; default 2; CPU-bound: more costs throughput, see bench/RESULTS.md).")
@option("--access-log", help="Access log file, '-' for standard output (PERMIT_ACCESS_LOG; default -).")
@option("--base-url", help="The verifier's public URL (PERMIT_BASE_URL; default: the home's base_url).")
@option("--registry-url", help="Pull the registry bundle from this URL (PERMIT_REGISTRY_URL).")
@option("--status-pull/--no-status-pull", default=None, help="Pull status lists from the URLs the registry gives (PERMIT_STATUS_PULL).")
@option("--refresh-interval", type=float, help="Seconds between pulls of each document (PERMIT_REFRESH_INTERVAL; default 60).")
@option("--grace", type=int, help="Seconds a document may be past its expiry and still count (PERMIT_GRACE; default 0).")
@option("--cors-origin", "cors_origins", multiple=True, help="An origin whose web pages may call the API; repeat for more (PERMIT_CORS_ORIGINS).")
@option("--log-format", type=click.Choice(["text", "json"]), help="Log lines as text or as JSON objects (PERMIT_LOG_FORMAT; default text).")
@option("--refuse-when-unready/--answer-when-unready", "refuse_when_unready", default=None,
        help="Answer verifications with 503 not_ready while not ready, for nodes behind a load balancer (PERMIT_REFUSE_WHEN_UNREADY).")
@click.pass_context
def serve_cmd(ctx: click.Context, /, config_file: Path | None, **flags: Any) -> None:
    """Run the verifier (JSON API and the page QR codes open) under gunicorn.

    The home needs anchor.json; registry.json and status lists are read from it, pulled
    (--registry-url, --status-pull) or pushed to the API. Each setting comes from its flag, else
    its PERMIT_* variable, else the configuration file, else its default.

    Example: permit serve --bind 127.0.0.1:8000 --workers 2
    """
    from verifier import settings
    from verifier.web.serve import gunicorn_setting_names, serve

    home = home_of(ctx)
    home.anchor()  # fail here, in one line, rather than in every worker
    config_path = config_file or (Path(os.environ["PERMIT_CONFIG"]) if os.environ.get("PERMIT_CONFIG") else None)
    file = settings.read_config_file(config_path, gunicorn_setting_names()) if config_path else None
    given = {name.upper(): value for name, value in flags.items()}
    given["CORS_ORIGINS"] = given["CORS_ORIGINS"] or None
    resolved = settings.resolve({**given, "HOME": str(home.path)}, os.environ, file, home.base_url)
    bind = resolved.gunicorn["bind"]
    click.echo(_("Verifier for {home} on http://{bind} (page: {page})").format(
        home=home.path, bind=bind if isinstance(bind, str) else " ".join(bind), page=f"{resolved.app['BASE_URL']}/v"))
    serve(resolved.app, resolved.gunicorn)


@cli.command("backup")
@option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The backup file to write (a tar file, mode 0600).")
@option("--json", "as_json", is_flag=True, help="Print the manifest's summary as JSON.")
@click.pass_context
def backup_cmd(ctx: click.Context, out: Path, as_json: bool) -> None:
    """Back up this home while it is in use: every ledger as one consistent snapshot, the
    registry and trust files, status lists, operator files and the encrypted private keys.

    Example: permit backup --out /srv/backup/hcm-2026-11-22.tar
    """
    manifest = backup_home(home_of(ctx), out, now())
    emit(_backup_summary(manifest, out), as_json, lambda: _print_backup(_("Backup written: {file}").format(file=out), manifest))


@cli.command("restore")
@click.argument("backup_file", type=click.Path(dir_okay=False, path_type=Path))
@option("--force", is_flag=True, help="Restore even over ledgers holding events the backup lacks, or settings that differ; "
                                      "never over another trust anchor or a newer registry or status list.")
@option("--json", "as_json", is_flag=True, help="Print what was restored as JSON.")
@click.pass_context
def restore_cmd(ctx: click.Context, backup_file: Path, force: bool, as_json: bool) -> None:
    """Restore a backup into this home (or a new one) once every file in it checks out.

    The home keeps its trust anchor, and its registry and status lists where they are newer than
    the backup's. Refused when a ledger here holds events the backup lacks, or the backup would
    change this home's settings (its base URL), unless --force.

    Example: permit --home ./hcm-restored restore /srv/backup/hcm-2026-11-22.tar
    """
    given = ctx.find_root().params.get("home")
    existed = given is not None and Path(given).exists()
    home = home_of(ctx, create=True)
    try:
        report = restore_home(home, backup_file, now(), force)
    except PermitError:
        if not existed:  # a refused restore into a new home leaves no empty home behind
            shutil.rmtree(home.path, ignore_errors=True)
        raise
    headline = _("Restored {file} into {home}").format(file=backup_file, home=home.path)
    data = {**_backup_summary(report.manifest, backup_file), "home": str(home.path), "forced": force,
            "installed": list(report.installed), "kept": [{"path": k.path, "why": k.why} for k in report.kept],
            "settings_changed": [{"name": c.name, "before": c.before, "after": c.after} for c in report.settings_changed],
            "lost": [{"agency": x.agency, "first_event": x.first_seq, "last_event": x.last_seq, "kinds": x.kinds,
                      "last_at": iso(x.last_at)} for x in report.lost]}
    emit(data, as_json, lambda: _print_restore(headline, report))


def _print_restore(headline: str, report: RestoreReport) -> None:
    _print_backup(headline, report.manifest)
    for kept in report.kept:
        click.echo(_("Kept this home's {path}: {why}").format(path=kept.path, why=kept.why))
    for change in report.settings_changed:
        click.echo(_("Setting changed: {change}").format(change=change))
    for lost in report.lost:
        click.echo(_("Rolled back, as forced: {lost}").format(lost=lost))


def _backup_summary(manifest: Manifest, file: Path) -> dict[str, Any]:
    data = manifest.to_dict()
    return {"file": str(file), "created_at": data["created_at"], "registry_version": data["registry_version"],
            "files": len(data["files"]), "ledgers": data["ledgers"]}


def _print_backup(headline: str, manifest: Manifest) -> None:
    data = manifest.to_dict()
    click.echo(headline)
    for agency, facts in data["ledgers"].items():
        click.echo(_("  {agency}: {permits} permit(s), {events} event(s), last event {seq}").format(
            agency=agency, permits=facts["permits"], events=facts["events"], seq=facts["last_event_seq"]))
    click.echo(_("{files} file(s), registry version {version}, taken at {time}").format(
        files=len(data["files"]), version=data["registry_version"] or "-", time=data["created_at"]))


@cli.command("demo")
@option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("demo-home"), show_default=True,
        help="Where to build the demo (replaced if it holds a previous demo).")
@option("--serve/--no-serve", "and_serve", default=False, help="Then run the verifier on 127.0.0.1:8000.")
@option("--bind", default="127.0.0.1:8000", show_default=True, help="Address and port of the verifier.")
def demo_cmd(directory: Path, and_serve: bool, bind: str) -> None:
    """Build a demo registry for Ho Chi Minh City, issue sample permits and verify them.

    Example: permit demo --dir demo-home --serve
    """
    from permits.demo import build_demo, once_only, revoke_basis
    from verifier.basis import basis_reader

    base_url = f"http://{bind}"
    home, urls = build_demo(directory, click.echo, base_url)
    story = once_only(home, click.echo, basis_reader)
    once = [story.registration, *story.resting]
    click.echo("\n" + _("Verifying, offline, with the published registry and status lists:"))
    for label, url in urls:
        _demo_verdict(home, label, qr.token_from_input(url))
    for record in once:
        _demo_verdict(home, "valid", record.token, story=True)
    revoke_basis(home, story, click.echo)
    click.echo(_("Verifying the three again:"))
    for record in once:
        _demo_verdict(home, "revoked", record.token, story=True)
    click.echo("\n" + _("Home: {directory}/ (PERMIT_HOME={directory} permit list)").format(directory=directory))
    if and_serve:
        from verifier.web.serve import serve

        click.echo("\n" + _("The verifier is starting on {url}. Open a permit's page:").format(url=base_url))
        for label, url in urls:
            click.echo(f"  {label:<9} {url}")
        click.echo("  " + _("once only: the business registration, then the two permits resting on it:"))
        for record in once:
            click.echo(f"  {'revoked':<9} {qr.permit_url(base_url, record.token)}")
        click.echo(_("Stop it with Ctrl-C.") + "\n")
        serve({"HOME": str(directory), "BASE_URL": base_url}, {"bind": bind, "workers": 2, "threads": 2, "accesslog": "-"})


def _demo_verdict(home: Home, label: str, token: str, story: bool = False) -> None:
    """One line of the demo: what it expects, the verdict and its reasons; then each basis of
    the permit with its state. A story's permit is named by type and id (one holder for all)."""
    lang = current_language()
    verdict = verify_in_home(home, token, int(time.time()))
    shown = STATUS_TEXT[verdict.status]
    d = verdict.to_dict()
    reasons = ", ".join(verdict.reasons) or _("all checks passed")
    if verdict.permit is None:
        what = _("(content not shown: not genuine)")
    elif story:  # by its id, as the permits resting on it name it
        what = _("{type} {id}, number {number}").format(type=d["permit"]["type"].get("name", {}).get(lang, verdict.permit.type),
                                                        id=verdict.permit.id, number=verdict.permit.number)
    else:
        what = verdict.permit.holder_name
    click.echo(f"  {label:<9} → {shown['en']} / {shown['vi']}  [{reasons}]  {what}")
    for basis in d.get("basis", ()):
        click.echo(" " * 14 + _("based on {type} {id} ({issuer}): {state}").format(
            type=basis["type"].get("name", {}).get(lang, basis["type"]["code"]), id=basis["id"],
            issuer=basis["issuer"].get("name", {}).get(lang, basis["issuer"]["id"]), state=BASIS_STATE_TEXT[basis["state"]][lang]))


def main() -> None:
    cli.main(prog_name="permit")


if __name__ == "__main__":
    main()
