"""Status lists: layout, size, sparse and dense lookups, and what a verifier refuses."""

from __future__ import annotations

import bz2
import random

import pytest
from conftest import DAY, NOW, City
from forge import sign_raw

from keys.errors import ConflictError, DocumentError
from permits.status_list import MIN_SIZE, build_status_list, open_status_list


def _open(city: City, token: str, agency: str = "hcm-syt"):  # type: ignore[no-untyped-def]
    return open_status_list(token, city.registry, agency, NOW)


def test_two_bits_per_entry_least_significant_first(city: City) -> None:
    entries = [(0, 1), (1, 2), (2, 3), (5, 1), (MIN_SIZE - 1, 2)]
    token = build_status_list("hcm-syt", MIN_SIZE, entries, city.signers["hcm-syt"], NOW, NOW + DAY)
    status_list = _open(city, token)
    assert [status_list.status(i) for i in range(7)] == [1, 2, 3, 0, 0, 1, 0]
    assert status_list.status(MIN_SIZE - 1) == 2
    assert status_list.status(MIN_SIZE) is None and status_list.status(-1) is None
    raw = bz2.decompress(sign_payload(token))
    assert raw[0] == 0b11_10_01 and raw[1] == 0b00_00_01_00


def sign_payload(token: str) -> bytes:
    from keys.encoding import b64url_decode

    return b64url_decode(token.split(".")[1])


@pytest.mark.parametrize("fraction", [0.001, 0.01, 0.5])
def test_sparse_and_dense_representations_agree(city: City, fraction: float) -> None:
    rng = random.Random(7)
    size = MIN_SIZE
    entries = {rng.randrange(size): rng.choice([1, 2, 3]) for _ in range(int(size * fraction))}
    token = build_status_list("hcm-syt", size, entries.items(), city.signers["hcm-syt"], NOW, NOW + DAY)
    status_list = _open(city, token)
    for index in list(entries)[:500] + [rng.randrange(size) for _ in range(500)]:
        assert status_list.status(index) == entries.get(index, 0)


def test_a_million_permits_one_percent_revoked_fits_in_twenty_kilobytes(city: City) -> None:
    rng = random.Random(1)
    size = 1 << 21  # a ledger of a million permits doubles its list to 2^21 entries
    revoked = ((i, 1) for i in rng.sample(range(size), 10_000))
    token = build_status_list("hcm-syt", size, revoked, city.signers["hcm-syt"], NOW, NOW + DAY)
    assert len(token) <= 20_000
    assert _open(city, token).size == size


def test_list_signed_by_another_agency_is_refused(city: City) -> None:
    token = build_status_list("hcm-skhdt", MIN_SIZE, [], city.signers["hcm-skhdt"], NOW, NOW + DAY)
    with pytest.raises(DocumentError) as refused:
        _open(city, token, "hcm-syt")
    assert refused.value.reason == "issuer_key_mismatch"


def test_list_naming_the_victim_but_signed_by_another_agency_is_refused(city: City) -> None:
    # Planning's real key signs a list that claims to be Health's, to "un-revoke" its permits.
    token = build_status_list("hcm-syt", MIN_SIZE, [], city.signers["hcm-skhdt"], NOW, NOW + DAY)
    with pytest.raises(DocumentError) as refused:
        _open(city, token, "hcm-syt")
    assert refused.value.reason == "issuer_key_mismatch"


def test_permit_token_presented_as_a_status_list_is_wrong_type(city: City) -> None:
    with pytest.raises(DocumentError) as refused:
        _open(city, city.issue().token)
    assert refused.value.reason == "unsupported_header"  # permit members (zip) are not list members


def test_list_with_a_permit_typ_is_wrong_type(city: City) -> None:
    signer = city.signers["hcm-syt"]
    header = {"alg": signer.alg, "kid": signer.kid, "typ": "permit+jwt", "iss": "hcm-syt", "iat": NOW, "exp": NOW + DAY, "size": MIN_SIZE}
    token = sign_raw(header, bz2.compress(bytes(MIN_SIZE // 4)), signer)
    with pytest.raises(DocumentError) as refused:
        _open(city, token)
    assert refused.value.reason == "wrong_type"


@pytest.mark.parametrize(
    ("payload", "size"),
    [
        (bz2.compress(bytes(MIN_SIZE // 4 - 1)), MIN_SIZE),  # one byte short
        (bz2.compress(bytes(MIN_SIZE // 4 + 1)), MIN_SIZE),  # one byte over
        (bz2.compress(bytes(64 * 1024 * 1024)), MIN_SIZE),  # a decompression bomb
        (bz2.compress(bytes(MIN_SIZE // 4))[:-3], MIN_SIZE),  # truncated
        (bz2.compress(bytes(MIN_SIZE // 4)) + b"x", MIN_SIZE),  # trailing data
        (b"not bzip2 at all", MIN_SIZE),
        (__import__("zlib").compress(bytes(MIN_SIZE // 4)), MIN_SIZE),  # another format
    ],
    ids=["short", "long", "bomb", "truncated", "trailing", "garbage", "zlib"],
)
def test_payload_must_inflate_to_exactly_the_declared_size(city: City, payload: bytes, size: int) -> None:
    signer = city.signers["hcm-syt"]
    header = {"alg": signer.alg, "kid": signer.kid, "typ": "statuslist+jwt", "iss": "hcm-syt", "iat": NOW, "exp": NOW + DAY, "size": size}
    with pytest.raises(DocumentError) as refused:
        _open(city, sign_raw(header, payload, signer))
    assert refused.value.reason == "malformed_token"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"size": MIN_SIZE - 4}, "bad_claim"),
        ({"size": MIN_SIZE + 1}, "bad_claim"),
        ({"iat": "now"}, "bad_claim"),
        ({"exp": NOW - DAY}, "bad_claim"),
        ({"iat": NOW + DAY, "exp": NOW + 2 * DAY}, "issued_in_future"),
        ({"iss": None}, "missing_claim"),
        ({"url": "https://evil.example/list"}, "unsupported_header"),
    ],
)
def test_list_claims_are_checked(city: City, change: dict[str, object], reason: str) -> None:
    signer = city.signers["hcm-syt"]
    header = {"alg": signer.alg, "kid": signer.kid, "typ": "statuslist+jwt", "iss": "hcm-syt", "iat": NOW, "exp": NOW + DAY, "size": MIN_SIZE}
    header.update(change)
    header = {k: v for k, v in header.items() if v is not None}
    with pytest.raises(DocumentError) as refused:
        _open(city, sign_raw(header, bz2.compress(bytes(MIN_SIZE // 4)), signer))
    assert refused.value.reason == reason


def test_tampered_list_is_bad_signature(city: City) -> None:
    good = build_status_list("hcm-syt", MIN_SIZE, [(5, 1)], city.signers["hcm-syt"], NOW, NOW + DAY)
    clean = build_status_list("hcm-syt", MIN_SIZE, [], city.signers["hcm-syt"], NOW, NOW + DAY)
    # The revocation erased: the clean list's payload under the revoking list's signature.
    header, _, signature = good.split(".")
    forged = f"{header}.{clean.split('.')[1]}.{signature}"
    with pytest.raises(DocumentError) as refused:
        _open(city, forged)
    assert refused.value.reason == "bad_signature"


def test_an_older_list_never_replaces_a_newer_one(city: City) -> None:
    signer = city.signers["hcm-syt"]
    older = build_status_list("hcm-syt", MIN_SIZE, [], signer, NOW - DAY, NOW + DAY)
    newer = build_status_list("hcm-syt", MIN_SIZE, [(9, 1)], signer, NOW, NOW + DAY)
    city.home.install_status_list(newer, city.registry, "hcm-syt", NOW)
    with pytest.raises(ConflictError) as refused:
        city.home.install_status_list(older, city.registry, "hcm-syt", NOW)
    assert refused.value.reason == "status_rollback"
    assert city.home.status_list(city.registry, "hcm-syt", NOW).status(9) == 1  # type: ignore[union-attr]
