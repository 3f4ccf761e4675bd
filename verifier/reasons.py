"""Every status, verdict reason and error reason as a plain sentence, in Vietnamese and English.

The page, the CLI and integrators' own screens show these; the codes stay the contract. The
sentences are written in English here and translated by the gettext catalogue (permits/i18n.py);
tests/test_messages.py checks that every code has a sentence and every sentence a translation.
"""

from __future__ import annotations

from permits.i18n import N_, both, translate

# What a verdict says, in large type on the page.
STATUS_SENTENCE: dict[str, str] = {
    "valid": N_("VALID"),
    "invalid": N_("NOT VALID"),
    "revoked": N_("REVOKED"),
    "suspended": N_("SUSPENDED"),
    "superseded": N_("SUPERSEDED"),
    "expired": N_("EXPIRED"),
    "not_yet_valid": N_("NOT YET VALID"),
    "status_unknown": N_("CANNOT CHECK NOW"),
}

# Why, for each reason a verdict can carry (keys.errors.VERDICT_REASONS).
REASON_SENTENCE: dict[str, str] = {
    "malformed_token": N_("The code is not in the format of an electronic permit."),
    "token_too_large": N_("The code is too long to be a permit."),
    "unsupported_header": N_("The code uses a signing method that is not accepted."),
    "wrong_type": N_("This is another kind of document, not a permit."),
    "unknown_issuer": N_("The issuing agency is not in the list of trusted agencies."),
    "unknown_key": N_("The signature is not from any key of a trusted agency."),
    "issuer_key_mismatch": N_("The permit was signed with a key of another agency than the one it names."),
    "algorithm_mismatch": N_("The signing algorithm does not match the registered key."),
    "bad_signature": N_("The digital signature does not match: the content was altered or the permit is forged."),
    "key_not_valid_at_issue": N_("The signing key was not valid when the permit was signed."),
    "key_compromised": N_("The agency's signing key was compromised; every permit signed with it is invalid. Ask the agency for a re-issued permit."),
    "not_authorised_for_type": N_("This agency is not authorised to issue this type of permit."),
    "missing_claim": N_("The permit lacks required information."),
    "bad_claim": N_("Information on the permit is not valid."),
    "non_canonical_text": N_("The permit contains characters that are not allowed or not normalised."),
    "expired": N_("The permit's period of validity has ended."),
    "not_yet_valid": N_("The permit's period of validity has not started yet."),
    "issued_in_future": N_("The permit claims to have been signed in the future."),
    "revoked": N_("The issuing agency has revoked this permit."),
    "suspended": N_("The issuing agency has suspended this permit."),
    "superseded": N_("This permit has been replaced by a newer version. Ask for the current one."),
    "status_unavailable": N_("The issuing agency's status list is not available, so whether the permit was revoked is unknown."),
    "status_stale": N_("The status list is out of date; the permit cannot be confirmed as in force."),
    "registry_invalid": N_("The list of trusted agencies is not valid."),
    "registry_rollback": N_("The list of trusted agencies is older than one already received."),
    "registry_stale": N_("The list of trusted agencies has expired; the permit cannot be checked now."),
    "registry_unavailable": N_("This verifier has not received the list of trusted agencies yet; the permit cannot be checked now."),
}

# What went wrong, for each reason code of an error (CLI and API) that is not a verdict reason.
ERROR_SENTENCE: dict[str, str] = {
    "error": N_("The request could not be carried out."),
    "internal": N_("An unexpected error occurred inside the program."),
    "internal_error": N_("The verifier failed unexpectedly."),
    "io_error": N_("A file could not be read or written."),
    "already_initialised": N_("This home already has a registry."),
    "already_active": N_("The permit is already in force."),
    "already_suspended": N_("The permit is already suspended."),
    "already_revoked": N_("The permit is already revoked."),
    "already_retired": N_("The key is already retired."),
    "ambiguous_permit": N_("Several ledgers hold a permit with this id; name the agency."),
    "anchor_conflict": N_("This home already trusts a different trust anchor."),
    "bad_algorithm": N_("The signing algorithm is not one this service accepts."),
    "bad_anchor": N_("The trust anchor file is not valid."),
    "bad_batch_size": N_("The batch size is out of range."),
    "bad_columns": N_("The CSV file's header does not have the columns an import needs."),
    "bad_config": N_("A setting is not valid."),
    "bad_dates": N_("The dates are not valid."),
    "bad_draft": N_("The registry draft is not valid."),
    "bad_encoding": N_("The text is not valid UTF-8."),
    "bad_holder_id": N_("The holder's registration code is not valid."),
    "bad_identifier": N_("The identifier is not valid."),
    "bad_image": N_("The image cannot be read."),
    "bad_import_file": N_("The import file cannot be read."),
    "bad_input": N_("The input is not valid."),
    "bad_language": N_("This language is not available."),
    "bad_json": N_("The JSON is not valid."),
    "bad_key_file": N_("The key file is not valid."),
    "bad_output": N_("The output file type is not supported."),
    "bad_passphrase": N_("The passphrase is wrong."),
    "bad_registry_file": N_("The registry file cannot be read."),
    "bad_text": N_("The text is not acceptable."),
    "bad_threshold": N_("The threshold of root signatures is not valid."),
    "bad_ttl": N_("The validity period of the status list is out of range."),
    "bad_url": N_("The address is not valid."),
    "bad_validity": N_("The validity period is not valid."),
    "below_threshold": N_("Not enough root keys signed."),
    "conflict": N_("The request contradicts the current state."),
    "duplicate_agency": N_("An agency with this id already exists."),
    "duplicate_key": N_("This key is already registered."),
    "duplicate_permit_number": N_("A permit with this number already exists in the agency."),
    "duplicate_type": N_("A permit type with this code already exists."),
    "empty_registry": N_("The registry has no agencies yet."),
    "fetch_failed": N_("The document could not be fetched."),
    "home_missing": N_("No permit home was given or found."),
    "invalid_transition": N_("The permit's state does not allow this change."),
    "key_file_exists": N_("A key file with this name already exists."),
    "key_file_insecure": N_("The key file can be read by other users."),
    "key_file_invalid": N_("The key file is not valid."),
    "key_file_missing": N_("The key file is missing."),
    "key_retired": N_("The key is retired and can no longer sign."),
    "ledger_corrupt": N_("The ledger database cannot be used."),
    "ledger_missing": N_("The agency has no ledger in this home."),
    "no_qr_code": N_("No readable QR code was found in the image."),
    "no_signing_key": N_("The agency has no usable signing key in this home."),
    "not_a_demo": N_("The directory holds something other than a previous demo."),
    "not_found": N_("What was asked for does not exist."),
    "passphrase_required": N_("A passphrase is needed."),
    "permit_not_found": N_("No permit with this id was found."),
    "push_refused": N_("The verifier refused the document."),
    "reason_required": N_("A reason is required."),
    "registry_missing": N_("This home has no published registry yet."),
    "registry_not_newer": N_("The verifier already holds this registry version or a newer one."),
    "same_key": N_("The new key is the same as the one being replaced."),
    "several_qr_codes": N_("The image holds several different QR codes."),
    "signer_fault": N_("The signing key produced a signature that does not verify."),
    "status_not_newer": N_("The verifier already holds this status list or a newer one."),
    "unknown_agency": N_("No agency with this id is in the registry."),
    "unknown_type": N_("No permit type with this code is in the registry."),
    "unreachable": N_("The server could not be reached."),
    "validity_too_long": N_("The validity is longer than the permit type allows."),
    "weak_passphrase": N_("The passphrase is too short."),
    # backups, restores and the printed permit
    "anchor_mismatch": N_("The backup trusts another trust anchor than this home; a restore never changes whom a home trusts."),
    "backup_corrupt": N_("The backup is damaged: a file in it does not match its record."),
    "backup_failed": N_("The backup could not be written."),
    "backup_incompatible": N_("The backup was made by a version of this program that cannot read it."),
    "backup_unreadable": N_("The backup file cannot be read."),
    "backup_unsafe_path": N_("The backup holds a file that would be written outside the home."),
    "current_ledger_unreadable": N_("A ledger in this home cannot be read, so a restore cannot check it."),
    "ledger_in_use": N_("The ledger is in use by another program; stop it first."),
    "ledger_schema_unknown": N_("The ledger was made by a version of this program that cannot read it."),
    "restore_would_lose_permits": N_("Restoring would lose permits recorded since the backup was taken."),
    "restore_changes_settings": N_("The backup would change this home's settings, such as the address printed on permits."),
    "home_changed_during_restore": N_("The home changed while the backup was being checked; run the restore again."),
    "pdf_failed": N_("The PDF could not be made."),
    "pdf_unavailable": N_("Making a PDF needs Chromium, which is not installed."),
    "permit_not_in_force": N_("The permit is not in force, so it is not printed."),
    # rows an import rejects (the error column of the rejected-rows file)
    "bad_row": N_("The row does not have as many cells as the header."),
    "line_too_long": N_("The line is longer than any row an import can take."),
    "missing_value": N_("A required value is empty."),
    "unbalanced_quote": N_("A quotation mark in the row does not close at the end of a cell: "
                           "only the line it is on is rejected, and the lines after it are read on their own."),
    # the API's request errors
    "bad_body": N_("The request body is not valid."),
    "batch_too_large": N_("The batch has too many tokens."),
    "body_not_object": N_("The request body is not a JSON object."),
    "body_too_large": N_("The request body is too large."),
    "missing_token": N_("The request has no token."),
    "push_busy": N_("The verifier is checking another large document; send this one again in a moment."),
    "missing_tokens": N_("The request has no tokens."),
    "token_not_string": N_("The token is not a string."),
    "unknown_member": N_("The request has a member this API does not know."),
    "unsupported_media_type": N_("The request body is not application/json."),
    "unsupported_transfer_coding": N_("The request body is sent in a transfer coding other than chunked."),
}

STATUS_TEXT: dict[str, dict[str, str]] = {code: both(text) for code, text in STATUS_SENTENCE.items()}
REASON_TEXT: dict[str, dict[str, str]] = {code: both(text) for code, text in REASON_SENTENCE.items()}


def error_sentence(reason: str, lang: str) -> str | None:
    """The sentence for an error's reason code (a verdict reason or an error reason), if any."""
    text = REASON_SENTENCE.get(reason) or ERROR_SENTENCE.get(reason)
    return translate(text, lang) if text else None
