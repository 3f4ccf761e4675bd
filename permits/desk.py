"""An agency's desk: each task an issuing officer does, as one call that applies its rules.

A front end (the `permit` command today, an HTTP issuing API or another tool tomorrow) parses
what the officer asked, opens the desk of the agency concerned, calls one method and shows the
result. The rules live here, once: the registry the home trusts and the agency's current key
(loaded only when a task signs), an agency's status list published with its first permit and
after every task that changes many permits at once, the officer's name recorded with each
change, one clock per task, and no permit made to be printed with an address that is this
machine's own (outside a demo home).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from keys.errors import InputError
from keys.keyfile import load_signer
from keys.reasons import Reason
from keys.registry import Registry
from keys.signer import KeySigner
from permits import issuing, origin, publishing
from permits.home import Home, Passphrase
from permits.importing import BATCH_SIZE, BasisReader, ImportReport, import_csv
from permits.ledger import Event, PermitRecord
from permits.status_list import StatusList

Progress = Callable[[int, int], None]


@dataclass
class Desk:
    """The desk of `agency` in `home`, for `officer`, at `now`."""

    home: Home
    agency: str
    officer: str
    passphrase: Passphrase
    now: int
    _registry: Registry | None = field(default=None, init=False, repr=False)
    _signer: KeySigner | None = field(default=None, init=False, repr=False)

    @classmethod
    def of_permit(cls, home: Home, permit_id: str, agency: str | None, officer: str, passphrase: Passphrase,
                  now: int) -> Desk:
        """The desk of the agency whose ledger holds `permit_id` (`agency` when given)."""
        return cls(home, agency or home.agency_of(permit_id), officer, passphrase, now)

    @property
    def registry(self) -> Registry:
        """The registry this home trusts (checked against its anchor once per desk)."""
        if self._registry is None:
            self._registry = self.home.trusted_registry(self.now).registry
            self._registry.agency(self.agency)  # an agency the registry knows
        return self._registry

    @property
    def base_url(self) -> str:
        """The address this desk's permits are printed with, in their QR codes too
        (Home.printed_base_url: refused when it is this machine's, outside a demo)."""
        return self.home.printed_base_url()

    def _check_printable(self) -> None:
        """Refuse, before any work, a task that makes permits to print while the home's address
        is this machine's own; a home without a trusted registry says that first."""
        _ = self.registry
        self.home.printed_base_url()

    @property
    def signer(self) -> KeySigner:
        """The agency's newest current key held in this home; its passphrase is asked once."""
        if self._signer is None:
            self._signer = self.home.agency_signer(self.registry, self.agency, self.passphrase, self.now)
        return self._signer

    # --- reading ------------------------------------------------------------------------------

    def record(self, permit_id: str) -> PermitRecord:
        with self.home.ledger(self.agency) as ledger:
            return ledger.get(permit_id)

    def history(self, permit_id: str) -> tuple[PermitRecord, list[Event]]:
        with self.home.ledger(self.agency) as ledger:
            return ledger.get(permit_id), ledger.events(permit_id)

    # --- tasks that sign -----------------------------------------------------------------------

    def issue(self, request: issuing.IssueRequest) -> PermitRecord:
        """Check, record and sign a permit. The agency's first permit also publishes its status
        list, without which no verifier could say the permit is in force."""
        if request.agency != self.agency:
            raise InputError(f"a permit of {request.agency} is not issued at the desk of {self.agency}",
                             reason=Reason.BAD_INPUT)
        self._check_printable()
        with self.home.ledger(self.agency, create=True) as ledger:
            record = issuing.issue(ledger, self.registry, self.signer, request, self.officer, self.now)
        held = self.home.status_list(self.registry, self.agency, self.now) if self.home.has_status_list(self.agency) else None
        if held is None or held.is_expired(self.now):
            self.publish()
        return record

    def import_csv(self, path: Path, type_code: str, batch_size: int = BATCH_SIZE,
                   progress: Progress | None = None, basis_reader: BasisReader | None = None) -> ImportReport:
        """Import paper permits from a CSV file (resumable), then publish the status list."""
        self._check_printable()
        # The signing processes load the same key file themselves: a key cannot cross processes.
        key_file = self.home.private_key_path(self.agency, self.signer.kid)
        loader = partial(load_signer, key_file, self.passphrase(f"key {self.signer.kid} of {self.agency}"))
        with self.home.ledger(self.agency, create=True) as ledger:
            report = import_csv(ledger, self.registry, self.signer, path, self.agency, type_code, self.officer, self.now,
                                batch_size=batch_size, progress=progress, signer_loader=loader, basis_reader=basis_reader)
        self.publish()
        return report

    def amend(self, permit_id: str, changes: issuing.Amendment, reason: str) -> PermitRecord:
        """A new version of the permit; the old one becomes superseded."""
        self._check_printable()
        with self.home.ledger(self.agency) as ledger:
            return issuing.amend(ledger, self.registry, self.signer, permit_id, changes, self.officer, self.now, reason)

    def reissue(self, old_kid: str, reason: str, progress: Progress | None = None) -> list[PermitRecord]:
        """Re-issue under the current key every permit `old_kid` signed, then publish."""
        self._check_printable()
        with self.home.ledger(self.agency) as ledger:
            records = issuing.reissue_signed_by(ledger, self.registry, self.signer, old_kid, self.officer, self.now,
                                                reason, progress=progress)
        self.publish()
        return records

    def publish(self, ttl: int = publishing.DEFAULT_STATUS_TTL, progress: Progress | None = None,
                origins: Sequence[Path] = ()) -> StatusList:
        """Sign the agency's status list from its ledger and install it in the home, then write it
        to each of `origins` (permits/origin.py; origin_unwritable or a conflict there is raised
        after the home holds the new list)."""
        published = publishing.publish_status_list(self.home, self.registry, self.agency, self.signer, self.now, ttl, progress)
        origin.publish_status_list(self.home, self.registry, self.agency, origins, self.now)
        return published

    # --- tasks that only record ------------------------------------------------------------------

    def change_status(self, permit_id: str, kind: str, reason: str | None) -> PermitRecord:
        """Suspend, reinstate or revoke (`kind`); verifiers learn it from the next status list."""
        with self.home.ledger(self.agency) as ledger:
            return issuing.change_status(ledger, permit_id, kind, self.officer, self.now, reason)


def publish_first_status_lists(home: Home, registry: Registry, officer: str, passphrase: Passphrase, now: int,
                               origins: Sequence[Path] = ()) -> list[StatusList]:
    """Publish the first status list of each agency of `registry` that can issue in this home
    (a current registered key of its is here) and has none yet: called when the home comes to
    trust a registry, installed or published, so that the list exists from the moment the agency
    can issue and a verifier that has it says the agency's first permits are in force, rather
    than status_unavailable until someone publishes. Written to `origins` too."""
    published = []
    for agency in sorted(registry.agencies.values(), key=lambda a: a.id):
        if home.has_status_list(agency.id) or not any(home.has_private_key(agency.id, key.kid) for key in agency.active_keys(now)):
            continue
        published.append(Desk(home, agency.id, officer, passphrase, now).publish(origins=origins))
    return published
