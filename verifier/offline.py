"""Verifying with what a home holds, without a network: the registry bundle, the trust anchor
and the status lists on disk. `permit verify` uses it; so can anyone with those files."""

from __future__ import annotations

from keys.errors import RegistryError
from permits.home import Home
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
