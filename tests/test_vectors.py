"""The committed test vectors: reproduced exactly by their generator, and verified as labelled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keys.encoding import b64url_decode
from keys.trust import Root, open_bundle
from permits.qr import token_from_input
from permits.status_list import open_status_list
from verifier.pipeline import verify

VECTORS = Path(__file__).parent / "vectors"


def _generator():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("vector_generator", VECTORS / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generator_reproduces_the_committed_vectors_byte_for_byte() -> None:
    generated = _generator().build()
    committed = {path.name: path.read_bytes() for path in VECTORS.iterdir() if path.suffix in (".json", ".jwt")}
    assert generated.keys() == committed.keys()
    for name, data in generated.items():
        assert data == committed[name], f"{name} differs: run python tests/vectors/generate.py and review the diff"


PERMITS = json.loads((VECTORS / "permits.json").read_text())


@pytest.fixture(scope="module")
def trusted():  # type: ignore[no-untyped-def]
    anchor = Root.from_dict(json.loads((VECTORS / "anchor.json").read_text()))
    now = PERMITS[0]["now"]
    registry = open_bundle((VECTORS / "registry.json").read_bytes(), anchor, now).registry
    lists = {
        agency: open_status_list((VECTORS / f"status-{agency}.jwt").read_text().strip(), registry, agency, now)
        for agency in ("hcm-syt", "hcm-sct", "hcm-sxd", "hcm-skhdt")
    }
    return registry, lists


@pytest.mark.parametrize("vector", PERMITS, ids=[v["name"] for v in PERMITS])
def test_vector_verifies_as_labelled(vector: dict, trusted) -> None:  # type: ignore[no-untyped-def,type-arg]
    registry, lists = trusted
    verdict = verify(vector["token"], registry, lists, vector["now"])
    assert list(verdict.reasons) == vector["expected"]["reasons"]
    assert verdict.valid is vector["expected"]["valid"]
    assert [basis.state for basis in verdict.basis] == vector["expected"].get("basis", [])
    if vector["url"]:
        assert token_from_input(vector["url"]) == vector["token"]


def test_vectors_cover_every_kind_of_outcome() -> None:
    reasons = {reason for vector in PERMITS for reason in vector["expected"]["reasons"]}
    assert {"revoked", "suspended", "superseded", "expired", "not_yet_valid", "bad_signature", "unknown_key",
            "issuer_key_mismatch", "not_authorised_for_type", "key_compromised", "unsupported_header", "wrong_type",
            "algorithm_mismatch", "malformed_token", "basis_revoked", "basis_suspended", "basis_invalid",
            "basis_status_unavailable"} <= reasons
    assert sum(vector["expected"]["valid"] for vector in PERMITS) == 7
    # Today's type, and the type of permits signed before December 2026 (still in force on paper).
    assert {json.loads(b64url_decode(v["token"].split(".")[0]))["typ"] for v in PERMITS if v["expected"]["valid"]} == {"permit+jws", "permit+jwt"}
    # Permits with bases are compressed with dictionary version 2, all others with version 1.
    zips = {v["name"]: json.loads(b64url_decode(v["token"].split(".")[0])).get("zip") for v in PERMITS if v["expected"]["valid"]}
    assert zips == {name: "DEFv2" if "-on-" in name else "DEFv1" for name in zips}
