"""Status lists: each agency's signed, compressed array of 2-bit permit states, as a Token Status
List (IETF draft-ietf-oauth-status-list, its JWT form).

Followed: revision -21 of the draft (the current one, November 2026), sections "Status List",
"Status List in JSON Format", "Status List Token in JWT Format" and "Status Types"; the text read
was the working group's editor's copy of those sections, unchanged in substance since -06.

    header  {"alg", "kid", "typ": "statuslist+jwt"}
    claims  {"sub": the list's URI, "iat", "exp", "ttl",
             "status_list": {"bits": 2, "lst": base64url, unpadded, of ZLIB (RFC 1950) data}}
    array   entry i in bits 2(i%4)..2(i%4)+1 of byte i//4 (the draft's order: index 0 in the
            least significant bits of byte 0); size = 4 entries per byte of the inflated array
    values  0 VALID, 1 INVALID (revoked), 2 SUSPENDED: the draft's Status Types;
            3 superseded: the draft's application-specific value 0x03 (a newer version of the
            permit exists; the permit is not in force, as for INVALID)

`sub` is the `status_url` the registry gives the agency: a list is accepted only where the
registry says it lives. The agency is known by the key alone (kid → agency in the registry); a
list carries no `iss`, and one that does must name the agency. The draft lets a list hold other
claims: they are read as strict JSON and otherwise ignored, except the two that RFC 7519 gives a
meaning a verifier must honour (`nbf`: not yet valid; `aud`: a list meant for someone else).
`status_list.aggregation_uri` and other members of `status_list` are ignored, never followed.
Our policy on top of the draft ("additional restrictions are at the discretion of the relying
party"): `exp` is required, `bits` must be 2, and the list holds 131,072 to 2^26 entries.

Permits get random indexes in a list of at least 131,072 entries, so fetching a list tells
nobody which permit is being checked (herd privacy).

Transition: lists written before this format (claims in the protected header, bzip2 payload)
are still accepted until LEGACY_ACCEPTED_UNTIL, by the verifier's clock; after it they are refused
as any list with those header members is (`unsupported_header`). Publishing writes only the
draft's form. docs/operator.md, "Upgrade", says what an upgrade involves.
"""

from __future__ import annotations

import bz2
import re
import zlib
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from keys.encoding import b64url_decode, b64url_encode, dumps_canonical, loads_strict
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
from keys.registry import AgencyKey, Registry
from keys.signer import Signer
from keys.text import is_identifier

MIN_SIZE = 131_072
MAX_SIZE = 1 << 26  # 67 million permits per agency: 16 MiB inflated, the decompression bound
MAX_STATUS_TOKEN_LENGTH = 8 * 1024 * 1024
BITS = 2
# The draft's ttl: how long a reader may keep a list before fetching it again. Our nodes pull
# every 60 s (REFRESH_INTERVAL), the delay within which the city promises a revocation is seen.
TTL = 60
_HEADER_MEMBERS = frozenset({"alg", "kid", "typ"})
# 2027-03-01T00:00:00Z: lists in the format before the Token Status List are accepted until then.
LEGACY_ACCEPTED_UNTIL = 1_803_859_200
_LEGACY_HEADER_MEMBERS = frozenset({"alg", "kid", "typ", "iss", "iat", "exp", "size"})


class Status(IntEnum):
    VALID = 0
    REVOKED = 1  # the draft's INVALID
    SUSPENDED = 2
    SUPERSEDED = 3  # the draft's application-specific 0x03


def build_status_list(
    uri: str,
    size: int,
    entries: Iterable[tuple[int, int]],
    signer: Signer,
    issued_at: int,
    expires_at: int,
    ttl: int = TTL,
) -> str:
    """Sign the list of `size` entries in which `entries` (index, status) are non-zero, as a
    Status List Token whose `sub` is `uri` (the agency's `status_url` in the registry).
    Raises ValueError for a size, entry or time out of range."""
    if size % 4 or not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"status list size must be a multiple of 4 in [{MIN_SIZE}, {MAX_SIZE}]")
    if not 0 <= issued_at < expires_at <= MAX_TIME or not 0 < ttl <= MAX_TIME:
        raise ValueError("status list times out of range")
    bits = bytearray(size // 4)
    for index, status in entries:
        if not 0 <= index < size or not 0 <= status <= 3:
            raise ValueError(f"status entry {index}={status} out of range")
        shift = (index & 3) * 2
        bits[index >> 2] = (bits[index >> 2] & ~(3 << shift)) | (status << shift)
    lst = b64url_encode(zlib.compress(bytes(bits), 9))
    claims = {"sub": uri, "iat": issued_at, "exp": expires_at, "ttl": ttl, "status_list": {"bits": BITS, "lst": lst}}
    return sign_compact(dumps_canonical(claims), signer, TYP_STATUS_LIST)


@dataclass(frozen=True)
class StatusList:
    """A verified status list. Looks up by index without holding the whole array when most
    entries are zero: (byte offset, byte) pairs for the non-zero bytes, else the array.
    `legacy`: the list is in the format before the Token Status List (ttl is then None)."""

    agency: str
    issued_at: int
    expires_at: int
    size: int
    token: str = field(repr=False)
    _offsets: array = field(repr=False, compare=False)  # type: ignore[type-arg]
    _values: bytes = field(repr=False, compare=False)
    _dense: bytes | None = field(repr=False, compare=False)
    ttl: int | None = None
    legacy: bool = False

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


def in_legacy_form(token: str) -> bool:
    """Whether the list is in the format before the Token Status List (its header holds the
    claims), whether or not that format is still accepted; False for anything unreadable."""
    try:
        header = decode_header(split_compact(token, MAX_STATUS_TOKEN_LENGTH)[0])
    except DocumentError:
        return False
    return bool(header.keys() - _HEADER_MEMBERS) and header.keys() <= _LEGACY_HEADER_MEMBERS


def open_status_list(token: str, registry: Registry, agency: str, now: int) -> StatusList:
    """Verify `agency`'s status list against the registry and unpack it.

    The signing key must be one of `agency`'s own registered keys, not compromised and valid
    when the list was issued; only then are the claims decoded, `sub` compared with the
    agency's `status_url` and `lst` inflated, to at most MAX_SIZE entries.
    Expiry is not checked here: a verifier keeps an expired list to say `status_stale`.
    Raises DocumentError with a verdict reason code saying what was wrong.
    """
    header_b64, _, signature_b64 = split_compact(token, MAX_STATUS_TOKEN_LENGTH)
    header = decode_header(header_b64)
    if now < LEGACY_ACCEPTED_UNTIL and header.keys() - _HEADER_MEMBERS and header.keys() <= _LEGACY_HEADER_MEMBERS:
        return _open_legacy(token, registry, agency, now)
    # One compact signature, checked on its form before any cryptography.
    if len(signature_b64) > SIGNATURE_CHARS:
        raise _refused("larger than a list with one signature", Reason.TOKEN_TOO_LARGE)
    jws = parse_compact(token, MAX_STATUS_TOKEN_LENGTH)
    alg, kid = check_header(jws.header, TYP_STATUS_LIST, _HEADER_MEMBERS)
    key = _agency_key(registry, kid, alg, agency)
    if not key.public_key.verify(jws.signature, jws.signing_input):
        raise _refused("bad signature", Reason.BAD_SIGNATURE)
    try:
        claims = loads_strict(jws.payload)
    except ValueError:
        raise _refused("claims are not strict JSON", Reason.MALFORMED_TOKEN) from None
    if not isinstance(claims, dict):
        raise _refused("claims are not a JSON object", Reason.MALFORMED_TOKEN)
    iat, exp, ttl, lst = _check_claims(claims, registry, agency, now)
    if not key.usable_for_signing_at(iat):
        raise _refused("signing key was not valid when the list was issued", Reason.KEY_NOT_VALID_AT_ISSUE)
    if iat > now + ISSUED_AT_LEEWAY:
        raise _refused("issued in the future", Reason.ISSUED_IN_FUTURE)
    try:
        compressed = b64url_decode(lst)
    except ValueError:
        raise _refused("lst is not canonical base64url", Reason.MALFORMED_TOKEN) from None
    bits = _inflate_at_most(compressed, MAX_SIZE // 4)
    if len(bits) * 4 < MIN_SIZE:
        raise _refused(f"fewer than {MIN_SIZE} entries", Reason.MALFORMED_TOKEN)
    return _unpacked(agency, iat, exp, len(bits) * 4, token, bits, ttl, legacy=False)


def _agency_key(registry: Registry, kid: str, alg: str, agency: str) -> AgencyKey:
    """The registered key `kid`, if it is one of `agency`'s, under `alg`, and not compromised."""
    key = registry.key(kid)
    if key is None:
        raise _refused("signed by a key the registry does not know", Reason.UNKNOWN_KEY)
    if key.agency != agency:
        raise _refused(f"a list of {agency} signed by a key of {key.agency}", Reason.ISSUER_KEY_MISMATCH)
    if key.alg != alg:
        raise _refused("algorithm does not match the registered key", Reason.ALGORITHM_MISMATCH)
    if key.compromised:
        raise KeyCompromised("status list refused: signing key is compromised")
    return key


def _time(claims: dict[str, Any], name: str) -> int:
    if name not in claims:
        raise _refused(f"{name} missing", Reason.MISSING_CLAIM)
    value = claims[name]
    if type(value) is not int or not 0 <= value <= MAX_TIME:
        raise _refused(f"{name} must be a time in whole seconds up to year 9999", Reason.BAD_CLAIM)
    return value


def _check_claims(claims: dict[str, Any], registry: Registry, agency: str, now: int) -> tuple[int, int, int | None, str]:
    """(iat, exp, ttl, lst) of a verified list's claims. `sub` must be exactly (RFC 3986 simple
    string comparison) the place the registry gives the agency's list."""
    if "sub" not in claims:
        raise _refused("sub missing", Reason.MISSING_CLAIM)
    sub = claims["sub"]
    expected = registry.agencies[agency].status_url if agency in registry.agencies else None
    if sub != expected:
        raise _refused(f"sub {sub!r} is not where the registry says the list of {agency} lives ({expected})", Reason.BAD_CLAIM)
    if "iss" in claims and claims["iss"] != agency:
        raise _refused(f"iss {claims['iss']!r} is not {agency}", Reason.ISSUER_KEY_MISMATCH)
    if "aud" in claims:
        raise _refused("a list for a particular audience is not a public status list", Reason.BAD_CLAIM)
    iat, exp = _time(claims, "iat"), _time(claims, "exp")
    if not iat < exp:
        raise _refused("exp is not after iat", Reason.BAD_CLAIM)
    if "nbf" in claims and _time(claims, "nbf") > now + ISSUED_AT_LEEWAY:
        raise _refused("not valid before a time still to come", Reason.NOT_YET_VALID)
    ttl = claims.get("ttl", 0)
    if "ttl" in claims and (type(ttl) is not int or not 0 < ttl <= MAX_TIME):
        raise _refused("ttl must be a positive number of seconds", Reason.BAD_CLAIM)
    if "status_list" not in claims:
        raise _refused("status_list missing", Reason.MISSING_CLAIM)
    status_list = claims["status_list"]
    if not isinstance(status_list, dict) or "bits" not in status_list or "lst" not in status_list:
        raise _refused("status_list must hold bits and lst", Reason.MISSING_CLAIM if isinstance(status_list, dict) else Reason.BAD_CLAIM)
    if type(status_list["bits"]) is not int or status_list["bits"] != BITS:
        raise _refused(f"bits must be {BITS}", Reason.BAD_CLAIM)
    lst = status_list["lst"]
    if not isinstance(lst, str):
        raise _refused("lst must be a string", Reason.BAD_CLAIM)
    return iat, exp, ttl or None, lst


def _inflate_at_most(data: bytes, limit: int) -> bytes:
    """The ZLIB stream `data` inflated, refused if it holds more than `limit` bytes (no more
    than limit + 1 are ever produced), is not ZLIB (raw DEFLATE, gzip, a preset dictionary), is
    cut short, or is followed by anything."""
    inflater = zlib.decompressobj()
    try:
        bits = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise _refused("lst is not ZLIB data", Reason.MALFORMED_TOKEN) from None
    if len(bits) > limit:
        raise _refused(f"lst holds more than {MAX_SIZE} entries", Reason.MALFORMED_TOKEN)
    if not inflater.eof or inflater.unused_data or inflater.unconsumed_tail:
        raise _refused("lst is not exactly one whole ZLIB stream", Reason.MALFORMED_TOKEN)
    return bits


def unverified_issued_at(token: str) -> int | None:
    """The `iat` a list says, read without checking anything else: only for a list held, which
    was verified when it was installed. None when it cannot be read."""
    try:
        header_b64, payload_b64, _ = split_compact(token, MAX_STATUS_TOKEN_LENGTH)
        header = decode_header(header_b64)
        source = header if "iat" in header else loads_strict(b64url_decode(payload_b64))
    except (DocumentError, ValueError):
        return None
    issued_at = source.get("iat") if isinstance(source, dict) else None
    return issued_at if type(issued_at) is int else None


# --- the format before the Token Status List (read until LEGACY_ACCEPTED_UNTIL) ---------------
#     header  {"alg", "kid", "typ": "statuslist+jwt", "iss": agency, "iat", "exp", "size"}
#     payload bzip2 of the array, laid out as above


def _open_legacy(token: str, registry: Registry, agency: str, now: int) -> StatusList:
    _check_proportionate(token)
    jws = parse_compact(token, MAX_STATUS_TOKEN_LENGTH)
    alg, kid = check_header(jws.header, TYP_STATUS_LIST, _LEGACY_HEADER_MEMBERS)
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
    key = _agency_key(registry, kid, alg, agency)
    if iss != agency:
        raise _refused(f"a list of {iss}, expected {agency}", Reason.ISSUER_KEY_MISMATCH)
    if not key.usable_for_signing_at(iat):
        raise _refused("signing key was not valid when the list was issued", Reason.KEY_NOT_VALID_AT_ISSUE)
    if not key.public_key.verify(jws.signature, jws.signing_input):
        raise _refused("bad signature", Reason.BAD_SIGNATURE)
    if iat > now + ISSUED_AT_LEEWAY:
        raise _refused("issued in the future", Reason.ISSUED_IN_FUTURE)
    bits = _bunzip_exactly(jws.payload, size // 4)
    return _unpacked(agency, iat, exp, size, token, bits, None, legacy=True)


def max_payload_length(size: int) -> int:
    """The longest payload segment a legacy list of `size` entries can have: its size/4 bytes
    after bzip2, which makes n bytes at most n + n/100 + 600 (the bzip2 manual's output bound),
    in base64url."""
    compressed = size // 4 + size // 400 + 600
    return (4 * compressed + 2) // 3


def _check_proportionate(token: str) -> None:
    """A legacy list is no larger than a list of its declared size can be: checked on its form
    alone, before the payload is decoded or the signature checked."""
    header_b64, payload_b64, signature_b64 = split_compact(token, MAX_STATUS_TOKEN_LENGTH)
    size = decode_header(header_b64).get("size")
    entries = size if type(size) is int and MIN_SIZE <= size <= MAX_SIZE else MIN_SIZE
    if len(payload_b64) > max_payload_length(entries) or len(signature_b64) > SIGNATURE_CHARS:
        raise _refused(f"larger than any list of {entries} entries", Reason.TOKEN_TOO_LARGE)


def _bunzip_exactly(payload: bytes, length: int) -> bytes:
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


def _unpacked(agency: str, iat: int, exp: int, size: int, token: str, bits: bytes, ttl: int | None, legacy: bool) -> StatusList:
    non_zero = len(bits) - bits.count(0)
    # Sparse costs 5 bytes per non-zero byte; past 1 in 5 the plain array is smaller.
    if non_zero * 5 >= len(bits):
        return StatusList(agency, iat, exp, size, token, array("I"), b"", bits, ttl, legacy)
    offsets = array("I", (m.start() for m in _NON_ZERO.finditer(bits)))
    values = bytes(bits[o] for o in offsets)
    return StatusList(agency, iat, exp, size, token, offsets, values, None, ttl, legacy)
