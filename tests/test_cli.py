"""The `permit` command line as an officer and a script use it (DESIGN.md, "The contract others
build on"): the session as written, exit codes, and one `Error: [reason] …` line for each bad
input, never a traceback.

Every command runs through click's CliRunner with its environment passed explicitly. The CLI
reads the clock only through `cli.now`; the tests pin it to the fixtures' clock and move it one
second per command, as an officer typing them would.
"""

from __future__ import annotations

import gc
import json
import os
import time
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from conftest import NOW, PASSPHRASE, City
from PIL import Image

import cli as cli_module
from cli import cli
from keys.encoding import b64url_decode, b64url_encode, dumps_canonical, loads_strict
from permits.home import is_loopback_url
from permits.issuing import CITY_TZ

HOLDER = "Công ty TNHH Thực phẩm Sạch Sài Gòn"
FOOD_SAFETY_VI = "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm"
GARBAGE = b"this is not an SQLite ledger\n" * 300


class CliClock:
    """The CLI's clock: starts at the fixtures' NOW and moves only when told to."""

    def __init__(self) -> None:
        self.t = NOW

    def __call__(self) -> int:
        return self.t


@dataclass
class Permit:
    """`permit …` in one home: run(*args) with the home's environment, plus overrides."""

    env: dict[str, str | None]
    cli_clock: CliClock
    tick: int = 1

    def __call__(self, *args: str | Path, env: Mapping[str, str | None] | None = None) -> Result:
        self.cli_clock.t += self.tick
        return CliRunner().invoke(cli, [str(a) for a in args], env={**self.env, **(env or {})}, catch_exceptions=False)

    @property
    def home(self) -> Path:
        return Path(str(self.env["PERMIT_HOME"]))


@pytest.fixture(autouse=True)
def cli_clock(monkeypatch: pytest.MonkeyPatch) -> CliClock:
    pinned = CliClock()
    monkeypatch.setattr(cli_module, "now", pinned)
    return pinned


@pytest.fixture
def permit(city: City, cli_clock: CliClock) -> Permit:
    """The CLI in a copy of the city home (published registry, four agencies and their keys)."""
    return Permit({"PERMIT_HOME": str(city.home.path), "PERMIT_PASSPHRASE": PASSPHRASE.decode()}, cli_clock)


# --- helpers --------------------------------------------------------------------------------


def issue_args(**overrides: str | None) -> list[str]:
    """`permit issue --json` for a food-safety permit of hcm-syt; keyword = option (None drops it)."""
    options: dict[str, str | None] = {
        "agency": "hcm-syt",
        "type": "food-safety",
        "holder-id": "0312345678",
        "holder-name": HOLDER,
        "valid-until": "2028-12-31",
    }
    options.update({name.replace("_", "-"): value for name, value in overrides.items()})
    args = ["issue", "--json"]
    for name, value in options.items():
        if value is not None:
            args += [f"--{name}", value]
    return args


def ok(result: Result) -> Result:
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result


def as_json(result: Result) -> Any:
    return json.loads(ok(result).stdout)


def issued(permit: Permit, **overrides: str | None) -> dict[str, Any]:
    return as_json(permit(*issue_args(**overrides)))


def publish_status(permit: Permit, agency: str = "hcm-syt") -> None:
    ok(permit("status", "publish", "--agency", agency))


def verdict(permit: Permit, *args: str | Path) -> tuple[int, dict[str, Any]]:
    """(exit code, verdict) of `permit verify … --json`."""
    result = permit("verify", *args, "--json")
    assert "Traceback" not in result.output
    return result.exit_code, json.loads(result.stdout)


def assert_status(permit: Permit, given: str | list[str | Path], code: int, status: str, reasons: list[str]) -> dict[str, Any]:
    """`permit verify GIVEN --json` exits `code` with this status and these reasons."""
    exit_code, body = verdict(permit, *([given] if isinstance(given, str) else given))
    assert (exit_code, body["status"], body["reasons"]) == (code, status, reasons)
    assert body["valid"] is (status == "valid")
    return body


def assert_error(result: Result, reason: str) -> None:
    """Exit 2, exactly one line on stderr, `Error: [reason] …`, no traceback."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: [{reason}] "), lines[0]
    assert "Traceback" not in result.output


def assert_usage_error(result: Result, text: str) -> None:
    assert result.exit_code == 2, result.output
    assert text in result.stderr
    assert "Traceback" not in result.output


# --- the DESIGN.md session, in a fresh home -------------------------------------------------


def test_the_design_session_works_as_written_in_a_fresh_home(tmp_path: Path, cli_clock: CliClock) -> None:
    permit = Permit({"PERMIT_HOME": str(tmp_path / "hcm"), "PERMIT_PASSPHRASE": PASSPHRASE.decode()}, cli_clock)
    # One flag added to the session as DESIGN.md writes it: the address QR codes point to (the
    # default, this machine's own, is refused for printing: test_a_loopback_base_url_…).
    ok(permit("registry", "init", "--id", "hcm", "--name", "TP. Hồ Chí Minh", "--base-url", "https://xacminh.example"))
    assert (permit.home / "anchor.json").is_file()
    ok(permit("registry", "add-type", "food-safety", "--name-vi", FOOD_SAFETY_VI, "--name-en", "Food safety certificate"))
    ok(permit("registry", "add-agency", "hcm-syt", "--name-vi", "Sở Y tế", "--name-en", "Department of Health", "--type", "food-safety"))
    ok(permit("registry", "add-key", "hcm-syt"))
    assert len(list((permit.home / "private").glob("hcm-syt-*.key"))) == 1
    published = as_json(permit("registry", "publish", "--json"))
    assert published["version"] == 1
    shown = as_json(permit("registry", "show", "--json"))
    assert shown["name"] == "TP. Hồ Chí Minh"
    assert shown["agencies"]["hcm-syt"]["types"] == ["food-safety"]
    assert shown["types"]["food-safety"]["name"]["vi"] == FOOD_SAFETY_VI

    permit_data = as_json(permit(
        "issue", "--agency", "hcm-syt", "--type", "food-safety", "--holder-id", "0312345678",
        "--holder-name", HOLDER, "--valid-until", "2029-12-31", "--json",
    ))
    assert {"id", "token", "url"} <= permit_data.keys()
    assert permit_data["holder"]["name"] == HOLDER
    assert permit_data["url"].startswith("https://xacminh.example/v#")
    assert permit_data["qr_version"] <= 18
    permit_id, url = permit_data["id"], permit_data["url"]

    png, svg = tmp_path / "permit.png", tmp_path / "permit.svg"
    ok(permit("qr", permit_id, "--out", png))
    assert png.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    ok(permit("qr", permit_id, "--out", svg))
    assert "<svg" in svg.read_text()

    # The agency's first permit also published its first status list: valid straight away,
    # as the DESIGN session says.
    assert (permit.home / "status" / "hcm-syt.jwt").is_file()
    body = assert_status(permit, url, 0, "valid", [])
    assert body["permit"]["id"] == permit_id
    assert body["issuer"] == {"id": "hcm-syt", "name": {"vi": "Sở Y tế", "en": "Department of Health"}}
    from_image = assert_status(permit, ["--qr", png], 0, "valid", [])
    assert {**from_image, "checked_at": None} == {**body, "checked_at": None}

    ok(permit("revoke", permit_id, "--reason", "Cơ sở ngừng hoạt động"))
    # Revoked in the ledger but not yet published: the old list still says valid.
    assert_status(permit, url, 0, "valid", [])
    publish_status(permit)
    assert_status(permit, url, 1, "revoked", ["revoked"])
    assert_status(permit, ["--qr", png], 1, "revoked", ["revoked"])


def test_revoke_and_publish_in_the_same_second_as_the_last_publish_is_not_lost(permit: Permit) -> None:
    """`permit revoke … && permit status publish` must work as written even when a status list
    was published earlier in the same second (a script revoking several permits in a row)."""
    data = issued(permit)
    publish_status(permit)
    permit.tick = 0
    ok(permit("revoke", data["id"], "--reason", "Giấy chứng nhận bị thu hồi"))
    ok(permit("status", "publish", "--agency", "hcm-syt"))
    assert_status(permit, data["token"], 1, "revoked", ["revoked"])


# --- publishing to an origin (a directory a static host serves to a fleet) ------------------------


def test_publish_with_origins_writes_the_home_document_to_each_and_says_so(permit: Permit, tmp_path: Path) -> None:
    first, second = tmp_path / "origin-1", tmp_path / "origin-2"
    data = as_json(permit("registry", "publish", "--origin", first, "--origin", second, "--json"))
    assert (data["origins"], data["pushed"]) == ([str(first / "registry.json"), str(second / "registry.json")], [])
    for origin in (first, second):
        assert (origin / "registry.json").read_bytes() == (permit.home / "registry.json").read_bytes()
    lines = ok(permit("registry", "publish", "--origin", first)).stdout.splitlines()
    assert lines[1:] == [f"Registry version {data['version'] + 1} written to {first / 'registry.json'}"]

    lines = ok(permit("status", "publish", "--agency", "hcm-syt", "--origin", first)).stdout.splitlines()
    assert lines[0].startswith("Status list of hcm-syt published: ")
    assert lines[1:] == [f"Status list of hcm-syt written to {first / 'status' / 'hcm-syt.jwt'}"]
    assert (first / "status" / "hcm-syt.jwt").read_bytes() == (permit.home / "status" / "hcm-syt.jwt").read_bytes()
    data = as_json(permit("status", "publish", "--agency", "hcm-syt", "--origin", second, "--json"))
    assert (data["origins"], data["pushed"]) == ([str(second / "status" / "hcm-syt.jwt")], [])


def test_origin_sync_copies_the_registry_and_every_status_list_and_prints_what_it_wrote(permit: Permit, tmp_path: Path) -> None:
    publish_status(permit)
    target = tmp_path / "origin"
    registry, status = target / "registry.json", target / "status" / "hcm-syt.jwt"
    assert ok(permit("origin", "sync", target)).stdout.splitlines() == [
        f"{registry}: written", f"{status}: written", f"Origin {target}: 2 written, 0 unchanged."]
    assert as_json(permit("origin", "sync", target, "--json")) == {
        "origin": str(target), "documents": [{"file": str(registry), "written": False}, {"file": str(status), "written": False}]}
    assert ok(permit("--lang", "vi", "origin", "sync", target)).stdout.splitlines() == [
        f"{registry}: không thay đổi", f"{status}: không thay đổi", f"Thư mục nguồn {target}: đã ghi 0, không thay đổi 2."]


def test_origin_sync_from_a_stale_home_is_status_rollback_and_writes_nothing(permit: Permit, tmp_path: Path) -> None:
    import shutil

    publish_status(permit)
    stale = shutil.copytree(permit.home, tmp_path / "stale")
    target = tmp_path / "origin"
    ok(permit("status", "publish", "--agency", "hcm-syt", "--origin", target))
    newer = (target / "status" / "hcm-syt.jwt").read_bytes()
    assert_error(permit("origin", "sync", target, env={"PERMIT_HOME": str(stale)}), "status_rollback")
    assert (target / "status" / "hcm-syt.jwt").read_bytes() == newer
    assert not (target / "registry.json").exists()  # checked before anything is written


def test_origin_sync_of_a_home_with_nothing_to_publish_is_registry_missing(permit: Permit, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_error(permit("origin", "sync", tmp_path / "origin", env={"PERMIT_HOME": str(empty)}), "registry_missing")
    assert not (tmp_path / "origin").exists()


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_registry_add_key_from_a_public_jwk_file_made_by_keys_generate(permit: Permit, tmp_path: Path, alg: str) -> None:
    jwk_file = tmp_path / "hcm-sxd.jwk.json"
    ok(permit("keys", "generate", "--agency", "hcm-sxd", "--alg", alg, "--out", jwk_file))
    jwk = json.loads(jwk_file.read_text())
    assert "d" not in jwk  # only the public key is handed over
    assert jwk["alg"] == alg
    ok(permit("registry", "add-key", "hcm-sxd", "--public-key", jwk_file))
    assert as_json(permit("registry", "show", "--json"))["agencies"]["hcm-sxd"]["keys"].get(jwk["kid"]) is None  # draft only
    ok(permit("registry", "publish"))
    keys = as_json(permit("registry", "show", "--json"))["agencies"]["hcm-sxd"]["keys"]
    assert keys[jwk["kid"]]["alg"] == alg

    data = issued(permit, agency="hcm-sxd", type="construction", holder_name="Công ty Cổ phần Xây dựng Phú Mỹ Hưng")
    assert data["kid"] == jwk["kid"]  # the newest registered key signs
    publish_status(permit, "hcm-sxd")
    assert_status(permit, data["url"], 0, "valid", [])


def test_a_kid_that_begins_with_a_dash_is_an_argument_not_an_option(permit: Permit, tmp_path: Path) -> None:
    """A kid is base64url: one in 64 begins with "-", and `retire-key AGENCY -Ryy…` must not
    read it as the option -R."""
    from keys.algorithms import generate_private_key
    from keys.signer import KeySigner

    signer = KeySigner(generate_private_key("EdDSA"))
    while not signer.kid.startswith("-"):
        signer = KeySigner(generate_private_key("EdDSA"))
    jwk_file = tmp_path / "dash.jwk.json"
    jwk_file.write_text(json.dumps(signer.public_key().handover_jwk()))
    ok(permit("registry", "add-key", "hcm-sxd", "--public-key", jwk_file))
    retired = as_json(permit("registry", "retire-key", "hcm-sxd", signer.kid, "--reason", "superseded", "--json"))
    assert (retired["kid"], retired["reason"]) == (signer.kid, "superseded")
    for unknown in ("-AAAAAAAAAAA", "-hAAAAAAAAAA"):  # -h: not the help option either
        assert_error(permit("registry", "retire-key", "hcm-sxd", unknown, "--reason", "superseded"), "unknown_key")


def test_registry_add_key_refuses_a_file_that_is_not_a_public_jwk(permit: Permit, tmp_path: Path) -> None:
    not_a_key = tmp_path / "key.json"
    not_a_key.write_text('{"kty": "OKP", "crv": "Ed25519", "x": "short"}')
    assert_error(permit("registry", "add-key", "hcm-syt", "--public-key", not_a_key), "bad_key_file")


# --- what verify accepts ------------------------------------------------------------------------


@pytest.fixture
def valid_permit(permit: Permit, tmp_path: Path) -> dict[str, Any]:
    data = issued(permit)
    data["png"] = tmp_path / "permit.png"
    ok(permit("qr", data["id"], "--out", data["png"]))
    publish_status(permit)
    return data


@pytest.mark.parametrize(
    "form",
    [
        lambda d: [d["token"]],
        lambda d: [d["url"]],
        lambda d: ["--qr", d["png"]],
        lambda d: ["https://xacminh.example/v#" + d["token"]],  # a plain JWS after the '#'
        lambda d: [d["url"].split("#", 1)[1]],  # the bare digits
    ],
    ids=["bare-token", "qr-url", "qr-png", "url-with-jws", "bare-digits"],
)
def test_verify_accepts_token_url_and_qr_image_with_the_same_verdict(permit: Permit, valid_permit: dict[str, Any], form: Any) -> None:
    exit_code, body = verdict(permit, *form(valid_permit))
    _, reference = verdict(permit, valid_permit["token"])
    assert exit_code == 0
    assert {**body, "checked_at": None} == {**reference, "checked_at": None}
    assert (body["status"], body["permit"]["id"], body["permit"]["holder"]["name"]) == ("valid", valid_permit["id"], HOLDER)


@pytest.mark.parametrize(("lang", "status_text", "type_name"), [("vi", "HỢP LỆ", FOOD_SAFETY_VI), ("en", "VALID", "Food safety certificate")])
def test_verify_speaks_vietnamese_and_english(permit: Permit, valid_permit: dict[str, Any], lang: str, status_text: str, type_name: str) -> None:
    result = ok(permit("verify", valid_permit["url"], "--lang", lang))
    first = result.stdout.splitlines()[0]
    assert first == f"✔ {status_text} (valid)"
    assert type_name in result.stdout
    assert HOLDER in result.stdout


def test_verify_in_vietnamese_explains_a_revoked_permit(permit: Permit, valid_permit: dict[str, Any]) -> None:
    ok(permit("revoke", valid_permit["id"], "--reason", "Vi phạm điều kiện"))
    publish_status(permit)
    result = permit("verify", "--qr", valid_permit["png"], "--lang", "vi")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0] == "✘ ĐÃ BỊ THU HỒI (revoked)"
    assert "[revoked]" in result.stdout


def test_issuing_with_an_es256_agency_verifies(permit: Permit) -> None:
    data = issued(permit, agency="hcm-sct", type="alcohol-retail", holder_name="Hộ kinh doanh Tạp hóa Bà Năm")
    publish_status(permit, "hcm-sct")
    assert_status(permit, data["url"], 0, "valid", [])


# --- Vietnamese text ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", [HOLDER, "Hộ kinh doanh Phở Hùng – Quận Ba", "Cơ sở sản xuất nước đá Đức Thắng"])
def test_a_holder_name_typed_in_nfd_is_stored_signed_and_shown_in_nfc(permit: Permit, name: str) -> None:
    nfd = unicodedata.normalize("NFD", name)
    assert nfd != name
    data = issued(permit, holder_name=nfd, holder_address=unicodedata.normalize("NFD", "45 Lê Lợi, Phường Sài Gòn"))
    assert data["holder"] == {"id": "0312345678", "name": name, "address": "45 Lê Lợi, Phường Sài Gòn"}
    assert as_json(permit("show", data["id"], "--json"))["holder"]["name"] == name
    publish_status(permit)
    body = assert_status(permit, data["url"], 0, "valid", [])
    assert body["permit"]["holder"]["name"] == name
    assert unicodedata.is_normalized("NFC", body["permit"]["holder"]["address"])
    assert name in ok(permit("verify", data["url"], "--lang", "vi")).stdout


# --- list, show, amend, suspend, reinstate ------------------------------------------------------


@pytest.mark.parametrize("officer_from", ["option", "environment"])
def test_amend_makes_version_2_and_the_history_names_the_officer(permit: Permit, officer_from: str) -> None:
    officer = "Nguyễn Thị Thu Hà"
    prefix, env = (["--officer", officer], None) if officer_from == "option" else ([], {"PERMIT_OFFICER": officer})
    data = as_json(permit(*prefix, *issue_args(), env=env))
    amended = as_json(permit(*prefix, "amend", data["id"], "--holder-address", "45 Lê Lợi, Phường Sài Gòn",
                             "--reason", "Chuyển địa điểm kinh doanh", "--json", env=env))
    assert (amended["id"], amended["version"], amended["state"]) == (data["id"], 2, "active")
    assert amended["holder"]["address"] == "45 Lê Lợi, Phường Sài Gòn"
    assert amended["token"] != data["token"]

    shown = as_json(permit("show", data["id"], "--json"))
    assert shown["version"] == 2
    assert [(e["kind"], e["version"], e["officer"], e["reason"]) for e in shown["events"]] == [
        ("issued", 1, officer, None),
        ("amended", 2, officer, "Chuyển địa điểm kinh doanh"),
    ]

    publish_status(permit)
    old = assert_status(permit, data["token"], 1, "superseded", ["superseded"])
    assert old["superseded_by"] == {"id": data["id"], "min_version": 2}
    new = assert_status(permit, amended["url"], 0, "valid", [])
    assert new["permit"]["holder"]["address"] == "45 Lê Lợi, Phường Sài Gòn"


def test_show_prints_the_history_for_a_person(permit: Permit) -> None:
    data = as_json(permit("--officer", "can.bo.a", *issue_args()))
    ok(permit("--officer", "can.bo.b", "suspend", data["id"], "--reason", "Chờ thanh tra"))
    out = ok(permit("show", data["id"])).stdout
    assert f"Permit {data['id']}" in out and "suspended" in out
    history = [line.split() for line in out.split("History:\n")[1].splitlines()]
    assert history[0] == ["At", "Event", "Ver.", "Officer", "Reason"]
    assert history[1][1:] == ["issued", "v1", "can.bo.a"]
    assert history[2][1:] == ["suspended", "v1", "can.bo.b", "Chờ", "thanh", "tra"]


def test_suspend_then_reinstate_changes_the_verdict_after_each_publish(permit: Permit) -> None:
    data = issued(permit)
    publish_status(permit)
    assert_status(permit, data["token"], 0, "valid", [])

    suspended = as_json(permit("suspend", data["id"], "--reason", "Chờ kết quả thanh tra", "--json"))
    assert suspended["state"] == "suspended"
    publish_status(permit)
    assert_status(permit, data["token"], 1, "suspended", ["suspended"])

    reinstated = as_json(permit("reinstate", data["id"], "--json"))
    assert reinstated["state"] == "active"
    publish_status(permit)
    assert_status(permit, data["token"], 0, "valid", [])
    kinds = [e["kind"] for e in as_json(permit("show", data["id"], "--json"))["events"]]
    assert kinds == ["issued", "suspended", "reinstated"]


def test_list_filters_by_agency_state_and_type(permit: Permit) -> None:
    first = issued(permit, holder_name="Cơ sở A")
    second = issued(permit, holder_name="Cơ sở B")
    other = issued(permit, agency="hcm-sct", type="alcohol-retail", holder_name="Cơ sở C")
    ok(permit("revoke", second["id"], "--reason", "Đóng cửa"))

    def ids(*args: str) -> set[str]:
        return {row["id"] for row in as_json(permit("list", "--json", *args))["permits"]}

    assert ids() == {first["id"], second["id"], other["id"]}
    assert ids("--agency", "hcm-syt") == {first["id"], second["id"]}
    assert ids("--state", "revoked") == {second["id"]}
    assert ids("--state", "active", "--type", "food-safety") == {first["id"]}
    assert ids("--type", "alcohol-retail") == {other["id"]}
    human = ok(permit("list")).stdout
    assert human.splitlines()[-1] == "3 permits"
    assert "Cơ sở A" in human


def test_a_permit_past_its_last_day_is_listed_and_shown_as_expired(permit: Permit, cli_clock: CliClock) -> None:
    ending = issued(permit, holder_name="Cơ sở hết hạn", valid_until="31/12/2026")
    lasting = issued(permit, holder_name="Cơ sở còn hạn", valid_until="31/12/2028")
    suspended = issued(permit, holder_name="Cơ sở bị đình chỉ", valid_until="31/12/2026")
    ok(permit("suspend", suspended["id"], "--reason", "chờ kiểm tra"))

    def states(*args: str) -> dict[str, str]:
        return {row["id"]: row["state"] for row in as_json(permit("list", "--json", *args))["permits"]}

    assert states("--state", "expired") == {}
    new_year = int(datetime(2027, 1, 1, 0, 0, tzinfo=CITY_TZ).timestamp())  # the first moment after 31/12/2026
    cli_clock.t = new_year - 1  # each command moves the clock one second on
    assert states() == {ending["id"]: "expired", lasting["id"]: "active", suspended["id"]: "suspended"}
    assert states("--state", "expired") == {ending["id"]: "expired"}
    assert states("--state", "active") == {lasting["id"]: "active"}
    assert states("--state", "suspended") == {suspended["id"]: "suspended"}  # a verifier says suspended first too
    assert as_json(permit("show", ending["id"], "--json"))["state"] == "expired"
    assert ok(permit("show", ending["id"])).stdout.startswith(f"Permit {ending['id']}  (number {ending['id']}, version 1, expired)")
    listed = ok(permit("list", "--state", "expired")).stdout.splitlines()
    assert listed[1].split()[:6] == [ending["id"], "hcm-syt", "food-safety", "expired", "1", "31/12/2026"]
    assert listed[-1] == "1 permit"
    cli_clock.t = new_year - 2  # the command runs in the last second of 31/12/2026: still active
    assert states("--state", "expired") == {}


def test_list_says_when_the_limit_left_permits_out(permit: Permit) -> None:
    made = [issued(permit, holder_name=f"Cơ sở số {n}")["id"] for n in range(3)]
    issued(permit, agency="hcm-sct", type="alcohol-retail", holder_name="Cơ sở khác")
    listing = as_json(permit("list", "--agency", "hcm-syt", "--limit", "2", "--json"))
    assert [row["id"] for row in listing["permits"]] == made[:0:-1]  # newest first
    assert (listing["total"], listing["truncated"]) == (3, True)
    assert as_json(permit("list", "--agency", "hcm-syt", "--limit", "3", "--json"))["truncated"] is False
    human = ok(permit("list", "--limit", "2")).stdout.splitlines()
    assert human[-1] == "Showing 3 of 4 permits; use --limit to see more."  # two of hcm-syt, one of hcm-sct
    assert len(human) == 1 + 3 + 1
    vi = ok(permit("--lang", "vi", "list", "--limit", "2")).stdout.splitlines()
    assert vi[-1] == "Đang hiện 3 trên 4 giấy phép; dùng --limit để xem thêm."
    assert ok(permit("list", "--limit", "5")).stdout.splitlines()[-1] == "4 permits"


def test_issue_with_every_field_and_a_printed_number(permit: Permit) -> None:
    data = as_json(permit(
        *issue_args(number="ATTP-2026/0001", valid_from="2026-12-01", holder_address="128 Nguyễn Thị Minh Khai"),
        "--activity", "Sản xuất bánh mì", "--activity", "Kinh doanh dịch vụ ăn uống", "--condition", "Kiểm tra định kỳ 6 tháng",
    ))
    assert (data["number"], data["valid_from"], data["valid_until"]) == ("ATTP-2026/0001", "2026-12-01", "2028-12-31")
    assert data["activities"] == ["Sản xuất bánh mì", "Kinh doanh dịch vụ ăn uống"]
    assert data["conditions"] == ["Kiểm tra định kỳ 6 tháng"]
    publish_status(permit)
    assert_status(permit, data["token"], 1, "not_yet_valid", ["not_yet_valid"])


# --- bad input: exit 2 and one line with the reason -------------------------------------------


@pytest.mark.parametrize(
    "args",
    [issue_args(), ["list"], ["show", "ABCD1234"], ["registry", "show"], ["status", "publish", "--agency", "hcm-syt"], ["verify", "abc"]],
    ids=["issue", "list", "show", "registry-show", "status-publish", "verify"],
)
@pytest.mark.parametrize("where", ["unset", "not-a-directory"])
def test_a_missing_home_is_home_missing(permit: Permit, tmp_path: Path, args: list[str], where: str) -> None:
    home = None if where == "unset" else str(tmp_path / "no" / "such" / "home")
    assert_error(permit(*args, env={"PERMIT_HOME": home}), "home_missing")


@pytest.mark.parametrize(
    "args",
    [issue_args(), ["registry", "show"], ["status", "publish", "--agency", "hcm-syt"], ["verify", "abc"]],
    ids=["issue", "registry-show", "status-publish", "verify"],
)
@pytest.mark.parametrize("home", ["empty-directory", "registry-deleted"])
def test_a_home_without_registry_json_is_registry_missing(permit: Permit, tmp_path: Path, args: list[str], home: str) -> None:
    if home == "empty-directory":
        empty = tmp_path / "empty"
        empty.mkdir()
        env: dict[str, str | None] = {"PERMIT_HOME": str(empty)}
    else:
        (permit.home / "registry.json").unlink()
        env = {}
    assert_error(permit(*args, env=env), "registry_missing")


@pytest.mark.parametrize(
    "args",
    [issue_args(), ["status", "publish", "--agency", "hcm-syt"], ["registry", "publish"]],
    ids=["issue", "status-publish", "registry-publish"],
)
def test_a_wrong_passphrase_is_bad_passphrase(permit: Permit, args: list[str]) -> None:
    assert_error(permit(*args, env={"PERMIT_PASSPHRASE": "not the right passphrase"}), "bad_passphrase")


def test_no_passphrase_and_no_terminal_is_passphrase_required(permit: Permit) -> None:
    assert_error(permit(*issue_args(), env={"PERMIT_PASSPHRASE": None}), "passphrase_required")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
@pytest.mark.parametrize("args", [issue_args(), ["status", "publish", "--agency", "hcm-syt"]], ids=["issue", "status-publish"])
def test_a_private_key_readable_by_others_is_refused(permit: Permit, mode: int, args: list[str]) -> None:
    (key_file,) = (permit.home / "private").glob("hcm-syt-*.key")
    os.chmod(key_file, mode)
    assert_error(permit(*args), "key_file_insecure")


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"agency": "hcm-nope"}, "unknown_agency"),
        ({"type": "fireworks"}, "unknown_type"),
        ({"type": "construction"}, "not_authorised_for_type"),
        ({"agency": "hcm-skhdt", "type": "food-safety"}, "not_authorised_for_type"),
        ({"valid_until": "2031-12-31"}, "validity_too_long"),
        ({"valid_from": "2026-12-01", "valid_until": "2029-12-02"}, "validity_too_long"),
        ({"valid_from": "2028-06-01", "valid_until": "2028-01-01"}, "bad_dates"),
        ({"valid_until": "2025-01-01"}, "bad_dates"),
        ({"holder_name": ""}, "bad_text"),
        ({"holder_name": "   "}, "bad_text"),
        ({"holder_name": "A" * 201}, "bad_text"),
        ({"holder_name": "Công ty " + "Ă" * 193}, "bad_text"),
        ({"holder_name": "Công ty \u202eHNNT"}, "bad_text"),
        ({"holder_name": "Công ty\u200bSạch"}, "bad_text"),
        ({"holder_name": "Công ty\nSạch"}, "bad_text"),
        ({"holder_address": "12 Lê Lợi\u202e"}, "bad_text"),
        ({"holder_id": "031 234"}, "bad_holder_id"),
    ],
    ids=[
        "unknown-agency", "unknown-type", "type-not-authorised", "other-agency-type-not-authorised",
        "validity-too-long", "validity-one-day-too-long", "end-before-start", "end-in-the-past",
        "empty-name", "blank-name", "name-201-chars", "name-201-chars-vietnamese", "name-rtl-override",
        "name-zero-width-space", "name-newline", "address-rtl-override", "holder-id-with-space",
    ],
)
def test_issue_refuses_bad_input_with_its_reason(permit: Permit, overrides: dict[str, str], reason: str) -> None:
    assert_error(permit(*issue_args(**overrides)), reason)
    ledger = permit.home / "ledgers" / "hcm-syt.db"
    assert not ledger.exists() or as_json(permit("list", "--json"))["permits"] == []  # nothing half-done


def test_a_name_of_exactly_200_characters_is_accepted(permit: Permit) -> None:
    assert issued(permit, holder_name="Ă" * 200)["holder"]["name"] == "Ă" * 200


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["status", "publish", "--agency", "hcm-nope"], "unknown_agency"),
        (["registry", "add-key", "hcm-nope"], "unknown_agency"),
        (["registry", "add-agency", "hcm-sgtvt", "--name-vi", "Sở Giao thông Vận tải", "--name-en", "Department of Transport", "--type", "taxi"], "unknown_type"),
        (["registry", "add-agency", "hcm-syt", "--name-vi", "Sở Y tế", "--name-en", "Department of Health", "--type", "food-safety"], "duplicate_agency"),
        (["registry", "add-agency", "HCM-SYT", "--name-vi", "Sở Y tế", "--name-en", "Department of Health", "--type", "food-safety"], "bad_identifier"),
        (["registry", "add-type", "food-safety", "--name-vi", "An toàn thực phẩm", "--name-en", "Food safety"], "duplicate_type"),
        (["registry", "add-type", "karaoke", "--name-vi", "Giấy phép\u202e", "--name-en", "Karaoke licence"], "bad_text"),
        (["registry", "retire-key", "hcm-syt", "NOSUCHKEY", "--reason", "superseded"], "unknown_key"),
        (["registry", "add-type", "karaoke", "--name-vi", "Karaoke", "--name-en", "Karaoke licence", "--max-days", "0"], "bad_input"),
        (["registry", "add-agency", "hcm-sgtvt", "--name-vi", "Sở Giao thông Vận tải", "--name-en", "Department of Transport",
          "--type", "construction", "--status-url", "ftp://status.example/s"], "bad_input"),
        (["registry", "add-agency", "hcm-sgtvt", "--name-vi", "Sở Giao thông Vận tải", "--name-en", "Department of Transport",
          "--type", "construction", "--status-url", "https://[x]/s"], "bad_input"),
    ],
    ids=["publish-unknown-agency", "add-key-unknown-agency", "agency-unknown-type", "duplicate-agency", "agency-id-upper-case",
         "duplicate-type", "type-name-rtl-override", "retire-unknown-key", "type-max-days-0", "status-url-ftp", "status-url-bracketed"],
)
def test_registry_and_status_commands_refuse_bad_input_with_its_reason(permit: Permit, args: list[str], reason: str) -> None:
    draft = (permit.home / "operator" / "draft.json").read_bytes()
    assert_error(permit(*args), reason)
    assert (permit.home / "operator" / "draft.json").read_bytes() == draft


def test_a_weak_passphrase_is_refused_before_any_key_is_made(tmp_path: Path, cli_clock: CliClock) -> None:
    permit = Permit({"PERMIT_HOME": str(tmp_path / "hcm"), "PERMIT_PASSPHRASE": "short"}, cli_clock)
    assert_error(permit("registry", "init", "--id", "hcm", "--name", "TP. Hồ Chí Minh"), "weak_passphrase")
    assert not (permit.home / "anchor.json").exists()


def test_listing_a_registered_agency_that_has_issued_nothing_is_empty(permit: Permit) -> None:
    assert as_json(permit("list", "--agency", "hcm-sxd", "--json")) == {"permits": [], "total": 0, "truncated": False}
    assert ok(permit("list", "--agency", "hcm-sxd")).stdout == "0 permits\n"


@pytest.mark.parametrize("value", ["2029-13-01", "tomorrow", "2029-02-30", "", "31/02/2029", "12/31/2029", "31/12/29",
                                   "31/12-2029", "2029/12/31", "31.12.2029", "+31/12/2029"])
@pytest.mark.parametrize("option", ["valid_until", "valid_from"])
def test_malformed_dates_are_one_line_bad_dates(permit: Permit, option: str, value: str) -> None:
    result = permit(*issue_args(**{option: value}))
    assert_error(result, "bad_dates")
    assert f"--{option.replace('_', '-')} {value!r} is not a date (DD/MM/YYYY, DD-MM-YYYY or YYYY-MM-DD)" in result.stderr
    assert as_json(permit("list", "--json"))["permits"] == []


@pytest.mark.parametrize("until", ["31/12/2028", "31-12-2028", "2028-12-31", " 31/12/2028 "])
def test_a_day_is_typed_day_first_as_in_vietnamese_or_as_iso(permit: Permit, until: str) -> None:
    data = issued(permit, valid_until=until, valid_from="1/12/2026")
    assert (data["valid_from"], data["valid_until"]) == ("2026-12-01", "2028-12-31")
    assert "  Valid  01/12/2026 to 31/12/2028\n" in ok(permit("show", data["id"])).stdout
    amended = as_json(permit("amend", data["id"], "--valid-until", "30-6-2028", "--reason", "rút ngắn", "--json"))
    assert amended["valid_until"] == "2028-06-30"


def test_a_key_s_first_day_is_typed_day_first_too(permit: Permit) -> None:
    added = as_json(permit("registry", "add-key", "hcm-syt", "--valid-from", "01/12/2026", "--json"))
    assert added["valid_from"] == "2026-11-30T17:00:00Z"  # midnight in Ho Chi Minh City
    assert_error(permit("registry", "add-key", "hcm-syt", "--valid-from", "32/12/2026"), "bad_dates")


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("ATTP-2026/0001", "ATTP-2026/0001"),
        ("ATTP-2026/0001", " ATTP-2026/0001 "),
        ("Số 01/2026/ATTP", unicodedata.normalize("NFD", "Số 01/2026/ATTP")),
    ],
    ids=["same", "padded", "nfd"],
)
def test_a_permit_number_used_twice_is_duplicate_permit_number(permit: Permit, first: str, second: str) -> None:
    issued(permit, number=first)
    assert_error(permit(*issue_args(number=second)), "duplicate_permit_number")
    assert len(as_json(permit("list", "--json"))["permits"]) == 1


@pytest.mark.parametrize(
    "args",
    [
        ["revoke", "ZZZZ9999", "--reason", "x"],
        ["suspend", "ZZZZ9999", "--reason", "x"],
        ["reinstate", "ZZZZ9999"],
        ["amend", "ZZZZ9999", "--holder-address", "1 Lê Lợi", "--reason", "x"],
        ["show", "ZZZZ9999"],
        ["show", "ZZZZ9999", "--agency", "hcm-syt"],
        ["qr", "ZZZZ9999", "--out", "permit.png"],
    ],
    ids=["revoke", "suspend", "reinstate", "amend", "show", "show-in-agency", "qr"],
)
@pytest.mark.parametrize("ledgers", ["none", "one"])
def test_an_unknown_permit_is_permit_not_found(permit: Permit, args: list[str], ledgers: str) -> None:
    if ledgers == "one" or "--agency" in args:
        issued(permit)
    assert_error(permit(*args), "permit_not_found")


@pytest.mark.parametrize(
    ("first", "then", "reason"),
    [
        (["revoke", "--reason", "Đóng cửa"], ["revoke", "--reason", "Lần nữa"], "already_revoked"),
        (["revoke", "--reason", "Đóng cửa"], ["suspend", "--reason", "Thanh tra"], "invalid_transition"),
        (["revoke", "--reason", "Đóng cửa"], ["reinstate"], "invalid_transition"),
        (["revoke", "--reason", "Đóng cửa"], ["amend", "--holder-address", "1 Lê Lợi", "--reason", "x"], "invalid_transition"),
        (["suspend", "--reason", "Thanh tra"], ["suspend", "--reason", "Lần nữa"], "already_suspended"),
        (["suspend", "--reason", "Thanh tra"], ["amend", "--holder-address", "1 Lê Lợi", "--reason", "x"], "invalid_transition"),
        ([], ["reinstate"], "already_active"),
    ],
    ids=["revoke-twice", "suspend-revoked", "reinstate-revoked", "amend-revoked", "suspend-twice", "amend-suspended", "reinstate-active"],
)
def test_a_life_cycle_step_that_does_not_apply_is_refused(permit: Permit, first: list[str], then: list[str], reason: str) -> None:
    data = issued(permit)
    if first:
        ok(permit(first[0], data["id"], *first[1:]))
    before = as_json(permit("show", data["id"], "--json"))
    assert_error(permit(then[0], data["id"], *then[1:]), reason)
    assert as_json(permit("show", data["id"], "--json")) == before  # nothing recorded


@pytest.mark.parametrize("verb", ["revoke", "suspend"])
def test_revoke_and_suspend_need_a_reason(permit: Permit, verb: str) -> None:
    data = issued(permit)
    assert_usage_error(permit(verb, data["id"]), "Missing option '--reason'")
    assert_error(permit(verb, data["id"], "--reason", "   "), "bad_text")
    assert_error(permit(verb, data["id"], "--reason", "Thanh tra\u202e"), "bad_text")
    assert as_json(permit("show", data["id"], "--json"))["state"] == "active"


@pytest.mark.parametrize(
    "args",
    [
        issue_args(),
        ["list"],
        ["list", "--agency", "hcm-syt"],
        ["show", "{id}"],
        ["revoke", "{id}", "--reason", "x"],
        ["amend", "{id}", "--holder-address", "1 Lê Lợi", "--reason", "x"],
        ["qr", "{id}", "--out", "permit.png"],
        ["status", "publish", "--agency", "hcm-syt"],
    ],
    ids=["issue", "list", "list-agency", "show", "revoke", "amend", "qr", "status-publish"],
)
def test_a_corrupted_ledger_is_ledger_corrupt(permit: Permit, tmp_path: Path, args: list[str]) -> None:
    data = issued(permit)
    # The issuing command has ended: its ledger connection is closed and the WAL checkpointed
    # into the database file, as when `permit issue` runs as its own process.
    gc.collect()
    ledger = permit.home / "ledgers" / "hcm-syt.db"
    assert not ledger.with_name("hcm-syt.db-wal").exists()
    ledger.write_bytes(GARBAGE)
    args = [a.replace("{id}", data["id"]).replace("permit.png", str(tmp_path / "permit.png")) for a in args]
    assert_error(permit(*args), "ledger_corrupt")


# --- a registry that cannot be trusted --------------------------------------------------------


def _flip_one_payload_character(bundle: dict[str, Any]) -> None:
    payload = bundle["registry"]["payload"]
    i = len(payload) // 2
    bundle["registry"]["payload"] = payload[:i] + ("B" if payload[i] != "B" else "C") + payload[i + 1 :]


def _edit_payload(edit: Any) -> Any:
    def tamper(bundle: dict[str, Any]) -> None:
        content = loads_strict(b64url_decode(bundle["registry"]["payload"]))
        edit(content)
        bundle["registry"]["payload"] = b64url_encode(dumps_canonical(content))

    return tamper


TAMPERING = {
    "one-base64-character": _flip_one_payload_character,
    # a freeze attack: keep an old registry alive for ten more years
    "expiry-extended": _edit_payload(lambda c: c.update(expires_at=c["expires_at"] + 3650 * 86_400)),
    # an agency grants itself a permit type
    "type-granted": _edit_payload(lambda c: c["agencies"]["hcm-syt"].update(types=["construction", "food-safety"])),
    "name-changed": _edit_payload(lambda c: c.update(name="Thành phố Thủ Đức")),
    "signature-removed": lambda b: b["registry"].update(signatures=b["registry"]["signatures"][:1]),
}


def tamper_registry(home: Path, how: str) -> None:
    path = home / "registry.json"
    bundle = json.loads(path.read_bytes())
    TAMPERING[how](bundle)
    path.write_bytes(dumps_canonical(bundle) + b"\n")


@pytest.mark.parametrize("how", TAMPERING)
def test_a_registry_edited_by_hand_is_registry_invalid(permit: Permit, how: str) -> None:
    data = issued(permit)
    publish_status(permit)
    assert_status(permit, data["token"], 0, "valid", [])
    tamper_registry(permit.home, how)
    assert_error(permit("registry", "show"), "registry_invalid")
    assert_error(permit(*issue_args()), "registry_invalid")
    assert_error(permit("status", "publish", "--agency", "hcm-syt"), "registry_invalid")
    body = assert_status(permit, data["token"], 1, "status_unknown", ["registry_invalid"])
    assert "permit" not in body


@pytest.mark.parametrize("command", [["registry", "show"], issue_args()], ids=["registry-show", "issue"])
def test_an_older_published_registry_put_back_is_registry_rollback(permit: Permit, command: list[str]) -> None:
    data = issued(permit)
    publish_status(permit)
    registry_file = permit.home / "registry.json"
    ok(permit("registry", "publish"))
    older = registry_file.read_bytes()
    ok(permit("registry", "publish"))
    assert as_json(permit("registry", "show", "--json"))["version"] == 3
    registry_file.write_bytes(older)
    assert_error(permit(*command), "registry_rollback")
    assert_status(permit, data["token"], 1, "status_unknown", ["registry_rollback"])


def test_a_registry_past_its_expiry_is_registry_stale(permit: Permit, cli_clock: CliClock) -> None:
    data = issued(permit)
    publish_status(permit)
    cli_clock.t += 90 * 86_400
    assert_error(permit("registry", "show"), "registry_stale")
    assert_status(permit, data["token"], 1, "status_unknown", ["registry_stale"])


# --- verify: usage and input errors, and what is not a permit ------------------------------------


@pytest.mark.parametrize("args", [[], ["abc", "--qr", "permit.png"]], ids=["nothing", "token-and-qr"])
def test_verify_needs_exactly_one_token_or_image(permit: Permit, args: list[str]) -> None:
    result = permit("verify", *args)
    assert_usage_error(result, "Error: give a token or URL, or --qr IMAGE (one of them)")
    assert result.stdout == ""


def test_verify_a_qr_file_that_is_not_an_image_is_bad_image(permit: Permit, tmp_path: Path) -> None:
    fake = tmp_path / "permit.png"
    fake.write_text("eyJhbGciOiJFZERTQSJ9.e30.c2ln\n")
    assert_error(permit("verify", "--qr", fake), "bad_image")


def test_verify_a_qr_file_that_does_not_exist_is_bad_image(permit: Permit, tmp_path: Path) -> None:
    assert_error(permit("verify", "--qr", tmp_path / "missing.png"), "bad_image")


def test_verify_an_image_without_a_qr_code_is_no_qr_code(permit: Permit, tmp_path: Path) -> None:
    blank = tmp_path / "blank.png"
    Image.new("L", (200, 200), 255).save(blank)
    assert_error(permit("verify", "--qr", blank), "no_qr_code")


@pytest.mark.parametrize(
    "text",
    ["garbage", "not.a.token", "a.b.c.d", "http://127.0.0.1:8000/v#12345", "http://127.0.0.1:8000/v#", "   ", "Công ty"],
    ids=["word", "three-parts", "four-parts", "url-with-bad-digits", "url-without-token", "blank", "vietnamese"],
)
def test_verify_garbage_is_an_invalid_malformed_token(permit: Permit, text: str) -> None:
    body = assert_status(permit, text, 1, "invalid", ["malformed_token"])
    assert "permit" not in body and "issuer" not in body
    human = permit("verify", text)
    assert human.exit_code == 1
    assert "[malformed_token]" in human.stdout and "Traceback" not in human.output


def test_verify_a_token_with_one_character_changed_is_bad_signature(permit: Permit, valid_permit: dict[str, Any]) -> None:
    header, payload, signature = valid_permit["token"].split(".")
    forged_signature = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    body = assert_status(permit, f"{header}.{payload}.{forged_signature}", 1, "invalid", ["bad_signature"])
    assert "permit" not in body


LOOPBACK_URLS = ["http://127.0.0.1:8000", "http://localhost:8000/", "https://LOCALHOST", "http://[::1]:8000", "http://127.1.2.3",
                 "http://0.0.0.0:8000", "http://[::ffff:127.0.0.1]:8000", "http://xacminh.localhost", "http://localhost."]


@pytest.mark.parametrize("url", LOOPBACK_URLS)
def test_a_loopback_base_url_is_refused_when_issuing(permit: Permit, url: str) -> None:
    """The default base URL is this machine's: a new agency once printed permits whose official
    address was the officer's own computer. Refused, with how to set the right one, and nothing
    is written."""
    city_config = json.loads((permit.home / "config.json").read_text())
    (permit.home / "config.json").write_text(json.dumps({**city_config, "base_url": url}))
    result = permit(*issue_args())
    assert_error(result, "loopback_base_url")
    assert result.stderr == (f"Error: [loopback_base_url] the base URL {url} is this computer's own address, and a permit printed "
                             "with it can be checked nowhere else: set the official verifier's address with PERMIT_BASE_URL=https://… "
                             f"(this session) or \"base_url\" in {permit.home / 'config.json'} (this home)\n")
    assert not (permit.home / "ledgers" / "hcm-syt.db").exists()


@pytest.mark.parametrize("url", ["https://xacminh.example", "http://127example.com", "http://localhost.example", "http://10.0.0.1:8000",
                                 "http://[::2]", "https://192.168.1.20/", "not a URL", "http://[::1"])
def test_other_base_urls_are_not_loopback(url: str) -> None:
    assert not is_loopback_url(url)
    assert all(is_loopback_url(loopback) for loopback in LOOPBACK_URLS)


def test_every_command_that_prints_refuses_a_loopback_base_url_and_writes_nothing(permit: Permit, tmp_path: Path) -> None:
    data = issued(permit)
    old_kid = data["kid"]
    csv_file = tmp_path / "giay-phep-cu.csv"
    csv_file.write_text("number,holder_id,holder_name,valid_until\n01/2024/ATTP,0301112223,Hộ kinh doanh Phở Hòa,14/03/2027\n")
    loopback = {"PERMIT_BASE_URL": "http://127.0.0.1:8000"}
    ledger_before = (permit.home / "ledgers" / "hcm-syt.db").read_bytes()
    for args in ([*issue_args()], ["import", csv_file, "--agency", "hcm-syt", "--type", "food-safety"],
                 ["amend", data["id"], "--holder-name", "Tên mới", "--reason", "đổi tên"],
                 ["reissue", "--agency", "hcm-syt", "--key", old_kid],
                 ["qr", data["id"], "--out", tmp_path / "permit.png"], ["print", data["id"], "--out", tmp_path / "permit.html"]):
        assert_error(permit(*args, env=loopback), "loopback_base_url")
    assert (permit.home / "ledgers" / "hcm-syt.db").read_bytes() == ledger_before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["giay-phep-cu.csv", "hcm"]
    # Reading is not printing: show and list still work, and give the address the home has.
    assert as_json(permit("show", data["id"], "--json", env=loopback))["url"].startswith("http://127.0.0.1:8000/v#")
    # The environment variable the message names sets it for the session.
    again = as_json(permit("qr", data["id"], "--out", tmp_path / "permit.png", "--json",
                           env={"PERMIT_BASE_URL": "https://xacminh.hochiminhcity.gov.vn"}))
    assert again["url"].startswith("https://xacminh.hochiminhcity.gov.vn/v#")


def test_the_demo_home_may_point_at_this_machine(tmp_path: Path, cli_clock: CliClock) -> None:
    """`permit demo` serves its verifier on 127.0.0.1; the home it builds records that it is a
    demo (and only `permit demo` writes that), so its permits may point there."""
    ok(Permit({}, cli_clock)("demo", "--dir", tmp_path / "demo"))
    demo = Permit({"PERMIT_HOME": str(tmp_path / "demo"), "PERMIT_PASSPHRASE": "demo-passphrase-not-for-production"}, cli_clock)
    cli_clock.t = int(time.time())  # the demo's registry was published on the real clock
    data = as_json(demo(*issue_args(agency="hcm-skhdt", type="business-registration", valid_until="31/12/2028")))
    assert data["url"].startswith("http://127.0.0.1:8000/v#")
    assert ok(demo("qr", data["id"], "--out", tmp_path / "demo.png")).stdout.splitlines()[1] == data["url"]


@pytest.mark.parametrize("out", ["permit.gif", "permit", "permit.png.txt"])
def test_qr_output_must_be_png_or_svg(permit: Permit, tmp_path: Path, out: str) -> None:
    data = issued(permit)
    assert_error(permit("qr", data["id"], "--out", tmp_path / out), "bad_output")
    assert not (tmp_path / out).exists()


@pytest.mark.parametrize("ttl", ["0", "745"])
def test_status_publish_ttl_out_of_range_is_bad_ttl(permit: Permit, ttl: str) -> None:
    assert_error(permit("status", "publish", "--agency", "hcm-syt", "--ttl-hours", ttl), "bad_ttl")


def test_registry_init_twice_is_already_initialised(permit: Permit) -> None:
    assert_error(permit("registry", "init", "--id", "hcm", "--name", "TP. Hồ Chí Minh"), "already_initialised")


# --- help -----------------------------------------------------------------------------------------


def command_paths(group: click.Group = cli, prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield prefix
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from command_paths(command, (*prefix, name))
        else:
            yield (*prefix, name)


@pytest.mark.parametrize("path", list(command_paths()), ids=lambda p: " ".join(p) or "permit")
@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_every_command_has_help_with_an_example(path: tuple[str, ...], flag: str) -> None:
    result = CliRunner().invoke(cli, [*path, flag], env={"PERMIT_HOME": None}, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Example:" in result.stdout
    assert "Example: permit " in " ".join(result.stdout.split())


# DESIGN.md, "The contract others build on": scripts and other agencies rely on these names.
CONTRACT_COMMANDS = [
    "registry init", "registry add-type", "registry add-agency", "registry add-key", "registry retire-key",
    "registry publish", "registry show", "registry push", "keys generate", "issue", "list", "show",
    "amend", "suspend", "reinstate", "revoke", "status publish", "status push", "qr", "verify", "serve", "demo",
    "print", "backup", "restore",
]


@pytest.mark.parametrize("name", CONTRACT_COMMANDS)
def test_every_command_named_in_the_contract_exists(name: str) -> None:
    assert tuple(name.split()) in set(command_paths())


def test_verify_help_states_the_exit_codes() -> None:
    out = " ".join(CliRunner().invoke(cli, ["verify", "--help"], catch_exceptions=False).stdout.split())
    assert "Exit status: 0 valid, 1 not valid, 2 usage or input error." in out

