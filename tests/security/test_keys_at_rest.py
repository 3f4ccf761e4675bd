"""Keys at rest (issue 12, point 5). Whoever copies a key file (from a backup, a laptop, a USB
stick) attacks it offline: every guess must cost 600,000 PBKDF2-HMAC-SHA256 iterations, the
passphrase must not be among the first guesses, a crafted key file must not hang the command
that opens it, and a key file written before this rule is brought up to it without being lost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import DAY, NOW, PASSPHRASE, City, passphrase
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import serialization

import cli as cli_module
from cli import cli
from keys import pkcs8
from keys.algorithms import PrivateKey
from keys.errors import InputError
from keys.reasons import Reason
from permits import operator
from permits.i18n import translate

PERMIT = Path(sys.executable).parent / "permit"
AGENCY = "hcm-syt"


@pytest.fixture(autouse=True)
def _clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_module, "now", lambda: NOW)


def run(*args: str, env: dict[str, str | None]) -> Result:
    quiet: dict[str, str | None] = {"PERMIT_LANG": None, "LANGUAGE": None, "LC_ALL": None, "LC_MESSAGES": None, "LANG": None}
    return CliRunner().invoke(cli, list(args), env={**quiet, **env}, catch_exceptions=False)


def assert_error(result: Result, reason: str) -> str:
    """Exit 2, one line `Error: [reason] …` on stderr, no traceback; returns the line."""
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert f"[{reason}] " in lines[0] and lines[0].split("[")[0] in {"Error: ", "Lỗi: "}, lines[0]
    return lines[0]


def key_files(home: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted((home / "private").glob("*.key"))}


def plain(private: PrivateKey) -> bytes:
    return private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def legacy(path: Path, secret: bytes = PASSPHRASE) -> PrivateKey:
    """Rewrite the key file at `path` as this program wrote key files before: cryptography's
    PKCS#8 at OpenSSL's 2,048 iterations. Returns the key it holds."""
    private: PrivateKey = serialization.load_pem_private_key(path.read_bytes(), PASSPHRASE)  # type: ignore[assignment]
    path.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.BestAvailableEncryption(secret)))
    return private


def iterations_by_openssl(path: Path) -> list[int]:
    """The file's INTEGERs as OpenSSL's own parser reads them (PBKDF2's iteration count)."""
    parsed = subprocess.run(["openssl", "asn1parse", "-in", str(path)], capture_output=True, text=True, check=True, timeout=60).stdout
    return [int(line.rsplit(":", 1)[1], 16) for line in parsed.splitlines() if "prim: INTEGER" in line]


# --- guessable passphrases ---------------------------------------------------------------------


def test_weak_passphrase_aaaaaaaaaaaa_is_refused_with_its_reason(tmp_path: Path) -> None:
    home = tmp_path / "hcm"
    env: dict[str, str | None] = {"PERMIT_HOME": str(home), "PERMIT_PASSPHRASE": "aaaaaaaaaaaa"}
    line = assert_error(run("registry", "init", "--id", "hcm", "--name", "TP. Hồ Chí Minh", env=env), "weak_passphrase_repeated_character")
    assert "it repeats one character" in line and "aaaa" not in line  # why, never the passphrase itself
    line = assert_error(run("--lang", "vi", "registry", "init", "--id", "hcm", "--name", "TP. Hồ Chí Minh", env=env),
                        "weak_passphrase_repeated_character")
    assert "Mật khẩu chỉ là một ký tự lặp lại" in line
    assert not (home / "anchor.json").exists() and key_files(home) == {}


@pytest.mark.parametrize(
    ("secret", "reason", "why"),
    [
        ("abcabcabcabc", "weak_passphrase_repeated_pattern", "it repeats a short pattern"),
        ("123412341234", "weak_passphrase_repeated_pattern", "it repeats a short pattern"),
        ("abcdefghijkl", "weak_passphrase_sequence", "sequence such as abcd or 1234"),
        ("password1234", "weak_passphrase_common", "common password"),
        ("1q2w3e4r5t6y", "weak_passphrase_common", "common password"),
        ("matkhau12345", "weak_passphrase_common", "common password"),  # "mật khẩu" is "password"
        ("zxcvbnm,./zxcv", "weak_passphrase_keyboard", "keyboard pattern"),
        ("hcm-syt-2026", "weak_passphrase_identifier", "the agency's or the registry's identifier"),
        ("Minh22111990", "weak_passphrase_guessable", "too easy to guess"),
        ("short", "weak_passphrase", "at least 12 characters"),
    ],
    ids=["abc-repeated", "1234-repeated", "alphabet", "password1234", "keyboard-walk-on-list", "matkhau", "keyboard-row",
         "agency-id", "name-and-birthday", "short"],
)
def test_guessable_passphrase_for_a_new_agency_key_is_refused_with_its_reason(city: City, secret: str, reason: str, why: str) -> None:
    home = city.home.path
    before = key_files(home)
    env: dict[str, str | None] = {"PERMIT_HOME": str(home), "PERMIT_PASSPHRASE": secret}
    line = assert_error(run("keys", "generate", "--agency", AGENCY, env=env), reason)
    assert why in line and secret not in line
    line = assert_error(run("--lang", "vi", "registry", "add-key", AGENCY, env=env), reason)
    assert translate(Reason(reason).sentence, "vi") in line
    assert key_files(home) == before


def test_guessable_passphrase_for_new_root_keys_is_refused_before_the_rotation(city: City) -> None:
    before = key_files(city.home.path), city.home.file("operator/roots.json").read_bytes()
    # The current root keys open with the city's passphrase; the new ones would get "abcdefghijkl".
    def secret(what: str) -> bytes:
        return b"abcdefghijkl" if what == "the new root keys" else PASSPHRASE

    with pytest.raises(InputError) as caught:
        operator.rotate_root(city.home, secret, 3, 2)
    assert caught.value.reason == "weak_passphrase_sequence"
    assert (key_files(city.home.path), city.home.file("operator/roots.json").read_bytes()) == before


# --- guessing a stolen key file ------------------------------------------------------------------


def test_new_key_file_resists_guessing_at_600000_iterations(tmp_path: Path) -> None:
    from permits.home import Home

    home = Home.create(tmp_path / "agency")
    signer = home.generate_key(AGENCY, PASSPHRASE)
    path = home.private_key_path(AGENCY, signer.kid)
    assert iterations_by_openssl(path) == [600_000]
    # The container has no MAC or check value that a guess could be tested against more cheaply:
    # a wrong guess costs the whole key derivation, as the right one does.
    # (2,048 iterations took 0.2 ms a guess here; 600,000 take about 70 ms.)
    data = path.read_bytes()
    started = time.perf_counter()
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(data, b"wrong horse battery staple")
    assert time.perf_counter() - started > 0.010


@pytest.mark.parametrize("iterations", [2**31 - 1, 2**31], ids=["derives-for-minutes", "panics-the-loader"])
def test_crafted_key_file_with_huge_iteration_count_is_refused_quickly(city: City, iterations: int) -> None:
    # A genuine key file of the agency with PBKDF2's iteration count raised: at 2^31 - 1 the
    # loader derives a key for about 4 minutes here before the passphrase can even be checked;
    # at 2^31 cryptography's loader panics (a Rust panic, with its traceback, not an error).
    real_now = int(time.time())
    operator.publish(city.home, passphrase, real_now, 30 * DAY)
    signer = city.signers[AGENCY]
    path = city.home.private_key_path(AGENCY, signer.kid)
    info = asn1.decode_der(pkcs8.EncryptedPrivateKeyInfo, pkcs8.der_of(pkcs8.encrypt(legacy(path), PASSPHRASE)))
    scheme = info.encryption_algorithm.parameters
    kdf = replace(scheme.key_derivation_func, parameters=replace(scheme.key_derivation_func.parameters, iteration_count=iterations))
    info = replace(info, encryption_algorithm=replace(info.encryption_algorithm, parameters=replace(scheme, key_derivation_func=kdf)))
    path.write_bytes(pkcs8.pem_of(asn1.encode_der(info)))
    assert iterations_by_openssl(path) == [iterations]

    env = {name: value for name, value in os.environ.items() if not name.startswith("PERMIT_")}
    env |= {"PERMIT_HOME": str(city.home.path), "PERMIT_PASSPHRASE": PASSPHRASE.decode()}
    started = time.monotonic()
    try:
        result = subprocess.run(
            [str(PERMIT), "issue", "--agency", AGENCY, "--type", "food-safety", "--holder-id", "0312345678",
             "--holder-name", "Công ty TNHH Thực phẩm Sạch Bình Minh", "--valid-until", "2028-12-31"],
            env=env, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=30,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("permit issue was still deriving a key from the crafted file after 30 s")
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("Error: [key_file_excessive_iterations] ") and result.stderr.count("\n") == 1
    assert f"{iterations:,} PBKDF2 iterations" in result.stderr
    assert elapsed < 10


# --- re-protecting key files written before ------------------------------------------------------


def test_protect_upgrades_a_legacy_key_file_without_losing_it(city: City) -> None:
    home = city.home.path
    signer = city.signers[AGENCY]
    path = city.home.private_key_path(AGENCY, signer.kid)
    private = legacy(path)
    assert iterations_by_openssl(path) == [2048]
    others = {name: data for name, data in key_files(home).items() if name != path.name}

    env: dict[str, str | None] = {"PERMIT_HOME": str(home), "PERMIT_PASSPHRASE": PASSPHRASE.decode()}
    result = run("keys", "protect", "--json", env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    mine = [entry for entry in report["keys"] if entry["kid"] == signer.kid]
    assert mine == [{
        "owner": AGENCY, "kid": signer.kid, "file": str(path), "action": "reprotected",
        "before": {"scheme": "PBES2", "kdf": "PBKDF2", "prf": "hmacWithSHA256", "iterations": 2048, "salt_bytes": 16,
                   "cipher": "aes-256-cbc", "meets_standard": False},
        "after": {"scheme": "PBES2", "kdf": "PBKDF2", "prf": "hmacWithSHA256", "iterations": 600_000, "salt_bytes": 16,
                  "cipher": "aes-256-cbc", "meets_standard": True},
    }]
    assert (report["rewritten"], report["kept"]) == (1, len(others))
    assert all(entry["action"] == "kept" for entry in report["keys"] if entry["kid"] != signer.kid)

    # The same key, now at the standard, opened by cryptography and by OpenSSL; the others untouched.
    assert iterations_by_openssl(path) == [600_000]
    assert plain(serialization.load_pem_private_key(path.read_bytes(), PASSPHRASE)) == plain(private)  # type: ignore[arg-type]
    opened = subprocess.run(["openssl", "pkey", "-in", str(path), "-passin", "env:KEY_PASSPHRASE", "-outform", "DER"],
                            capture_output=True, env={**os.environ, "KEY_PASSPHRASE": PASSPHRASE.decode()}, check=True, timeout=60)
    assert opened.stdout == plain(private)
    assert {name: data for name, data in key_files(home).items() if name != path.name} == others
    assert sorted(p.name for p in (home / "private").iterdir()) == sorted([path.name, *others])  # no temporary file left
    assert os.stat(path).st_mode & 0o777 == 0o600

    # The agency signs with it as before; a second run has nothing to do.
    issued = run("issue", "--agency", AGENCY, "--type", "food-safety", "--holder-id", "0312345678", "--holder-name", "Công ty TNHH A",
                 "--valid-until", "2028-12-31", "--json", env=env)
    assert issued.exit_code == 0, issued.output
    assert json.loads(issued.stdout)["kid"] == signer.kid
    again = json.loads(run("keys", "protect", "--json", env=env).stdout)
    assert again["rewritten"] == 0 and {entry["action"] for entry in again["keys"]} == {"kept"}


def test_protect_with_a_wrong_passphrase_changes_no_key_file(city: City) -> None:
    home = city.home.path
    for agency, signer in city.signers.items():
        legacy(city.home.private_key_path(agency, signer.kid))
    before = key_files(home)
    env: dict[str, str | None] = {"PERMIT_HOME": str(home), "PERMIT_PASSPHRASE": "wrong horse battery staple"}
    assert_error(run("keys", "protect", env=env), "bad_passphrase")
    assert key_files(home) == before


def test_protect_changes_the_passphrase_and_the_old_one_no_longer_opens(city: City) -> None:
    home = city.home.path
    agency_path = city.home.private_key_path(AGENCY, city.signers[AGENCY].kid)
    private = legacy(agency_path)
    new = "mưa rào chiều thứ bảy ở Thủ Đức"
    env: dict[str, str | None] = {"PERMIT_HOME": str(home), "PERMIT_PASSPHRASE": PASSPHRASE.decode(), "PERMIT_NEW_PASSPHRASE": new}

    before = key_files(home)
    assert_error(run("keys", "protect", "--owner", AGENCY, "--new-passphrase", env={**env, "PERMIT_NEW_PASSPHRASE": "abcabcabcabc"}),
                 "weak_passphrase_repeated_pattern")
    assert key_files(home) == before

    report = json.loads(run("keys", "protect", "--owner", AGENCY, "--new-passphrase", "--json", env=env).stdout)
    assert [(entry["owner"], entry["action"], entry["after"]["iterations"]) for entry in report["keys"]] == [
        (AGENCY, "new_passphrase", 600_000)]
    assert plain(serialization.load_pem_private_key(agency_path.read_bytes(), new.encode())) == plain(private)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(agency_path.read_bytes(), PASSPHRASE)
    assert {name: data for name, data in key_files(home).items() if name != agency_path.name} == {
        name: data for name, data in before.items() if name != agency_path.name}

    # Run again (as after an interruption): the file already under the new passphrase is kept.
    again = json.loads(run("keys", "protect", "--owner", AGENCY, "--new-passphrase", "--json", env=env).stdout)
    assert [entry["action"] for entry in again["keys"]] == ["kept"]
    issued = run("issue", "--agency", AGENCY, "--type", "food-safety", "--holder-id", "0312345678", "--holder-name", "Công ty TNHH A",
                 "--valid-until", "2028-12-31", env={**env, "PERMIT_PASSPHRASE": new})
    assert issued.exit_code == 0, issued.output


def test_protect_asks_for_no_passphrase_when_every_file_meets_the_standard(city: City) -> None:
    env: dict[str, str | None] = {"PERMIT_HOME": str(city.home.path), "PERMIT_PASSPHRASE": None}
    before = key_files(city.home.path)
    result = run("keys", "protect", env=env)
    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(f"0 key file(s) rewritten, {len(before)} already met the standard.\n")
    assert key_files(city.home.path) == before


def test_protect_for_an_owner_without_keys_here_is_refused(city: City) -> None:
    env: dict[str, str | None] = {"PERMIT_HOME": str(city.home.path), "PERMIT_PASSPHRASE": PASSPHRASE.decode()}
    assert_error(run("keys", "protect", "--owner", "hcm-nope", env=env), "key_file_missing")
