"""A restore never changes whom a home trusts. Each test is an attack on `permit restore`, by an
outsider who hands an operator a crafted backup or by a careless operator with an old one: the
trusted root must chain from the home's own anchor, registries and status lists never go back,
settings change only when forced, tar members are checked before extraction, and a restore
stopped by a signal (SIGTERM, SIGKILL) leaves the home as it was with nothing behind."""

from __future__ import annotations

import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
from conftest import DAY, NOW, PASSPHRASE, City, build_city, passphrase
from forge import claims_of, sign_claims
from test_backup import AGENCY, dump, manifest_of, permit, refused, rewrite, tree

from keys.algorithms import generate_private_key
from keys.encoding import dumps_canonical
from keys.registry import Registry
from keys.signer import KeySigner
from keys.trust import Root, make_bundle, sign_registry
from permits import operator

PERMIT = str(Path(sys.executable).parent / "permit")


def members_of(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def backup(city: City, archive: Path) -> Path:
    made = permit(city.home.path, "backup", "--out", archive)
    assert made.exit_code == 0, made.output
    return archive


def verdict(home: Path, token: str) -> dict[str, object]:
    result = permit(home, "verify", token, "--json")
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def with_listed_file(archive: Path, target: Path, name: str, data: bytes, declared: bytes | None = None) -> Path:
    """A copy of `archive` holding one more file, which its manifest lists (as `declared`, when
    given: the manifest then describes other bytes than the member holds)."""
    manifest = manifest_of(archive)
    listed = data if declared is None else declared
    manifest["files"].append({"path": name, "size": len(listed), "sha256": hashlib.sha256(listed).hexdigest()})  # type: ignore[attr-defined]
    return rewrite(archive, target, {name: data, "manifest.json": json.dumps(manifest).encode()})


# --- the root of trust ---------------------------------------------------------------------------------


def test_crafted_trust_state_with_another_partys_root_relabelled_as_a_higher_version_is_refused(
        city: City, tmp_path: Path) -> None:
    """The crafted tar keeps the home's genuine anchor, puts another party's root in
    trust-state.json as root version 5, and a registry signed by that party that hands hcm-syt
    to the attacker's key. Trusting the backup's trust state would make the home accept the
    attacker's permits."""
    good = backup(city, tmp_path / "good.tar")
    attacker_root_key = KeySigner(generate_private_key("EdDSA"))
    attacker_agency_key = KeySigner(generate_private_key("EdDSA"))
    root = Root(registry=city.registry.id, version=5, threshold=1, keys={attacker_root_key.kid: attacker_root_key.public_key()})
    syt = city.registry.agency(AGENCY)
    forged = Registry.from_dict(city.registry.to_dict())
    forged = Registry.from_dict({**forged.to_dict(), "version": city.registry.version + 1})
    forged = forged.with_key(AGENCY, attacker_agency_key.public_key(), syt.keys[0].valid_from)
    signed = sign_registry(forged, [attacker_root_key])
    state = {"root": root.to_dict(), "registry_version": forged.version,
             "registry_digest": hashlib.sha256(dumps_canonical(forged.to_dict())).hexdigest()}
    crafted = rewrite(good, tmp_path / "crafted.tar", {
        "registry.json": make_bundle([], signed), "trust-state.json": json.dumps(state).encode()}, rehash=True)
    attackers_permit = sign_claims(claims_of(city.issue(number="ATTACK-1").permit), attacker_agency_key)
    assert verdict(city.home.path, attackers_permit)["reasons"] == ["unknown_key"]
    before = tree(city.home.path)

    message = refused(permit(city.home.path, "restore", crafted), "registry_invalid")
    assert "trust anchor" in message
    assert tree(city.home.path) == before
    assert verdict(city.home.path, attackers_permit)["reasons"] == ["unknown_key"]
    # --force changes nothing about it.
    refused(permit(city.home.path, "restore", crafted, "--force"), "registry_invalid")
    assert tree(city.home.path) == before


def test_crafted_trust_state_is_refused_in_a_new_home_too(city: City, tmp_path: Path) -> None:
    """A new home takes the backup's anchor, and the registry must chain from that anchor: a
    trust state naming another root does not replace it."""
    good = backup(city, tmp_path / "good.tar")
    attacker = KeySigner(generate_private_key("EdDSA"))
    root = Root(registry=city.registry.id, version=9, threshold=1, keys={attacker.kid: attacker.public_key()})
    forged = Registry.from_dict({**city.registry.to_dict(), "version": 40})
    state = {"root": root.to_dict(), "registry_version": 40,
             "registry_digest": hashlib.sha256(dumps_canonical(forged.to_dict())).hexdigest()}
    crafted = rewrite(good, tmp_path / "crafted.tar", {
        "registry.json": make_bundle([], sign_registry(forged, [attacker])), "trust-state.json": json.dumps(state).encode(),
    }, rehash=True)
    refused(permit(tmp_path / "new-home", "restore", crafted), "registry_invalid")
    assert not (tmp_path / "new-home").exists()


def test_backup_under_another_anchor_is_refused_even_with_force(city: City, tmp_path: Path) -> None:
    build_city(tmp_path / "other-city")
    archive = tmp_path / "other.tar"
    assert permit(tmp_path / "other-city", "backup", "--out", archive).exit_code == 0
    before = tree(city.home.path)
    refused(permit(city.home.path, "restore", archive, "--force"), "anchor_mismatch")
    assert tree(city.home.path) == before


def test_operator_root_chain_that_does_not_chain_from_the_anchor_is_refused(city: City, tmp_path: Path) -> None:
    good = backup(city, tmp_path / "good.tar")
    stranger = KeySigner(generate_private_key("EdDSA"))
    fake = Root(registry=city.registry.id, version=2, threshold=1, keys={stranger.kid: stranger.public_key()})
    from keys.trust import sign_root

    chain = json.loads(members_of(good)["operator/roots.json"]) + [sign_root(fake, [stranger])]
    crafted = rewrite(good, tmp_path / "crafted.tar", {"operator/roots.json": dumps_canonical(chain)}, rehash=True)
    before = tree(city.home.path)
    refused(permit(city.home.path, "restore", crafted), "registry_invalid")
    assert tree(city.home.path) == before


# --- rollback --------------------------------------------------------------------------------------------


def test_older_genuine_backup_does_not_roll_the_registry_back_to_before_a_key_compromise(
        city: City, tmp_path: Path) -> None:
    """The backup holds registry version N; version N+1 declared hcm-syt's key compromised.
    Restoring the backup must not make that key good again: not through registry.json, and not
    through the operator's older draft either (the next publication would drop the compromise)."""
    record = city.issue(number="BEFORE-COMPROMISE")
    city.publish_all()
    archive = backup(city, tmp_path / "old.tar")
    old_version = city.registry.version
    kid = city.signers[AGENCY].kid
    operator.retire_key(city.home, AGENCY, kid, "compromised", NOW)
    newer = operator.publish(city.home, passphrase, NOW, 60 * DAY)
    assert verdict(city.home.path, record.token)["reasons"] == ["key_compromised"]
    untouched = {p: v for p, v in tree(city.home.path).items() if p in (
        "registry.json", "trust-state.json", "operator/draft.json", "operator/roots.json")}

    done = permit(city.home.path, "restore", archive, "--json")

    assert done.exit_code == 0, done.output
    kept = {k["path"]: k["why"] for k in json.loads(done.stdout)["kept"]}
    assert kept["registry.json"] == (f"this home holds registry version {newer.registry.version}; "
                                     f"the backup's version {old_version} is older")
    assert set(kept) >= {"operator/draft.json"}
    assert {p: v for p, v in tree(city.home.path).items() if p in untouched} == untouched
    assert verdict(city.home.path, record.token)["reasons"] == ["key_compromised"]
    assert city.home.draft().agency(AGENCY).keys[0].compromised


def test_forced_restore_rolls_the_ledger_back_but_never_the_status_list(city: City, tmp_path: Path) -> None:
    """--force may roll a ledger back, after the operator has seen what is lost; a revocation
    published since the backup stays in the status list the home holds."""
    record = city.issue(number="REVOKED-LATER")
    city.publish_status(AGENCY)
    archive = backup(city, tmp_path / "old.tar")
    city.change(record, "revoked")
    city.publish_status(AGENCY, at=NOW + 60)
    held_list = city.home.status_path(AGENCY).read_bytes()

    message = refused(permit(city.home.path, "restore", archive), "restore_would_lose_permits")
    assert "1 revoked" in message  # what would be lost is shown

    forced = permit(city.home.path, "restore", archive, "--force", "--json")
    assert forced.exit_code == 0, forced.output
    report = json.loads(forced.stdout)
    assert report["lost"] == [{"agency": AGENCY, "first_event": 2, "last_event": 2, "kinds": {"revoked": 1},
                               "last_at": "2026-11-22T02:00:00Z"}]
    assert f"status/{AGENCY}.jwt" in {k["path"] for k in report["kept"]}
    assert city.home.status_path(AGENCY).read_bytes() == held_list
    assert verdict(city.home.path, record.token)["status"] == "revoked"


def test_forged_status_list_in_a_backup_is_refused(city: City, tmp_path: Path) -> None:
    city.publish_all()
    good = backup(city, tmp_path / "good.tar")
    from permits.status_list import MIN_SIZE, build_status_list

    # hcm-syt's list, signed by hcm-sct's key.
    forged = build_status_list(city.registry.agencies[AGENCY].status_url, MIN_SIZE, [], city.signers["hcm-sct"], NOW + 10, NOW + DAY)
    crafted = rewrite(good, tmp_path / "crafted.tar", {f"status/{AGENCY}.jwt": forged.encode() + b"\n"}, rehash=True)
    (city.home.status_path(AGENCY)).unlink()  # even with no list of its own, the home takes no forged one
    before = tree(city.home.path)
    refused(permit(city.home.path, "restore", crafted), "issuer_key_mismatch")
    assert tree(city.home.path) == before


# --- settings ----------------------------------------------------------------------------------------------


def test_backup_with_another_base_url_is_shown_and_needs_force(city: City, tmp_path: Path) -> None:
    city.home.set_config(base_url="https://xacminh.hochiminhcity.gov.vn")
    good = backup(city, tmp_path / "good.tar")
    crafted = rewrite(good, tmp_path / "crafted.tar", {
        "config.json": json.dumps({"base_url": "https://xacminh-hochiminhcity.example"}).encode()}, rehash=True)
    before = tree(city.home.path)

    message = refused(permit(city.home.path, "restore", crafted), "restore_changes_settings")
    assert ("base_url: 'https://xacminh.hochiminhcity.gov.vn' → 'https://xacminh-hochiminhcity.example'" in message
            and "--force" in message)
    assert tree(city.home.path) == before
    assert city.home.base_url == "https://xacminh.hochiminhcity.gov.vn"

    forced = permit(city.home.path, "restore", crafted, "--force")
    assert forced.exit_code == 0, forced.output
    assert ("Setting changed: base_url: 'https://xacminh.hochiminhcity.gov.vn' → "
            "'https://xacminh-hochiminhcity.example'") in forced.stdout
    assert city.home.base_url == "https://xacminh-hochiminhcity.example"


def test_new_home_takes_the_backups_settings_without_force(city: City, tmp_path: Path) -> None:
    city.home.set_config(base_url="https://xacminh.hochiminhcity.gov.vn")
    archive = backup(city, tmp_path / "good.tar")
    done = permit(tmp_path / "new-home", "restore", archive)
    assert done.exit_code == 0, done.output
    assert json.loads((tmp_path / "new-home" / "config.json").read_text())["base_url"] == "https://xacminh.hochiminhcity.gov.vn"


# --- the archive's members ---------------------------------------------------------------------------------


def gnu_sparse_member(name: str, stored: bytes, real_size: int) -> bytes:
    """A GNU sparse member (type 'S') holding `stored` bytes that unpack to `real_size`: the
    header as GNU tar writes it (one map entry, offset 0, and the real size at byte 483)."""
    info = tarfile.TarInfo(name)
    info.size, info.type = len(stored), tarfile.GNUTYPE_SPARSE
    header = bytearray(info.tobuf(tarfile.GNU_FORMAT))
    def octal(value: int, width: int) -> bytes:
        return f"{value:0{width - 1}o}".encode() + b"\0"
    header[386:398], header[398:410] = octal(0, 12), octal(len(stored), 12)  # sparse map: offset, numbytes
    header[483:495] = octal(real_size, 12)
    header[148:156] = b"        "
    header[148:156] = f"{sum(header) & 0o7777777:06o}".encode() + b"\0 "
    return bytes(header) + stored + b"\0" * (-len(stored) % 512)


def test_sparse_member_is_refused_before_anything_is_extracted(city: City, tmp_path: Path) -> None:
    good = backup(city, tmp_path / "good.tar")
    name = "public/zz-sparse.jwk.json"
    stored = b"{}"
    plain = with_listed_file(good, tmp_path / "plain.tar", name, stored)
    data = plain.read_bytes()
    # Replace the plain member by a sparse one claiming 4 GiB.
    with tarfile.open(plain) as tar:
        info = tar.getmember(name)
    start, end = info.offset, info.offset_data + 512
    crafted = tmp_path / "sparse.tar"
    crafted.write_bytes(data[:start] + gnu_sparse_member(name, stored, 4 << 30) + data[end:])
    with tarfile.open(crafted) as tar:
        assert tar.getmember(name).issparse() and tar.getmember(name).size == 4 << 30
    before = tree(city.home.path)
    message = refused(permit(city.home.path, "restore", crafted), "backup_unsafe_path")
    assert "sparse" in message
    assert tree(city.home.path) == before


def test_member_larger_than_its_manifest_says_is_refused_before_extraction(city: City, tmp_path: Path) -> None:
    good = backup(city, tmp_path / "good.tar")
    big = b"x" * (8 << 20)
    lying = with_listed_file(good, tmp_path / "lying.tar", "public/zz-big.jwk.json", big, declared=b"{}")
    before = tree(city.home.path)
    message = refused(permit(city.home.path, "restore", lying), "backup_corrupt")
    assert f"is {len(big)} bytes; its manifest says 2" in message
    assert tree(city.home.path) == before


# --- interrupted ---------------------------------------------------------------------------------------------


def start_restore(home: Path, archive: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PERMIT_HOME": str(home), "PERMIT_PASSPHRASE": PASSPHRASE.decode()}
    return subprocess.Popen([PERMIT, "restore", str(archive), *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)


def wait_for(condition, timeout: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


def stages(home: Path) -> list[str]:
    return [p.name for p in home.iterdir() if p.name.startswith(".restore-")]


def many_public_files(city: City, count: int) -> None:
    """A home whose public/ holds many files, so that a commit takes a moment to carry out."""
    jwk = next((city.home.path / "public").iterdir()).read_bytes()
    for i in range(count):
        (city.home.path / "public" / f"copy-{i:05}.jwk.json").write_bytes(jwk)


def test_restore_stopped_by_sigterm_while_checking_leaves_the_home_as_it_was(city: City, tmp_path: Path) -> None:
    for i in range(200):
        city.issue(number=f"BULK-{i}")
    archive = backup(city, tmp_path / "good.tar")
    city.home.set_config(base_url="https://xacminh.hochiminhcity.gov.vn")  # the restore would be refused later
    before = tree(city.home.path)
    process = start_restore(city.home.path, archive)
    wait_for(lambda: bool(stages(city.home.path)))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == -signal.SIGTERM
    wait_for(lambda: not stages(city.home.path), timeout=30)  # the janitor cleaned up
    assert tree(city.home.path) == before


def test_restore_killed_while_committing_is_undone_by_its_janitor(city: City, tmp_path: Path) -> None:
    """SIGKILL in the middle of the renames: the janitor process puts back every original and
    removes every new file, and the stage goes."""
    many_public_files(city, 3000)
    city.issue(number="KEEP-1")
    archive = backup(city, tmp_path / "full.tar")
    # The home then loses its extra files and gets a changed config; the backup would bring them back.
    for extra in (city.home.path / "public").glob("copy-*"):
        extra.unlink()
    first = city.home.path / "public" / "copy-00000.jwk.json"
    before = tree(city.home.path)
    ledgers_before = {agency: dump(city.home.ledger_path(agency)) for agency in city.registry.agencies
                      if city.home.ledger_path(agency).exists()}

    process = start_restore(city.home.path, archive)
    wait_for(first.exists)  # the commit has begun
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    wait_for(lambda: not stages(city.home.path), timeout=60)

    after = tree(city.home.path)
    assert not first.exists() and not list((city.home.path / "public").glob("copy-*"))
    assert {p: v for p, v in after.items() if not p.startswith("ledgers/")} == {
        p: v for p, v in before.items() if not p.startswith("ledgers/")}
    assert {agency: dump(city.home.ledger_path(agency)) for agency in ledgers_before} == ledgers_before
    # And the home works: a restore run to its end now succeeds.
    assert permit(city.home.path, "restore", archive).exit_code == 0
    assert first.exists()


def test_restore_that_fails_in_the_middle_of_its_commit_puts_everything_back(city: City, tmp_path: Path) -> None:
    """A rename fails half-way (a directory stands where the backup has a file): every file
    already replaced is put back, and the error is one line."""
    many_public_files(city, 50)
    archive = backup(city, tmp_path / "full.tar")
    for extra in (city.home.path / "public").glob("copy-*"):
        extra.unlink()
    (city.home.path / "public" / "copy-00049.jwk.json").mkdir()  # the last one cannot be replaced
    before = tree(city.home.path)
    result = permit(city.home.path, "restore", archive)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: [io_error] ")
    assert tree(city.home.path) == before
    assert not stages(city.home.path)


@pytest.mark.parametrize("member", ["../outside.txt", "private/../../outside.key"])
def test_a_member_outside_the_home_never_reaches_the_disk(city: City, tmp_path: Path, member: str) -> None:
    good = backup(city, tmp_path / "good.tar")
    crafted = tmp_path / "crafted.tar"
    with tarfile.open(good) as source, tarfile.open(crafted, "w") as tar:
        for info in source.getmembers():
            tar.addfile(info, source.extractfile(info))
        evil = tarfile.TarInfo(member)
        evil.size = 4
        tar.addfile(evil, io.BytesIO(b"evil"))
    refused(permit(city.home.path, "restore", crafted), "backup_unsafe_path")
    assert not (tmp_path / "outside.txt").exists() and not (city.home.path.parent / "outside.key").exists()
