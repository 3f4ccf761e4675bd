"""keys/keyfile.py and keys/signer.py: private keys at rest, and the Signer over them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from conftest import PASSPHRASE
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, rsa

from keys.algorithms import Alg, PrivateKey, generate_private_key, public_key_of
from keys.errors import InputError, KeyFileError, NotFoundError
from keys.keyfile import MIN_PASSPHRASE_BYTES, load_signer, read_private_key, write_private_key
from keys.signer import KeySigner, Signer

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


@pytest.mark.parametrize("passphrase", [b"", b"x", b"short", b"x" * (MIN_PASSPHRASE_BYTES - 1)])
def test_short_passphrase_is_refused(key_path: Path, passphrase: bytes) -> None:
    with pytest.raises(InputError) as caught:
        write_private_key(key_path, generate_private_key(), passphrase)
    assert caught.value.reason == "weak_passphrase"
    assert not key_path.exists()


def test_passphrase_of_the_minimum_length_is_accepted(key_path: Path) -> None:
    passphrase = b"x" * MIN_PASSPHRASE_BYTES
    private = generate_private_key()
    write_private_key(key_path, private, passphrase)
    assert read_private_key(key_path, passphrase).public_key() == private.public_key()


def test_minimum_passphrase_is_twelve_bytes() -> None:
    assert MIN_PASSPHRASE_BYTES == 12


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
    assert caught.value.http_status == 404


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
