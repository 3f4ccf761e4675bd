"""Issuing and the permit life cycle: issue, amend, suspend, reinstate, revoke, reissue.

Each operation checks everything first (the agency may issue that type, the validity fits the
type's maximum, the text is canonical, the signing key is the agency's and current), then does
its ledger work in one transaction. A token is signed inside that transaction and checked
against its own public key before the commit, so a token is never handed out for a permit the
ledger does not hold, and a faulty signer never produces a permit at all.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from typing import Any

from keys.errors import ConflictError, InputError, Term
from keys.fields import FieldError
from keys.jws import parse_compact
from keys.reasons import N_, Reason
from keys.registry import PermitType, Registry
from keys.signer import Signer
from keys.text import normalise_text
from permits import model
from permits.days import show_day
from permits.ledger import Ledger, PermitRecord
from permits.model import BasisRef, Permit
from permits.status_list import Status
from permits.token import MAX_TOKEN_LENGTH, sign_permit

# Ho Chi Minh City time (UTC+7, no daylight saving): the calendar the dates on a permit mean.
CITY_TZ = timezone(timedelta(hours=7), "ICT")
OFFICER_MAX = 100
REASON_MAX = 500


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_CITY_OFFSET = 7 * 3600  # CITY_TZ, UTC+7 all year


def start_of_day(day: date) -> int:
    """Midnight at the start of `day` in Ho Chi Minh City, as a timestamp (arithmetic rather
    than a datetime: a bulk import computes two per row)."""
    return (day.toordinal() - _EPOCH_ORDINAL) * 86_400 - _CITY_OFFSET


def city_date(timestamp: int) -> date:
    return datetime.fromtimestamp(timestamp, CITY_TZ).date()


@dataclass(frozen=True)
class IssueRequest:
    """What an officer asks for; raw input, checked and normalised by `issue`. `basis`: the
    permits it rests on, each already verified genuine and in force (verifier/basis.py); the
    holder's details the officer leaves out (None) come from them."""

    agency: str
    type: str
    holder_id: str | None
    holder_name: str | None
    valid_until: date
    valid_from: date | None = None
    holder_address: str | None = None
    activities: Sequence[str] = ()
    conditions: Sequence[str] = ()
    number: str | None = None
    basis: Sequence[Permit] = ()


@dataclass(frozen=True)
class Amendment:
    """Fields to change in a new version; None leaves a field as it is. `basis`, when given,
    replaces the permits it rests on (verified, as for IssueRequest)."""

    holder_name: str | None = None
    holder_address: str | None = None
    activities: Sequence[str] | None = None
    conditions: Sequence[str] | None = None
    valid_until: date | None = None
    basis: Sequence[Permit] | None = None


@dataclass(frozen=True)
class Holder:
    id: str
    name: str
    address: str | None


def last_day(permit: Permit) -> date:
    """The last day a permit is valid, in Ho Chi Minh City (its `exp` is the midnight after)."""
    return city_date(permit.valid_until - 1)


def rest_on(permit_type: PermitType, bases: Sequence[Permit], holder_id: str | None, holder_name: str | None,
            holder_address: str | None) -> tuple[Holder, tuple[BasisRef, ...]]:
    """Check that `bases` are what a `permit_type` permit rests on (one of each type it
    requires, nothing else) and are all held by one holder; return that holder, the details not
    given taken from the bases, and the references to sign. Given details must match every
    basis (once normalised). InputError with a basis_* reason otherwise."""
    by_type: dict[str, Permit] = {}
    for basis in bases:
        if basis.type not in permit_type.requires:
            rests = ", ".join(permit_type.requires) or "no other permit"
            raise InputError(f"permit {basis.id} is a {basis.type} permit; a {permit_type.code} permit rests on {rests}",
                             reason=Reason.BASIS_WRONG_TYPE)
        if basis.type in by_type:
            raise InputError(f"two {basis.type} permits are given as the basis ({by_type[basis.type].id}, {basis.id}); give one",
                             reason=Reason.BASIS_DUPLICATE)
        by_type[basis.type] = basis
    missing = [code for code in permit_type.requires if code not in by_type]
    if missing:
        raise InputError(f"a permit of type {permit_type.code} rests on one of type {' and one of type '.join(missing)}: "
                         "give its QR code or link with --basis",
                         reason=Reason.BASIS_MISSING)
    address = normalise_text(holder_address, N_("holder address"), model.ADDRESS_MAX) if holder_address else None
    if not bases:
        if holder_id is None or holder_name is None:
            raise InputError("give the holder's id and name (--holder-id, --holder-name), or the permit this one rests on (--basis)",
                             reason=Reason.BAD_INPUT)
        return Holder(holder_id.strip(), normalise_text(holder_name, N_("holder name"), model.NAME_MAX), address), ()
    first = bases[0]
    holder = Holder(
        first.holder_id if holder_id is None else holder_id.strip(),
        first.holder_name if holder_name is None else normalise_text(holder_name, N_("holder name"), model.NAME_MAX),
        address or next((b.holder_address for b in bases if b.holder_address), None),
    )
    for basis in bases:
        if basis.holder_id != holder.id:
            raise InputError(f"permit {basis.id} is held by {basis.holder_id}, not {holder.id}", reason=Reason.BASIS_WRONG_HOLDER)
        differs = "name" if basis.holder_name != holder.name else "address" if basis.holder_address not in (None, holder.address) else None
        if differs:
            raise InputError(f"the holder's {differs} differs from the one on permit {basis.id}; leave it out to take that permit's",
                             reason=Reason.BASIS_HOLDER_MISMATCH)
    return holder, tuple(sorted(BasisRef(b.agency, b.id, b.status_index, b.type) for b in bases))


def within_bases(bases: Sequence[Permit], valid_until: date) -> date:
    """The end date, capped at the last day of every basis: a permit does not outlive what it
    rests on. (Its start is not tied to theirs: a paper permit imported on a business
    registration issued electronically later started long before it.)"""
    return min([valid_until, *(last_day(b) for b in bases)])


def _texts(values: Sequence[str], field: str, max_items: int) -> tuple[str, ...]:
    if len(values) > max_items:
        raise InputError(N_("at most {max} {field} entries"), reason=Reason.BAD_TEXT, max=max_items, field=Term(field))
    return tuple(normalise_text(v, field, model.ITEM_MAX) for v in values)


def _officer(officer: str) -> str:
    return normalise_text(officer, N_("officer"), OFFICER_MAX)


def _reason(reason: str | None) -> str | None:
    return None if reason is None else normalise_text(reason, N_("reason"), REASON_MAX)


def _check_signer(registry: Registry, agency_id: str, signer: Signer, now: int) -> None:
    key = registry.key(signer.kid)
    if key is None or key.agency != agency_id:
        raise InputError(N_("key {kid} is not a registered key of {agency}"), reason=Reason.UNKNOWN_KEY, kid=signer.kid, agency=agency_id)
    if key.compromised or not key.usable_for_signing_at(now):
        raise InputError(N_("key {kid} of {agency} is retired and can no longer issue"), reason=Reason.KEY_RETIRED,
                         kid=signer.kid, agency=agency_id)


def _check_validity(permit_type: PermitType, valid_from: date, valid_until: date, now: int) -> None:
    if valid_until < valid_from:
        raise InputError(N_("valid-until {until} is before valid-from {start}"), reason=Reason.BAD_DATES,
                         until=show_day(valid_until), start=show_day(valid_from))
    if valid_until < city_date(now):
        raise InputError(N_("valid-until {until} is already in the past"), reason=Reason.BAD_DATES, until=show_day(valid_until))
    days = (valid_until - valid_from).days + 1
    if days > permit_type.max_days:
        raise InputError(N_("{days} days of validity; a {type} permit may be valid for at most {max} days"),
                         reason=Reason.VALIDITY_TOO_LONG, days=days, type=permit_type.code, max=permit_type.max_days)


def _signed(permit: Permit, signer: Signer) -> str:
    token = sign_permit(permit, signer)
    jws = parse_compact(token, MAX_TOKEN_LENGTH)
    if not signer.public_key().verify(jws.signature, jws.signing_input):
        raise InputError("the signer produced a signature that does not verify", reason=Reason.SIGNER_FAULT)
    return token


def _build(**values: object) -> Permit:
    try:
        return Permit(**values)  # type: ignore[arg-type]
    except FieldError as exc:
        raise InputError(str(exc), reason=Reason.BAD_INPUT) from None


def check_authority(registry: Registry, agency_id: str, type_code: str, signer: Signer, now: int) -> None:
    """The agency exists, may issue this type, and `signer` is one of its current keys."""
    agency = registry.agency(agency_id)
    registry.permit_type(type_code)
    if type_code not in agency.types:
        raise InputError(N_("{agency} is not authorised to issue {type} permits"), reason=Reason.NOT_AUTHORISED_FOR_TYPE,
                         agency=agency.id, type=type_code)
    _check_signer(registry, agency.id, signer, now)


def draft_permit(permit_type: PermitType, request: IssueRequest, now: int, permit_id: str, status_index: int) -> Permit:
    """The permit `request` asks for, every field checked and normalised (NFC, trimmed,
    bounded), dates turned into whole days in Ho Chi Minh City. The agency's authority is
    checked separately (`check_authority`), once per command rather than once per row."""
    valid_from = request.valid_from or city_date(now)
    holder, basis = rest_on(permit_type, request.basis, request.holder_id, request.holder_name, request.holder_address)
    valid_until = within_bases(request.basis, request.valid_until)
    _check_validity(permit_type, valid_from, valid_until, now)
    holder_id = holder.id
    if not model.HOLDER_ID.fullmatch(holder_id):
        raise InputError(N_("holder id must be a registration code (letters, digits, '.', '/', '-')"), reason=Reason.BAD_HOLDER_ID)
    number = None if request.number is None else normalise_text(request.number, N_("permit number"), model.NUMBER_MAX)
    return _build(
        agency=request.agency,
        id=permit_id,
        number=number or permit_id,
        type=request.type,
        holder_id=holder_id,
        holder_name=holder.name,
        holder_address=holder.address,
        activities=_texts(request.activities, N_("activity"), model.ACTIVITIES_MAX),
        conditions=_texts(request.conditions, N_("condition"), model.CONDITIONS_MAX),
        issued_at=now,
        valid_from=start_of_day(valid_from),
        valid_until=start_of_day(valid_until + timedelta(days=1)),
        status_index=status_index,
        version=1,
        basis=basis,
    )


def issue(
    ledger: Ledger, registry: Registry, signer: Signer, request: IssueRequest, officer: str, now: int
) -> PermitRecord:
    check_authority(registry, request.agency, request.type, signer, now)
    officer = _officer(officer)
    # Checked before the transaction, with placeholders for what the ledger allocates.
    permit_type = registry.permit_type(request.type)
    draft_permit(permit_type, request, now, "0000", 0)
    with ledger.transaction():
        permit_id = ledger.new_permit_id()
        if request.number is not None:
            number = normalise_text(request.number, N_("permit number"), model.NUMBER_MAX)
            if ledger.number_taken(number):
                raise ConflictError(N_("permit number {number!r} is already used"), reason=Reason.DUPLICATE_PERMIT_NUMBER, number=number)
        permit = draft_permit(permit_type, request, now, permit_id, ledger.allocate_status_index())
        token = _signed(permit, signer)
        ledger.insert_permit(permit, now)
        ledger.insert_version(permit, token, signer.kid)
        ledger.add_event(permit.id, 1, "issued", officer, now, None)
    return ledger.get(permit.id)


def _new_version(
    ledger: Ledger, registry: Registry, signer: Signer, old: PermitRecord, changes: Amendment,
    kind: str, officer: str, now: int, reason: str | None,
) -> PermitRecord:
    """Sign version n+1 of a permit and mark version n superseded, in one transaction."""
    current = old.permit
    _check_signer(registry, current.agency, signer, now)
    valid_until = changes.valid_until
    updates: dict[str, Any] = {}
    if changes.basis is not None:
        # As when issuing, the holder's details not given come from the basis: a newer basis is
        # often given because its holder's name or address changed.
        holder, updates["basis"] = rest_on(registry.permit_type(current.type), changes.basis, current.holder_id,
                                           changes.holder_name, changes.holder_address)
        updates["holder_name"], updates["holder_address"] = holder.name, holder.address or current.holder_address
        valid_until = within_bases(changes.basis, valid_until or last_day(current))
    elif current.basis and (changes.holder_name is not None or changes.holder_address is not None
                            or (valid_until is not None and valid_until > last_day(current))):
        # What it rests on is known by reference only: their end and holder are on their QR codes.
        raise InputError(f"permit {current.id} rests on other permits; to change its holder or extend it, give their current QR codes "
                         "or links with --basis", reason=Reason.BASIS_MISSING)
    else:
        if changes.holder_name is not None:
            updates["holder_name"] = normalise_text(changes.holder_name, N_("holder name"), model.NAME_MAX)
        if changes.holder_address is not None:
            updates["holder_address"] = normalise_text(changes.holder_address, N_("holder address"), model.ADDRESS_MAX)
    if valid_until is not None:
        _check_validity(registry.permit_type(current.type), city_date(current.valid_from), valid_until, now)
    if changes.activities is not None:
        updates["activities"] = _texts(changes.activities, N_("activity"), model.ACTIVITIES_MAX)
    if changes.conditions is not None:
        updates["conditions"] = _texts(changes.conditions, N_("condition"), model.CONDITIONS_MAX)
    if valid_until is not None:
        updates["valid_until"] = start_of_day(valid_until + timedelta(days=1))
    officer = _officer(officer)
    reason = _reason(reason)
    with ledger.transaction():
        try:
            permit = replace(
                current, issued_at=now, version=current.version + 1, status_index=ledger.allocate_status_index(), **updates
            )
        except FieldError as exc:
            raise InputError(str(exc), reason=Reason.BAD_INPUT) from None
        token = _signed(permit, signer)
        ledger.insert_version(permit, token, signer.kid)
        ledger.set_current_version(permit)
        # The earlier versions read superseded, or suspended with the permit (its lineage).
        if old.state == "suspended":
            ledger.set_lineage_status(permit.id, Status.SUSPENDED, Status.SUSPENDED)
        else:
            ledger.set_lineage_status(permit.id, Status.VALID, Status.SUPERSEDED)
        ledger.add_event(permit.id, permit.version, kind, officer, now, reason)
    return ledger.get(permit.id)


def amend(
    ledger: Ledger, registry: Registry, signer: Signer, permit_id: str, changes: Amendment,
    officer: str, now: int, reason: str | None = None,
) -> PermitRecord:
    old = ledger.get(permit_id)
    if old.state != "active":
        raise ConflictError(N_("permit {id} is {state}; only an active permit can be amended"), reason=Reason.INVALID_TRANSITION,
                            id=permit_id, state=Term(old.state))
    if changes == Amendment():
        raise InputError(N_("nothing to amend: give at least one field to change"), reason=Reason.BAD_INPUT)
    return _new_version(ledger, registry, signer, old, changes, "amended", officer, now, reason)


def reissue(
    ledger: Ledger, registry: Registry, signer: Signer, permit_id: str, officer: str, now: int, reason: str | None = None
) -> PermitRecord:
    """Re-sign the current content under `signer` (after a key compromise), as a new version."""
    old = ledger.get(permit_id)
    if old.state == "revoked":
        raise ConflictError(N_("permit {id} is revoked; it is not re-issued"), reason=Reason.INVALID_TRANSITION, id=permit_id)
    return _new_version(ledger, registry, signer, old, Amendment(), "reissued", officer, now, reason)


def reissue_signed_by(
    ledger: Ledger, registry: Registry, signer: Signer, old_kid: str, officer: str, now: int, reason: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[PermitRecord]:
    """Re-issue, under `signer`, every permit whose current version `old_kid` signed (after
    that key was compromised). One transaction per permit, so an interrupted run simply
    continues where it stopped when run again. `progress(done, total)` after each permit."""
    if signer.kid == old_kid:
        raise InputError(N_("re-issue under a new key, not the one being replaced"), reason=Reason.SAME_KEY)
    affected = ledger.current_ids_signed_by(old_kid)
    records = []
    for permit_id in affected:
        records.append(reissue(ledger, registry, signer, permit_id, officer, now, reason))
        if progress is not None:
            progress(len(records), len(affected))
    return records


# Status changes: (states it may come from, state it goes to, status of the current version and
# of the earlier ones, the reason when the permit is already there). Earlier versions follow the
# permit, so that a permit resting on version 1 of one amended since still sees it revoked or
# suspended; while the permit is in force they read superseded.
_TRANSITIONS = {
    "suspended": ({"active"}, "suspended", (Status.SUSPENDED, Status.SUSPENDED), Reason.ALREADY_SUSPENDED),
    "reinstated": ({"suspended"}, "active", (Status.VALID, Status.SUPERSEDED), Reason.ALREADY_ACTIVE),
    "revoked": ({"active", "suspended"}, "revoked", (Status.REVOKED, Status.REVOKED), Reason.ALREADY_REVOKED),
}


_ALREADY = {
    Reason.ALREADY_SUSPENDED: N_("permit {id} is already suspended"),
    Reason.ALREADY_ACTIVE: N_("permit {id} is already active"),
    Reason.ALREADY_REVOKED: N_("permit {id} is already revoked"),
}
# The words the sentences above are given as Terms (the ledger's states and the changes).
_WORDS = (N_("active"), N_("suspended"), N_("revoked"), N_("reinstated"))


def change_status(ledger: Ledger, permit_id: str, kind: str, officer: str, now: int, reason: str | None) -> PermitRecord:
    """Suspend, reinstate or revoke. A reason is required to suspend or revoke."""
    sources, target, (status, earlier_status), already_there = _TRANSITIONS[kind]
    officer = _officer(officer)
    if kind != "reinstated" and not reason:
        raise InputError(N_("a reason is required to record a permit as {state}"), reason=Reason.REASON_REQUIRED, state=Term(kind))
    reason = _reason(reason)
    with ledger.transaction():
        record = ledger.get(permit_id)
        if record.state not in sources:
            already = record.state == target or (kind == "revoked" and record.state == "revoked")
            if already:
                raise ConflictError(_ALREADY[already_there], reason=already_there, id=permit_id)
            raise ConflictError(N_("permit {id} is {state}; it cannot be {change}"), reason=Reason.INVALID_TRANSITION,
                                id=permit_id, state=Term(record.state), change=Term(kind))
        ledger.set_state(permit_id, target)
        ledger.set_lineage_status(permit_id, status, earlier_status)
        ledger.add_event(permit_id, record.permit.version, kind, officer, now, reason)
    return ledger.get(permit_id)
