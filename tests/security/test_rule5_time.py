"""Rule 5, time: every time a document carries can be written as a date (year 9999 at most); a
small fixed leeway; a maximum lifetime per permit type; the key must have been valid when the
permit says it was signed; a permit signed in the future is refused; and a compromised key is
invalid for every permit, whatever date it claims.

Every token is signed by the agency's genuine registered key: only the times are wrong."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import DAY, KEYS_FROM, NOW, PASSPHRASE, TYPES, City, Clock, passphrase
from flask.testing import FlaskClient
from forge import sign_raw
from hostile import (
    agency_key,
    assert_refused,
    assert_valid,
    claims_json,
    claims_token,
    edited_registry,
    genuine,
    list_payload,
    open_list,
    registry_refused,
    resign,
    status_header,
    status_refused,
)

import cli as cli_module
from cli import cli
from keys.fields import ISSUED_AT_LEEWAY, MAX_TIME
from keys.signer import KeySigner
from permits import operator
from permits.model import Permit
from permits.token import sign_permit
from verifier.pipeline import LEEWAY
from verifier.web.app import create_app

MAX_DAYS = {code: days for code, _, _, days in TYPES}
SCOPE = {"business-registration": "hcm-skhdt", "food-safety": "hcm-syt", "alcohol-retail": "hcm-sct", "construction": "hcm-sxd"}


def republish(city: City) -> None:
    operator.publish(city.home, passphrase, NOW, 60 * DAY)
    city.trusted = city.home.trusted_registry(NOW)


def rotate(city: City, retired_at: int) -> tuple[KeySigner, KeySigner]:
    """Health registers a new key and retires the old one as superseded at `retired_at`."""
    old = city.signers["hcm-syt"]
    new = city.home.generate_key("hcm-syt", PASSPHRASE)
    operator.add_key(city.home, "hcm-syt", new.public_key(), retired_at)
    operator.retire_key(city.home, "hcm-syt", old.kid, "superseded", retired_at)
    republish(city)
    city.signers["hcm-syt"] = new
    city.publish_status("hcm-syt")
    return old, new


def compromise(city: City, at: int, after_superseding: bool = False) -> KeySigner:
    old = city.signers["hcm-syt"]
    if after_superseding:
        operator.retire_key(city.home, "hcm-syt", old.kid, "superseded", at)
    operator.retire_key(city.home, "hcm-syt", old.kid, "compromised", at)
    republish(city)
    return old


def in_force(permit: Permit) -> Permit:
    """The permit as valid from yesterday to tomorrow, so that only `iat` can be wrong."""
    return replace(permit, valid_from=NOW - DAY, valid_until=NOW + DAY)


# --- the leeway is small and fixed ----------------------------------------------------------


@pytest.mark.parametrize(
    ("ahead", "refused"),
    [(0, False), (LEEWAY, False), (LEEWAY + 1, True), (600, True), (DAY, True), (365 * DAY, True)],
    ids=["now", "at the leeway", "one second past it", "ten minutes", "one day", "one year"],
)
def test_permit_claiming_to_be_signed_in_the_future_is_refused_beyond_a_small_leeway(city: City, ahead: int, refused: bool) -> None:
    permit = in_force(genuine(city))
    verdict = city.verify(resign(city, permit, issued_at=NOW + ahead))
    if refused:
        assert_refused(verdict, "issued_in_future")
    else:
        assert_valid(verdict)


@pytest.mark.parametrize(
    ("ended", "expired"),
    [(-LEEWAY + 1, False), (-LEEWAY, True), (-600, True), (-DAY, True)],
    ids=["inside the leeway", "at the leeway", "ten minutes ago", "a day ago"],
)
def test_expired_permit_is_not_rescued_by_a_generous_leeway(city: City, ended: int, expired: bool) -> None:
    permit = genuine(city)
    verdict = city.verify(resign(city, permit, valid_from=NOW - 30 * DAY, valid_until=NOW + ended))
    if expired:
        assert (verdict.status, verdict.reasons) == ("expired", ("expired",))
        assert verdict.permit is not None  # genuine: shown, and shown as expired
    else:
        assert_valid(verdict)


@pytest.mark.parametrize(
    ("starts", "early"),
    [(LEEWAY, False), (LEEWAY + 1, True), (600, True)],
    ids=["at the leeway", "one second past it", "ten minutes"],
)
def test_permit_not_yet_in_force_is_not_advanced_by_a_generous_leeway(city: City, starts: int, early: bool) -> None:
    permit = genuine(city)
    verdict = city.verify(resign(city, permit, valid_from=NOW + starts, valid_until=NOW + 30 * DAY))
    if early:
        assert (verdict.status, verdict.reasons) == ("not_yet_valid", ("not_yet_valid",))
    else:
        assert_valid(verdict)


# --- the maximum lifetime of each permit type ----------------------------------------------


@pytest.mark.parametrize("type_code", MAX_DAYS)
def test_permit_outliving_its_types_maximum_lifetime_is_refused(city: City, type_code: str) -> None:
    agency = SCOPE[type_code]
    permit = genuine(city, agency, type_code)
    start = NOW - DAY
    longest = start + MAX_DAYS[type_code] * DAY
    assert_valid(city.verify(resign(city, permit, valid_from=start, valid_until=longest)))
    assert_refused(city.verify(resign(city, permit, valid_from=start, valid_until=longest + 1)), "bad_claim")


@pytest.mark.parametrize(
    ("valid_from", "valid_until"),
    [(0, NOW + DAY), (KEYS_FROM, NOW + 4000 * DAY), (NOW - DAY, 2**53 - 1)],
    ids=["from 1970", "from the key's first day for 11 years", "until the end of safe integers"],
)
def test_lifetime_cannot_be_stretched_by_moving_either_end(city: City, valid_from: int, valid_until: int) -> None:
    permit = genuine(city)
    assert_refused(city.verify(claims_token(city, claims_json(permit, nbf=valid_from, exp=valid_until))), "bad_claim")


# --- the key must have been valid at iat ---------------------------------------------------


@pytest.mark.parametrize(
    ("issued_at", "refused"),
    [(KEYS_FROM, False), (KEYS_FROM - 1, True), (KEYS_FROM - 365 * DAY, True), (0, True)],
    ids=["the key's first second", "one second before", "a year before", "epoch"],
)
def test_backdated_permit_before_the_key_was_registered_is_refused(city: City, issued_at: int, refused: bool) -> None:
    permit = in_force(genuine(city))
    verdict = city.verify(resign(city, permit, issued_at=issued_at))
    if refused:
        assert_refused(verdict, "key_not_valid_at_issue")
    else:
        assert_valid(verdict)


def _signed(permit: Permit, signer: KeySigner, issued_at: int) -> str:
    return sign_permit(replace(permit, issued_at=issued_at), signer)


def test_superseded_key_is_valid_only_before_its_retirement(city: City) -> None:
    permit = in_force(city.issue().permit)  # its list is published under the new key by rotate()
    retired_at = NOW - 10 * DAY
    old, new = rotate(city, retired_at)
    assert_valid(city.verify(_signed(permit, old, retired_at - 1)))
    assert_refused(city.verify(_signed(permit, old, retired_at)), "key_not_valid_at_issue")
    assert_refused(city.verify(_signed(permit, old, NOW)), "key_not_valid_at_issue")
    # ... and the new key cannot be used to backdate before it was registered.
    assert_refused(city.verify(_signed(permit, new, retired_at - 1)), "key_not_valid_at_issue")
    assert_valid(city.verify(_signed(permit, new, retired_at)))


# --- a compromised key is invalid for every permit ------------------------------------------


@pytest.mark.parametrize(
    "issued_at",
    [KEYS_FROM - DAY, KEYS_FROM, NOW - 100 * DAY, NOW - 30 * DAY - 1, NOW - 30 * DAY, NOW],
    ids=["before the key existed", "the key's first second", "long before the compromise",
         "one second before the compromise", "at the compromise", "now"],
)
@pytest.mark.parametrize("after_superseding", [False, True], ids=["active key", "superseded key"])
def test_backdated_permit_under_a_compromised_key_is_refused(city: City, issued_at: int, after_superseding: bool) -> None:
    permit = in_force(genuine(city))
    old = compromise(city, NOW - 30 * DAY, after_superseding)
    assert_refused(city.verify(_signed(permit, old, issued_at)), "key_compromised")


def test_genuine_permit_issued_before_the_compromise_is_refused_too(city: City) -> None:
    record = city.issue(at=NOW - 100 * DAY)
    city.publish_status("hcm-syt")
    assert_valid(city.verify(record.token))
    compromise(city, NOW - DAY)
    assert_refused(city.verify(record.token), "key_compromised")


@pytest.mark.parametrize("issued_at", [NOW - 100 * DAY, NOW], ids=["backdated", "now"])
def test_status_list_signed_by_a_compromised_key_is_refused(city: City, issued_at: int) -> None:
    old = compromise(city, NOW - 30 * DAY)
    token = sign_raw(status_header(old), list_payload(city, "hcm-syt", iat=issued_at, exp=NOW + DAY), old)
    status_refused(city, token, "hcm-syt", "key_compromised")


def test_agency_can_publish_a_fresh_status_list_after_its_key_is_compromised(city: City) -> None:
    # The usual order of events: the agency's current list is signed by the key that is then
    # found compromised; the operator registers a new key and retires the old one; the agency
    # issues under the new key and must be able to publish a list for it.
    city.issue(at=NOW - 100 * DAY)
    city.publish_status("hcm-syt", at=NOW - 60)
    old = city.signers["hcm-syt"]
    new = city.home.generate_key("hcm-syt", PASSPHRASE)
    operator.add_key(city.home, "hcm-syt", new.public_key(), NOW)
    operator.retire_key(city.home, "hcm-syt", old.kid, "compromised", NOW)
    republish(city)
    city.signers["hcm-syt"] = new
    fresh = city.issue(at=NOW + 60)
    city.publish_status("hcm-syt", at=NOW + 60)
    assert_valid(city.verify(fresh.token, at=NOW + 120))


# --- status lists: the same time rules ------------------------------------------------------


@pytest.mark.parametrize(
    ("iat", "reason"),
    [(NOW + ISSUED_AT_LEEWAY, None), (NOW + ISSUED_AT_LEEWAY + 1, "issued_in_future"), (KEYS_FROM - 1, "key_not_valid_at_issue")],
    ids=["at the leeway", "past the leeway", "before the key"],
)
def test_status_list_times_are_checked(city: City, iat: int, reason: str | None) -> None:
    signer = city.signers["hcm-syt"]
    token = sign_raw(status_header(signer), list_payload(city, "hcm-syt", iat=iat, exp=iat + 2 * DAY), signer)
    if reason is None:
        assert open_list(city, token, "hcm-syt").issued_at == iat
    else:
        status_refused(city, token, "hcm-syt", reason)


# --- times a date can be written for ----------------------------------------------------------

YEAR_10000 = 253_402_300_800  # 10000-01-01T00:00:00Z, one second past what RFC 3339 writes
PAST_9999 = [MAX_TIME + 1, YEAR_10000, 2**53 - 1]
PAST_9999_IDS = ["one second past the bound", "year 10000", "2^53 - 1"]
JSON = "application/json"


def _times(claim: str, at: int) -> dict[str, int]:
    """The permit's times with `claim` at `at` and the others where they would be consistent."""
    if claim == "iat":
        return {"iat": at, "nbf": NOW - DAY, "exp": NOW + DAY}
    if claim == "nbf":
        return {"iat": NOW, "nbf": at, "exp": min(at + DAY, 2**53 - 1)}
    return {"iat": NOW, "nbf": at - DAY, "exp": at}


@pytest.mark.parametrize("at", PAST_9999, ids=PAST_9999_IDS)
@pytest.mark.parametrize("claim", ["iat", "nbf", "exp"])
def test_permit_past_year_9999_is_bad_claim(city: City, claim: str, at: int) -> None:
    permit = genuine(city)
    token = claims_token(city, claims_json(permit, **_times(claim, at)))
    assert_refused(city.verify(token), "bad_claim")


def test_permit_past_year_9999_is_bad_claim_over_the_api_and_in_the_cli(
    city: City, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    permit = genuine(city)
    token = claims_token(city, claims_json(permit, **_times("exp", YEAR_10000)))
    client.application.extensions["permit_store"].reload()
    for response in (client.post("/api/v1/verify", json={"token": token}),
                     client.post("/api/v1/verify/batch", json={"tokens": [token]})):
        assert response.status_code == 200, response.data[:300]
    assert client.post("/api/v1/verify", json={"token": token}).get_json()["reasons"] == ["bad_claim"]
    monkeypatch.setattr(cli_module, "now", lambda: NOW)
    result = CliRunner().invoke(cli, ["verify", token], env={"PERMIT_HOME": str(city.home.path)})
    assert result.exit_code == 1 and "[bad_claim]" in result.output, result.output


def test_permit_ending_at_the_last_writable_second_is_shown_everywhere(
    city: City, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The control: the bound itself is a time like any other, written in UTC and in the city.
    permit = genuine(city)
    token = claims_token(city, claims_json(permit, **_times("exp", MAX_TIME)))
    verdict = city.verify(token)
    assert (verdict.status, verdict.reasons) == ("not_yet_valid", ("not_yet_valid",))
    assert verdict.to_dict()["permit"]["valid_until"] == "9999-12-31T09:59:59Z"
    client.application.extensions["permit_store"].reload()
    assert client.post("/api/v1/verify", json={"token": token}).get_json()["status"] == "not_yet_valid"
    monkeypatch.setattr(cli_module, "now", lambda: NOW)
    result = CliRunner().invoke(cli, ["verify", token, "--lang", "en"], env={"PERMIT_HOME": str(city.home.path)})
    assert result.exit_code == 1 and "31/12/9999" in result.output, result.output  # days shown as the printed permit writes them


@pytest.mark.parametrize(("iat", "exp"), [(NOW, YEAR_10000), (NOW, MAX_TIME + 1), (NOW, 2**53 - 1), (YEAR_10000, YEAR_10000 + DAY)],
                         ids=["exp year 10000", "exp one second past the bound", "exp 2^53 - 1", "iat year 10000"])
def test_status_list_past_year_9999_is_refused_and_healthz_stays_up(city: City, client: FlaskClient, iat: int, exp: int) -> None:
    signer = city.signers["hcm-syt"]
    token = sign_raw(status_header(signer), list_payload(city, "hcm-syt", iat=iat, exp=exp), signer)
    status_refused(city, token, "hcm-syt", "bad_claim")
    held = client.get("/api/v1/status/hcm-syt").data
    response = client.put("/api/v1/status/hcm-syt", data=token, content_type="application/statuslist+jwt")
    assert response.status_code == 422 and response.get_json()["error"]["reason"] == "bad_claim", response.data[:300]
    assert client.get("/api/v1/status/hcm-syt").data == held
    health = client.get("/api/v1/healthz")
    assert health.status_code == 200 and health.get_json()["status"] == "ok"


def test_status_list_expiring_at_the_last_writable_second_is_accepted(city: City, client: FlaskClient) -> None:
    signer = city.signers["hcm-syt"]
    token = sign_raw(status_header(signer), list_payload(city, "hcm-syt", iat=NOW + 1, exp=MAX_TIME), signer)
    response = client.put("/api/v1/status/hcm-syt", data=token, content_type="application/statuslist+jwt")
    assert response.status_code == 200 and response.get_json()["expires_at"] == "9999-12-31T09:59:59Z", response.data[:300]
    health = client.get("/api/v1/healthz").get_json()
    assert health["status_lists"]["hcm-syt"]["expires_at"] == "9999-12-31T09:59:59Z"


REGISTRY_TIMES = {
    "expires_at year 10000": lambda c: c.update(expires_at=YEAR_10000),
    "expires_at 2^53 - 1": lambda c: c.update(expires_at=2**53 - 1),
    "issued_at one second past the bound": lambda c: c.update(issued_at=MAX_TIME + 1),
    "key valid_from year 10000": lambda c: agency_key(c, "hcm-syt")[1].update(valid_from=YEAR_10000),
    "key retired_at year 10000": lambda c: agency_key(c, "hcm-syt")[1].update(retired_at=YEAR_10000, retired_reason="superseded"),
}


@pytest.mark.parametrize("edit", REGISTRY_TIMES.values(), ids=REGISTRY_TIMES.keys())
def test_registry_past_year_9999_is_refused_and_healthz_stays_up(city: City, client: FlaskClient, edit: Any) -> None:
    def newer(content: dict[str, Any]) -> None:
        content["version"] += 1
        edit(content)

    raw = edited_registry(city, newer)
    registry_refused(city, raw, because="before the year 10000")
    response = client.put("/api/v1/registry", data=raw, content_type=JSON)
    assert response.status_code == 422 and response.get_json()["error"]["reason"] == "registry_invalid", response.data[:300]
    health = client.get("/api/v1/healthz")
    assert health.status_code == 200 and health.get_json()["registry"]["version"] == city.registry.version


def test_status_list_past_year_9999_held_from_before_is_dropped_and_healthz_stays_up(city: City, clock: Clock) -> None:
    # A verifier that accepted such a list before this rule kept it in its home; it answered 500
    # on healthz from then on. Started again, it refuses the list and says why.
    city.publish_all()
    signer = city.signers["hcm-syt"]
    token = sign_raw(status_header(signer), list_payload(city, "hcm-syt", iat=NOW + 1, exp=YEAR_10000), signer)
    city.home.status_path("hcm-syt").write_bytes(token.encode() + b"\n")
    client = create_app({"HOME": str(city.home.path), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True}).test_client()
    health = client.get("/api/v1/healthz")
    assert health.status_code == 200, health.data[:300]
    assert (health.get_json()["status"], health.get_json()["status_lists"]["hcm-syt"]) == ("degraded", {"problem": "bad_claim"})
    assert client.get("/api/v1/status/hcm-syt").status_code == 404


@pytest.mark.parametrize("days", ["2920000", "100000000000"], ids=["to year 10021", "to year 273 million"])
def test_registry_published_to_expire_past_year_9999_is_refused(city: City, days: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # An operator's slip (a few digits too many) must not sign a registry every verifier refuses.
    monkeypatch.setattr(cli_module, "now", lambda: NOW)
    before = city.home.file("registry.json").read_bytes()
    result = CliRunner().invoke(cli, ["registry", "publish", "--valid-days", days],
                                env={"PERMIT_HOME": str(city.home.path), "PERMIT_PASSPHRASE": PASSPHRASE.decode()})
    assert (result.exit_code, result.output) == (2, "Error: [bad_validity] a registry must expire before the year 10000\n")
    assert city.home.file("registry.json").read_bytes() == before
