"""What the page says, for people (issue 17 point 7), tried in a real browser as a shop owner
would: what is not a QR code's code gets a plain message and no verdict, each verdict says what to
do next and whom to call (the registry's contact), the validity row is labelled neutrally and
every date is dd/mm/yyyy in Ho Chi Minh City, the icon is served, and a browser without
JavaScript is told what to do instead. Debian's headless Chromium over a real `permit serve`."""

from __future__ import annotations

import io
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from conftest import DAY, City, Served, passphrase, start_server
from PIL import Image
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from test_browser import ARTIFACTS, start_chromium, verdict_on_page

from permits import issuing, layout, operator, qr
from permits.issuing import CITY_TZ, Amendment, city_date
from permits.ledger import PermitRecord

# Whom to call at each department, as the operator set it: both, a phone only, none at all.
CONTACTS = {
    "hcm-syt": ("028 3930 9912", "https://medinet.hochiminhcity.gov.vn"),
    "hcm-skhdt": ("028 3829 7336", None),
}


@dataclass
class Shop:
    """A real `permit serve` over a city holding a permit in every state a verdict can have."""

    served: Served
    permits: dict[str, PermitRecord]
    forged: str

    def url(self, label: str) -> str:
        token = self.forged if label == "forged" else self.permits[label].token
        return qr.permit_url(self.served.url, token)


def open_shop(city: City, tmp_path: Path) -> Shop:
    """Build the city on the real clock and start its verifier. An alcohol retail licence rests
    on a business registration here; hcm-sxd's status list is missing, so its permits cannot be
    checked now. The caller stops the server."""
    now = int(time.time())
    today = city_date(now)
    for agency, (phone, web) in CONTACTS.items():
        operator.set_contact(city.home, agency, phone, web)
    operator.set_requirements(city.home, "alcohol-retail", ["business-registration"])
    city.trusted = operator.publish(city.home, passphrase, now, 30 * DAY)
    permits: dict[str, PermitRecord] = {}
    permits["valid"] = city.issue(at=now, number="1287/2026/GCN-ATTP")
    permits["revoked"] = city.change(city.issue(at=now, number="0877/2026/GCN-ATTP"), "revoked")
    # Suspended by the Department of Industry and Trade, which gave the registry no contact.
    permits["suspended"] = city.change(city.issue("hcm-sct", at=now, number="0412/2026/GCN-ATTP"), "suspended")
    old = city.issue(at=now, number="0999/2026/GCN-ATTP")
    with city.home.ledger("hcm-syt") as ledger:
        issuing.amend(ledger, city.registry, city.signers["hcm-syt"], old.permit.id,
                      Amendment(holder_address="9 Tôn Thất Thiệp, Phường Sài Gòn, TP. Hồ Chí Minh"), "test.officer", now)
    permits["superseded"] = old
    long_ago = now - 100 * DAY
    permits["expired"] = city.issue(at=long_ago, number="0101/2026/GCN-ATTP", valid_from=city_date(long_ago),
                                    valid_until=city_date(long_ago) + timedelta(days=30))
    permits["not_yet_valid"] = city.issue(at=now, number="0202/2026/GCN-ATTP", valid_from=today + timedelta(days=10))
    permits["status_unknown"] = city.issue("hcm-sxd", "construction", at=now, number="412/GPXD-SXD")
    registration = city.issue("hcm-skhdt", "business-registration", at=now, number="0316543210", holder_id="0316543210",
                              holder_name="Công ty TNHH Nhà hàng Bến Nghé")
    permits["basis_revoked"] = city.issue("hcm-sct", "alcohol-retail", at=now, number="0458/2026/GP-SCT", holder_id=None,
                                          holder_name=None, holder_address=None, basis=(registration.permit,))
    city.change(registration, "revoked", "doanh nghiệp giải thể")
    permits["registration"] = registration
    city.publish_all(at=now)
    (city.home.path / layout.status_list("hcm-sxd")).unlink()
    header, payload, signature = permits["valid"].token.split(".")
    forged = f"{header}.{payload[:-4]}{'AAAA' if payload[-4:] != 'AAAA' else 'BBBB'}.{signature}"
    log = tmp_path / "access.log"
    url, process = start_server(city.home.path, log)
    return Shop(Served(city, url, log, process), permits, forged)


@pytest.fixture
def shop(city: City, tmp_path: Path) -> Iterator[Shop]:
    opened = open_shop(city, tmp_path)
    try:
        yield opened
    finally:
        opened.served.stop()


@pytest.fixture
def phone(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Chromium as a phone, its network requests logged (DevTools), on a clock in Los Angeles:
    a date written in the phone's own zone would be a day early."""
    driver = start_chromium(tmp_path / "profile", network_log=True)
    driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": "America/Los_Angeles"})
    try:
        yield driver
    finally:
        driver.quit()


def requests_made(driver: webdriver.Chrome) -> list[tuple[str, str]]:
    """(method, URL) of each request the page sent since the last call (DevTools' network log)."""
    sent = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            request = message["params"]["request"]
            sent.append((request["method"], request["url"]))
    return sent


def page_loaded(driver: webdriver.Chrome, url: str) -> None:
    """Open `url` and wait until the browser has also fetched the icon, which it asks for after
    the page has loaded; forget those requests."""
    driver.get(url)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(sent.endswith("/favicon.ico") for _, sent in requests_made(driver)):
            return
        time.sleep(0.1)
    raise AssertionError("the browser did not ask for the icon")


def fits_a_phone(driver: webdriver.Chrome) -> None:
    assert driver.execute_script("return window.innerWidth") == 360
    assert driver.execute_script("return document.documentElement.scrollWidth") <= 360


def submit(driver: webdriver.Chrome, text: str) -> None:
    field = driver.find_element(By.ID, "paste-input")
    field.clear()
    # Typed as a person pastes it, line breaks included (send_keys would press Enter on "\n").
    driver.execute_script("arguments[0].value = arguments[1]", field, text)
    driver.find_element(By.CSS_SELECTOR, "#paste button").click()


def wait_for_answer(driver: webdriver.Chrome) -> str:
    result = driver.find_element(By.ID, "result")
    WebDriverWait(driver, 20).until(lambda _: result.get_attribute("data-status") not in (None, "", "checking"))
    return str(result.get_attribute("data-status"))


def click_language(driver: webdriver.Chrome) -> None:
    driver.find_element(By.ID, "lang").click()


# --- 1. what is not the QR code's code gets a message, never a verdict ------------------------------

NOT_A_CODE = {
    "vi": "Đây không phải là mã trong mã QR của giấy phép. Không thể kiểm tra ở đây bằng mã giấy phép hay số giấy phép "
          "in trên giấy: hãy quét mã QR bằng camera điện thoại, hoặc dán toàn bộ đường dẫn mà mã QR mở ra.",
    "en": "This is not the code from the permit's QR code. The permit ID and the permit number printed on the paper "
          "cannot be checked here: scan the QR code with your phone camera, or paste the whole link the QR code opens.",
}


def test_the_printed_permit_id_or_number_gets_a_plain_message_and_no_request_and_a_broken_link_is_joined(
        shop: Shop, phone: webdriver.Chrome) -> None:
    valid = shop.permits["valid"]
    page_loaded(phone, f"{shop.served.url}/v")
    printed = [
        valid.permit.id,  # the Mã giấy phép printed on the paper, 8 characters
        f" {valid.permit.id[:4]} {valid.permit.id[4:]}\n",  # typed with a space, as it is read out
        valid.permit.number,  # 1287/2026/GCN-ATTP
        valid.permit.holder_id,  # the registration code, 10 digits
        "22.11.2026",  # a date: three dot-separated parts, but no token
        "https://xacminh.example/v",  # the verification address without the code
        "Giấy phép của quán cà phê",
    ]
    for text in printed:
        submit(phone, text)
        result = phone.find_element(By.ID, "result")
        assert (result.get_attribute("data-status"), result.get_attribute("class")) == ("not_a_code", "result message note"), text
        assert phone.find_element(By.ID, "state-text").text == NOT_A_CODE["vi"]
        assert phone.find_element(By.ID, "mark").text == ""  # no ✘: nothing was checked
        assert phone.find_elements(By.CSS_SELECTOR, "#reasons li") == []
        assert not phone.find_element(By.ID, "next").is_displayed() and not phone.find_element(By.ID, "permit").is_displayed()
    assert requests_made(phone) == []  # the page decided by itself, asking nobody
    fits_a_phone(phone)
    ARTIFACTS.mkdir(exist_ok=True)
    phone.save_screenshot(str(ARTIFACTS / "page-not-a-code-vi.png"))
    click_language(phone)
    assert phone.find_element(By.ID, "state-text").text == NOT_A_CODE["en"]
    fits_a_phone(phone)

    # Mail and chat programs break long codes across lines: joined, then checked.
    link = qr.permit_url(shop.served.url, valid.token)
    digits = link.split("#", 1)[1]
    broken = {
        "a link broken across lines": "\n".join(link[i:i + 70] for i in range(0, len(link), 70)),
        "the digits broken by spaces and line breaks": "\r\n".join(" ".join(digits[j:j + 10] for j in range(i, min(i + 60, len(digits)), 10))
                                                                  for i in range(0, len(digits), 60)),
        "the token broken with a soft hyphen": valid.token[:50] + "\u00ad\n" + valid.token[50:],
    }
    for case, text in broken.items():
        submit(phone, text)
        assert (wait_for_answer(phone), phone.find_element(By.ID, "state-text").text) == ("valid", "VALID"), case
    posts = [url for method, url in requests_made(phone) if method == "POST"]
    assert posts == []  # each checked on the phone (static/local.js): nothing was sent


def test_the_api_still_answers_a_printed_permit_id_with_its_verdict(shop: Shop) -> None:
    """Agencies' systems keep the API as it was: the page decides what is not a code, not the API."""
    request = urllib.request.Request(f"{shop.served.url}/api/v1/verify", data=json.dumps({"token": shop.permits["valid"].permit.id}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        verdict = json.load(response)
    assert (response.status, verdict["status"], verdict["reasons"]) == (200, "invalid", ["malformed_token"])


# --- 2. each verdict says what to do next, and whom to call ---------------------------------------------


def next_step_on_page(driver: webdriver.Chrome) -> tuple[str, list[tuple[str, str, list[str]]]]:
    """The next step's sentence, and each department to call: (agency, text, link targets)."""
    sentence = driver.find_element(By.ID, "next-step").text
    contacts = [(str(item.get_attribute("data-agency")), item.text.replace("\n", " | "),
                 [str(a.get_attribute("href")) for a in item.find_elements(By.TAG_NAME, "a")])
                for item in driver.find_elements(By.CSS_SELECTOR, "#contacts li")]
    return sentence, contacts


HEALTH_VI = ("hcm-syt", "Sở Y tế | Điện thoại: 028 3930 9912 | Trang web: https://medinet.hochiminhcity.gov.vn",
             ["tel:02839309912", "https://medinet.hochiminhcity.gov.vn/"])
HEALTH_EN = ("hcm-syt", "Department of Health | Phone: 028 3930 9912 | Website: https://medinet.hochiminhcity.gov.vn",
             ["tel:02839309912", "https://medinet.hochiminhcity.gov.vn/"])


def next_steps(shop: Shop) -> dict[str, tuple[str, dict[str, tuple[str, list[tuple[str, str, list[str]]]]]]]:
    """For each permit: its status, and per language the next step and the departments to call."""
    expired_on = shop.permits["expired"].permit.valid_until - 1
    starts_on = shop.permits["not_yet_valid"].permit.valid_from
    day = lambda t: city_date(t).strftime("%d/%m/%Y")  # noqa: E731
    return {
        "valid": ("valid", {
            "vi": ("Có thể chấp nhận giấy phép này. Hãy đối chiếu tên, số giấy phép và địa chỉ ở trên với bản giấy.", []),
            "en": ("You can accept this permit. Check that the name, number and address above are those on the paper.", [])}),
        "forged": ("invalid", {
            "vi": ("Không chấp nhận: đây không phải là giấy phép thật. Giấy phép có thể đã bị làm giả hoặc bị sửa đổi.", []),
            "en": ("Do not accept it: this is not a genuine permit. It may have been forged or altered.", [])}),
        "revoked": ("revoked", {
            "vi": ("Không chấp nhận: sở đã cấp giấy phép này đã thu hồi giấy phép. Để hỏi lý do, hoặc nếu đây là giấy phép của "
                   "bạn, hãy liên hệ sở:", [HEALTH_VI]),
            "en": ("Do not accept it: the department that issued it has withdrawn it. To ask why, or if it is your permit, "
                   "contact the department:", [HEALTH_EN])}),
        "suspended": ("suspended", {  # its department gave the registry no contact: its name only
            "vi": ("Tạm thời không chấp nhận: sở đã cấp giấy phép này đang đình chỉ giấy phép. Để hỏi lý do, hoặc nếu đây là "
                   "giấy phép của bạn, hãy liên hệ sở:", [("hcm-sct", "Sở Công Thương", [])]),
            "en": ("Do not accept it for now: the department that issued it has suspended it. To ask why, or if it is your "
                   "permit, contact the department:", [("hcm-sct", "Department of Industry and Trade", [])])}),
        "basis_revoked": ("revoked", {  # whom to call: the department that revoked the registration
            "vi": ("Không chấp nhận: một giấy phép mà giấy phép này dựa trên đã bị thu hồi, nên giấy phép này không còn hiệu "
                   "lực. Để hỏi lý do, hoặc nếu đây là giấy phép của bạn, hãy liên hệ sở đã thu hồi giấy phép đó:",
                   [("hcm-skhdt", "Sở Kế hoạch và Đầu tư | Điện thoại: 028 3829 7336", ["tel:02838297336"])]),
            "en": ("Do not accept it: a permit it rests on has been withdrawn, so it is no longer in force. To ask why, or if "
                   "it is your permit, contact the department that withdrew that permit:",
                   [("hcm-skhdt", "Department of Planning and Investment | Phone: 028 3829 7336", ["tel:02838297336"])])}),
        "superseded": ("superseded", {
            "vi": ("Không chấp nhận bản này: sở đã cấp một phiên bản mới hơn của giấy phép. Hãy đề nghị người được cấp phép "
                   "xuất trình phiên bản hiện hành và quét mã QR trên đó.", []),
            "en": ("Do not accept this copy: the department has issued a newer version of this permit. Ask the holder for "
                   "the current version and scan its QR code.", [])}),
        "expired": ("expired", {
            "vi": (f"Không chấp nhận: thời hạn hiệu lực của giấy phép đã kết thúc vào ngày {day(expired_on)}. Giấy phép không "
                   "còn cho phép hoạt động; người được cấp phép cần được sở cấp giấy phép mới.", []),
            "en": (f"Do not accept it: its validity period ended on {day(expired_on)}. It no longer allows the activity; the "
                   "holder needs a new permit from the department.", [])}),
        "not_yet_valid": ("not_yet_valid", {
            "vi": (f"Chưa chấp nhận: giấy phép có hiệu lực từ ngày {day(starts_on)}. Trước ngày đó, giấy phép chưa cho phép "
                   "hoạt động.", []),
            "en": (f"Do not accept it yet: it comes into force on {day(starts_on)}. Until then it does not allow the "
                   "activity.", [])}),
        "status_unknown": ("status_unknown", {
            "vi": ("Hãy thử lại sau. Lúc này dịch vụ kiểm tra chưa có danh sách mới nhất các giấy phép bị thu hồi, bị đình "
                   "chỉ (hoặc danh sách các sở được tin cậy), nên chưa thể biết giấy phép này còn hiệu lực hay không. Điều "
                   "này không có nghĩa là giấy phép bị làm giả.", []),
            "en": ("Try again later. The checking service does not have the latest list of withdrawn and suspended permits "
                   "(or of trusted departments) at the moment, so it cannot tell whether this permit is still in force. This "
                   "does not mean that the permit is fake.", [])}),
    }


def test_each_verdict_says_what_to_do_next_and_which_department_to_call_in_both_languages(shop: Shop, phone: webdriver.Chrome) -> None:
    for label, (status, said) in next_steps(shop).items():
        assert verdict_on_page(phone, shop.url(label))[0] == status, label
        if phone.find_element(By.TAG_NAME, "html").get_attribute("lang") == "en":
            click_language(phone)  # the language chosen is remembered: each permit read first in Vietnamese
        assert next_step_on_page(phone) == said["vi"], label
        fits_a_phone(phone)
        click_language(phone)
        assert next_step_on_page(phone) == said["en"], label
        fits_a_phone(phone)
    assert [reason.get_attribute("data-reason") for reason in phone.find_elements(By.CSS_SELECTOR, "#reasons li")] == ["status_unavailable"]
    verdict_on_page(phone, shop.url("basis_revoked"))
    phone.execute_script("document.getElementById('next').scrollIntoView()")
    phone.save_screenshot(str(ARTIFACTS / "page-next-step-basis-revoked-en.png"))


# --- 3. the validity row and the dates ------------------------------------------------------------


def row(driver: webdriver.Chrome, field: str) -> tuple[str, str]:
    """(label, value) of one row of the permit."""
    value = driver.find_element(By.CSS_SELECTOR, f"#permit dd[data-field={field}]")
    label = driver.execute_script("return arguments[0].previousElementSibling.textContent", value)
    return str(label), value.text


def test_a_revoked_permit_shows_its_validity_period_not_valid_and_every_date_as_on_the_paper(shop: Shop, phone: webdriver.Chrome) -> None:
    permit = shop.permits["revoked"].permit
    first, last = city_date(permit.valid_from).strftime("%d/%m/%Y"), city_date(permit.valid_until - 1).strftime("%d/%m/%Y")
    before = datetime.now(CITY_TZ)
    assert verdict_on_page(phone, shop.url("revoked")) == ("revoked", "ĐÃ BỊ THU HỒI")
    after = datetime.now(CITY_TZ)
    assert row(phone, "validity") == ("Thời hạn hiệu lực", f"từ ngày {first} đến hết ngày {last}")
    checked_vi = phone.find_element(By.ID, "checked").text
    click_language(phone)
    assert phone.find_element(By.ID, "state-text").text == "REVOKED"
    assert row(phone, "validity") == ("Validity period", f"from {first} to {last}, both days included")
    checked_en = phone.find_element(By.ID, "checked").text
    version = shop.served.city.registry.version
    # The time of the check, in Ho Chi Minh City: dd/mm/yyyy hh:mm:ss.
    moment = r"(\d\d/\d\d/\d{4}) \d\d:\d\d:\d\d"
    found_vi = re.fullmatch(rf"Kiểm tra lúc {moment} · theo danh sách cơ quan phiên bản {version}", checked_vi)
    found_en = re.fullmatch(rf"Checked at {moment} · against trusted-agency list version {version}", checked_en)
    assert found_vi and found_en, (checked_vi, checked_en)
    assert found_vi.group(1) == found_en.group(1) in {before.strftime("%d/%m/%Y"), after.strftime("%d/%m/%Y")}
    # A valid permit: the same label and form.
    verdict_on_page(phone, shop.url("valid"))
    valid = shop.permits["valid"].permit
    assert row(phone, "validity") == ("Validity period", f"from {city_date(valid.valid_from):%d/%m/%Y} to {city_date(valid.valid_until - 1):%d/%m/%Y}, both days included")


# --- 5. the icon, and a browser without JavaScript ----------------------------------------------------


def test_the_icon_is_served_and_a_visit_asks_for_nothing_that_is_missing(shop: Shop, phone: webdriver.Chrome) -> None:
    with urllib.request.urlopen(f"{shop.served.url}/favicon.ico", timeout=10) as response:
        body = response.read()
        assert (response.status, response.headers["Content-Type"]) == (200, "image/vnd.microsoft.icon")
        assert response.headers["Cache-Control"] == "public, max-age=86400"
    with Image.open(io.BytesIO(body)) as icon:
        assert icon.format == "ICO" and icon.info["sizes"] == {(16, 16), (32, 32), (48, 48)}
    assert len(body) < 5_000
    requests_made(phone)
    verdict_on_page(phone, shop.url("valid"))
    answers = {}
    deadline = time.monotonic() + 10
    while "/favicon.ico" not in answers and time.monotonic() < deadline:  # the icon is fetched after the page has loaded
        for entry in phone.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.responseReceived":
                response_url = message["params"]["response"]["url"]
                answers[response_url.removeprefix(shop.served.url).split("#")[0]] = message["params"]["response"]["status"]
        time.sleep(0.1)
    # The page, its files, the documents it checks with (every agency's list), its manifest and
    # icon; the home screen's icon too when the browser has read the manifest by then. The one
    # answer that is not 200 is the API's own: this verifier holds no list of hcm-sxd (above).
    documents = ["/api/v1/registry", *(f"/api/v1/status/{agency}" for agency in shop.served.city.registry.agencies)]
    expected = dict.fromkeys(["/v", "/static/page.css", "/static/verify.js", "/static/scan.css", "/static/scan.js", "/local.js",
                              *documents, "/app.webmanifest", "/favicon.ico"], 200)
    expected["/api/v1/status/hcm-sxd"] = 404
    assert {path: status for path, status in answers.items() if not path.startswith("/icons/")} == expected
    assert {status for path, status in answers.items() if path.startswith("/icons/")} <= {200}


NOSCRIPT = [
    "Trang này kiểm tra giấy phép bằng JavaScript, nhưng trình duyệt này không chạy JavaScript. Hãy quét mã QR bằng camera "
    "điện thoại và mở đường dẫn bằng trình duyệt thường dùng của điện thoại, hoặc hỏi sở đã cấp giấy phép (tên sở được in "
    "trên giấy phép).",
    "This page checks permits with JavaScript, which this browser does not run. Scan the QR code with a phone camera and "
    "open the link in the phone's usual browser, or ask the department that issued the permit (its name is printed on it).",
    "Cán bộ các cơ quan có thể kiểm tra giấy phép mà không cần mạng bằng lệnh permit verify. "
    "Agencies' staff can check a permit offline with the command permit verify.",
]


def test_without_javascript_the_page_says_what_to_do_instead_and_shows_no_box_that_does_nothing(
        shop: Shop, tmp_path: Path) -> None:
    driver = start_chromium(tmp_path / "no-script")
    try:
        driver.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
        driver.get(shop.url("valid"))
        notice = driver.find_element(By.ID, "noscript")
        assert notice.is_displayed()
        assert [p.text for p in notice.find_elements(By.TAG_NAME, "p")] == NOSCRIPT
        assert [p.get_dom_attribute("lang") for p in notice.find_elements(By.TAG_NAME, "p")] == [None, "en", None]
        assert not driver.find_element(By.ID, "checker").is_displayed()  # the box, which could check nothing
        assert not driver.find_element(By.ID, "lang").is_displayed()  # and the button, which could switch nothing
        assert not driver.find_element(By.ID, "result").is_displayed()
        fits_a_phone(driver)
        driver.save_screenshot(str(ARTIFACTS / "page-no-javascript.png"))
    finally:
        driver.quit()

