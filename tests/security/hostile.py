"""Shared material for the attack tests in tests/security/test_rule*.py and
test_misbehaving_agency.py: the exact-verdict assertions and the builders of hostile tokens,
status lists and registries, all signed with real keys from the `city` fixture."""

from __future__ import annotations

import json
import shutil
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from conftest import DAY, NOW, City, passphrase
from forge import compress, permit_header, sign_raw

from keys.encoding import b64url_decode, b64url_encode, dumps_canonical
from keys.errors import DocumentError, RegistryError
from keys.jws import TYP_REGISTRY, sign_general
from keys.signer import Signer
from keys.trust import TrustedRegistry, make_bundle, open_bundle
from permits import operator
from permits.home import Home
from permits.model import Permit
from permits.status_list import MIN_SIZE, StatusList, open_status_list
from permits.token import sign_permit
from verifier.verdict import Verdict

# --- cities ----------------------------------------------------------------------------------


def copy_city(template: Path, where: Path) -> City:
    """A City over a copy of the session's template home, as conftest's `city` builds it. Test
    modules whose tests only forge and verify share one per module (a module-scoped `city`)."""
    path = where / "hcm"
    shutil.copytree(template, path)
    home = Home(path)
    trusted = home.trusted_registry(NOW)
    signers = {agency: home.agency_signer(trusted.registry, agency, passphrase, NOW) for agency in trusted.registry.agencies}
    return City(home, trusted, signers)


# --- verdicts ----------------------------------------------------------------------------------


def assert_refused(verdict: Verdict, reason: str, status: str = "invalid") -> None:
    """Exactly one reason, the expected status, and nothing the token says is shown."""
    assert (verdict.status, verdict.reasons) == (status, (reason,))
    assert verdict.permit is None and verdict.issuer is None and verdict.permit_type is None
    body = verdict.to_dict()
    assert "permit" not in body and "issuer" not in body
    assert body["valid"] is False


def assert_valid(verdict: Verdict) -> None:
    assert (verdict.status, verdict.reasons, verdict.valid) == ("valid", (), True)
    assert verdict.permit is not None


# --- permit tokens -----------------------------------------------------------------------------


def genuine(city: City, agency: str = "hcm-syt", type: str = "food-safety", **overrides: Any) -> Permit:
    """A permit really issued (and in the ledger), with its agency's status list published.
    Issued once per city and request: tests only ever sign altered copies of it."""
    issued: dict[tuple[Any, ...], Permit] = city.__dict__.setdefault("_genuine_permits", {})
    key = (agency, type, tuple(sorted(overrides.items())))
    if key not in issued:
        issued[key] = city.issue(agency, type, **overrides).permit
        city.publish_status(agency)
    return issued[key]


def resign(city: City, permit: Permit, by: str | None = None, **changes: Any) -> str:
    """The permit with `changes`, signed the project's way by agency `by` (default: its own)."""
    return sign_permit(replace(permit, **changes), city.signers[by or permit.agency])


def claims_token(city: City, claims: bytes, by: str = "hcm-syt", **header: Any) -> str:
    """Raw claim bytes, DEFLATE-compressed with the project's dictionary, under a permit header,
    signed by the genuine key of agency `by`: only the claims can make it fail."""
    signer = city.signers[by]
    return sign_raw(permit_header(signer, **header), compress(claims), signer)


def payload_token(city: City, payload: bytes, by: str = "hcm-syt", **header: Any) -> str:
    """Exactly these payload bytes (no compression) under a permit header, genuinely signed."""
    signer = city.signers[by]
    return sign_raw(permit_header(signer, **header), payload, signer)


def header_token(city: City, header: dict[str, Any] | bytes, permit: Permit, signer: Signer | None = None) -> str:
    """The permit's genuine compressed claims under exactly `header`, signed by `signer`
    (default: the permit's agency key)."""
    signer = signer or city.signers[permit.agency]
    return sign_raw(header, compress(dumps_canonical(permit.to_claims())), signer)


def claims_json(permit: Permit, **changes: Any) -> bytes:
    """Canonical claim bytes with top-level or `permit_*` members replaced."""
    claims = permit.to_claims()
    for name, value in changes.items():
        if name.startswith("permit_"):
            claims["permit"][name[len("permit_"):]] = value
        else:
            claims[name] = value
    return json.dumps(claims, ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode()


# --- status lists ------------------------------------------------------------------------------


def status_header(signer: Signer, **changes: Any) -> dict[str, Any]:
    """A status list's protected header, as the draft gives it: exactly alg, kid and typ."""
    header: dict[str, Any] = {"alg": signer.alg, "kid": signer.kid, "typ": "statuslist+jwt"}
    header.update(changes)
    return {name: value for name, value in header.items() if value is not None}


def list_claims(city: City, agency: str, size: int = MIN_SIZE, **changes: Any) -> dict[str, Any]:
    """The claims of an empty list of `agency` at its registered place; `changes` replace
    members (None removes one)."""
    claims: dict[str, Any] = {"sub": city.registry.agencies[agency].status_url, "iat": NOW, "exp": NOW + DAY, "ttl": 60,
                              "status_list": {"bits": 2, "lst": b64url_encode(zlib.compress(bytes(size // 4), 9))}}
    claims.update(changes)
    return {name: value for name, value in claims.items() if value is not None}


def list_payload(city: City, agency: str, **changes: Any) -> bytes:
    """`list_claims` as the JSON payload of a list."""
    return json.dumps(list_claims(city, agency, **changes), separators=(",", ":")).encode()


def list_token(city: City, agency: str, signer: Signer | None = None, header: dict[str, Any] | None = None, **changes: Any) -> str:
    """A list of `agency` with claims `changes`, signed by `signer` (default: the agency's key)
    under `header` (default: the signer's own)."""
    signer = signer or city.signers[agency]
    return sign_raw(header or status_header(signer), list_payload(city, agency, **changes), signer)


def status_refused(city: City, token: str, agency: str, reason: str) -> None:
    with pytest.raises(DocumentError) as refused:
        open_status_list(token, city.registry, agency, NOW)
    assert refused.value.reason == reason


def open_list(city: City, token: str, agency: str) -> StatusList:
    return open_status_list(token, city.registry, agency, NOW)


# --- registries --------------------------------------------------------------------------------


def root_signers(city: City) -> list[Signer]:
    """The city's genuine root keys, as many as the threshold: whatever they sign is signed."""
    root = operator.current_root(city.home)
    return list(operator.root_signers(city.home, passphrase, root))[: root.threshold]


def registry_content(city: City) -> dict[str, Any]:
    """The published registry document, as JSON (a fresh copy every call)."""
    bundle = json.loads(city.home.file("registry.json").read_bytes())
    content: dict[str, Any] = json.loads(b64url_decode(bundle["registry"]["payload"]))
    return content


def root_signed_bundle(city: City, payload: bytes, typ: str = TYP_REGISTRY) -> bytes:
    """A bundle whose registry payload is exactly `payload`, genuinely signed by the root
    threshold: only its content can make it fail."""
    return make_bundle(city.home.root_chain(), sign_general(payload, root_signers(city), typ))


def edited_registry(city: City, edit: Callable[[dict[str, Any]], None]) -> bytes:
    content = registry_content(city)
    edit(content)
    return root_signed_bundle(city, dumps_canonical(content))


def open_registry(city: City, raw: bytes) -> TrustedRegistry:
    return open_bundle(raw, city.home.anchor(), NOW)


def registry_refused(city: City, raw: bytes, reason: str = "registry_invalid", because: str = "") -> None:
    """open_bundle refuses `raw` with `reason`; `because` is a fragment of the one-line message
    that names the rule, so a registry refused for some other defect does not pass the test."""
    with pytest.raises(RegistryError) as refused:
        open_registry(city, raw)
    assert refused.value.reason == reason
    assert because in str(refused.value), str(refused.value)


def agency_key(content: dict[str, Any], agency: str) -> tuple[str, dict[str, Any]]:
    """(kid, key entry) of the agency's only key in a registry document."""
    ((kid, entry),) = content["agencies"][agency]["keys"].items()
    return kid, entry
