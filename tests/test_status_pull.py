"""`permit status pull`: an agency's home fetches the other agencies' status lists, so that an
officer can check another department's permit (a basis) offline.

Each list is verified against the registry before it is kept; one already held (or a newer one)
is left alone; a list that cannot be had is one line with its reason and exit status 2. Without
the lists a basis cannot be confirmed in force (`basis_status_unknown`, with the command to run);
after a pull the same basis is accepted.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from conftest import NOW, PASSPHRASE, City, passphrase

import cli as cli_module
from cli import cli
from permits import operator

OTHERS = ["hcm-sct", "hcm-skhdt", "hcm-sxd"]


@pytest.fixture(autouse=True)
def _pinned_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_module, "now", lambda: NOW)


def permit(home: Path, *args: str | Path) -> Result:
    env = {"PERMIT_HOME": str(home), "PERMIT_PASSPHRASE": PASSPHRASE.decode()}
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


@pytest.fixture
def origin_and_health(city: City, tmp_path: Path) -> tuple[Path, Path]:
    """An origin holding every agency's current list, and the Department of Health's own home:
    the city's registry, its own ledger and list, and no list of any other agency."""
    city.publish_all()
    origin = tmp_path / "origin"
    assert permit(city.home.path, "origin", "sync", origin).exit_code == 0
    health = tmp_path / "syt"
    shutil.copytree(city.home.path, health)
    for agency in OTHERS:
        (health / "status" / f"{agency}.jwt").unlink()
        (health / "ledgers" / f"{agency}.db").unlink(missing_ok=True)
    return origin, health


def test_a_pull_installs_every_other_agency_s_list_once(origin_and_health: tuple[Path, Path]) -> None:
    origin, health = origin_and_health
    first = permit(health, "status", "pull", "--origin", origin, "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == dict.fromkeys(OTHERS, "installed")
    for agency in OTHERS:
        assert (health / "status" / f"{agency}.jwt").read_bytes() == (origin / "status" / f"{agency}.jwt").read_bytes()
    again = permit(health, "status", "pull", "--origin", origin)
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == [f"Status list of {agency}: already current." for agency in OTHERS]


def test_a_list_that_cannot_be_had_is_one_line_and_exit_2(origin_and_health: tuple[Path, Path]) -> None:
    origin, health = origin_and_health
    (origin / "status" / "hcm-sxd.jwt").unlink()
    (origin / "status" / "hcm-sct.jwt").write_text("not a status list\n")
    result = permit(health, "status", "pull", "--origin", origin)
    assert result.exit_code == 2
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Status list of hcm-sct: not fetched: [malformed_token] ")
    assert lines[1] == "Status list of hcm-skhdt: updated."
    assert lines[2].startswith("Status list of hcm-sxd: not fetched: [fetch_failed] no status list of hcm-sxd in ")
    assert not (health / "status" / "hcm-sct.jwt").exists()


def test_a_basis_is_refused_until_its_agency_s_list_is_pulled(city: City, tmp_path: Path) -> None:
    operator.set_requirements(city.home, "food-safety", ("business-registration",))
    operator.publish(city.home, passphrase, NOW - 60, 30 * 86_400)
    city.trusted = city.home.trusted_registry(NOW)
    registration = city.issue("hcm-skhdt", "business-registration", number="0312345678")
    city.publish_all()
    origin = tmp_path / "origin"
    assert permit(city.home.path, "origin", "sync", origin).exit_code == 0
    health = tmp_path / "syt"
    shutil.copytree(city.home.path, health)
    (health / "status" / "hcm-skhdt.jwt").unlink()
    (health / "ledgers" / "hcm-skhdt.db").unlink()

    issue = ["issue", "--agency", "hcm-syt", "--type", "food-safety", "--basis", registration.token, "--valid-until", "2028-12-31"]
    refused = permit(health, *issue)
    assert refused.exit_code == 2
    assert refused.stderr.startswith(f"Error: [basis_status_unknown] the basis (permit {registration.permit.id}) is refused: "
                                     "[status_unavailable] ")
    assert refused.stderr.rstrip().endswith("Fetch the agencies' current status lists with `permit status pull`.")

    assert permit(health, "status", "pull", "--origin", origin, "--agency", "hcm-skhdt").exit_code == 0
    accepted = permit(health, *issue, "--json")
    assert accepted.exit_code == 0, accepted.output
    assert json.loads(accepted.stdout)["basis"] == [{"agency": "hcm-skhdt", "id": registration.permit.id, "type": "business-registration",
                                                      "status_index": registration.permit.status_index}]
