"""Verifying with what a home holds, without a network: the registry bundle, the trust anchor
and the status lists on disk. `permit verify` and an officer's check of a basis use it; so can
anyone with those files. `fetch_status_lists` brings the lists up to date beforehand."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from keys.errors import ConflictError, NotFoundError, PermitError, RegistryError
from keys.reasons import Reason
from permits.home import Home
from permits.origin import status_file
from permits.status_list import MAX_STATUS_TOKEN_LENGTH, token_from_bytes
from verifier.http_client import get
from verifier.pipeline import verify
from verifier.verdict import Verdict


def verify_in_home(home: Home, token: object, now: int) -> Verdict:
    """A registry that cannot be trusted is a verdict (status_unknown), not an error: the
    person holding the permit needs to hear "cannot check now", not a stack trace."""
    try:
        trusted = home.trusted_registry(now)
    except RegistryError as exc:
        return Verdict("status_unknown", (exc.reason,), now, None)
    return verify(token, trusted.registry, home.status_lists(trusted.registry, now), now)


def fetch_status_lists(home: Home, now: int, origin: Path | None = None, agencies: Sequence[str] = ()) -> dict[str, str | PermitError]:
    """Bring the home's copies of other agencies' status lists up to date, so that their permits
    (a basis above all) can be verified here offline: each from where the registry says it is
    published, or from an origin directory copied by hand (`origin/status/AGENCY.jwt`), verified
    against the registry before it is kept. Agencies whose ledger is in this home publish their
    own and are left out unless named. For each agency: "installed", "held" (the same or a newer
    one was already here) or the error that stopped it."""
    registry = home.trusted_registry(now).registry
    own = set(home.ledger_agencies())
    wanted = list(agencies) or [agency for agency in sorted(registry.agencies) if agency not in own]
    outcome: dict[str, str | PermitError] = {}
    for agency_id in wanted:
        try:
            agency = registry.agency(agency_id)
            if origin is not None:
                with status_file(origin, agency_id).open("rb") as file:
                    raw = file.read(MAX_STATUS_TOKEN_LENGTH + 2)  # too long is refused, never read whole
            else:
                raw = get(agency.status_url, MAX_STATUS_TOKEN_LENGTH + 2).body
            home.install_status_list(token_from_bytes(raw), registry, agency_id, now, require_newer=True)
            outcome[agency_id] = "installed"
        except ConflictError:
            outcome[agency_id] = "held"
        except FileNotFoundError:
            outcome[agency_id] = NotFoundError(f"no status list of {agency_id} in {origin}", reason=Reason.FETCH_FAILED)
        except PermitError as exc:
            outcome[agency_id] = exc
    return outcome
