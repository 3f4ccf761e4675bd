"""Issue 16, point 7: a permit issued on another one is only as good as that basis, and every way
of passing off a bad basis is refused with its own reason.

At issuance (and amendment) the officer's `permit` command exits 2 with one `Error: [reason] …`
line and writes nothing. At verification the verdict says the exact status and reasons. Every
token is real: issued by the CLI, or signed with an agency's real key (tests/forge.py) or a key
no registry knows.
"""

# ruff: noqa: F811 (the CLI fixtures of test_cli are imported, then taken as arguments)
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import DAY, NOW, City, Served
from forge import compress, sign_claims
from test_basis import (  # noqa: F401 (fixtures)
    AGENCY_NAMES,
    BASE_URL,
    HOLDER,
    HOLDER_ID,
    OTHER,
    OTHER_ID,
    assert_refused_unwritten,
    basis_entry,
    claims,
    food_safety,
    once,
    publish,
    qr_image,
    registration,
)
from test_cli import Permit, as_json, cli_clock, ok, permit, verdict  # noqa: F401 (fixtures)
from test_server import call

import cli as cli_module
from keys.algorithms import generate_private_key
from keys.encoding import b64url_encode, dumps_canonical
from keys.reasons import Reason
from keys.signer import KeySigner
from permits.model import Permit as PermitModel
from permits.token import sign_permit

Args = list[str | Path]


def issue_food_safety(*bases: str | Path, holder: tuple[str, ...] = ()) -> Args:
    args: Args = ["issue", "--agency", "hcm-syt", "--type", "food-safety", "--valid-until", "2027-12-31", *holder]
    for basis in bases:
        args += ["--basis", basis]
    return args


def issue_alcohol(*bases: str | Path) -> Args:
    args: Args = ["issue", "--agency", "hcm-sct", "--type", "alcohol-retail", "--valid-until", "2027-12-31"]
    for basis in bases:
        args += ["--basis", basis]
    return args


def short(given: str) -> str:
    """How a refusal names a basis it could not read as a permit (verifier/basis.py)."""
    return repr(given if len(given) <= 40 else f"{given[:37]}...")


def basis_refused(name: str, reason: Reason) -> str:
    return f"the basis ({name}) is refused: [{reason}] {reason.sentence}"


def status_unknown(name: str, reason: Reason) -> str:
    return f"{basis_refused(name, reason)} Fetch the agencies' current status lists with `permit status pull`."


def model_of(token: str) -> PermitModel:
    return PermitModel.from_claims(claims(token))


def with_signature_of(token: str, signed: str) -> str:
    """`token`'s header and payload under the signature of `signed`."""
    header, payload, _ = token.split(".")
    return f"{header}.{payload}.{signed.split('.')[2]}"


def altered(token: str, **basis_changes: Any) -> str:
    """The token with its first basis reference changed, and its original signature kept."""
    body = claims(token)
    body["basis"][0].update(basis_changes)
    header, _, signature = token.split(".")
    return f"{header}.{b64url_encode(compress(dumps_canonical(body)))}.{signature}"


# --- at issuance: each attack returns the issue command and the exact error message -------------------

Attack = Callable[[Permit, City, Path], tuple[Args, str]]


def forged_signature(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    br = registration(permit)
    forged = with_signature_of(br["token"], registration(permit, holder_id=OTHER_ID, name=OTHER)["token"])
    return issue_food_safety(forged), basis_refused(short(forged), Reason.BAD_SIGNATURE)


def signed_by_an_unknown_key(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    br = registration(permit)
    forged = sign_claims(claims(br["token"]), KeySigner(generate_private_key("EdDSA")))
    return issue_food_safety(forged), basis_refused(short(forged), Reason.UNKNOWN_KEY)


def from_an_agency_not_allowed_the_type(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    # The Department of Health's real key signs a business registration in its own name.
    br = registration(permit)
    forged = sign_permit(replace(model_of(br["token"]), agency="hcm-syt"), city.signers["hcm-syt"])
    return issue_food_safety(forged), basis_refused(short(forged), Reason.NOT_AUTHORISED_FOR_TYPE)


def not_a_permit_at_all(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    return issue_food_safety("giay-dang-ky-kinh-doanh.pdf"), basis_refused("'giay-dang-ky-kinh-doanh.pdf'", Reason.MALFORMED_TOKEN)


def another_holders_basis(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    theirs = registration(permit, holder_id=OTHER_ID, name=OTHER)
    return (issue_food_safety(theirs["url"], holder=("--holder-id", HOLDER_ID, "--holder-name", HOLDER)),
            f"permit {theirs['id']} is held by {OTHER_ID}, not {HOLDER_ID}")


def bases_of_two_holders(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    mine = registration(permit)
    theirs = food_safety(permit, registration(permit, holder_id=OTHER_ID, name=OTHER)["url"])
    return issue_alcohol(mine["url"], theirs["url"]), f"permit {theirs['id']} is held by {OTHER_ID}, not {HOLDER_ID}"


def a_type_not_required(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    building = as_json(permit("issue", "--agency", "hcm-sxd", "--type", "construction", "--holder-id", HOLDER_ID,
                              "--holder-name", HOLDER, "--valid-until", "2027-12-31", "--json"))
    return (issue_food_safety(building["url"]),
            f"permit {building['id']} is a construction permit; a food-safety permit rests on business-registration")


def a_basis_for_a_type_resting_on_nothing(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    br = registration(permit)
    return (["issue", "--agency", "hcm-sxd", "--type", "construction", "--valid-until", "2027-12-31", "--basis", br["url"]],
            f"permit {br['id']} is a business-registration permit; a construction permit rests on no other permit")


def revoked_before_issuing(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    br = registration(permit)
    ok(permit("revoke", br["id"], "--reason", "Doanh nghiệp giải thể"))
    publish(permit, "hcm-skhdt")
    return issue_food_safety(qr_image(permit, br["id"], tmp / "dkkd.png")), basis_refused(f"permit {br['id']}", Reason.REVOKED)


def suspended_before_issuing(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    br = registration(permit)
    ok(permit("suspend", br["id"], "--reason", "Tạm ngừng kinh doanh"))
    publish(permit, "hcm-skhdt")
    return issue_food_safety(br["url"]), basis_refused(f"permit {br['id']}", Reason.SUSPENDED)


def a_permit_no_ledger_holds(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    registration(permit)
    return issue_food_safety("ZZZZ9999"), "no permit 'ZZZZ9999' in any ledger of this home; give its QR code or link instead"


def a_stale_status_list(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    br = registration(permit)
    ok(permit("status", "publish", "--agency", "hcm-skhdt", "--ttl-hours", "1"))
    permit.cli_clock.t += 2 * 3600
    return issue_food_safety(br["url"]), status_unknown(f"permit {br['id']}", Reason.STATUS_STALE)


def no_status_list(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    br = registration(permit)
    (permit.home / "status" / "hcm-skhdt.jwt").unlink()
    return issue_food_safety(br["url"]), status_unknown(f"permit {br['id']}", Reason.STATUS_UNAVAILABLE)


def a_superseded_version(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    br = registration(permit)
    ok(permit("amend", br["id"], "--holder-address", "45 Lê Lợi, Phường Sài Gòn", "--reason", "Đổi địa chỉ"))
    publish(permit, "hcm-skhdt")
    return issue_food_safety(br["url"]), basis_refused(f"permit {br['id']}", Reason.SUPERSEDED)


def an_expired_basis(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    # Registered for 2025 only, in the agency's ledger since then.
    old = city.issue("hcm-skhdt", "business-registration", at=NOW - 400 * DAY, holder_name=HOLDER,
                     valid_from=date(2025, 1, 1), valid_until=date(2025, 12, 31))
    publish(permit, "hcm-skhdt")
    return issue_food_safety(old.token), basis_refused(f"permit {old.permit.id}", Reason.EXPIRED)


def a_basis_not_yet_valid(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    br = as_json(permit("issue", "--agency", "hcm-skhdt", "--type", "business-registration", "--holder-id", HOLDER_ID,
                        "--holder-name", HOLDER, "--valid-from", "2027-01-01", "--valid-until", "2030-12-31", "--json"))
    return issue_food_safety(br["url"]), basis_refused(f"permit {br['id']}", Reason.NOT_YET_VALID)


def no_basis(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    return (issue_food_safety(holder=("--holder-id", HOLDER_ID, "--holder-name", HOLDER)),
            "a permit of type food-safety rests on one of type business-registration: give its QR code or link with --basis")


def one_basis_of_two(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    br = registration(permit)
    return issue_alcohol(br["url"]), "a permit of type alcohol-retail rests on one of type food-safety: give its QR code or link with --basis"


def one_basis_twice(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    br = registration(permit)
    return (issue_alcohol(br["url"], br["id"]),
            f"two business-registration permits are given as the basis ({br['id']}, {br['id']}); give one")


def two_of_one_type(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    br, again = registration(permit), registration(permit, number="41N8099999")
    fs = food_safety(permit, br["url"])
    return (issue_alcohol(br["url"], fs["url"], again["url"]),
            f"two business-registration permits are given as the basis ({br['id']}, {again['id']}); give one")


def another_holder_name(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    br = registration(permit)
    return (issue_food_safety(br["url"], holder=("--holder-name", "Công ty TNHH Thực phẩm Sạch Sài Gòn Mới")),
            f"the holder's name differs from the one on permit {br['id']}; leave it out to take that permit's")


def another_holder_address(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    br = registration(permit)
    return (issue_food_safety(br["url"], holder=("--holder-address", "45 Lê Lợi, Phường Sài Gòn")),
            f"the holder's address differs from the one on permit {br['id']}; leave it out to take that permit's")


def amended_onto_a_revoked_basis(permit: Permit, city: City, tmp: Path) -> tuple[Args, str]:
    fs = food_safety(permit, registration(permit)["url"])
    closed = registration(permit, number="41N8099999")
    ok(permit("revoke", closed["id"], "--reason", "Doanh nghiệp giải thể"))
    publish(permit, "hcm-skhdt")
    return (["amend", fs["id"], "--basis", closed["url"], "--reason", "Đăng ký lại"],
            basis_refused(f"permit {closed['id']}", Reason.REVOKED))


ATTACKS: list[tuple[Attack, str]] = [
    (forged_signature, "basis_invalid"),
    (signed_by_an_unknown_key, "basis_invalid"),
    (from_an_agency_not_allowed_the_type, "basis_invalid"),
    (not_a_permit_at_all, "basis_invalid"),
    (another_holders_basis, "basis_wrong_holder"),
    (bases_of_two_holders, "basis_wrong_holder"),
    (a_type_not_required, "basis_wrong_type"),
    (a_basis_for_a_type_resting_on_nothing, "basis_wrong_type"),
    (revoked_before_issuing, "basis_revoked"),
    (suspended_before_issuing, "basis_suspended"),
    (a_permit_no_ledger_holds, "basis_not_found"),
    (a_stale_status_list, "basis_status_unknown"),
    (no_status_list, "basis_status_unknown"),
    (a_superseded_version, "basis_superseded"),
    (an_expired_basis, "basis_expired"),
    (a_basis_not_yet_valid, "basis_expired"),
    (no_basis, "basis_missing"),
    (one_basis_of_two, "basis_missing"),
    (one_basis_twice, "basis_duplicate"),
    (two_of_one_type, "basis_duplicate"),
    (another_holder_name, "basis_holder_mismatch"),
    (another_holder_address, "basis_holder_mismatch"),
    (amended_onto_a_revoked_basis, "basis_revoked"),
]


@pytest.mark.parametrize(("attack", "reason"), ATTACKS, ids=[attack.__name__ for attack, _ in ATTACKS])
def test_a_bad_basis_is_refused_with_its_reason_and_nothing_is_written(once: Permit, city: City, tmp_path: Path,
                                                                       attack: Attack, reason: str) -> None:
    args, message = attack(once, city, tmp_path)
    assert assert_refused_unwritten(once, args, reason) == f"Error: [{reason}] {message}"


# --- at verification ----------------------------------------------------------------------------------


@pytest.fixture
def issued_on(once: Permit) -> tuple[dict[str, Any], dict[str, Any]]:
    """A business registration and a food-safety certificate resting on it, both lists published."""
    br = registration(once, number="41N8012345")
    fs = food_safety(once, br["url"])
    publish(once, "hcm-skhdt", "hcm-syt")
    return br, fs


def assert_verdict(permit: Permit, token: str, status: str, reasons: list[str]) -> dict[str, Any]:
    exit_code, body = verdict(permit, token)
    assert (exit_code, body["status"], body["reasons"], body["valid"]) == (int(status != "valid"), status, reasons, status == "valid")
    return body


def test_a_signed_reference_altered_after_signing_is_bad_signature(once: Permit, issued_on: Any) -> None:
    br, fs = issued_on
    other = registration(once, holder_id=OTHER_ID, name=OTHER)
    for changes in ({"jti": other["id"], "st": other["status_index"]}, {"st": br["status_index"] ^ 1}, {"iss": "hcm-sct"}):
        body = assert_verdict(once, altered(fs["token"], **changes), "invalid", ["bad_signature"])
        assert "permit" not in body and "basis" not in body


def forged_reference(city: City, fs: dict[str, Any], **changes: Any) -> str:
    """The certificate's claims with its reference changed, signed with the Department of Health's real key."""
    body = claims(fs["token"])
    body["basis"][0].update(changes)
    return sign_claims(body, city.signers["hcm-syt"])


@pytest.mark.parametrize(
    ("changes", "type_named", "issuer_named"),
    [
        ({"iss": "hcm-sgtvt"}, True, False),  # an agency the registry does not know
        ({"iss": "hcm-syt"}, True, True),  # a real agency that may not issue business registrations
        ({"ptype": "fishing-licence"}, False, True),  # a type the registry does not know
    ],
    ids=["unknown-agency", "agency-not-allowed-the-type", "unknown-type"],
)
def test_a_genuinely_signed_reference_to_what_the_registry_does_not_vouch_for_is_basis_invalid(
        once: Permit, city: City, issued_on: Any, changes: dict[str, Any], type_named: bool, issuer_named: bool) -> None:
    br, fs = issued_on
    body = assert_verdict(once, forged_reference(city, fs, **changes), "invalid", ["basis_invalid"])
    ref = claims(fs["token"])["basis"][0] | changes
    expected: dict[str, Any] = {"id": br["id"], "type": {"code": ref["ptype"]},
                                "issuer": {"id": ref["iss"]}, "state": "invalid"}
    if type_named:
        expected["type"]["name"] = {"vi": "Giấy chứng nhận đăng ký doanh nghiệp", "en": "Business registration certificate"}
    if issuer_named:
        expected["issuer"]["name"] = AGENCY_NAMES[ref["iss"]]
    assert body["basis"] == [expected]
    assert body["permit"]["id"] == fs["id"]  # the certificate itself is genuine: shown, with what is wrong


def test_a_reference_outside_its_agency_list_is_status_unknown(once: Permit, city: City, issued_on: Any) -> None:
    br, fs = issued_on
    body = assert_verdict(once, forged_reference(city, fs, st=2**31 - 1), "status_unknown", ["basis_status_unavailable"])
    assert body["basis"] == [basis_entry(br, "status_unknown")]


def test_a_basis_whose_agency_list_is_stale_is_never_valid(once: Permit, issued_on: Any) -> None:
    br, fs = issued_on
    ok(once("status", "publish", "--agency", "hcm-skhdt", "--ttl-hours", "1"))
    once.cli_clock.t += 2 * 3600
    publish(once, "hcm-syt")
    assert assert_verdict(once, fs["token"], "status_unknown", ["basis_status_stale"])["basis"] == [basis_entry(br, "status_unknown")]


def test_a_basis_revoked_after_issuing_revokes_the_permit(once: Permit, issued_on: Any) -> None:
    br, fs = issued_on
    ok(once("revoke", br["id"], "--reason", "Doanh nghiệp giải thể"))
    publish(once, "hcm-skhdt")
    assert assert_verdict(once, fs["token"], "revoked", ["basis_revoked"])["basis"] == [basis_entry(br, "revoked")]
    # Revoked in its own right as well: both reasons, its own first.
    ok(once("revoke", fs["id"], "--reason", "Cơ sở ngừng hoạt động"))
    publish(once, "hcm-syt")
    assert_verdict(once, fs["token"], "revoked", ["revoked", "basis_revoked"])


def ref_of(br: dict[str, Any]) -> dict[str, Any]:
    return {"iss": "hcm-skhdt", "jti": br["id"], "st": br["status_index"], "ptype": "business-registration"}


def food_ref(fs: dict[str, Any]) -> dict[str, Any]:
    return {"iss": "hcm-syt", "jti": fs["id"], "st": fs["status_index"], "ptype": "food-safety"}


MALFORMED: list[tuple[str, Callable[[dict[str, Any], dict[str, Any]], Any], str]] = [
    ("empty-list", lambda r, f: [], "bad_claim"),
    ("five-references", lambda r, f: [r, f, {**f, "jti": "ZZZZ0001"}, {**f, "jti": "ZZZZ0002"}, {**f, "jti": "ZZZZ0003"}], "bad_claim"),
    ("unsorted", lambda r, f: [f, r], "bad_claim"),
    ("one-permit-twice", lambda r, f: [r, r], "bad_claim"),
    ("one-type-twice", lambda r, f: [r, {**r, "jti": "ZZZZZZZZ"}], "bad_claim"),
    ("a-number-member", lambda r, f: [{**r, "no": "41N8012345"}], "bad_claim"),  # a basis is named by its id only
    ("unknown-member", lambda r, f: [{**r, "sub": HOLDER_ID}], "bad_claim"),
    ("an-object", lambda r, f: r, "bad_claim"),
    ("a-string", lambda r, f: r["jti"], "bad_claim"),
    ("null", lambda r, f: None, "bad_claim"),
    ("a-reference-not-an-object", lambda r, f: [r["jti"]], "bad_claim"),
    ("index-a-string", lambda r, f: [{**r, "st": str(r["st"])}], "bad_claim"),
    ("index-a-boolean", lambda r, f: [{**r, "st": True}], "bad_claim"),
    ("index-negative", lambda r, f: [{**r, "st": -1}], "bad_claim"),
    ("index-past-2-31", lambda r, f: [{**r, "st": 2**31}], "bad_claim"),
    ("index-a-fraction", lambda r, f: [{**r, "st": 1.5}], "malformed_token"),  # not I-JSON: refused before any claim is read
    ("issuer-upper-case", lambda r, f: [{**r, "iss": "HCM-SKHDT"}], "bad_claim"),
    ("issuer-a-number", lambda r, f: [{**r, "iss": 7}], "bad_claim"),
    ("id-lower-case", lambda r, f: [{**r, "jti": r["jti"].lower()}], "bad_claim"),
    ("type-a-list", lambda r, f: [{**r, "ptype": ["business-registration"]}], "bad_claim"),
    ("index-missing", lambda r, f: [{k: v for k, v in r.items() if k != "st"}], "missing_claim"),
]


@pytest.mark.parametrize(("basis", "reason"), [(basis, reason) for _, basis, reason in MALFORMED], ids=[name for name, _, _ in MALFORMED])
def test_a_malformed_basis_claim_in_a_genuinely_signed_token_is_refused(once: Permit, city: City, issued_on: Any,
                                                                        basis: Any, reason: str) -> None:
    br, fs = issued_on
    body = claims(fs["token"])
    body["basis"] = basis(ref_of(br), food_ref(fs))
    token = sign_claims(body, city.signers["hcm-syt"])
    result = assert_verdict(once, token, "invalid", [reason])
    assert "permit" not in result and "basis" not in result


def test_the_served_api_gives_the_same_verdicts(once: Permit, served: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    """The verification cases above, once through a real `permit serve` (POST /api/v1/verify), on
    the real clock: the same status, reasons and bases as `permit verify`. (A stale or missing
    list needs another clock or an emptied home: those are checked offline above.)"""
    monkeypatch.setattr(cli_module, "now", lambda: int(time.time()))
    city = served.city
    city.home.set_config(base_url=BASE_URL)  # the permits' official address; the server was started with its own
    br = registration(once, number="41N8012345")
    fs = food_safety(once, br["url"])
    closed = registration(once, holder_id=OTHER_ID, name=OTHER)
    on_closed = food_safety(once, closed["url"])
    paused = registration(once, holder_id="0311112222", name="Công ty Cổ phần Bếp Việt")
    on_paused = food_safety(once, paused["url"])
    ok(once("revoke", closed["id"], "--reason", "Doanh nghiệp giải thể"))
    ok(once("suspend", paused["id"], "--reason", "Tạm ngừng kinh doanh"))
    publish(once, "hcm-skhdt", "hcm-syt")
    body = claims(fs["token"])
    body["basis"] = [ref_of(br), ref_of(br)]
    tokens = {
        "valid": fs["token"],
        "revoked": on_closed["token"],
        "suspended": on_paused["token"],
        "altered": altered(fs["token"], st=br["status_index"] ^ 1),
        "unknown-agency": forged_reference(city, fs, iss="hcm-sgtvt"),
        "agency-not-allowed": forged_reference(city, fs, iss="hcm-syt"),
        "malformed": sign_claims(body, city.signers["hcm-syt"]),
    }
    expected = {name: (status, reasons) for name, status, reasons in [
        ("valid", "valid", []), ("revoked", "revoked", ["basis_revoked"]), ("suspended", "suspended", ["basis_suspended"]),
        ("altered", "invalid", ["bad_signature"]), ("unknown-agency", "invalid", ["basis_invalid"]),
        ("agency-not-allowed", "invalid", ["basis_invalid"]), ("malformed", "invalid", ["bad_claim"])]}
    offline = {name: verdict(once, token)[1] for name, token in tokens.items()}
    assert {name: (v["status"], v["reasons"]) for name, v in offline.items()} == expected

    def served_verdicts() -> dict[str, Any]:
        return {name: call(f"{served.url}/api/v1/verify", {"token": token}) for name, token in tokens.items()}

    # Another process published the lists: every worker picks them up from the home within seconds.
    deadline = time.monotonic() + 15
    answers = served_verdicts()
    while time.monotonic() < deadline and any(answer[1].get("status") != expected[name][0] for name, answer in answers.items()):
        time.sleep(0.3)
        answers = served_verdicts()
    for name, (status, answer) in answers.items():
        assert (status, answer["status"], answer["reasons"]) == (200, *expected[name]), name
        assert answer.get("basis") == offline[name].get("basis"), name
