"""The documentation is tested: every command is in the README, every reason has a sentence."""

from __future__ import annotations

from pathlib import Path

import click

from cli import cli
from keys.errors import VERDICT_REASONS
from verifier.reasons import REASON_TEXT, STATUS_TEXT
from verifier.verdict import STATUSES

README = (Path(__file__).parent.parent / "README.md").read_text()


def command_paths(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            paths += command_paths(command, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def test_every_command_appears_in_the_readme() -> None:
    missing = [" ".join(path) for path in command_paths() if f"`permit {' '.join(path)}`" not in README]
    assert missing == []


def test_every_reason_and_status_has_a_sentence_in_both_languages() -> None:
    assert set(REASON_TEXT) == VERDICT_REASONS
    assert set(STATUS_TEXT) == set(STATUSES)
    for text in (*REASON_TEXT.values(), *STATUS_TEXT.values()):
        assert set(text) == {"vi", "en"} and all(text.values())
