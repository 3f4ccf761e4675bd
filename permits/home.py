"""A permit home: the directory an operator, an agency or a verifier keeps its files in, read
and written here (its files are named in permits/layout.py).

Every file is written whole (temporary file, fsync, rename) so a crash never leaves half of one.
"""

from __future__ import annotations

import enum
import fcntl
import ipaddress
import json
import os
from collections.abc import Callable, Collection, Iterable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from keys.algorithms import DEFAULT_ALG, KID_LENGTH, Alg, PrivateKey, generate_private_key
from keys.encoding import dumps_canonical, load_json_file_strict
from keys.errors import (
    ConflictError,
    DocumentError,
    InputError,
    NotFoundError,
    RegistryError,
    WrongPassphrase,
)
from keys.fields import FieldError
from keys.files import write_atomic
from keys.jws import decode_header, split_compact
from keys.keyfile import key_file_protection, load_signer, read_private_key, rewrite_private_key, write_private_key
from keys.passphrase import check_new_passphrase
from keys.pkcs8 import Protection
from keys.reasons import N_, Reason
from keys.registry import Registry
from keys.signer import KeySigner
from keys.trust import Root, TrustedRegistry, TrustState, open_bundle
from permits import layout
from permits.generation import Generation
from permits.ledger import Ledger
from permits.status_list import (
    MAX_STATUS_TOKEN_LENGTH,
    StatusList,
    open_status_list,
    token_from_bytes,
    unverified_issued_at,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
Passphrase = Callable[[str], bytes]


def is_loopback_url(url: str) -> bool:
    """Whether `url` names this machine: localhost (or a name under .localhost, RFC 6761), an
    address in 127.0.0.0/8, ::1 (or the IPv4 loopback mapped into IPv6), or 0.0.0.0 / ::."""
    try:
        host = (urlsplit(url.strip()).hostname or "").rstrip(".")
    except ValueError:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


def trust_state_document(trusted: TrustedRegistry) -> bytes:
    """The bytes of trust-state.json after `trusted` was accepted."""
    state = {"root": trusted.root.to_dict(), "registry_version": trusted.registry.version, "registry_digest": trusted.digest}
    return json.dumps(state, indent=2).encode() + b"\n"


class KeyAction(enum.Enum):
    """What `Home.protect_keys` did to one key file."""

    REPROTECTED = "reprotected"  # was below the standard: rewritten to it, same passphrase
    NEW_PASSPHRASE = "new_passphrase"  # rewritten to the standard under the new passphrase
    KEPT = "kept"  # already at the standard (and under the new passphrase, when one was given)


@dataclass(frozen=True)
class ProtectedKey:
    label: str
    kid: str
    path: Path
    before: Protection
    after: Protection
    action: KeyAction


@dataclass(frozen=True)
class Home:
    path: Path

    @classmethod
    def existing(cls, path: Path) -> Home:
        if not path.is_dir():
            raise NotFoundError(N_("permit home {path} does not exist; set PERMIT_HOME or --home, or run: permit registry init"),
                                reason=Reason.HOME_MISSING, path=path)
        return cls(path)

    @classmethod
    def create(cls, path: Path) -> Home:
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    def file(self, relative: str) -> Path:
        return self.path / relative

    @property
    def lock_path(self) -> Path:
        return self.file(layout.LOCK)

    @cached_property
    def generation(self) -> Generation:
        """The counter that says the shared documents changed (mapped once per Home)."""
        return Generation(self.file(layout.GENERATION))

    def documents_changed(self) -> None:
        """Tell every process reading this home that a registry or status list was replaced.
        The caller holds the home's lock and has put the new documents in place."""
        self.generation.bump()

    @contextmanager
    def lock(self, handle: IO[Any] | None = None) -> Iterator[None]:
        """Serialise check-then-write on the shared documents across processes (verifier
        workers accepting pushes, an officer publishing, a restore), so a rollback check cannot
        race. `handle`: the lock file already open (a restore shares it with its janitor)."""
        with open(self.lock_path, "a") if handle is None else nullcontext(handle) as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(held, fcntl.LOCK_UN)

    def _read_json(self, relative: str, what: str, missing: str, reason: Reason) -> Any:
        """The JSON document at `relative`; NotFoundError(`reason`) with the sentence `missing`
        (a template of {path}, marked N_()) when there is none."""
        path = self.file(relative)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(missing, reason=reason, path=path) from None
        return load_json_file_strict(raw, f"{what} {path}")

    # --- settings ---------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        path = self.file(layout.CONFIG)
        if not path.exists():
            return {}
        value = load_json_file_strict(path.read_bytes(), f"settings file {path}")
        if not isinstance(value, dict):
            raise InputError(f"settings file {path} must hold a JSON object", reason=Reason.BAD_CONFIG)
        return value

    def set_config(self, **values: Any) -> None:
        write_atomic(self.file(layout.CONFIG), json.dumps({**self.config(), **values}, indent=2, ensure_ascii=False).encode())

    @property
    def base_url(self) -> str:
        return os.environ.get("PERMIT_BASE_URL") or str(self.config().get("base_url", DEFAULT_BASE_URL))

    def printed_base_url(self) -> str:
        """The base URL to put on paper and in QR codes: the home's, refused (InputError
        loopback_base_url) when it names this machine (localhost, 127.0.0.0/8, ::1) outside a
        demo home, since a permit printed with it can be checked nowhere else."""
        url = self.base_url
        if is_loopback_url(url) and not self.is_demo:
            raise InputError(
                N_("the base URL {url} is this computer's own address, and a permit printed with it can be checked "
                   "nowhere else: set the official verifier's address with PERMIT_BASE_URL=https://… (this session) "
                   "or \"base_url\" in {config} (this home)"),
                reason=Reason.LOOPBACK_BASE_URL, url=url, config=self.file(layout.CONFIG))
        return url

    @property
    def is_demo(self) -> bool:
        """Whether `permit demo` built this home (permits/demo.py)."""
        return self.file(layout.DEMO).is_file()

    def mark_demo(self) -> None:
        write_atomic(self.file(layout.DEMO), b"made by permit demo; deleted by the next run\n")

    # --- trust --------------------------------------------------------------------------------

    def anchor(self) -> Root:
        raw = self._read_json(layout.ANCHOR, "trust anchor", N_("trust anchor not found at {path}; copy the registry operator's anchor.json here"),
                              Reason.ANCHOR_MISSING)
        try:
            return Root.from_dict(raw)
        except FieldError as exc:
            raise RegistryError(f"trust anchor {self.file('anchor.json')} is not valid: {exc}") from None

    def write_anchor(self, root: Root) -> None:
        write_atomic(self.file(layout.ANCHOR), json.dumps(root.to_dict(), indent=2).encode() + b"\n")

    def trust_state(self) -> TrustState | None:
        path = self.file(layout.TRUST_STATE)
        if not path.exists():
            return None
        raw = load_json_file_strict(path.read_bytes(), f"trust state {path}")
        try:
            return TrustState(Root.from_dict(raw["root"]), int(raw["registry_version"]), str(raw["registry_digest"]))
        except (KeyError, TypeError, ValueError, FieldError) as exc:
            raise RegistryError(f"trust state {path} is damaged ({exc})") from None

    def _save_state(self, trusted: TrustedRegistry) -> None:
        write_atomic(self.file(layout.TRUST_STATE), trust_state_document(trusted))

    def trusted_registry(self, now: int) -> TrustedRegistry:
        """The home's registry, checked against the anchor and what was accepted before."""
        path = self.file(layout.REGISTRY)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(N_("no registry at {path}; publish one (permit registry publish) or install the operator's"),
                                reason=Reason.REGISTRY_MISSING, path=path) from None
        trusted = open_bundle(raw, self.anchor(), now, self.trust_state())
        self._save_state(trusted)
        return trusted

    def install_registry(self, raw: bytes, now: int, require_newer: bool = False) -> TrustedRegistry:
        """Accept a registry bundle from anywhere once it checks out; refuse rollback, and with
        `require_newer` also the version already held.

        The bundle is checked outside the home's lock, so a push being checked never holds up
        another: under the lock the trust state is only read again and, unchanged, the bundle
        written. If another registry was accepted meanwhile, this one is checked again against
        it (each round needs a newer registry accepted by someone else, so the rounds end)."""
        anchor, state = self.anchor(), self.trust_state()
        while True:
            trusted = open_bundle(raw, anchor, now, state)
            if require_newer and state is not None and trusted.registry.version <= state.registry_version:
                raise ConflictError(f"registry version {trusted.registry.version} is already held", reason=Reason.REGISTRY_NOT_NEWER)
            with self.lock():
                current = self.trust_state()
                if current == state:
                    write_atomic(self.file(layout.REGISTRY), raw)
                    self._save_state(trusted)
                    self.documents_changed()
                    return trusted
            state = current

    # --- operator files -----------------------------------------------------------------------

    def draft(self) -> Registry:
        raw = self._read_json(layout.DRAFT, "registry draft",
                              N_("registry draft not found at {path}; this home is not a registry operator's (permit registry init)"),
                              Reason.NOT_OPERATOR)
        try:
            return Registry.from_dict(raw)
        except FieldError as exc:
            raise InputError(f"registry draft is not valid: {exc}", reason=Reason.BAD_DRAFT) from None

    def save_draft(self, registry: Registry) -> None:
        write_atomic(self.file(layout.DRAFT), json.dumps(registry.to_dict(), indent=2, ensure_ascii=False).encode() + b"\n")

    def root_chain(self) -> list[dict[str, Any]]:
        chain = self._read_json(layout.ROOTS, "root chain", N_("root chain not found at {path}; this home is not a registry operator's"),
                                Reason.NOT_OPERATOR)
        if not isinstance(chain, list):
            raise InputError(f"{layout.ROOTS} must be a list", reason=Reason.BAD_DRAFT)
        return chain

    def save_root_chain(self, chain: list[dict[str, Any]]) -> None:
        write_atomic(self.file(layout.ROOTS), dumps_canonical(chain) + b"\n")

    # --- keys ---------------------------------------------------------------------------------

    def private_key_path(self, label: str, kid: str) -> Path:
        return self.file(layout.private_key(label, kid))

    def generate_key(self, label: str, passphrase: bytes, alg: Alg = DEFAULT_ALG, context: Iterable[str] = ()) -> KeySigner:
        """New key pair: private part encrypted in private/, public JWK in public/.

        Raises InputError (weak_passphrase, weak_passphrase_*) before anything is written when
        the passphrase is short or guessable; `label` and `context` (e.g. the registry id) are
        the names guessers try first.
        """
        names = (label, *context)
        check_new_passphrase(passphrase, names)
        private_key = generate_private_key(alg)
        signer = KeySigner(private_key)
        private_dir = self.file(layout.PRIVATE)
        private_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(private_dir, 0o700)
        write_private_key(self.private_key_path(label, signer.kid), private_key, passphrase, names)
        jwk = signer.public_key().handover_jwk()
        write_atomic(self.public_key_path(signer.kid), json.dumps(jwk, indent=2).encode() + b"\n")
        return signer

    def protect_keys(
        self, passphrase: Passphrase, new_passphrase: bytes | None = None, labels: Collection[str] = ()
    ) -> list[ProtectedKey]:
        """Bring every private key file of this home (or of `labels`) to the standard protection,
        and under `new_passphrase` when one is given.

        Every key to rewrite is loaded before any file is replaced, so a wrong passphrase or a
        damaged file stops the whole run with nothing changed; each file is then replaced whole,
        only after its new form decrypts to the same key. A run interrupted while changing the
        passphrase can be run again: a file that opens only with the new passphrase and meets
        the standard is kept. Raises InputError (weak new passphrase), NotFoundError (a label
        with no key here) and the KeyFileErrors of reading a key file.
        """
        found = []
        for path in sorted(self.file(layout.PRIVATE).glob("*.key")):
            # private/<label>-<kid>.key, the only names this home gives key files
            label, dash, kid = path.stem[: -KID_LENGTH - 1], path.stem[-KID_LENGTH - 1 : -KID_LENGTH], path.stem[-KID_LENGTH:]
            if dash == "-" and label and (not labels or label in labels):
                found.append((label, kid, path))
        missing = sorted(set(labels) - {label for label, _kid, _path in found})
        if missing:
            raise NotFoundError(f"this home holds no private key of {', '.join(missing)}", reason=Reason.KEY_FILE_MISSING)
        if new_passphrase is not None:
            check_new_passphrase(new_passphrase, sorted({label for label, _kid, _path in found}))
        # (the report line, the key to rewrite or None, the passphrase to rewrite it under)
        plan: list[tuple[ProtectedKey, PrivateKey | None, bytes]] = []
        for label, kid, path in found:
            before = key_file_protection(path)
            entry = ProtectedKey(label, kid, path, before, before, KeyAction.KEPT)
            if new_passphrase is None and before.meets_standard:
                plan.append((entry, None, b""))
                continue
            secret = passphrase(f"key {kid} of {label}")
            try:
                key = read_private_key(path, secret)
            except WrongPassphrase:
                if new_passphrase is None or not before.meets_standard:
                    raise
                read_private_key(path, new_passphrase)  # still bad_passphrase when neither opens it
                plan.append((entry, None, b""))
                continue
            if new_passphrase is not None and new_passphrase != secret:
                plan.append((replace(entry, action=KeyAction.NEW_PASSPHRASE), key, new_passphrase))
            elif not before.meets_standard:
                plan.append((replace(entry, action=KeyAction.REPROTECTED), key, secret))
            else:
                plan.append((entry, None, b""))
        done = []
        for entry, to_rewrite, secret in plan:
            done.append(entry if to_rewrite is None else replace(entry, after=rewrite_private_key(entry.path, to_rewrite, secret)))
        return done

    def public_key_path(self, kid: str) -> Path:
        return self.file(layout.public_key(kid))

    def has_private_key(self, label: str, kid: str) -> bool:
        return self.private_key_path(label, kid).exists()

    def signer(self, label: str, kid: str, passphrase: Passphrase) -> KeySigner:
        path = self.private_key_path(label, kid)
        if not path.exists():
            raise NotFoundError(f"this home has no private key {kid} for {label} ({path})", reason=Reason.KEY_FILE_MISSING)
        return load_signer(path, passphrase(f"key {kid} of {label}"))

    def agency_signer(self, registry: Registry, agency_id: str, passphrase: Passphrase, now: int) -> KeySigner:
        """The agency's newest registered, usable key whose private part is in this home."""
        agency = registry.agency(agency_id)
        for key in agency.active_keys(now):
            if self.has_private_key(agency_id, key.kid):
                return self.signer(agency_id, key.kid, passphrase)
        raise NotFoundError(N_("this home holds no current registered key of {agency}; "
                               "generate one (permit keys generate) and have the operator register and publish it"),
                            reason=Reason.NO_SIGNING_KEY, agency=agency_id)

    # --- ledgers and status lists ---------------------------------------------------------------

    def ledger_path(self, agency: str) -> Path:
        return self.file(layout.ledger(agency))

    def ledger(self, agency: str, create: bool = False) -> Ledger:
        path = self.ledger_path(agency)
        if create and not path.exists():
            return Ledger.create(path, agency)
        return Ledger.open(path, agency)

    def ledger_agencies(self) -> list[str]:
        """The agencies that have a ledger in this home, sorted."""
        return sorted(path.stem for path in self.file(layout.LEDGERS).glob("*.db"))

    def agency_of(self, permit_id: str) -> str:
        """The agency whose ledger in this home holds `permit_id`; NotFoundError when none does,
        InputError when several do (then the agency must be named)."""
        found = []
        for agency in self.ledger_agencies():
            with self.ledger(agency) as ledger:
                try:
                    ledger.get(permit_id)
                except NotFoundError:
                    continue
            found.append(agency)
        if not found:
            raise NotFoundError(N_("no permit {id!r} in any ledger of this home"), reason=Reason.PERMIT_NOT_FOUND, id=permit_id)
        if len(found) > 1:
            raise InputError(N_("permit id {id} is in several ledgers; name one with --agency"), reason=Reason.AMBIGUOUS_PERMIT, id=permit_id)
        return found[0]

    def status_path(self, agency: str) -> Path:
        return self.file(layout.status_list(agency))

    def has_status_list(self, agency: str) -> bool:
        return self.status_path(agency).exists()

    def status_list(self, registry: Registry, agency: str, now: int) -> StatusList | None:
        path = self.status_path(agency)
        if not path.exists():
            return None
        return open_status_list(token_from_bytes(path.read_bytes()), registry, agency, now)

    def status_lists(self, registry: Registry, now: int) -> dict[str, StatusList]:
        """Every agency's list this home holds that still verifies; the rest are unavailable."""
        lists = {}
        for agency in registry.agencies:
            try:
                status_list = self.status_list(registry, agency, now)
            except DocumentError:
                continue
            if status_list is not None:
                lists[agency] = status_list
        return lists

    def install_status_list(
        self, token: str, registry: Registry, agency: str, now: int, require_newer: bool = False
    ) -> StatusList:
        """Keep a newer verified list; refuse an older one, and with `require_newer` also the
        one held or another issued at the same second.

        The list is verified outside the home's lock; under it only the held list's header is
        read (it was verified when it was written) and compared."""
        new = open_status_list(token, registry, agency, now)
        if new.is_expired(now):
            raise DocumentError(f"status list of {agency} expired at {new.expires_at}", reason=Reason.STATUS_STALE)
        with self.lock():
            held_at, held_token = self._held_status(registry, agency)
            if held_at is not None and new.issued_at <= held_at and (require_newer or new.token != held_token):
                raise ConflictError(
                    f"status list of {agency} issued at {new.issued_at} is not newer than the one held ({held_at})",
                    reason=Reason.STATUS_NOT_NEWER if new.issued_at == held_at else Reason.STATUS_ROLLBACK,
                )
            write_atomic(self.status_path(agency), token.encode("ascii") + b"\n")
            self.documents_changed()
        return new

    def _held_status(self, registry: Registry, agency: str) -> tuple[int | None, str | None]:
        """(issued_at, token) of the list held for `agency`, read without verifying it again;
        (None, None) when there is none or it no longer counts: its key is not one of the
        agency's in `registry` that may sign at its issue time (a key declared compromised since)."""
        try:
            token = token_from_bytes(self.status_path(agency).read_bytes())
            header = decode_header(split_compact(token, MAX_STATUS_TOKEN_LENGTH)[0])
        except (FileNotFoundError, DocumentError):
            return None, None
        issued_at, kid = unverified_issued_at(token), header.get("kid")
        key = registry.key(kid) if isinstance(kid, str) else None
        if type(issued_at) is not int or key is None or key.agency != agency or key.compromised:
            return None, None
        return (issued_at, token) if key.usable_for_signing_at(issued_at) else (None, None)
