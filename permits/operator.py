"""The registry operator's ceremonies: set up the root of trust, edit the draft, publish.

Publishing signs the draft with a threshold of root keys and then installs the result through
exactly the checks a verifier makes (keys.trust.open_bundle), so a bundle that a verifier would
refuse is never written.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from keys.algorithms import DEFAULT_ALG, Alg, KeyRejected, PublicKey, load_public_jwk
from keys.encoding import load_json_file_strict
from keys.errors import ConflictError, InputError
from keys.fields import MAX_TIME, FieldError
from keys.reasons import Reason
from keys.registry import Agency, Contact, Names, PermitType, Registry, RetiredReason, check_phone, check_web
from keys.signer import KeySigner
from keys.text import check_identifier, normalise_text
from keys.trust import Root, TrustedRegistry, follow_roots, make_bundle, sign_registry, sign_root
from permits import layout, origin
from permits.home import Home, Passphrase

ROOT_LABEL = "root"
DEFAULT_VALIDITY = 30 * 86_400


def init_registry(
    home: Home, registry_id: str, name: str, roots: int, threshold: int, passphrase: bytes, now: int
) -> Root:
    """Create the root keys, root version 1, the anchor and an empty draft."""
    check_identifier(registry_id, "registry id")
    name = normalise_text(name, "registry name", 200)
    if home.file(layout.ANCHOR).exists() or home.file(layout.DRAFT).exists():
        raise ConflictError(f"{home.path} already holds a registry; use another home", reason=Reason.ALREADY_INITIALISED)
    if not 1 <= threshold <= roots <= 16:
        raise InputError("need 1 <= threshold <= root keys <= 16", reason=Reason.BAD_THRESHOLD)
    signers = [home.generate_key(ROOT_LABEL, passphrase, context=(registry_id, name)) for _ in range(roots)]
    root = Root(registry=registry_id, version=1, threshold=threshold, keys={s.kid: s.public_key() for s in signers})
    home.save_root_chain([sign_root(root, signers)])
    home.write_anchor(root)
    home.save_draft(Registry(id=registry_id, name=name, version=0, issued_at=now, expires_at=now, types={}, agencies={}))
    return root


def install_anchor(home: Home, path: Path) -> Root:
    """Trust the anchor in `path` (a root document, as the operator's anchor.json). A home
    that already trusts a different anchor keeps it: replacing a trust anchor is not a side
    effect of installing a registry."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read trust anchor {path}: {exc.strerror}", reason=Reason.BAD_ANCHOR) from None
    try:
        root = Root.from_dict(load_json_file_strict(raw, f"trust anchor {path}"))
    except FieldError as exc:
        raise InputError(f"trust anchor {path} is not valid: {exc}", reason=Reason.BAD_ANCHOR) from None
    if home.file(layout.ANCHOR).exists():
        if home.anchor() != root:
            raise ConflictError(f"{home.path} already trusts another anchor; use a new home", reason=Reason.ANCHOR_CONFLICT)
        return root
    home.write_anchor(root)
    return root


def current_root(home: Home) -> Root:
    return follow_roots(home.anchor(), home.root_chain())


def root_signers(home: Home, passphrase: Passphrase, root: Root) -> list[KeySigner]:
    """Every key of `root` whose private part this home holds."""
    return [home.signer(ROOT_LABEL, kid, passphrase) for kid in sorted(root.keys) if home.has_private_key(ROOT_LABEL, kid)]


def publish(home: Home, passphrase: Passphrase, now: int, valid_for: int = DEFAULT_VALIDITY,
            origins: Sequence[Path] = ()) -> TrustedRegistry:
    """Bump the version, set the expiry, sign with the root threshold, install, write one file;
    then write it to each of `origins` too (permits/origin.py; origin_unwritable or a conflict
    there is raised after the home holds the new version)."""
    draft = home.draft()
    draft.check_publishable()
    if valid_for < 3600:
        raise InputError("a registry must stay valid for at least an hour", reason=Reason.BAD_VALIDITY)
    if now + valid_for > MAX_TIME:
        raise InputError("a registry must expire before the year 10000", reason=Reason.BAD_VALIDITY)
    root = current_root(home)
    signers = root_signers(home, passphrase, root)
    if len(signers) < root.threshold:
        raise InputError(
            f"this home holds {len(signers)} of the {root.threshold} root keys needed to publish", reason=Reason.BELOW_THRESHOLD
        )
    state = home.trust_state()
    version = max(draft.version, state.registry_version if state else 0) + 1
    new = replace(draft, version=version, issued_at=now, expires_at=now + valid_for)
    bundle = make_bundle(home.root_chain(), sign_registry(new, signers[: root.threshold]))
    trusted = home.install_registry(bundle, now)
    home.save_draft(new)
    origin.publish_registry(home, origins, now)
    return trusted


def rotate_root(home: Home, passphrase: Passphrase, roots: int, threshold: int) -> Root:
    """New root keys, as the next root version, signed by a threshold of the current root keys
    and a threshold of the new ones (TUF), so that a verifier anchored on any earlier root can
    follow the chain. The next `publish` signs with the new keys."""
    if not 1 <= threshold <= roots <= 16:
        raise InputError("need 1 <= threshold <= root keys <= 16", reason=Reason.BAD_THRESHOLD)
    current = current_root(home)
    old_signers = root_signers(home, passphrase, current)
    if len(old_signers) < current.threshold:
        raise InputError(
            f"this home holds {len(old_signers)} of the {current.threshold} current root keys needed to rotate",
            reason=Reason.BELOW_THRESHOLD,
        )
    secret = passphrase("the new root keys")
    new_signers = [home.generate_key(ROOT_LABEL, secret, context=(current.registry,)) for _ in range(roots)]
    new_root = Root(registry=current.registry, version=current.version + 1, threshold=threshold,
                    keys={s.kid: s.public_key() for s in new_signers})
    signed = sign_root(new_root, [*old_signers[: current.threshold], *new_signers[:threshold]])
    home.save_root_chain([*home.root_chain(), signed])
    return new_root


def _edit(home: Home, edit: Callable[[Registry], Registry]) -> Registry:
    """Apply one edit to the draft; the model's FieldError becomes one InputError line."""
    try:
        registry = edit(home.draft())
    except FieldError as exc:
        raise InputError(str(exc), reason=Reason.BAD_INPUT) from None
    home.save_draft(registry)
    return registry


def add_type(home: Home, code: str, name_vi: str, name_en: str, max_days: int, requires: Sequence[str] = ()) -> Registry:
    check_identifier(code, "permit type code")
    names = Names(normalise_text(name_vi, "Vietnamese name", 200), normalise_text(name_en, "English name", 200))
    if code in requires:
        raise InputError(f"permit type {code} cannot rest on itself", reason=Reason.REQUIREMENT_CYCLE)
    # Built inside the edit, so that a value the model refuses is one InputError line, not a crash.
    return _edit(home, lambda r: r.with_type(PermitType(code=code, name=names, max_days=max_days, requires=tuple(sorted(set(requires))))))


def set_requirements(home: Home, code: str, requires: Sequence[str]) -> Registry:
    """Make type `code` rest on `requires` (none: on nothing) in the draft."""
    return _edit(home, lambda r: r.with_requirements(code, tuple(requires)))


def contact(phone: str | None, web: str | None) -> Contact | None:
    """The contact an operator typed (None when neither is given); InputError names what is wrong
    (bad_input for the phone number, bad_url for the web address)."""
    phone = " ".join(phone.split()) if phone is not None else None  # spaces as typed, one between groups
    web = web.strip() if web is not None else None
    try:
        if phone is not None:
            check_phone(phone, "the phone number (--phone)")
    except FieldError as exc:
        raise InputError(str(exc), reason=Reason.BAD_INPUT) from None
    try:
        if web is not None:
            check_web(web, "the web address (--web)")
    except FieldError as exc:
        raise InputError(str(exc), reason=Reason.BAD_URL) from None
    return Contact(phone=phone, web=web) if phone is not None or web is not None else None


def add_agency(home: Home, agency_id: str, name_vi: str, name_en: str, types: list[str], status_url: str | None,
               phone: str | None = None, web: str | None = None) -> Registry:
    check_identifier(agency_id, "agency id")
    names = Names(normalise_text(name_vi, "Vietnamese name", 200), normalise_text(name_en, "English name", 200))
    if not types:
        raise InputError("an agency must be allowed at least one permit type (--type)", reason=Reason.BAD_INPUT)
    url = status_url or f"{home.base_url.rstrip('/')}/api/v1/status/{agency_id}"
    new = contact(phone, web)
    return _edit(home, lambda r: r.with_agency(Agency(id=agency_id, name=names, types=tuple(sorted(set(types))), status_url=url,
                                                      contact=new)))


def set_contact(home: Home, agency_id: str, phone: str | None, web: str | None) -> Registry:
    """Give the agency exactly this contact in the draft: what is not given is removed (neither:
    the agency has no contact)."""
    new = contact(phone, web)
    return _edit(home, lambda r: r.with_contact(agency_id, new))


def set_agency_types(home: Home, agency_id: str, types: list[str]) -> Registry:
    if not types:
        raise InputError("an agency must be allowed at least one permit type (--type)", reason=Reason.BAD_INPUT)
    return _edit(home, lambda r: r.with_agency_types(agency_id, tuple(types)))


def read_public_key_file(path: Path, alg: Alg | None) -> PublicKey:
    """A public JWK handed over by an agency, checked like every registry key."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read public key file {path}: {exc.strerror}", reason=Reason.BAD_KEY_FILE) from None
    jwk = load_json_file_strict(raw, f"public key file {path}")
    chosen = alg or (jwk.get("alg") if isinstance(jwk, dict) else None) or DEFAULT_ALG
    try:
        return load_public_jwk(jwk, chosen)
    except KeyRejected as exc:
        raise InputError(f"public key file {path} refused: {exc}", reason=Reason.BAD_KEY_FILE) from None


def add_key(home: Home, agency_id: str, public_key: PublicKey, valid_from: int) -> Registry:
    return _edit(home, lambda r: r.with_key(agency_id, public_key, valid_from))


def retire_key(home: Home, agency_id: str, kid: str, reason: RetiredReason, at: int) -> Registry:
    return _edit(home, lambda r: r.with_retired_key(agency_id, kid, reason, at))
