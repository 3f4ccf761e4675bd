"""Rule 5, time: a small fixed leeway; a maximum lifetime per permit type; the key must have been
valid when the permit says it was signed; a permit signed in the future is refused; and a
compromised key is invalid for every permit, whatever date it claims.

Every token is signed by the agency's genuine registered key: only the times are wrong."""

from __future__ import annotations

from dataclasses import replace

import pytest
from conftest import DAY, KEYS_FROM, NOW, PASSPHRASE, TYPES, City, passphrase
from forge import sign_raw
from hostile import (
    assert_refused,
    assert_valid,
    empty_list_payload,
    genuine,
    open_list,
    resign,
    status_header,
    status_refused,
)

from keys.signer import KeySigner
from permits import operator
from permits.model import Permit
from permits.status_list import ISSUED_AT_LEEWAY
from permits.token import sign_permit
from verifier.pipeline import LEEWAY

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
    assert_refused(city.verify(resign(city, permit, valid_from=valid_from, valid_until=valid_until)), "bad_claim")


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
    token = sign_raw(status_header(old, "hcm-syt", iat=issued_at, exp=NOW + DAY), empty_list_payload(), old)
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
    token = sign_raw(status_header(signer, "hcm-syt", iat=iat, exp=iat + 2 * DAY), empty_list_payload(), signer)
    if reason is None:
        assert open_list(city, token, "hcm-syt").issued_at == iat
    else:
        status_refused(city, token, "hcm-syt", reason)
