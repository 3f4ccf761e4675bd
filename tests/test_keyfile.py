"""keys/keyfile.py and keys/signer.py: private keys at rest, and the Signer over them."""

from __future__ import annotations

import base64
import os
import re
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import PASSPHRASE
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa

from keys import pkcs8
from keys.algorithms import Alg, PrivateKey, generate_private_key, public_key_of
from keys.errors import InputError, KeyFileError, NotFoundError
from keys.keyfile import key_file_protection, load_signer, read_private_key, rewrite_private_key, write_private_key
from keys.passphrase import MIN_PASSPHRASE_CHARACTERS
from keys.signer import KeySigner, Signer
from verifier.web.errors import status_of

MESSAGE = "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm".encode()


@pytest.fixture(params=["EdDSA", "ES256"])
def alg(request: pytest.FixtureRequest) -> Alg:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    return tmp_path / "keys" / "hcm-syt.pem"


def _written(path: Path, alg: Alg = "EdDSA") -> PrivateKey:
    private = generate_private_key(alg)
    write_private_key(path, private, PASSPHRASE)
    return private


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _plain_pem(private: object) -> bytes:
    return private.private_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _place(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.chmod(path, 0o600)


# --- writing -------------------------------------------------------------------------------


def test_key_file_is_encrypted_pkcs8_pem(key_path: Path, alg: Alg) -> None:
    private = _written(key_path, alg)
    data = key_path.read_bytes()
    assert data.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert data.rstrip().endswith(b"-----END ENCRYPTED PRIVATE KEY-----")
    # Nothing of the plain key is in the file.
    assert _plain_pem(private).splitlines()[1] not in data
    assert serialization.load_pem_private_key(data, password=PASSPHRASE).public_key() == private.public_key()


def test_key_file_without_the_passphrase_cannot_be_loaded(key_path: Path) -> None:
    _written(key_path)
    with pytest.raises(TypeError):
        serialization.load_pem_private_key(key_path.read_bytes(), password=None)


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o002])
def test_key_file_is_mode_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    path = tmp_path / "keys" / "k.pem"
    old = os.umask(umask)
    try:
        _written(path)
    finally:
        os.umask(old)
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700 & ~umask
    assert [p.name for p in path.parent.iterdir()] == ["k.pem"]  # no temporary file left


def test_stale_world_readable_temporary_file_does_not_make_the_key_readable(key_path: Path) -> None:
    # A leftover "<name>.tmp" (from a copy, a restore or another tool) that others may read:
    # the key written through it must still end up 0600.
    key_path.parent.mkdir(parents=True)
    stale = key_path.with_name(key_path.name + ".tmp")
    stale.write_bytes(b"")
    os.chmod(stale, 0o644)
    _written(key_path)
    assert _mode(key_path) == 0o600


def test_existing_key_file_is_never_overwritten(key_path: Path) -> None:
    first = _written(key_path)
    before = key_path.read_bytes()
    with pytest.raises(KeyFileError) as caught:
        write_private_key(key_path, generate_private_key(), PASSPHRASE)
    assert caught.value.reason == "key_file_exists"
    assert key_path.read_bytes() == before
    assert read_private_key(key_path, PASSPHRASE).public_key() == first.public_key()


def test_any_existing_file_is_never_overwritten(key_path: Path) -> None:
    _place(key_path, b"not a key, but somebody's file")
    with pytest.raises(KeyFileError) as caught:
        write_private_key(key_path, generate_private_key(), PASSPHRASE)
    assert caught.value.reason == "key_file_exists"
    assert key_path.read_bytes() == b"not a key, but somebody's file"


@pytest.mark.parametrize("passphrase", [b"", b"x", b"short", b"Vq7#mLp2!xZ", "bánh xèo 7k".encode()],
                         ids=["empty", "one", "five", "eleven", "eleven-characters-in-fourteen-bytes"])
def test_short_passphrase_is_refused(key_path: Path, passphrase: bytes) -> None:
    with pytest.raises(InputError) as caught:
        write_private_key(key_path, generate_private_key(), passphrase)
    assert caught.value.reason == "weak_passphrase"
    assert not key_path.exists()


def test_passphrase_of_the_minimum_length_is_accepted(key_path: Path) -> None:
    passphrase = "bánh xèo 7kg".encode()  # 12 characters (15 bytes), not guessable
    assert len(passphrase.decode()) == MIN_PASSPHRASE_CHARACTERS
    private = generate_private_key()
    write_private_key(key_path, private, passphrase)
    assert read_private_key(key_path, passphrase).public_key() == private.public_key()


def test_minimum_passphrase_is_twelve_characters() -> None:
    assert MIN_PASSPHRASE_CHARACTERS == 12


# --- reading -------------------------------------------------------------------------------


def test_key_file_round_trips(key_path: Path, alg: Alg) -> None:
    private = _written(key_path, alg)
    loaded = read_private_key(key_path, PASSPHRASE)
    assert public_key_of(loaded) == public_key_of(private)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660, 0o606, 0o610, 0o601, 0o700 | 0o007, 0o620])
def test_key_file_readable_or_writable_by_others_is_refused(key_path: Path, mode: int) -> None:
    _written(key_path)
    os.chmod(key_path, mode)
    with pytest.raises(KeyFileError) as caught:
        read_private_key(key_path, PASSPHRASE)
    assert caught.value.reason == "key_file_insecure"
    assert f"chmod 600 {key_path}" in str(caught.value)


@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_key_file_private_to_its_owner_is_accepted(key_path: Path, mode: int) -> None:
    private = _written(key_path)
    os.chmod(key_path, mode)
    assert read_private_key(key_path, PASSPHRASE).public_key() == private.public_key()


def test_insecure_mode_is_refused_before_the_passphrase_is_tried(key_path: Path) -> None:
    _written(key_path)
    os.chmod(key_path, 0o644)
    with pytest.raises(KeyFileError) as caught:
        read_private_key(key_path, b"wrong passphrase entirely")
    assert caught.value.reason == "key_file_insecure"


@pytest.mark.parametrize("passphrase", [b"wrong horse battery staple", PASSPHRASE + b" ", PASSPHRASE.upper(), b""])
def test_wrong_passphrase_is_refused(key_path: Path, passphrase: bytes) -> None:
    _written(key_path)
    with pytest.raises(KeyFileError) as caught:
        read_private_key(key_path, passphrase)
    assert caught.value.reason == "bad_passphrase"


def test_missing_key_file_is_not_found(key_path: Path) -> None:
    with pytest.raises(NotFoundError) as caught:
        read_private_key(key_path, PASSPHRASE)
    assert caught.value.reason == "key_file_missing"
    assert status_of(caught.value) == 404


@pytest.mark.parametrize("alg", ["EdDSA", "ES256"])
def test_unencrypted_pem_is_refused(key_path: Path, alg: Alg) -> None:
    _place(key_path, _plain_pem(generate_private_key(alg)))
    with pytest.raises(KeyFileError) as caught:
        read_private_key(key_path, PASSPHRASE)
    assert caught.value.reason == "key_file_invalid"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"garbage",
        b"\x00\xff" * 100,
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n-----END PUBLIC KEY-----\n",
        b'{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}',
    ],
    ids=["empty", "text", "binary", "broken-pem", "public-key", "jwk"],
)
def test_file_that_is_not_a_private_key_is_refused(key_path: Path, data: bytes) -> None:
    _place(key_path, data)
    with pytest.raises(KeyFileError) as caught:
        read_private_key(key_path, PASSPHRASE)
    assert caught.value.reason == "key_file_invalid"


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: rsa.generate_private_key(65537, 2048), id="rsa"),
        pytest.param(lambda: ec.generate_private_key(ec.SECP384R1()), id="p-384"),
        pytest.param(lambda: ed448.Ed448PrivateKey.generate(), id="ed448"),
    ],
)
def test_encrypted_key_of_an_unsupported_type_is_refused(key_path: Path, make: object) -> None:
    private = make()  # type: ignore[operator]
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE),
    )
    _place(key_path, pem)
    with pytest.raises(KeyFileError) as caught:
        read_private_key(key_path, PASSPHRASE)
    assert caught.value.reason == "key_file_invalid"


# --- the container: PBES2, PBKDF2-HMAC-SHA256 at 600,000 iterations, AES-256-CBC -------------


def _openssl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "KEY_PASSPHRASE": PASSPHRASE.decode()}
    return subprocess.run(["openssl", *args], input=data, capture_output=True, env=env, check=True, timeout=60)


def _legacy_pem(private: PrivateKey) -> bytes:
    """A key file as this program wrote them before: cryptography's PKCS#8 at 2,048 iterations."""
    return private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.BestAvailableEncryption(PASSPHRASE))


def test_new_key_file_is_pbes2_pbkdf2_sha256_600000_iterations_aes_256_cbc(key_path: Path) -> None:
    _written(key_path)
    protection = key_file_protection(key_path)
    assert protection == pkcs8.Protection("hmacWithSHA256", 600_000, 16, "aes-256-cbc")
    assert protection.meets_standard
    assert str(protection) == "600,000 iterations"
    assert str(pkcs8.Protection("hmacWithSHA1", 2048, 8, "aes-128-cbc")) == "2,048 iterations, hmacWithSHA1, 8-byte salt, aes-128-cbc"


def test_new_key_file_opens_with_the_openssl_command(key_path: Path, alg: Alg) -> None:
    private = _written(key_path, alg)
    opened = _openssl("pkey", "-in", str(key_path), "-passin", "env:KEY_PASSPHRASE").stdout
    assert opened == _plain_pem(private)


def test_openssl_reads_the_standard_parameters_in_a_new_key_file(key_path: Path) -> None:
    _written(key_path)
    parsed = _openssl("asn1parse", "-in", str(key_path)).stdout.decode()
    objects = [line.rsplit(":", 1)[1] for line in parsed.splitlines() if "prim: OBJECT" in line]
    assert objects == ["PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc"]
    integers = [line.rsplit(":", 1)[1] for line in parsed.splitlines() if "prim: INTEGER" in line]
    assert [int(value, 16) for value in integers] == [600_000]
    octets = [line for line in parsed.splitlines() if "prim: OCTET STRING" in line]
    assert [re.search(r" l= *(\d+)", line).group(1) for line in octets[:2]] == ["16", "16"]  # type: ignore[union-attr]  # salt, IV


def test_openssl_rejects_a_new_key_file_under_a_wrong_passphrase(key_path: Path) -> None:
    _written(key_path)
    result = subprocess.run(["openssl", "pkey", "-in", str(key_path), "-passin", "pass:wrong horse battery staple"],
                            capture_output=True, timeout=60)
    assert result.returncode != 0 and result.stdout == b""


def test_key_file_encrypted_by_the_openssl_command_opens(key_path: Path, alg: Alg) -> None:
    private = generate_private_key(alg)
    pem = _openssl("pkcs8", "-topk8", "-v2", "aes-256-cbc", "-v2prf", "hmacWithSHA256", "-iter", "600000",
                   "-passout", "env:KEY_PASSPHRASE", data=_plain_pem(private)).stdout
    _place(key_path, pem)
    assert public_key_of(read_private_key(key_path, PASSPHRASE)) == public_key_of(private)
    # OpenSSL 3.0's command salts with 8 bytes, below NIST SP 800-132's 16: `permit keys protect` rewrites it.
    assert key_file_protection(key_path) == pkcs8.Protection("hmacWithSHA256", 600_000, 8, "aes-256-cbc")
    assert not key_file_protection(key_path).meets_standard


def test_legacy_key_file_at_2048_iterations_still_opens_and_is_below_the_standard(key_path: Path, alg: Alg) -> None:
    private = generate_private_key(alg)
    _place(key_path, _legacy_pem(private))
    assert public_key_of(read_private_key(key_path, PASSPHRASE)) == public_key_of(private)
    assert key_file_protection(key_path) == pkcs8.Protection("hmacWithSHA256", 2048, 16, "aes-256-cbc")
    assert not key_file_protection(key_path).meets_standard


def test_every_key_file_has_its_own_salt_and_iv(tmp_path: Path) -> None:
    private = generate_private_key()
    files = [pkcs8.encrypt(private, PASSPHRASE) for _ in range(2)]
    infos = [asn1.decode_der(pkcs8.EncryptedPrivateKeyInfo, pkcs8.der_of(pem)) for pem in files]
    salts = {info.encryption_algorithm.parameters.key_derivation_func.parameters.salt for info in infos}
    ivs = {info.encryption_algorithm.parameters.encryption_scheme.parameters for info in infos}
    assert len(salts) == 2 and len(ivs) == 2 and files[0] != files[1]


@pytest.mark.parametrize(
    "options",
    [["-scrypt"], ["-v1", "PBE-SHA1-3DES"], ["-v2", "des-ede3-cbc"]],
    ids=["scrypt", "pbes1-pkcs12-3des", "pbes2-3des-cbc"],
)
def test_key_file_under_another_scheme_is_refused_as_unsupported(key_path: Path, options: list[str]) -> None:
    _place(key_path, _openssl("pkcs8", "-topk8", *options, "-passout", "env:KEY_PASSPHRASE", data=_plain_pem(generate_private_key())).stdout)
    with pytest.raises(KeyFileError) as caught:
        read_private_key(key_path, PASSPHRASE)
    assert caught.value.reason == "key_file_unsupported"
    assert str(key_path) in str(caught.value)


def test_key_file_with_zero_iterations_is_refused_before_any_work(key_path: Path) -> None:
    _place(key_path, _with_iterations(pkcs8.encrypt(generate_private_key(), PASSPHRASE), 0))
    with pytest.raises(KeyFileError) as caught:
        read_private_key(key_path, PASSPHRASE)
    assert caught.value.reason == "key_file_excessive_iterations"


def _with_iterations(pem: bytes, iterations: int) -> bytes:
    info = asn1.decode_der(pkcs8.EncryptedPrivateKeyInfo, pkcs8.der_of(pem))
    scheme = info.encryption_algorithm.parameters
    kdf = scheme.key_derivation_func
    kdf = replace(kdf, parameters=replace(kdf.parameters, iteration_count=iterations))
    info = replace(info, encryption_algorithm=replace(info.encryption_algorithm, parameters=replace(scheme, key_derivation_func=kdf)))
    return pkcs8.pem_of(asn1.encode_der(info))


@pytest.mark.parametrize(
    "data",
    [
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n-----END ENCRYPTED PRIVATE KEY-----\n",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n!!!!\n-----END ENCRYPTED PRIVATE KEY-----\n",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAA=\n-----END ENCRYPTED PRIVATE KEY-----\n",
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        b"-----BEGIN EC PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\nAAAA\n-----END EC PRIVATE KEY-----\n",
    ],
    ids=["empty-block", "bad-base64", "empty-sequence", "mismatched-labels", "traditional-openssl"],
)
def test_malformed_encrypted_key_file_is_refused(key_path: Path, data: bytes) -> None:
    _place(key_path, data)
    with pytest.raises(KeyFileError) as caught:
        read_private_key(key_path, PASSPHRASE)
    assert caught.value.reason == "key_file_invalid"


def test_two_keys_in_one_file_are_refused(key_path: Path) -> None:
    # cryptography's PEM reader would take the first block: a file is one key, or none.
    one, two = (pkcs8.encrypt(generate_private_key(), PASSPHRASE) for _ in range(2))
    _place(key_path, one + two)
    with pytest.raises(KeyFileError) as caught:
        read_private_key(key_path, PASSPHRASE)
    assert caught.value.reason == "key_file_invalid"


def test_key_file_larger_than_any_key_is_refused_unread(key_path: Path) -> None:
    _place(key_path, pkcs8.encrypt(generate_private_key(), PASSPHRASE) + b"\n" * 100_000)
    with pytest.raises(KeyFileError) as caught:
        read_private_key(key_path, PASSPHRASE)
    assert caught.value.reason == "key_file_invalid"


def test_rewriting_a_legacy_key_file_keeps_the_key_and_reaches_the_standard(key_path: Path, alg: Alg) -> None:
    private = generate_private_key(alg)
    _place(key_path, _legacy_pem(private))
    after = rewrite_private_key(key_path, read_private_key(key_path, PASSPHRASE), PASSPHRASE)
    assert after.meets_standard and key_file_protection(key_path) == after
    assert _plain_pem(read_private_key(key_path, PASSPHRASE)) == _plain_pem(private)
    assert _mode(key_path) == 0o600
    assert [p.name for p in key_path.parent.iterdir()] == [key_path.name]


def test_pem_lines_are_64_characters_as_rfc_7468_asks(key_path: Path) -> None:
    _written(key_path)
    lines = key_path.read_bytes().splitlines()
    assert all(len(line) == 64 for line in lines[1:-2]) and 0 < len(lines[-2]) <= 64
    assert base64.b64decode(b"".join(lines[1:-1])) == pkcs8.der_of(key_path.read_bytes())


# --- the signer ----------------------------------------------------------------------------


def test_key_signer_signs_and_its_public_key_verifies(key_path: Path, alg: Alg) -> None:
    private = _written(key_path, alg)
    signer = load_signer(key_path, PASSPHRASE)
    public = public_key_of(private)
    signature = signer.sign(MESSAGE)
    assert len(signature) == 64
    assert (signer.kid, signer.alg) == (public.kid, alg)
    assert signer.public_key() == public
    assert public.verify(signature, MESSAGE) is True
    assert signer.public_key().verify(signature, MESSAGE) is True
    assert public.verify(signature, MESSAGE + b" ") is False


def test_key_signer_satisfies_the_signer_protocol(alg: Alg) -> None:
    signer = KeySigner(generate_private_key(alg))
    assert isinstance(signer, Signer)


def test_something_without_sign_is_not_a_signer() -> None:
    class NoSign:
        kid = "abc"
        alg = "EdDSA"

        def public_key(self) -> None:
            return None

    assert not isinstance(NoSign(), Signer)
    assert not isinstance(generate_private_key(), Signer)


def test_key_signer_repr_shows_no_key_material(alg: Alg) -> None:
    private = generate_private_key(alg)
    signer = KeySigner(private)
    assert repr(signer) == f"KeySigner(kid={signer.kid!r}, alg={alg!r})"
