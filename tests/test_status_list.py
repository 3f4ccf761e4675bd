"""Status lists: the Token Status List's JWT form, layout, size, sparse and dense lookups, what a
verifier refuses, and the transition from the format before it."""

from __future__ import annotations

import bz2
import gzip
import json
import random
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import DAY, NOW, City, passphrase
from forge import sign_raw

from keys.encoding import b64url_decode, b64url_encode
from keys.errors import ConflictError, DocumentError
from keys.trust import Root, open_bundle
from permits import operator
from permits.status_list import LEGACY_ACCEPTED_UNTIL, MAX_SIZE, MIN_SIZE, build_status_list, open_status_list

VECTORS = Path(__file__).parent / "vectors"


def _url(city: City, agency: str = "hcm-syt") -> str:
    return city.registry.agencies[agency].status_url


def _open(city: City, token: str, agency: str = "hcm-syt", at: int = NOW):  # type: ignore[no-untyped-def]
    return open_status_list(token, city.registry, agency, at)


def _refused(city: City, token: str, reason: str, agency: str = "hcm-syt") -> None:
    with pytest.raises(DocumentError) as refused:
        _open(city, token, agency)
    assert refused.value.reason == reason


def _claims(city: City, **changes: Any) -> dict[str, Any]:
    claims: dict[str, Any] = {"sub": _url(city), "iat": NOW, "exp": NOW + DAY, "ttl": 60,
                              "status_list": {"bits": 2, "lst": b64url_encode(zlib.compress(bytes(MIN_SIZE // 4), 9))}}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def _forged(city: City, payload: dict[str, Any] | bytes, header: dict[str, Any] | None = None, by: str = "hcm-syt") -> str:
    """A list with exactly these claims (or payload bytes) and header, signed by `by`'s real key."""
    signer = city.signers[by]
    raw = payload if isinstance(payload, bytes) else json.dumps(payload, separators=(",", ":")).encode()
    return sign_raw(header or {"alg": signer.alg, "kid": signer.kid, "typ": "statuslist+jwt"}, raw, signer)


def _lst(compressed: bytes) -> dict[str, Any]:
    return {"bits": 2, "lst": b64url_encode(compressed)}


# --- the form: exactly the draft's JWT --------------------------------------------------------


def test_a_list_is_the_drafts_jwt_with_two_bits_per_entry_least_significant_first(city: City) -> None:
    entries = [(0, 1), (1, 2), (2, 3), (5, 1), (MIN_SIZE - 1, 2)]
    signer = city.signers["hcm-syt"]
    token = build_status_list(_url(city), MIN_SIZE, entries, signer, NOW, NOW + DAY)
    header_b64, payload_b64, _ = token.split(".")
    assert json.loads(b64url_decode(header_b64)) == {"alg": "EdDSA", "kid": signer.kid, "typ": "statuslist+jwt"}
    claims = json.loads(b64url_decode(payload_b64))
    assert claims.keys() == {"sub", "iat", "exp", "ttl", "status_list"} and claims["status_list"].keys() == {"bits", "lst"}
    assert (claims["sub"], claims["iat"], claims["exp"], claims["ttl"], claims["status_list"]["bits"]) == (_url(city), NOW, NOW + DAY, 60, 2)
    assert "=" not in claims["status_list"]["lst"]
    raw = zlib.decompress(b64url_decode(claims["status_list"]["lst"]))  # ZLIB (RFC 1950), not raw DEFLATE
    assert len(raw) == MIN_SIZE // 4
    assert raw[0] == 0b11_10_01 and raw[1] == 0b00_00_01_00 and raw[-1] == 0b10_00_00_00
    status_list = _open(city, token)
    assert [status_list.status(i) for i in range(7)] == [1, 2, 3, 0, 0, 1, 0]
    assert status_list.status(MIN_SIZE - 1) == 2
    assert status_list.status(MIN_SIZE) is None and status_list.status(-1) is None
    assert (status_list.size, status_list.ttl, status_list.legacy) == (MIN_SIZE, 60, False)


@pytest.mark.parametrize("fraction", [0.001, 0.01, 0.5])
def test_sparse_and_dense_representations_agree(city: City, fraction: float) -> None:
    rng = random.Random(7)
    size = MIN_SIZE
    entries = {rng.randrange(size): rng.choice([1, 2, 3]) for _ in range(int(size * fraction))}
    token = build_status_list(_url(city), size, entries.items(), city.signers["hcm-syt"], NOW, NOW + DAY)
    status_list = _open(city, token)
    for index in list(entries)[:500] + [rng.randrange(size) for _ in range(500)]:
        assert status_list.status(index) == entries.get(index, 0)


def test_a_million_permits_one_percent_revoked_fits_in_thirty_kilobytes(city: City) -> None:
    # Was 20 KB with bzip2 under a header (17.7 KB). In the draft's JWT form lst is base64url
    # inside a base64url payload (x 16/9), and ZLIB makes 16.5 KB of the array: 29.9 KB. Even
    # the information in the list (10,000 of 2^21 places, 11.4 KB) would make 20.3 KB so encoded.
    rng = random.Random(1)
    size = 1 << 21  # a ledger of a million permits doubles its list to 2^21 entries
    revoked = ((i, 1) for i in rng.sample(range(size), 10_000))
    token = build_status_list(_url(city), size, revoked, city.signers["hcm-syt"], NOW, NOW + DAY)
    assert len(token) <= 30_000
    assert _open(city, token).size == size


def test_the_size_is_implied_by_lst_and_the_index_check_is_exact(city: City) -> None:
    token = _forged(city, _claims(city, status_list=_lst(zlib.compress(bytes(MIN_SIZE // 4 + 1)))))
    status_list = _open(city, token)
    assert status_list.size == MIN_SIZE + 4
    assert status_list.status(MIN_SIZE + 3) == 0 and status_list.status(MIN_SIZE + 4) is None


def test_other_claims_are_allowed_and_ignored_as_the_draft_says(city: City) -> None:
    claims = _claims(city, iss="hcm-syt", jti="list-7", nbf=NOW - 60, note="ghi chú",
                     status_list={**_lst(zlib.compress(bytes(MIN_SIZE // 4))), "aggregation_uri": "https://evil.example/all"})
    assert _open(city, _forged(city, claims)).size == MIN_SIZE
    assert _open(city, _forged(city, _claims(city, ttl=None))).ttl is None  # ttl is optional


# --- who may sign it, and where it lives ---------------------------------------------------------


def test_list_signed_by_another_agency_is_refused(city: City) -> None:
    token = build_status_list(_url(city, "hcm-skhdt"), MIN_SIZE, [], city.signers["hcm-skhdt"], NOW, NOW + DAY)
    _refused(city, token, "issuer_key_mismatch")


def test_list_naming_the_victims_place_but_signed_by_another_agency_is_refused(city: City) -> None:
    # Planning's real key signs a list that claims to be Health's, to "un-revoke" its permits.
    token = build_status_list(_url(city), MIN_SIZE, [], city.signers["hcm-skhdt"], NOW, NOW + DAY)
    _refused(city, token, "issuer_key_mismatch")


@pytest.mark.parametrize(
    "sub",
    ["http://127.0.0.1:8000/api/v1/status/hcm-skhdt", "https://evil.example/api/v1/status/hcm-syt",
     "http://127.0.0.1:8000/api/v1/status/hcm-syt/", "HTTP://127.0.0.1:8000/api/v1/status/hcm-syt", "hcm-syt"],
    ids=["another-agencys-place", "another-host", "trailing-slash", "case", "agency-id"],
)
def test_list_whose_sub_is_not_the_registrys_place_is_refused(city: City, sub: str) -> None:
    # Genuinely signed by Health: the list is Health's, but not the one the registry points at.
    assert _url(city) == "http://127.0.0.1:8000/api/v1/status/hcm-syt"
    _refused(city, _forged(city, _claims(city, sub=sub)), "bad_claim")


def test_list_held_from_before_the_registry_moved_it_is_refused_until_republished(city: City) -> None:
    city.publish_status("hcm-syt")
    draft = city.home.draft()
    moved = replace(draft.agencies["hcm-syt"], status_url="https://status.hcm.gov.vn/hcm-syt.jwt")
    city.home.save_draft(replace(draft, agencies={**draft.agencies, "hcm-syt": moved}))
    city.trusted = operator.publish(city.home, passphrase, NOW, 30 * DAY)
    with pytest.raises(DocumentError) as refused:
        city.home.status_list(city.registry, "hcm-syt", NOW)
    assert refused.value.reason == "bad_claim"
    # Republished in the same second: it names the new place and is newer than the one held.
    republished = city.publish_status("hcm-syt")
    assert republished.issued_at == NOW + 1
    assert city.home.status_list(city.registry, "hcm-syt", NOW + 1) == republished


def test_permit_token_presented_as_a_status_list_is_refused(city: City) -> None:
    _refused(city, city.issue().token, "unsupported_header")  # permit members (zip) are not list members


def test_list_with_a_permit_typ_is_wrong_type(city: City) -> None:
    signer = city.signers["hcm-syt"]
    _refused(city, _forged(city, _claims(city), {"alg": signer.alg, "kid": signer.kid, "typ": "permit+jwt"}), "wrong_type")


# --- lst: ZLIB, inflated only to the bound ------------------------------------------------------


@pytest.mark.parametrize(
    "compressed",
    [
        zlib.compress(bytes(MIN_SIZE // 4 - 1)),  # one entry short of the smallest list
        zlib.compress(bytes(MAX_SIZE // 4 + 1)),  # more entries than any list
        zlib.compress(bytes(MIN_SIZE // 4))[:-3],  # truncated
        zlib.compress(bytes(MIN_SIZE // 4)) + b"x",  # trailing data
        zlib.compress(bytes(MIN_SIZE // 4)) * 2,  # two streams
        b"not zlib at all",
        bz2.compress(bytes(MIN_SIZE // 4)),  # the format before
        zlib.compress(bytes(MIN_SIZE // 4))[2:-4],  # raw DEFLATE
        gzip.compress(bytes(MIN_SIZE // 4)),  # gzip
        zlib.compressobj(zdict=b"\0" * 64).compress(bytes(MIN_SIZE // 4)),  # a preset dictionary
    ],
    ids=["short", "over-the-largest", "truncated", "trailing", "two-streams", "garbage", "bzip2", "raw-deflate", "gzip", "zdict"],
)
def test_lst_must_be_one_whole_zlib_stream_within_the_bounds(city: City, compressed: bytes) -> None:
    _refused(city, _forged(city, _claims(city, status_list=_lst(compressed))), "malformed_token")


# --- the claims -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"sub": None}, "missing_claim"),
        ({"iat": None}, "missing_claim"),
        ({"exp": None}, "missing_claim"),
        ({"status_list": None}, "missing_claim"),
        ({"status_list": {"bits": 2}}, "missing_claim"),
        ({"status_list": "AAAA"}, "bad_claim"),
        ({"iat": "now"}, "bad_claim"),
        ({"exp": NOW - DAY}, "bad_claim"),
        ({"exp": 253_402_300_800}, "bad_claim"),
        ({"ttl": 0}, "bad_claim"),
        ({"ttl": -60}, "bad_claim"),
        ({"ttl": "60"}, "bad_claim"),
        ({"status_list": {"bits": 1, "lst": "eNpjYAAAAAQAAQ"}}, "bad_claim"),
        ({"status_list": {"bits": "2", "lst": "eNpjYAAAAAQAAQ"}}, "bad_claim"),
        ({"status_list": {"bits": 2, "lst": 7}}, "bad_claim"),
        ({"status_list": {"bits": 2, "lst": "eNpjYAAAAAQAAQ=="}}, "malformed_token"),
        ({"aud": "hcm-verifier"}, "bad_claim"),
        ({"iss": "hcm-skhdt"}, "issuer_key_mismatch"),
        ({"iat": NOW + DAY, "exp": NOW + 2 * DAY}, "issued_in_future"),
        ({"nbf": NOW + DAY}, "not_yet_valid"),
    ],
    ids=["no-sub", "no-iat", "no-exp", "no-status_list", "no-lst", "status_list-string", "iat-string", "exp-before-iat",
         "exp-past-9999", "ttl-zero", "ttl-negative", "ttl-string", "bits-1", "bits-string", "lst-number", "lst-padded",
         "aud", "iss-another-agency", "from-the-future", "nbf-future"],
)
def test_list_claims_are_checked(city: City, change: dict[str, object], reason: str) -> None:
    _refused(city, _forged(city, _claims(city, **change)), reason)


@pytest.mark.parametrize(
    "payload",
    [b'{"sub":"x","sub":"y"}', b'{"iat":1.5}', b'{"iat":NaN}', b"[]", b"\xef\xbb\xbf{}", b"not json"],
    ids=["duplicate-member", "fraction", "nan", "array", "bom", "garbage"],
)
def test_claims_that_are_not_strict_json_are_refused(city: City, payload: bytes) -> None:
    _refused(city, _forged(city, payload), "malformed_token")


@pytest.mark.parametrize("header", [{"url": "https://evil.example/list"}, {"crit": ["exp"]}, {"jku": "https://evil.example/k"}])
def test_header_members_beyond_the_drafts_are_refused(city: City, header: dict[str, Any]) -> None:
    signer = city.signers["hcm-syt"]
    _refused(city, _forged(city, _claims(city), {"alg": signer.alg, "kid": signer.kid, "typ": "statuslist+jwt", **header}), "unsupported_header")


def test_tampered_list_is_bad_signature(city: City) -> None:
    good = build_status_list(_url(city), MIN_SIZE, [(5, 1)], city.signers["hcm-syt"], NOW, NOW + DAY)
    clean = build_status_list(_url(city), MIN_SIZE, [], city.signers["hcm-syt"], NOW, NOW + DAY)
    # The revocation erased: the clean list's payload under the revoking list's signature.
    header, _, signature = good.split(".")
    _refused(city, f"{header}.{clean.split('.')[1]}.{signature}", "bad_signature")


def test_an_older_list_never_replaces_a_newer_one(city: City) -> None:
    signer = city.signers["hcm-syt"]
    older = build_status_list(_url(city), MIN_SIZE, [], signer, NOW - DAY, NOW + DAY)
    newer = build_status_list(_url(city), MIN_SIZE, [(9, 1)], signer, NOW, NOW + DAY)
    city.home.install_status_list(newer, city.registry, "hcm-syt", NOW)
    with pytest.raises(ConflictError) as refused:
        city.home.install_status_list(older, city.registry, "hcm-syt", NOW)
    assert refused.value.reason == "status_rollback"
    assert city.home.status_list(city.registry, "hcm-syt", NOW).status(9) == 1  # type: ignore[union-attr]


# --- the transition from the format before ------------------------------------------------------


@pytest.fixture(scope="module")
def vectors() -> tuple[Any, str, str]:
    """The vectors' registry, their old-format list of Health and the same list in the draft's form."""
    permits = json.loads((VECTORS / "permits.json").read_text())
    anchor = Root.from_dict(json.loads((VECTORS / "anchor.json").read_text()))
    registry = open_bundle((VECTORS / "registry.json").read_bytes(), anchor, permits[0]["now"]).registry
    return registry, (VECTORS / "legacy-status-hcm-syt.jwt").read_text().strip(), (VECTORS / "status-hcm-syt.jwt").read_text().strip()


def test_an_old_format_list_is_read_during_the_transition_and_agrees_with_the_new_one(vectors: tuple[Any, str, str]) -> None:
    registry, legacy, current = vectors
    old, new = open_status_list(legacy, registry, "hcm-syt", NOW), open_status_list(current, registry, "hcm-syt", NOW)
    assert (old.legacy, new.legacy) == (True, False)
    assert (old.issued_at, old.expires_at, old.size) == (new.issued_at, new.expires_at, new.size)
    assert [old.status(i) for i in range(100, 110)] == [new.status(i) for i in range(100, 110)] == [0, 0, 0, 1, 2, 3, 0, 0, 0, 0]
    assert open_status_list(legacy, registry, "hcm-syt", LEGACY_ACCEPTED_UNTIL - 1).legacy


def test_an_old_format_list_is_refused_once_the_transition_is_over(vectors: tuple[Any, str, str]) -> None:
    registry, legacy, current = vectors
    with pytest.raises(DocumentError) as refused:
        open_status_list(legacy, registry, "hcm-syt", LEGACY_ACCEPTED_UNTIL)
    assert refused.value.reason == "unsupported_header"
    assert open_status_list(current, registry, "hcm-syt", LEGACY_ACCEPTED_UNTIL).size == MIN_SIZE


def test_an_old_format_list_never_replaces_a_newer_list_in_the_drafts_form(city: City) -> None:
    signer = city.signers["hcm-syt"]
    header = {"alg": signer.alg, "kid": signer.kid, "typ": "statuslist+jwt", "iss": "hcm-syt", "iat": NOW - DAY, "exp": NOW + DAY, "size": MIN_SIZE}
    legacy = sign_raw(header, bz2.compress(bytes(MIN_SIZE // 4), 9), signer)
    assert city.home.install_status_list(legacy, city.registry, "hcm-syt", NOW).legacy
    newer = city.home.install_status_list(build_status_list(_url(city), MIN_SIZE, [(9, 1)], signer, NOW, NOW + DAY), city.registry, "hcm-syt", NOW)
    assert not newer.legacy
    with pytest.raises(ConflictError) as refused:
        city.home.install_status_list(legacy, city.registry, "hcm-syt", NOW)
    assert refused.value.reason == "status_rollback"
    # Publishing always writes the draft's form, newer than any list held, whatever its format.
    city.home.install_status_list(sign_raw({**header, "iat": NOW + 5}, bz2.compress(bytes(MIN_SIZE // 4), 9), signer), city.registry, "hcm-syt", NOW)
    published = city.publish_status("hcm-syt")
    assert (published.legacy, published.issued_at) == (False, NOW + 6)
