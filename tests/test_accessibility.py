"""axe-core (tests/axe.py: pinned by version and integrity) checks the page in each of its states,
in both languages, in real Chromium as a 360-pixel phone: empty, a valid permit, a permit not
valid because of what it rests on (with whom to call), a forged one, the message for what is not
a QR code's code, and an error. None may have a serious or critical violation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import axe
import pytest
from conftest import City
from selenium import webdriver
from selenium.webdriver.common.by import By
from test_browser import start_chromium, verdict_on_page
from test_page_for_people import Shop, open_shop, submit, wait_for_answer

# Runs axe's default rules (WCAG 2.0-2.2 A and AA and best practices) on the whole document.
RUN_AXE = """
var done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ["violations", "passes"]}).then(function (result) {
  done({
    violations: result.violations.map(function (v) {
      return {id: v.id, impact: v.impact, nodes: v.nodes.map(function (n) { return n.target.join(" "); })};
    }),
    passes: result.passes.map(function (p) { return p.id; })
  });
}, function (error) { done({error: String(error)}); });
"""


def run_axe(driver: webdriver.Chrome) -> dict[str, Any]:
    """axe's violations and the rules that passed, on the page as it is now."""
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(axe.source())  # through DevTools: the page's CSP forbids none of it
        assert driver.execute_script("return axe.version") == axe.VERSION
    result: dict[str, Any] = driver.execute_async_script(RUN_AXE)
    assert "error" not in result, result
    return result


def serious(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in result["violations"] if v["impact"] in ("serious", "critical")]


@pytest.fixture
def shop(city: City, tmp_path: Path) -> Iterator[Shop]:
    opened = open_shop(city, tmp_path)
    try:
        yield opened
    finally:
        opened.served.stop()


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = start_chromium(tmp_path / "profile")
    driver.set_script_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def in_both_languages(driver: webdriver.Chrome, state: str, checked: dict[str, list[dict[str, Any]]]) -> None:
    """axe on the page now, then after the language button, then back: the button's own name
    (its visible text) is checked each time."""
    for _ in range(2):
        lang = driver.find_element(By.TAG_NAME, "html").get_attribute("lang")
        result = run_axe(driver)
        checked[f"{state} ({lang})"] = serious(result)
        # The button is named by its text alone (label-content-name-mismatch applies only to a name set
        # apart from the text: see the next test), and every text was measured for contrast.
        assert {"button-name", "color-contrast"} <= set(result["passes"]), state
        button = driver.find_element(By.ID, "lang")
        assert button.accessible_name == button.text == ("English" if lang == "vi" else "Tiếng Việt")
        assert button.get_dom_attribute("lang") == ("en" if lang == "vi" else "vi")
        button.click()


def test_every_state_of_the_page_has_no_serious_or_critical_violation_in_either_language(shop: Shop, phone: webdriver.Chrome) -> None:
    checked: dict[str, list[dict[str, Any]]] = {}
    phone.get(f"{shop.served.url}/v")
    in_both_languages(phone, "empty", checked)
    for label in ("valid", "basis_revoked", "forged", "suspended", "status_unknown"):
        verdict_on_page(phone, shop.url(label))
        in_both_languages(phone, label, checked)
    phone.get(f"{shop.served.url}/v")
    submit(phone, shop.permits["valid"].permit.id)  # the permit ID printed on the paper
    assert wait_for_answer(phone) == "not_a_code"
    in_both_languages(phone, "not a code", checked)
    submit(phone, "1" * 5000)  # digits, but far more than any permit: the verifier cannot read it
    assert wait_for_answer(phone) == "error"
    in_both_languages(phone, "error", checked)
    assert len(checked) == 16
    assert checked == {state: [] for state in checked}


def test_axe_finds_the_language_button_whose_name_did_not_match_its_text(shop: Shop, phone: webdriver.Chrome) -> None:
    """The button as it was before issue 17 (aria-label "Language / Ngôn ngữ", text "English"):
    the check above would have failed, with axe's serious label-content-name-mismatch."""
    phone.get(f"{shop.served.url}/v")
    phone.execute_script("document.getElementById('lang').setAttribute('aria-label', 'Language / Ngôn ngữ')")
    found = [(v["id"], v["impact"], v["nodes"]) for v in serious(run_axe(phone))]
    assert found == [("label-content-name-mismatch", "serious", ["#lang"])]
