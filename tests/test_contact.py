"""Whom to call about a department's permits (issue 17 point 7): the registry's optional agency
`contact` ({"phone", "web"}, either or both), set by the operator with `permit registry
add-agency --phone --web` and `permit registry set-contact`, signed with the rest of the
registry, and carried by every verdict that names the agency (its issuer, each basis's issuer).

Run as an operator meets it: the `permit` command through click's runner in a copy of the city
home (tests/test_cli.py's fixtures), and `permit verify --json` for the verdicts."""

# ruff: noqa: F811 (the CLI fixtures of test_cli are imported, then taken as arguments)
from __future__ import annotations

import json
from typing import Any

import pytest
from conftest import City
from test_cli import Permit, as_json, assert_error, cli_clock, issued, ok, permit, publish_status, verdict  # noqa: F401 (fixtures)

from keys.encoding import b64url_decode
from keys.fields import FieldError
from keys.registry import Agency, Contact, Names, Registry
from permits import layout

HEALTH = {"phone": "028 3930 9912", "web": "https://medinet.hochiminhcity.gov.vn"}


def published_registry(permit: Permit) -> dict[str, Any]:
    """The registry document as signed into registry.json."""
    bundle = json.loads((permit.home / "registry.json").read_bytes())
    return dict(json.loads(b64url_decode(bundle["registry"]["payload"])))


def test_set_contact_is_signed_into_the_registry_shown_and_named_in_the_verdicts(permit: Permit) -> None:
    result = ok(permit("registry", "set-contact", "hcm-syt", "--phone", " 028  3930 9912 ", "--web", HEALTH["web"]))
    assert result.stdout == ("Contact of hcm-syt set to 028 3930 9912 · https://medinet.hochiminhcity.gov.vn in the draft; "
                             "publish to make it effective.\n")
    assert "contact" not in published_registry(permit)["agencies"]["hcm-syt"]  # the draft only, until published
    ok(permit("registry", "publish"))
    assert published_registry(permit)["agencies"]["hcm-syt"]["contact"] == HEALTH
    assert "contact" not in published_registry(permit)["agencies"]["hcm-sct"]  # left out where none was given
    shown = ok(permit("registry", "show")).stdout.splitlines()
    at = shown.index("  agency hcm-syt: Sở Y tế / Department of Health; may issue food-safety")
    assert shown[at + 1] == "    contact: 028 3930 9912 · https://medinet.hochiminhcity.gov.vn"
    assert as_json(permit("registry", "show", "--json"))["agencies"]["hcm-syt"]["contact"] == HEALTH
    assert "    liên hệ: 028 3930 9912 · https://medinet.hochiminhcity.gov.vn" in ok(permit("registry", "show", "--lang", "vi")).stdout.splitlines()

    record = issued(permit)
    code, body = verdict(permit, record["url"])
    assert (code, body["status"], body["issuer"]) == (0, "valid", {
        "id": "hcm-syt", "name": {"vi": "Sở Y tế", "en": "Department of Health"}, "contact": HEALTH})
    ok(permit("revoke", record["id"], "--reason", "cơ sở ngừng hoạt động"))
    publish_status(permit)
    code, body = verdict(permit, record["url"])
    assert (code, body["status"], body["issuer"]["contact"]) == (1, "revoked", HEALTH)


def test_add_agency_takes_a_phone_or_a_web_address_and_set_contact_changes_or_removes_it(permit: Permit) -> None:
    added = as_json(permit("registry", "add-agency", "hcm-stnmt", "--name-vi", "Sở Tài nguyên và Môi trường",
                           "--name-en", "Department of Natural Resources and Environment", "--type", "construction",
                           "--phone", "(028) 3829-7880", "--json"))
    assert added["contact"] == {"phone": "(028) 3829-7880"} and added["draft"] is True
    plain = as_json(permit("registry", "add-agency", "hcm-sgtvt", "--name-vi", "Sở Giao thông Vận tải",
                           "--name-en", "Department of Transport", "--type", "construction", "--json"))
    assert "contact" not in plain  # none given: none kept
    changed = as_json(permit("registry", "set-contact", "hcm-stnmt", "--web", "https://sotnmt.hochiminhcity.gov.vn/lien-he", "--json"))
    assert changed == {"agency": "hcm-stnmt", "contact": {"web": "https://sotnmt.hochiminhcity.gov.vn/lien-he"}, "draft": True}
    removed = ok(permit("registry", "set-contact", "hcm-stnmt"))
    assert removed.stdout == "Contact of hcm-stnmt removed from the draft; publish to make it effective.\n"
    assert as_json(permit("registry", "show", "--draft", "--json"))["agencies"]["hcm-stnmt"].get("contact") is None
    said = ok(permit("registry", "set-contact", "hcm-stnmt", "--phone", "+84 28 3829 7880", "--lang", "vi"))
    assert said.stdout == ("Trong bản nháp, thông tin liên hệ của hcm-stnmt nay là +84 28 3829 7880; hãy công bố để có hiệu lực.\n")


@pytest.mark.parametrize(("args", "reason"), [
    (["--phone", "gọi 028 3930 9912"], "bad_input"),
    (["--phone", "12"], "bad_input"),  # fewer than 3 digits
    (["--phone", "0" * 33], "bad_input"),
    (["--web", "http://medinet.hochiminhcity.gov.vn"], "bad_url"),  # not https
    (["--web", "https://medinet.hochiminhcity.gov.vn@lua-dao.example"], "bad_url"),  # shows one site, opens another
    (["--web", "medinet.hochiminhcity.gov.vn"], "bad_url"),
    (["--web", "https://" + "a" * 200 + ".vn"], "bad_url"),
])
def test_a_contact_that_is_not_a_phone_number_or_an_https_address_is_refused(permit: Permit, args: list[str], reason: str) -> None:
    draft = permit.home / layout.DRAFT
    before = draft.read_bytes()
    assert_error(permit("registry", "set-contact", "hcm-syt", *args), reason)
    assert draft.read_bytes() == before  # nothing written


def test_set_contact_of_an_unknown_agency_is_refused(permit: Permit) -> None:
    assert_error(permit("registry", "set-contact", "hcm-sgtvt", "--phone", "028 3829 0451"), "unknown_agency")


def test_a_basis_in_a_verdict_names_its_issuers_contact(permit: Permit, city: City) -> None:
    ok(permit("registry", "set-requires", "alcohol-retail", "--requires", "business-registration"))
    ok(permit("registry", "set-contact", "hcm-skhdt", "--phone", "028 3829 7336"))
    ok(permit("registry", "publish"))
    city.home.set_config(base_url="https://xacminh.hochiminhcity.gov.vn")
    registration = as_json(permit("issue", "--agency", "hcm-skhdt", "--type", "business-registration", "--holder-id", "0316543210",
                                  "--holder-name", "Công ty TNHH Nhà hàng Bến Nghé", "--valid-until", "2030-12-31", "--json"))
    licence = as_json(permit("issue", "--agency", "hcm-sct", "--type", "alcohol-retail", "--basis", registration["url"],
                             "--valid-until", "2028-12-31", "--json"))
    ok(permit("revoke", registration["id"], "--reason", "doanh nghiệp giải thể"))
    publish_status(permit, "hcm-skhdt")
    code, body = verdict(permit, licence["url"])
    assert (code, body["status"], body["reasons"]) == (1, "revoked", ["basis_revoked"])
    assert body["basis"][0]["issuer"] == {"id": "hcm-skhdt", "name": {"vi": "Sở Kế hoạch và Đầu tư", "en": "Department of Planning and Investment"},
                                          "contact": {"phone": "028 3829 7336"}}
    assert "contact" not in body["issuer"]  # hcm-sct gave none


# --- the model -------------------------------------------------------------------------------------


def test_a_registry_without_contacts_reads_and_writes_as_before(city: City) -> None:
    document = city.registry.to_dict()
    assert all("contact" not in agency for agency in document["agencies"].values())
    assert Registry.from_dict(document) == city.registry


@pytest.mark.parametrize("contact", [
    {"phone": "028 3930 9912"}, {"web": "https://medinet.hochiminhcity.gov.vn"}, HEALTH, {"phone": "+84 (28) 3930-9912"},
])
def test_a_contact_round_trips(city: City, contact: dict[str, str]) -> None:
    document = city.registry.to_dict()
    document["agencies"]["hcm-syt"]["contact"] = contact
    registry = Registry.from_dict(document)
    assert registry.agencies["hcm-syt"].contact == Contact(**contact)
    assert registry.to_dict() == document


@pytest.mark.parametrize("contact", [
    {}, {"phone": None}, {"phone": 2839309912}, {"phone": "028 3930 9912 "}, {"phone": "028  3930 9912"},
    {"phone": "028\u00a03930 9912"}, {"web": "https://"}, {"web": "javascript:alert(1)"}, {"web": "https://a.vn/x y"},
    {"web": "https://[::1"}, {"email": "syt@tphcm.gov.vn"}, [], "028 3930 9912",
])
def test_a_malformed_contact_is_refused_by_the_model(city: City, contact: object) -> None:
    document = city.registry.to_dict()
    document["agencies"]["hcm-syt"]["contact"] = contact
    with pytest.raises(FieldError) as caught:
        Registry.from_dict(document)
    assert caught.value.problem == "bad"


def test_an_agency_contact_needs_a_phone_or_a_web_address() -> None:
    with pytest.raises(FieldError):
        Contact()
    agency = Agency("hcm-syt", Names("Sở Y tế", "Department of Health"), ("food-safety",), "https://status.example/hcm-syt",
                    contact=Contact(phone="028 3930 9912"))
    assert agency.to_dict()["contact"] == {"phone": "028 3930 9912"}
