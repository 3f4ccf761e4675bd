"""keys/algorithms.py: the two allowed algorithms, public JWK checks, kids and signatures."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from keys.algorithms import (
    KID_LENGTH,
    Alg,
    KeyRejected,
    PublicKey,
    alg_of,
    generate_private_key,
    jwk_thumbprint,
    load_public_jwk,
    public_key_of,
    sign_raw,
    verify_signature,
)
from keys.encoding import b64url_decode, b64url_encode
from keys.errors import InputError

MESSAGE = "Giấy phép bán lẻ rượu số 0312345678".encode()

# P-256 (FIPS 186-4 D.1.2.3)
P256_P = 2**256 - 2**224 + 2**192 + 2**96 - 1
P256_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
# Two curve points with one small coordinate, so that coordinate + p still fits in 32 bytes.
P256_POINT_X0 = (0, 0x66485C780E2F83D72433BD5D84A06BB6541C2AF31DAE871728BF856A174F93F4)
P256_POINT_Y1 = (0x6916FAC45E568B6B9E2E2ECD611B282E5FCC40A3067D601057F879CE5A8A73CC, 1)

ED25519_P = 2**255 - 19


def _on_p256(x: int, y: int) -> bool:
    return (y * y - (x**3 - 3 * x + P256_B)) % P256_P == 0


def _ec_jwk(x: int, y: int, **extra: str) -> dict[str, str]:
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(x.to_bytes(32, "big")),
        "y": b64url_encode(y.to_bytes(32, "big")),
        **extra,
    }


def _ed_jwk(raw: bytes, **extra: str) -> dict[str, str]:
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url_encode(raw), **extra}


@pytest.fixture(params=["EdDSA", "ES256"])
def alg(request: pytest.FixtureRequest) -> Alg:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def public(alg: Alg) -> PublicKey:
    return public_key_of(generate_private_key(alg))


@pytest.fixture
def ed_jwk() -> dict[str, str]:
    return dict(public_key_of(generate_private_key("EdDSA")).jwk)


@pytest.fixture
def ec_jwk() -> dict[str, str]:
    return dict(public_key_of(generate_private_key("ES256")).jwk)


# --- accepted keys ---------------------------------------------------------------------------


def test_generated_keys_load_back_as_the_same_key(public: PublicKey, alg: Alg) -> None:
    loaded = load_public_jwk(dict(public.jwk), alg)
    assert loaded == public
    assert (loaded.alg, loaded.kid) == (alg, public.kid)


def test_handover_jwk_with_advisory_members_loads_and_keeps_only_the_key(public: PublicKey, alg: Alg) -> None:
    handed = public.handover_jwk()
    assert handed == {**public.jwk, "alg": alg, "use": "sig", "kid": public.kid}
    loaded = load_public_jwk(handed, alg)
    assert loaded.jwk == public.jwk
    assert loaded.kid == public.kid


def test_jwk_members_are_exactly_the_rfc_ones(alg: Alg) -> None:
    public = public_key_of(generate_private_key(alg))
    expected = {"kty", "crv", "x"} if alg == "EdDSA" else {"kty", "crv", "x", "y"}
    assert public.jwk.keys() == expected


def test_p256_point_with_a_zero_coordinate_is_a_valid_key() -> None:
    assert _on_p256(*P256_POINT_X0)
    assert load_public_jwk(_ec_jwk(*P256_POINT_X0), "ES256").alg == "ES256"


# --- refused keys: form ----------------------------------------------------------------------


@pytest.mark.parametrize("bad_alg", ["RS256", "HS256", "none", "ES384", "EdDSA ", "eddsa", "Ed25519", ""])
def test_algorithms_outside_the_two_allowed_are_refused(ed_jwk: dict[str, str], bad_alg: str) -> None:
    with pytest.raises(KeyRejected, match="is not allowed"):
        load_public_jwk(ed_jwk, bad_alg)


@pytest.mark.parametrize("jwk", [None, [], "jwk", 1, {"kty": "OKP", "crv": "Ed25519", "x": 1}, {"kty": ["OKP"]}])
def test_anything_but_an_object_of_strings_is_refused(jwk: object) -> None:
    with pytest.raises(KeyRejected, match="object of strings"):
        load_public_jwk(jwk, "EdDSA")


@pytest.mark.parametrize("member", ["d", "p", "q", "dp", "dq", "qi", "oth", "k"])
def test_private_or_symmetric_key_material_is_refused(alg: Alg, member: str) -> None:
    private = generate_private_key(alg)
    jwk = {**public_key_of(private).jwk, member: b64url_encode(b"\x01" * 32)}
    with pytest.raises(KeyRejected, match="private or symmetric"):
        load_public_jwk(jwk, alg)


def test_a_private_jwk_with_its_real_d_is_refused() -> None:
    private = ed25519.Ed25519PrivateKey.generate()
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

    d = private.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
    jwk = {**public_key_of(private).jwk, "d": b64url_encode(d)}
    with pytest.raises(KeyRejected, match="private or symmetric"):
        load_public_jwk(jwk, "EdDSA")


def test_a_symmetric_oct_key_is_refused(alg: Alg) -> None:
    with pytest.raises(KeyRejected, match="private or symmetric"):
        load_public_jwk({"kty": "oct", "k": b64url_encode(b"secret" * 6)}, alg)


@pytest.mark.parametrize(
    ("alg", "kty", "crv"),
    [
        ("EdDSA", "EC", "Ed25519"),
        ("EdDSA", "OKP", "X25519"),
        ("EdDSA", "OKP", "Ed448"),
        ("EdDSA", "OKP", "P-256"),
        ("EdDSA", "RSA", "Ed25519"),
        ("EdDSA", "okp", "Ed25519"),
        ("ES256", "OKP", "P-256"),
        ("ES256", "EC", "P-384"),
        ("ES256", "EC", "secp256k1"),
        ("ES256", "EC", "Ed25519"),
        ("ES256", "ec", "P-256"),
    ],
)
def test_key_type_or_curve_that_does_not_match_the_alg_is_refused(alg: Alg, kty: str, crv: str) -> None:
    jwk = dict(public_key_of(generate_private_key(alg)).jwk)
    jwk.update(kty=kty, crv=crv)
    with pytest.raises(KeyRejected, match="must be kty"):
        load_public_jwk(jwk, alg)


def test_a_p256_key_offered_as_eddsa_is_refused(ec_jwk: dict[str, str], ed_jwk: dict[str, str]) -> None:
    with pytest.raises(KeyRejected):
        load_public_jwk(ec_jwk, "EdDSA")
    with pytest.raises(KeyRejected):
        load_public_jwk(ed_jwk, "ES256")


@pytest.mark.parametrize("member_alg", ["ES256", "EdDSA", "RS256", "none", "HS256", ""])
def test_alg_member_that_disagrees_with_the_registry_is_refused(alg: Alg, member_alg: str) -> None:
    if member_alg == alg:
        member_alg = "ES256" if alg == "EdDSA" else "EdDSA"
    jwk = {**public_key_of(generate_private_key(alg)).jwk, "alg": member_alg}
    with pytest.raises(KeyRejected, match="the registry entry says"):
        load_public_jwk(jwk, alg)


@pytest.mark.parametrize("use", ["enc", "SIG", "", "sig "])
def test_use_other_than_sig_is_refused(alg: Alg, use: str) -> None:
    jwk = {**public_key_of(generate_private_key(alg)).jwk, "use": use}
    with pytest.raises(KeyRejected, match="not a signing key"):
        load_public_jwk(jwk, alg)


def test_key_ops_is_refused(ed_jwk: dict[str, str]) -> None:
    # key_ops is a list in RFC 7517; given as a string it still names an operation set.
    with pytest.raises(KeyRejected, match="key_ops"):
        load_public_jwk({**ed_jwk, "key_ops": "verify"}, "EdDSA")


def test_key_ops_as_a_list_is_refused(ed_jwk: dict[str, str]) -> None:
    with pytest.raises(KeyRejected):
        load_public_jwk({**ed_jwk, "key_ops": ["verify"]}, "EdDSA")  # type: ignore[dict-item]


@pytest.mark.parametrize("member", ["x5c", "x5u", "jku", "ext", "crit", "n", "e", "y2", "X"])
def test_unknown_members_are_refused(alg: Alg, member: str) -> None:
    jwk = {**public_key_of(generate_private_key(alg)).jwk, member: "AQAB"}
    with pytest.raises(KeyRejected, match="unexpected members"):
        load_public_jwk(jwk, alg)


def test_y_on_an_ed25519_key_is_an_unknown_member(ed_jwk: dict[str, str]) -> None:
    with pytest.raises(KeyRejected, match="unexpected members y"):
        load_public_jwk({**ed_jwk, "y": ed_jwk["x"]}, "EdDSA")


@pytest.mark.parametrize("member", ["kty", "crv", "x", "y"])
def test_missing_members_are_refused(ec_jwk: dict[str, str], member: str) -> None:
    del ec_jwk[member]
    with pytest.raises(KeyRejected, match=f"lacks {member}"):
        load_public_jwk(ec_jwk, "ES256")


def _non_canonical_spellings(text: str) -> list[str]:
    """Other spellings of the same 32 bytes: padded, with whitespace, with the standard
    alphabet, with non-zero unused bits."""
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    raw = b64url_decode(text)
    standard = b64url_encode(raw).replace("-", "+").replace("_", "/")
    spellings = [
        text + "=",
        " " + text,
        text + "\n",
        text[:20] + " " + text[20:],
        text[:-1] + last[last.index(text[-1]) + 1],  # low 2 unused bits no longer zero
    ]
    if standard != text:
        spellings.append(standard)
    return spellings


@pytest.mark.parametrize("coordinate", ["x", "y"])
def test_non_canonical_base64_coordinates_are_refused(coordinate: str) -> None:
    jwk = dict(public_key_of(generate_private_key("ES256")).jwk)
    for spelling in _non_canonical_spellings(jwk[coordinate]):
        with pytest.raises(KeyRejected, match="not canonical base64url"):
            load_public_jwk({**jwk, coordinate: spelling}, "ES256")


def test_non_canonical_base64_ed25519_x_is_refused(ed_jwk: dict[str, str]) -> None:
    for spelling in _non_canonical_spellings(ed_jwk["x"]):
        with pytest.raises(KeyRejected, match="not canonical base64url"):
            load_public_jwk({**ed_jwk, "x": spelling}, "EdDSA")


def test_standard_alphabet_spelling_of_x_is_refused() -> None:
    # A key whose encoding contains '-' or '_' has a second, standard-alphabet spelling.
    while True:
        jwk = dict(public_key_of(generate_private_key("EdDSA")).jwk)
        if "-" in jwk["x"] or "_" in jwk["x"]:
            break
    standard = jwk["x"].replace("-", "+").replace("_", "/")
    with pytest.raises(KeyRejected, match="not canonical base64url"):
        load_public_jwk({**jwk, "x": standard}, "EdDSA")


@pytest.mark.parametrize("length", [0, 1, 16, 31, 33, 64])
def test_ed25519_x_of_the_wrong_length_is_refused(ed_jwk: dict[str, str], length: int) -> None:
    raw = b64url_decode(ed_jwk["x"])
    wrong = (raw * 3)[:length]
    with pytest.raises(KeyRejected, match="must be 32 bytes"):
        load_public_jwk({**ed_jwk, "x": b64url_encode(wrong)}, "EdDSA")


@pytest.mark.parametrize("coordinate", ["x", "y"])
@pytest.mark.parametrize("change", ["drop-leading", "add-leading-zero", "drop-trailing"])
def test_p256_coordinates_of_31_or_33_bytes_are_refused(ec_jwk: dict[str, str], coordinate: str, change: str) -> None:
    raw = b64url_decode(ec_jwk[coordinate])
    wrong = {"drop-leading": raw[1:], "add-leading-zero": b"\x00" + raw, "drop-trailing": raw[:-1]}[change]
    with pytest.raises(KeyRejected, match="must be 32 bytes"):
        load_public_jwk({**ec_jwk, coordinate: b64url_encode(wrong)}, "ES256")


# --- refused keys: points --------------------------------------------------------------------


@pytest.mark.parametrize("bit", [0, 1, 77, 255])
def test_p256_point_off_the_curve_is_refused(ec_jwk: dict[str, str], bit: int) -> None:
    y = int.from_bytes(b64url_decode(ec_jwk["y"]), "big") ^ (1 << bit)
    x = int.from_bytes(b64url_decode(ec_jwk["x"]), "big")
    assert not _on_p256(x, y)
    with pytest.raises(KeyRejected, match="not a point on the curve"):
        load_public_jwk({**ec_jwk, "y": b64url_encode(y.to_bytes(32, "big"))}, "ES256")


@pytest.mark.parametrize(
    ("x", "y"),
    [
        pytest.param(P256_POINT_X0[0] + P256_P, P256_POINT_X0[1], id="x+p"),
        pytest.param(P256_POINT_Y1[0], P256_POINT_Y1[1] + P256_P, id="y+p"),
        pytest.param(P256_P, P256_POINT_X0[1], id="x=p"),
        pytest.param(2**256 - 1, P256_POINT_X0[1], id="x=2^256-1"),
        pytest.param(P256_POINT_X0[0], 2**256 - 1, id="y=2^256-1"),
    ],
)
def test_p256_coordinates_not_below_p_are_refused(x: int, y: int) -> None:
    # (x mod p, y mod p) is a curve point: accepting x + p would give one key a second JWK, and
    # so a second kid that slips past the registry's duplicate-key check.
    assert x >= P256_P or y >= P256_P
    with pytest.raises(KeyRejected):
        load_public_jwk(_ec_jwk(x, y), "ES256")


def test_p256_point_at_infinity_is_refused() -> None:
    with pytest.raises(KeyRejected):
        load_public_jwk(_ec_jwk(0, 0), "ES256")


# Every Ed25519 point whose order divides 8, in every encoding (RFC 8032 §5.1.3 decoding).
SMALL_ORDER = {
    "identity (order 1)": "0100000000000000000000000000000000000000000000000000000000000000",
    "order 2: y = p-1": "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "order 4: y = 0": "0000000000000000000000000000000000000000000000000000000000000000",
    "order 4: y = 0, sign": "0000000000000000000000000000000000000000000000000000000000000080",
    "order 8 (a)": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
    "order 8 (a), sign": "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
    "order 8 (b)": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
    "order 8 (b), sign": "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
    # non-canonical: x = 0 with the sign bit set
    "identity, sign bit": "0100000000000000000000000000000000000000000000000000000000000080",
    "order 2, sign bit": "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    # non-canonical: y >= p
    "y = p (order 4)": "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "y = p, sign": "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
    "y = p+1 (identity)": "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    "y = p+1, sign": "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
}


@pytest.mark.parametrize("encoded", SMALL_ORDER.values(), ids=SMALL_ORDER.keys())
def test_ed25519_small_order_points_are_refused(encoded: str) -> None:
    with pytest.raises(KeyRejected, match="not a valid, full-order curve point"):
        load_public_jwk(_ed_jwk(bytes.fromhex(encoded)), "EdDSA")


@pytest.mark.parametrize("y", range(ED25519_P, 2**255), ids=lambda y: f"p+{y - ED25519_P}")
@pytest.mark.parametrize("sign", [0, 1])
def test_ed25519_encodings_with_y_not_below_p_are_refused(y: int, sign: int) -> None:
    encoded = (y | sign << 255).to_bytes(32, "little")
    with pytest.raises(KeyRejected, match="not a valid, full-order curve point"):
        load_public_jwk(_ed_jwk(encoded), "EdDSA")


@pytest.mark.parametrize("y", [2, 7, 8])
def test_ed25519_point_not_on_the_curve_is_refused(y: int) -> None:
    # For these y, (y² - 1) / (d·y² + 1) has no square root mod p: there is no x.
    d = (-121665 * pow(121666, -1, ED25519_P)) % ED25519_P
    x2 = (y * y - 1) * pow(d * y * y + 1, -1, ED25519_P) % ED25519_P
    assert pow(x2, (ED25519_P - 1) // 2, ED25519_P) == ED25519_P - 1  # a non-residue
    with pytest.raises(KeyRejected, match="not a valid, full-order curve point"):
        load_public_jwk(_ed_jwk(y.to_bytes(32, "little")), "EdDSA")


def test_ed25519_full_order_point_with_small_y_is_accepted() -> None:
    # y = 3 is on the curve and not of small order: the check refuses points, not small numbers.
    assert load_public_jwk(_ed_jwk((3).to_bytes(32, "little")), "EdDSA").alg == "EdDSA"


def test_small_order_key_really_is_dangerous() -> None:
    # Why the check exists: with the identity as public key, (R = identity, S = 0) verifies
    # for a message under OpenSSL. Refusing the key is the only defence.
    identity = bytes.fromhex(SMALL_ORDER["identity (order 1)"])
    key = ed25519.Ed25519PublicKey.from_public_bytes(identity)
    forged = identity + bytes(32)
    assert verify_signature("EdDSA", key, forged, MESSAGE) is True
    with pytest.raises(KeyRejected):
        load_public_jwk(_ed_jwk(identity), "EdDSA")


# --- kid and thumbprint ----------------------------------------------------------------------


def test_ed25519_thumbprint_matches_rfc_8037_appendix_a3() -> None:
    jwk = {"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}
    assert jwk_thumbprint(jwk) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    public = load_public_jwk(jwk, "EdDSA")
    assert public.thumbprint == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
    assert public.kid == "kPrK_qmxVWaY"


def test_kid_is_the_first_12_characters_of_the_rfc_7638_thumbprint(public: PublicKey) -> None:
    jwk = public.jwk
    # RFC 7638 §3.2: the required members only, in lexicographic order, no whitespace.
    if jwk["kty"] == "OKP":
        canonical = f'{{"crv":"Ed25519","kty":"OKP","x":"{jwk["x"]}"}}'
    else:
        canonical = f'{{"crv":"P-256","kty":"EC","x":"{jwk["x"]}","y":"{jwk["y"]}"}}'
    thumbprint = b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())
    assert public.thumbprint == thumbprint
    assert jwk_thumbprint(dict(jwk)) == thumbprint
    assert KID_LENGTH == 12
    assert public.kid == thumbprint[:12]


def test_advisory_members_do_not_change_the_kid(public: PublicKey, alg: Alg) -> None:
    handed = {**public.jwk, "alg": alg, "use": "sig", "kid": "something-else"}
    assert jwk_thumbprint(handed) == public.thumbprint
    assert load_public_jwk(handed, alg).kid == public.kid


def test_different_keys_have_different_kids(alg: Alg) -> None:
    kids = {public_key_of(generate_private_key(alg)).kid for _ in range(20)}
    assert len(kids) == 20


# --- signatures ------------------------------------------------------------------------------


def test_a_signature_verifies_for_its_message_only(alg: Alg) -> None:
    private = generate_private_key(alg)
    public = public_key_of(private)
    signature = sign_raw(private, MESSAGE)
    assert len(signature) == 64
    assert public.verify(signature, MESSAGE) is True
    assert public.verify(signature, MESSAGE + b".") is False
    assert public_key_of(generate_private_key(alg)).verify(signature, MESSAGE) is False


@pytest.mark.parametrize("length", [0, 1, 32, 63, 65, 72, 128])
def test_signatures_of_the_wrong_length_are_false(alg: Alg, length: int) -> None:
    private = generate_private_key(alg)
    signature = sign_raw(private, MESSAGE)
    wrong = (signature + signature)[:length]
    assert verify_signature(alg, private.public_key(), wrong, MESSAGE) is False


def test_a_valid_signature_with_a_trailing_byte_is_false(alg: Alg) -> None:
    private = generate_private_key(alg)
    signature = sign_raw(private, MESSAGE)
    assert verify_signature(alg, private.public_key(), signature + b"\x00", MESSAGE) is False
    assert verify_signature(alg, private.public_key(), b"\x00" + signature, MESSAGE) is False


@pytest.mark.parametrize("index", [0, 31, 32, 63])
def test_any_flipped_signature_bit_is_false(alg: Alg, index: int) -> None:
    private = generate_private_key(alg)
    signature = bytearray(sign_raw(private, MESSAGE))
    signature[index] ^= 0x01
    assert verify_signature(alg, private.public_key(), bytes(signature), MESSAGE) is False


def _es256_signature() -> tuple[ec.EllipticCurvePrivateKey, int, int]:
    private = generate_private_key("ES256")
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    signature = sign_raw(private, MESSAGE)
    return private, int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda r, s: (0, s), id="r=0"),
        pytest.param(lambda r, s: (r, 0), id="s=0"),
        pytest.param(lambda r, s: (0, 0), id="r=s=0"),
        pytest.param(lambda r, s: (P256_N, s), id="r=n"),
        pytest.param(lambda r, s: (r, P256_N), id="s=n"),
        pytest.param(lambda r, s: (P256_N + 1, s), id="r=n+1"),
        pytest.param(lambda r, s: (2**256 - 1, s), id="r=2^256-1"),
        pytest.param(lambda r, s: (r, 2**256 - 1), id="s=2^256-1"),
    ],
)
def test_es256_signature_with_r_or_s_out_of_range_is_false(forge: Any) -> None:
    private, r, s = _es256_signature()
    assert verify_signature("ES256", private.public_key(), r.to_bytes(32, "big") + s.to_bytes(32, "big"), MESSAGE)
    r2, s2 = forge(r, s)
    forged = r2.to_bytes(32, "big") + s2.to_bytes(32, "big")
    assert verify_signature("ES256", private.public_key(), forged, MESSAGE) is False


def test_es256_der_signature_is_false() -> None:
    private = generate_private_key("ES256")
    assert isinstance(private, ec.EllipticCurvePrivateKey)
    from cryptography.hazmat.primitives import hashes

    der = private.sign(MESSAGE, ec.ECDSA(hashes.SHA256()))
    assert verify_signature("ES256", private.public_key(), der, MESSAGE) is False


def test_es256_signing_is_deterministic() -> None:
    private = generate_private_key("ES256")
    first = sign_raw(private, MESSAGE)
    assert sign_raw(private, MESSAGE) == first
    assert sign_raw(private, MESSAGE + b"!") != first


def test_ed25519_signing_is_deterministic() -> None:
    private = generate_private_key("EdDSA")
    assert sign_raw(private, MESSAGE) == sign_raw(private, MESSAGE)


def test_a_signature_is_not_accepted_under_the_other_algorithm() -> None:
    ed_private = generate_private_key("EdDSA")
    ec_private = generate_private_key("ES256")
    ed_signature = sign_raw(ed_private, MESSAGE)
    ec_signature = sign_raw(ec_private, MESSAGE)
    # The right key with the wrong alg name, and each signature against the other key type.
    assert verify_signature("ES256", ed_private.public_key(), ed_signature, MESSAGE) is False
    assert verify_signature("EdDSA", ec_private.public_key(), ec_signature, MESSAGE) is False
    assert verify_signature("ES256", ec_private.public_key(), ed_signature, MESSAGE) is False
    assert verify_signature("EdDSA", ed_private.public_key(), ec_signature, MESSAGE) is False
    assert public_key_of(ec_private).verify(ed_signature, MESSAGE) is False
    assert public_key_of(ed_private).verify(ec_signature, MESSAGE) is False


@pytest.mark.parametrize("bad_alg", ["RS256", "HS256", "none", "", "eddsa", "ES384"])
def test_verify_with_an_alg_outside_the_two_is_false(alg: Alg, bad_alg: str) -> None:
    private = generate_private_key(alg)
    signature = sign_raw(private, MESSAGE)
    assert verify_signature(bad_alg, private.public_key(), signature, MESSAGE) is False


# --- key generation --------------------------------------------------------------------------


def test_generated_key_matches_its_alg(alg: Alg) -> None:
    assert alg_of(generate_private_key(alg)) == alg


@pytest.mark.parametrize("bad_alg", ["RS256", "ES384", "none", "Ed448"])
def test_generating_an_unsupported_algorithm_is_refused(bad_alg: str) -> None:
    with pytest.raises(InputError) as caught:
        generate_private_key(bad_alg)  # type: ignore[arg-type]
    assert caught.value.reason == "bad_algorithm"


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP256K1()], ids=lambda c: c.name)
def test_other_curves_have_no_alg(curve: ec.EllipticCurve) -> None:
    with pytest.raises(InputError) as caught:
        alg_of(ec.generate_private_key(curve))
    assert caught.value.reason == "bad_algorithm"
