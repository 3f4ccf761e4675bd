"""Translations: messages are written in English where they are used; Vietnamese comes from a
standard gettext catalogue, permits/locale/vi/LC_MESSAGES/permit.po (compiled to permit.mo).

- `_("…")` translates now, into the language of this command (the CLI sets it once per run);
- `N_("…")` only marks a message for the catalogue, to be translated later with `translate`
  (tables of reason sentences, page labels: they are shown in both languages);
- `translate(message, lang)` for one language, `both(message)` for {"vi": …, "en": …}.

`make messages` extracts every marked message (and every command's help) into permit.po and
compiles permit.mo; tests/test_messages.py fails when a message has no Vietnamese. It lives in
permits/ because that is the lowest layer that shows text to people (the printed permit).
"""

from __future__ import annotations

import gettext
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path

from keys.errors import PermitError, Term

# The marker, defined at the bottom layer where the first messages are written: the reasons.
from keys.reasons import N_ as N_

DOMAIN = "permit"
LOCALE_DIR = Path(__file__).with_name("locale")
LANGUAGES = ("vi", "en")
SOURCE_LANGUAGE = "en"

_language: ContextVar[str] = ContextVar("permit_language", default=SOURCE_LANGUAGE)


@cache
def catalogue(lang: str) -> gettext.NullTranslations:
    if lang not in LANGUAGES:
        raise ValueError(f"no catalogue for language {lang!r}")
    if lang == SOURCE_LANGUAGE:
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[lang])


def translate(message: str, lang: str) -> str:
    return catalogue(lang).gettext(message)


def translate_plural(singular: str, plural: str, n: int, lang: str) -> str:
    return catalogue(lang).ngettext(singular, plural, n)


def both(message: str) -> dict[str, str]:
    return {lang: translate(message, lang) for lang in LANGUAGES}


def error_detail(error: PermitError, lang: str) -> str:
    """An error's own line in `lang`: its template translated and filled in, its Term fields
    translated too, when the catalogue has it (an error raised with a template marked N_());
    else its English line."""
    translated = translate(error.template, lang)
    if translated == error.template:
        return error.message
    if not error.params:
        return translated
    return translated.format(**{name: translate(value, lang) if isinstance(value, Term) else value
                                for name, value in error.params.items()})


def _(message: str) -> str:
    return translate(message, _language.get())


def ngettext(singular: str, plural: str, n: int) -> str:
    return translate_plural(singular, plural, n, _language.get())


def current_language() -> str:
    return _language.get()


@contextmanager
def language(lang: str) -> Iterator[None]:
    """Messages in `lang` within the block (the CLI wraps each run in it)."""
    catalogue(lang)  # fail early on an unknown language
    token = _language.set(lang)
    try:
        yield
    finally:
        _language.reset(token)


def language_from_environment(environ: Mapping[str, str] = os.environ) -> str:
    """PERMIT_LANG, else the POSIX locale variables in gettext's order: "vi…" means Vietnamese."""
    for name in ("PERMIT_LANG", "LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name)
        if value:
            return "vi" if value.split(":")[0].lower().startswith("vi") else SOURCE_LANGUAGE
    return SOURCE_LANGUAGE
