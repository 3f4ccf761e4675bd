"""What a running verifier trusts right now, and how it stays fresh.

The documents live in the verifier's home (anchor.json configured by hand; registry.json and
status/*.jwt as last accepted). A `TrustStore` holds an immutable `Snapshot` of them that
request handlers read without locks; a background thread replaces it:

- every `poll_interval` seconds it reloads what changed on disk (a push accepted by another
  worker process, a file dropped in by an operator);
- every `refresh_interval` seconds, or sooner when a document is close to expiry, it pulls the
  registry from `registry_url` and each agency's status list from the `status_url` the registry
  gives for that agency (never a URL from a token). A pull is conditional when the document held
  is the one the host last served: it sends that ETag, and a 304 keeps the document.

All workers of a node answer from the same documents: a process that accepts one (a push, a
pull) bumps the home's generation counter (permits/generation.py), and a worker that sees the
counter move re-reads the home before it answers. Only one process of a node pulls: the one
holding the home's pull lock; the others learn what it installed from the counter.

A verifier that cannot refresh keeps answering with what it has; the pipeline then says
`status_stale` or `registry_stale` once a document is past its expiry plus `grace`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from keys.errors import ConflictError, DocumentError, NotFoundError, PermitError
from keys.reasons import Reason
from keys.trust import MAX_BUNDLE_BYTES, TrustedRegistry, open_bundle
from permits import layout
from permits.generation import Generation
from permits.home import Home
from permits.status_list import MAX_STATUS_TOKEN_LENGTH, StatusList, open_status_list, token_from_bytes
from verifier import metrics
from verifier.http_client import Fetched, get
from verifier.pipeline import verify
from verifier.verdict import Verdict

log = logging.getLogger("permits.verifier")
# (url, max_bytes, timeout, etag or None) → the document, or not modified: http_client.get.
Fetcher = Callable[[str, int, float, str | None], Fetched]


def _fetch(url: str, max_bytes: int, timeout: float, etag: str | None) -> Fetched:
    return get(url, max_bytes, timeout, etag=etag)


@dataclass(frozen=True)
class Snapshot:
    registry: TrustedRegistry | None = None
    registry_problem: Reason | None = Reason.REGISTRY_UNAVAILABLE
    lists: Mapping[str, StatusList] = field(default_factory=dict)
    list_problems: Mapping[str, Reason] = field(default_factory=dict)
    # What was read from disk, to notice changes: path → (inode, mtime_ns, size). Documents are
    # replaced by rename, so a new one has a new inode even within the clock's granularity.
    seen: Mapping[str, tuple[int, int, int]] = field(default_factory=dict)
    # The home's generation when this snapshot was read (-1: never read).
    generation: int = -1
    # Until when the node is ready: it holds a trusted registry and a status list of every agency
    # in it, none past its expiry plus grace. None: not ready, whatever the time.
    ready_until: int | None = None

    def ready(self, now: int) -> bool:
        return self.ready_until is not None and now < self.ready_until


def _signature(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class TrustStore:
    def __init__(
        self,
        home: Home,
        *,
        registry_url: str | None = None,
        pull_status: bool = False,
        refresh_interval: float = 300,
        poll_interval: float = 2,
        grace: int = 0,
        fetch_timeout: float = 5,
        clock: Callable[[], float] = time.time,
        fetcher: Fetcher = _fetch,
    ) -> None:
        self.home = home
        self.registry_url = registry_url
        self.pull_status = pull_status
        self.refresh_interval = refresh_interval
        self.poll_interval = poll_interval
        self.grace = grace
        self.fetch_timeout = fetch_timeout
        self.clock = clock
        self.fetcher = fetcher
        self.snapshot = Snapshot()
        self._refresh_lock = threading.Lock()
        self._last_pull: dict[str, float] = {}
        # What each pull last brought that is held now: key → (its ETag, the held document's
        # identity). Only a document held is named in If-None-Match: one refused (its key not
        # yet in the registry, say) must be fetched whole again.
        self._etags: dict[str, tuple[str, str]] = {}
        self._thread_pid: int | None = None
        self._stopping = threading.Event()
        self._generation = _generation_of(home)
        self._pull_lock: tuple[int, int] | None = None  # (pid, fd) while this process is the puller

    def now(self) -> int:
        return int(self.clock())

    # --- answering ------------------------------------------------------------------------------

    def verify(self, token: object) -> Verdict:
        self.catch_up()
        if self.snapshot.registry is None:
            # Another worker may have received it a moment ago (cheap when not); never wait for
            # a reload already under way, which may be checking a large registry.
            self.reload(wait=False)
        snapshot, now = self.snapshot, self.now()
        if snapshot.registry is None:
            return Verdict("status_unknown", (snapshot.registry_problem or Reason.REGISTRY_UNAVAILABLE,), now, None)
        return verify(token, snapshot.registry.registry, snapshot.lists, now, grace=self.grace)

    # --- accepting pushed documents ----------------------------------------------------------------

    def put_registry(self, raw: bytes) -> TrustedRegistry:
        """A newer registry from anyone: it authenticates itself. Raises RegistryError or
        ConflictError (registry_not_newer) and changes nothing then."""
        trusted = self.home.install_registry(raw, self.now(), require_newer=True)
        self.reload(accepted=trusted)
        return trusted

    def put_status(self, agency: str, token: str) -> StatusList:
        self.reload()  # the registry may have been pushed to another worker a moment ago
        snapshot = self.snapshot
        if snapshot.registry is None:
            raise DocumentError("no trusted registry to check the list against", reason=Reason.REGISTRY_UNAVAILABLE)
        if agency not in snapshot.registry.registry.agencies:
            raise NotFoundError(f"no agency {agency!r} in the registry", reason=Reason.UNKNOWN_ISSUER)
        status_list = self.home.install_status_list(token, snapshot.registry.registry, agency, self.now(), require_newer=True)
        self.reload()
        return status_list

    # --- refreshing -----------------------------------------------------------------------------

    def reload(self, accepted: TrustedRegistry | None = None, wait: bool = True) -> None:
        """Re-read what changed in the home. Never raises; problems are kept as reason codes.

        `accepted` is a registry this process has just checked and written: if the file still
        holds it, it is not checked a second time. Without `wait`, return at once when another
        thread is reloading."""
        if not self._refresh_lock.acquire(blocking=wait):
            return
        try:
            self.snapshot = self._reloaded(self.snapshot, self.now(), accepted)
        finally:
            self._refresh_lock.release()

    def catch_up(self) -> None:
        """Reload if another process of this node accepted a document since this process's
        snapshot was read (the home's generation moved), waiting for a reload under way: threads
        that see the move together reload once. Never answer from the older document."""
        if self._generation is None or self.snapshot.generation == self._generation.current():
            return  # the usual case: one memory load, no lock
        with self._refresh_lock:
            if self.snapshot.generation != self._generation.current():
                self.snapshot = self._reloaded(self.snapshot, self.now())

    def _reloaded(self, old: Snapshot, now: int, accepted: TrustedRegistry | None = None) -> Snapshot:
        # Read before the files: documents are in place before the counter moves, so what is
        # read next is at least as new as this generation.
        generation = self._generation.current() if self._generation is not None else 0
        registry_path = str(self.home.file(layout.REGISTRY))
        seen = dict(old.seen)
        registry, problem = old.registry, old.registry_problem
        registry_changed = _signature(registry_path) != old.seen.get(registry_path)
        if registry_changed:
            seen[registry_path] = _signature(registry_path) or (0, 0, 0)
            try:
                raw = self.home.file(layout.REGISTRY).read_bytes()
                if accepted is not None and raw == accepted.bundle:
                    candidate = accepted
                else:
                    candidate = open_bundle(raw, self.home.anchor(), now, self.home.trust_state())
                if registry is None or candidate.registry.version >= registry.registry.version:
                    registry, problem = candidate, None
            except FileNotFoundError:
                problem = problem if registry is not None else Reason.REGISTRY_UNAVAILABLE
            except PermitError as exc:
                log.warning("registry on disk refused: %s [%s]", exc.message, exc.reason)
                if registry is None:
                    problem = exc.reason
        if registry is None:
            return Snapshot(None, problem, {}, {}, seen, generation)

        lists = dict(old.lists) if not registry_changed else {}
        list_problems = dict(old.list_problems) if not registry_changed else {}
        for agency in registry.registry.agencies:
            path = str(self.home.status_path(agency))
            signature = _signature(path)
            if not registry_changed and signature == old.seen.get(path):
                continue
            seen[path] = signature or (0, 0, 0)
            if signature is None:
                lists.pop(agency, None)
                list_problems[agency] = Reason.STATUS_UNAVAILABLE
                continue
            try:
                token = token_from_bytes(self.home.status_path(agency).read_bytes())
                fresh = open_status_list(token, registry.registry, agency, now)
            except (OSError, PermitError) as exc:
                reason = exc.reason if isinstance(exc, PermitError) else Reason.STATUS_UNAVAILABLE
                log.warning("status list of %s on disk refused [%s]", agency, reason)
                # A list that no longer verifies (its key was just declared compromised) goes.
                if registry_changed or agency not in lists:
                    lists.pop(agency, None)
                list_problems[agency] = reason
                continue
            held = lists.get(agency)
            if held is None or fresh.issued_at >= held.issued_at:
                lists[agency] = fresh
                list_problems.pop(agency, None)
        agencies = registry.registry.agencies
        ready_until = None
        if problem is None and all(agency in lists for agency in agencies):
            ready_until = min([registry.registry.expires_at, *(lists[agency].expires_at for agency in agencies)]) + self.grace
        return Snapshot(registry, problem, lists, list_problems, seen, generation, ready_until)

    def pull(self) -> None:
        """Fetch from the network what is due, if this process is its node's puller. Never raises."""
        if not (self.registry_url or self.pull_status) or not self._is_puller():
            return
        now = self.now()
        fetched: Fetched | None = None
        if self.registry_url and self._due("registry", now, self._registry_expiry()):
            self._last_pull["registry"] = now
            current = self.snapshot.registry
            sent_for = current.digest if current else None
            try:
                fetched = self.fetcher(self.registry_url, MAX_BUNDLE_BYTES, self.fetch_timeout, self._etag_for("registry", sent_for))
                if fetched.modified and (current is None or fetched.body != current.bundle):
                    self.home.install_registry(fetched.body, now)
                    metrics.count_pull(metrics.REGISTRY, metrics.ACCEPTED)
                else:
                    metrics.count_pull(metrics.REGISTRY, metrics.NOT_MODIFIED)
            except ConflictError as exc:
                fetched = None
                metrics.pull_failure(metrics.REGISTRY, exc)
            except PermitError as exc:
                fetched = None
                metrics.pull_failure(metrics.REGISTRY, exc)
                log.warning("registry pull from %s failed: %s [%s]", self.registry_url, exc.message, exc.reason)
            self.reload()
            held = self.snapshot.registry
            if held is not None and fetched is not None and (held.bundle == fetched.body if fetched.modified else held.digest == sent_for):
                self._remember("registry", fetched, held.digest)
            else:
                self._remember("registry", None, None)
        snapshot = self.snapshot
        if self.pull_status and snapshot.registry is not None:
            for agency in snapshot.registry.registry.agencies.values():
                key = f"status:{agency.id}"
                held_list = snapshot.lists.get(agency.id)
                if not self._due(key, now, held_list.expires_at if held_list else None):
                    continue
                self._last_pull[key] = now
                held_token = held_list.token if held_list else None
                token: str | None = None
                fetched = None
                try:
                    fetched = self.fetcher(agency.status_url, MAX_STATUS_TOKEN_LENGTH, self.fetch_timeout, self._etag_for(key, held_token))
                    token = token_from_bytes(fetched.body) if fetched.modified else held_token
                    if token is not None and token != held_token:
                        self.home.install_status_list(token, snapshot.registry.registry, agency.id, now)
                        metrics.count_pull(metrics.STATUS_LIST, metrics.ACCEPTED)
                    else:
                        metrics.count_pull(metrics.STATUS_LIST, metrics.NOT_MODIFIED)
                except ConflictError as exc:
                    token = None
                    metrics.pull_failure(metrics.STATUS_LIST, exc)
                except PermitError as exc:
                    token = None
                    metrics.pull_failure(metrics.STATUS_LIST, exc)
                    log.warning("status list pull for %s failed: %s [%s]", agency.id, exc.message, exc.reason)
                # The list fetched is the one held now (installed, or held already), or none is.
                self._remember(key, fetched if token is not None else None, token)
            self.reload()

    def _is_puller(self) -> bool:
        """Whether this process pulls for its node: the one holding the home's pull lock. Taken
        once and kept for the process's life; when its holder dies, the kernel releases it and
        another process takes it at its next round."""
        if self._pull_lock is not None and self._pull_lock[0] == os.getpid():
            return True
        try:
            fd = os.open(self.home.file(layout.PULL_LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            return True  # a home that cannot hold the lock: each process pulls for itself
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by another process of this node (or the parent this one forked from)
            os.close(fd)
            return False
        self._pull_lock = (os.getpid(), fd)
        return True

    def _etag_for(self, key: str, held: str | None) -> str | None:
        """The ETag to send for `key`: the one its last pull brought, if that document is the
        one held now (`held` is its identity: a registry's digest, a list's token)."""
        remembered = self._etags.get(key)
        return remembered[0] if remembered is not None and held is not None and remembered[1] == held else None

    def _remember(self, key: str, fetched: Fetched | None, held: str | None) -> None:
        if fetched is not None and fetched.etag is not None and held is not None:
            self._etags[key] = (fetched.etag, held)
        else:
            self._etags.pop(key, None)

    def _registry_expiry(self) -> int | None:
        current = self.snapshot.registry
        return current.registry.expires_at if current else None

    def _due(self, key: str, now: int, expires_at: int | None) -> bool:
        last = self._last_pull.get(key)
        if last is None or now - last >= self.refresh_interval:
            return True
        # Close to expiry (or past it): try again sooner, but not in a tight loop.
        return expires_at is not None and expires_at - now < self.refresh_interval and now - last >= self.poll_interval * 5

    def refresh(self) -> None:
        self.reload()
        self.pull()

    # --- the background thread --------------------------------------------------------------------

    def start(self) -> None:
        """Start the refresher in this process (once; again after a fork)."""
        if self._thread_pid == os.getpid():
            return
        self._thread_pid = os.getpid()
        self._refresh_lock = threading.Lock()  # a lock held at fork time would never be released
        thread = threading.Thread(target=self._run, name="permit-refresher", daemon=True)
        thread.start()

    def stop(self) -> None:
        """Ask the refresher to stop after its current round."""
        self._stopping.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.refresh()
            except Exception:  # the refresher must outlive any single failure
                log.exception("refresh failed")
            self._stopping.wait(self.poll_interval)


def _generation_of(home: Home) -> Generation | None:
    try:
        return home.generation
    except OSError as exc:
        # A read-only home (documents placed by the operator) accepts no push: polling suffices.
        log.warning("no generation counter in %s (%s): workers notice changes by polling", home.path, exc.strerror)
        return None
