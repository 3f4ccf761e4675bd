"""Every metric the verifier exposes, in one place, through prometheus_client's documented
interface.

Under gunicorn (`permit serve`) each worker writes its counters and histograms to files in
PROMETHEUS_MULTIPROC_DIR (prometheus_client's multi-process mode, chosen when the library is
first imported, so `verifier.web.serve` sets that variable before anything imports this module);
GET /metrics, answered by whichever worker, sums them over every worker. Without that variable
(one process: the tests' in-process app) the values live in memory.

Every label value comes from a closed set, never from what a client sent, so the number of
series stays bounded whatever arrives: a verdict's status (verifier.verdict.STATUSES), its first
reason (keys.reasons.Reason), the issuing agency only as the held registry names it; a Flask
endpoint name (or "unmatched"); a document kind and an outcome.

What the documents held are (versions, ages) is computed when /metrics is read, from the store's
current snapshot: exact, and nothing to do on a request. A request costs one histogram
observation and, for a verification, one counter increment per verdict.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from keys.errors import PermitError
from keys.reasons import Reason
from keys.trust import TrustedRegistry
from permits.status_list import StatusList
from verifier.http_client import HttpError
from verifier.verdict import Verdict

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# The label of requests no route matched (404, 405): one value, whatever the path.
UNMATCHED = "unmatched"
NO_REASON = "none"
UNKNOWN_AGENCY = "unknown"
REGISTRY, STATUS_LIST = "registry", "status_list"
ACCEPTED, NOT_MODIFIED, REFUSED, FAILED = "accepted", "not_modified", "refused", "failed"
# A document no newer than the one held: nothing to install, nothing wrong.
_NOT_NEWER = frozenset({Reason.REGISTRY_NOT_NEWER, Reason.STATUS_NOT_NEWER})

# A verification takes about a millisecond; a pushed registry up to seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Not registered anywhere: each app's exposition registry (`Exposition`) includes them, or, in
# multi-process mode, reads what every worker wrote.
VERDICTS = Counter("permit_verdicts", "Verdicts given, by status, first reason and issuing agency (as the held registry names it).",
                   ("status", "reason", "agency"), registry=None)
REQUEST_SECONDS = Histogram("permit_request_duration_seconds", "Time to answer a request, by Flask endpoint.",
                            ("endpoint",), buckets=LATENCY_BUCKETS, registry=None)
PULLS = Counter("permit_pulls", "Documents pulled, by kind and outcome (refused: with the reason).",
                ("document", "outcome", "reason"), registry=None)
PUSHES = Counter("permit_pushes", "Documents pushed to this verifier, by kind and outcome (refused: with the reason).",
                 ("document", "outcome", "reason"), registry=None)
_OWN: tuple[Collector, ...] = (VERDICTS, REQUEST_SECONDS, PULLS, PUSHES)

# Children by label values, so that a request costs a dict lookup rather than `labels()`'s
# validation and lock; the label values are bounded, so are these.
_verdict_children: dict[tuple[str, str, str], Counter] = {}
_latency_children: dict[str, Histogram] = {}


def count_verdict(verdict: Verdict) -> None:
    """Count one verdict."""
    key = (verdict.status, verdict.reasons[0] if verdict.reasons else NO_REASON,
           verdict.issuer.id if verdict.issuer is not None else UNKNOWN_AGENCY)
    child = _verdict_children.get(key)
    if child is None:
        child = _verdict_children.setdefault(key, VERDICTS.labels(*key))
    child.inc()


def observe_request(endpoint: str | None, seconds: float) -> None:
    """Record how long a request to `endpoint` (a Flask endpoint name; None: no route) took."""
    label = endpoint or UNMATCHED
    child = _latency_children.get(label)
    if child is None:
        child = _latency_children.setdefault(label, REQUEST_SECONDS.labels(label))
    child.observe(seconds)


def count_pull(document: str, outcome: str, reason: str = NO_REASON) -> None:
    PULLS.labels(document, outcome, reason).inc()


def count_push(document: str, outcome: str, reason: str = NO_REASON) -> None:
    PUSHES.labels(document, outcome, reason).inc()


def outcome_of(exc: PermitError) -> str:
    """The outcome of a pull or push that raised `exc`: `failed` when the document could not be
    fetched (verifier.http_client's HttpError), `not_modified` when it was no newer than the one
    held, otherwise `refused`."""
    if isinstance(exc, HttpError):
        return FAILED
    return NOT_MODIFIED if exc.reason in _NOT_NEWER else REFUSED


def pull_failure(document: str, exc: PermitError) -> None:
    """Count a pull that raised `exc` (outcome_of), with its reason."""
    count_pull(document, outcome_of(exc), exc.reason)


# --- the documents held, read at scrape time ------------------------------------------------------


class DocumentsCollector:
    """The registry and status lists a store holds now, as gauges (prometheus_client's custom
    collector protocol). `snapshot` returns (registry or None, {agency: status list}, now)."""

    def __init__(self, snapshot: Callable[[], tuple[TrustedRegistry | None, Mapping[str, StatusList], int]]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterable[GaugeMetricFamily]:
        trusted, lists, now = self.snapshot()
        held = GaugeMetricFamily("permit_registry_held", "1 when this verifier holds a trusted registry.", value=0 if trusted is None else 1)
        yield held
        if trusted is None:
            return
        registry = trusted.registry
        yield GaugeMetricFamily("permit_registry_version", "Version of the registry held.", value=registry.version)
        yield GaugeMetricFamily("permit_registry_issued_timestamp_seconds", "When the registry held was issued (Unix time).", value=registry.issued_at)
        yield GaugeMetricFamily("permit_registry_expires_timestamp_seconds", "When the registry held expires (Unix time).", value=registry.expires_at)
        yield GaugeMetricFamily("permit_registry_age_seconds", "Seconds since the registry held was issued.", value=now - registry.issued_at)
        families = {
            "held": GaugeMetricFamily("permit_status_list_held", "1 when this verifier holds the agency's status list.", labels=("agency",)),
            "issued": GaugeMetricFamily("permit_status_list_issued_timestamp_seconds", "When the status list held was issued (Unix time).", labels=("agency",)),
            "expires": GaugeMetricFamily("permit_status_list_expires_timestamp_seconds", "When the status list held expires (Unix time).", labels=("agency",)),
            "age": GaugeMetricFamily("permit_status_list_age_seconds", "Seconds since the status list held was issued.", labels=("agency",)),
        }
        # Only the registry's agencies: a list held for another is not used, and is not shown.
        for agency in sorted(registry.agencies):
            status_list = lists.get(agency)
            families["held"].add_metric((agency,), 0 if status_list is None else 1)
            if status_list is not None:
                families["issued"].add_metric((agency,), status_list.issued_at)
                families["expires"].add_metric((agency,), status_list.expires_at)
                families["age"].add_metric((agency,), now - status_list.issued_at)
        yield from families.values()


def multiprocess_mode() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class Exposition:
    """What GET /metrics answers for one app: the counters and histograms (every worker's, in
    multi-process mode) and its store's documents."""

    def __init__(self, documents: DocumentsCollector) -> None:
        self.registry = CollectorRegistry()
        if multiprocess_mode():
            multiprocess.MultiProcessCollector(self.registry)
        else:
            for collector in _OWN:
                self.registry.register(collector)
        self.registry.register(documents)

    def text(self) -> bytes:
        """The metrics in Prometheus' text format (prometheus_client.CONTENT_TYPE_LATEST)."""
        return generate_latest(self.registry)
