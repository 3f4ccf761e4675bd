"""Publishing to a static origin: a directory that any static host serves (nginx, a mounted
object-store bucket, the origin of a CDN) and from which a fleet's verifier nodes pull.

An origin's layout is the home's for the documents a verifier needs (permits/layout.py):

    registry.json          the signed registry bundle, byte for byte as the home holds it
    status/<agency>.jwt    each agency's status-list token and "\\n", as the home holds it

Each file is replaced whole (a temporary file in the same directory, fsync, rename, fsync of the
directory) and readable by all (files 0644, the directories made here 0755, whatever the
umask), so a host never serves half a document. The documents authenticate themselves: neither
the origin nor its host is trusted, they only have to be reachable.

An origin never goes back: a document is not replaced by an older one (a home restored from a
backup, a stale publisher's timer) nor by another of the same version, which every verifier
would refuse while a node started afresh would take it. Publishing from one home holds the
home's lock, so an origin receives that home's documents in the order the home accepted them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from keys.errors import ConflictError, DocumentError, NotFoundError, PermitError
from keys.files import write_atomic
from keys.reasons import Reason
from keys.registry import Registry
from keys.trust import open_bundle
from permits import layout
from permits.home import Home
from permits.status_list import open_status_list, token_from_bytes

REGISTRY_TYPE = "application/json"
STATUS_TYPE = "application/statuslist+jwt"
FILE_MODE = 0o644
DIRECTORY_MODE = 0o755


@dataclass(frozen=True)
class Document:
    """A signed document as a home holds it and an origin serves it."""

    path: str  # relative to a home and to an origin: registry.json, status/<agency>.jwt
    body: bytes
    content_type: str
    endpoint: str  # where a verifier's API takes it (PUT /api/v1/<endpoint>)
    agency: str | None = None  # whose status list; None for the registry


@dataclass(frozen=True)
class Copied:
    """One document in one origin after publishing."""

    origin: Path
    document: Document
    written: bool  # False: the origin held these very bytes already (left untouched)

    @property
    def file(self) -> Path:
        return self.origin / self.document.path


def registry_file(origin: Path) -> Path:
    return origin / layout.REGISTRY


def status_file(origin: Path, agency: str) -> Path:
    return origin / layout.status_list(agency)


def registry_document(home: Home) -> Document:
    """The registry bundle this home holds. Raises NotFoundError (registry_missing)."""
    try:
        body = home.file(layout.REGISTRY).read_bytes()
    except FileNotFoundError:
        raise NotFoundError("no registry in this home; run: permit registry publish", reason=Reason.REGISTRY_MISSING) from None
    return Document(layout.REGISTRY, body, REGISTRY_TYPE, "registry")


def status_document(home: Home, agency: str) -> Document:
    """The status list of `agency` this home holds. Raises NotFoundError (status_unavailable)."""
    try:
        body = home.status_path(agency).read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"no status list of {agency} here; run: permit status publish --agency {agency}",
                            reason=Reason.STATUS_UNAVAILABLE) from None
    return Document(layout.status_list(agency), body, STATUS_TYPE, f"status/{agency}", agency)


def held_documents(home: Home) -> list[Document]:
    """This home's registry (if it holds one), then every status list it holds, by agency.
    Raises NotFoundError (registry_missing) when it holds neither."""
    documents = [registry_document(home)] if home.file(layout.REGISTRY).exists() else []
    for path in sorted(home.path.glob(layout.status_list("*"))):
        relative = path.relative_to(home.path).as_posix()
        if layout.is_home_file(relative):
            documents.append(status_document(home, layout.agency_of(relative)))
    if not documents:
        raise NotFoundError(f"{home.path} holds no registry and no status list to publish", reason=Reason.REGISTRY_MISSING)
    return documents


def publish_registry(home: Home, origins: Sequence[Path], now: int) -> list[Copied]:
    """Write this home's registry to each origin. Raises PermitError (origin_unwritable),
    ConflictError (registry_rollback, registry_not_newer: an origin holds a newer registry or
    another of the same version) and NotFoundError (registry_missing)."""
    return _copy(home, lambda: [registry_document(home)], origins, now, None)


def publish_status_list(home: Home, registry: Registry, agency: str, origins: Sequence[Path], now: int) -> list[Copied]:
    """Write the status list of `agency` this home holds to each origin; `registry` is the one
    the home trusts. Raises PermitError (origin_unwritable), ConflictError (status_rollback,
    status_not_newer) and NotFoundError (status_unavailable)."""
    return _copy(home, lambda: [status_document(home, agency)], origins, now, registry)


def sync(home: Home, origin: Path, now: int) -> list[Copied]:
    """Write every document this home holds (held_documents) to `origin`: nothing is written
    unless every one of them may be. Raises as publish_registry and publish_status_list do."""
    return _copy(home, lambda: held_documents(home), [origin], now, None)


def _copy(home: Home, read: Callable[[], list[Document]], origins: Sequence[Path], now: int,
          registry: Registry | None) -> list[Copied]:
    if not origins:
        return []
    trusted: list[Registry] = [registry] if registry is not None else []

    def home_registry() -> Registry:
        if not trusted:
            trusted.append(home.trusted_registry(now).registry)
        return trusted[0]

    with home.lock():
        documents = read()
        plan = [(origin, document, _differs(origin, document, home, now, home_registry))
                for origin in origins for document in documents]
        for origin, document, differs in plan:
            if differs:
                _write(origin, document)
    return [Copied(origin, document, differs) for origin, document, differs in plan]


def _differs(origin: Path, document: Document, home: Home, now: int, registry: Callable[[], Registry]) -> bool:
    """Whether `origin` must be given `document`: False when it holds these very bytes. Raises
    ConflictError when it holds a newer genuine document of the kind, or another of the same
    version; a file that is not a genuine document (damaged, another registry's) is replaced."""
    try:
        held = (origin / document.path).read_bytes()
    except FileNotFoundError:
        return True
    except OSError as exc:
        raise _unwritable(origin, exc) from None
    if held == document.body:
        return False
    if document.agency is None:
        anchor = home.anchor()
        version = open_bundle(document.body, anchor, now, allow_stale=True).registry.version
        try:
            held_version = open_bundle(held, anchor, now, allow_stale=True).registry.version
        except DocumentError:
            return True
        if held_version > version:
            raise ConflictError(f"origin {origin} holds registry version {held_version}, newer than this home's ({version}); "
                                "publish from the home that made it", reason=Reason.REGISTRY_ROLLBACK)
        if held_version == version:
            raise ConflictError(f"origin {origin} holds another registry of version {version}", reason=Reason.REGISTRY_NOT_NEWER)
        return True
    agency = document.agency
    issued_at = open_status_list(token_from_bytes(document.body), registry(), agency, now).issued_at
    try:
        held_at = open_status_list(token_from_bytes(held), registry(), agency, now).issued_at
    except DocumentError:
        return True
    if held_at > issued_at:
        raise ConflictError(f"origin {origin} holds a status list of {agency} issued at {held_at}, newer than this home's "
                            f"({issued_at}); publish from the home that made it", reason=Reason.STATUS_ROLLBACK)
    if held_at == issued_at:
        raise ConflictError(f"origin {origin} holds another status list of {agency} issued at {issued_at}",
                            reason=Reason.STATUS_NOT_NEWER)
    return True


def _write(origin: Path, document: Document) -> None:
    target = origin / document.path
    try:
        _directory(origin)
        if target.parent != origin:
            _directory(target.parent)
        write_atomic(target, document.body, FILE_MODE, exact_mode=True, sync_directory=True)
    except OSError as exc:
        raise _unwritable(origin, exc) from None


def _directory(path: Path) -> None:
    """`path` as a directory, made readable by all when it is made here (its parent must exist)."""
    try:
        path.mkdir(mode=DIRECTORY_MODE)
    except FileExistsError:
        if path.is_dir():
            return
        raise
    path.chmod(DIRECTORY_MODE)  # mkdir's mode passes through the umask


def _unwritable(origin: Path, exc: OSError) -> PermitError:
    where = f" ({exc.filename})" if exc.filename else ""
    return PermitError(f"cannot write to origin {origin}: {exc.strerror or exc}{where}; once it can be written, "
                       f"run: permit origin sync {origin}", reason=Reason.ORIGIN_UNWRITABLE)
