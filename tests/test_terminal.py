"""The terminal: `permit list` is a readable table, colours only on a terminal (and never with
NO_COLOR), long work shows progress, and `--json` on every command a script would read."""

# ruff: noqa: F811 (the CLI fixtures of test_cli are imported, then taken as arguments)
from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner
from conftest import NOW, PASSPHRASE, City, passphrase
from test_cli import Permit, as_json, cli_clock, issued, ok, permit  # noqa: F401 (fixtures)

import cli as cli_module
from cli import ProgressBar, cli, width
from permits import issuing, operator, publishing
from permits.i18n import translate
from verifier.reasons import REASON_TEXT

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def colour_run(permit: Permit, *args: str, color: bool, env: dict[str, str] | None = None) -> str:
    permit.cli_clock.t += 1
    result = CliRunner().invoke(cli, list(args), env={**permit.env, "NO_COLOR": None, **(env or {})}, color=color, catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    return result.stdout


def test_list_is_a_table_whose_columns_line_up_with_vietnamese_names(permit: Permit) -> None:
    names = ["Cơ sở A", "Công ty TNHH Thực phẩm Sạch Sài Gòn Đông Á", "Hộ kinh doanh Bà Tư"]
    made = [issued(permit, holder_name=name) for name in names]
    ok(permit("revoke", made[1]["id"], "--reason", "Đóng cửa"))
    lines = ok(permit("list")).stdout.splitlines()
    assert lines[0].split() == ["ID", "Agency", "Type", "State", "Ver.", "Valid", "until", "Holder"]
    assert lines[-1] == "3 permits"
    rows = lines[1:-1]
    assert len(rows) == 3
    holder_at = lines[0].index("Holder")
    state_at = lines[0].index("State")
    for line in rows:  # every cell starts under its header, whatever the names' diacritics
        name = next(n for n in names if n in line)
        assert width(line[: line.index(name)]) == holder_at
        assert line[state_at:].split()[0] in {"active", "revoked"}
    assert {line[state_at:].split()[0] for line in rows} == {"active", "revoked"}


def test_list_in_vietnamese_has_vietnamese_headers_and_states(permit: Permit) -> None:
    issued(permit, holder_name="Cơ sở A")
    out = ok(permit("--lang", "vi", "list")).stdout.splitlines()
    assert all(translate(header, "vi") in out[0] for header in ("Agency", "State", "Holder"))
    assert translate("active", "vi") in out[1]
    assert out[0] != ok(permit("list")).stdout.splitlines()[0]
    assert out[-1] == "1 giấy phép"


def test_colours_only_on_a_terminal_and_never_with_no_color(permit: Permit) -> None:
    made = issued(permit)
    ok(permit("revoke", made["id"], "--reason", "Đóng cửa"))
    coloured = colour_run(permit, "list", color=True)
    assert "\x1b[31m" in coloured  # revoked in red
    assert "\x1b[1m" in coloured  # the header in bold
    assert ANSI.sub("", coloured) == colour_run(permit, "list", color=False)
    assert ANSI.search(colour_run(permit, "list", color=False)) is None  # not a terminal: plain text
    assert ANSI.search(colour_run(permit, "list", color=True, env={"NO_COLOR": "1"})) is None


def test_verify_paints_the_verdict_on_a_terminal(permit: Permit) -> None:
    made = issued(permit)
    ok(permit("status", "publish", "--agency", "hcm-syt"))
    out = colour_run(permit, "verify", made["url"], color=True)
    assert out.startswith("\x1b[32m\x1b[1m✔ VALID")
    ok(permit("revoke", made["id"], "--reason", "Đóng cửa"))
    ok(permit("status", "publish", "--agency", "hcm-syt"))
    out = colour_run(permit, "verify", made["url"], color=True)
    assert out.startswith("\x1b[31m\x1b[1m✘ REVOKED")
    assert REASON_TEXT["revoked"]["en"] in out


# --- progress ----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def progress_lines(monkeypatch: pytest.MonkeyPatch, bar_args: dict[str, Any], steps: list[tuple[float, int, int]]) -> list[str]:
    clock = Clock()
    monkeypatch.setattr(cli_module.time, "monotonic", clock)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    bar = ProgressBar("Re-issuing", "permits", **bar_args)
    for at, done, total in steps:
        clock.t = 1000.0 + at
        bar(done, total)
    return err.getvalue().splitlines()


def test_a_progress_bar_in_a_log_writes_every_few_seconds_and_at_the_end(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = progress_lines(monkeypatch, {}, [(1, 10, 100), (2, 20, 100), (7, 70, 100), (8, 80, 100), (10, 100, 100)])
    assert lines == [
        "Re-issuing [###                           ]  10.0% 10/100 permits  10 permits/s  ETA 0:09",
        "Re-issuing [#####################         ]  70.0% 70/100 permits  10 permits/s  ETA 0:03",
        "Re-issuing [##############################] 100.0% 100/100 permits  10 permits/s  ETA 0:00",
    ]


def test_short_work_shows_no_progress_and_long_work_does(monkeypatch: pytest.MonkeyPatch) -> None:
    assert progress_lines(monkeypatch, {"delay": 1.0}, [(0.1, 1, 3), (0.2, 2, 3), (0.3, 3, 3)]) == []
    lines = progress_lines(monkeypatch, {"delay": 1.0, "rate": False}, [(0.5, 1, 3), (1.5, 2, 3), (1.6, 3, 3)])
    assert lines == ["Re-issuing [####################          ]  66.7% 2/3 permits",
                     "Re-issuing [##############################] 100.0% 3/3 permits"]


def test_reissue_and_status_publishing_report_their_progress(city: City) -> None:
    home = city.home
    old = city.signers["hcm-syt"]
    for n in range(3):
        city.issue(holder_name=f"Cơ sở {n}")
    fresh = home.generate_key("hcm-syt", PASSPHRASE)
    operator.add_key(home, "hcm-syt", fresh.public_key(), NOW - 10)
    registry = operator.publish(home, passphrase, NOW, 60 * 86_400).registry
    seen: list[tuple[int, int]] = []
    with home.ledger("hcm-syt") as ledger:
        records = issuing.reissue_signed_by(ledger, registry, fresh, old.kid, "can.bo", NOW, "key replaced",
                                            progress=lambda done, total: seen.append((done, total)))
    assert len(records) == 3 and seen == [(1, 3), (2, 3), (3, 3)]
    steps: list[tuple[int, int]] = []
    publishing.publish_status_list(home, registry, "hcm-syt", fresh, NOW, progress=lambda done, total: steps.append((done, total)))
    assert steps == [(1, 3), (2, 3), (3, 3)]


# --- --json ------------------------------------------------------------------------------------

# Commands a person runs and watches: they print for people only.
NOT_FOR_SCRIPTS = {("serve",), ("demo",)}


def leaf_commands(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    out = []
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            out += leaf_commands(command, (*prefix, name))
        else:
            out.append(((*prefix, name), command))
    return out


def test_every_command_a_script_would_read_has_json() -> None:
    missing = [" ".join(path) for path, command in leaf_commands()
               if path not in NOT_FOR_SCRIPTS and not any("--json" in p.opts for p in command.params)]
    assert missing == []


def test_json_output_has_no_colour_and_parses_even_on_a_terminal(permit: Permit) -> None:
    issued(permit)
    rows = as_json(CliRunner().invoke(cli, ["list", "--json"], env={**permit.env, "NO_COLOR": None}, color=True))["permits"]
    assert len(rows) == 1 and rows[0]["state"] == "active"
    assert PASSPHRASE  # the city home's passphrase opened the key


def test_a_reader_that_stops_early_gets_no_error_message(city: City) -> None:
    """`permit list --json | head`: the reader closes the pipe while the CLI still writes (more
    than a pipe holds, so a write is refused whenever the close happens)."""
    for n in range(60):
        city.issue(holder_name=f"Cơ sở số {n}")
    env = {**os.environ, "PERMIT_HOME": str(city.home.path)}
    process = subprocess.Popen([str(Path(sys.executable).with_name("permit")), "list", "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    with process.stderr:
        assert process.wait(timeout=60) == 1
        assert process.stderr.read() == b""
