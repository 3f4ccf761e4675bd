"""The one error hierarchy of the project.

It lives at the bottom layer so that keys/, permits/, verifier/ and the CLI all raise and report
the same reasons (keys/reasons.py). A caller that acts on a condition catches its type (e.g.
WrongPassphrase, RegistryRollback), never compares a reason. How an error is answered over HTTP
is the web layer's business (verifier/web/errors.py).
"""

from __future__ import annotations

from keys.reasons import Reason


class Term(str):
    """A word of an error's own sentence given as one of its fields (a state, a field's name),
    marked N_() where it is written: shown in the sentence's language, where a value (an id, a
    file, what the officer typed) is shown as it is."""

    __slots__ = ()


class PermitError(Exception):
    """Base of every error the project raises on purpose.

    `reason` is a stable machine-readable code; the message is one line for a person.
    """

    reason: Reason = Reason.ERROR

    def __init__(self, message: str, *, reason: Reason | None = None, **params: object) -> None:
        """`message` is the English line; with `params` it is a template (`str.format` fields)
        marked N_() for the catalogue, so a front end can show it in another language:
        `InputError(N_("permit {id} is already revoked"), reason=…, id=permit_id)`."""
        text = message.format(**params) if params else message
        super().__init__(text)
        self.message = text
        self.template = message
        self.params = params
        # An instance may narrow the class's reason (e.g. InputError("…", reason=Reason.BAD_DATES)).
        if reason is not None:
            self.reason = reason

    def __str__(self) -> str:
        return self.message


class DocumentError(PermitError):
    """A signed document (permit, status list, registry) failed a check; reason is a verdict code."""

    reason = Reason.MALFORMED_TOKEN


class RegistryError(DocumentError):
    """The trust registry cannot be trusted: invalid, rolled back or stale."""

    reason = Reason.REGISTRY_INVALID


class KeyFileError(PermitError):
    """A private key file is missing, unreadable, readable by others, or the passphrase is wrong."""

    reason = Reason.KEY_FILE_INVALID


class InputError(PermitError):
    """Input from an officer or a client is not acceptable (bad date, unknown agency, …)."""

    reason = Reason.BAD_INPUT


class NotFoundError(PermitError):
    """The thing asked for does not exist (permit, agency, home, registry file)."""

    reason = Reason.NOT_FOUND


class ConflictError(PermitError):
    """The request contradicts the current state (duplicate number, revoking twice, stale version)."""

    reason = Reason.CONFLICT


class LedgerError(PermitError):
    """The agency's ledger database is corrupt or not a ledger."""

    reason = Reason.LEDGER_CORRUPT


# --- conditions callers act on ----------------------------------------------------------------


class WrongPassphrase(KeyFileError):
    """The passphrase does not open the key file."""

    reason = Reason.BAD_PASSPHRASE


class RegistryRollback(RegistryError):
    """A registry older than one already accepted, or another document under the same version."""

    reason = Reason.REGISTRY_ROLLBACK


class RegistryStale(RegistryError):
    """A genuine registry past its expiry."""

    reason = Reason.REGISTRY_STALE


class KeyCompromised(DocumentError):
    """Signed by a key the registry declares compromised: whatever it signed counts for nothing."""

    reason = Reason.KEY_COMPROMISED


class LedgerSchemaUnknown(LedgerError):
    """A ledger migrated by a newer version of this program."""

    reason = Reason.LEDGER_SCHEMA_UNKNOWN
