"""`permit backup` and `permit restore`: a backup taken while officers work (an import
committing batches, a writer holding its transaction open) restores to a consistent home, and a
restore refuses anything doubtful before it changes a single byte of the home."""

from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import stat
import subprocess
import sys
import tarfile
import time
from contextlib import closing
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import NOW, PASSPHRASE, City, build_city, passphrase
from test_import import row, write_csv

import cli as cli_module
from cli import cli
from keys.keyfile import load_signer
from permits import publishing
from permits.backup import MANIFEST
from permits.home import Home
from permits.layout import is_home_file
from verifier.pipeline import verify

PERMIT = str(Path(sys.executable).parent / "permit")
AGENCY = "hcm-syt"


@pytest.fixture(autouse=True)
def _cli_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    # In-process commands run on the fixtures' clock; the subprocesses below on the real one.
    monkeypatch.setattr(cli_module, "now", lambda: NOW)


def permit(home: Path, *args: str | Path) -> Result:
    env = {"PERMIT_HOME": str(home), "PERMIT_PASSPHRASE": PASSPHRASE.decode()}
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def tree(path: Path) -> dict[str, tuple[str, int]]:
    """Every file and directory under `path`: content hash and mode."""
    found = {}
    for item in sorted(path.rglob("*")):
        digest = hashlib.sha256(item.read_bytes()).hexdigest() if item.is_file() else "dir"
        found[str(item.relative_to(path))] = (digest, stat.S_IMODE(item.lstat().st_mode))
    return found


def dump(db: Path) -> dict[str, list[tuple[object, ...]]]:
    with closing(sqlite3.connect(db)) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in tables if t != "_sqlite_migrations"}


def permits_so_far(db: Path) -> int:
    """Permits in a ledger an import is writing: 0 until its file and tables exist."""
    if not db.exists():
        return 0
    try:
        return query(db, "SELECT COUNT(*) FROM permits")
    except sqlite3.OperationalError:  # the importer created the file and has not made its tables yet
        return 0


def query(db: Path, sql: str) -> int:
    with closing(sqlite3.connect(db, timeout=30)) as conn:
        return int(conn.execute(sql).fetchone()[0])


def manifest_of(archive: Path) -> dict[str, object]:
    with tarfile.open(archive) as tar:
        handle = tar.extractfile(MANIFEST)
        assert handle is not None
        return json.loads(handle.read())  # type: ignore[no-any-return]


def refused(result: Result, reason: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: [{reason}] "), result.stderr
    return lines[0]


# --- a round trip -----------------------------------------------------------------------------------


def test_a_backup_restores_into_a_new_home_with_everything_working(city: City, tmp_path: Path) -> None:
    records = [city.issue(number=f"RT-{i}") for i in range(3)]
    records.append(city.issue("hcm-sct", "alcohol-retail", number="RT-SCT"))
    city.change(records[1], "revoked")
    city.publish_all()
    archive = tmp_path / "hcm.tar"

    made = permit(city.home.path, "backup", "--out", archive, "--json")
    assert made.exit_code == 0, made.output
    summary = json.loads(made.stdout)
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert summary["ledgers"] == {  # publishing a status list opens an (empty) ledger
        "hcm-sct": {"schema_version": 4, "permits": 1, "events": 1, "last_event_seq": 1},
        "hcm-syt": {"schema_version": 4, "permits": 3, "events": 4, "last_event_seq": 4},
        "hcm-skhdt": {"schema_version": 4, "permits": 0, "events": 0, "last_event_seq": 0},
        "hcm-sxd": {"schema_version": 4, "permits": 0, "events": 0, "last_event_seq": 0},
    }
    assert summary["registry_version"] == city.registry.version
    listed = {entry["path"] for entry in manifest_of(archive)["files"]}  # type: ignore[attr-defined]
    assert {"anchor.json", "registry.json", "trust-state.json", "operator/draft.json", "operator/roots.json",
            "ledgers/hcm-syt.db", "ledgers/hcm-sct.db", "status/hcm-syt.jwt"} <= listed
    assert sum(p.startswith("private/") for p in listed) == 7  # 3 root keys and 4 agency keys

    restored = tmp_path / "restored" / "hcm"  # does not exist yet
    done = permit(restored, "restore", archive)
    assert done.exit_code == 0, done.output
    assert f"Restored {archive} into {restored}" in done.stdout

    # Every file of the home, public keys beginning with "-" too. The lock file and the generation
    # counter are the home's own (a counter of the documents it accepted: the restore bumped it).
    own = {".lock", ".generation"}
    original = {p: v for p, v in tree(city.home.path).items() if p not in own}
    copy = {p: v for p, v in tree(restored).items() if p not in own}
    assert set(copy) == set(original)
    assert {p: v for p, v in copy.items() if not p.startswith("ledgers/")} == {
        p: v for p, v in original.items() if not p.startswith("ledgers/")}
    assert Home(restored).generation.current() == 1
    assert permit(restored, "list", "--json").stdout == permit(city.home.path, "list", "--json").stdout
    for agency in city.registry.agencies:
        assert dump(restored / f"ledgers/{agency}.db") == dump(city.home.ledger_path(agency))
    home = Home(restored)
    assert home.trusted_registry(NOW).digest == city.trusted.digest
    verdict = json.loads(permit(restored, "verify", records[0].token, "--json").stdout)
    assert (verdict["valid"], verdict["permit"]["number"]) == (True, "RT-0")
    assert json.loads(permit(restored, "verify", records[1].token, "--json").stdout)["status"] == "revoked"

    keys = sorted((restored / "private").iterdir())
    assert stat.S_IMODE((restored / "private").stat().st_mode) == 0o700
    assert {stat.S_IMODE(k.stat().st_mode) for k in keys} == {0o600}
    for key in keys:
        assert b"ENCRYPTED PRIVATE KEY" in key.read_bytes()
        assert key.read_bytes() == (city.home.path / "private" / key.name).read_bytes()
        assert load_signer(key, PASSPHRASE).kid in key.name
    # The restored home issues on, with the keys it got back.
    issued = permit(restored, "issue", "--agency", AGENCY, "--type", "food-safety", "--holder-id", "0312345678",
                    "--holder-name", "Công ty TNHH Sau Khôi Phục", "--valid-until", "2028-12-31", "--json")
    assert issued.exit_code == 0, issued.output
    assert json.loads(issued.stdout)["status_index"] not in {r.permit.status_index for r in records}


# --- during an import -------------------------------------------------------------------------------


def subprocess_env(home: Path) -> dict[str, str]:
    return {**os.environ, "PERMIT_HOME": str(home), "PERMIT_PASSPHRASE": PASSPHRASE.decode(), "PERMIT_OFFICER": "importer"}


def check_restored_import(home: Path, total_in_backup: int, source: str) -> int:
    """Every permit in the restored ledger is whole (version, issued event, a token that verifies
    under a unique status index), and there are exactly as many as the import recorded."""
    db = home / f"ledgers/{AGENCY}.db"
    permits = query(db, "SELECT COUNT(*) FROM permits")
    assert permits == total_in_backup
    assert permits == query(db, f"SELECT COALESCE(SUM(imported), 0) FROM import_batches WHERE source = '{source}'")
    assert query(db, "SELECT COUNT(*) FROM permits p WHERE NOT EXISTS (SELECT 1 FROM versions v"
                     " WHERE v.permit_id = p.id AND v.version = p.current_version)") == 0
    assert query(db, "SELECT COUNT(*) FROM permits p WHERE NOT EXISTS (SELECT 1 FROM events e"
                     " WHERE e.permit_id = p.id AND e.kind = 'issued')") == 0
    assert query(db, "SELECT COUNT(*) FROM versions v WHERE NOT EXISTS (SELECT 1 FROM permits p WHERE p.id = v.permit_id)") == 0
    assert query(db, "SELECT COUNT(*) FROM events e WHERE NOT EXISTS (SELECT 1 FROM permits p WHERE p.id = e.permit_id)") == 0
    assert query(db, "SELECT COUNT(*) FROM versions") == query(db, "SELECT COUNT(DISTINCT status_index) FROM versions") == permits
    # Each token verifies, as the permit and index the ledger holds it under.
    restored = Home(home)
    now = int(time.time())
    registry = restored.trusted_registry(now).registry
    signer = restored.agency_signer(registry, AGENCY, passphrase, now)
    lists = {AGENCY: publishing.publish_status_list(restored, registry, AGENCY, signer, now)}
    with closing(sqlite3.connect(db)) as conn:
        for permit_id, index, token in conn.execute("SELECT permit_id, status_index, token FROM versions"):
            verdict = verify(token, registry, lists, now)
            assert verdict.status == "valid", verdict.reasons
            assert verdict.permit is not None and (verdict.permit.id, verdict.permit.status_index) == (permit_id, index)
    return permits


def test_a_backup_taken_during_an_import_restores_with_no_half_written_permit(city: City, tmp_path: Path) -> None:
    home = city.home.path
    env = subprocess_env(home)
    subprocess.run([PERMIT, "registry", "publish"], env=env, check=True, capture_output=True)  # on the real clock
    total = 20_000
    path = write_csv(tmp_path / "paper-permits.csv", [row(f"B-{i:05d}", holder_name=f"Công ty TNHH Thương mại số {i}")
                                                      for i in range(total)])
    source = hashlib.sha256(path.read_bytes()).hexdigest()
    command = [PERMIT, "import", str(path), "--agency", AGENCY, "--type", "food-safety", "--batch-size", "500", "--json"]
    db = city.home.ledger_path(AGENCY)

    started = time.monotonic()
    importer = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    backups: list[tuple[Path, int, float]] = []
    try:
        seen = 0
        while importer.poll() is None and len(backups) < 6 and time.monotonic() - started < 240:
            now_at = permits_so_far(db)
            if now_at <= seen and backups:  # wait for the import to move on, so each backup is another moment
                time.sleep(0.1)
                continue
            archive = tmp_path / f"during-{len(backups)}.tar"
            began = time.monotonic()
            made = subprocess.run([PERMIT, "backup", "--out", str(archive), "--json"], env=env, capture_output=True,
                                  text=True, timeout=120)
            assert made.returncode == 0, made.stderr
            backups.append((archive, json.loads(made.stdout)["ledgers"].get(AGENCY, {}).get("permits", 0),
                            time.monotonic() - began))
            seen = backups[-1][1]
        out, err = importer.communicate(timeout=300)
    finally:
        if importer.poll() is None:
            os.killpg(importer.pid, 9)
            importer.communicate()  # reap it and close its pipes, even when the test failed
    assert importer.returncode == 0, err
    import_seconds = time.monotonic() - started
    assert json.loads(out)["imported"] == total
    middle = [(archive, count) for archive, count, _ in backups if 0 < count < total]
    assert middle, f"no backup landed mid-import: {[count for _, count, _ in backups]}"
    print(f"\nimport of {total} rows: {import_seconds:.1f} s; backups at {[count for _, count, _ in backups]} permits, "
          f"taking {', '.join(f'{seconds:.2f}' for _, _, seconds in backups)} s")

    for n, (archive, count) in enumerate(middle[:3]):
        restored = tmp_path / f"restored-{n}"
        done = subprocess.run([PERMIT, "restore", str(archive)], env=subprocess_env(restored), capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert check_restored_import(restored, count, source) == count
        # The same import, run again on the restored home, finishes the file: every row once.
        again = subprocess.run(command, env=subprocess_env(restored), capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        report = json.loads(again.stdout)
        assert (report["imported"], report["already_imported"], report["rejected"]) == (total - count, count, 0)
        assert report["resumed_after_line"] > 1
        rdb = restored / f"ledgers/{AGENCY}.db"
        assert query(rdb, "SELECT COUNT(*) FROM permits") == query(rdb, "SELECT COUNT(DISTINCT number) FROM permits") == total
        assert query(rdb, "SELECT COUNT(*) FROM versions") == query(rdb, "SELECT COUNT(DISTINCT status_index) FROM versions") == total
        assert query(rdb, "SELECT COUNT(*) FROM events WHERE kind = 'issued'") == total
        with closing(sqlite3.connect(rdb)) as conn:
            numbers = {r[0] for r in conn.execute("SELECT number FROM permits")}
        assert numbers == {f"B-{i:05d}" for i in range(total)}


# --- while others hold the ledger -------------------------------------------------------------------


def test_a_backup_leaves_out_a_transaction_still_open_and_does_not_wait_for_it(city: City, tmp_path: Path) -> None:
    city.issue(number="COMMITTED-1")
    db = city.home.ledger_path(AGENCY)
    writer = sqlite3.connect(db, isolation_level=None)
    reader = sqlite3.connect(db, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO permits (id, number, type, holder_id, holder_name, state, current_version, created_at)"
                   " VALUES ('UNCOMMIT', 'UNCOMMITTED-1', 'food-safety', '0312345678', 'Công ty Chưa Ghi', 'active', 1, ?)", (NOW,))
    writer.execute("INSERT INTO events (permit_id, version, kind, officer, at) VALUES ('UNCOMMIT', 1, 'issued', 'x', ?)", (NOW,))
    reader.execute("BEGIN")
    assert reader.execute("SELECT COUNT(*) FROM permits").fetchone() == (1,)  # a verifier-style read, held open
    try:
        archive = tmp_path / "busy.tar"
        began = time.monotonic()
        made = subprocess.run([PERMIT, "backup", "--out", str(archive), "--json"], env=subprocess_env(city.home.path),
                              capture_output=True, text=True, timeout=60)
        elapsed = time.monotonic() - began
        assert made.returncode == 0, made.stderr
        assert elapsed < 20  # not the 30 s busy timeout: a reader never waits for a writer in WAL
        assert json.loads(made.stdout)["ledgers"][AGENCY] == {"schema_version": 4, "permits": 1, "events": 1, "last_event_seq": 1}
        with tarfile.open(archive) as tar:
            tar.extract(f"ledgers/{AGENCY}.db", tmp_path / "x", filter="data")
        assert [r[1] for r in dump(tmp_path / "x" / f"ledgers/{AGENCY}.db")["permits"]] == ["COMMITTED-1"]
    finally:
        writer.execute("COMMIT")
        reader.execute("COMMIT")
        writer.close()
        reader.close()
    later = tmp_path / "later.tar"
    assert permit(city.home.path, "backup", "--out", later).exit_code == 0
    assert manifest_of(later)["ledgers"][AGENCY]["permits"] == 2  # type: ignore[index]


# --- refusals ----------------------------------------------------------------------------------------


def rewrite(archive: Path, target: Path, change: dict[str, bytes | None], extra: list[tarfile.TarInfo] = (),  # type: ignore[assignment]
            rehash: bool = False) -> Path:
    """A copy of `archive` with members replaced (None: dropped) and `extra` members added; with
    `rehash`, the manifest's hashes and sizes follow the new contents."""
    members: dict[str, bytes] = {}
    with tarfile.open(archive) as tar:
        for info in tar.getmembers():
            handle = tar.extractfile(info)
            assert handle is not None
            members[info.name] = handle.read()
    for name, data in change.items():
        if data is None:
            members.pop(name)
        else:
            members[name] = data
    if rehash:
        manifest = json.loads(members[MANIFEST])
        for entry in manifest["files"]:
            entry["size"] = len(members[entry["path"]])
            entry["sha256"] = hashlib.sha256(members[entry["path"]]).hexdigest()
        members[MANIFEST] = json.dumps(manifest).encode()
    with tarfile.open(target, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return target


def member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, 1 if kind == tarfile.REGTYPE else 0
    return info


def corrupt_index(db: bytes, permit_id: str, scratch: Path) -> bytes:
    """The ledger with one entry of the events_permit index pointing at another permit id: every
    page still parses, only PRAGMA integrity_check sees the index disagree with its table."""
    scratch.write_bytes(db)
    with closing(sqlite3.connect(f"{scratch.as_uri()}?mode=ro&immutable=1", uri=True)) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'events_permit'").fetchone()[0]
    start = (root - 1) * page_size
    page = db[start : start + page_size]
    at = page.rindex(permit_id.encode())
    changed = page[:at] + ("Z" if permit_id[0] != "Z" else "Y").encode() + page[at + 1 :]
    return db[:start] + changed + db[start + page_size :]


@pytest.fixture
def backed_up(city: City, tmp_path: Path) -> tuple[City, Path]:
    for i in range(3):
        city.issue(number=f"OLD-{i}")
    archive = tmp_path / "good.tar"
    assert permit(city.home.path, "backup", "--out", archive).exit_code == 0
    return city, archive


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("tampered", "backup_corrupt"),
        ("dotdot", "backup_unsafe_path"),
        ("absolute", "backup_unsafe_path"),
        ("symlink", "backup_unsafe_path"),
        ("device", "backup_unsafe_path"),
        ("unknown_file", "backup_unsafe_path"),
        ("not_a_tar", "backup_unreadable"),
        ("missing", "backup_unreadable"),
        ("no_manifest", "backup_unreadable"),
        ("file_not_in_manifest", "backup_corrupt"),
        ("corrupt_ledger", "backup_corrupt"),
        ("not_a_ledger", "backup_corrupt"),
        ("registry_forged", "registry_invalid"),
        ("future_format", "backup_incompatible"),
        ("future_schema", "backup_incompatible"),
    ],
)
def test_a_doubtful_backup_is_refused_and_the_home_is_untouched(
        backed_up: tuple[City, Path], tmp_path: Path, case: str, reason: str) -> None:
    city, good = backed_up
    bad = tmp_path / "bad.tar"
    ledger = f"ledgers/{AGENCY}.db"
    with tarfile.open(good) as tar:
        original = {name: tar.extractfile(name).read() for name in tar.getnames()}  # type: ignore[union-attr]
    if case == "tampered":
        rewrite(good, bad, {"registry.json": original["registry.json"].replace(b'"', b" ", 1)})
    elif case == "dotdot":
        rewrite(good, bad, {}, [member("../evil")])
    elif case == "absolute":
        rewrite(good, bad, {}, [member("/tmp/evil")])
    elif case == "symlink":
        rewrite(good, bad, {}, [member("public/evil.jwk.json", tarfile.SYMTYPE, "/etc/passwd")])
    elif case == "device":
        rewrite(good, bad, {}, [member("public/evil.jwk.json", tarfile.CHRTYPE)])
    elif case == "unknown_file":
        rewrite(good, bad, {}, [member(".bashrc")])
    elif case == "not_a_tar":
        bad.write_bytes(b"PK\x03\x04 this is a zip file, or anything else\n" * 100)
    elif case == "missing":
        bad = tmp_path / "no-such-backup.tar"
    elif case == "no_manifest":
        rewrite(good, bad, {MANIFEST: None})
    elif case == "file_not_in_manifest":
        rewrite(good, bad, {"public/extra.jwk.json": b"{}"})
    elif case == "corrupt_ledger":
        permit_id = city.home.ledger(AGENCY).find(limit=1)[0].permit.id
        rewrite(good, bad, {ledger: corrupt_index(original[ledger], permit_id, tmp_path / 'scratch.db')}, rehash=True)
    elif case == "not_a_ledger":
        rewrite(good, bad, {ledger: b"SQLite format 3\x00" + b"\xff" * 4000}, rehash=True)
    elif case == "registry_forged":
        bundle = json.loads(original["registry.json"])
        bundle["registry"]["signatures"] = bundle["registry"]["signatures"][:1]  # below the root threshold
        rewrite(good, bad, {"registry.json": json.dumps(bundle).encode()}, rehash=True)
    elif case == "future_format":
        manifest = json.loads(original[MANIFEST])
        rewrite(good, bad, {MANIFEST: json.dumps({**manifest, "format": "hcm-permits-backup/2"}).encode()})
    elif case == "future_schema":  # a ledger from a newer version of this code, migrated further
        scratch = tmp_path / "newer.db"
        scratch.write_bytes(original[ledger])
        with closing(sqlite3.connect(scratch, isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode=DELETE")
            conn.execute("INSERT INTO _sqlite_migrations (migration_set, name, applied_at)"
                         " VALUES ('permit-ledger', 'from_the_future', '2030-01-01')")
        rewrite(good, bad, {ledger: scratch.read_bytes()}, rehash=True)
    before = tree(city.home.path)

    message = refused(permit(city.home.path, "restore", bad), reason)

    assert tree(city.home.path) == before
    if case == "corrupt_ledger":
        assert "integrity check" in message


def test_an_older_backup_would_lose_permits_issued_since(backed_up: tuple[City, Path]) -> None:
    city, archive = backed_up
    newer = city.issue(number="NEW-1")
    before = tree(city.home.path)

    message = refused(permit(city.home.path, "restore", archive), "restore_would_lose_permits")
    assert "lose the permits" in message and "status-list indexes" in message and "--force" in message
    assert tree(city.home.path) == before

    forced = permit(city.home.path, "restore", archive, "--force", "--json")
    assert forced.exit_code == 0, forced.output
    assert json.loads(forced.stdout)["forced"] is True
    assert not city.home.ledger_path(AGENCY).with_name(f"{AGENCY}.db-wal").exists()
    with city.home.ledger(AGENCY) as ledger:
        numbers = {r.permit.number for r in ledger.find()}
    assert numbers == {"OLD-0", "OLD-1", "OLD-2"} and newer.permit.number not in numbers


def test_a_ledger_that_diverged_from_the_backup_is_not_replaced(backed_up: tuple[City, Path], tmp_path: Path) -> None:
    """Same number of events, different history: a ledger restored elsewhere and issued on."""
    city, archive = backed_up
    other = tmp_path / "other.tar"
    with tarfile.open(archive) as tar:
        tar.extract(f"ledgers/{AGENCY}.db", tmp_path / "copy", filter="data")
    copy = tmp_path / "copy" / f"ledgers/{AGENCY}.db"
    with closing(sqlite3.connect(copy, isolation_level=None)) as conn:
        conn.execute("INSERT INTO events (permit_id, version, kind, officer, at, reason) "
                     "SELECT permit_id, version, 'suspended', 'someone else', at, 'x' FROM events LIMIT 1")
    city.issue(number="HERE-1")  # the home's event 4 is another one
    rewrite(archive, other, {f"ledgers/{AGENCY}.db": copy.read_bytes()}, rehash=True)
    manifest = manifest_of(other)
    manifest["ledgers"][AGENCY].update(events=4, last_event_seq=4)  # type: ignore[index]
    rewrite(other, other.with_name("other2.tar"), {MANIFEST: json.dumps(manifest).encode()})
    refused(permit(city.home.path, "restore", other.with_name("other2.tar")), "restore_would_lose_permits")


def test_a_ledger_that_can_no_longer_be_read_is_replaced_only_when_forced(backed_up: tuple[City, Path]) -> None:
    city, archive = backed_up
    city.home.ledger_path(AGENCY).write_bytes(b"\x00" * 8192)  # the disk failure the backup was kept for
    before = tree(city.home.path)
    refused(permit(city.home.path, "restore", archive), "current_ledger_unreadable")
    assert tree(city.home.path) == before
    assert permit(city.home.path, "restore", archive, "--force").exit_code == 0
    with city.home.ledger(AGENCY) as ledger:
        assert sorted(r.permit.number for r in ledger.find()) == ["OLD-0", "OLD-1", "OLD-2"]


def test_a_backup_of_another_city_is_refused_over_this_one(city: City, tmp_path: Path) -> None:
    build_city(tmp_path / "other-city")
    archive = tmp_path / "other.tar"
    assert permit(tmp_path / "other-city", "backup", "--out", archive).exit_code == 0
    before = tree(city.home.path)
    refused(permit(city.home.path, "restore", archive), "anchor_mismatch")
    assert tree(city.home.path) == before


def test_a_ledger_in_use_is_not_replaced_under_its_user(backed_up: tuple[City, Path]) -> None:
    city, archive = backed_up
    with closing(sqlite3.connect(city.home.ledger_path(AGENCY))) as officer:  # e.g. an import still running
        officer.execute("SELECT COUNT(*) FROM permits").fetchone()
        before = tree(city.home.path)
        refused(permit(city.home.path, "restore", archive), "ledger_in_use")
        assert tree(city.home.path) == before
    assert permit(city.home.path, "restore", archive).exit_code == 0


def test_a_restore_over_the_same_home_is_allowed_and_changes_no_permit(backed_up: tuple[City, Path]) -> None:
    city, archive = backed_up
    before = dump(city.home.ledger_path(AGENCY))
    assert permit(city.home.path, "restore", archive).exit_code == 0
    assert dump(city.home.ledger_path(AGENCY)) == before


@pytest.mark.parametrize(("path", "held"), [
    ("anchor.json", True), ("ledgers/hcm-syt.db", True), ("status/hcm-syt.jwt", True),
    ("public/-3ouG9eu7hec.jwk.json", True), ("private/hcm-skhdt--3ouG9eu7hec.key", True), ("operator/roots.json", True),
    ("ledgers/hcm-syt.db-wal", False), ("ledgers/.hcm-syt.db.123.tmp", False), ("private/../anchor.json", False),
    ("../anchor.json", False), ("/etc/passwd", False), (".lock", False), ("private/a/b.key", False), ("notes.txt", False),
    ("public/..", False), ("public/", False),
])
def test_what_a_backup_may_hold(path: str, held: bool) -> None:
    assert is_home_file(path) is held


# --- the archive itself -----------------------------------------------------------------------------


def test_a_failed_backup_leaves_no_file(city: City, tmp_path: Path) -> None:
    city.issue()
    target = tmp_path / "no-such-directory" / "hcm.tar"
    refused(permit(city.home.path, "backup", "--out", target), "backup_failed")
    assert not target.parent.exists()
    # A ledger that cannot be read fails the backup half-way: no archive, no temporary file.
    out = tmp_path / "out"
    out.mkdir()
    city.home.ledger_path("hcm-sct").write_bytes(b"this is not an SQLite ledger\n" * 300)
    refused(permit(city.home.path, "backup", "--out", out / "hcm.tar"), "ledger_corrupt")
    assert list(out.iterdir()) == []


def test_the_archive_is_private_and_replaced_whole(city: City, tmp_path: Path) -> None:
    city.issue()
    archive = tmp_path / "hcm.tar"
    archive.write_bytes(b"an older backup")
    archive.chmod(0o644)
    assert permit(city.home.path, "backup", "--out", archive).exit_code == 0
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    with tarfile.open(archive) as tar:
        assert tar.getnames()[0] == MANIFEST
        assert {m.mode for m in tar.getmembers() if m.name.startswith("private/")} == {0o600}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hcm", "hcm.tar"]


def test_a_refused_restore_into_a_new_home_leaves_no_directory_behind(tmp_path: Path) -> None:
    garbage = tmp_path / "not-a-backup.tar"
    garbage.write_bytes(b"this is not a tar file\n" * 40)
    target = tmp_path / "new-home"
    result = CliRunner().invoke(cli, ["--home", str(target), "restore", str(garbage)], catch_exceptions=False)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: [backup_unreadable] ")
    assert not target.exists()


def test_a_backup_taken_before_the_status_list_upgrade_still_restores_after_its_transition(city: City, tmp_path: Path) -> None:
    """Lists in the format before the Token Status List are read until LEGACY_ACCEPTED_UNTIL. A
    backup holding one, restored after that date, restores everything else and says that list
    must be published again (it would be refused by every verifier), instead of refusing all."""
    import bz2

    from forge import sign_raw

    from keys.trust import TrustedRegistry
    from permits import operator
    from permits.backup import backup_home
    from permits.restore import restore_home
    from permits.status_list import LEGACY_ACCEPTED_UNTIL, MIN_SIZE

    later = LEGACY_ACCEPTED_UNTIL + 86_400
    trusted: TrustedRegistry = operator.publish(city.home, passphrase, NOW, (later - NOW) + 30 * 86_400)
    city.trusted = trusted
    city.publish_all()
    signer = city.signers[AGENCY]
    header = {"alg": signer.alg, "kid": signer.kid, "typ": "statuslist+jwt", "iss": AGENCY, "iat": NOW + 60,
              "exp": later + 86_400, "size": MIN_SIZE}
    old_form = sign_raw(header, bz2.compress(bytes(MIN_SIZE // 4), 9), signer)
    assert city.home.install_status_list(old_form, city.registry, AGENCY, NOW + 60).legacy
    archive = tmp_path / "before-upgrade.tar"
    backup_home(city.home, archive, NOW + 120)

    restored = Home.create(tmp_path / "restored")
    report = restore_home(restored, archive, later)

    assert [(k.path, k.why) for k in report.kept] == [(f"status/{AGENCY}.jwt", (
        f"the backup's list of {AGENCY} is in the format read only until 2027-03-01 00:00 UTC: publish the agency's list again"))]
    assert not restored.status_path(AGENCY).exists()
    assert restored.file(f"ledgers/{AGENCY}.db").exists() and restored.status_path("hcm-sct").exists()
    # Before the date, the same backup restores the list too.
    assert restore_home(Home.create(tmp_path / "restored-before"), archive, NOW + 180).kept == ()
