"""Interoperability: our tokens are standard JWS that an independent implementation verifies."""

from __future__ import annotations

import json

import jwt
import pytest
from conftest import City

from keys.encoding import b64url_decode
from keys.jws import TYP_PERMIT
from permits.token import inflate_claims


@pytest.mark.parametrize(("agency", "type_code", "alg"), [("hcm-syt", "food-safety", "EdDSA"), ("hcm-sct", "alcohol-retail", "ES256")])
def test_pyjwt_verifies_our_permit_signatures(city: City, agency: str, type_code: str, alg: str) -> None:
    record = city.issue(agency, type_code)
    key = city.registry.key(city.signers[agency].kid).public_key.key  # type: ignore[union-attr]
    decoded = jwt.PyJWS().decode_complete(record.token, key, algorithms=[alg])
    assert decoded["header"] == {"alg": alg, "kid": city.signers[agency].kid, "typ": TYP_PERMIT, "zip": "DEFv1"}
    assert decoded["payload"] == b64url_decode(record.token.split(".")[1])
    assert inflate_claims(decoded["payload"]) == record.permit.to_claims()


def test_pyjwt_verifies_our_status_lists(city: City) -> None:
    status_list = city.publish_status("hcm-syt")
    key = city.registry.key(city.signers["hcm-syt"].kid).public_key.key  # type: ignore[union-attr]
    decoded = jwt.PyJWS().decode_complete(status_list.token, key, algorithms=["EdDSA"])
    assert decoded["header"] == {"alg": "EdDSA", "kid": city.signers["hcm-syt"].kid, "typ": "statuslist+jwt"}
    assert json.loads(decoded["payload"])["sub"] == city.registry.agencies["hcm-syt"].status_url
