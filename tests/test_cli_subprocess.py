"""The installed `permit` console script, run as a real process on the real clock: what a shell
script or another agency's job sees (exit status, stdout, one error line on stderr)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import PASSPHRASE, City

PERMIT = Path(sys.executable).parent / "permit"


def run(home: Path | None, *args: str, passphrase: str | None = PASSPHRASE.decode()) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PERMIT_")}
    if home is not None:
        env["PERMIT_HOME"] = str(home)
    if passphrase is not None:
        env["PERMIT_PASSPHRASE"] = passphrase
    return subprocess.run(
        [str(PERMIT), *args], env=env, capture_output=True, text=True, encoding="utf-8", stdin=subprocess.DEVNULL, timeout=120
    )


def succeeded(process: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert process.returncode == 0, process.stderr
    assert process.stderr == ""
    return process


def issue_args(**overrides: str) -> list[str]:
    options = {
        "agency": "hcm-syt",
        "type": "food-safety",
        "holder-id": "0312345678",
        "holder-name": "Công ty TNHH Thực phẩm Sạch Sài Gòn",
        # Relative to today: this process reads the real clock.
        "valid-until": (date.today() + timedelta(days=365)).isoformat(),
    }
    options.update({name.replace("_", "-"): value for name, value in overrides.items()})
    return ["issue", "--json", *(part for name, value in options.items() for part in (f"--{name}", value))]


def test_the_console_script_is_installed() -> None:
    assert PERMIT.is_file() and os.access(PERMIT, os.X_OK)
    assert succeeded(run(None, "--version")).stdout.startswith("permit, version ")


def test_issue_publish_and_verify_as_separate_processes(city: City) -> None:
    home = city.home.path
    # The fixtures' registry was published on their fixed clock; publish a fresh version on the real one.
    succeeded(run(home, "registry", "publish"))
    data = json.loads(succeeded(run(home, *issue_args())).stdout)
    assert {"id", "token", "url"} <= data.keys()
    assert data["holder"]["name"] == "Công ty TNHH Thực phẩm Sạch Sài Gòn"
    assert data["qr_version"] <= 18

    # The agency's first permit published its first status list too.
    first = json.loads(succeeded(run(home, "verify", data["url"], "--json")).stdout)
    assert (first["status"], first["reasons"]) == ("valid", [])

    succeeded(run(home, "status", "publish", "--agency", "hcm-syt"))
    verdict = json.loads(succeeded(run(home, "verify", data["url"], "--json")).stdout)
    assert (verdict["valid"], verdict["status"], verdict["reasons"]) == (True, "valid", [])
    assert verdict["permit"]["id"] == data["id"]
    assert verdict["permit"]["holder"]["name"] == "Công ty TNHH Thực phẩm Sạch Sài Gòn"

    png = home.parent / "permit.png"
    succeeded(run(home, "qr", data["id"], "--out", str(png)))
    from_image = json.loads(succeeded(run(home, "verify", "--qr", str(png), "--json")).stdout)
    assert {**from_image, "checked_at": None} == {**verdict, "checked_at": None}


@pytest.mark.parametrize(
    ("args", "home", "passphrase", "reason"),
    [
        (issue_args(agency="hcm-nope"), "city", PASSPHRASE.decode(), "unknown_agency"),
        (issue_args(holder_name="Công ty \u202eHNNT"), "city", PASSPHRASE.decode(), "bad_text"),
        (issue_args(), "city", "not the right passphrase", "bad_passphrase"),
        (issue_args(), "city", None, "passphrase_required"),
        (["list"], None, PASSPHRASE.decode(), "home_missing"),
        (["revoke", "ZZZZ9999", "--reason", "x"], "city", PASSPHRASE.decode(), "permit_not_found"),
    ],
    ids=["unknown-agency", "rtl-override-in-name", "wrong-passphrase", "no-passphrase-no-terminal", "no-home", "unknown-permit"],
)
def test_bad_input_exits_2_with_one_error_line_and_no_traceback(
    city: City, args: list[str], home: str | None, passphrase: str | None, reason: str
) -> None:
    process = run(city.home.path if home else None, *args, passphrase=passphrase)
    assert process.returncode == 2
    assert process.stdout == ""
    lines = process.stderr.splitlines()
    assert len(lines) == 1, process.stderr
    assert lines[0].startswith(f"Error: [{reason}] ")
    assert "Traceback" not in process.stderr


def test_verify_garbage_exits_1_and_no_argument_exits_2(city: City) -> None:
    garbage = run(city.home.path, "verify", "garbage", "--json")
    assert garbage.returncode == 1
    assert (json.loads(garbage.stdout)["status"], json.loads(garbage.stdout)["reasons"]) == ("invalid", ["malformed_token"])
    usage = run(city.home.path, "verify")
    assert usage.returncode == 2
    assert usage.stderr.splitlines()[-1] == "Error: give a token or URL, or --qr IMAGE (one of them)"
    assert "Traceback" not in usage.stderr
