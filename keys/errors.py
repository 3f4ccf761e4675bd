"""The one error hierarchy of the project and its closed set of reason codes.

It lives at the bottom layer so that keys/, permits/, verifier/ and the CLI all raise and
report the same codes. Verdict reasons are the contract in DESIGN.md: add codes, never rename.
"""

from __future__ import annotations

from typing import ClassVar

# Reasons a verdict can carry (DESIGN.md, "Verdict and reason codes").
VERDICT_REASONS: frozenset[str] = frozenset(
    {
        # token form
        "malformed_token",
        "token_too_large",
        "unsupported_header",
        "wrong_type",
        # keys
        "unknown_issuer",
        "unknown_key",
        "issuer_key_mismatch",
        "algorithm_mismatch",
        "bad_signature",
        # key state
        "key_not_valid_at_issue",
        "key_compromised",
        # authority
        "not_authorised_for_type",
        # claims
        "missing_claim",
        "bad_claim",
        "non_canonical_text",
        # time
        "expired",
        "not_yet_valid",
        "issued_in_future",
        # status
        "revoked",
        "suspended",
        "superseded",
        "status_unavailable",
        "status_stale",
        # registry
        "registry_invalid",
        "registry_rollback",
        "registry_stale",
        # added: a verifier that holds no trusted registry at all (never received one)
        "registry_unavailable",
    }
)


class PermitError(Exception):
    """Base of every error the project raises on purpose.

    `reason` is a stable machine-readable code; `http_status` is what the API answers when
    the error reaches HTTP; the message is one line for a person.
    """

    reason: ClassVar[str] = "error"
    http_status: ClassVar[int] = 400

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        # An instance may narrow the class's reason (e.g. RegistryError("…", reason="registry_stale")).
        if reason is not None:
            self.reason = reason  # type: ignore[misc]

    def __str__(self) -> str:
        return self.message


class DocumentError(PermitError):
    """A signed document (permit, status list, registry) failed a check; reason is a verdict code."""

    reason = "malformed_token"
    http_status = 422


class RegistryError(DocumentError):
    """The trust registry cannot be trusted: invalid, rolled back or stale."""

    reason = "registry_invalid"


class KeyFileError(PermitError):
    """A private key file is missing, unreadable, readable by others, or the passphrase is wrong."""

    reason = "key_file_invalid"


class InputError(PermitError):
    """Input from an officer or a client is not acceptable (bad date, unknown agency, …)."""

    reason = "bad_input"


class NotFoundError(PermitError):
    """The thing asked for does not exist (permit, agency, home, registry file)."""

    reason = "not_found"
    http_status = 404


class ConflictError(PermitError):
    """The request contradicts the current state (duplicate number, revoking twice, stale version)."""

    reason = "conflict"
    http_status = 409


class LedgerError(PermitError):
    """The agency's ledger database is corrupt or not a ledger."""

    reason = "ledger_corrupt"
    http_status = 500
