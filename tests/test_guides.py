"""The guides are tested. The integrator guide's curl and Python examples run against a real
verifier (`permit serve`, gunicorn on 127.0.0.1) and must print what the guide says they print,
and its tables name every status, every verdict reason and every error reason the code has. The
officer's guides (both languages) and the operator's guide are each run as one session, every
command in order, and every output block they show is compared with what its command printed
(tests/sessions.py says how; the second half of this file); no other page shows an output no test
compares.

How docs/integrator.md marks an example: an HTML comment (invisible once rendered),

    <!-- run: TOKEN=revoked -->

then the example (a ```sh or ```python block), then its output (```json, compared as JSON
values, or ```text, compared line by line). Every sh and python block of the guide must be
marked, so no example escapes the test. The comment names the permit the example was run with
(`valid`, `revoked`, `forged`, `valid-qr-url`) and any other variable the guide tells
integrators to set; VERIFIER, the verifier's base URL, is always set. Only what changes by
nature from run to run is normalised before comparing: times and dates, ages in seconds,
permit ids, ETags.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sessions
from conftest import DAY, KEYS_FROM, NOW, PASSPHRASE, City, Served, passphrase, start_server
from forge import claims_of, compress

from keys.encoding import b64url_encode, dumps_canonical
from keys.reasons import VERDICT_REASONS, Reason
from permits import issuing, operator, publishing, qr
from permits.home import Home
from permits.ledger import ID_ALPHABET
from verifier.reasons import REASON_TEXT, STATUS_TEXT
from verifier.verdict import STATUSES, status_for
from verifier.web import api, errors

ROOT = Path(__file__).parent.parent
GUIDE = ROOT / "docs" / "integrator.md"
GUIDE_VERIFIER = "https://xacminh.example"  # VERIFIER as the guide sets it

# --- reading the guide --------------------------------------------------------------------------

FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
MARKER = re.compile(r"<!-- run(?::([^>]*))? -->")
RUNNABLE = {"sh": "sh", "bash": "sh", "python": "python"}


@dataclass(frozen=True)
class Example:
    line: int
    language: str  # sh or python
    code: str
    variables: dict[str, str]  # name in the guide → what the test sets it to
    output_language: str  # json or text
    output: str

    @property
    def id(self) -> str:
        return f"line{self.line}-{self.language}-" + "-".join(self.variables.values())


def examples(text: str) -> list[Example]:
    blocks = [(m.start(), m.group(1), m.group(2)) for m in FENCE.finditer(text)]
    found = []
    for marker in MARKER.finditer(text):
        following = [b for b in blocks if b[0] > marker.end()]
        assert len(following) >= 2, f"the example marked at offset {marker.start()} has no code and output blocks"
        (start, language, code), (_, output_language, output) = following[:2]
        assert language in RUNNABLE, f"a run marker must precede a sh or python block, not {language!r}"
        assert output_language in ("json", "text"), f"the output of an example is a json or text block, not {output_language!r}"
        variables = dict(pair.split("=", 1) for pair in (marker.group(1) or "").split())
        found.append(Example(text.count("\n", 0, start) + 1, RUNNABLE[language], code, variables, output_language, output))
    return found


GUIDE_TEXT = GUIDE.read_text(encoding="utf-8")
EXAMPLES = examples(GUIDE_TEXT)


def test_every_example_of_the_guide_is_run() -> None:
    code_blocks = [m for m in FENCE.finditer(GUIDE_TEXT) if m.group(1) in RUNNABLE]
    run = {example.line for example in EXAMPLES}
    unmarked = [GUIDE_TEXT.count("\n", 0, m.start()) + 1 for m in code_blocks]
    assert sorted(set(unmarked) - run) == [], "sh/python blocks without a <!-- run --> marker at these lines"


def test_the_python_examples_need_only_the_standard_library() -> None:
    for example in EXAMPLES:
        if example.language == "python":
            imported = set()
            for node in ast.walk(ast.parse(example.code)):
                if isinstance(node, ast.Import):
                    imported |= {alias.name.split(".")[0] for alias in node.names}
                elif isinstance(node, ast.ImportFrom) and node.module:
                    imported.add(node.module.split(".")[0])
            assert imported <= sys.stdlib_module_names, (example.line, imported - sys.stdlib_module_names)


def test_the_examples_cover_a_valid_a_revoked_and_a_forged_permit_and_errors() -> None:
    tokens = {example.variables.get("TOKEN") for example in EXAMPLES}
    assert {"valid", "revoked", "forged"} <= tokens
    assert {e.language for e in EXAMPLES} == {"sh", "python"}
    assert any('"error"' in e.output for e in EXAMPLES)
    for status in ("valid", "revoked", "invalid"):
        assert any(f'"status": "{status}"' in e.output for e in EXAMPLES), status


# --- comparing outputs --------------------------------------------------------------------------

_VARYING_TEXT = [
    (re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"), "<time>"),
    (re.compile(r"\b\d{4}-\d\d-\d\d\b"), "<date>"),
    (re.compile(r"\b1\d{9}\b"), "<unix-time>"),
    (re.compile(r'"[0-9a-f]{32}"'), '"<etag>"'),
]


def normal_text(text: str) -> str:
    for pattern, replacement in _VARYING_TEXT:
        text = pattern.sub(replacement, text)
    return text


def normal_json(value: Any, key: str = "", parent: str = "") -> Any:
    if isinstance(value, dict):
        return {k: normal_json(v, k, key) for k, v in value.items()}
    if isinstance(value, list):
        return [normal_json(v, key, parent) for v in value]
    if key == "age_seconds" and isinstance(value, int):
        return "<seconds>"
    if key == "id" and parent in ("permit", "superseded_by", "basis"):
        return "<permit id>"
    if isinstance(value, str):
        return normal_text(value)
    return value


def json_values(text: str) -> list[Any]:
    decoder, values, at = json.JSONDecoder(), [], 0
    text = text.strip()
    while at < len(text):
        value, at = decoder.raw_decode(text, at)
        values.append(value)
        while at < len(text) and text[at].isspace():
            at += 1
    return values


# --- the verifier the examples talk to ----------------------------------------------------------


@dataclass
class Verifier:
    url: str
    variables: dict[str, str]  # marker value → what the variable is set to


def forged_from(token: str, record: Any) -> str:
    """The token with its holder's name changed and the original signature kept: what someone
    who edits a genuine permit produces."""
    header, _, signature = token.split(".")
    claims = claims_of(record.permit, permit_name="Công ty TNHH Giả Mạo")
    return f"{header}.{b64url_encode(compress(dumps_canonical(claims)))}.{signature}"


@pytest.fixture(scope="module")
def verifier(city_template: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """A real `permit serve` over a city published on the real clock, holding a valid, a
    revoked and a suspended permit of the Department of Health."""
    base = tmp_path_factory.mktemp("guide")
    path = base / "hcm"
    shutil.copytree(city_template, path)
    home = Home(path)
    now = int(time.time())
    operator.set_requirements(home, "alcohol-retail", ["business-registration"])
    trusted = operator.publish(home, passphrase, now, 30 * DAY)
    signers = {a: home.agency_signer(trusted.registry, a, passphrase, now) for a in trusted.registry.agencies}
    city = City(home, trusted, signers)
    until = date.today() + timedelta(days=730)
    valid = city.issue(at=now, number="123/2026/GCN-ATTP", holder_name="Công ty TNHH Thực phẩm Sạch Sài Gòn",
                       holder_address="12 Lê Lợi, Phường Sài Gòn, TP. Hồ Chí Minh", activities=("Sản xuất bánh mì",),
                       valid_until=until)
    revoked = city.issue(at=now, number="077/2025/GCN-ATTP", holder_id="0318765432", holder_name="Hộ kinh doanh Quán Ăn Bốn Mùa",
                         holder_address="9 Đinh Tiên Hoàng, Phường Tân Định, TP. Hồ Chí Minh", activities=("Kinh doanh dịch vụ ăn uống",),
                         valid_until=until)
    with home.ledger("hcm-syt") as ledger:
        issuing.change_status(ledger, revoked.permit.id, "revoked", "tran.thi.b", now, "cơ sở ngừng hoạt động")
    # An alcohol retail licence resting on a business registration, since revoked.
    registration = city.issue("hcm-skhdt", "business-registration", at=now, number="0316543210", holder_id="0316543210",
                              holder_name="Công ty TNHH Nhà hàng Bến Nghé", holder_address="75 Hai Bà Trưng, Phường Sài Gòn, TP. Hồ Chí Minh",
                              activities=("Nhà hàng và dịch vụ ăn uống",), valid_until=until)
    on_registration = city.issue("hcm-sct", "alcohol-retail", at=now, number="0458/2026/GP-SCT", holder_id=None, holder_name=None,
                                 holder_address=None, activities=("Bán lẻ rượu, bia",), valid_until=until, basis=(registration.permit,))
    with home.ledger("hcm-skhdt") as ledger:
        issuing.change_status(ledger, registration.permit.id, "revoked", "le.thi.c", now, "doanh nghiệp giải thể")
    city.publish_all(at=now)
    # A newer list of the same agency, made in a copy of the home: what the agency would push.
    elsewhere = Home(shutil.copytree(path, base / "agency"))
    newer = publishing.publish_status_list(elsewhere, trusted.registry, "hcm-syt", signers["hcm-syt"], now + 1, 2 * DAY)
    assert newer.issued_at == now + 1
    log = base / "access.log"
    url, process = start_server(path, log)
    served = Served(city, url, log, process)
    yield Verifier(url, {
        "TOKEN=valid": valid.token,
        "TOKEN=valid-qr-url": qr.permit_url(url, valid.token),
        "TOKEN=revoked": revoked.token,
        "TOKEN=forged": forged_from(valid.token, valid),
        "TOKEN=resting-on-revoked": on_registration.token,
        "STATUS_FILE=newer-status-list": str(elsewhere.status_path("hcm-syt")),
    })
    served.stop()


def run(example: Example, verifier: Verifier, cwd: Path) -> str:
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8",
           "VERIFIER": verifier.url}
    for name, what in example.variables.items():
        env[name] = verifier.variables[f"{name}={what}"]
    if example.language == "sh":
        command = ["bash", "-c", "set -euo pipefail\n" + example.code]
    else:
        command = [sys.executable, "-c", example.code]
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, encoding="utf-8", timeout=60)
    assert done.returncode == 0, f"the example at line {example.line} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.parametrize("example", EXAMPLES, ids=[e.id for e in EXAMPLES])
def test_the_example_prints_what_the_guide_says(example: Example, verifier: Verifier, tmp_path: Path) -> None:
    # The guide's verifier is at https://xacminh.example; an error's type and a schema's $id name it.
    actual = run(example, verifier, tmp_path).replace(verifier.url, GUIDE_VERIFIER)
    if example.output_language == "json":
        got = [normal_json(v) for v in json_values(actual)]
        assert got == [normal_json(v) for v in json_values(example.output)], (
            f"docs/integrator.md line {example.line} prints:\n"
            + "\n".join(json.dumps(v, ensure_ascii=False, indent=2) for v in json_values(actual)))
    else:
        got_lines = [normal_text(line.rstrip()) for line in actual.strip().splitlines()]
        assert got_lines == [normal_text(line.rstrip()) for line in example.output.strip().splitlines()], (
            f"docs/integrator.md line {example.line} prints:\n{actual}")


# --- the tables ---------------------------------------------------------------------------------


def section(title: str) -> str:
    start = GUIDE_TEXT.index(f"\n## {title}\n")
    end = GUIDE_TEXT.find("\n## ", start + 1)
    return GUIDE_TEXT[start : end if end > 0 else None]


def rows(text: str) -> list[list[str]]:
    """The cells of every table row whose first cell is a `code`."""
    found = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and re.fullmatch(r"`[a-z_0-9]+`", cells[0]):
            found.append(cells)
    return found


def test_the_reason_table_lists_every_verdict_reason_with_its_status_and_sentence() -> None:
    table = {cells[0].strip("`"): cells for cells in rows(section("Reason codes"))}
    assert sorted(set(table)) == sorted(VERDICT_REASONS), "add the missing codes to docs/integrator.md, Reason codes"
    for code, (_, status, sentence) in table.items():
        assert status == f"`{status_for((code,))}`", code
        assert sentence == REASON_TEXT[code]["en"], code


def test_the_status_table_lists_every_status_in_both_languages() -> None:
    table = {cells[0].strip("`"): cells for cells in rows(section("Statuses"))}
    assert sorted(table) == sorted(STATUSES)
    for status, cells in table.items():
        assert STATUS_TEXT[status]["vi"] in cells[1] and STATUS_TEXT[status]["en"] in cells[1], status


def error_reasons() -> set[str]:
    """Every reason an API error can carry, read from the code that raises them."""
    reasons = {code.lower() for code in re.findall(r"ApiError\(\d{3}, Reason\.([A-Z_]+)", Path(api.__file__).read_text())}
    reasons |= set(errors.HTTP_REASONS.values()) | {Reason.INTERNAL_ERROR, Reason.HTTP_ERROR}
    reasons |= {Reason.REGISTRY_NOT_NEWER, Reason.STATUS_NOT_NEWER, Reason.STATUS_ROLLBACK}  # PUT's conflicts
    return reasons


def test_the_error_table_lists_every_error_reason() -> None:
    listed = {cells[0].strip("`") for cells in rows(section("Errors"))}
    assert sorted(error_reasons() - listed) == []


# --- the officer guides' chapter on accepting another department's permit --------------------------
#
# Run as an officer meets it: the chapter's `permit` commands, in order, in one agency home whose
# registry makes food-safety rest on business-registration and alcohol-retail on both, on a clock
# pinned to the fixtures' NOW (one second more per command), with the guide's address
# (https://xacminh.example). How a chapter marks its examples:
#
#     <!-- session: once -->                    then a ```sh block of `permit` commands and their
#                                               output (one block, both commands' lines in turn)
#     <!-- session: once before=HOOK -->        the same, once the city has done HOOK (below)
#     <!-- session: once file=NAME links=A -->  then a block written to the file NAME, each
#                                               `https://xacminh.example/v#…` in it replaced by
#                                               the QR link of the permit A (a name below)
#
# In an output block, a line "…" stands for any lines, and a line ending in "…" for any end of
# line; a permit id (8 characters of its alphabet) stands for the id the session met there first, which
# the later commands are then given. Times of day are not compared (dates are: the clock is
# pinned); the home's path is the guide's /srv/permit/hcm-syt.

OFFICER_CHAPTERS = {
    "en": (ROOT / "docs" / "officer.md", "Accepting another department's permit"),
    "vi": (ROOT / "docs" / "officer.vi.md", "Chấp nhận giấy phép của sở khác"),
}
SESSION = re.compile(r"<!-- session: once((?: [a-z]+=[^ >]+)*) -->")
GUIDE_HOME = "/srv/permit/hcm-syt"
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
# A QR code's version follows the token's length, which the random status index moves by a byte or two.
QR_VERSION = re.compile(r"(?<=QR code \(version )\d+|(?<=mã QR \(phiên bản )\d+")


# A refusal, in either language: `Error: [reason] …`, `Lỗi: [reason] …`.
ERROR_LINE = re.compile(r"\w+: \[[a-z0-9_]+\] ")
# A token in a QR link: the guide shows the start of one, each run signs another.
LINK_DIGITS = re.compile(r"(?<=/v#)\d+")


def session_text(line: str) -> str:
    return LINK_DIGITS.sub("<digits>", QR_VERSION.sub("<n>", TIME.sub("<time>", line.rstrip())))
PERMIT_ID = re.compile(rf"\b[{ID_ALPHABET}]{{8}}\b")  # a permit id: 8 of its alphabet's characters
REGISTRATION = {"holder_id": "0316543210", "number": "0316543210", "holder_name": "Công ty TNHH Nhà hàng Bến Nghé",
                "holder_address": "75 Hai Bà Trưng, Phường Sài Gòn, TP. Hồ Chí Minh",
                "activities": ("Nhà hàng và dịch vụ ăn uống", "Bán lẻ đồ uống có cồn"), "valid_until": date(2031, 12, 31)}
PHO_HOA = {"holder_id": "0301112223", "number": "0301112223", "holder_name": "Hộ kinh doanh Phở Hòa",
           "holder_address": "260C Pasteur, Phường Xuân Hòa, TP. Hồ Chí Minh", "activities": ("Kinh doanh ăn uống",),
           "valid_until": date(2030, 12, 31)}
MOVED_TO = "12 Nguyễn Huệ, Phường Sài Gòn, TP. Hồ Chí Minh"


@dataclass(frozen=True)
class Step:
    line: int
    options: dict[str, str]
    code: str  # the commands, or the file's content
    output: str | None  # None for a file


def chapter_steps(path: Path, title: str) -> tuple[str, list[Step]]:
    text = path.read_text(encoding="utf-8")
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    chapter = text[start : end if end > 0 else None]
    blocks = [(m.start(), m.group(1), m.group(2)) for m in FENCE.finditer(chapter)]
    steps = []
    for marker in SESSION.finditer(chapter):
        options = dict(pair.split("=", 1) for pair in marker.group(1).split())
        following = [b for b in blocks if b[0] > marker.end()]
        line = text.count("\n", 0, start + following[0][0]) + 1
        if "file" in options:
            steps.append(Step(line, options, following[0][2], None))
        else:
            assert following[0][1] in RUNNABLE and following[1][1] in ("", "text"), f"{path.name} line {line}: a sh block, then its output"
            steps.append(Step(line, options, following[0][2], following[1][2]))
    return chapter, steps


def commands(code: str) -> list[list[str]]:
    """The `permit` command lines of a sh block, as argument lists (comments and line continuations as sh reads them)."""
    found = []
    for line in code.replace("\\\n", " ").splitlines():
        args = shlex.split(line, comments=True)
        if args:
            assert args[0] == "permit", f"only permit commands run here: {line}"
            found.append(args[1:])
    return found


def session_ids(arg: str, ids: dict[str, str]) -> str:
    """An argument of the guide with each of its permit ids replaced by the session's."""
    return PERMIT_ID.sub(lambda m: ids.get(m.group(0), m.group(0)), arg)


def match_lines(expected: list[str], actual: list[str], ids: dict[str, str]) -> dict[str, str] | None:
    """The ids bound when the `actual` lines are what the guide's `expected` lines show (see
    above), None when they are not; `ids` maps the guide's ids to the session's."""
    if not expected:
        return ids if not actual else None
    first, rest = expected[0], expected[1:]
    if first == "…":
        for skip in range(len(actual) + 1):
            found = match_lines(rest, actual[skip:], ids)
            if found is not None:
                return found
        return None
    if not actual:
        return None
    pattern, names = "", []
    body, open_end = (first[:-1], True) if first.endswith("…") else (first, False)
    at = 0
    for m in PERMIT_ID.finditer(body):
        pattern += re.escape(body[at : m.start()])
        guide_id = m.group(0)
        if guide_id in ids:
            pattern += re.escape(ids[guide_id])
        else:
            pattern += f"(?P<g{len(names)}>[0-9A-Z]{{8}})"
            names.append(guide_id)
        at = m.end()
    pattern += re.escape(body[at:]) + (".*" if open_end else "")
    m = re.fullmatch(pattern, actual[0])
    if m is None:
        return None
    bound = dict(ids)
    for n, guide_id in enumerate(names):
        if bound.setdefault(guide_id, m.group(f"g{n}")) != m.group(f"g{n}"):
            return None  # one guide id standing for two of the session's
    return match_lines(rest, actual[1:], bound)


@dataclass
class Session:
    """The officer's session: the city, the officer's folder, the permits the city issued for it
    by name, and the CLI's clock (one second more at each reading)."""

    city: City
    folder: Path
    records: dict[str, Any]
    clock: int = NOW

    def now(self) -> int:
        self.clock += 1
        return self.clock


@pytest.fixture
def session(city: City, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Session:
    """The city, its registry making permits rest on others; a business's registration issued by
    the Department of Planning and Investment, its QR code in the officer's folder (dkkd.png);
    another business's registration, of 2024, for the import."""
    import cli as cli_module

    operator.set_requirements(city.home, "food-safety", ["business-registration"])
    operator.set_requirements(city.home, "alcohol-retail", ["business-registration", "food-safety"])
    city.trusted = operator.publish(city.home, passphrase, NOW, 30 * DAY)
    city.home.set_config(base_url=GUIDE_VERIFIER)
    with city.home.ledger("hcm-skhdt", create=True) as ledger:  # by the Department of Planning and Investment's officer
        records = {name: issuing.issue(ledger, city.registry, city.signers["hcm-skhdt"], city.request("hcm-skhdt", "business-registration", **request),
                                       "le.thi.c", at)
                   for name, request, at in (("registration", REGISTRATION, NOW + 1),
                                             ("pho-hoa", {**PHO_HOA, "valid_from": date(2024, 1, 2)}, KEYS_FROM + DAY))}
    city.publish_all()
    folder = tmp_path / "officer"
    folder.mkdir()
    qr.write_png(qr.permit_url(GUIDE_VERIFIER, records["registration"].token), folder / "dkkd.png")
    monkeypatch.chdir(folder)
    state = Session(city, folder, records)
    monkeypatch.setattr(cli_module, "now", state.now)
    return state


def registration_moved(session: Session) -> None:
    """The Department of Planning and Investment amends the registration (the business moved) and
    publishes its list; the business sends the new QR code, dkkd-moi.png."""
    city, at = session.city, session.now()
    with city.home.ledger("hcm-skhdt") as ledger:
        moved = issuing.amend(ledger, city.registry, city.signers["hcm-skhdt"], session.records["registration"].permit.id,
                              issuing.Amendment(holder_address=MOVED_TO), "le.thi.c", at, "chuyển địa điểm")
    city.publish_status("hcm-skhdt", at=at)
    qr.write_png(qr.permit_url(GUIDE_VERIFIER, moved.token), session.folder / "dkkd-moi.png")
    session.records["registration"] = moved


HOOKS = {"registration-moved": registration_moved}


@pytest.mark.parametrize("language", list(OFFICER_CHAPTERS))
def test_every_sh_block_of_the_officer_chapter_on_bases_is_run(language: str) -> None:
    path, title = OFFICER_CHAPTERS[language]
    chapter, steps = chapter_steps(path, title)
    sh_blocks = [m.start() for m in FENCE.finditer(chapter) if m.group(1) in RUNNABLE]
    assert len(sh_blocks) == sum(step.output is not None for step in steps) >= 6


@pytest.mark.parametrize("language", list(OFFICER_CHAPTERS))
def test_the_officer_chapter_on_bases_prints_what_it_says(language: str, session: Session) -> None:
    from click.testing import CliRunner

    from cli import cli

    city = session.city
    path, title = OFFICER_CHAPTERS[language]
    _, steps = chapter_steps(path, title)
    env = {"PERMIT_HOME": str(city.home.path), "PERMIT_PASSPHRASE": PASSPHRASE.decode(), "PERMIT_OFFICER": "nguyen.van.a",
           "PERMIT_LANG": language, "NO_COLOR": "1"}
    ids: dict[str, str] = {}
    for step in steps:
        if "before" in step.options:
            HOOKS[step.options["before"]](session)
        if step.output is None:
            links = [qr.permit_url(GUIDE_VERIFIER, session.records[name].token) for name in step.options["links"].split(",")]
            parts = re.split(r"https://xacminh\.example/v#\d*…", step.code)
            assert len(parts) == len(links) + 1, f"{path.name} line {step.line}: one link named for each in the file"
            content = "".join(part + link for part, link in zip(parts, [*links, ""], strict=True))
            (session.folder / step.options["file"]).write_text(content, encoding="utf-8")
            continue
        printed = []
        for args in commands(step.code):
            args = [session_ids(arg, ids) for arg in args]
            result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
            assert result.exit_code in ((2,) if ERROR_LINE.match(result.output) else (0, 1)), result.output
            printed += result.output.splitlines()
        actual = [session_text(line.replace(str(city.home.path), GUIDE_HOME)) for line in printed]
        expected = [session_text(line) for line in step.output.strip("\n").splitlines()]
        bound = match_lines(expected, actual, ids)
        assert bound is not None, f"{path.name} line {step.line} prints:\n" + "\n".join(actual)
        ids = bound


@pytest.mark.parametrize("language", list(OFFICER_CHAPTERS))
def test_the_officer_chapter_on_bases_explains_every_refusal_of_a_basis(language: str) -> None:
    """Every reason `permit issue --basis` may refuse a basis with: all basis_* reasons but the two
    only a verdict gives (a verifier's list of the basis's agency missing or out of date)."""
    path, title = OFFICER_CHAPTERS[language]
    chapter, _ = chapter_steps(path, title)
    refusals = {r.value for r in Reason if r.value.startswith("basis_")} - {Reason.BASIS_STATUS_UNAVAILABLE, Reason.BASIS_STATUS_STALE}
    listed = [cells[0].strip("`") for cells in rows(chapter)]
    assert sorted(listed) == sorted(refusals) and len(refusals) == 12


# --- the officer's and the operator's guides, run as sessions ---------------------------------------
#
# tests/sessions.py says how: each guide is run step by step as its reader would, and every
# output block it shows is compared with what the step printed.

SESSION_GUIDES = {"officer.md": "agency", "officer.vi.md": "agency", "operator.md": "operator"}
OTHER_PAGES = [ROOT / "README.md", *(path for path in sorted((ROOT / "docs").glob("*.md"))
                                     if path.name not in SESSION_GUIDES and path.name != "integrator.md")]


@pytest.mark.parametrize("name", sorted(SESSION_GUIDES))
def test_a_guide_says_which_session_it_runs_in_and_each_output_follows_its_step(name: str) -> None:
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    assert sessions.session_name(text) == SESSION_GUIDES[name]
    found = sessions.steps(text)
    assert sum(step.output is not None for step in found) >= 8


@pytest.mark.parametrize("page", OTHER_PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_no_other_page_shows_an_output_no_test_compares(page: Path) -> None:
    """A bare block elsewhere says what it is, or where it is checked (README's demo verdicts:
    tests/test_docs.py); the business guides show none."""
    for block in sessions.blocks(page.read_text(encoding="utf-8")):
        if block.language in sessions.OUTPUT_LANGUAGES:
            # `example`: docs/token-profile.md's own marking, compared by tests/test_token_profile.py.
            assert {"not output", "checked", "example"} & block.markers.keys(), f"{page.name} line {block.line}: what is this block?"


@pytest.fixture
def agency_session(city_template: Path, tmp_path: Path) -> Iterator[sessions.Session]:
    """The officer's world: the agency's home (/srv/permit/hcm-syt) holding a registry published
    on the real clock and the agency's key, and the city's verifier (https://xacminh.example),
    a real `permit serve` that knows only the registry, to push status lists to."""
    root = tmp_path / "guide"
    home = root / "srv" / "permit" / "hcm-syt"
    shutil.copytree(city_template, home)
    operator.publish(Home(home), passphrase, int(time.time()), 30 * DAY)
    verifier = root / "srv" / "permit" / "verifier"
    verifier.mkdir()
    for name in ("anchor.json", "registry.json", "trust-state.json"):
        shutil.copy(home / name, verifier / name)
    session = sessions.Session(root, sessions.base_environment(root, PASSPHRASE.decode()))
    session.start_verifier("/srv/permit/verifier")
    yield session
    session.stop()


@pytest.fixture
def operator_session(tmp_path: Path) -> Iterator[sessions.Session]:
    """The operator's world: nothing yet; the guide makes every home itself."""
    root = tmp_path / "guide"
    root.mkdir()
    session = sessions.Session(root, sessions.base_environment(root, PASSPHRASE.decode()))
    yield session
    session.stop()


@pytest.mark.parametrize("name", ["officer.md", "officer.vi.md"])
def test_the_officer_guide_shows_what_each_command_prints(name: str, agency_session: sessions.Session) -> None:
    text = (ROOT / "docs" / name).read_text(encoding="utf-8")
    expected = sum(step.output is not None for step in sessions.steps(text))
    assert sessions.walk(agency_session, f"docs/{name}", text) == expected


def test_the_operator_guide_shows_what_each_command_prints(operator_session: sessions.Session) -> None:
    text = (ROOT / "docs" / "operator.md").read_text(encoding="utf-8")
    expected = sum(step.output is not None for step in sessions.steps(text))
    assert sessions.walk(operator_session, "docs/operator.md", text) == expected


def test_the_operator_guide_s_json_access_line_is_one_the_verifier_writes(city: City, tmp_path: Path) -> None:
    """The sample line of "Logs as JSON lines" has the members of a real one, in its order and of
    its kinds, and the values a request like it gets (only the time, the size of the answer and
    how long it took vary)."""
    text = (ROOT / "docs" / "operator.md").read_text(encoding="utf-8")
    [sample] = [b for b in sessions.blocks(text) if "checked" in b.markers and '"log": "access"' in b.text]
    shown = json.loads(sample.text)
    now = int(time.time())
    city.trusted = operator.publish(city.home, passphrase, now, 30 * DAY)
    record = city.issue(at=now)
    city.publish_all(at=now)
    log = tmp_path / "access.log"
    url, process = start_server(city.home.path, log, env={"PERMIT_LOG_FORMAT": "json"})
    try:
        request = urllib.request.Request(f"{url}/api/v1/verify", json.dumps({"token": record.token}).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "X-Request-Id": shown["request_id"],
                                                  "User-Agent": shown["user_agent"]})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert json.loads(response.read())["status"] == "valid"
        deadline = time.monotonic() + 10
        while not (lines := [json.loads(line) for line in log.read_text().splitlines() if '"/api/v1/verify"' in line]):
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        Served(city, url, log, process).stop()
    [real] = lines
    assert list(real) == list(shown)
    assert {k: type(v) for k, v in real.items()} == {k: type(v) for k, v in shown.items()}
    varying = {"time", "bytes", "duration_ms"}
    assert {k: v for k, v in real.items() if k not in varying} == {k: v for k, v in shown.items() if k not in varying}
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"]) for line in (real, shown))
