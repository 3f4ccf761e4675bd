"""Private keys at rest: encrypted PKCS#8 PEM files, mode 0600, refused when others can read them."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from keys.algorithms import PrivateKey, alg_of
from keys.errors import InputError, KeyFileError, NotFoundError
from keys.files import write_atomic
from keys.signer import KeySigner

# PKCS#8 files from `cryptography` use PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) with OpenSSL's
# iteration count, which cannot be raised for PKCS#8; a long passphrase makes up for it.
MIN_PASSPHRASE_BYTES = 12


def write_private_key(path: Path, private_key: PrivateKey, passphrase: bytes) -> None:
    """Write `private_key` encrypted under `passphrase`; never overwrite an existing key.

    The file is created 0600 from the start (not chmod-ed afterwards) and renamed into place,
    so there is no moment when it is readable by others or half-written.
    """
    if len(passphrase) < MIN_PASSPHRASE_BYTES:
        raise InputError(
            f"the passphrase must be at least {MIN_PASSPHRASE_BYTES} characters long", reason="weak_passphrase"
        )
    if path.exists():
        raise KeyFileError(f"refusing to overwrite existing key file {path}", reason="key_file_exists")
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, pem, 0o600)


def read_private_key(path: Path, passphrase: bytes) -> PrivateKey:
    """Load an encrypted key file; KeyFileError when missing, readable by others, not a key,
    or the passphrase is wrong."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NotFoundError(f"key file {path} does not exist", reason="key_file_missing") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"key file {path} is readable by other users (mode {stat.S_IMODE(st.st_mode):o}); "
            f"run: chmod 600 {path}",
            reason="key_file_insecure",
        )
    data = path.read_bytes()
    encrypted = b"ENCRYPTED PRIVATE KEY" in data
    try:
        key = serialization.load_pem_private_key(data, password=passphrase or None)
    except TypeError:
        # cryptography raises TypeError for a password given to an unencrypted file, or none
        # given to an encrypted one.
        if encrypted:
            raise KeyFileError(f"wrong passphrase for key file {path}", reason="bad_passphrase") from None
        raise KeyFileError(f"key file {path} is not encrypted; refusing it", reason="key_file_invalid") from None
    except ValueError:
        if encrypted:
            raise KeyFileError(f"wrong passphrase for key file {path}", reason="bad_passphrase") from None
        raise KeyFileError(f"{path} is not a PKCS#8 private key file", reason="key_file_invalid") from None
    try:
        alg_of(key)  # type: ignore[arg-type]
    except InputError:
        raise KeyFileError(f"{path} holds a key of an unsupported type", reason="key_file_invalid") from None
    return key  # type: ignore[return-value]


def load_signer(path: Path, passphrase: bytes) -> KeySigner:
    return KeySigner(read_private_key(path, passphrase))
