"""Status lists: each agency's signed, compressed array of 2-bit permit states.

    header  {"alg", "kid", "typ": "statuslist+jwt", "iss": agency, "iat", "exp", "size"}
    payload bzip2 of the array: entry i in bits 2(i%4)..2(i%4)+1 of byte i//4
    values  0 valid, 1 revoked, 2 suspended, 3 superseded

The claims sit in the protected header because the payload is the compressed array itself:
wrapped in JSON it would be base64-encoded twice (+33 %), and a list of a million permits must
stay under 20 KB. bzip2 rather than DEFLATE: on sparse arrays (1 % revoked) its run-length
stage and Burrows-Wheeler transform give 20-25 % smaller lists (2M entries, 10,000 revoked:
13.0 KB against 16.6 KB), and it compresses such a list in milliseconds. Permits get random indexes in a list of at least 131,072 entries, so fetching
a list tells nobody which permit is being checked (herd privacy).
"""

from __future__ import annotations

import bz2
import re
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum

from keys.errors import DocumentError, KeyCompromised
from keys.fields import ISSUED_AT_LEEWAY, MAX_TIME
from keys.jws import (
    SIGNATURE_CHARS,
    TYP_STATUS_LIST,
    check_header,
    decode_header,
    parse_compact,
    sign_compact,
    split_compact,
)
from keys.reasons import Reason
from keys.registry import Registry
from keys.signer import Signer
from keys.text import is_identifier

MIN_SIZE = 131_072
MAX_SIZE = 1 << 26  # 67 million permits per agency: 16 MiB inflated, the decompression bound
MAX_STATUS_TOKEN_LENGTH = 8 * 1024 * 1024
_HEADER_MEMBERS = frozenset({"alg", "kid", "typ", "iss", "iat", "exp", "size"})


class Status(IntEnum):
    VALID = 0
    REVOKED = 1
    SUSPENDED = 2
    SUPERSEDED = 3


def build_status_list(
    agency: str,
    size: int,
    entries: Iterable[tuple[int, int]],
    signer: Signer,
    issued_at: int,
    expires_at: int,
) -> str:
    """Sign the list of `size` entries in which `entries` (index, status) are non-zero."""
    if size % 4 or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"status list size must be a multiple of 4 in [{MIN_SIZE}, {MAX_SIZE}]")
    bits = bytearray(size // 4)
    for index, status in entries:
        if not 0 <= index < size or not 0 <= status <= 3:
            raise ValueError(f"status entry {index}={status} out of range")
        shift = (index & 3) * 2
        bits[index >> 2] = (bits[index >> 2] & ~(3 << shift)) | (status << shift)
    header = {"iss": agency, "iat": issued_at, "exp": expires_at, "size": size}
    return sign_compact(bz2.compress(bytes(bits), 9), signer, TYP_STATUS_LIST, header)


@dataclass(frozen=True)
class StatusList:
    """A verified status list. Looks up by index without holding the whole array when most
    entries are zero: (byte offset, byte) pairs for the non-zero bytes, else the array."""

    agency: str
    issued_at: int
    expires_at: int
    size: int
    token: str = field(repr=False)
    _offsets: array = field(repr=False, compare=False)  # type: ignore[type-arg]
    _values: bytes = field(repr=False, compare=False)
    _dense: bytes | None = field(repr=False, compare=False)

    def status(self, index: int) -> int | None:
        """The 2-bit status at `index`, or None when the index is outside the list."""
        if not 0 <= index < self.size:
            return None
        offset = index >> 2
        if self._dense is not None:
            byte = self._dense[offset]
        else:
            k = bisect_left(self._offsets, offset)
            byte = self._values[k] if k < len(self._offsets) and self._offsets[k] == offset else 0
        return (byte >> ((index & 3) * 2)) & 3

    def is_expired(self, now: int) -> bool:
        return now >= self.expires_at


def token_from_bytes(raw: bytes) -> str:
    """A status list as stored or sent: the compact JWS, optionally ended by one newline (the
    line end of the file it is kept in). Nothing else is stripped; anything else is part of
    the token, and the token is refused."""
    if raw.endswith(b"\n"):
        raw = raw[:-1]
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        raise DocumentError("status list refused: not ASCII", reason=Reason.MALFORMED_TOKEN) from None


def _refused(why: str, reason: Reason) -> DocumentError:
    return DocumentError(f"status list refused: {why}", reason=reason)


def open_status_list(token: str, registry: Registry, agency: str, now: int) -> StatusList:
    """Verify `agency`'s status list against the registry and unpack it.

    The signing key must be one of `agency`'s own registered keys, not compromised and valid
    when the list was issued; only then is the payload inflated, to exactly size/4 bytes.
    Expiry is not checked here: a verifier keeps an expired list to say `status_stale`.
    Raises DocumentError with a verdict reason code saying what was wrong.
    """
    _check_proportionate(token)
    jws = parse_compact(token, MAX_STATUS_TOKEN_LENGTH)
    alg, kid = check_header(jws.header, TYP_STATUS_LIST, _HEADER_MEMBERS)
    header = jws.header
    iss, iat, exp, size = header.get("iss"), header.get("iat"), header.get("exp"), header.get("size")
    if iss is None:
        raise _refused("iss missing", Reason.MISSING_CLAIM)
    if not (isinstance(iss, str) and is_identifier(iss)):
        raise _refused("iss malformed", Reason.BAD_CLAIM)
    if type(iat) is not int or type(exp) is not int or type(size) is not int:
        raise _refused("iat, exp and size must be integers", Reason.BAD_CLAIM)
    if size % 4 or not MIN_SIZE <= size <= MAX_SIZE or not 0 <= iat < exp <= MAX_TIME:
        raise _refused("size, iat or exp out of range", Reason.BAD_CLAIM)
    key = registry.key(kid)
    if key is None:
        raise _refused("signed by a key the registry does not know", Reason.UNKNOWN_KEY)
    if key.agency != iss or iss != agency:
        raise _refused(f"a list of {iss} signed by a key of {key.agency}, expected {agency}", Reason.ISSUER_KEY_MISMATCH)
    if key.alg != alg:
        raise _refused("algorithm does not match the registered key", Reason.ALGORITHM_MISMATCH)
    if key.compromised:
        raise KeyCompromised("status list refused: signing key is compromised")
    if not key.usable_for_signing_at(iat):
        raise _refused("signing key was not valid when the list was issued", Reason.KEY_NOT_VALID_AT_ISSUE)
    if not key.public_key.verify(jws.signature, jws.signing_input):
        raise _refused("bad signature", Reason.BAD_SIGNATURE)
    if iat > now + ISSUED_AT_LEEWAY:
        raise _refused("issued in the future", Reason.ISSUED_IN_FUTURE)
    bits = _inflate_exactly(jws.payload, size // 4)
    return _unpacked(agency, iat, exp, size, token, bits)


def max_payload_length(size: int) -> int:
    """The longest payload segment a list of `size` entries can have: its size/4 bytes after
    bzip2, which makes n bytes at most n + n/100 + 600 (the bzip2 manual's output bound), in
    base64url."""
    compressed = size // 4 + size // 400 + 600
    return (4 * compressed + 2) // 3


def _check_proportionate(token: str) -> None:
    """A list is a compact JWS (one signature, no other serialisation) no larger than a list
    of its declared size can be: checked on its form alone, before the payload is decoded or
    the signature checked, so a list padded to the token cap costs no more than a small one."""
    header_b64, payload_b64, signature_b64 = split_compact(token, MAX_STATUS_TOKEN_LENGTH)
    size = decode_header(header_b64).get("size")
    # A size out of range is refused later as bad_claim; it earns no more room than the smallest.
    entries = size if type(size) is int and MIN_SIZE <= size <= MAX_SIZE else MIN_SIZE
    if len(payload_b64) > max_payload_length(entries) or len(signature_b64) > SIGNATURE_CHARS:
        raise _refused(f"larger than any list of {entries} entries", Reason.TOKEN_TOO_LARGE)


def _inflate_exactly(payload: bytes, length: int) -> bytes:
    inflater = bz2.BZ2Decompressor()
    try:
        bits = inflater.decompress(payload, length)
        # One more byte asked for: a stream that inflates beyond `length` is refused, not cut.
        extra = b"" if inflater.eof else inflater.decompress(b"", 1)
    except (OSError, EOFError, ValueError):
        raise _refused("payload is not bzip2 data", Reason.MALFORMED_TOKEN) from None
    if len(bits) != length or extra or not inflater.eof or inflater.unused_data:
        raise _refused("payload does not hold exactly size entries", Reason.MALFORMED_TOKEN)
    return bits


_NON_ZERO = re.compile(rb"[^\x00]")


def _unpacked(agency: str, iat: int, exp: int, size: int, token: str, bits: bytes) -> StatusList:
    non_zero = len(bits) - bits.count(0)
    # Sparse costs 5 bytes per non-zero byte; past 1 in 5 the plain array is smaller.
    if non_zero * 5 >= len(bits):
        return StatusList(agency, iat, exp, size, token, array("I"), b"", bits)
    offsets = array("I", (m.start() for m in _NON_ZERO.finditer(bits)))
    values = bytes(bits[o] for o in offsets)
    return StatusList(agency, iat, exp, size, token, offsets, values, None)
