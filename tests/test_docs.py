"""The documentation is tested: every command is in docs/, every reason has a sentence, every
link to a local file resolves."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import click
import pytest

from cli import cli
from keys.reasons import VERDICT_REASONS
from permits.ledger import ID_ALPHABET
from verifier.reasons import REASON_TEXT, STATUS_TEXT
from verifier.verdict import STATUSES

ROOT = Path(__file__).parent.parent
DOCS = sorted((ROOT / "docs").glob("*.md"))
DOCS_TEXT = "\n".join(path.read_text(encoding="utf-8") for path in DOCS)


def command_paths(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def test_every_command_appears_in_the_docs() -> None:
    commands = set(command_paths())
    assert {("print",), ("backup",), ("restore",)} <= commands
    missing = sorted(" ".join(path) for path in commands if f"`permit {' '.join(path)}`" not in DOCS_TEXT)
    assert missing == []


def test_every_reason_and_status_has_a_sentence_in_both_languages() -> None:
    assert set(REASON_TEXT) == VERDICT_REASONS
    assert set(STATUS_TEXT) == set(STATUSES)
    for text in (*REASON_TEXT.values(), *STATUS_TEXT.values()):
        assert set(text) == {"vi", "en"} and all(text.values())


LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`[^`\n]+`")  # markdown makes no link inside one (a regular expression, say)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.strip().lower()
    text = "".join(c for c in text if c in " -_" or unicodedata.category(c)[0] in "LMN")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = FENCE.sub("", path.read_text(encoding="utf-8"))
    return {anchor(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", text, re.MULTILINE)}


@pytest.mark.parametrize("page", [ROOT / "README.md", *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_local_link_resolves(page: Path) -> None:
    broken = []
    for target in LINK.findall(CODE_SPAN.sub("", FENCE.sub("", page.read_text(encoding="utf-8")))):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:: not ours to check
        path, _, fragment = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(target)
        elif fragment and file.suffix == ".md" and fragment not in anchors(file):
            broken.append(target)
    assert broken == []


# A verdict line of the demo, and a line naming a permit a permit rests on, under it.
PERMIT_ID = re.compile(rf"\b[{ID_ALPHABET}]{{8}}\b")  # a permit id: 8 of its alphabet's characters
DEMO_LINE = re.compile(r"  \S+ +→ .*| {14}based on .*")


def test_the_readme_shows_the_verdicts_the_demo_prints(tmp_path: Path) -> None:
    """The README's block of demo verdicts is what `permit demo` prints, line for line: the
    samples', then the once-only story's before and after its business registration is revoked."""
    from click.testing import CliRunner

    readme = (ROOT / "README.md").read_text()
    block = re.search(rf"```\n((?:(?:{DEMO_LINE.pattern}|)\n)+)```", readme)
    assert block is not None
    shown = [line for line in block.group(1).splitlines() if line]
    result = CliRunner().invoke(cli, ["demo", "--dir", str(tmp_path / "demo")], env={"PERMIT_PASSPHRASE": None},
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    printed = [line for line in result.stdout.splitlines() if DEMO_LINE.fullmatch(line)]
    # Permit ids are drawn at random: the README's stand for the run's, one for one, in order.
    ids: dict[str, str] = {}
    same = [PERMIT_ID.sub(lambda m: ids.setdefault(m.group(0), f"<id {len(ids)}>"), line) for line in shown]
    ids = {}
    assert [PERMIT_ID.sub(lambda m: ids.setdefault(m.group(0), f"<id {len(ids)}>"), line) for line in printed] == same
    assert len(shown) == 18 and sum("[basis_revoked]" in line for line in shown) == 2
