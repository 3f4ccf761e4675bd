"""The files of a permit home, each named once.

A home is the directory an operator, an agency or a verifier keeps its files in (PERMIT_HOME):

    anchor.json            trust anchor: root public keys and threshold (set by hand)
    registry.json          the signed registry bundle last accepted
    trust-state.json       what was accepted (root, version, digest): the rollback guard
    config.json            settings, e.g. the verifier base URL printed in QR codes
    operator/draft.json    the operator's unsigned working copy of the registry
    operator/roots.json    the signed root documents, oldest first
    private/<label>-<kid>.key   encrypted private keys, mode 0600 in a 0700 directory
    public/<kid>.jwk.json  public keys, to hand over to the registry operator
    ledgers/<agency>.db    each agency's ledger
    status/<agency>.jwt    status lists: the agency's own, or the latest verified copy
    .lock                  the lock a check-then-write on the shared documents takes
    .generation            bumped each time a registry or status list is accepted (permits/generation.py)
    .pull.lock             held by the one process of a verifier that pulls documents
    .permit-demo           marks a home `permit demo` built: only there may permits point at
                           this machine (a loopback base URL), and only there may a demo replace it

Paths here are relative to the home, POSIX-style (as a backup's members are); permits/home.py
reads and writes them. Nothing else spells a file name of a home.
"""

from __future__ import annotations

import re

ANCHOR = "anchor.json"
REGISTRY = "registry.json"
TRUST_STATE = "trust-state.json"
CONFIG = "config.json"
LOCK = ".lock"
GENERATION = ".generation"
PULL_LOCK = ".pull.lock"
DEMO = ".permit-demo"

OPERATOR = "operator"
PRIVATE = "private"
PUBLIC = "public"
LEDGERS = "ledgers"
STATUS = "status"

DRAFT = f"{OPERATOR}/draft.json"
ROOTS = f"{OPERATOR}/roots.json"
_LEDGER_SUFFIX = ".db"
_STATUS_SUFFIX = ".jwt"

# The files at the top of a home, and its directories with the ending of their files (one
# level, no hidden files): what a backup holds and a restore may write.
TOP_FILES = (ANCHOR, REGISTRY, TRUST_STATE, CONFIG)
DIRECTORIES = {STATUS: _STATUS_SUFFIX, LEDGERS: _LEDGER_SUFFIX, OPERATOR: "", PRIVATE: "", PUBLIC: ""}
# One path component, not hidden (temporary files are): key ids may begin with "-" or "_".
_NAME = re.compile(r"[^./\x00-\x1f][^/\x00-\x1f]{0,254}")


def private_key(label: str, kid: str) -> str:
    return f"{PRIVATE}/{label}-{kid}.key"


def public_key(kid: str) -> str:
    return f"{PUBLIC}/{kid}.jwk.json"


def ledger(agency: str) -> str:
    return f"{LEDGERS}/{agency}{_LEDGER_SUFFIX}"


def status_list(agency: str) -> str:
    return f"{STATUS}/{agency}{_STATUS_SUFFIX}"


def in_directory(path: str, directory: str) -> bool:
    return path.startswith(f"{directory}/")


def agency_of(path: str) -> str:
    """The agency a ledger's or a status list's path names."""
    return path.rsplit("/", 1)[-1].rsplit(".", 1)[0]


def is_home_file(path: str) -> bool:
    """Whether `path` (relative, POSIX) is a file of a home's layout: nothing absolute, no `..`,
    nothing hidden, nothing outside the directories above."""
    parts = path.split("/")
    if len(parts) == 1:
        return path in TOP_FILES
    return (len(parts) == 2 and parts[0] in DIRECTORIES and _NAME.fullmatch(parts[1]) is not None
            and parts[1].endswith(DIRECTORIES[parts[0]]))
