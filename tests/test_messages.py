"""Vietnamese throughout: every message has a Vietnamese translation in the gettext catalogue,
every reason code a sentence in both languages, and the CLI speaks Vietnamese when asked
(`--lang vi` anywhere, PERMIT_LANG, or the locale), help and click's own words included."""

from __future__ import annotations

import gettext
import io
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from click.testing import CliRunner, Result
from messages import MO, check, collect, compiled, help_texts, read_catalogue

from cli import cli
from keys.reasons import VERDICT_REASONS, Reason
from permits.i18n import both, language_from_environment, translate
from verifier.reasons import REASON_TEXT, STATUS_SENTENCE, STATUS_TEXT
from verifier.verdict import STATUSES
from verifier.web.page import UI_TEXT

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [*ROOT.glob("keys/*.py"), *ROOT.glob("permits/*.py"), *ROOT.glob("verifier/**/*.py"), ROOT / "cli.py"]


def run(*args: str, env: dict[str, str | None] | None = None, color: bool = False) -> Result:
    base: dict[str, str | None] = {"PERMIT_LANG": None, "LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": None, "NO_COLOR": None}
    return CliRunner().invoke(cli, list(args), env={**base, **(env or {})}, color=color, catch_exceptions=False, prog_name="permit")


# --- the catalogue ---------------------------------------------------------------------------


def test_every_message_has_a_vietnamese_translation_with_the_same_fields() -> None:
    messages = collect()
    assert len(messages) > 300  # the collector finds the CLI's help, its messages and click's
    assert check(read_catalogue(), messages) == []


def test_the_catalogue_holds_no_message_the_code_no_longer_uses() -> None:
    used = {m[0] if isinstance(m, tuple) else m for m in collect()}
    held = {entry.id[0] if isinstance(entry.id, tuple) else entry.id for entry in read_catalogue() if entry.id}
    assert held - used == set(), "run `make messages`"


def test_the_compiled_catalogue_is_the_one_the_po_file_describes() -> None:
    with MO.open("rb") as f:
        loaded = read_mo(f)
    expected = read_mo(io.BytesIO(compiled(read_catalogue())))

    def entries(catalogue: Catalog) -> list[tuple[object, object, object]]:
        return sorted(((m.id, m.context, m.string) for m in catalogue), key=repr)

    assert entries(loaded) == entries(expected), "permit.mo is out of date: run `make messages`"


def test_the_help_of_every_command_and_option_is_collected() -> None:
    texts = set(help_texts(cli))
    assert "Show a permit, its current token and URL, and its event history.\n\nExample: permit show 7KQ2M9XD" in texts
    assert "Rows per transaction (one commit each) [default: 5000]." in texts


# --- reason codes ----------------------------------------------------------------------------


def test_every_reason_has_a_sentence_in_vietnamese_and_english() -> None:
    assert set(REASON_TEXT) == VERDICT_REASONS
    assert set(STATUS_SENTENCE) == set(STATUSES)
    assert {"permit_not_found", "already_revoked", "unsupported_media_type", "bad_language"} <= {r.value for r in Reason}
    for reason in Reason:
        assert reason.name == reason.value.upper() and Reason.of(reason.value) is reason
        text = both(reason.sentence)
        assert text["en"] == reason.sentence and text["vi"] and text["vi"] != reason.sentence, reason
    for english in STATUS_SENTENCE.values():
        text = both(english)
        assert text["en"] == english and text["vi"] and text["vi"] != english, english
    assert Reason.of("no_such_reason") is None


def test_the_tables_the_page_and_api_users_read_come_from_the_catalogue() -> None:
    assert REASON_TEXT["revoked"] == {"vi": "Cơ quan cấp đã thu hồi giấy phép này.", "en": "The issuing agency has revoked this permit."}
    assert STATUS_TEXT["valid"] == {"vi": "HỢP LỆ", "en": "VALID"}
    assert UI_TEXT["title"] == {"vi": "Kiểm tra giấy phép điện tử", "en": "Check an electronic permit"}
    assert translate("Check an electronic permit", "vi") == "Kiểm tra giấy phép điện tử"


# --- choosing the language -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "lang"),
    [
        ({}, "en"),
        ({"LANG": "vi_VN.UTF-8"}, "vi"),
        ({"LANG": "en_US.UTF-8"}, "en"),
        ({"LC_ALL": "vi_VN", "LANG": "en_US.UTF-8"}, "vi"),
        ({"LANGUAGE": "vi:en", "LANG": "C.UTF-8"}, "vi"),
        ({"PERMIT_LANG": "en", "LANG": "vi_VN.UTF-8"}, "en"),
        ({"PERMIT_LANG": "vi"}, "vi"),
    ],
)
def test_the_language_comes_from_permit_lang_then_the_locale(environ: dict[str, str], lang: str) -> None:
    assert language_from_environment(environ) == lang


def test_help_is_in_vietnamese_with_lang_vi_anywhere_on_the_line() -> None:
    english = run("list", "--help").stdout
    for args in (["--lang", "vi", "list", "--help"], ["list", "--help", "--lang=vi"], ["list", "--lang", "vi", "--help"]):
        out = run(*args).stdout
        assert out != english
        assert out.startswith("Cách dùng: permit list")
        assert "Ví dụ: permit list --agency hcm-syt --state active" in " ".join(out.split())
        assert translate("Only this agency's ledger.", "vi") in " ".join(out.split())
    assert english.startswith("Usage: permit list")


def test_the_locale_alone_makes_the_cli_speak_vietnamese() -> None:
    assert run("--help", env={"LANG": "vi_VN.UTF-8"}).stdout.startswith("Cách dùng: permit")
    assert run("--help", env={"LANG": "vi_VN.UTF-8", "PERMIT_LANG": "en"}).stdout.startswith("Usage: permit")


def test_every_command_has_vietnamese_help() -> None:
    def paths(group=cli, prefix=()):  # type: ignore[no-untyped-def]
        for name, command in group.commands.items():
            yield (*prefix, name)
            if hasattr(command, "commands"):
                yield from paths(command, (*prefix, name))

    for path in paths():
        vi = run("--lang", "vi", *path, "--help")
        en = run(*path, "--help")
        assert vi.exit_code == en.exit_code == 0
        assert vi.stdout != en.stdout, path
        assert "Tùy chọn" in vi.stdout, path


def test_an_error_in_vietnamese_gives_the_reason_sentence_and_keeps_the_detail(tmp_path: Path) -> None:
    result = run("--lang", "vi", "show", "ABCD1234", env={"PERMIT_HOME": str(tmp_path / "none")})
    assert result.exit_code == 2
    sentence = translate(Reason.HOME_MISSING.sentence, "vi")
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Lỗi: [home_missing] " + sentence + " (permit home ")
    english = run("show", "ABCD1234", env={"PERMIT_HOME": str(tmp_path / "none")})
    assert english.stderr.startswith("Error: [home_missing] permit home ") and "Lỗi" not in english.stderr


def test_clicks_own_usage_errors_are_in_vietnamese_too() -> None:
    result = run("--lang", "vi", "issue", "--agency", "hcm-syt")
    assert result.exit_code == 2
    assert "Lỗi: " in result.stderr and translate("Missing option", "vi") in result.stderr


def test_an_unknown_language_is_one_line_and_exit_2() -> None:
    result = run("--lang", "fr", "list")
    assert result.exit_code == 2
    assert result.stderr == "Error: [bad_language] --lang must be one of vi, en, not 'fr'\n"
    result = run("list", "--lang")
    assert result.exit_code == 2
    assert result.stderr == "Error: [bad_language] --lang needs a value: vi or en\n"


def test_the_language_of_one_run_does_not_leak_into_the_next() -> None:
    assert run("--lang", "vi", "--help").stdout.startswith("Cách dùng")
    assert run("--help").stdout.startswith("Usage:")
    assert gettext.textdomain() == "messages"
