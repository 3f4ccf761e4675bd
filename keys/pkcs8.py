"""The key file's container: an encrypted PKCS#8 PEM file (RFC 5958 EncryptedPrivateKeyInfo)
protected by PBES2 (RFC 8018) with PBKDF2-HMAC-SHA256 and AES-256-CBC.

cryptography writes this container only at OpenSSL's 2,048 iterations (PKCS#8 has no encryption
builder), so the structure is encoded here with its declarative ASN.1 module and encrypted with
its primitives; files are read back by cryptography's own PKCS#8 loader, as `openssl pkey` reads
them. Before any key derivation the parameters are read and bounded, so that a crafted file
cannot make a load run for hours.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from cryptography.x509 import ObjectIdentifier

from keys.errors import KeyFileError, WrongPassphrase
from keys.reasons import Reason

# OWASP Password Storage Cheat Sheet: PBKDF2-HMAC-SHA256 with at least 600,000 iterations
# (about 70 ms per key load, or per guess, on a 2-core server).
ITERATIONS = 600_000
# NIST SP 800-132: a salt of at least 128 bits.
SALT_BYTES = 16
# No genuine key file needs ten times the standard; beyond it a file could keep the command
# deriving a key for hours (2^31 iterations is about 4 minutes per attempt here).
MAX_ITERATIONS = 10 * ITERATIONS

PBES2 = ObjectIdentifier("1.2.840.113549.1.5.13")
PBKDF2 = ObjectIdentifier("1.2.840.113549.1.5.12")
PRF_NAMES = {
    ObjectIdentifier("1.2.840.113549.2.7"): "hmacWithSHA1",
    ObjectIdentifier("1.2.840.113549.2.8"): "hmacWithSHA224",
    ObjectIdentifier("1.2.840.113549.2.9"): "hmacWithSHA256",
    ObjectIdentifier("1.2.840.113549.2.10"): "hmacWithSHA384",
    ObjectIdentifier("1.2.840.113549.2.11"): "hmacWithSHA512",
}
HMAC_WITH_SHA1 = ObjectIdentifier("1.2.840.113549.2.7")  # PBKDF2-params' DEFAULT when prf is absent
HMAC_WITH_SHA256 = ObjectIdentifier("1.2.840.113549.2.9")
CIPHER_NAMES = {
    ObjectIdentifier("2.16.840.1.101.3.4.1.2"): "aes-128-cbc",
    ObjectIdentifier("2.16.840.1.101.3.4.1.22"): "aes-192-cbc",
    ObjectIdentifier("2.16.840.1.101.3.4.1.42"): "aes-256-cbc",
}
AES_256_CBC = ObjectIdentifier("2.16.840.1.101.3.4.1.42")

PEM_LABEL = "ENCRYPTED PRIVATE KEY"
_PEM = re.compile(rb"\A\s*-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\s]*?)-----END \1-----\s*\Z")


# --- the ASN.1 structures (RFC 5958 section 3, RFC 8018 appendix A.2, A.4, B.2.5) --------------


@asn1.sequence
class PrfAlgorithm:
    algorithm: ObjectIdentifier
    parameters: asn1.Null | None


@asn1.sequence
class Pbkdf2Params:
    salt: bytes  # the CHOICE's `specified`; `otherSource` is used by no one and refused
    iteration_count: int
    key_length: int | None
    prf: PrfAlgorithm | None


@asn1.sequence
class KeyDerivationAlgorithm:
    algorithm: ObjectIdentifier
    parameters: Pbkdf2Params


@asn1.sequence
class EncryptionScheme:
    algorithm: ObjectIdentifier
    parameters: bytes  # the CBC initialisation vector


@asn1.sequence
class Pbes2Params:
    key_derivation_func: KeyDerivationAlgorithm
    encryption_scheme: EncryptionScheme


@asn1.sequence
class EncryptionAlgorithm:
    algorithm: ObjectIdentifier
    parameters: Pbes2Params


@asn1.sequence
class EncryptedPrivateKeyInfo:
    encryption_algorithm: EncryptionAlgorithm
    encrypted_data: bytes


# The outer shape of any EncryptedPrivateKeyInfo, whatever its scheme: told apart from a file that
# is not one at all.
@asn1.sequence
class AnyAlgorithm:
    algorithm: ObjectIdentifier
    parameters: asn1.TLV


@asn1.sequence
class AnyEncryptedPrivateKeyInfo:
    encryption_algorithm: AnyAlgorithm
    encrypted_data: bytes


# --- what protects a file ----------------------------------------------------------------------


@dataclass(frozen=True)
class Protection:
    """How a key file is protected: PBES2 with PBKDF2 under `prf`, `iterations`, and `cipher`."""

    prf: str
    iterations: int
    salt_bytes: int
    cipher: str

    @property
    def meets_standard(self) -> bool:
        """True when the file is protected at least as this program writes new files."""
        return (self.prf == "hmacWithSHA256" and self.iterations >= ITERATIONS
                and self.salt_bytes >= SALT_BYTES and self.cipher == "aes-256-cbc")

    def __str__(self) -> str:
        """The iteration count, and whatever else differs from the standard (PBKDF2-HMAC-SHA256,
        16-byte salt, AES-256-CBC): short enough for a table row."""
        parts = [f"{self.iterations:,} iterations"]
        if self.prf != "hmacWithSHA256":
            parts.append(self.prf)
        if self.salt_bytes < SALT_BYTES:
            parts.append(f"{self.salt_bytes}-byte salt")
        if self.cipher != "aes-256-cbc":
            parts.append(self.cipher)
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"scheme": "PBES2", "kdf": "PBKDF2", "prf": self.prf, "iterations": self.iterations,
                "salt_bytes": self.salt_bytes, "cipher": self.cipher, "meets_standard": self.meets_standard}


def der_of(pem: bytes) -> bytes:
    """The DER inside a PEM file holding exactly one `ENCRYPTED PRIVATE KEY` block.

    Raises KeyFileError (key_file_invalid) for anything else: an unencrypted key, another kind
    of PEM, several blocks, text around the block.
    """
    match = _PEM.match(pem)
    if match is None:
        raise KeyFileError("is not a PKCS#8 private key file", reason=Reason.KEY_FILE_INVALID)
    label = match.group(1).decode("ascii")
    if label != PEM_LABEL:
        if label.endswith("PRIVATE KEY"):
            raise KeyFileError("is not an encrypted PKCS#8 key file; refusing it", reason=Reason.KEY_FILE_INVALID)
        raise KeyFileError(f"holds a {label}, not a PKCS#8 private key", reason=Reason.KEY_FILE_INVALID)
    try:
        return base64.b64decode(b"".join(match.group(2).split()), validate=True)
    except ValueError:
        raise KeyFileError("is not a PKCS#8 private key file (bad base64)", reason=Reason.KEY_FILE_INVALID) from None


def pem_of(der: bytes) -> bytes:
    body = base64.b64encode(der)
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return b"\n".join([f"-----BEGIN {PEM_LABEL}-----".encode(), *lines, f"-----END {PEM_LABEL}-----".encode(), b""])


def protection_of(der: bytes) -> Protection:
    """Read the protection parameters of an EncryptedPrivateKeyInfo, without any key derivation.

    Raises KeyFileError: key_file_invalid when it is not one, key_file_unsupported for another
    scheme than PBES2 with PBKDF2 and AES-CBC (scrypt, PBES1, …), key_file_excessive_iterations
    beyond MAX_ITERATIONS.
    """
    try:
        asn1.decode_der(AnyEncryptedPrivateKeyInfo, der)
    except ValueError:
        raise KeyFileError("is not an encrypted PKCS#8 private key", reason=Reason.KEY_FILE_INVALID) from None
    try:
        info = asn1.decode_der(EncryptedPrivateKeyInfo, der)
    except ValueError:
        raise KeyFileError(
            "is not protected by PBES2 with PBKDF2 and AES-CBC, the only scheme this program opens",
            reason=Reason.KEY_FILE_UNSUPPORTED,
        ) from None
    scheme = info.encryption_algorithm
    kdf = scheme.parameters.key_derivation_func
    cipher = scheme.parameters.encryption_scheme
    params = kdf.parameters
    prf = params.prf.algorithm if params.prf is not None else HMAC_WITH_SHA1
    if scheme.algorithm != PBES2 or kdf.algorithm != PBKDF2 or prf not in PRF_NAMES or cipher.algorithm not in CIPHER_NAMES:
        raise KeyFileError(
            "is not protected by PBES2 with PBKDF2 and AES-CBC, the only scheme this program opens",
            reason=Reason.KEY_FILE_UNSUPPORTED,
        )
    if not 1 <= params.iteration_count <= MAX_ITERATIONS:
        raise KeyFileError(
            f"asks for {params.iteration_count:,} PBKDF2 iterations; no genuine key file needs more than "
            f"{MAX_ITERATIONS:,} (this program writes {ITERATIONS:,}), so it is refused before any work",
            reason=Reason.KEY_FILE_EXCESSIVE_ITERATIONS,
        )
    return Protection(PRF_NAMES[prf], params.iteration_count, len(params.salt), CIPHER_NAMES[cipher.algorithm])


def encrypt(private_key: PrivateKeyTypes, passphrase: bytes) -> bytes:
    """`private_key` as a PEM EncryptedPrivateKeyInfo at the standard protection (fresh salt and IV)."""
    plain = private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    salt, iv = os.urandom(SALT_BYTES), os.urandom(16)
    key = PBKDF2HMAC(hashes.SHA256(), 32, salt, ITERATIONS).derive(passphrase)
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    info = EncryptedPrivateKeyInfo(
        encryption_algorithm=EncryptionAlgorithm(
            algorithm=PBES2,
            parameters=Pbes2Params(
                key_derivation_func=KeyDerivationAlgorithm(
                    algorithm=PBKDF2,
                    parameters=Pbkdf2Params(
                        salt=salt, iteration_count=ITERATIONS, key_length=None,
                        prf=PrfAlgorithm(algorithm=HMAC_WITH_SHA256, parameters=asn1.Null()),
                    ),
                ),
                encryption_scheme=EncryptionScheme(algorithm=AES_256_CBC, parameters=iv),
            ),
        ),
        encrypted_data=encrypted,
    )
    return pem_of(asn1.encode_der(info))


def decrypt(der: bytes, passphrase: bytes) -> PrivateKeyTypes:
    """The private key in an EncryptedPrivateKeyInfo, decrypted by cryptography's PKCS#8 loader
    once its parameters are known to be bounded.

    Raises KeyFileError: as protection_of, bad_passphrase when the passphrase does not open it,
    key_file_invalid when what it holds is not a key cryptography knows.
    """
    protection_of(der)
    try:
        return serialization.load_der_private_key(der, password=passphrase or None)
    except (TypeError, ValueError):
        # TypeError: no passphrase given; ValueError: the padding or the key inside does not
        # decode, which for a well-formed container means the passphrase is wrong.
        raise WrongPassphrase("cannot be opened with this passphrase") from None
    except UnsupportedAlgorithm:
        raise KeyFileError("holds a key of an unsupported type", reason=Reason.KEY_FILE_INVALID) from None
