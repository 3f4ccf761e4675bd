"""Not a test: the message catalogue's tool. `make messages` runs it (like tests/vectors/generate.py,
it lives with the tests that check its output).

It collects every message people read: the `_()`, `N_()` and `ngettext()` calls in permits/,
verifier/ and cli.py, the help of every `permit` command and option, and click's own messages
("Usage:", "Missing option …"); merges them into permits/locale/vi/LC_MESSAGES/permit.po
(keeping the translations it has, dropping messages no longer used) and compiles permit.mo.
tests/test_messages.py runs `collect` and `check` to fail on a message without Vietnamese.
"""

from __future__ import annotations

import inspect
import io
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import click
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from permits.i18n import DOMAIN, LOCALE_DIR  # noqa: E402

PO = LOCALE_DIR / "vi" / "LC_MESSAGES" / f"{DOMAIN}.po"
MO = PO.with_suffix(".mo")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
SOURCES = ("keys", "permits", "verifier")
HEADER = "# Vietnamese translations of the permit service's messages.\n# `make messages` extracts new messages here and compiles permit.mo."
# Fixed, so that the catalogue changes only when a message does.
DATE = datetime(2026, 11, 30, tzinfo=UTC)

Message = str | tuple[str, str]  # a message, or (singular, plural)


def _from_source() -> Iterator[tuple[Message, str]]:
    for package in SOURCES:
        for filename, lineno, message, _comments, _context in extract_from_dir(
            ROOT / package, method_map=[("**.py", "python")], keywords=KEYWORDS
        ):
            yield message, f"{package}/{filename}:{lineno}"
    for lineno, message, _comments, _context in extract_from_file("python", ROOT / "cli.py", keywords=KEYWORDS):
        yield message, f"cli.py:{lineno}"


def _from_click() -> Iterator[tuple[Message, str]]:
    """click marks its own messages for the default gettext domain; ours answers for it."""
    for filename, lineno, message, _comments, _context in extract_from_dir(
        Path(click.__file__).parent, method_map=[("**.py", "python")], keywords={"_": None, "ngettext": (1, 2)}
    ):
        yield message, f"click/{filename}:{lineno}"


def help_texts(command: click.Command) -> Iterator[str]:
    """The help of a command, its options and its subcommands, as the CLI translates them."""
    if command.help:
        yield inspect.cleandoc(command.help)
    for param in command.params:
        if isinstance(param, click.Option) and param.help:
            yield param.help
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            yield from help_texts(sub)


def _from_help() -> Iterator[tuple[Message, str]]:
    from cli import cli

    for text in help_texts(cli):
        yield text, "cli.py:help"


def collect() -> dict[Message, list[str]]:
    """Every message, with where it is used."""
    found: dict[Message, list[str]] = {}
    for message, where in (*_from_source(), *_from_help(), *_from_click()):
        if message and (not isinstance(message, tuple) or all(message)):
            found.setdefault(message, []).append(where)
    return found


def read_catalogue() -> Catalog:
    with PO.open("rb") as f:
        return read_po(f, locale="vi", domain=DOMAIN)


def _fields(text: str) -> set[str]:
    return set(re.findall(r"\{([^{}]*)\}", text))


def check(catalogue: Catalog, messages: dict[Message, list[str]]) -> list[str]:
    """What is wrong: a message without Vietnamese, or a translation whose {fields} differ
    from the English (str.format would fail, or a value would go missing)."""
    problems = []
    for message, where in messages.items():
        msgid = message[0] if isinstance(message, tuple) else message
        entry = catalogue.get(msgid)
        translations = [] if entry is None else ([entry.string] if isinstance(entry.string, str) else list(entry.string))
        if entry is None or entry.fuzzy or not translations or not all(translations):
            problems.append(f"no Vietnamese for {msgid!r} ({where[0]})")
            continue
        english = message if isinstance(message, tuple) else (message,)
        wanted = set().union(*(_fields(text) for text in english))
        for text in translations:
            if _fields(text) != wanted and _fields(text) != _fields(english[0]):
                problems.append(f"fields {sorted(_fields(text))} in the Vietnamese of {msgid!r}, want {sorted(wanted)}")
    return problems


def compiled(catalogue: Catalog) -> bytes:
    out = io.BytesIO()
    write_mo(out, catalogue)
    return out.getvalue()


def update(seeds: list[Path] = []) -> list[str]:  # noqa: B006 (read only)
    """Merge the messages into permit.po (translations from `seeds`, other .po files, fill the
    gaps), compile permit.mo; return what still lacks Vietnamese."""
    known = [read_catalogue()] if PO.exists() else []
    for seed in seeds:
        with seed.open("rb") as f:
            known.append(read_po(f, locale="vi", domain=DOMAIN))
    new = Catalog(locale="vi", domain=DOMAIN, project="hcm-permits", version="1", header_comment=HEADER, fuzzy=False,
                  creation_date=DATE, revision_date=DATE, last_translator="hcm-permits", language_team="hcm-permits")
    messages = collect()
    for message, where in messages.items():
        msgid = message[0] if isinstance(message, tuple) else message
        found = [entry.string for catalogue in known if (entry := catalogue.get(msgid)) is not None and not entry.fuzzy and entry.string
                 and all(entry.string if isinstance(entry.string, tuple) else [entry.string])]
        string = found[0] if found else ("",) if isinstance(message, tuple) else ""
        if isinstance(message, tuple) and isinstance(string, str):
            string = (string,)
        # Files only, not line numbers: the catalogue should not change when code moves.
        locations = sorted({(w.rsplit(":", 1)[0], None) for w in where})
        # (Not on plural messages: Vietnamese has one form, which may use either English form's fields.)
        brace = bool(_fields(msgid)) and not isinstance(message, tuple)
        new.add(message, string, locations=locations[:4], flags={"python-brace-format"} if brace else ())
    with PO.open("wb") as f:
        write_po(f, new, width=100, sort_by_file=False, omit_header=False, include_previous=False)
    MO.write_bytes(compiled(read_catalogue()))
    return check(read_catalogue(), messages)


if __name__ == "__main__":
    missing = update([Path(arg) for arg in sys.argv[1:]])
    print(f"{PO.relative_to(ROOT)}: {len(collect())} messages, {len(missing)} without Vietnamese")
    for line in missing:
        print("  " + line)
    sys.exit(1 if missing else 0)
