"""Generate the committed test vectors in this directory from fixed test keys.

    python tests/vectors/generate.py          # rewrite the files
    (tests/test_vectors.py checks that this reproduces them byte for byte)

Everything is deterministic: keys come from fixed seeds, Ed25519 signatures are deterministic,
ES256 uses RFC 6979 nonces, JSON is canonical and the clock is fixed. The files are public test
data for anyone writing a verifier: a trust anchor, a registry bundle, three status lists (Token
Status List JWTs; one more in the format before, for the transition) and a
set of permit tokens, each with the verdict a verifier must reach at the given time.

THE KEYS HERE ARE PUBLIC TEST KEYS. Nothing signed by them is a permit.
"""

from __future__ import annotations

import bz2
import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from keys.encoding import b64url_decode, b64url_encode, dumps_canonical
from keys.jws import TYP_STATUS_LIST, sign_compact
from keys.registry import Agency, Names, PermitType, Registry
from keys.signer import KeySigner
from keys.trust import Root, make_bundle, sign_registry, sign_root
from permits.model import BasisRef, Permit
from permits.qr import permit_url
from permits.status_list import MIN_SIZE, build_status_list
from permits.token import sign_permit

HERE = Path(__file__).parent
NOW = 1_795_312_800  # 2026-11-22T02:00:00Z, 09:00 in Ho Chi Minh City
DAY = 86_400
BASE_URL = "https://verify.example.vn"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def _seed(label: str) -> bytes:
    return hashlib.sha256(f"hcm-permits public test key: {label}".encode()).digest()


def ed25519_signer(label: str) -> KeySigner:
    return KeySigner(ed25519.Ed25519PrivateKey.from_private_bytes(_seed(label)))


def p256_signer(label: str) -> KeySigner:
    scalar = int.from_bytes(_seed(label), "big") % (_P256_ORDER - 1) + 1
    return KeySigner(ec.derive_private_key(scalar, ec.SECP256R1()))


def _tamper(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(b64url_decode(payload))
    raw[-1] ^= 0x01
    return f"{header}.{b64url_encode(bytes(raw))}.{signature}"


def _raw_token(header: dict[str, Any], payload_from: str, signer: KeySigner) -> str:
    header_b64 = b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    signing_input = f"{header_b64}.{payload_from.split('.')[1]}"
    return f"{signing_input}.{b64url_encode(signer.sign(signing_input.encode()))}"


def _legacy_status_list(agency: str, entries: list[tuple[int, int]], signer: KeySigner, issued_at: int, expires_at: int) -> str:
    """A list as the project wrote them before it followed the Token Status List: the claims in
    the protected header, the payload the bzip2 of the array (laid out as today). Verifiers read
    it until permits.status_list.LEGACY_ACCEPTED_UNTIL; nothing writes it any more."""
    bits = bytearray(MIN_SIZE // 4)
    for index, status in entries:
        bits[index >> 2] |= status << ((index & 3) * 2)
    header = {"iss": agency, "iat": issued_at, "exp": expires_at, "size": MIN_SIZE}
    return sign_compact(bz2.compress(bytes(bits), 9), signer, TYP_STATUS_LIST, header)


def build() -> dict[str, bytes]:
    """Every vector file, name → exact bytes."""
    roots = [ed25519_signer(f"root {i}") for i in (1, 2, 3)]
    health = ed25519_signer("hcm-syt key 1")
    trade = p256_signer("hcm-sct key 1")
    planning = ed25519_signer("hcm-skhdt key 1")
    construction_old = ed25519_signer("hcm-sxd key 1 (compromised)")
    construction = ed25519_signer("hcm-sxd key 2")
    stranger = ed25519_signer("not registered anywhere")

    root = Root(registry="hcm", version=1, threshold=2, keys={s.kid: s.public_key() for s in roots})
    keys_from = NOW - 400 * DAY
    registry = Registry(id="hcm", name="Thành phố Hồ Chí Minh", version=3, issued_at=NOW - DAY, expires_at=NOW + 29 * DAY, types={}, agencies={})
    for code, vi, en, days in [
        ("business-registration", "Giấy chứng nhận đăng ký doanh nghiệp", "Business registration certificate", 3653),
        ("food-safety", "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", "Food safety certificate", 1096),
        ("alcohol-retail", "Giấy phép bán lẻ rượu", "Alcohol retail licence", 1827),
        ("construction", "Giấy phép xây dựng", "Construction permit", 1096),
    ]:
        registry = registry.with_type(PermitType(code, Names(vi, en), days))
    # Once only: a food-safety certificate rests on a business registration; an alcohol licence on both.
    registry = registry.with_requirements("food-safety", ("business-registration",))
    registry = registry.with_requirements("alcohol-retail", ("business-registration", "food-safety"))
    for agency_id, vi, en, types, signers in [
        ("hcm-skhdt", "Sở Kế hoạch và Đầu tư", "Department of Planning and Investment", ("business-registration",), [planning]),
        ("hcm-syt", "Sở Y tế", "Department of Health", ("food-safety",), [health]),
        ("hcm-sct", "Sở Công Thương", "Department of Industry and Trade", ("alcohol-retail", "food-safety"), [trade]),
        ("hcm-sxd", "Sở Xây dựng", "Department of Construction", ("construction",), [construction_old, construction]),
    ]:
        status_url = f"{BASE_URL}/api/v1/status/{agency_id}"
        registry = registry.with_agency(Agency(agency_id, Names(vi, en), types, status_url))
        for signer in signers:
            registry = registry.with_key(agency_id, signer.public_key(), keys_from)
    registry = registry.with_retired_key("hcm-sxd", construction_old.kid, "compromised", NOW - 10 * DAY)
    bundle = make_bundle([sign_root(root, roots)], sign_registry(registry, roots[:2]))

    def permit(agency: str, ptype: str, pid: str, index: int, **changes: Any) -> Permit:
        base = Permit(
            agency=agency, id=pid, number=f"{index}/2026/{agency.upper()}", type=ptype, holder_id="0312345678",
            holder_name="Công ty TNHH Thực phẩm Sạch Bình Minh",
            holder_address="128 Nguyễn Thị Minh Khai, Phường Xuân Hòa, TP. Hồ Chí Minh",
            activities=("Sản xuất, chế biến thực phẩm",), conditions=(),
            issued_at=NOW - 30 * DAY, valid_from=NOW - 30 * DAY, valid_until=NOW + 700 * DAY, status_index=index,
        )
        return replace(base, **changes)

    good = sign_permit(permit("hcm-syt", "food-safety", "VEC00001", 101), health)

    def ref(agency: str, ptype: str, pid: str, index: int) -> BasisRef:
        return BasisRef(agency, pid, index, ptype)

    registration = ref("hcm-skhdt", "business-registration", "VEC00020", 201)  # in force
    registration_revoked = ref("hcm-skhdt", "business-registration", "VEC00021", 202)
    registration_amended = ref("hcm-skhdt", "business-registration", "VEC00022", 203)  # version 1, amended since
    food_safety = ref("hcm-syt", "food-safety", "VEC00001", 101)
    food_safety_suspended = ref("hcm-syt", "food-safety", "VEC00004", 104)
    alg_none = b64url_encode(b'{"alg":"none","typ":"permit+jws"}')
    cases: list[tuple[str, str, str, tuple[str, ...]]] = [
        ("valid-eddsa", "a genuine food safety certificate in force", good, ()),
        ("valid-es256", "a genuine alcohol retail licence signed with ES256",
         sign_permit(permit("hcm-sct", "alcohol-retail", "VEC00002", 102), trade), ()),
        ("revoked", "revoked by its issuer (status 1)", sign_permit(permit("hcm-syt", "food-safety", "VEC00003", 103), health), ("revoked",)),
        ("suspended", "suspended by its issuer (status 2)", sign_permit(permit("hcm-syt", "food-safety", "VEC00004", 104), health), ("suspended",)),
        ("superseded", "version 1 replaced by an amendment (status 3)",
         sign_permit(permit("hcm-syt", "food-safety", "VEC00005", 105), health), ("superseded",)),
        ("expired", "validity ended ten days ago",
         sign_permit(permit("hcm-syt", "food-safety", "VEC00006", 106, issued_at=NOW - 400 * DAY, valid_from=NOW - 400 * DAY, valid_until=NOW - 10 * DAY), health), ("expired",)),
        ("not-yet-valid", "validity starts in thirty days",
         sign_permit(permit("hcm-syt", "food-safety", "VEC00007", 107, valid_from=NOW + 30 * DAY), health), ("not_yet_valid",)),
        ("valid-signed-before-2026-12", "a genuine permit signed before December 2026, when permits said typ permit+jwt: still read",
         _raw_token({"alg": "EdDSA", "kid": health.kid, "typ": "permit+jwt", "zip": "DEFv1"}, good, health), ()),
        ("tampered", "one byte of the payload changed after signing", _tamper(good), ("bad_signature",)),
        ("unknown-key", "signed by a key no registry lists",
         sign_permit(permit("hcm-syt", "food-safety", "VEC00008", 108), stranger), ("unknown_key",)),
        ("issuer-key-mismatch", "claims to be from Health, signed with Planning's real key",
         sign_permit(permit("hcm-syt", "food-safety", "VEC00009", 109), planning), ("issuer_key_mismatch",)),
        ("not-authorised", "Health's real key signing a construction permit",
         sign_permit(permit("hcm-syt", "construction", "VEC00010", 110), health), ("not_authorised_for_type",)),
        ("key-compromised", "signed with a key the registry lists as compromised",
         sign_permit(permit("hcm-sxd", "construction", "VEC00011", 111), construction_old), ("key_compromised",)),
        ("valid-after-reissue", "the same permit re-issued under the agency's new key",
         sign_permit(permit("hcm-sxd", "construction", "VEC00011", 112, version=2), construction), ()),
        ("jku-header", "a header that points at an attacker's key set",
         _raw_token({"alg": "EdDSA", "jku": "https://evil.example/jwks.json", "kid": health.kid, "typ": "permit+jws", "zip": "DEFv1"}, good, health), ("unsupported_header",)),
        ("wrong-typ", "a permit payload under a status-list typ",
         _raw_token({"alg": "EdDSA", "kid": health.kid, "typ": "statuslist+jwt", "zip": "DEFv1"}, good, health), ("wrong_type",)),
        ("alg-mismatch", "an EdDSA key's token claiming ES256",
         _raw_token({"alg": "ES256", "kid": health.kid, "typ": "permit+jws", "zip": "DEFv1"}, good, health), ("algorithm_mismatch",)),
        ("alg-none", "the classic alg none", f"{alg_none}.{good.split('.')[1]}.AA", ("unsupported_header",)),
        ("padded", "base64 padding added to the signature", good + "==", ("malformed_token",)),
        ("valid-on-basis", "a food safety certificate resting on a business registration in force",
         sign_permit(permit("hcm-syt", "food-safety", "VEC00012", 113, basis=(registration,)), health), ()),
        ("valid-on-two-bases", "an alcohol licence (ES256) resting on a business registration and a food safety certificate",
         sign_permit(permit("hcm-sct", "alcohol-retail", "VEC00013", 114, basis=(registration, food_safety)), trade), ()),
        ("valid-on-amended-basis", "resting on version 1 of a business registration amended since (status 3): in force",
         sign_permit(permit("hcm-syt", "food-safety", "VEC00014", 115, basis=(registration_amended,)), health), ()),
        ("basis-revoked", "resting on a business registration its issuer revoked",
         sign_permit(permit("hcm-syt", "food-safety", "VEC00015", 116, basis=(registration_revoked,)), health), ("basis_revoked",)),
        ("basis-suspended", "an alcohol licence resting on a suspended food safety certificate",
         sign_permit(permit("hcm-sct", "alcohol-retail", "VEC00016", 117, basis=(registration, food_safety_suspended)), trade),
         ("basis_suspended",)),
        ("basis-not-authorised", "a reference naming a type its agency may not issue",
         sign_permit(permit("hcm-syt", "food-safety", "VEC00017", 118, basis=(ref("hcm-skhdt", "construction", "VEC00023", 204),)), health),
         ("basis_invalid",)),
        ("basis-status-unavailable", "a reference to an index outside its agency's list",
         sign_permit(permit("hcm-syt", "food-safety", "VEC00018", 119, basis=(ref("hcm-skhdt", "business-registration", "VEC00024", 2 * MIN_SIZE),)), health),
         ("basis_status_unavailable",)),
    ]
    statuses = {"hcm-syt": [(103, 1), (104, 2), (105, 3)], "hcm-sct": [], "hcm-sxd": [(111, 3)], "hcm-skhdt": [(202, 1), (203, 3)]}
    lists = {
        agency: build_status_list(registry.agencies[agency].status_url, MIN_SIZE, entries, signer, NOW - 3600, NOW + 2 * DAY)
        for agency, entries, signer in [
            ("hcm-syt", statuses["hcm-syt"], health),
            ("hcm-sct", statuses["hcm-sct"], trade),
            ("hcm-sxd", statuses["hcm-sxd"], construction),
            ("hcm-skhdt", statuses["hcm-skhdt"], planning),
        ]
    }
    # What a verifier MUST say of each basis, in the order the token lists them.
    basis_states = {
        "valid-on-basis": ["valid"], "valid-on-two-bases": ["valid", "valid"], "valid-on-amended-basis": ["amended"],
        "basis-revoked": ["revoked"], "basis-suspended": ["valid", "suspended"], "basis-not-authorised": ["invalid"],
        "basis-status-unavailable": ["status_unknown"],
    }
    permits = [
        {"name": name, "description": description, "token": token, "url": permit_url(BASE_URL, token) if name.startswith("valid") else None,
         "now": NOW, "expected": {"valid": not reasons, "reasons": list(reasons)} | ({"basis": basis_states[name]} if name in basis_states else {})}
        for name, description, token, reasons in cases
    ]
    files = {
        "anchor.json": dumps_canonical(root.to_dict()) + b"\n",
        "registry.json": bundle,
        "permits.json": json.dumps(permits, indent=2, ensure_ascii=False).encode() + b"\n",
    }
    for agency, token in lists.items():
        files[f"status-{agency}.jwt"] = token.encode() + b"\n"
    # Health's list once more in the format before the Token Status List, for the transition.
    files["legacy-status-hcm-syt.jwt"] = _legacy_status_list("hcm-syt", statuses["hcm-syt"], health, NOW - 3600, NOW + 2 * DAY).encode() + b"\n"
    return files


def main() -> None:
    for name, data in build().items():
        (HERE / name).write_bytes(data)
        print(f"wrote {HERE / name} ({len(data)} bytes)")


if __name__ == "__main__":
    main()
