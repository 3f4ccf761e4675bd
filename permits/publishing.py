"""Publishing an agency's status list from its ledger."""

from __future__ import annotations

from collections.abc import Callable

from keys.errors import DocumentError
from keys.registry import Registry
from keys.signer import Signer
from permits.home import Home
from permits.status_list import StatusList, build_status_list, token_from_bytes, unverified_issued_at

DEFAULT_STATUS_TTL = 2 * 86_400


def publish_status_list(
    home: Home, registry: Registry, agency: str, signer: Signer, now: int, ttl: int = DEFAULT_STATUS_TTL,
    progress: Callable[[int, int], None] | None = None,
) -> StatusList:
    """Sign the current statuses of every permit version in the ledger and install the list
    in the home (where `permit status push` and a verifier's file source find it).
    `ttl` is the list's lifetime (exp - iat), not the draft's `ttl` claim (status_list.TTL).
    `progress(done, 3)` after each step: reading the ledger, compressing and signing, installing."""
    report = progress or (lambda done, total: None)
    # Each list must be newer than the last (verifiers refuse anything else), even when an
    # officer revokes and republishes within the same second, and even when the list held no
    # longer verifies (its key since declared compromised, its place moved in the registry):
    # its issue time is read without verifying it, only to move past it.
    held_at = _held_issued_at(home, agency)
    issued_at = max(now, held_at + 1) if held_at is not None else now
    ledger = home.ledger(agency, create=True)  # an agency that has issued nothing has an empty list
    try:
        entries = ledger.status_entries()
        report(1, 3)
        uri = registry.agencies[agency].status_url
        token = build_status_list(uri, ledger.status_list_size, entries, signer, issued_at, issued_at + ttl)
        report(2, 3)
    finally:
        ledger.close()
    installed = home.install_status_list(token, registry, agency, now)
    report(3, 3)
    return installed


def _held_issued_at(home: Home, agency: str) -> int | None:
    try:
        return unverified_issued_at(token_from_bytes(home.status_path(agency).read_bytes()))
    except (OSError, DocumentError):
        return None
