"""A real browser: Debian's headless Chromium, driven by Selenium through Debian's chromedriver,
opens the URL read from a permit's QR code and reads the verdict on the page."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from conftest import DAY, City, Served, passphrase, start_server, verifier_home
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from permits import operator, qr
from permits.ledger import PermitRecord

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

# A phone's QR scanner looks for QR codes only; so does verifier/scan.py. Looking for every format,
# zxing now and then also finds a short 1D code in the QR's modules.
QR_ONLY = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)


def start_chromium(profile: Path, network_log: bool = False) -> webdriver.Chrome:
    """Headless Chromium as a small Android phone (360 CSS pixels wide); with `network_log`, its
    DevTools network events are kept for `driver.get_log("performance")`."""
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail("Debian's chromium and chromium-driver are required (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}",
                 # a name for 127.0.0.1 that is no secure context: there the page asks the API
                 "--host-resolver-rules=MAP verifier.test 127.0.0.1"):
        options.add_argument(flag)
    options.add_experimental_option("mobileEmulation", {
        "deviceMetrics": {"width": 360, "height": 760, "pixelRatio": 3.0},
        "userAgent": "Mozilla/5.0 (Linux; Android 13; SM-A145F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
    })
    if network_log:
        options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    driver = start_chromium(tmp_path / "profile")
    yield driver
    driver.quit()


def url_from_qr(served: Served, token: str, tmp_path: Path, name: str) -> str:
    """Write the permit's QR code as PNG, then read it back as a phone camera would."""
    png = tmp_path / f"{name}.png"
    qr.write_png(qr.permit_url(served.url, token), png)
    with Image.open(png) as image:
        [code] = zxingcpp.read_barcodes(image, formats=QR_ONLY)
    return str(code.text)


def verdict_on_page(browser: webdriver.Chrome, url: str) -> tuple[str, str]:
    """Open the page; wait for the verdict; return (data-status, the big state text)."""
    browser.get("about:blank")
    browser.get(url)
    result = browser.find_element(By.ID, "result")
    WebDriverWait(browser, 20).until(lambda _: result.get_attribute("data-status") not in (None, "", "checking"))
    return str(result.get_attribute("data-status")), browser.find_element(By.ID, "state-text").text


def test_the_qr_code_opens_a_page_that_says_plainly_valid_or_not(served: Served, browser: webdriver.Chrome, tmp_path: Path) -> None:
    now = int(time.time())
    city = served.city
    good = city.issue(at=now, number="BR-1")
    revoked = city.issue(at=now, number="BR-2", holder_name="Hộ kinh doanh Quán Bia Bốn Mùa")
    city.change(revoked, "revoked")
    city.publish_status("hcm-syt", at=now)
    header, payload, signature = good.token.split(".")
    forged = f"{header}.{payload[:-4]}{'AAAA' if payload[-4:] != 'AAAA' else 'BBBB'}.{signature}"

    valid_url = url_from_qr(served, good.token, tmp_path, "good")
    assert valid_url.startswith(f"{served.url}/v#")
    deadline = time.monotonic() + 15
    while True:  # the workers notice the list published a moment ago within a few seconds
        status, text = verdict_on_page(browser, url_from_qr(served, revoked.token, tmp_path, "revoked"))
        if status == "revoked" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert (status, text) == ("revoked", "ĐÃ BỊ THU HỒI")
    assert "Cơ quan cấp đã thu hồi giấy phép này." in browser.find_element(By.ID, "reasons").text

    assert verdict_on_page(browser, valid_url) == ("valid", "HỢP LỆ")
    page = browser.find_element(By.ID, "permit").text
    assert "Công ty TNHH Thực phẩm Sạch Bình Minh" in page
    assert "Sở Y tế" in page  # the registry's name for the issuer
    assert "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm" in page
    # Readable on a 360-pixel phone: nothing wider than the screen.
    assert browser.execute_script("return window.innerWidth") == 360
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 360
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "page-valid-vi.png"))

    browser.find_element(By.ID, "lang").click()
    assert browser.find_element(By.ID, "state-text").text == "VALID"
    assert "Department of Health" in browser.find_element(By.ID, "permit").text
    assert browser.find_element(By.ID, "lang").text == "Tiếng Việt"
    browser.save_screenshot(str(ARTIFACTS / "page-valid-en.png"))

    status, text = verdict_on_page(browser, url_from_qr(served, forged, tmp_path, "forged"))
    assert (status, text) == ("invalid", "NOT VALID")  # the language choice is remembered
    assert browser.find_element(By.ID, "permit").get_attribute("class") == "permit hidden"
    assert "forged" in browser.find_element(By.ID, "reasons").text
    browser.save_screenshot(str(ARTIFACTS / "page-forged-en.png"))


def test_the_paste_form_checks_a_url_for_people_without_a_camera(served: Served, browser: webdriver.Chrome) -> None:
    now = int(time.time())
    token = served.city.issue(at=now).token
    browser.get(f"{served.url}/v")
    field = browser.find_element(By.ID, "paste-input")
    field.send_keys(qr.permit_url(served.url, token))
    browser.find_element(By.CSS_SELECTOR, "#paste button").click()
    result = browser.find_element(By.ID, "result")
    WebDriverWait(browser, 20).until(lambda _: result.get_attribute("data-status") not in (None, "", "checking"))
    assert result.get_attribute("data-status") == "valid"


def test_script_in_a_token_is_shown_as_text_never_run(served: Served, browser: webdriver.Chrome) -> None:
    browser.get(f"{served.url}/v#<img src=x onerror=alert(1)>")
    result = browser.find_element(By.ID, "result")
    WebDriverWait(browser, 20).until(lambda _: result.get_attribute("data-status") not in (None, "", "checking"))
    assert result.get_attribute("data-status") == "invalid"
    assert browser.find_elements(By.CSS_SELECTOR, "#result img") == []
    assert browser.execute_script("return window.__xss === undefined")


def test_a_node_that_cannot_answer_says_try_again_not_that_the_code_is_unreadable(served: Served, browser: webdriver.Chrome,
                                                                                  tmp_path: Path) -> None:
    """A fleet's node that lost an agency's list answers 503 not_ready: the page, where it asks
    the API (a browser that cannot check itself), asks the citizen to try again in a moment (the
    permit may be fine)."""
    city = served.city
    token = city.issue(at=int(time.time())).token
    home = verifier_home(city.home.path, tmp_path / "node")
    (home / "status" / "hcm-sxd.jwt").unlink()
    url, process = start_server(home, tmp_path / "node.log", env={"PERMIT_REFUSE_WHEN_UNREADY": "true"})
    try:
        status, text = verdict_on_page(browser, f"{url.replace('127.0.0.1', 'verifier.test')}/v#{token}")
    finally:
        Served(city, url, tmp_path / "node.log", process).stop()
    assert status == "error"
    assert text == "Dịch vụ kiểm tra hiện chưa thể trả lời. Vui lòng thử lại sau giây lát."  # Vietnamese by default


# --- a permit resting on others: "Dựa trên / Based on" ---------------------------------------------

# An axe-like look at what the page shows: the language declared, every text at a contrast of 4.5:1
# or more against what is behind it (WCAG 2 AA, normal text), each basis's state said in words as
# well as by its colour, and the symbols beside those words hidden from screen readers.
ACCESSIBILITY_PROBLEMS = r"""
function luminance(rgb) {
  var c = rgb.match(/[\d.]+/g).slice(0, 3).map(function (v) {
    v = Number(v) / 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
function background(node) {
  for (; node && node.nodeType === 1; node = node.parentElement) {
    var bg = getComputedStyle(node).backgroundColor, alpha = bg.match(/[\d.]+/g);
    if (alpha && (alpha.length < 4 || Number(alpha[3]) === 1)) { return bg; }
  }
  return "rgb(255, 255, 255)";
}
var problems = [];
if (document.documentElement.lang !== arguments[0]) { problems.push("lang " + document.documentElement.lang); }
document.querySelectorAll("#result *").forEach(function (node) {
  var own = Array.prototype.some.call(node.childNodes, function (c) { return c.nodeType === 3 && c.textContent.trim(); });
  if (!own || node.offsetParent === null) { return; }
  var a = luminance(getComputedStyle(node).color), b = luminance(background(node));
  var ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  if (ratio < 4.5) { problems.push("contrast " + ratio.toFixed(2) + " of " + node.className + ": " + node.textContent); }
});
document.querySelectorAll(".basis").forEach(function (item) {
  var words = item.querySelector(".basis-state-text");
  if (!words || !words.textContent.trim()) { problems.push("basis " + item.dataset.id + " has no state in words"); }
  var mark = item.querySelector(".basis-mark");
  if (!mark || mark.getAttribute("aria-hidden") !== "true") { problems.push("basis " + item.dataset.id + " mark read aloud"); }
});
return problems;
"""


@pytest.fixture
def served_on_bases(city: City, tmp_path: Path) -> Iterator[tuple[Served, dict[str, PermitRecord]]]:
    """A real `permit serve` over a city whose registry says food-safety rests on
    business-registration and alcohol-retail on both, holding a business registration, a
    food-safety certificate on it and an alcohol retail licence on the two."""
    now = int(time.time())
    operator.set_requirements(city.home, "food-safety", ["business-registration"])
    operator.set_requirements(city.home, "alcohol-retail", ["business-registration", "food-safety"])
    city.trusted = operator.publish(city.home, passphrase, now, 30 * DAY)
    holder = {"holder_id": None, "holder_name": None, "holder_address": None}  # taken from the basis
    registration = city.issue("hcm-skhdt", "business-registration", at=now, number="0316543210", holder_id="0316543210",
                              holder_name="Công ty TNHH Nhà hàng Bến Nghé", activities=("Nhà hàng và dịch vụ ăn uống",),
                              holder_address="75 Hai Bà Trưng, Phường Sài Gòn, TP. Hồ Chí Minh")
    food = city.issue("hcm-syt", "food-safety", at=now, number="1302/2026/GCN-ATTP", basis=(registration.permit,), **holder)
    alcohol = city.issue("hcm-sct", "alcohol-retail", at=now, number="0458/2026/GP-SCT", activities=("Bán lẻ rượu, bia",),
                         basis=(registration.permit, food.permit), **holder)
    city.publish_all(at=now)
    log = tmp_path / "access.log"
    url, process = start_server(city.home.path, log)
    server = Served(city, url, log, process)
    try:
        yield server, {"registration": registration, "food": food, "alcohol": alcohol}
    finally:
        server.stop()


def screenshot_of_bases(browser: webdriver.Chrome, name: str) -> None:
    browser.execute_script("document.querySelector('#permit [data-field=basis]').scrollIntoView({block: 'center'})")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / name))


def bases_on_page(browser: webdriver.Chrome) -> list[tuple[str, str, str]]:
    """(data-state, class, text) of each basis the page lists, in order."""
    return [(str(item.get_attribute("data-state")), str(item.get_attribute("class")), item.text.replace("\n", " | "))
            for item in browser.find_elements(By.CSS_SELECTOR, "#permit .basis")]


def test_a_permit_on_two_bases_shows_each_and_turns_revoked_with_its_basis_in_both_languages(
        served_on_bases: tuple[Served, dict[str, PermitRecord]], browser: webdriver.Chrome, tmp_path: Path) -> None:
    served, permits = served_on_bases
    url = url_from_qr(served, permits["alcohol"].token, tmp_path, "alcohol")
    registration, food = permits["registration"].permit.id, permits["food"].permit.id  # named by the ids printed on them
    registration_vi = f"Giấy chứng nhận đăng ký doanh nghiệp | Mã giấy phép {registration} | Sở Kế hoạch và Đầu tư | ✔ còn hiệu lực"
    food_vi = f"Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm | Mã giấy phép {food} | Sở Y tế | ✔ còn hiệu lực"

    assert verdict_on_page(browser, url) == ("valid", "HỢP LỆ")
    permit = browser.find_element(By.ID, "permit").text
    assert "Dựa trên" in permit and "Công ty TNHH Nhà hàng Bến Nghé" in permit  # the holder, from the basis
    assert bases_on_page(browser) == [("valid", "basis ok", registration_vi), ("valid", "basis ok", food_vi)]
    assert browser.execute_script(ACCESSIBILITY_PROBLEMS, "vi") == []
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 360
    screenshot_of_bases(browser, "page-bases-valid-vi.png")

    browser.find_element(By.ID, "lang").click()
    assert browser.find_element(By.ID, "state-text").text == "VALID"
    assert "Based on" in browser.find_element(By.ID, "permit").text
    assert bases_on_page(browser) == [
        ("valid", "basis ok", f"Business registration certificate | Permit ID {registration} | Department of Planning and Investment | ✔ in force"),
        ("valid", "basis ok", f"Food safety certificate | Permit ID {food} | Department of Health | ✔ in force"),
    ]
    assert browser.execute_script(ACCESSIBILITY_PROBLEMS, "en") == []

    city = served.city
    city.change(permits["registration"], "revoked", "doanh nghiệp giải thể")
    city.publish_status("hcm-skhdt", at=int(time.time()))
    deadline = time.monotonic() + 15
    while True:  # the workers notice the list published a moment ago within a few seconds
        status, text = verdict_on_page(browser, url)
        if status == "revoked" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert (status, text) == ("revoked", "REVOKED")  # English, as chosen
    reasons = browser.find_elements(By.CSS_SELECTOR, "#reasons li")
    assert [(r.get_attribute("data-reason"), r.text) for r in reasons] == [
        ("basis_revoked", "A permit this one rests on has been revoked by the agency that issued it.")]
    assert bases_on_page(browser) == [
        ("revoked", "basis bad", f"Business registration certificate | Permit ID {registration} | Department of Planning and Investment | ✘ revoked"),
        ("valid", "basis ok", f"Food safety certificate | Permit ID {food} | Department of Health | ✔ in force"),
    ]
    assert browser.execute_script(ACCESSIBILITY_PROBLEMS, "en") == []
    screenshot_of_bases(browser, "page-bases-revoked-en.png")

    browser.find_element(By.ID, "lang").click()
    assert browser.find_element(By.ID, "state-text").text == "ĐÃ BỊ THU HỒI"
    assert browser.find_element(By.ID, "reasons").text == "Một giấy phép mà giấy phép này dựa trên đã bị cơ quan cấp thu hồi."
    assert bases_on_page(browser) == [
        ("revoked", "basis bad", f"Giấy chứng nhận đăng ký doanh nghiệp | Mã giấy phép {registration} | Sở Kế hoạch và Đầu tư | ✘ bị thu hồi"),
        ("valid", "basis ok", food_vi),
    ]
    assert browser.execute_script(ACCESSIBILITY_PROBLEMS, "vi") == []
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 360
    screenshot_of_bases(browser, "page-bases-revoked-vi.png")
