"""Shared fixtures: a real city home (root keys, registry, agencies, keys, ledgers) built once
per session through the library, then copied for each test so tests never share state."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from keys import pkcs8
from keys.registry import Registry
from keys.signer import KeySigner
from keys.trust import TrustedRegistry
from permits import issuing, operator, publishing
from permits.home import Home
from permits.issuing import CITY_TZ, IssueRequest
from permits.ledger import PermitRecord
from permits.status_list import StatusList
from verifier.pipeline import verify
from verifier.verdict import Verdict

PASSPHRASE = b"correct horse battery staple"
# 22 November 2026, 09:00 in Ho Chi Minh City: the clock every test runs on.
NOW = int(datetime(2026, 11, 22, 9, 0, tzinfo=CITY_TZ).timestamp())
DAY = 86_400
# Agency keys are valid from 2024 so tests can issue permits "in the past".
KEYS_FROM = int(datetime(2024, 1, 1, tzinfo=CITY_TZ).timestamp())

TYPES = [
    ("business-registration", "Giấy chứng nhận đăng ký doanh nghiệp", "Business registration certificate", 3653),
    ("food-safety", "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", "Food safety certificate", 1096),
    ("alcohol-retail", "Giấy phép bán lẻ rượu", "Alcohol retail licence", 1827),
    ("construction", "Giấy phép xây dựng", "Construction permit", 1096),
]
AGENCIES = [
    ("hcm-skhdt", "Sở Kế hoạch và Đầu tư", "Department of Planning and Investment", ["business-registration"], "EdDSA"),
    ("hcm-syt", "Sở Y tế", "Department of Health", ["food-safety"], "EdDSA"),
    ("hcm-sct", "Sở Công Thương", "Department of Industry and Trade", ["alcohol-retail", "food-safety"], "ES256"),
    ("hcm-sxd", "Sở Xây dựng", "Department of Construction", ["construction"], "EdDSA"),
]


CITY_VERIFIER = "https://xacminh.example"


def passphrase(_: str) -> bytes:
    return PASSPHRASE


@pytest.fixture(scope="session", autouse=True)
def _each_key_file_decrypted_once() -> Iterator[None]:
    """Every copy of the city template holds the same key files, and opening one derives a key
    600,000 times (about 70 ms): the same bytes under the same passphrase are decrypted once per
    session. The rest of every load (mode, size, PEM, the bounds on its parameters) runs each
    time; a new or changed file is decrypted for real, and a failure is never remembered."""
    opened: dict[tuple[bytes, bytes], PrivateKeyTypes] = {}
    decrypt = pkcs8.decrypt

    def decrypt_once(der: bytes, secret: bytes) -> PrivateKeyTypes:
        if (der, secret) not in opened:
            opened[der, secret] = decrypt(der, secret)
        return opened[der, secret]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pkcs8, "decrypt", decrypt_once)
        yield


@dataclass
class City:
    """A home holding the operator's registry and four agencies, with helpers for tests."""

    home: Home
    trusted: TrustedRegistry
    signers: dict[str, KeySigner]
    lists: dict[str, StatusList] = field(default_factory=dict)

    @property
    def registry(self) -> Registry:
        return self.trusted.registry

    def request(self, agency: str = "hcm-syt", type: str = "food-safety", **overrides: Any) -> IssueRequest:
        values: dict[str, Any] = dict(
            agency=agency,
            type=type,
            holder_id="0312345678",
            holder_name="Công ty TNHH Thực phẩm Sạch Bình Minh",
            holder_address="128 Nguyễn Thị Minh Khai, Phường Xuân Hòa, TP. Hồ Chí Minh",
            activities=("Sản xuất, chế biến thực phẩm",),
            valid_until=date(2028, 12, 31),
        )
        values.update(overrides)
        return IssueRequest(**values)

    def issue(self, agency: str = "hcm-syt", type: str = "food-safety", at: int = NOW, **overrides: Any) -> PermitRecord:
        ledger = self.home.ledger(agency, create=True)
        try:
            return issuing.issue(ledger, self.registry, self.signers[agency], self.request(agency, type, **overrides), "test.officer", at)
        finally:
            ledger.close()

    def change(self, record: PermitRecord, kind: str, reason: str | None = "test") -> PermitRecord:
        ledger = self.home.ledger(record.permit.agency)
        try:
            return issuing.change_status(ledger, record.permit.id, kind, "test.officer", NOW, reason)
        finally:
            ledger.close()

    def publish_status(self, agency: str, at: int = NOW, ttl: int = 2 * DAY) -> StatusList:
        self.lists[agency] = publishing.publish_status_list(self.home, self.registry, agency, self.signers[agency], at, ttl)
        return self.lists[agency]

    def publish_all(self, at: int = NOW) -> None:
        for agency in self.registry.agencies:
            self.publish_status(agency, at)

    def verify(self, token: object, at: int = NOW, registry: Registry | None = None) -> Verdict:
        return verify(token, registry or self.registry, self.lists, at)


def build_city(path: Path) -> None:
    home = Home.create(path)
    operator.init_registry(home, "hcm", "Thành phố Hồ Chí Minh", 3, 2, PASSPHRASE, NOW - 30 * DAY)
    for code, vi, en, days in TYPES:
        operator.add_type(home, code, vi, en, days)
    for agency, vi, en, types, alg in AGENCIES:
        operator.add_agency(home, agency, vi, en, types, None)
        signer = home.generate_key(agency, PASSPHRASE, alg)  # type: ignore[arg-type]
        operator.add_key(home, agency, signer.public_key(), KEYS_FROM)
    operator.publish(home, passphrase, NOW - DAY, 60 * DAY)
    # The address its permits are printed with: the city's verifier, as a real home sets it (a
    # permit printed with this machine's own address is refused). Set after the registry was
    # built, so that the agencies' status lists stay where tests serve them (127.0.0.1:8000).
    home.set_config(base_url=CITY_VERIFIER)


@pytest.fixture(scope="session")
def city_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "hcm"
    build_city(path)
    return path


@pytest.fixture
def city(city_template: Path, tmp_path: Path) -> City:
    path = tmp_path / "hcm"
    shutil.copytree(city_template, path)
    home = Home(path)
    trusted = home.trusted_registry(NOW)
    signers = {agency: home.agency_signer(trusted.registry, agency, passphrase, NOW) for agency in trusted.registry.agencies}
    return City(home, trusted, signers)


@pytest.fixture
def env_home(city: City, monkeypatch: pytest.MonkeyPatch) -> City:
    """The city home as the CLI sees it: PERMIT_HOME and PERMIT_PASSPHRASE set."""
    monkeypatch.setenv("PERMIT_HOME", str(city.home.path))
    monkeypatch.setenv("PERMIT_PASSPHRASE", PASSPHRASE.decode())
    monkeypatch.delenv("PERMIT_BASE_URL", raising=False)
    return city


@pytest.fixture(autouse=True)
def _no_user_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("PERMIT_"):
            monkeypatch.delenv(name)


class Clock:
    """A clock tests can move; the service reads it through the CLOCK setting."""

    def __init__(self, now: int = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return float(self.now)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(city: City, clock: Clock):  # type: ignore[no-untyped-def]
    """The verifier app over the city home (status lists published), on the test clock."""
    from verifier.web.app import create_app

    city.publish_all()
    return create_app({"HOME": str(city.home.path), "BACKGROUND_REFRESH": False, "CLOCK": clock, "TESTING": True})


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


@dataclass
class Served:
    """A real `permit serve` (gunicorn) on 127.0.0.1, over a home published on the real clock."""

    city: City
    url: str
    access_log: Path
    process: Any

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: Any) -> None:
    """Stop a server started in a session of its own (start_new_session), all its processes,
    unless it has ended already (bench/servers.py: SIGTERM, then SIGKILL)."""
    from bench.servers import stop_group

    if process.poll() is None:
        stop_group(process)


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def verifier_home(agency_home: Path, where: Path) -> Path:
    """A verifier's home: the anchor set by hand, and the documents it accepted so far."""
    where.mkdir()
    for name in ("anchor.json", "registry.json", "trust-state.json"):
        shutil.copy(agency_home / name, where / name)
    shutil.copytree(agency_home / "status", where / "status")
    return where


def start_server(home: Path, log: Path, *extra: str, env: dict[str, str] | None = None) -> tuple[str, Any]:
    """Start `permit serve` on a free port; return (base URL, process) once it answers."""
    import subprocess
    import sys
    import time
    import urllib.request

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).parent / "permit"), "serve", "--bind", f"127.0.0.1:{port}",
               "--workers", "2", "--access-log", str(log), "--base-url", url, *extra]
    with open(log.with_suffix(".err"), "wb") as errors:  # the child keeps its own copy of the descriptor
        process = subprocess.Popen(command, env={**os.environ, "PERMIT_HOME": str(home), **(env or {})},
                                   stdout=subprocess.DEVNULL, stderr=errors, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"permit serve exited: {log.with_suffix('.err').read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/api/v1/healthz", timeout=1) as response:
                if response.status == 200:
                    return url, process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("permit serve did not answer within 30 s")


@pytest.fixture
def served(city: City, tmp_path: Path):  # type: ignore[no-untyped-def]
    import time

    real_now = int(time.time())
    city.trusted = operator.publish(city.home, passphrase, real_now, 30 * DAY)
    city.publish_all(at=real_now)
    log = tmp_path / "access.log"
    url, process = start_server(city.home.path, log)
    city.home.set_config(base_url=url)
    server = Served(city, url, log, process)
    yield server
    server.stop()
