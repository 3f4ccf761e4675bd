"""Private keys at rest: encrypted PKCS#8 PEM files (keys/pkcs8.py), mode 0600, refused when
others can read them; new files protected with PBKDF2-HMAC-SHA256 at 600,000 iterations under a
passphrase that is not guessable (keys/passphrase.py)."""

from __future__ import annotations

import stat
from collections.abc import Iterable
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from keys import pkcs8
from keys.algorithms import PrivateKey, alg_of
from keys.errors import InputError, KeyFileError, NotFoundError, WrongPassphrase
from keys.files import write_atomic
from keys.passphrase import check_new_passphrase
from keys.pkcs8 import Protection
from keys.reasons import N_, Reason
from keys.signer import KeySigner

# A key file is a few hundred bytes; anything much larger is not one, and is not read whole.
MAX_KEY_FILE_BYTES = 64 * 1024


def _plain(private_key: PrivateKey) -> bytes:
    return private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _sealed(private_key: PrivateKey, passphrase: bytes) -> bytes:
    """The file's bytes, once cryptography's own PKCS#8 loader has given the same key back from them."""
    pem = pkcs8.encrypt(private_key, passphrase)
    if _plain(pkcs8.decrypt(pkcs8.der_of(pem), passphrase)) != _plain(private_key):  # type: ignore[arg-type]
        raise KeyFileError("the encrypted key does not decrypt to the same key; nothing was written", reason=Reason.KEY_FILE_INVALID)
    return pem


def write_private_key(path: Path, private_key: PrivateKey, passphrase: bytes, context: Iterable[str] = ()) -> None:
    """Write `private_key` encrypted under `passphrase`; never overwrite an existing key.

    The passphrase must pass keys.passphrase.check_new_passphrase (`context`: the names an
    attacker would try first). The file is created 0600 from the start (not chmod-ed afterwards)
    and renamed into place, so there is no moment when it is readable by others or half-written.
    """
    check_new_passphrase(passphrase, context)
    if path.exists():
        raise KeyFileError(f"refusing to overwrite existing key file {path}", reason=Reason.KEY_FILE_EXISTS)
    pem = _sealed(private_key, passphrase)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, pem, 0o600)


def _read(path: Path) -> bytes:
    try:
        st = path.stat()
    except FileNotFoundError:
        raise NotFoundError(f"key file {path} does not exist", reason=Reason.KEY_FILE_MISSING) from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"key file {path} is readable by other users (mode {stat.S_IMODE(st.st_mode):o}); "
            f"run: chmod 600 {path}",
            reason=Reason.KEY_FILE_INSECURE,
        )
    if st.st_size > MAX_KEY_FILE_BYTES:
        raise KeyFileError(f"{path} is not a PKCS#8 private key file (too large)", reason=Reason.KEY_FILE_INVALID)
    return path.read_bytes()


def _der(path: Path) -> bytes:
    data = _read(path)
    try:
        return pkcs8.der_of(data)
    except KeyFileError as exc:
        raise KeyFileError(f"key file {path} {exc.message}", reason=exc.reason) from None


def key_file_protection(path: Path) -> Protection:
    """How the key file at `path` is protected, read without its passphrase.

    Raises NotFoundError (key_file_missing) or KeyFileError (key_file_insecure, key_file_invalid,
    key_file_unsupported, key_file_excessive_iterations).
    """
    der = _der(path)
    try:
        return pkcs8.protection_of(der)
    except KeyFileError as exc:
        raise KeyFileError(f"key file {path} {exc.message}", reason=exc.reason) from None


def read_private_key(path: Path, passphrase: bytes) -> PrivateKey:
    """Load an encrypted key file.

    Raises NotFoundError (key_file_missing) or KeyFileError: key_file_insecure when others may
    read it, key_file_invalid when it is not an encrypted key of a supported type,
    key_file_unsupported or key_file_excessive_iterations for its protection (checked before
    any key derivation), bad_passphrase when the passphrase does not open it.
    """
    der = _der(path)
    try:
        key = pkcs8.decrypt(der, passphrase)
    except WrongPassphrase:
        raise WrongPassphrase(N_("wrong passphrase for key file {path}"), path=path) from None
    except KeyFileError as exc:
        raise KeyFileError(f"key file {path} {exc.message}", reason=exc.reason) from None
    try:
        alg_of(key)  # type: ignore[arg-type]
    except InputError:
        raise KeyFileError(f"{path} holds a key of an unsupported type", reason=Reason.KEY_FILE_INVALID) from None
    return key  # type: ignore[return-value]


def rewrite_private_key(path: Path, private_key: PrivateKey, passphrase: bytes) -> Protection:
    """Replace the key file at `path` by `private_key` protected to the standard under `passphrase`.

    The new file is written beside the old one (0600, fsync) and renamed over it only after it
    decrypts to the same key, so the path always holds the old file or the new one. The caller
    loaded `private_key` from `path` and checked a new passphrase, if any.
    """
    write_atomic(path, _sealed(private_key, passphrase), 0o600)
    return key_file_protection(path)


def load_signer(path: Path, passphrase: bytes) -> KeySigner:
    return KeySigner(read_private_key(path, passphrase))
