"""Vietnamese throughout: every message has a Vietnamese translation in the gettext catalogue,
every reason code a sentence in both languages, and the CLI speaks Vietnamese when asked
(`--lang vi` anywhere, PERMIT_LANG, or the locale), help and click's own words included."""

from __future__ import annotations

import gettext
import io
import json
import re
import shutil
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import read_mo
from click.testing import CliRunner, Result
from conftest import NOW, PASSPHRASE, City
from messages import MO, check, collect, compiled, help_texts, read_catalogue

import cli as cli_module
from cli import cli
from keys.reasons import N_, VERDICT_REASONS, Reason
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


def test_an_error_in_vietnamese_gives_the_reason_sentence_and_its_detail_in_vietnamese(tmp_path: Path) -> None:
    home = tmp_path / "none"
    result = run("--lang", "vi", "show", "ABCD1234", env={"PERMIT_HOME": str(home)})
    assert result.exit_code == 2
    sentence = translate(Reason.HOME_MISSING.sentence, "vi")
    assert result.stderr == (f"Lỗi: [home_missing] {sentence} (thư mục dữ liệu {home} không tồn tại; hãy đặt PERMIT_HOME hoặc --home, "
                             "hoặc chạy: permit registry init)\n")
    english = run("show", "ABCD1234", env={"PERMIT_HOME": str(home)})
    assert english.stderr == (f"Error: [home_missing] permit home {home} does not exist; set PERMIT_HOME or --home, or run: "
                              "permit registry init\n")


def test_a_detail_the_catalogue_lacks_stays_as_it_was_written(tmp_path: Path) -> None:
    """An error raised with a plain line (not a template marked N_()) keeps its English detail
    after the Vietnamese sentence: the detail is never lost."""
    from keys.errors import InputError, Term
    from permits.i18n import error_detail

    plain = InputError("cannot read registry.json: Permission denied", reason=Reason.BAD_REGISTRY_FILE)
    assert error_detail(plain, "vi") == "cannot read registry.json: Permission denied"
    templated = InputError(N_("permit {id} is {state}; only an active permit can be amended"), reason=Reason.INVALID_TRANSITION,
                           id="K60N9173", state=Term("revoked"))
    assert templated.message == "permit K60N9173 is revoked; only an active permit can be amended"
    assert error_detail(templated, "vi") == "giấy phép K60N9173 đang bị thu hồi; chỉ giấy phép còn hiệu lực mới được sửa đổi"
    assert error_detail(templated, "en") == templated.message


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


# --- the officer's day, in Vietnamese -------------------------------------------------------------

_CODE = re.compile(r"\[[a-z_]+\]|\((?:valid|invalid|revoked|suspended|superseded|expired|not_yet_valid|status_unknown)\)")
_NOT_WORDS = re.compile(r"https?://\S+|(?<!\w)/\S+|--[a-z-]+|PERMIT_[A-Z_]+|permit(?: [a-z][a-z-]*)+|\S*[\d_.-]\S*|\b[A-Z]{2,}\w*"
                        r"|'[^']*'|H[ồo] Ch[íi] Minh")


def english_words(text: str) -> set[str]:
    """The words of `text` that could be English: runs of at least four ASCII letters, once
    codes, commands, options, paths, URLs, identifiers, acronyms, quoted values and the city's
    name (what both languages share) are taken out."""
    text = _NOT_WORDS.sub(" ", _CODE.sub(" ", text))
    return {word.lower() for word in re.findall(r"(?<![^\W\d_])[A-Za-z]{4,}(?![^\W\d_])", text)}


def test_the_officers_life_cycle_in_vietnamese_says_nothing_in_english(city: City, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command of an officer's day, its refusals included, run once in English and once in
    Vietnamese in two copies of one home: no English word of the first run is in the second."""
    homes = {lang: tmp_path / lang for lang in ("en", "vi")}
    for home in homes.values():
        shutil.copytree(city.home.path, home)
    csv_file = tmp_path / "giay-phep-cu.csv"
    csv_file.write_text("number;holder_id;holder_name;valid_until\n01/2024/ATTP;0301112223;Hộ kinh doanh Phở Hòa;14/03/2027\n"
                        "02/2024/ATTP;;Công ty B;31/02/2027\n", encoding="utf-8")
    holder = ["--agency", "hcm-syt", "--type", "food-safety", "--holder-id", "0312345678", "--holder-name", "Công ty TNHH Sạch"]
    outputs: dict[str, str] = {}
    for lang, home in homes.items():
        clock = iter(range(NOW, NOW + 1000))
        monkeypatch.setattr(cli_module, "now", lambda clock=clock: next(clock))
        env: dict[str, str | None] = {"PERMIT_HOME": str(home), "PERMIT_PASSPHRASE": PASSPHRASE.decode(), "PERMIT_OFFICER": "nguyen.van.a"}

        def permit(*args: str | Path, more: dict[str, str] | None = None, lang: str = lang, env: dict[str, str | None] = env) -> Result:
            return run("--lang", lang, *map(str, args), env={**env, **(more or {})})

        first = permit("issue", *holder, "--holder-address", "12 Lê Lợi", "--activity", "Sản xuất bánh mì", "--condition", "Kiểm tra định kỳ",
                       "--number", "123/2026/GCN-ATTP", "--valid-until", "30/06/2029")
        permit_id = json.loads(permit("issue", *holder, "--valid-until", "30/06/2029", "--json").stdout)["id"]
        url = json.loads(permit("show", permit_id, "--json").stdout)["url"]
        steps = [
            first, permit("show", permit_id), permit("list"), permit("list", "--limit", "1"), permit("list", "--state", "expired"),
            permit("qr", permit_id, "--out", tmp_path / f"{lang}.png"), permit("print", permit_id, "--out", tmp_path / f"{lang}.html"),
            permit("status", "publish", "--agency", "hcm-syt"), permit("verify", url),
            permit("amend", permit_id, "--holder-address", "45 Lê Lợi", "--reason", "chuyển địa điểm"),
            permit("suspend", permit_id, "--reason", "chờ kiểm tra"), permit("suspend", permit_id, "--reason", "chờ kiểm tra"),
            permit("reinstate", permit_id), permit("reinstate", permit_id), permit("revoke", permit_id, "--reason", "ngừng hoạt động"),
            permit("revoke", permit_id, "--reason", "ngừng hoạt động"), permit("suspend", permit_id, "--reason", "x"),
            permit("amend", permit_id, "--holder-name", "Tên mới", "--reason", "đổi tên"), permit("print", permit_id, "--out", tmp_path / "x.html"),
            permit("show", permit_id), permit("import", csv_file, "--agency", "hcm-syt", "--type", "food-safety"),
            permit("show", "NOPE1234"), permit("issue", *holder, "--number", "123/2026/GCN-ATTP", "--valid-until", "30/06/2029"),
            permit("issue", *holder, "--valid-until", "30/06/2035"), permit("issue", *holder, "--valid-until", "30/06/2020"),
            permit("issue", *holder, "--valid-until", "31/02/2029"), permit("issue", *holder[:3], "construction", *holder[4:], "--valid-until", "30/06/2029"),
            permit("issue", *holder[:5], "0312 345", *holder[6:], "--valid-until", "30/06/2029"),
            permit("qr", permit_id, "--out", tmp_path / "permit.gif"),
            permit("issue", *holder, "--valid-until", "30/06/2029", more={"PERMIT_BASE_URL": "http://127.0.0.1:8000"}),
            permit("issue", *holder, "--valid-until", "30/06/2029", more={"PERMIT_PASSPHRASE": "not the passphrase"}),
        ]
        outputs[lang] = "\n".join(step.stdout + step.stderr for step in steps)
    assert outputs["vi"].count("Lỗi: [") == outputs["en"].count("Error: [") == 16
    english = english_words(outputs["en"])
    assert {"issued", "amended", "revoked", "already", "permit", "showing"} <= english
    codes = set(city.registry.types)  # a permit type's code is the same in both languages
    assert english_words(outputs["vi"]) & english - codes == set()
