"""Rule 6, authority: a permit type must be in the issuing agency's scope as the signed registry
states it now, whatever the token says and whoever signed it."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import AGENCIES, DAY, NOW, TYPES, City, passphrase
from forge import claims_of, sign_claims
from hostile import assert_refused, assert_valid, copy_city, genuine, resign

from permits import operator

SCOPE = {agency: tuple(types) for agency, _, _, types, _ in AGENCIES}
ALL_TYPES = [code for code, _, _, _ in TYPES]
IN_SCOPE = [(agency, code) for agency, types in SCOPE.items() for code in types]
OUT_OF_SCOPE = [(agency, code) for agency, types in SCOPE.items() for code in ALL_TYPES if code not in types]


@pytest.fixture(scope="module")
def city(city_template: Path, tmp_path_factory: pytest.TempPathFactory) -> City:
    """One city for the whole module: its tests forge and verify, and change nothing shared."""
    return copy_city(city_template, tmp_path_factory.mktemp("rule6_authority"))


def home_type(agency: str) -> str:
    return SCOPE[agency][0]


@pytest.mark.parametrize(("agency", "type_code"), IN_SCOPE)
def test_every_agency_may_issue_exactly_its_own_types(city: City, agency: str, type_code: str) -> None:
    permit = genuine(city, agency, type_code)
    assert_valid(city.verify(resign(city, permit)))


@pytest.mark.parametrize(("agency", "type_code"), OUT_OF_SCOPE)
def test_agency_signing_a_type_outside_its_scope_is_not_authorised(city: City, agency: str, type_code: str) -> None:
    # The agency's own genuine key, its own iss, a type the catalogue knows: only the scope is wrong.
    permit = genuine(city, agency, home_type(agency))
    assert_refused(city.verify(resign(city, permit, type=type_code)), "not_authorised_for_type")


@pytest.mark.parametrize("type_code", ["fishing-licence", "food-safety-2", "food", "alcohol", "registry", "root"])
def test_type_outside_the_catalogue_is_not_authorised(city: City, type_code: str) -> None:
    permit = genuine(city)
    assert_refused(city.verify(resign(city, permit, type=type_code)), "not_authorised_for_type")


@pytest.mark.parametrize(
    "type_code",
    ["Food-safety", "FOOD-SAFETY", "food_safety", "food-safety ", " food-safety", "food-safety\n", "food‐safety",
     "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", "Food safety certificate", "food-safety,construction", ""],
    ids=["capital", "upper case", "underscore", "trailing space", "leading space", "newline", "unicode hyphen",
         "vietnamese name", "english name", "two types", "empty"],
)
def test_type_spelled_other_than_its_code_is_never_matched_to_it(city: City, type_code: str) -> None:
    permit = genuine(city)
    forged = sign_claims(claims_of(permit, ptype=type_code), city.signers["hcm-syt"])
    assert_refused(city.verify(forged), "bad_claim")


@pytest.fixture
def fresh(city_template: Path, tmp_path: Path) -> City:
    """A city of its own, for the tests that republish the registry."""
    return copy_city(city_template, tmp_path)


def test_scope_is_the_registrys_now_not_the_one_at_issue(fresh: City) -> None:
    # Industry and Trade issues a food-safety certificate while it may; then the operator takes
    # food safety out of its scope. The permit is genuine, but no longer within any authority.
    permit = genuine(fresh, "hcm-sct", "food-safety")
    token = resign(fresh, permit)
    assert_valid(fresh.verify(token))
    operator.set_agency_types(fresh.home, "hcm-sct", ["alcohol-retail"])
    operator.publish(fresh.home, passphrase, NOW, 60 * DAY)
    fresh.trusted = fresh.home.trusted_registry(NOW)
    assert_refused(fresh.verify(token), "not_authorised_for_type")
    # Its alcohol licences are untouched.
    assert_valid(fresh.verify(resign(fresh, permit, type="alcohol-retail")))


def test_a_type_the_registry_grants_later_does_not_validate_earlier_forgeries_retroactively(fresh: City) -> None:
    # The reverse: scope is read at verification, so a permit refused today is refused because
    # of today's registry, and becomes acceptable only once the operator really grants the type.
    permit = genuine(fresh, "hcm-syt")
    token = resign(fresh, permit, type="alcohol-retail")
    assert_refused(fresh.verify(token), "not_authorised_for_type")
    operator.set_agency_types(fresh.home, "hcm-syt", ["alcohol-retail", "food-safety"])
    operator.publish(fresh.home, passphrase, NOW, 60 * DAY)
    fresh.trusted = fresh.home.trusted_registry(NOW)
    assert_valid(fresh.verify(token))
