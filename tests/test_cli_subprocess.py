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


def run(home: Path | None, *args: str, passphrase: str | None = PASSPHRASE.decode(),
        more: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("PERMIT_")} | (more or {})
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

    # The agencies' first status lists were published with the registry (their keys are here).
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


def test_a_new_agency_s_status_list_exists_from_the_moment_it_can_issue(tmp_path: Path) -> None:
    """A new agency, in its own home, onboarded as the operator's guide says. Its first status
    list is published when its home installs the registry that lets it issue, so it goes to the
    verifiers with the registry, before any permit: the verifier is ready at once, and the
    agency's first permit verifies valid there and in any home holding those documents, with no
    publish after it (once, status_unavailable until someone published)."""
    from conftest import start_server, stop_process
    from test_server import call

    operator, agency, verifier = tmp_path / "operator", tmp_path / "hcm-syt", tmp_path / "verifier"
    succeeded(run(operator, "registry", "init", "--id", "hcm", "--name", "Thành phố Hồ Chí Minh", "--base-url", "https://xacminh.example"))
    succeeded(run(operator, "registry", "add-type", "food-safety", "--name-vi", "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm",
                  "--name-en", "Food safety certificate"))
    succeeded(run(agency, "keys", "generate", "--agency", "hcm-syt", "--out", str(tmp_path / "hcm-syt.jwk.json")))
    succeeded(run(operator, "registry", "add-agency", "hcm-syt", "--name-vi", "Sở Y tế", "--name-en", "Department of Health",
                  "--type", "food-safety"))
    succeeded(run(operator, "registry", "add-key", "hcm-syt", "--public-key", str(tmp_path / "hcm-syt.jwk.json")))
    published = json.loads(succeeded(run(operator, "registry", "publish", "--json")).stdout)
    assert published["first_status_lists"] == []  # the operator holds no key of the agency

    verifier.mkdir()
    (verifier / "anchor.json").write_bytes((operator / "anchor.json").read_bytes())
    url, server = start_server(verifier, tmp_path / "access.log")
    try:
        succeeded(run(operator, "registry", "push", url))
        assert call(f"{url}/api/v1/readyz")[0] == 503  # a registry naming an agency whose list it lacks

        installed = succeeded(run(agency, "registry", "install", str(operator / "registry.json"), "--anchor", str(operator / "anchor.json")))
        lines = installed.stdout.splitlines()
        assert lines[1].startswith("hcm-syt can issue here: its first status list is published, valid until ")
        assert lines[1].endswith(f": {agency / 'status' / 'hcm-syt.jwt'}")
        assert (agency / "status" / "hcm-syt.jwt").is_file()
        # Onboarding ends with the list at the verifiers (the agency pushes it, or copies it to the origin).
        succeeded(run(agency, "status", "push", url, "--agency", "hcm-syt"))
        assert call(f"{url}/api/v1/readyz")[0] == 200

        data = json.loads(succeeded(run(agency, *issue_args(), more={"PERMIT_BASE_URL": "https://xacminh.example"})).stdout)
        status, body = call(f"{url}/api/v1/verify", {"token": data["token"]})
        assert (status, body["status"], body["reasons"]) == (200, "valid", [])
    finally:
        stop_process(server)
    first = json.loads(succeeded(run(agency, "verify", data["url"], "--json")).stdout)
    assert (first["status"], first["reasons"]) == ("valid", [])
    # And in a home that took the documents at onboarding, before the permit existed.
    elsewhere = tmp_path / "another-agency"
    succeeded(run(elsewhere, "registry", "install", str(operator / "registry.json"), "--anchor", str(operator / "anchor.json")))
    (elsewhere / "status").mkdir()
    (elsewhere / "status" / "hcm-syt.jwt").write_bytes((verifier / "status" / "hcm-syt.jwt").read_bytes())
    verdict = json.loads(succeeded(run(elsewhere, "verify", data["url"], "--json")).stdout)
    assert (verdict["status"], verdict["reasons"]) == ("valid", [])


def test_an_agency_whose_key_the_operator_holds_can_issue_once_published(tmp_path: Path) -> None:
    operator = tmp_path / "operator"
    succeeded(run(operator, "registry", "init", "--id", "hcm", "--name", "Thành phố Hồ Chí Minh", "--base-url", "https://xacminh.example"))
    succeeded(run(operator, "registry", "add-type", "food-safety", "--name-vi", "An toàn thực phẩm", "--name-en", "Food safety"))
    succeeded(run(operator, "registry", "add-agency", "hcm-syt", "--name-vi", "Sở Y tế", "--name-en", "Department of Health",
                  "--type", "food-safety"))
    succeeded(run(operator, "registry", "add-key", "hcm-syt"))
    origin = tmp_path / "origin"
    published = json.loads(succeeded(run(operator, "registry", "publish", "--origin", str(origin), "--json")).stdout)
    assert [(first["agency"], first["file"]) for first in published["first_status_lists"]] == [
        ("hcm-syt", str(operator / "status" / "hcm-syt.jwt"))]
    assert (origin / "status" / "hcm-syt.jwt").read_bytes() == (operator / "status" / "hcm-syt.jwt").read_bytes()
    again = json.loads(succeeded(run(operator, "registry", "publish", "--json")).stdout)
    assert again["first_status_lists"] == []  # only the first time
