"""Every reason the project gives for a refusal, as one enumeration, each with its sentence.

A reason is the stable, machine-readable half of every refusal: each reason a verdict carries,
an API error's `reason`, the CLI's `[reason]`. The codes are the contract (DESIGN.md, "Verdict and
reason codes"): add members, never rename a code. Beside each code is its sentence for people,
in English; its Vietnamese is in the gettext catalogue (permits/locale/vi, found by the English
sentence, as every message of the project is), so each reason is written down once.

A member is a `str` (StrEnum): it compares, formats and serialises to JSON as its code.
Conditions a caller acts on are exception types (keys/errors.py), not reasons to compare.
"""

from __future__ import annotations

from enum import StrEnum


def N_(message: str) -> str:  # noqa: N802 (the gettext convention)
    """Mark `message` for the catalogue (tests/messages.py extracts it); translated where shown."""
    return message


class Reason(StrEnum):
    """A reason code and its English sentence (`.sentence`)."""

    sentence: str

    def __new__(cls, code: str, sentence: str) -> Reason:
        member = str.__new__(cls, code)
        member._value_ = code
        member.sentence = sentence
        return member

    @classmethod
    def of(cls, code: str) -> Reason | None:
        """The member whose code is `code` (a code received from elsewhere), or None."""
        member = cls.__members__.get(code.upper())
        return member if member is not None and member.value == code else None

    # --- what a verdict can carry (VERDICT_REASONS): why a permit is not valid ---------------------
    # token form
    MALFORMED_TOKEN = "malformed_token", N_("The code is not in the format of an electronic permit.")
    TOKEN_TOO_LARGE = "token_too_large", N_("The code is too long to be a permit.")
    UNSUPPORTED_HEADER = "unsupported_header", N_("The code uses a signing method that is not accepted.")
    WRONG_TYPE = "wrong_type", N_("This is another kind of document, not a permit.")
    # keys
    UNKNOWN_ISSUER = "unknown_issuer", N_("The issuing agency is not in the list of trusted agencies.")
    UNKNOWN_KEY = "unknown_key", N_("The signature is not from any key of a trusted agency.")
    ISSUER_KEY_MISMATCH = "issuer_key_mismatch", N_("The permit was signed with a key of another agency than the one it names.")
    ALGORITHM_MISMATCH = "algorithm_mismatch", N_("The signing algorithm does not match the registered key.")
    BAD_SIGNATURE = "bad_signature", N_("The digital signature does not match: the content was altered or the permit is forged.")
    # key state
    KEY_NOT_VALID_AT_ISSUE = "key_not_valid_at_issue", N_("The signing key was not valid when the permit was signed.")
    KEY_COMPROMISED = "key_compromised", N_("The agency's signing key was compromised; every permit signed with it is invalid. Ask the agency for a re-issued permit.")
    # authority
    NOT_AUTHORISED_FOR_TYPE = "not_authorised_for_type", N_("This agency is not authorised to issue this type of permit.")
    # claims
    MISSING_CLAIM = "missing_claim", N_("The permit lacks required information.")
    BAD_CLAIM = "bad_claim", N_("Information on the permit is not valid.")
    NON_CANONICAL_TEXT = "non_canonical_text", N_("The permit contains characters that are not allowed or not normalised.")
    # time
    EXPIRED = "expired", N_("The permit's period of validity has ended.")
    NOT_YET_VALID = "not_yet_valid", N_("The permit's period of validity has not started yet.")
    ISSUED_IN_FUTURE = "issued_in_future", N_("The permit claims to have been signed in the future.")
    # status
    REVOKED = "revoked", N_("The issuing agency has revoked this permit.")
    SUSPENDED = "suspended", N_("The issuing agency has suspended this permit.")
    SUPERSEDED = "superseded", N_("This permit has been replaced by a newer version. Ask for the current one.")
    STATUS_UNAVAILABLE = "status_unavailable", N_("The issuing agency's status list is not available, so whether the permit was revoked is unknown.")
    STATUS_STALE = "status_stale", N_("The status list is out of date; the permit cannot be confirmed as in force.")
    # registry
    REGISTRY_INVALID = "registry_invalid", N_("The list of trusted agencies is not valid.")
    REGISTRY_ROLLBACK = "registry_rollback", N_("The list of trusted agencies is older than one already received.")
    REGISTRY_STALE = "registry_stale", N_("The list of trusted agencies has expired; the permit cannot be checked now.")
    # added: a verifier that holds no trusted registry at all (never received one)
    REGISTRY_UNAVAILABLE = "registry_unavailable", N_("This verifier has not received the list of trusted agencies yet; the permit cannot be checked now.")
    # added: the permits a permit rests on (its basis), followed offline in the same status lists
    BASIS_INVALID = "basis_invalid", N_("A permit this one rests on is not genuine, or its agency may not issue that type of permit.")
    BASIS_REVOKED = "basis_revoked", N_("A permit this one rests on has been revoked by the agency that issued it.")
    BASIS_SUSPENDED = "basis_suspended", N_("A permit this one rests on is suspended by the agency that issued it.")
    BASIS_STATUS_UNAVAILABLE = "basis_status_unavailable", N_("The status list of the agency that issued a permit this one rests on is not available, so whether that permit is in force is unknown.")
    BASIS_STATUS_STALE = "basis_status_stale", N_("The status list for a permit this one rests on is out of date; this permit cannot be confirmed as in force.")

    # --- errors: why a command or an API request could not be carried out -----------------------
    ERROR = "error", N_("The request could not be carried out.")
    BASIS_DUPLICATE = "basis_duplicate", N_("The same permit, or two permits of the same type, are given as the basis.")
    BASIS_EXPIRED = "basis_expired", N_("The permit given as the basis is not in force on these dates.")
    BASIS_HOLDER_MISMATCH = "basis_holder_mismatch", N_("The holder's name or address differs from the one on the permit given as the basis.")
    BASIS_MISSING = "basis_missing", N_("This type of permit rests on another permit: give that permit's QR code as the basis.")
    BASIS_NOT_FOUND = "basis_not_found", N_("No permit was found for the basis given.")
    BASIS_STATUS_UNKNOWN = "basis_status_unknown", N_("Whether the permit given as the basis is in force cannot be known now: its agency's status list is missing or out of date.")
    BASIS_SUPERSEDED = "basis_superseded", N_("The permit given as the basis has been replaced by a newer version; use the current one.")
    BASIS_WRONG_HOLDER = "basis_wrong_holder", N_("The permit given as the basis belongs to another holder.")
    BASIS_WRONG_TYPE = "basis_wrong_type", N_("The permit given as the basis is not of a type this permit type rests on.")
    REQUIREMENT_CYCLE = "requirement_cycle", N_("Permit types cannot rest on each other in a circle.")
    INTERNAL = "internal", N_("An unexpected error occurred inside the program.")
    INTERNAL_ERROR = "internal_error", N_("The verifier failed unexpectedly.")
    BAD_REQUEST = "bad_request", N_("The request could not be read.")
    METHOD_NOT_ALLOWED = "method_not_allowed", N_("This address does not accept this kind of request.")
    HTTP_ERROR = "http_error", N_("The request was refused.")
    IO_ERROR = "io_error", N_("A file could not be read or written.")
    ALREADY_INITIALISED = "already_initialised", N_("This home already has a registry.")
    ALREADY_ACTIVE = "already_active", N_("The permit is already in force.")
    ALREADY_SUSPENDED = "already_suspended", N_("The permit is already suspended.")
    ALREADY_REVOKED = "already_revoked", N_("The permit is already revoked.")
    ALREADY_RETIRED = "already_retired", N_("The key is already retired.")
    AMBIGUOUS_PERMIT = "ambiguous_permit", N_("Several ledgers hold a permit with this id; name the agency.")
    ANCHOR_MISSING = "anchor_missing", N_("This home has no trust anchor (anchor.json) yet.")
    ANCHOR_CONFLICT = "anchor_conflict", N_("This home already trusts a different trust anchor.")
    BAD_ALGORITHM = "bad_algorithm", N_("The signing algorithm is not one this service accepts.")
    BAD_ANCHOR = "bad_anchor", N_("The trust anchor file is not valid.")
    BAD_BATCH_SIZE = "bad_batch_size", N_("The batch size is out of range.")
    BAD_COLUMNS = "bad_columns", N_("The CSV file's header does not have the columns an import needs.")
    BAD_CONFIG = "bad_config", N_("A setting is not valid.")
    BAD_DATES = "bad_dates", N_("The dates are not valid.")
    BAD_DRAFT = "bad_draft", N_("The registry draft is not valid.")
    BAD_ENCODING = "bad_encoding", N_("The text is not valid UTF-8.")
    BAD_HOLDER_ID = "bad_holder_id", N_("The holder's registration code is not valid.")
    BAD_IDENTIFIER = "bad_identifier", N_("The identifier is not valid.")
    BAD_IMAGE = "bad_image", N_("The image cannot be read.")
    BAD_IMPORT_FILE = "bad_import_file", N_("The import file cannot be read.")
    BAD_INPUT = "bad_input", N_("The input is not valid.")
    BAD_LANGUAGE = "bad_language", N_("This language is not available.")
    BAD_JSON = "bad_json", N_("The JSON is not valid.")
    BAD_KEY_FILE = "bad_key_file", N_("The key file is not valid.")
    BAD_OUTPUT = "bad_output", N_("The output file type is not supported.")
    BAD_PASSPHRASE = "bad_passphrase", N_("The passphrase is wrong.")
    BAD_REGISTRY_FILE = "bad_registry_file", N_("The registry file cannot be read.")
    BAD_TEXT = "bad_text", N_("The text is not acceptable.")
    BAD_THRESHOLD = "bad_threshold", N_("The threshold of root signatures is not valid.")
    BAD_TTL = "bad_ttl", N_("The validity period of the status list is out of range.")
    BAD_URL = "bad_url", N_("The address is not valid.")
    BAD_VALIDITY = "bad_validity", N_("The validity period is not valid.")
    BELOW_THRESHOLD = "below_threshold", N_("Not enough root keys signed.")
    CONFLICT = "conflict", N_("The request contradicts the current state.")
    DUPLICATE_AGENCY = "duplicate_agency", N_("An agency with this id already exists.")
    DUPLICATE_KEY = "duplicate_key", N_("This key is already registered.")
    DUPLICATE_PERMIT_NUMBER = "duplicate_permit_number", N_("A permit with this number already exists in the agency.")
    DUPLICATE_TYPE = "duplicate_type", N_("A permit type with this code already exists.")
    EMPTY_REGISTRY = "empty_registry", N_("The registry has no agencies yet.")
    FETCH_FAILED = "fetch_failed", N_("The document could not be fetched.")
    HOME_MISSING = "home_missing", N_("No permit home was given or found.")
    INVALID_TRANSITION = "invalid_transition", N_("The permit's state does not allow this change.")
    KEY_FILE_EXISTS = "key_file_exists", N_("A key file with this name already exists.")
    KEY_FILE_INSECURE = "key_file_insecure", N_("The key file can be read by other users.")
    KEY_FILE_INVALID = "key_file_invalid", N_("The key file is not valid.")
    KEY_FILE_MISSING = "key_file_missing", N_("The key file is missing.")
    KEY_FILE_UNSUPPORTED = "key_file_unsupported", N_("The key file is protected by a method this program does not open.")
    KEY_FILE_EXCESSIVE_ITERATIONS = "key_file_excessive_iterations", N_("The key file demands far more work to open than a genuine key file, so it is refused before any work.")
    KEY_RETIRED = "key_retired", N_("The key is retired and can no longer sign.")
    LEDGER_CORRUPT = "ledger_corrupt", N_("The ledger database cannot be used.")
    LEDGER_MISSING = "ledger_missing", N_("The agency has no ledger in this home.")
    LOOPBACK_BASE_URL = "loopback_base_url", N_("The verification address printed on permits is this computer's own, not the official verifier's.")
    NO_QR_CODE = "no_qr_code", N_("No readable QR code was found in the image.")
    NO_SIGNING_KEY = "no_signing_key", N_("The agency has no usable signing key in this home.")
    NOT_A_DEMO = "not_a_demo", N_("The directory holds something other than a previous demo.")
    NOT_OPERATOR = "not_operator", N_("This home is not the registry operator's.")
    NOT_FOUND = "not_found", N_("What was asked for does not exist.")
    ORIGIN_UNWRITABLE = "origin_unwritable", N_("The origin directory, where the fleet's documents are published, cannot be written.")
    PASSPHRASE_REQUIRED = "passphrase_required", N_("A passphrase is needed.")
    PERMIT_NOT_FOUND = "permit_not_found", N_("No permit with this id was found.")
    PUSH_REFUSED = "push_refused", N_("The verifier refused the document.")
    REASON_REQUIRED = "reason_required", N_("A reason is required.")
    REGISTRY_MISSING = "registry_missing", N_("This home has no published registry yet.")
    REGISTRY_NOT_NEWER = "registry_not_newer", N_("The verifier already holds this registry version or a newer one.")
    SAME_KEY = "same_key", N_("The new key is the same as the one being replaced.")
    SEVERAL_QR_CODES = "several_qr_codes", N_("The image holds several different QR codes.")
    SIGNER_FAULT = "signer_fault", N_("The signing key produced a signature that does not verify.")
    STATUS_ROLLBACK = "status_rollback", N_("The status list is older than the one already held.")
    STATUS_NOT_NEWER = "status_not_newer", N_("The verifier already holds this status list or a newer one.")
    UNKNOWN_AGENCY = "unknown_agency", N_("No agency with this id is in the registry.")
    UNKNOWN_TYPE = "unknown_type", N_("No permit type with this code is in the registry.")
    UNREACHABLE = "unreachable", N_("The server could not be reached.")
    VALIDITY_TOO_LONG = "validity_too_long", N_("The validity is longer than the permit type allows.")
    WEAK_PASSPHRASE = "weak_passphrase", N_("The passphrase is too short: it needs at least 12 characters.")
    WEAK_PASSPHRASE_REPEATED_CHARACTER = "weak_passphrase_repeated_character", N_("The passphrase is one character repeated, which guessers try first.")
    WEAK_PASSPHRASE_REPEATED_PATTERN = "weak_passphrase_repeated_pattern", N_("The passphrase repeats a short pattern, which guessers try first.")
    WEAK_PASSPHRASE_SEQUENCE = "weak_passphrase_sequence", N_("The passphrase is built on a sequence such as abcd or 1234, which guessers try first.")
    WEAK_PASSPHRASE_COMMON = "weak_passphrase_common", N_("The passphrase is built on a common password, word or name from the lists guessers try first.")
    WEAK_PASSPHRASE_KEYBOARD = "weak_passphrase_keyboard", N_("The passphrase is built on a keyboard pattern such as qwerty, which guessers try first.")
    WEAK_PASSPHRASE_IDENTIFIER = "weak_passphrase_identifier", N_("The passphrase is built on the agency's or the registry's identifier, which guessers try first.")
    WEAK_PASSPHRASE_GUESSABLE = "weak_passphrase_guessable", N_("The passphrase is too easy to guess; use several unrelated words.")

    # backups, restores and the printed permit
    ANCHOR_MISMATCH = "anchor_mismatch", N_("The backup trusts another trust anchor than this home; a restore never changes whom a home trusts.")
    BACKUP_CORRUPT = "backup_corrupt", N_("The backup is damaged: a file in it does not match its record.")
    BACKUP_FAILED = "backup_failed", N_("The backup could not be written.")
    BACKUP_INCOMPATIBLE = "backup_incompatible", N_("The backup was made by a version of this program that cannot read it.")
    BACKUP_UNREADABLE = "backup_unreadable", N_("The backup file cannot be read.")
    BACKUP_UNSAFE_PATH = "backup_unsafe_path", N_("The backup holds a file that would be written outside the home.")
    CURRENT_LEDGER_UNREADABLE = "current_ledger_unreadable", N_("A ledger in this home cannot be read, so a restore cannot check it.")
    LEDGER_IN_USE = "ledger_in_use", N_("The ledger is in use by another program; stop it first.")
    LEDGER_SCHEMA_UNKNOWN = "ledger_schema_unknown", N_("The ledger was made by a version of this program that cannot read it.")
    RESTORE_WOULD_LOSE_PERMITS = "restore_would_lose_permits", N_("Restoring would lose permits recorded since the backup was taken.")
    RESTORE_CHANGES_SETTINGS = "restore_changes_settings", N_("The backup would change this home's settings, such as the address printed on permits.")
    HOME_CHANGED_DURING_RESTORE = "home_changed_during_restore", N_("The home changed while the backup was being checked; run the restore again.")
    PDF_FAILED = "pdf_failed", N_("The PDF could not be made.")
    PDF_UNAVAILABLE = "pdf_unavailable", N_("Making a PDF needs Chromium, which is not installed.")
    PERMIT_NOT_IN_FORCE = "permit_not_in_force", N_("The permit is not in force, so it is not printed.")

    # rows an import rejects (the error column of the rejected-rows file)
    BAD_ROW = "bad_row", N_("The row does not have as many cells as the header.")
    LINE_TOO_LONG = "line_too_long", N_("The line is longer than any row an import can take.")
    MISSING_VALUE = "missing_value", N_("A required value is empty.")
    UNBALANCED_QUOTE = "unbalanced_quote", N_("A quotation mark in the row does not close at the end of a cell: " "only the line it is on is rejected, and the lines after it are read on their own.")

    # the API's request errors
    BAD_BODY = "bad_body", N_("The request body is not valid.")
    BATCH_TOO_LARGE = "batch_too_large", N_("The batch has too many tokens.")
    BODY_NOT_OBJECT = "body_not_object", N_("The request body is not a JSON object.")
    BODY_TOO_LARGE = "body_too_large", N_("The request body is too large.")
    MISSING_TOKEN = "missing_token", N_("The request has no token.")
    PUSH_BUSY = "push_busy", N_("The verifier is checking another large document; send this one again in a moment.")
    MISSING_TOKENS = "missing_tokens", N_("The request has no tokens.")
    NOT_READY = "not_ready", N_("This verifier does not hold current documents yet (or they went stale); another one can answer.")
    TOKEN_NOT_STRING = "token_not_string", N_("The token is not a string.")
    UNKNOWN_MEMBER = "unknown_member", N_("The request has a member this API does not know.")
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type", N_("The request body is not application/json.")
    UNSUPPORTED_TRANSFER_CODING = "unsupported_transfer_coding", N_("The request body is sent in a transfer coding other than chunked.")

    # what the fleet's nginx refuses itself (deploy/nginx.conf.template), in the API's error shape
    RATE_LIMITED = "rate_limited", N_("Too many requests or connections from this address; try again in a moment.")
    SERVICE_UNAVAILABLE = "service_unavailable", N_("No verifier could answer; try again in a moment.")


VERDICT_REASONS: frozenset[Reason] = frozenset({
    Reason.MALFORMED_TOKEN,
    Reason.TOKEN_TOO_LARGE,
    Reason.UNSUPPORTED_HEADER,
    Reason.WRONG_TYPE,
    Reason.UNKNOWN_ISSUER,
    Reason.UNKNOWN_KEY,
    Reason.ISSUER_KEY_MISMATCH,
    Reason.ALGORITHM_MISMATCH,
    Reason.BAD_SIGNATURE,
    Reason.KEY_NOT_VALID_AT_ISSUE,
    Reason.KEY_COMPROMISED,
    Reason.NOT_AUTHORISED_FOR_TYPE,
    Reason.MISSING_CLAIM,
    Reason.BAD_CLAIM,
    Reason.NON_CANONICAL_TEXT,
    Reason.EXPIRED,
    Reason.NOT_YET_VALID,
    Reason.ISSUED_IN_FUTURE,
    Reason.REVOKED,
    Reason.SUSPENDED,
    Reason.SUPERSEDED,
    Reason.STATUS_UNAVAILABLE,
    Reason.STATUS_STALE,
    Reason.REGISTRY_INVALID,
    Reason.REGISTRY_ROLLBACK,
    Reason.REGISTRY_STALE,
    Reason.REGISTRY_UNAVAILABLE,
    Reason.BASIS_INVALID,
    Reason.BASIS_REVOKED,
    Reason.BASIS_SUSPENDED,
    Reason.BASIS_STATUS_UNAVAILABLE,
    Reason.BASIS_STATUS_STALE,
})
