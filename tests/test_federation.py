"""Across agencies, for real: separate homes for the registry operator and three agencies, two
verifier servers (gunicorn) that know only the city's trust anchor, and a plain HTTP server
where the operator and the agencies publish. Everything is driven as separate processes: the
`permit` CLI as subprocesses, the verifiers over HTTP.

    verifier 1  pulls: the registry from the publication server, each agency's status list
                from the URL the registry gives for it, every 2 seconds
    verifier 2  is pushed to: `permit registry push` and `permit status push`
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from conftest import PASSPHRASE, free_port, start_server
from test_server import call

from keys.keyfile import load_signer
from permits.qr import token_from_input
from permits.token import sign_permit

PERMIT = str(Path(sys.executable).parent / "permit")
BUSINESS = "business-registration"
ALCOHOL = "alcohol-retail"
FOOD = "food-safety"


@dataclass
class Federation:
    root: Path
    pub_url: str = ""
    v1: str = ""
    v2: str = ""
    processes: list[Any] = field(default_factory=list)

    def home(self, name: str) -> Path:
        return self.root / name

    def permit(self, home: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        # PERMIT_BASE_URL as the officer guide's profile sets it: the address permits are printed with.
        environment = {**os.environ, "PERMIT_HOME": str(self.home(home)), "PERMIT_PASSPHRASE": PASSPHRASE.decode(),
                       "PERMIT_OFFICER": f"officer@{home}", "PERMIT_BASE_URL": "https://xacminh.example", **(env or {})}
        return subprocess.run([PERMIT, *args], env=environment, capture_output=True, text=True, timeout=60)

    def ok(self, home: str, *args: str) -> str:
        result = self.permit(home, *args)
        assert result.returncode == 0, f"permit {' '.join(args)} in {home}: {result.stderr}"
        return result.stdout

    def refused(self, home: str, *args: str) -> str:
        """Run a command that must fail in one line; return its reason code."""
        result = self.permit(home, *args)
        assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
        [line] = result.stderr.splitlines()
        return line.split("[", 1)[1].split("]", 1)[0]

    # --- distribution, as the operator and the agencies would do it ---------------------------

    def publish_registry(self) -> int:
        version = int(json.loads(self.ok("operator", "registry", "publish", "--json"))["version"])
        shutil.copy(self.home("operator") / "registry.json", self.home("pub") / "registry.json")
        self.ok("operator", "registry", "push", self.v2)
        for agency in ("skhdt", "sct", "syt"):
            if (self.home(agency) / "anchor.json").exists():
                self.ok(agency, "registry", "install", f"{self.pub_url}/registry.json")
        return version

    def publish_status(self, home: str, agency: str) -> None:
        self.ok(home, "status", "publish", "--agency", agency)
        (self.home("pub") / "status").mkdir(exist_ok=True)
        shutil.copy(self.home(home) / "status" / f"{agency}.jwt", self.home("pub") / "status" / f"{agency}.jwt")
        self.ok(home, "status", "push", self.v2, "--agency", agency)

    # --- asking the verifiers -------------------------------------------------------------------

    def verdicts(self, token: str) -> list[tuple[str, list[str]]]:
        out = []
        for verifier in (self.v1, self.v2):
            status, body = call(f"{verifier}/api/v1/verify", {"token": token})
            assert status == 200, body
            out.append((body["status"], body["reasons"]))
        return out

    def expect(self, token: str, status: str, reasons: list[str], seconds: float = 20) -> None:
        """Both verifiers reach this verdict (verifier 1 within a few refresh intervals)."""
        deadline = time.monotonic() + seconds
        while True:
            got = self.verdicts(token)
            if got == [(status, reasons)] * 2:
                # Hold steady for a poll interval: every worker of both servers agrees.
                time.sleep(2.5)
                assert self.verdicts(token) == [(status, reasons)] * 2
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"expected {status} {reasons} at both verifiers, got {got}")
            time.sleep(0.5)

    def registry_versions(self) -> list[int]:
        return [call(f"{v}/api/v1/healthz")[1]["registry"]["version"] for v in (self.v1, self.v2)]

    def expect_versions(self, version: int, seconds: float = 20) -> None:
        deadline = time.monotonic() + seconds
        while self.registry_versions() != [version, version]:
            assert time.monotonic() < deadline, f"verifiers hold {self.registry_versions()}, expected {version}"
            time.sleep(0.5)
        time.sleep(2.5)  # every worker of both servers

    def issue(self, home: str, agency: str, type_code: str, holder: str, number: str) -> dict[str, Any]:
        out = self.ok(home, "issue", "--agency", agency, "--type", type_code, "--holder-id", "0318765432",
                      "--holder-name", holder, "--number", number, "--valid-until", "2029-12-31", "--json")
        return dict(json.loads(out))

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


def header_kid(token: str) -> str:
    from keys.encoding import b64url_decode

    return str(json.loads(b64url_decode(token.split(".")[0]))["kid"])


def forge(fed: Federation, home: str, key_owner: str, kid: str, permit_token: str, **changes: Any) -> str:
    """Sign, with an agency's real private key from its home, a permit of our choosing."""
    from dataclasses import replace

    from keys.encoding import b64url_decode
    from permits.model import Permit
    from permits.token import inflate_claims

    signer = load_signer(fed.home(home) / "private" / f"{key_owner}-{kid}.key", PASSPHRASE)
    permit = Permit.from_claims(inflate_claims(b64url_decode(permit_token.split(".")[1])))
    return sign_permit(replace(permit, **changes), signer)


@pytest.fixture
def federation(tmp_path: Path) -> Iterator[Federation]:
    fed = Federation(tmp_path)
    for name in ("operator", "skhdt", "sct", "syt", "v1", "v2", "pub"):
        fed.home(name).mkdir()
    pub_port = free_port()
    fed.pub_url = f"http://127.0.0.1:{pub_port}"
    fed.processes.append(subprocess.Popen(
        [sys.executable, "-m", "http.server", str(pub_port), "--bind", "127.0.0.1", "--directory", str(fed.home("pub"))],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
    yield fed
    fed.stop()


def test_permits_cross_agencies_and_verifiers(federation: Federation) -> None:
    fed = federation

    # --- the ceremonies: the operator sets up the registry; each agency makes its own key --------
    fed.ok("operator", "registry", "init", "--id", "hcm", "--name", "Thành phố Hồ Chí Minh", "--roots", "3", "--threshold", "2")
    for code, vi, en in [(BUSINESS, "Giấy chứng nhận đăng ký doanh nghiệp", "Business registration certificate"),
                         (ALCOHOL, "Giấy phép bán lẻ rượu", "Alcohol retail licence"),
                         (FOOD, "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", "Food safety certificate")]:
        fed.ok("operator", "registry", "add-type", code, "--name-vi", vi, "--name-en", en, "--max-days", "3653")
    keys = {}
    for home, agency in (("skhdt", "hcm-skhdt"), ("sct", "hcm-sct")):
        fed.ok(home, "keys", "generate", "--agency", agency, "--out", str(fed.home(home) / "handover.jwk.json"))
        keys[agency] = json.loads((fed.home(home) / "handover.jwk.json").read_text())["kid"]
        assert not list((fed.home("operator") / "private").glob(f"{agency}-*"))  # private keys never leave
    fed.ok("operator", "registry", "add-agency", "hcm-skhdt", "--name-vi", "Sở Kế hoạch và Đầu tư",
           "--name-en", "Department of Planning and Investment", "--type", BUSINESS,
           "--status-url", f"{fed.pub_url}/status/hcm-skhdt.jwt")
    fed.ok("operator", "registry", "add-agency", "hcm-sct", "--name-vi", "Sở Công Thương",
           "--name-en", "Department of Industry and Trade", "--type", ALCOHOL, "--status-url", f"{fed.pub_url}/status/hcm-sct.jwt")
    fed.ok("operator", "registry", "add-key", "hcm-skhdt", "--public-key", str(fed.home("skhdt") / "handover.jwk.json"))
    fed.ok("operator", "registry", "add-key", "hcm-sct", "--public-key", str(fed.home("sct") / "handover.jwk.json"))
    fed.ok("operator", "registry", "publish", "--json")
    first_registry = (fed.home("operator") / "registry.json").read_bytes()
    shutil.copy(fed.home("operator") / "registry.json", fed.home("pub") / "registry.json")
    anchor = str(fed.home("operator") / "anchor.json")
    for home in ("skhdt", "sct"):
        fed.ok(home, "registry", "install", f"{fed.pub_url}/registry.json", "--anchor", anchor)

    # Two verifiers run by other agencies, knowing nothing but the trust anchor.
    for name in ("v1", "v2"):
        shutil.copy(anchor, fed.home(name) / "anchor.json")
    fed.v1, process = start_server(fed.home("v1"), fed.home("v1") / "access.log", "--registry-url", f"{fed.pub_url}/registry.json",
                                   "--status-pull", "--refresh-interval", "2")
    fed.processes.append(process)
    fed.v2, process = start_server(fed.home("v2"), fed.home("v2") / "access.log")
    fed.processes.append(process)
    fed.ok("operator", "registry", "push", fed.v2)

    # 1. A business registration issued by agency A verifies at both verifiers.
    p1 = fed.issue("skhdt", "hcm-skhdt", BUSINESS, "Công ty Cổ phần Cà phê Phố Cổ Sài Gòn", "0318765432")
    p2 = fed.issue("skhdt", "hcm-skhdt", BUSINESS, "Công ty TNHH Thương mại Bến Thành", "0318765433")
    fed.publish_status("skhdt", "hcm-skhdt")
    fed.publish_status("sct", "hcm-sct")
    fed.expect(p1["token"], "valid", [])
    assert token_from_input(p1["url"]) == p1["token"]

    # 2. Agency B cannot issue A's permit type: refused when issuing, and a token forged with
    #    B's real key for A's type is not authorised.
    assert fed.refused("sct", "issue", "--agency", "hcm-sct", "--type", BUSINESS, "--holder-id", "0319999999",
                       "--holder-name", "Công ty Giả", "--valid-until", "2029-12-31") == "not_authorised_for_type"
    forged = forge(fed, "sct", "hcm-sct", keys["hcm-sct"], p1["token"], agency="hcm-sct", issued_at=int(time.time()))
    fed.expect(forged, "invalid", ["not_authorised_for_type"], seconds=5)

    # 3. A revokes: after one refresh both verifiers say revoked.
    fed.ok("skhdt", "revoke", p2["id"], "--reason", "Doanh nghiệp giải thể")
    fed.publish_status("skhdt", "hcm-skhdt")
    fed.expect(p2["token"], "revoked", ["revoked"])

    # 4. A rotates its key: the operator registers the new key; new permits use it; the old one is
    #    retired as superseded. Earlier permits stay valid; the old key cannot issue any more.
    old_kid = keys["hcm-skhdt"]
    fed.ok("skhdt", "keys", "generate", "--agency", "hcm-skhdt", "--out", str(fed.home("skhdt") / "new.jwk.json"))
    new_kid = json.loads((fed.home("skhdt") / "new.jwk.json").read_text())["kid"]
    fed.ok("operator", "registry", "add-key", "hcm-skhdt", "--public-key", str(fed.home("skhdt") / "new.jwk.json"))
    fed.publish_registry()
    p3 = fed.issue("skhdt", "hcm-skhdt", BUSINESS, "Công ty TNHH Xây dựng Hưng Thịnh Phát", "0318765434")
    assert header_kid(p3["token"]) == new_kid
    time.sleep(1)
    fed.ok("operator", "registry", "retire-key", "hcm-skhdt", old_kid, "--reason", "superseded")
    version = fed.publish_registry()
    fed.expect_versions(version)
    fed.publish_status("skhdt", "hcm-skhdt")
    fed.expect(p1["token"], "valid", [])
    fed.expect(p3["token"], "valid", [])
    late = forge(fed, "skhdt", "hcm-skhdt", old_kid, p1["token"], issued_at=int(time.time()))
    fed.expect(late, "invalid", ["key_not_valid_at_issue"], seconds=5)

    # 5. A's old key is declared compromised: every permit under it is invalid at every verifier;
    #    A re-issues them under its new key in one command; the re-issued permits are valid.
    fed.ok("operator", "registry", "retire-key", "hcm-skhdt", old_kid, "--reason", "compromised")
    version = fed.publish_registry()
    fed.expect_versions(version)
    fed.expect(p1["token"], "invalid", ["key_compromised"])
    reissued = json.loads(fed.ok("skhdt", "reissue", "--agency", "hcm-skhdt", "--key", old_kid, "--json"))
    assert reissued["count"] == 1  # p1; p2 is revoked and stays revoked
    [p1_new] = reissued["permits"]
    assert (p1_new["id"], p1_new["version"]) == (p1["id"], 2)
    fed.publish_status("skhdt", "hcm-skhdt")
    fed.expect(p1_new["token"], "valid", [])
    assert json.loads(fed.ok("skhdt", "reissue", "--agency", "hcm-skhdt", "--key", old_kid, "--json"))["count"] == 0

    # 6. The operator adds agency C: the verifiers pick up the new version without a restart.
    fed.ok("syt", "keys", "generate", "--agency", "hcm-syt", "--out", str(fed.home("syt") / "handover.jwk.json"))
    fed.ok("operator", "registry", "add-agency", "hcm-syt", "--name-vi", "Sở Y tế", "--name-en", "Department of Health",
           "--type", FOOD, "--status-url", f"{fed.pub_url}/status/hcm-syt.jwt")
    fed.ok("operator", "registry", "add-key", "hcm-syt", "--public-key", str(fed.home("syt") / "handover.jwk.json"))
    version = fed.publish_registry()
    fed.ok("syt", "registry", "install", f"{fed.pub_url}/registry.json", "--anchor", anchor)
    fed.expect_versions(version)
    p4 = fed.issue("syt", "hcm-syt", FOOD, "Công ty TNHH Thực phẩm Sạch Bình Minh", "1287/2026/GCN-ATTP")
    fed.publish_status("syt", "hcm-syt")
    fed.expect(p4["token"], "valid", [])

    # 7. An attacker PUTs an older registry or status list: refused, nothing changes.
    for verifier in (fed.v1, fed.v2):
        status, body = call(f"{verifier}/api/v1/registry", first_registry, method="PUT")
        assert (status, body["error"]["reason"]) == (409, "registry_rollback")
    old_list = (fed.home("pub") / "status" / "hcm-skhdt.jwt").read_bytes()
    fed.ok("skhdt", "revoke", p3["id"], "--reason", "Vi phạm")
    fed.publish_status("skhdt", "hcm-skhdt")
    fed.expect(p3["token"], "revoked", ["revoked"])
    for verifier in (fed.v1, fed.v2):
        status, body = call(f"{verifier}/api/v1/status/hcm-skhdt", old_list, method="PUT",
                            headers={"Content-Type": "application/statuslist+jwt"})
        assert (status, body["error"]["reason"]) == (409, "status_rollback")
    assert fed.registry_versions() == [version, version]
    fed.expect(p3["token"], "revoked", ["revoked"], seconds=5)

    # 8. The operator rotates the root keys: verifiers still anchored on the first root follow
    #    the chain (each link signed by the old and the new keys) and accept the next version.
    fed.ok("operator", "registry", "rotate-root", "--roots", "3", "--threshold", "2")
    version = fed.publish_registry()
    fed.expect_versions(version)
    fed.expect(p4["token"], "valid", [])

    # 9. A verifier cut off from updates, past the registry's expiry, says registry_stale.
    shutil.copytree(fed.home("v2"), fed.home("v3"), ignore=shutil.ignore_patterns("access.*"))
    v3, process = start_server(fed.home("v3"), fed.home("v3") / "access.log",
                               env={"LD_PRELOAD": faketime_library(), "FAKETIME": "+40d"})
    fed.processes.append(process)
    status, body = call(f"{v3}/api/v1/verify", {"token": p4["token"]})
    assert (status, body["status"], body["reasons"], body["valid"]) == (200, "status_unknown", ["registry_stale"], False)
    assert call(f"{v3}/api/v1/healthz")[1]["status"] == "unavailable"


def faketime_library() -> str:
    """libfaketime (Debian's faketime package) moves the clock of one process forward."""
    for candidate in ("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1"):
        if os.path.exists(candidate):
            return candidate
    pytest.fail("libfaketime is required (apt-get install faketime)")
