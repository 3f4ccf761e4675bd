"""Issuing and the permit life cycle, and the ledger underneath: rules, atomicity, history."""

from __future__ import annotations

import sqlite3
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from conftest import DAY, NOW, City

from keys.algorithms import generate_private_key
from keys.errors import ConflictError, InputError, LedgerError, NotFoundError
from keys.signer import KeySigner
from permits import issuing
from permits import ledger as ledger_module
from permits.ledger import Ledger
from permits.status_list import MIN_SIZE


def _count(city: City, agency: str, sql: str) -> int:
    ledger = city.home.ledger(agency)
    try:
        return int(ledger.db.conn.execute(sql).fetchone()[0])
    finally:
        ledger.close()


def test_issue_records_the_permit_its_version_and_the_issued_event(city: City) -> None:
    record = city.issue(number="1287/2026/GCN-ATTP")
    assert record.state == "active" and record.status == 0
    assert record.permit.number == "1287/2026/GCN-ATTP"
    ledger = city.home.ledger("hcm-syt")
    [event] = ledger.events(record.permit.id)
    assert (event.kind, event.officer, event.at, event.version) == ("issued", "test.officer", NOW, 1)
    assert ledger.get(record.permit.id).token == record.token


def test_dates_mean_whole_days_in_ho_chi_minh_city(city: City) -> None:
    record = city.issue(valid_from=date(2026, 12, 1), valid_until=date(2027, 11, 30))
    assert issuing.city_date(record.permit.valid_from) == date(2026, 12, 1)
    assert record.permit.valid_from % DAY == 17 * 3600  # midnight at UTC+7 is 17:00 UTC
    assert issuing.city_date(record.permit.valid_until) == date(2027, 12, 1)  # exclusive end
    assert record.permit.lifetime == 365 * DAY


@pytest.mark.parametrize(
    ("overrides", "error", "reason"),
    [
        ({"agency": "hcm-stnmt"}, NotFoundError, "unknown_agency"),
        ({"type": "fishing-licence"}, NotFoundError, "unknown_type"),
        ({"type": "construction"}, InputError, "not_authorised_for_type"),
        ({"valid_until": date(2030, 12, 31)}, InputError, "validity_too_long"),
        ({"valid_from": date(2027, 1, 2), "valid_until": date(2027, 1, 1)}, InputError, "bad_dates"),
        ({"valid_from": date(2020, 1, 1), "valid_until": date(2021, 1, 1)}, InputError, "bad_dates"),
        ({"holder_name": ""}, InputError, "bad_text"),
        ({"holder_name": "   "}, InputError, "bad_text"),
        ({"holder_name": "A" * 201}, InputError, "bad_text"),
        ({"holder_name": "Công ty\u202e TNHH"}, InputError, "bad_text"),
        ({"holder_address": "Số 1\u200b Lê Lợi"}, InputError, "bad_text"),
        ({"activities": ("ok", "\u0007")}, InputError, "bad_text"),
        ({"activities": tuple(f"hoạt động {i}" for i in range(21))}, InputError, "bad_text"),
        ({"holder_id": "079 123"}, InputError, "bad_holder_id"),
        ({"holder_id": "../../etc"}, InputError, "bad_holder_id"),
        ({"number": "\u2066123"}, InputError, "bad_text"),
    ],
)
def test_bad_requests_are_refused_and_nothing_is_written(city: City, overrides: dict, error: type, reason: str) -> None:  # type: ignore[type-arg]
    ledger = city.home.ledger("hcm-syt", create=True)
    with pytest.raises(error) as refused:
        issuing.issue(ledger, city.registry, city.signers["hcm-syt"], city.request(**overrides), "officer", NOW)
    assert refused.value.reason == reason
    path = city.home.ledger_path("hcm-syt")
    if path.exists():
        assert _count(city, "hcm-syt", "SELECT COUNT(*) FROM permits") == 0


def test_duplicate_permit_number_is_refused(city: City) -> None:
    city.issue(number="42/2026/GCN")
    with pytest.raises(ConflictError) as refused:
        city.issue(number="42/2026/GCN", holder_id="0399999999")
    assert refused.value.reason == "duplicate_permit_number"
    assert _count(city, "hcm-syt", "SELECT COUNT(*) FROM permits") == 1


def test_nfd_input_is_stored_and_signed_as_nfc(city: City) -> None:
    name = "Công ty TNHH Đầu tư Phúc Lộc"
    record = city.issue(holder_name=unicodedata.normalize("NFD", name), holder_address=unicodedata.normalize("NFD", "Phường Bến Thành"))
    assert record.permit.holder_name == name
    assert unicodedata.is_normalized("NFC", record.permit.holder_address or "")
    city.publish_status("hcm-syt")
    assert city.verify(record.token).to_dict()["permit"]["holder"]["name"] == name


def test_d_with_stroke_and_eth_are_different_holders(city: City) -> None:
    # Đ (U+0110) and Ð (U+00D0) look alike but are different letters: no folding merges them.
    a = city.issue(holder_name="Công ty Đông Á", number="A-1")
    b = city.issue(holder_name="Công ty \u00d0ông Á", number="A-2")
    assert a.permit.holder_name != b.permit.holder_name
    ledger = city.home.ledger("hcm-syt")
    names = {r.permit.holder_name for r in ledger.find()}
    assert names == {"Công ty Đông Á", "Công ty \u00d0ông Á"}


def test_status_indexes_are_random_unique_and_within_the_list(city: City) -> None:
    indexes = [city.issue(number=f"N-{i}").permit.status_index for i in range(40)]
    assert len(set(indexes)) == 40
    assert all(0 <= i < MIN_SIZE for i in indexes)
    assert indexes != sorted(indexes)  # not sequential


def test_the_status_list_doubles_when_half_full(city: City) -> None:
    taken = city.issue(number="first").permit.status_index
    ledger = city.home.ledger("hcm-syt")
    with ledger.transaction():
        ledger.db.conn.executemany(
            "INSERT INTO versions (permit_id, version, status_index, kid, issued_at, valid_until, token)"
            " VALUES ('FILLER', ?, ?, 'k', 0, 0, 't')",
            [(i + 1, i) for i in range(MIN_SIZE // 2) if i != taken],
        )
    ledger.close()
    record = city.issue(number="after-fill")
    assert city.home.ledger("hcm-syt").status_list_size == 2 * MIN_SIZE
    assert 0 <= record.permit.status_index < 2 * MIN_SIZE


def test_a_signer_that_produces_a_bad_signature_leaves_no_trace(city: City) -> None:
    class BrokenHsm:
        def __init__(self, real: KeySigner) -> None:
            self.real, self.kid, self.alg = real, real.kid, real.alg

        def sign(self, data: bytes) -> bytes:
            return bytes(64)

        def public_key(self):  # type: ignore[no-untyped-def]
            return self.real.public_key()

    city.issue(number="before")
    ledger = city.home.ledger("hcm-syt")
    with pytest.raises(InputError) as refused:
        issuing.issue(ledger, city.registry, BrokenHsm(city.signers["hcm-syt"]), city.request(number="broken"), "officer", NOW)  # type: ignore[arg-type]
    assert refused.value.reason == "signer_fault"
    assert _count(city, "hcm-syt", "SELECT COUNT(*) FROM permits") == 1
    assert _count(city, "hcm-syt", "SELECT COUNT(*) FROM versions") == 1
    assert _count(city, "hcm-syt", "SELECT COUNT(*) FROM events") == 1


def test_a_key_of_another_agency_cannot_issue(city: City) -> None:
    ledger = city.home.ledger("hcm-syt", create=True)
    with pytest.raises(InputError) as refused:
        issuing.issue(ledger, city.registry, city.signers["hcm-skhdt"], city.request(), "officer", NOW)
    assert refused.value.reason == "unknown_key"
    with pytest.raises(InputError) as refused:
        issuing.issue(ledger, city.registry, KeySigner(generate_private_key()), city.request(), "officer", NOW)
    assert refused.value.reason == "unknown_key"


@pytest.mark.parametrize(
    ("steps", "final_state"),
    [
        (["suspended"], "suspended"),
        (["suspended", "reinstated"], "active"),
        (["revoked"], "revoked"),
        (["suspended", "revoked"], "revoked"),
    ],
)
def test_life_cycle_transitions(city: City, steps: list[str], final_state: str) -> None:
    record = city.issue()
    for step in steps:
        record = city.change(record, step, None if step == "reinstated" else "inspection")
    assert record.state == final_state
    kinds = [e.kind for e in city.home.ledger("hcm-syt").events(record.permit.id)]
    assert kinds == ["issued", *steps]


@pytest.mark.parametrize(
    ("steps", "step", "reason"),
    [
        (["revoked"], "revoked", "already_revoked"),
        (["suspended"], "suspended", "already_suspended"),
        ([], "reinstated", "already_active"),
        (["revoked"], "suspended", "invalid_transition"),
        (["revoked"], "reinstated", "invalid_transition"),
    ],
)
def test_impossible_transitions_are_refused(city: City, steps: list[str], step: str, reason: str) -> None:
    record = city.issue()
    for earlier in steps:
        record = city.change(record, earlier)
    with pytest.raises(ConflictError) as refused:
        city.change(record, step)
    assert refused.value.reason == reason


def test_suspending_or_revoking_needs_a_reason(city: City) -> None:
    record = city.issue()
    with pytest.raises(InputError) as refused:
        city.change(record, "revoked", None)
    assert refused.value.reason == "reason_required"


def test_revoking_an_unknown_permit(city: City) -> None:
    city.issue()
    ledger = city.home.ledger("hcm-syt")
    with pytest.raises(NotFoundError) as refused:
        issuing.change_status(ledger, "NOSUCH99", "revoked", "officer", NOW, "why")
    assert refused.value.reason == "permit_not_found"


def test_amend_keeps_id_and_number_and_supersedes_the_old_version(city: City) -> None:
    record = city.issue(number="77/2026")
    ledger = city.home.ledger("hcm-syt")
    newer = issuing.amend(ledger, city.registry, city.signers["hcm-syt"], record.permit.id,
                          issuing.Amendment(activities=["Bán buôn thực phẩm"]), "officer", NOW + 10, "scope changed")
    assert (newer.permit.id, newer.permit.number, newer.permit.version) == (record.permit.id, "77/2026", 2)
    assert newer.permit.activities == ("Bán buôn thực phẩm",)
    assert newer.permit.status_index != record.permit.status_index
    statuses = dict(ledger.status_entries())
    assert statuses == {record.permit.status_index: 3}


def test_amending_a_suspended_permit_is_refused(city: City) -> None:
    record = city.change(city.issue(), "suspended")
    ledger = city.home.ledger("hcm-syt")
    with pytest.raises(ConflictError) as refused:
        issuing.amend(ledger, city.registry, city.signers["hcm-syt"], record.permit.id,
                      issuing.Amendment(holder_name="X"), "officer", NOW, "r")
    assert refused.value.reason == "invalid_transition"


def test_reissue_keeps_a_suspended_permit_suspended(city: City) -> None:
    record = city.change(city.issue(), "suspended")
    ledger = city.home.ledger("hcm-syt")
    newer = issuing.reissue(ledger, city.registry, city.signers["hcm-syt"], record.permit.id, "officer", NOW, "key rotation")
    assert newer.state == "suspended" and newer.status == 2 and newer.permit.version == 2


def test_the_event_log_is_append_only(city: City) -> None:
    city.issue()
    ledger = city.home.ledger("hcm-syt")
    for sql in ("UPDATE events SET officer = 'someone else'", "DELETE FROM events"):
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            ledger.db.conn.execute(sql)
    assert _count(city, "hcm-syt", "SELECT COUNT(*) FROM events") == 1


def test_a_corrupted_ledger_file_is_reported_not_used(city: City) -> None:
    city.issue()
    path = city.home.ledger_path("hcm-syt")
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(LedgerError) as refused:
        city.home.ledger("hcm-syt")
    assert refused.value.reason == "ledger_corrupt"


def test_a_ledger_of_another_agency_is_refused(city: City) -> None:
    city.issue()
    path = city.home.ledger_path("hcm-syt")
    with pytest.raises(LedgerError):
        Ledger.open(path, "hcm-sct")


def test_a_new_ledger_appears_whole_or_not_at_all(city: City, tmp_path: Path) -> None:
    """Another process (a backup, a verifier) never opens a ledger that is still being made:
    it is built beside its place and linked in once migrated and stamped with its agency."""
    path = tmp_path / "ledgers" / "hcm-syt.db"
    seen_while_building: list[bool] = []
    real_apply = ledger_module.migrations.apply

    def apply_and_look(db: Any) -> None:
        real_apply(db)
        seen_while_building.append(path.exists())

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ledger_module.migrations, "apply", apply_and_look)
        Ledger.create(path, "hcm-syt").close()
    assert seen_while_building[0] is False  # the migrations ran on a file not yet at its place
    assert sorted(p.name for p in path.parent.iterdir()) == ["hcm-syt.db"]  # no leftovers
    with Ledger.open(path, "hcm-syt") as ledger:
        assert ledger.status_list_size > 0
