"""docs/token-profile.md, the specification other implementers follow: its examples are the
committed vectors, and its rules are the code's (patterns, limits, the dictionary, reasons)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

from keys.encoding import b64url_decode, dumps_canonical
from keys.reasons import VERDICT_REASONS
from keys.text import IDENTIFIER
from permits import model
from permits.dictionary import DICTIONARY_V1, DICTIONARY_V2
from permits.token import MAX_CLAIMS_BYTES, MAX_TOKEN_LENGTH, inflate_claims

ROOT = Path(__file__).parent.parent
PROFILE = (ROOT / "docs" / "token-profile.md").read_text()
VECTORS = {vector["name"]: vector for vector in json.loads((ROOT / "tests" / "vectors" / "permits.json").read_text())}


def example(label: str) -> str:
    """The code block after `<!-- example: LABEL -->`."""
    found = re.search(rf"<!-- example: {re.escape(label)} -->\n```\w*\n(.*?)\n```", PROFILE, re.S)
    assert found, f"no example {label!r} in docs/token-profile.md"
    return found.group(1)


def test_the_header_and_claims_examples_are_the_vector_valid_eddsa() -> None:
    header, payload, _ = VECTORS["valid-eddsa"]["token"].split(".")
    assert example("header valid-eddsa") == b64url_decode(header).decode()
    assert example("claims valid-eddsa") == dumps_canonical(inflate_claims(b64url_decode(payload))).decode()


def test_the_dictionary_is_the_one_the_profile_names_byte_for_byte() -> None:
    # The dictionary is part of the wire format: changing a byte makes every token unreadable.
    assert example("dictionary") == "\n".join(
        f"{name} dictionary: {len(data)} bytes, SHA-256 {hashlib.sha256(data).hexdigest()}"
        for name, data in (("DEFv1", DICTIONARY_V1), ("DEFv2", DICTIONARY_V2)))
    assert DICTIONARY_V2.startswith(DICTIONARY_V1)


def test_the_patterns_and_limits_are_the_code_s() -> None:
    for pattern in (IDENTIFIER.pattern, model.HOLDER_ID.pattern, model._PERMIT_ID.pattern):
        assert f"`{pattern}`" in PROFILE, pattern
    for figure in (f"{MAX_TOKEN_LENGTH:,}", f"{MAX_CLAIMS_BYTES:,}", f"≤ {model.NAME_MAX}", f"≤ {model.ADDRESS_MAX}",
                   f"≤ {model.NUMBER_MAX}", f"1–{model.ACTIVITIES_MAX}", f"{model.MAX_VERSION:,}"):
        assert figure in PROFILE, figure


def test_the_verification_steps_name_every_reason_a_token_can_get() -> None:
    steps = PROFILE.split("## 6. Verification, in order", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`([a-z_]+)`", steps))
    # The registry's own problems come from the verifier's state, not from the token.
    from_tokens = {str(r) for r in VERDICT_REASONS} - {"registry_invalid", "registry_rollback", "registry_unavailable"}
    assert from_tokens <= named, sorted(from_tokens - named)
