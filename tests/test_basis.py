"""Once only (issue 16): a permit type rests on others, a permit is issued on its basis (the
basis's QR code instead of a stamped paper copy), carries a signed reference to it, and its
verdict follows that basis, offline, through amendments, suspensions and revocations.

Everything runs as an officer and an operator meet it: the `permit` command through click's
runner (tests/test_cli.py's `permit` fixture, its clock moving one second per command), in a copy
of the city home whose registry says food-safety rests on business-registration and
alcohol-retail on both (the `once` fixture, set with the real operator commands and published).
"""

# ruff: noqa: F811 (the CLI fixtures of test_cli are imported, then taken as arguments)
from __future__ import annotations

import csv
import json
import sqlite3
import unicodedata
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils
from click.testing import Result
from conftest import AGENCIES, TYPES, City
from test_cli import Permit, as_json, assert_error, assert_status, cli_clock, ok, permit, verdict  # noqa: F401 (fixtures)

from keys.fields import FieldError
from keys.registry import PermitType, Registry
from permits.ledger import Ledger, migrations
from permits.status_list import Status
from permits.token import claims_of

# A real agency's address: since issue 16 a loopback base URL is for the demo only.
BASE_URL = "https://xacminh.hochiminhcity.gov.vn"
HOLDER_ID = "0312345678"
HOLDER = "Công ty TNHH Thực phẩm Sạch Sài Gòn"
ADDRESS = "128 Nguyễn Thị Minh Khai, Phường Xuân Hòa, TP. Hồ Chí Minh"
OTHER_ID = "0319876543"
OTHER = "Hộ kinh doanh Quán Nhậu Bà Năm"
TYPE_NAMES = {code: {"vi": vi, "en": en} for code, vi, en, _ in TYPES}
AGENCY_NAMES = {agency: {"vi": vi, "en": en} for agency, vi, en, _, _ in AGENCIES}


# --- the city where permits rest on others ----------------------------------------------------------


@pytest.fixture
def once(permit: Permit, city: City) -> Permit:
    """The CLI in a city whose published registry says food-safety rests on
    business-registration, and alcohol-retail on both."""
    ok(permit("registry", "set-requires", "food-safety", "--requires", "business-registration"))
    ok(permit("registry", "set-requires", "alcohol-retail", "--requires", "food-safety", "--requires", "business-registration"))
    ok(permit("registry", "publish"))
    city.home.set_config(base_url=BASE_URL)
    city.trusted = city.home.trusted_registry(permit.cli_clock.t)
    return permit


def registration(permit: Permit, holder_id: str = HOLDER_ID, name: str = HOLDER, until: str = "2030-12-31",
                 number: str | None = None) -> dict[str, Any]:
    """A business registration of hcm-skhdt (its number the enterprise code unless told)."""
    return as_json(permit("issue", "--agency", "hcm-skhdt", "--type", "business-registration", "--holder-id", holder_id,
                          "--holder-name", name, "--holder-address", ADDRESS, "--number", number or holder_id,
                          "--valid-until", until, "--json"))


def issue_on(permit: Permit, *bases: str | Path, agency: str = "hcm-syt", type: str = "food-safety", until: str = "2028-12-31",
             extra: tuple[str, ...] = ()) -> Result:
    """`permit issue --json` of a permit resting on `bases`, the holder left to them."""
    args: list[str | Path] = ["issue", "--agency", agency, "--type", type, "--valid-until", until, "--json", *extra]
    for basis in bases:
        args += ["--basis", basis]
    return permit(*args)


def food_safety(permit: Permit, *bases: str | Path, **options: Any) -> dict[str, Any]:
    return as_json(issue_on(permit, *bases, **options))


def alcohol(permit: Permit, *bases: str | Path, **options: Any) -> dict[str, Any]:
    return as_json(issue_on(permit, *bases, agency="hcm-sct", type="alcohol-retail", **options))


def publish(permit: Permit, *agencies: str) -> None:
    for agency in agencies or ("hcm-skhdt", "hcm-syt", "hcm-sct"):
        ok(permit("status", "publish", "--agency", agency))


def qr_image(permit: Permit, permit_id: str, out: Path) -> Path:
    ok(permit("qr", permit_id, "--out", out))
    return out


def claims(token: str) -> Any:
    return claims_of(token)


def written(home: Path) -> dict[str, Any]:
    """What the home holds that issuing would change: the rows of each ledger's tables (an agency
    with no ledger yet has none; a refused issue may leave it an empty one, as before issue 16),
    and each status list."""
    held: dict[str, Any] = {}
    for db in sorted((home / "ledgers").glob("*.db")):
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            counts = {table: conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] for table in ("permits", "versions", "events", "bases")}
        if any(counts.values()):
            held[db.name] = counts
    held |= {f.name: f.read_bytes() for f in sorted((home / "status").glob("*"))}
    return held


def assert_refused_unwritten(permit: Permit, args: list[str | Path], reason: str) -> str:
    """`permit ARGS` exits 2 with one `Error: [reason] …` line and writes nothing; the line."""
    before = written(permit.home)
    result = permit(*args)
    assert_error(result, reason)
    assert written(permit.home) == before
    return result.stderr.strip()


def basis_entry(permit: dict[str, Any], state: str) -> dict[str, Any]:
    """A verdict's entry for basis `permit` (an issued permit's JSON), in `state`."""
    return {"id": permit["id"],
            "type": {"code": permit["type"], "name": TYPE_NAMES[permit["type"]]},
            "issuer": {"id": permit["agency"], "name": AGENCY_NAMES[permit["agency"]]}, "state": state}


def bases_of(permit: Permit, token: str) -> list[tuple[str, str]]:
    """(basis id, state) of each basis in the verdict of `token`."""
    return [(b["id"], b["state"]) for b in verdict(permit, token)[1]["basis"]]


# --- the registry: types rest on others ----------------------------------------------------------


def test_add_type_with_requires_is_a_draft_until_published_and_then_signed_with_the_registry(permit: Permit) -> None:
    added = as_json(permit("registry", "add-type", "street-food", "--name-vi", "Giấy phép kinh doanh thức ăn đường phố",
                           "--name-en", "Street food licence", "--max-days", "365",
                           "--requires", "food-safety", "--requires", "business-registration", "--json"))
    assert added == {"type": "street-food", "name": {"vi": "Giấy phép kinh doanh thức ăn đường phố", "en": "Street food licence"},
                     "max_days": 365, "requires": ["business-registration", "food-safety"], "draft": True}
    assert as_json(permit("registry", "show", "--draft", "--json"))["types"]["street-food"]["requires"] == [
        "business-registration", "food-safety"]
    assert "street-food" not in as_json(permit("registry", "show", "--json"))["types"]
    ok(permit("registry", "publish"))
    published = as_json(permit("registry", "show", "--json"))
    assert published["types"]["street-food"] == {
        "name": {"vi": "Giấy phép kinh doanh thức ăn đường phố", "en": "Street food licence"}, "max_days": 365,
        "requires": ["business-registration", "food-safety"]}
    assert "requires" not in published["types"]["food-safety"]  # left out when it rests on nothing


def test_set_requires_sets_and_clears_what_a_type_rests_on(permit: Permit, city: City) -> None:
    assert as_json(permit("registry", "set-requires", "alcohol-retail", "--requires", "food-safety",
                          "--requires", "business-registration", "--requires", "food-safety", "--json")) == {
        "type": "alcohol-retail", "requires": ["business-registration", "food-safety"], "draft": True}
    assert ok(permit("registry", "set-requires", "food-safety", "--requires", "business-registration")).stdout == (
        "Permit type food-safety now rests on business-registration in the draft; publish to make it effective.\n")
    ok(permit("registry", "publish"))
    registry = city.home.trusted_registry(permit.cli_clock.t).registry
    assert {code: t.requires for code, t in registry.types.items()} == {
        "alcohol-retail": ("business-registration", "food-safety"), "business-registration": (),
        "construction": (), "food-safety": ("business-registration",)}
    assert Registry.from_dict(json.loads(json.dumps(registry.to_dict()))) == registry

    assert ok(permit("registry", "set-requires", "alcohol-retail")).stdout == (
        "Permit type alcohol-retail now rests on no other permit in the draft; publish to make it effective.\n")
    assert as_json(permit("registry", "set-requires", "food-safety", "--json")) == {
        "type": "food-safety", "requires": [], "draft": True}
    ok(permit("registry", "publish"))
    types = as_json(permit("registry", "show", "--json"))["types"]
    assert all("requires" not in t for t in types.values())


@pytest.mark.parametrize(
    ("steps", "reason", "message"),
    [
        ([["set-requires", "food-safety", "--requires", "business-registration"],
          ["set-requires", "business-registration", "--requires", "food-safety"]],
         "requirement_cycle", "permit types require each other in a cycle: business-registration → food-safety → business-registration"),
        ([["set-requires", "food-safety", "--requires", "business-registration"],
          ["set-requires", "alcohol-retail", "--requires", "food-safety"],
          ["set-requires", "business-registration", "--requires", "alcohol-retail"]],
         "requirement_cycle",
         "permit types require each other in a cycle: alcohol-retail → food-safety → business-registration → alcohol-retail"),
        ([["set-requires", "food-safety", "--requires", "food-safety"]],
         "requirement_cycle", "permit types require each other in a cycle: food-safety → food-safety"),
        ([["add-type", "karaoke", "--name-vi", "Giấy phép karaoke", "--name-en", "Karaoke licence", "--requires", "karaoke"]],
         "requirement_cycle", "permit type karaoke cannot rest on itself"),
        ([["set-requires", "food-safety", "--requires", "fishing-licence"]], "unknown_type", "unknown permit type 'fishing-licence'"),
        ([["set-requires", "fishing-licence", "--requires", "food-safety"]], "unknown_type", "unknown permit type 'fishing-licence'"),
        ([["add-type", "karaoke", "--name-vi", "Giấy phép karaoke", "--name-en", "Karaoke licence", "--requires", "fishing-licence"]],
         "unknown_type", "unknown permit type 'fishing-licence'"),
    ],
    ids=["direct-cycle", "indirect-cycle", "itself", "new-type-on-itself", "unknown-required", "unknown-type", "new-type-on-unknown"],
)
def test_a_cycle_or_an_unknown_type_is_refused_and_the_draft_is_kept(permit: Permit, steps: list[list[str]], reason: str,
                                                                   message: str) -> None:
    for step in steps[:-1]:
        ok(permit("registry", *step))
    draft = (permit.home / "operator" / "draft.json").read_bytes()
    result = permit("registry", *steps[-1])
    assert_error(result, reason)
    assert result.stderr == f"Error: [{reason}] {message}\n"
    assert (permit.home / "operator" / "draft.json").read_bytes() == draft


def type_document(**members: Any) -> dict[str, Any]:
    return {"name": {"vi": "Giấy phép bán lẻ rượu", "en": "Alcohol retail licence"}, "max_days": 1827, **members}


@pytest.mark.parametrize(
    ("requires", "message"),
    [
        ([], "type alcohol-retail: requires must be a non-empty list, or left out"),
        (["food-safety", "business-registration"], "type alcohol-retail required types must be sorted and unique"),
        (["food-safety", "food-safety"], "type alcohol-retail required types must be sorted and unique"),
        ("business-registration", "type alcohol-retail: requires must be a non-empty list, or left out"),
        ({"business-registration": True}, "type alcohol-retail: requires must be a non-empty list, or left out"),
        (None, "type alcohol-retail: requires must be a non-empty list, or left out"),
        (["Food-Safety"], "type alcohol-retail requires must be a lower-case identifier"),
        (["fishing-licence"], "type alcohol-retail requires unknown type fishing-licence"),
        (["alcohol-retail"], "permit types require each other in a cycle: alcohol-retail → alcohol-retail"),
    ],
    ids=["empty", "unsorted", "duplicate", "string", "object", "null", "not-an-identifier", "unknown", "cycle"],
)
def test_a_registry_document_with_malformed_requires_is_refused_when_built(city: City, requires: Any, message: str) -> None:
    document = city.registry.to_dict()
    document["types"]["alcohol-retail"] = type_document(requires=requires)
    with pytest.raises(FieldError) as refused:
        Registry.from_dict(document)
    assert (refused.value.problem, str(refused.value)) == ("bad", message)


def test_a_registry_signed_before_types_could_rest_on_others_still_reads(city: City) -> None:
    # The city's registry was signed without any `requires`; its documents read, byte for byte the same form.
    assert b"requires" not in (city.home.path / "registry.json").read_bytes()
    assert all(t.requires == () for t in city.registry.types.values())
    assert PermitType.from_dict("alcohol-retail", type_document()).requires == ()
    assert Registry.from_dict(city.registry.to_dict()) == city.registry
    assert "requires" not in city.registry.to_dict()["types"]["food-safety"]


# --- issuing on a basis ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form",
    [
        lambda permit, br, tmp: qr_image(permit, br["id"], tmp / "dkkd.png"),
        lambda permit, br, tmp: br["url"],
        lambda permit, br, tmp: br["token"],
        lambda permit, br, tmp: br["id"],
    ],
    ids=["qr-image", "url", "token", "permit-id"],
)
def test_issue_on_a_basis_takes_the_holder_from_it_and_signs_a_reference_to_it(once: Permit, tmp_path: Path, form: Any) -> None:
    br = registration(once, number="41N8012345")
    data = food_safety(once, form(once, br, tmp_path))
    assert data["holder"] == {"id": HOLDER_ID, "name": HOLDER, "address": ADDRESS}
    assert data["basis"] == [{"agency": "hcm-skhdt", "id": br["id"], "type": "business-registration", "status_index": br["status_index"]}]
    assert claims(data["token"])["basis"] == [
        {"iss": "hcm-skhdt", "jti": br["id"], "st": br["status_index"], "ptype": "business-registration"}]
    assert claims(data["token"])["sub"] == HOLDER_ID
    body = assert_status(once, data["url"], 0, "valid", [])
    assert body["basis"] == [basis_entry(br, "valid")]


def test_a_basis_numbered_by_its_id_is_referenced_the_same_way(once: Permit) -> None:
    br = as_json(once("issue", "--agency", "hcm-skhdt", "--type", "business-registration", "--holder-id", HOLDER_ID,
                      "--holder-name", HOLDER, "--valid-until", "2030-12-31", "--json"))
    assert br["number"] == br["id"]
    data = food_safety(once, br["url"])
    assert claims(data["token"])["basis"] == [
        {"iss": "hcm-skhdt", "jti": br["id"], "st": br["status_index"], "ptype": "business-registration"}]
    assert data["holder"] == {"id": HOLDER_ID, "name": HOLDER, "address": None}


def test_holder_details_given_that_match_the_basis_are_accepted(once: Permit) -> None:
    br = registration(once)
    data = food_safety(once, br["url"], extra=("--holder-id", f" {HOLDER_ID} ", "--holder-name", unicodedata.normalize("NFD", HOLDER),
                                               "--holder-address", ADDRESS))
    assert data["holder"] == {"id": HOLDER_ID, "name": HOLDER, "address": ADDRESS}
    assert len(data["basis"]) == 1


def test_a_permit_does_not_outlive_its_basis_and_the_officer_is_told(once: Permit) -> None:
    br = registration(once, until="2028-06-30")
    as_data = ok(issue_on(once, br["url"], until="2028-12-31")).stdout  # --json: no notice mixed into it
    assert json.loads(as_data)["valid_until"] == "2028-06-30"
    human = ok(once("issue", "--agency", "hcm-syt", "--type", "food-safety", "--basis", br["url"], "--valid-until", "2028-12-31"))
    assert human.stdout.splitlines()[0] == "Issued."
    assert human.stdout.splitlines()[-1] == (
        "The end date is 30/06/2028, not 31/12/2028: a permit does not outlive the permits it rests on.")
    assert "  Valid    22/11/2026 to 30/06/2028" in human.stdout.splitlines()
    # Ending before the basis: nothing to say.
    shorter = ok(once("issue", "--agency", "hcm-syt", "--type", "food-safety", "--basis", br["url"], "--valid-until", "2027-12-31"))
    assert "does not outlive" not in shorter.stdout
    vi = ok(once("--lang", "vi", "issue", "--agency", "hcm-syt", "--type", "food-safety", "--basis", br["url"],
                 "--valid-until", "2029-01-31"))
    assert vi.stdout.splitlines()[-1] == (
        "Ngày hết hạn là 30/06/2028, không phải 31/01/2029: giấy phép không thể có hiệu lực lâu hơn các giấy phép mà nó dựa trên.")


def test_a_permit_may_start_before_its_basis_did(once: Permit) -> None:
    # A paper certificate of 2025, put on the e-registration the business received today.
    br = registration(once)
    data = food_safety(once, br["url"], until="2027-12-31", extra=("--valid-from", "2025-06-01"))
    assert (data["valid_from"], data["valid_until"], len(data["basis"])) == ("2025-06-01", "2027-12-31", 1)


def test_issue_shows_the_basis_lines(once: Permit) -> None:
    br = registration(once, number="41N8012345")
    result = ok(once("issue", "--agency", "hcm-syt", "--type", "food-safety", "--basis", br["url"], "--valid-until", "2027-12-31"))
    assert f"  Based on business-registration {br['id']} of hcm-skhdt" in result.stdout.splitlines()


def test_alcohol_retail_rests_on_a_registration_and_a_food_safety_certificate(once: Permit) -> None:
    br = registration(once, number="41N8012345")
    fs = food_safety(once, br["url"])
    data = alcohol(once, fs["url"], br["url"], until="2027-12-31")  # in either order: signed sorted
    assert claims(data["token"])["basis"] == [
        {"iss": "hcm-skhdt", "jti": br["id"], "st": br["status_index"], "ptype": "business-registration"},
        {"iss": "hcm-syt", "jti": fs["id"], "st": fs["status_index"], "ptype": "food-safety"},
    ]
    publish(once)
    body = assert_status(once, data["url"], 0, "valid", [])
    assert body["basis"] == [basis_entry(br, "valid"), basis_entry(fs, "valid")]
    assert body["basis"][0] == {
        "id": br["id"],
        "type": {"code": "business-registration", "name": {"vi": "Giấy chứng nhận đăng ký doanh nghiệp",
                                                            "en": "Business registration certificate"}},
        "issuer": {"id": "hcm-skhdt", "name": {"vi": "Sở Kế hoạch và Đầu tư", "en": "Department of Planning and Investment"}},
        "state": "valid"}


@pytest.mark.parametrize(
    ("lang", "label", "line"),
    [
        ("en", "Based on", "Business registration certificate {id}, Department of Planning and Investment: in force"),
        ("vi", "Dựa trên", "Giấy chứng nhận đăng ký doanh nghiệp {id}, Sở Kế hoạch và Đầu tư: còn hiệu lực"),
    ],
)
def test_verify_shows_what_the_permit_rests_on(once: Permit, lang: str, label: str, line: str) -> None:
    br = registration(once, number="41N8012345")
    fs = food_safety(once, br["url"])
    publish(once)
    shown = [row.split(None, len(label.split()))[-1] for row in ok(once("verify", fs["url"], "--lang", lang)).stdout.splitlines()
             if row.strip().startswith(label)]
    assert shown == [line.format(id=br["id"])]
    ok(once("revoke", br["id"], "--reason", "Doanh nghiệp giải thể"))
    publish(once, "hcm-skhdt")
    result = once("verify", fs["url"], "--lang", lang)
    assert result.exit_code == 1
    revoked = {"en": "revoked", "vi": "bị thu hồi"}[lang]
    assert [row.split(None, len(label.split()))[-1] for row in result.stdout.splitlines() if row.strip().startswith(label)] == [
        f"{line.format(id=br['id']).rsplit(': ', 1)[0]}: {revoked}"]
    assert "[basis_revoked]" in result.stdout.splitlines()[1]


# --- lineage: the basis changes after the permit was issued on it ------------------------------------------


def test_a_basis_amended_then_revoked_reaches_the_permit_resting_on_its_first_version(once: Permit) -> None:
    br = registration(once)
    fs = food_safety(once, br["url"])
    publish(once)
    ok(once("amend", br["id"], "--holder-address", "45 Lê Lợi, Phường Sài Gòn", "--reason", "Đổi địa chỉ trụ sở"))
    publish(once, "hcm-skhdt")
    body = assert_status(once, fs["url"], 0, "valid", [])
    assert body["basis"] == [basis_entry(br, "amended")]
    assert_status(once, br["url"], 1, "superseded", ["superseded"])  # the first version itself

    ok(once("revoke", br["id"], "--reason", "Doanh nghiệp giải thể"))
    publish(once, "hcm-skhdt")
    body = assert_status(once, fs["url"], 1, "revoked", ["basis_revoked"])
    assert body["basis"] == [basis_entry(br, "revoked")]
    assert body["permit"]["id"] == fs["id"]
    # The first version of the registration now reads revoked with its lineage, not superseded.
    assert_status(once, br["url"], 1, "revoked", ["revoked"])


def test_a_basis_suspended_suspends_the_permit_and_reinstated_restores_it(once: Permit) -> None:
    br = registration(once)
    fs = food_safety(once, br["url"])
    ok(once("amend", br["id"], "--holder-address", "45 Lê Lợi, Phường Sài Gòn", "--reason", "Đổi địa chỉ trụ sở"))
    publish(once)

    ok(once("suspend", br["id"], "--reason", "Tạm ngừng kinh doanh"))
    publish(once, "hcm-skhdt")
    assert assert_status(once, fs["url"], 1, "suspended", ["basis_suspended"])["basis"] == [basis_entry(br, "suspended")]
    assert_status(once, br["url"], 1, "suspended", ["suspended"])  # version 1 follows its lineage

    ok(once("reinstate", br["id"]))
    publish(once, "hcm-skhdt")
    assert assert_status(once, fs["url"], 0, "valid", [])["basis"] == [basis_entry(br, "amended")]
    assert_status(once, br["url"], 1, "superseded", ["superseded"])  # back to superseded, not valid

    # A new version of a suspended permit (only re-issuing under a new key makes one: amending
    # needs it active) keeps every earlier version suspended.
    ok(once("suspend", br["id"], "--reason", "Tạm ngừng kinh doanh"))
    assert_error(once("amend", br["id"], "--holder-address", "9 Hàm Nghi, Phường Sài Gòn", "--reason", "Đổi địa chỉ"), "invalid_transition")
    ok(once("registry", "add-key", "hcm-skhdt"))
    ok(once("registry", "publish"))
    [v3] = as_json(once("reissue", "--agency", "hcm-skhdt", "--key", br["kid"], "--reason", "Thay khóa ký", "--json"))["permits"]
    assert (v3["id"], v3["version"], v3["state"]) == (br["id"], 3, "suspended")
    assert bases_of(once, fs["token"]) == [(br["id"], "suspended")]
    assert_status(once, fs["url"], 1, "suspended", ["basis_suspended"])
    assert_status(once, br["url"], 1, "suspended", ["suspended"])
    assert_status(once, v3["url"], 1, "suspended", ["suspended"])
    ok(once("reinstate", br["id"]))
    publish(once, "hcm-skhdt")
    assert bases_of(once, fs["token"]) == [(br["id"], "amended")]
    assert_status(once, v3["url"], 0, "valid", [])


def test_a_permit_on_the_current_version_of_its_basis_reads_valid_then_revoked(once: Permit) -> None:
    br = registration(once)
    v2 = as_json(once("amend", br["id"], "--holder-address", "45 Lê Lợi, Phường Sài Gòn", "--reason", "Đổi địa chỉ", "--json"))
    publish(once, "hcm-skhdt")
    fs = food_safety(once, br["id"])  # by id: the current version
    assert fs["basis"][0]["status_index"] == v2["status_index"] != br["status_index"]
    assert fs["holder"]["address"] == "45 Lê Lợi, Phường Sài Gòn"
    publish(once)
    assert bases_of(once, fs["token"]) == [(br["id"], "valid")]
    ok(once("revoke", br["id"], "--reason", "Doanh nghiệp giải thể"))
    publish(once, "hcm-skhdt")
    assert_status(once, fs["url"], 1, "revoked", ["basis_revoked"])


# --- a basis whose status cannot be known ----------------------------------------------------------


def test_a_basis_whose_agency_list_is_missing_leaves_the_permit_status_unknown(once: Permit) -> None:
    br = registration(once)
    fs = food_safety(once, br["url"])
    publish(once, "hcm-syt")
    (once.home / "status" / "hcm-skhdt.jwt").unlink()
    body = assert_status(once, fs["url"], 1, "status_unknown", ["basis_status_unavailable"])
    assert body["basis"] == [basis_entry(br, "status_unknown")]


def test_a_basis_whose_agency_list_is_stale_leaves_the_permit_status_unknown_unless_revoked(once: Permit) -> None:
    br = registration(once)
    fs = food_safety(once, br["url"])
    ok(once("status", "publish", "--agency", "hcm-skhdt", "--ttl-hours", "1"))
    once.cli_clock.t += 2 * 3600
    publish(once, "hcm-syt")  # the permit's own list is fresh
    body = assert_status(once, fs["url"], 1, "status_unknown", ["basis_status_stale"])
    assert body["basis"] == [basis_entry(br, "status_unknown")]

    # A revocation is final: a stale list still proves it.
    ok(once("revoke", br["id"], "--reason", "Doanh nghiệp giải thể"))
    ok(once("status", "publish", "--agency", "hcm-skhdt", "--ttl-hours", "1"))
    once.cli_clock.t += 2 * 3600
    publish(once, "hcm-syt")
    body = assert_status(once, fs["url"], 1, "revoked", ["basis_revoked"])
    assert body["basis"] == [basis_entry(br, "revoked")]


# --- amending a permit that rests on others ----------------------------------------------------------


def test_amend_with_basis_replaces_the_references(once: Permit) -> None:
    br = registration(once)
    fs = food_safety(once, br["url"])
    # The business registers again (a new certificate, same enterprise code) and the certificate moves onto it.
    renewed = registration(once, number="41N8099999")
    amended = as_json(once("amend", fs["id"], "--basis", renewed["url"], "--reason", "Đăng ký lại doanh nghiệp", "--json"))
    assert (amended["version"], amended["holder"]) == (2, fs["holder"])
    assert amended["basis"] == [{"agency": "hcm-skhdt", "id": renewed["id"], "type": "business-registration",
                                 "status_index": renewed["status_index"]}]
    assert claims(amended["token"])["basis"] == [
        {"iss": "hcm-skhdt", "jti": renewed["id"], "st": renewed["status_index"], "ptype": "business-registration"}]
    publish(once)
    assert assert_status(once, amended["url"], 0, "valid", [])["basis"] == [basis_entry(renewed, "valid")]
    ok(once("revoke", br["id"], "--reason", "Thay bằng giấy chứng nhận mới"))
    publish(once, "hcm-skhdt")
    assert_status(once, amended["url"], 0, "valid", [])  # it no longer rests on the old one


def test_amend_with_the_basis_current_version_takes_the_holders_new_details_from_it(once: Permit) -> None:
    """The basis was amended (the business moved and renamed); giving its current QR code, as
    basis_missing asks, brings the certificate up to date without typing them again."""
    br = registration(once)
    fs = food_safety(once, br["url"])
    moved = as_json(once("amend", br["id"], "--holder-name", "Công ty TNHH Thực phẩm Sạch Sài Gòn Xanh",
                         "--holder-address", "45 Lê Lợi, Phường Sài Gòn", "--reason", "Đổi tên và địa chỉ", "--json"))
    amended = as_json(once("amend", fs["id"], "--basis", moved["url"], "--reason", "Cập nhật theo đăng ký doanh nghiệp", "--json"))
    assert amended["holder"] == {"id": HOLDER_ID, "name": "Công ty TNHH Thực phẩm Sạch Sài Gòn Xanh",
                                 "address": "45 Lê Lợi, Phường Sài Gòn"}
    assert [(b["id"], b["status_index"]) for b in amended["basis"]] == [(br["id"], moved["status_index"])]
    publish(once)
    assert bases_of(once, amended["token"]) == [(br["id"], "valid")]


def test_amend_onto_a_basis_that_ends_sooner_caps_the_end_and_says_so(once: Permit) -> None:
    br = registration(once)
    fs = food_safety(once, br["url"], until="2028-12-31")
    sooner = registration(once, number="41N8099999", until="2027-06-30")
    lines = ok(once("amend", fs["id"], "--basis", sooner["url"], "--reason", "Đăng ký lại doanh nghiệp")).stdout.splitlines()
    assert "  Valid    22/11/2026 to 30/06/2027" in lines
    assert lines[-2] == "The end date is 30/06/2027, not 31/12/2028: a permit does not outlive the permits it rests on."
    assert as_json(once("show", fs["id"], "--json"))["valid_until"] == "2027-06-30"


@pytest.mark.parametrize(
    "change",
    [["--holder-name", "Công ty TNHH Thực phẩm Sạch Sài Gòn Mới"], ["--holder-address", "45 Lê Lợi, Phường Sài Gòn"],
     ["--valid-until", "2029-01-01"]],
    ids=["holder-name", "holder-address", "extend"],
)
def test_amending_the_holder_or_extending_a_permit_that_rests_on_others_needs_the_basis(once: Permit, change: list[str]) -> None:
    br = registration(once)
    fs = food_safety(once, br["url"], until="2028-12-31")
    line = assert_refused_unwritten(once, ["amend", fs["id"], *change, "--reason", "Cập nhật"], "basis_missing")
    assert line == (f"Error: [basis_missing] permit {fs['id']} rests on other permits; to change its holder or extend it, "
                    "give their current QR codes or links with --basis")


def test_shortening_or_changing_activities_needs_no_basis(once: Permit) -> None:
    br = registration(once)
    fs = food_safety(once, br["url"], until="2028-12-31")
    shorter = as_json(once("amend", fs["id"], "--valid-until", "2027-06-30", "--activity", "Kinh doanh dịch vụ ăn uống",
                           "--reason", "Rút ngắn thời hạn", "--json"))
    assert (shorter["version"], shorter["valid_until"], shorter["activities"], shorter["basis"]) == (
        2, "2027-06-30", ["Kinh doanh dịch vụ ăn uống"], fs["basis"])
    publish(once)
    assert bases_of(once, shorter["token"]) == [(br["id"], "valid")]


# --- import with a basis column -------------------------------------------------------------------------


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_import_takes_each_rows_basis_from_its_qr_links(once: Permit, tmp_path: Path) -> None:
    br = registration(once)
    fs = food_safety(once, br["url"])
    closed = registration(once, holder_id=OTHER_ID, name=OTHER)
    closed_fs = food_safety(once, closed["url"])
    ok(once("revoke", closed["id"], "--reason", "Doanh nghiệp giải thể"))
    publish(once)
    header = ["number", "holder_id", "holder_name", "holder_address", "activities", "conditions", "valid_from", "valid_until", "basis"]
    source = write_rows(tmp_path / "ruou.csv", header, [
        ["BLR-2026/001", "", "", "", "Bán lẻ rượu", "", "", "31/12/2027", f"{br['url']}|{fs['url']}"],
        ["BLR-2026/002", "", "", "", "Bán lẻ rượu", "", "", "31/12/2027", f"{closed['url']} | {closed_fs['url']}"],
    ])
    report = as_json(once("import", source, "--agency", "hcm-sct", "--type", "alcohol-retail", "--json"))
    assert (report["rows"], report["imported"], report["rejected"]) == (2, 1, 1)
    with open(report["rejected_file"], encoding="utf-8-sig", newline="") as handle:
        rejected = list(csv.DictReader(handle))
    assert [(r["line"], r["number"], r["error"].split(":")[0]) for r in rejected] == [("3", "BLR-2026/002", "basis_revoked")]
    assert rejected[0]["basis"] == f"{closed['url']} | {closed_fs['url']}"  # given back as written, to fix

    [imported] = as_json(once("list", "--agency", "hcm-sct", "--json"))["permits"]
    assert (imported["number"], imported["holder"]) == ("BLR-2026/001", {"id": HOLDER_ID, "name": HOLDER, "address": ADDRESS})
    assert [(b["id"], b["status_index"]) for b in imported["basis"]] == [(br["id"], br["status_index"]), (fs["id"], fs["status_index"])]
    body = assert_status(once, imported["url"], 0, "valid", [])
    assert body["basis"] == [basis_entry(br, "valid"), basis_entry(fs, "valid")]
    assert [p["id"] for p in as_json(once("list", "--basis", fs["id"], "--json"))["permits"]] == [imported["id"]]


def test_import_with_a_basis_column_needs_no_holder_columns(once: Permit, tmp_path: Path) -> None:
    br = registration(once)
    source = write_rows(tmp_path / "attp.csv", ["number", "valid_until", "basis"], [["ATTP-2019/17", "2027-12-31", br["url"]]])
    report = as_json(once("import", source, "--agency", "hcm-syt", "--type", "food-safety", "--json"))
    assert (report["imported"], report["rejected"]) == (1, 0)
    [imported] = as_json(once("list", "--agency", "hcm-syt", "--json"))["permits"]
    assert imported["holder"] == {"id": HOLDER_ID, "name": HOLDER, "address": ADDRESS}
    assert imported["basis"][0]["id"] == br["id"]


def test_import_without_a_basis_column_still_needs_the_holder_columns(once: Permit, tmp_path: Path) -> None:
    source = write_rows(tmp_path / "attp.csv", ["number", "valid_until"], [["ATTP-2019/17", "2027-12-31"]])
    result = once("import", source, "--agency", "hcm-syt", "--type", "food-safety")
    assert_error(result, "bad_columns")
    assert result.stderr.endswith("; unknown: -; missing: holder_id, holder_name\n")


# --- the reverse view: what rests on a permit --------------------------------------------------------------


def test_list_basis_and_show_name_the_permits_resting_on_a_permit(once: Permit) -> None:
    br = registration(once)
    fs = food_safety(once, br["url"])
    lr = alcohol(once, br["url"], fs["url"], until="2027-12-31")
    other = registration(once, holder_id=OTHER_ID, name=OTHER)
    food_safety(once, other["url"])  # rests on another registration: never listed here

    assert [p["id"] for p in as_json(once("list", "--basis", br["id"], "--json"))["permits"]] == [lr["id"], fs["id"]]
    assert [p["id"] for p in as_json(once("list", "--basis", fs["id"], "--json"))["permits"]] == [lr["id"]]
    assert as_json(once("list", "--basis", lr["id"], "--json"))["permits"] == []
    human = ok(once("list", "--basis", br["id"])).stdout.splitlines()
    assert [line.split()[0] for line in human if line.split()[0] in (fs["id"], lr["id"], br["id"])] == [lr["id"], fs["id"]]
    assert human[-1] == "2 permits"

    shown = as_json(once("show", br["id"], "--json"))
    assert shown["resting_on"] == [{"agency": "hcm-sct", "id": lr["id"], "type": "alcohol-retail", "state": "active"},
                                   {"agency": "hcm-syt", "id": fs["id"], "type": "food-safety", "state": "active"}]
    lines = ok(once("show", br["id"])).stdout.splitlines()
    assert [" ".join(line.split()) for line in lines if line.strip().startswith("Rested on by")] == [
        f"Rested on by {lr['id']} (alcohol-retail of hcm-sct, active)", f"Rested on by {fs['id']} (food-safety of hcm-syt, active)"]

    # Amended to rest on another registration, the certificate leaves this one's list; the
    # licence (still on the certificate's first version) stays on the certificate's.
    renewed = registration(once, number="41N8099999")
    ok(once("amend", fs["id"], "--basis", renewed["url"], "--reason", "Đăng ký lại doanh nghiệp"))
    assert [p["id"] for p in as_json(once("list", "--basis", br["id"], "--json"))["permits"]] == [lr["id"]]
    assert [p["id"] for p in as_json(once("list", "--basis", renewed["id"], "--json"))["permits"]] == [fs["id"]]
    assert [p["id"] for p in as_json(once("list", "--basis", fs["id"], "--json"))["permits"]] == [lr["id"]]
    ok(once("suspend", lr["id"], "--reason", "Kiểm tra"))
    assert as_json(once("show", fs["id"], "--json"))["resting_on"] == [
        {"agency": "hcm-sct", "id": lr["id"], "type": "alcohol-retail", "state": "suspended"}]
    assert as_json(once("show", lr["id"], "--json"))["resting_on"] == []
    assert "Rested on by" not in ok(once("show", lr["id"])).stdout


# --- a ledger made before permits could rest on others ------------------------------------------------------


def downgraded(path: Path, tmp_path: Path) -> None:
    """Rebuild ledger `path` as the code before issue 16 made it: only the first two migrations,
    and a suspended permit's earlier versions left superseded (suspending marked the current one)."""
    old = tmp_path / "old.db"
    with closing(sqlite3.connect(old, isolation_level=None)) as conn:
        migrations.apply(sqlite_utils.Database(conn), stop_before="create_bases_table")
        conn.execute("ATTACH DATABASE ? AS new", (str(path),))
        for table in ("meta", "permits", "versions", "events", "import_batches", "import_rejects"):
            conn.execute(f"INSERT INTO main.{table} SELECT * FROM new.{table}")
        conn.execute("DETACH DATABASE new")
        conn.execute("UPDATE versions SET status = ? WHERE version < (SELECT current_version FROM permits WHERE id = permit_id)",
                     (int(Status.SUPERSEDED),))
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    old.rename(path)


def test_a_ledger_from_before_opens_and_earlier_versions_follow_their_suspended_or_revoked_permit(once: Permit, tmp_path: Path) -> None:
    br = registration(once)
    v2 = as_json(once("amend", br["id"], "--holder-address", "45 Lê Lợi, Phường Sài Gòn", "--reason", "Đổi địa chỉ", "--json"))
    ok(once("suspend", br["id"], "--reason", "Tạm ngừng kinh doanh"))
    closed = registration(once, holder_id=OTHER_ID, name=OTHER)
    ok(once("amend", closed["id"], "--holder-address", "9 Hàm Nghi, Phường Sài Gòn", "--reason", "Đổi địa chỉ"))
    ok(once("revoke", closed["id"], "--reason", "Doanh nghiệp giải thể"))
    path = once.home / "ledgers" / "hcm-skhdt.db"
    downgraded(path, tmp_path)
    statuses = "SELECT permit_id, version, status FROM versions ORDER BY permit_id = ?, version"
    with closing(sqlite3.connect(path)) as conn:
        assert [r[0] for r in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY rowid")] == [
            "create_tables", "create_import_tables"]
        assert conn.execute(statuses, (closed["id"],)).fetchall() == [
            (br["id"], 1, Status.SUPERSEDED), (br["id"], 2, Status.SUSPENDED),
            (closed["id"], 1, Status.SUPERSEDED), (closed["id"], 2, Status.REVOKED)]

    publish(once, "hcm-skhdt")  # opens the ledger: it is brought up to date first
    with Ledger.open(path, "hcm-skhdt") as ledger:
        assert not migrations.pending(ledger.db)
        assert ledger.db.conn.execute(statuses, (closed["id"],)).fetchall() == [
            (br["id"], 1, Status.SUSPENDED), (br["id"], 2, Status.SUSPENDED),
            (closed["id"], 1, Status.REVOKED), (closed["id"], 2, Status.REVOKED)]
        assert "bases" in ledger.db.table_names()
    assert_status(once, br["token"], 1, "suspended", ["suspended"])
    assert_status(once, closed["token"], 1, "revoked", ["revoked"])
    assert_status(once, v2["token"], 1, "suspended", ["suspended"])
    ok(once("reinstate", br["id"]))
    publish(once, "hcm-skhdt")
    assert_status(once, br["token"], 1, "superseded", ["superseded"])
    assert_status(once, v2["token"], 0, "valid", [])
