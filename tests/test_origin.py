"""Publishing to a static origin (permits/origin.py, `--origin`, `--push`, `permit origin sync`).

The files an origin holds are the home's documents byte for byte, replaced whole, readable by
all whatever the umask, never rolled back; an origin that cannot be written is one error line and
no file. End to end: a verifier node that pulls from the origin through a real static server
(Python's http.server) learns a revocation published with `--origin` within its pull interval,
with no push to it.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import DAY, NOW, PASSPHRASE, City, Served, free_port, passphrase, start_server, verifier_home
from test_server import call

from keys.errors import ConflictError, PermitError
from keys.reasons import Reason
from permits import issuing, layout, operator, origin, publishing
from permits.home import Home

PERMIT = Path(sys.executable).parent / "permit"
AGENCIES = ("hcm-sct", "hcm-skhdt", "hcm-sxd", "hcm-syt")
ISSUE = ["issue", "--json", "--agency", "hcm-syt", "--type", "food-safety", "--holder-id", "0312345678",
         "--holder-name", "Công ty TNHH Thực phẩm Sạch", "--valid-until", "2028-12-31"]
# Root may write anywhere: the CLI is run without the capability that lets it, so that a
# directory's permissions bind it as they bind anyone else.
AS_ANYONE = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search", "--"] if os.geteuid() == 0 else []


def files_in(directory: Path) -> dict[str, int]:
    """Every file and directory below `directory` (hidden ones included), with its mode."""
    return {path.relative_to(directory).as_posix(): stat.S_IMODE(path.stat().st_mode) for path in sorted(directory.rglob("*"))}


def permit(home: Path, *args: str | Path, prefix: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    """`permit ARGS` as a separate process on the real clock, in `home`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("PERMIT_")}
    env |= {"PERMIT_HOME": str(home), "PERMIT_PASSPHRASE": PASSPHRASE.decode()}
    return subprocess.run([*(prefix or []), str(PERMIT), *map(str, args)], env=env, capture_output=True, text=True,
                          encoding="utf-8", stdin=subprocess.DEVNULL, timeout=120)


def succeeded(process: subprocess.CompletedProcess[str]) -> str:
    assert process.returncode == 0, process.stderr
    return process.stdout


def refused(process: subprocess.CompletedProcess[str], reason: str) -> None:
    """Exit 2, nothing on stdout, one line `Error: [reason] …` on stderr."""
    assert process.returncode == 2, process.stderr
    assert process.stdout == ""
    [line] = process.stderr.splitlines()
    assert line.startswith(f"Error: [{reason}] "), line


# --- the files ---------------------------------------------------------------------------------


def test_an_origin_holds_the_home_documents_byte_for_byte_readable_by_all_whatever_the_umask(city: City, tmp_path: Path) -> None:
    city.publish_all()
    target = tmp_path / "origin"
    previous = os.umask(0o077)
    try:
        copies = origin.sync(city.home, target, NOW)
    finally:
        os.umask(previous)
    assert files_in(target) == {"registry.json": 0o644, "status": 0o755, **{f"status/{a}.jwt": 0o644 for a in AGENCIES}}
    assert (target / "registry.json").read_bytes() == city.home.file(layout.REGISTRY).read_bytes()
    for agency in AGENCIES:
        assert (target / "status" / f"{agency}.jwt").read_bytes() == city.lists[agency].token.encode("ascii") + b"\n"
    assert [(c.file, c.written) for c in copies] == [(target / "registry.json", True),
                                                     *((target / "status" / f"{a}.jwt", True) for a in AGENCIES)]
    assert [c.document.content_type for c in copies] == ["application/json", *["application/statuslist+jwt"] * 4]

    # Again: nothing to write, and nothing rewritten (a static host's ETag stays the same).
    before = {path: path.stat().st_mtime_ns for path in target.rglob("*")}
    assert [c.written for c in origin.sync(city.home, target, NOW)] == [False] * 5
    assert {path: path.stat().st_mtime_ns for path in target.rglob("*")} == before


def test_a_file_in_the_origin_that_is_not_a_genuine_document_is_replaced(city: City, tmp_path: Path) -> None:
    city.publish_all()
    (tmp_path / "origin" / "status").mkdir(parents=True)
    (tmp_path / "origin" / "registry.json").write_bytes(b'{"not": "a bundle"}\n')
    (tmp_path / "origin" / "status" / "hcm-syt.jwt").write_bytes(b"not.a.list\n")
    assert all(c.written for c in origin.sync(city.home, tmp_path / "origin", NOW))
    assert (tmp_path / "origin" / "registry.json").read_bytes() == city.home.file(layout.REGISTRY).read_bytes()
    assert (tmp_path / "origin" / "status" / "hcm-syt.jwt").read_bytes() == city.home.status_path("hcm-syt").read_bytes()


def test_repeated_publishes_replace_the_document_whole_a_reader_never_sees_half(city: City, tmp_path: Path) -> None:
    """200 registry publishes to the origin while a reader reads the file in a loop: every read
    is one of the published bundles, whole."""
    target = tmp_path / "origin"
    operator.publish(city.home, passphrase, NOW, 60 * DAY, origins=[target])
    published = {(target / "registry.json").read_bytes()}
    seen: dict[bytes, int] = {}
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            body = (target / "registry.json").read_bytes()
            seen[body] = seen.get(body, 0) + 1

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(1, 201):
            operator.publish(city.home, passphrase, NOW + i, 60 * DAY, origins=[target])
            published.add(city.home.file(layout.REGISTRY).read_bytes())
    finally:
        stop.set()
        reader.join()
    assert len(published) == 201
    assert set(seen) <= published, "a reader saw a document that was never published (half of one)"
    assert sum(seen.values()) > 200 and len(seen) > 1  # the reader did read during the publishes
    assert (target / "registry.json").read_bytes() == city.home.file(layout.REGISTRY).read_bytes()
    assert files_in(target) == {"registry.json": 0o644}  # no temporary file left behind


@pytest.mark.parametrize("kind", ["registry", "status"])
def test_an_origin_is_never_rolled_back_by_a_stale_home(city: City, tmp_path: Path, kind: str) -> None:
    """A home restored from an old backup (or a publisher's timer on a stale copy) syncs to the
    origin after a newer document was published there: refused, nothing written."""
    city.publish_all()
    target = tmp_path / "origin"
    origin.sync(city.home, target, NOW)
    stale = Home(shutil.copytree(city.home.path, tmp_path / "stale"))
    if kind == "registry":
        operator.publish(city.home, passphrase, NOW + 10, 60 * DAY, origins=[target])
        newer, reason = target / "registry.json", Reason.REGISTRY_ROLLBACK
    else:
        publishing.publish_status_list(city.home, city.registry, "hcm-syt", city.signers["hcm-syt"], NOW + 10)
        origin.publish_status_list(city.home, city.registry, "hcm-syt", [target], NOW + 10)
        newer, reason = target / "status" / "hcm-syt.jwt", Reason.STATUS_ROLLBACK
    held = {path: path.read_bytes() for path in target.rglob("*.*")}
    with pytest.raises(ConflictError) as refused:
        origin.sync(stale, target, NOW + 20)
    assert refused.value.reason == reason
    assert {path: path.read_bytes() for path in target.rglob("*.*")} == held
    assert newer.read_bytes() == city.home.file(newer.relative_to(target).as_posix()).read_bytes()


def test_another_status_list_of_the_same_second_is_status_not_newer(city: City, tmp_path: Path) -> None:
    record = city.issue()
    other = Home(shutil.copytree(city.home.path, tmp_path / "other"))
    city.publish_status("hcm-syt")
    origin.publish_status_list(city.home, city.registry, "hcm-syt", [tmp_path / "origin"], NOW)
    with other.ledger("hcm-syt") as ledger:  # the other home revokes; this one does not
        issuing.change_status(ledger, record.permit.id, "revoked", "test.officer", NOW, "test")
    publishing.publish_status_list(other, city.registry, "hcm-syt", city.signers["hcm-syt"], NOW)
    with pytest.raises(ConflictError) as refused:
        origin.publish_status_list(other, city.registry, "hcm-syt", [tmp_path / "origin"], NOW)
    assert refused.value.reason == Reason.STATUS_NOT_NEWER


@pytest.mark.parametrize("blocked", ["origin", "status"])
def test_an_origin_that_is_a_file_is_origin_unwritable(city: City, tmp_path: Path, blocked: str) -> None:
    city.publish_all()
    target = tmp_path / "origin"
    if blocked == "origin":
        target.write_bytes(b"a file\n")
    else:
        target.mkdir()
        (target / "status").write_bytes(b"a file\n")
    with pytest.raises(PermitError) as refused:
        origin.publish_status_list(city.home, city.registry, "hcm-syt", [target], NOW)
    assert refused.value.reason == Reason.ORIGIN_UNWRITABLE
    assert f"run: permit origin sync {target}" in refused.value.message
    assert (target if blocked == "origin" else target / "status").read_bytes() == b"a file\n"


@pytest.mark.parametrize("command", [["status", "publish", "--agency", "hcm-syt"], ["registry", "publish"], ["origin", "sync"]],
                         ids=["status-publish", "registry-publish", "origin-sync"])
def test_an_origin_directory_that_cannot_be_written_is_exit_2_and_no_file(city: City, tmp_path: Path, command: list[str]) -> None:
    succeeded(permit(city.home.path, "registry", "publish"))  # on the real clock, as the child runs
    succeeded(permit(city.home.path, "status", "publish", "--agency", "hcm-syt"))
    held = {name: city.home.file(name).read_bytes() for name in (layout.REGISTRY, layout.status_list("hcm-syt"))}
    target = tmp_path / "origin"
    target.mkdir(mode=0o555)
    target.chmod(0o555)
    args = [*command, target] if command[0] == "origin" else [*command, "--origin", target]
    refused(permit(city.home.path, *args, prefix=AS_ANYONE), "origin_unwritable")
    assert files_in(target) == {}
    if command[0] != "origin":  # the home holds the new document; the origin can be synced later
        changed = layout.REGISTRY if command[0] == "registry" else layout.status_list("hcm-syt")
        assert city.home.file(changed).read_bytes() != held[changed]


# --- pushing -------------------------------------------------------------------------------------


def test_publish_with_push_is_accepted_by_a_real_verifier(city: City, tmp_path: Path) -> None:
    succeeded(permit(city.home.path, "registry", "publish"))  # on the real clock, as the verifier runs
    record = json.loads(succeeded(permit(city.home.path, *ISSUE)))
    node = verifier_home(city.home.path, tmp_path / "node")  # its own home: it learns only what is pushed
    url, process = start_server(node, node / "access.log")
    target = tmp_path / "origin"
    try:
        succeeded(permit(city.home.path, "revoke", record["id"], "--reason", "test"))
        out = json.loads(succeeded(permit(city.home.path, "status", "publish", "--agency", "hcm-syt", "--push", url,
                                          "--origin", target, "--json")))
        assert out["pushed"] == [{"url": url, "accepted": True}]
        assert out["origins"] == [str(target / "status" / "hcm-syt.jwt")]
        assert (target / "status" / "hcm-syt.jwt").read_bytes() == node.joinpath("status", "hcm-syt.jwt").read_bytes()
        assert node.joinpath("status", "hcm-syt.jwt").read_bytes() == city.home.status_path("hcm-syt").read_bytes()
        # Once the push is accepted, no worker of the node answers from the older list.
        assert [verdict(url, record["token"]) for _ in range(20)] == [("revoked", ["revoked"])] * 20

        out = json.loads(succeeded(permit(city.home.path, "registry", "publish", "--push", url, "--push", url, "--json")))
        assert out["pushed"] == [{"url": url, "accepted": True}, {"url": url, "accepted": False}]
        assert out["origins"] == []
        assert node.joinpath("registry.json").read_bytes() == city.home.file(layout.REGISTRY).read_bytes()
    finally:
        Served(city, url, node / "access.log", process).stop()


# --- end to end: a node pulls from the origin through a static server ------------------------------


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """Python's http.server on 127.0.0.1 serving an empty origin directory: (its URL, the directory)."""
    directory = tmp_path / "origin"
    directory.mkdir()
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(directory)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(url, timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "http.server did not start"
                time.sleep(0.1)
        yield url, directory
    finally:
        process.terminate()
        process.wait(timeout=15)


def verdict(url: str, token: str) -> tuple[str, list[str]]:
    status, body = call(f"{url}/api/v1/verify", {"token": token})
    assert status == 200, body
    return body["status"], body["reasons"]


def test_a_node_pulling_from_the_origin_learns_a_revocation_within_its_interval_with_no_push(
        city: City, tmp_path: Path, static_server: tuple[str, Path]) -> None:
    url, directory = static_server
    interval = 2
    # The operator registers each agency's list where the origin serves it, and publishes there.
    draft = city.home.draft()
    city.home.save_draft(replace(draft, agencies={
        agency_id: replace(agency, status_url=f"{url}/status/{agency_id}.jwt") for agency_id, agency in draft.agencies.items()}))
    succeeded(permit(city.home.path, "registry", "publish", "--origin", directory))
    record = json.loads(succeeded(permit(city.home.path, *ISSUE)))
    for agency in AGENCIES:
        succeeded(permit(city.home.path, "status", "publish", "--agency", agency, "--origin", directory))

    # A node that knows nothing but the trust anchor, and pulls every `interval` seconds.
    node = tmp_path / "node"
    node.mkdir()
    shutil.copy(city.home.file(layout.ANCHOR), node / layout.ANCHOR)
    node_url, process = start_server(node, node / "access.log", "--registry-url", f"{url}/registry.json", "--status-pull",
                                     "--refresh-interval", str(interval))
    try:
        deadline = time.monotonic() + 30
        while verdict(node_url, record["token"]) != ("valid", []):
            assert time.monotonic() < deadline, verdict(node_url, record["token"])
            time.sleep(0.2)

        succeeded(permit(city.home.path, "revoke", record["id"], "--reason", "test"))
        succeeded(permit(city.home.path, "status", "publish", "--agency", "hcm-syt", "--origin", directory))
        published = time.monotonic()
        # Within the interval (and the workers' 2 s reading of the home): every answer says revoked.
        deadline = published + interval + 3
        answers: list[tuple[str, list[str]]] = []
        while (answers := [*answers[-19:], verdict(node_url, record["token"])]).count(("revoked", ["revoked"])) < 20:
            assert time.monotonic() < deadline, f"not revoked {time.monotonic() - published:.1f} s after publishing: {answers[-1]}"
            time.sleep(0.05)
        assert not (node / "access.log").read_text().count("PUT /api/v1/"), "the node was pushed to"
    finally:
        Served(city, node_url, node / "access.log", process).stop()
