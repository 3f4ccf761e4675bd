"""Interoperability of status lists: two readers that are not ours read every list we publish.

- `DraftReader` below is written from the text of draft-ietf-oauth-status-list alone (sections
  "Status List", "Status List in JSON Format", "Status List Token in JWT Format" and "Referenced
  Token" validation): it shares no code with permits/status_list.py, and PyJWT's PyJWS checks the
  signature.
- `token-status-list` (PyPI, version pinned in pyproject.toml) decodes the `status_list` claim
  with its own BitArray.

Both must agree with our verifier on every index of a list that holds all four values, and on
every list `permit status publish` writes. The package's own writer is read back by our verifier.
"""

from __future__ import annotations

import base64
import json
import random
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
import token_status_list
from conftest import DAY, NOW, City

from keys.encoding import b64url_encode
from permits import issuing
from permits.status_list import MIN_SIZE, Status, StatusList, build_status_list, open_status_list

VECTORS = Path(__file__).parent / "vectors"


@dataclass(frozen=True)
class DraftReader:
    """A Relying Party's reading of a Status List Token in JWT form, step by step from the draft."""

    bits: int
    statuses: bytes
    claims: dict[str, Any]

    @classmethod
    def read(cls, token: str, key: Any, alg: str, uri: str) -> DraftReader:
        # The JWT must be signed with an asymmetric algorithm and the signature must verify.
        decoded = jwt.PyJWS().decode_complete(token, key, algorithms=[alg])
        assert decoded["header"]["typ"] == "statuslist+jwt"
        claims = json.loads(decoded["payload"])
        # sub: REQUIRED, the URI of the Status List Token, equal to the Referenced Token's uri.
        assert claims["sub"] == uri
        # iat: REQUIRED; exp and ttl: if present, a time and a positive number of seconds.
        assert isinstance(claims["iat"], int)
        assert "exp" not in claims or claims["exp"] > claims["iat"]
        assert "ttl" not in claims or claims["ttl"] > 0
        status_list = claims["status_list"]
        bits = status_list["bits"]
        assert bits in (1, 2, 4, 8)
        # lst: base64url (no padding) of the byte array compressed with DEFLATE in the ZLIB format.
        lst = status_list["lst"]
        assert "=" not in lst
        compressed = base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4))
        return cls(bits, zlib.decompress(compressed), claims)

    @property
    def size(self) -> int:
        return len(self.statuses) * 8 // self.bits

    def status(self, index: int) -> int:
        # The index counts from 0; the bits of a byte count from the least significant (0) to
        # the most significant (7), so index 0 holds the low `bits` bits of byte 0.
        position = index * self.bits
        return (self.statuses[position // 8] >> (position % 8)) & ((1 << self.bits) - 1)


def read_with_the_package(token: str) -> Any:
    """token-status-list has no JWT reader: it decodes the status_list claim of a JWT."""
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return token_status_list.BitArray.load(claims["status_list"])


def readers(city: City, agency: str, token: str) -> tuple[DraftReader, Any]:
    key = city.registry.key(city.signers[agency].kid)
    assert key is not None
    return DraftReader.read(token, key.public_key.key, key.alg, city.registry.agencies[agency].status_url), read_with_the_package(token)


def assert_all_agree(ours: StatusList, draft: DraftReader, package: Any) -> None:
    assert ours.size == draft.size == len(package) and draft.bits == package.bits == 2
    assert all(ours.status(i) == draft.status(i) == package.get(i) for i in range(ours.size))


@pytest.mark.parametrize("agency", ["hcm-syt", "hcm-sct"], ids=["EdDSA", "ES256"])
def test_both_readers_agree_with_ours_on_every_index_of_a_list_holding_all_four_values(city: City, agency: str) -> None:
    rng = random.Random(15)
    entries = {index: rng.choice(list(Status)) for index in rng.sample(range(MIN_SIZE), 4000)}
    entries.update({0: Status.REVOKED, 1: Status.SUSPENDED, 2: Status.SUPERSEDED, 3: Status.VALID, MIN_SIZE - 1: Status.SUPERSEDED})
    token = build_status_list(city.registry.agencies[agency].status_url, MIN_SIZE, entries.items(), city.signers[agency], NOW, NOW + DAY)
    ours = open_status_list(token, city.registry, agency, NOW)
    draft, package = readers(city, agency, token)
    assert {draft.status(i) for i in range(MIN_SIZE)} == {0, 1, 2, 3}
    assert_all_agree(ours, draft, package)
    assert [package.get(i) for i in range(4)] == [Status.REVOKED, Status.SUSPENDED, Status.SUPERSEDED, Status.VALID]
    assert (draft.claims["iat"], draft.claims["exp"], draft.claims["ttl"]) == (NOW, NOW + DAY, 60)


def test_both_readers_read_every_list_permit_status_publish_writes(city: City) -> None:
    records = [city.issue(number=f"TSL-{n}") for n in range(4)]
    city.change(records[0], "revoked")
    city.change(records[1], "suspended")
    ledger = city.home.ledger("hcm-syt")
    try:
        amended = issuing.amend(ledger, city.registry, city.signers["hcm-syt"], records[2].permit.id,
                                issuing.Amendment(holder_name="Công ty TNHH Bình Minh Xanh"), "test.officer", NOW)
    finally:
        ledger.close()
    city.publish_all()
    for agency, published in city.lists.items():
        draft, package = readers(city, agency, published.token)
        assert_all_agree(published, draft, package)
    health = city.lists["hcm-syt"]
    expected = [Status.REVOKED, Status.SUSPENDED, Status.SUPERSEDED, Status.VALID]
    assert [health.status(r.permit.status_index) for r in records] == expected
    assert health.status(amended.permit.status_index) == Status.VALID


@pytest.mark.parametrize("agency", ["hcm-syt", "hcm-sct", "hcm-sxd"])
def test_the_draft_reader_reads_the_committed_vectors(agency: str) -> None:
    from keys.trust import Root, open_bundle

    permits = json.loads((VECTORS / "permits.json").read_text())
    registry = open_bundle((VECTORS / "registry.json").read_bytes(), Root.from_dict(json.loads((VECTORS / "anchor.json").read_text())),
                           permits[0]["now"]).registry
    token = (VECTORS / f"status-{agency}.jwt").read_text().strip()
    ours = open_status_list(token, registry, agency, permits[0]["now"])
    kid = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "==="))["kid"]
    key = registry.key(kid)
    assert key is not None
    assert_all_agree(ours, DraftReader.read(token, key.public_key.key, key.alg, registry.agencies[agency].status_url), read_with_the_package(token))


def test_a_list_written_by_the_package_is_read_by_our_verifier(city: City) -> None:
    # The other direction: the package builds and lays out the list, our agency key signs it.
    signer = city.signers["hcm-syt"]
    issuer = token_status_list.IssuerStatusList.new(2, MIN_SIZE, "linear")
    for index, value in [(0, 1), (5, 2), (6, 3), (MIN_SIZE - 1, 1)]:
        issuer[index] = value
    signing_input = issuer.sign_jwt_payload(alg=signer.alg, kid=signer.kid, iss="hcm-syt",
                                            sub=city.registry.agencies["hcm-syt"].status_url, iat=NOW, exp=NOW + DAY, ttl=300)
    # Its own sign_jwt/signed_jwt_token writes the signature as the repr of a bytes object
    # ("b'...'") in this version, so the signature segment is appended here.
    token = f"{signing_input.decode()}.{b64url_encode(signer.sign(signing_input))}"
    ours = open_status_list(token, city.registry, "hcm-syt", NOW)
    assert (ours.size, ours.ttl, ours.issued_at) == (MIN_SIZE, 300, NOW)
    assert [ours.status(i) for i in (0, 1, 5, 6, MIN_SIZE - 1)] == [1, 0, 2, 3, 1]
    assert all(ours.status(i) == issuer[i] for i in range(MIN_SIZE))
