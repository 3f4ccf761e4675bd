"""Every verdict reason the verification pipeline can produce, each from the real condition."""

from __future__ import annotations

import sys
import unicodedata
from dataclasses import replace
from datetime import date

import jsonschema
import pytest
from conftest import DAY, NOW, City, passphrase
from forge import claims_of, permit_header, sign_claims, sign_raw

from keys.algorithms import generate_private_key
from keys.encoding import dumps_canonical
from keys.registry import Registry
from keys.signer import KeySigner
from permits import issuing, operator
from permits.token import MAX_TOKEN_LENGTH, sign_permit
from verifier.pipeline import verify
from verifier.verdict import Verdict
from verifier.web.schemas import published


@pytest.fixture(autouse=True)
def _every_verdict_matches_the_published_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each verdict these cases produce, whatever its kind, is valid against
    /api/v1/schemas/verdict.json: the real pipeline runs, and its answer is validated."""
    schema = jsonschema.Draft202012Validator(published("verdict.json", "http://127.0.0.1:8000"))

    def validated(verdict: Verdict) -> Verdict:
        schema.validate(verdict.to_dict())
        return verdict

    city_verify, pipeline_verify = City.verify, verify
    monkeypatch.setattr(City, "verify", lambda self, *args, **kwargs: validated(city_verify(self, *args, **kwargs)))
    monkeypatch.setattr(sys.modules[__name__], "verify", lambda *args, **kwargs: validated(pipeline_verify(*args, **kwargs)))


def republish(city: City, at: int = NOW) -> Registry:
    registry = operator.publish(city.home, passphrase, at, 60 * DAY).registry
    city.trusted = city.home.trusted_registry(at)
    return registry


def test_a_genuine_permit_in_force_is_valid(city: City) -> None:
    record = city.issue()
    city.publish_status("hcm-syt")
    verdict = city.verify(record.token)
    assert (verdict.status, verdict.reasons, verdict.valid) == ("valid", (), True)
    body = verdict.to_dict()
    assert body["permit"]["holder"]["name"] == "Công ty TNHH Thực phẩm Sạch Bình Minh"
    assert body["issuer"] == {"id": "hcm-syt", "name": {"vi": "Sở Y tế", "en": "Department of Health"}}
    assert body["permit"]["type"]["name"]["en"] == "Food safety certificate"
    assert body["registry_version"] == city.registry.version


def test_es256_agency_permit_is_valid(city: City) -> None:
    record = city.issue("hcm-sct", "alcohol-retail")
    city.publish_status("hcm-sct")
    assert city.verify(record.token).status == "valid"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("", "malformed_token"),
        ("abc", "malformed_token"),
        ("a.b", "malformed_token"),
        ("a..c", "malformed_token"),
        ("a.b.c.d", "malformed_token"),
        (12345, "malformed_token"),
        (None, "malformed_token"),
        ("x" * (MAX_TOKEN_LENGTH + 1), "token_too_large"),
    ],
)
def test_tokens_that_are_not_compact_jws_are_malformed(city: City, token: object, reason: str) -> None:
    verdict = city.verify(token)
    assert (verdict.status, verdict.reasons) == ("invalid", (reason,))
    assert "permit" not in verdict.to_dict()


def test_token_with_surrounding_whitespace_is_not_silently_accepted(city: City) -> None:
    record = city.issue()
    city.publish_status("hcm-syt")
    assert city.verify(f" {record.token}\n").reasons == ("malformed_token",)


def test_token_signed_by_an_unregistered_key_is_unknown_key(city: City) -> None:
    record = city.issue()
    stranger = KeySigner(generate_private_key())
    verdict = city.verify(sign_permit(record.permit, stranger))
    assert (verdict.status, verdict.reasons) == ("invalid", ("unknown_key",))


def test_token_signed_by_a_registered_key_of_another_agency_is_issuer_key_mismatch(city: City) -> None:
    record = city.issue("hcm-syt")
    # The Department of Planning's genuine key signs a permit claiming to be from Health.
    verdict = city.verify(sign_permit(record.permit, city.signers["hcm-skhdt"]))
    assert (verdict.status, verdict.reasons) == ("invalid", ("issuer_key_mismatch",))


def test_issuer_not_in_registry_is_unknown_issuer(city: City) -> None:
    record = city.issue("hcm-syt")
    forged = sign_claims(claims_of(record.permit, iss="hcm-stnmt"), city.signers["hcm-syt"])
    assert city.verify(forged).reasons == ("unknown_issuer",)


def test_agency_signing_a_type_outside_its_scope_is_not_authorised(city: City) -> None:
    record = city.issue("hcm-syt")
    # Health signs, with its own real key, a construction permit it may not issue.
    permit = replace(record.permit, type="construction")
    verdict = city.verify(sign_permit(permit, city.signers["hcm-syt"]))
    assert (verdict.status, verdict.reasons) == ("invalid", ("not_authorised_for_type",))


def test_unknown_permit_type_is_not_authorised(city: City) -> None:
    record = city.issue("hcm-syt")
    forged = sign_claims(claims_of(record.permit, ptype="fishing-licence"), city.signers["hcm-syt"])
    assert city.verify(forged).reasons == ("not_authorised_for_type",)


def test_tampered_claim_is_bad_signature(city: City) -> None:
    record = city.issue()
    header, payload, signature = record.token.split(".")
    other = sign_permit(replace(record.permit, holder_name="Công ty TNHH Giả Mạo"), city.signers["hcm-syt"])
    # The forger's payload under the genuine permit's signature.
    tampered = f"{header}.{other.split('.')[1]}.{signature}"
    verdict = city.verify(tampered)
    assert (verdict.status, verdict.reasons) == ("invalid", ("bad_signature",))
    assert "permit" not in verdict.to_dict()


def test_header_alg_differing_from_registered_key_is_algorithm_mismatch(city: City) -> None:
    record = city.issue()
    signer = city.signers["hcm-syt"]  # an EdDSA key
    payload = record.token.split(".")[1]
    from keys.encoding import b64url_decode

    forged = sign_raw(permit_header(signer, alg="ES256"), b64url_decode(payload), signer)
    assert city.verify(forged).reasons == ("algorithm_mismatch",)


@pytest.mark.parametrize(
    ("extra", "reason"),
    [
        ({"jku": "https://evil.example/keys.json"}, "unsupported_header"),
        ({"jwk": {"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}}, "unsupported_header"),
        ({"x5u": "https://evil.example/cert"}, "unsupported_header"),
        ({"crit": ["exp"]}, "unsupported_header"),
        ({"zip": "DEF"}, "unsupported_header"),
        ({"typ": "statuslist+jwt"}, "wrong_type"),
        ({"typ": "JWT"}, "wrong_type"),
        ({"alg": "none"}, "unsupported_header"),
        ({"alg": "HS256"}, "unsupported_header"),
        ({"kid": 7}, "malformed_token"),
    ],
)
def test_header_profile_is_enforced(city: City, extra: dict[str, object], reason: str) -> None:
    record = city.issue()
    forged = sign_claims(record.permit.to_claims(), city.signers["hcm-syt"], **extra)
    assert city.verify(forged).reasons == (reason,)


def test_missing_claim(city: City) -> None:
    record = city.issue()
    claims = record.permit.to_claims()
    del claims["exp"]
    assert city.verify(sign_claims(claims, city.signers["hcm-syt"])).reasons == ("missing_claim",)


@pytest.mark.parametrize(
    "change",
    [
        {"exp": "1900000000"},
        {"iat": 1.5e9},
        {"nbf": True},
        {"st": -1},
        {"ver": 0},
        {"jti": "lower-case"},
        {"sub": ""},
        {"permit_act": []},
        {"extra": 1},
    ],
)
def test_bad_claim(city: City, change: dict[str, object]) -> None:
    record = city.issue()
    forged = sign_claims(claims_of(record.permit, **change), city.signers["hcm-syt"])
    reasons = city.verify(forged).reasons
    # A float cannot even be parsed by the strict JSON reader: the payload is malformed.
    assert reasons == (("malformed_token",) if "iat" in change else ("bad_claim",))


def test_lifetime_beyond_the_type_maximum_is_bad_claim(city: City) -> None:
    record = city.issue()
    too_long = record.permit.valid_from + 2000 * DAY
    forged = sign_permit(replace(record.permit, valid_until=too_long), city.signers["hcm-syt"])
    assert city.verify(forged).reasons == ("bad_claim",)


def test_decomposed_text_is_non_canonical(city: City) -> None:
    record = city.issue()
    nfd = unicodedata.normalize("NFD", record.permit.holder_name)
    assert nfd != record.permit.holder_name
    forged = sign_claims(claims_of(record.permit, permit_name=nfd), city.signers["hcm-syt"])
    assert city.verify(forged).reasons == ("non_canonical_text",)


@pytest.mark.parametrize("char", ["\u202e", "\u200b", "\u0007", "\ufeff", "\u2066"])
def test_invisible_and_bidi_characters_are_non_canonical(city: City, char: str) -> None:
    record = city.issue()
    forged = sign_claims(claims_of(record.permit, permit_name=f"Công ty{char} TNHH"), city.signers["hcm-syt"])
    assert city.verify(forged).reasons == ("non_canonical_text",)


def test_permit_signed_in_the_future_is_refused(city: City) -> None:
    record = city.issue()
    future = replace(record.permit, issued_at=NOW + DAY)
    assert city.verify(sign_permit(future, city.signers["hcm-syt"])).reasons == ("issued_in_future",)


def test_expired_permit(city: City) -> None:
    record = city.issue(at=NOW - 400 * DAY, valid_from=date(2025, 10, 1), valid_until=date(2026, 10, 1))
    city.publish_status("hcm-syt")
    verdict = city.verify(record.token)
    assert (verdict.status, verdict.reasons) == ("expired", ("expired",))
    assert verdict.to_dict()["permit"]["id"] == record.permit.id


def test_not_yet_valid_permit(city: City) -> None:
    record = city.issue(valid_from=date(2027, 1, 1), valid_until=date(2028, 1, 1))
    city.publish_status("hcm-syt")
    assert (city.verify(record.token).status, city.verify(record.token).reasons) == ("not_yet_valid", ("not_yet_valid",))


def test_the_same_permit_becomes_valid_when_its_day_comes(city: City) -> None:
    record = city.issue(valid_from=date(2026, 12, 1), valid_until=date(2027, 12, 1))
    city.publish_status("hcm-syt", at=NOW + 9 * DAY)
    assert city.verify(record.token, at=NOW + 10 * DAY).status == "valid"


@pytest.mark.parametrize("kind", ["revoked", "suspended"])
def test_revoked_and_suspended_permits(city: City, kind: str) -> None:
    record = city.issue()
    city.change(record, kind)
    city.publish_status("hcm-syt")
    verdict = city.verify(record.token)
    assert (verdict.status, verdict.reasons) == (kind, (kind,))


def test_reinstated_permit_is_valid_again(city: City) -> None:
    record = city.issue()
    city.change(record, "suspended")
    city.change(record, "reinstated", None)
    city.publish_status("hcm-syt")
    assert city.verify(record.token).status == "valid"


def test_amended_permit_old_version_is_superseded_and_names_the_newer(city: City) -> None:
    record = city.issue()
    ledger = city.home.ledger("hcm-syt")
    newer = issuing.amend(ledger, city.registry, city.signers["hcm-syt"], record.permit.id,
                          issuing.Amendment(holder_address="45 Lê Lợi, Phường Sài Gòn, TP. Hồ Chí Minh"), "officer", NOW, "moved")
    city.publish_status("hcm-syt")
    old = city.verify(record.token)
    assert (old.status, old.reasons) == ("superseded", ("superseded",))
    assert old.to_dict()["superseded_by"] == {"id": record.permit.id, "min_version": 2}
    assert city.verify(newer.token).status == "valid"
    assert newer.permit.version == 2 and newer.permit.id == record.permit.id


def test_no_status_list_is_status_unavailable(city: City) -> None:
    record = city.issue()
    verdict = city.verify(record.token)
    assert (verdict.status, verdict.reasons) == ("status_unknown", ("status_unavailable",))


def test_stale_status_list_is_never_valid(city: City) -> None:
    record = city.issue()
    city.publish_status("hcm-syt", ttl=DAY)
    verdict = city.verify(record.token, at=NOW + 2 * DAY)
    assert (verdict.status, verdict.reasons) == ("status_unknown", ("status_stale",))


def test_a_stale_list_still_proves_a_revocation(city: City) -> None:
    record = city.issue()
    city.change(record, "revoked")
    city.publish_status("hcm-syt", ttl=DAY)
    assert city.verify(record.token, at=NOW + 2 * DAY).status == "revoked"


def test_status_index_outside_the_list_fails_closed(city: City) -> None:
    record = city.issue()
    city.publish_status("hcm-syt")
    outside = replace(record.permit, status_index=city.lists["hcm-syt"].size + 7)
    verdict = city.verify(sign_permit(outside, city.signers["hcm-syt"]))
    assert (verdict.status, verdict.reasons) == ("status_unknown", ("status_unavailable",))


def test_expired_registry_held_by_a_verifier_is_registry_stale(city: City) -> None:
    record = city.issue()
    city.publish_status("hcm-syt", at=NOW + 59 * DAY)
    verdict = city.verify(record.token, at=city.registry.expires_at + 1)
    assert (verdict.status, verdict.reasons) == ("status_unknown", ("registry_stale",))


def test_compromised_key_invalidates_every_permit_under_it(city: City) -> None:
    before = city.issue(at=NOW - 100 * DAY)
    kid = city.signers["hcm-syt"].kid
    operator.retire_key(city.home, "hcm-syt", kid, "compromised", NOW)
    registry = republish(city)
    city.publish_status("hcm-skhdt")
    verdict = verify(before.token, registry, city.lists, NOW + 10)
    assert (verdict.status, verdict.reasons) == ("invalid", ("key_compromised",))
    # Even one claiming to be signed long before the compromise.
    backdated = sign_permit(replace(before.permit, issued_at=NOW - 500 * DAY), city.signers["hcm-syt"])
    assert verify(backdated, registry, city.lists, NOW + 10).reasons == ("key_compromised",)


def test_superseded_key_keeps_earlier_permits_valid_but_cannot_sign_new_ones(city: City) -> None:
    earlier = city.issue()
    old_signer = city.signers["hcm-syt"]
    new_signer = city.home.generate_key("hcm-syt", b"correct horse battery staple")
    operator.add_key(city.home, "hcm-syt", new_signer.public_key(), NOW + 60)
    operator.retire_key(city.home, "hcm-syt", old_signer.kid, "superseded", NOW + 120)
    registry = republish(city, NOW + 180)
    city.signers["hcm-syt"] = new_signer
    city.publish_status("hcm-syt", at=NOW + 200)
    assert verify(earlier.token, registry, city.lists, NOW + 300).status == "valid"
    # The retired key used after its retirement:
    late = sign_permit(replace(earlier.permit, issued_at=NOW + 250), old_signer)
    assert verify(late, registry, city.lists, NOW + 300).reasons == ("key_not_valid_at_issue",)
    # ... and issuing refuses it outright.
    with pytest.raises(Exception) as refused:
        ledger = city.home.ledger("hcm-syt")
        issuing.issue(ledger, registry, old_signer, city.request(), "officer", NOW + 300)
    assert getattr(refused.value, "reason", None) == "key_retired"
    fresh = city.issue(at=NOW + 300)
    assert verify(fresh.token, registry, city.lists, NOW + 400).status == "valid"


def test_key_used_before_its_valid_from_is_refused(city: City) -> None:
    record = city.issue()
    early = sign_permit(replace(record.permit, issued_at=1_600_000_000), city.signers["hcm-syt"])
    assert city.verify(early).reasons == ("key_not_valid_at_issue",)


def test_several_problems_the_most_severe_status_wins(city: City) -> None:
    record = city.issue(at=NOW - 400 * DAY, valid_from=date(2025, 10, 1), valid_until=date(2026, 10, 1))
    city.change(record, "revoked")
    city.publish_status("hcm-syt")
    verdict = city.verify(record.token)
    assert verdict.status == "revoked"
    assert verdict.reasons == ("expired", "revoked")


def test_verify_never_raises_on_odd_input(city: City) -> None:
    for token in [b"bytes", ["a"], {"t": 1}, "é.é.é", "\ud800.a.b", "a" * 100 + "." + "b" * 100 + "." + "c"]:
        assert city.verify(token).status == "invalid"


def test_verdict_json_is_stable(city: City) -> None:
    record = city.issue()
    city.publish_status("hcm-syt")
    body = city.verify(record.token).to_dict()
    assert set(body) == {"valid", "status", "reasons", "checked_at", "registry_version", "permit", "issuer"}
    assert body["checked_at"] == "2026-11-22T02:00:00Z"
    assert dumps_canonical(body)  # serialisable
