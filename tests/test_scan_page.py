"""Scanning inside the page (issue 17 point 6), in a real Chromium against a real `permit serve`.

Chromium's fake camera plays a video written here from real permits' QR codes (permits/qr.py): the
page reads each code with the camera, checks it as it checks a pasted link, and keeps a tally on
the phone. Chromium on Linux offers no BarcodeDetector, so these tests run the vendored decoder
(jsQR), which must be fetched only once the inspector presses Scan.
"""

from __future__ import annotations

import hashlib
import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import Served
from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from test_browser import ARTIFACTS, CHROMEDRIVER, CHROMIUM

from permits import qr
from verifier.web.app import CONTENT_SECURITY_POLICY

STATIC = Path(__file__).resolve().parent.parent / "verifier" / "web" / "static"
DECODER = STATIC / "vendor" / "jsqr" / "jsQR.js"
DECODER_PATH = "/static/vendor/jsqr/jsQR.js"
# jsQR 1.4.0's dist/jsQR.js exactly as the npm registry ships it (tarball integrity
# sha512-dxLob7q65Xg2DvstYkRpkYtmKm2sPJ9oFhrhmudT1dZvNFFTlroai3AWSpLey/w5vMcLBXRgOJsbXpdN9HzU/A==).
DECODER_SHA256 = "bc40c8a15196236b2314db0856f72ca0b49980cd5413b8c852a7349f5fee0859"
LICENCE_SHA256 = "c6596eb7be8581c18be736c846fb9173b69eccf6ef94c5135893ec56bd92ba08"

# The camera's picture: 480 × 360 at 5 frames a second, in the y4m format Chromium's fake camera plays.
WIDTH, HEIGHT, FPS = 480, 360, 5


def frame_of(url: str | None, tmp_path: Path) -> bytes:
    """One grey frame (the Y plane) with the QR code of `url` filling most of its height, or a blank one."""
    picture = Image.new("L", (WIDTH, HEIGHT), 235)
    if url is not None:
        png = tmp_path / "frame.png"
        qr.write_png(url, png)
        with Image.open(png) as image:
            code = image.convert("L").resize((320, 320), Image.Resampling.NEAREST)
        picture.paste(code, ((WIDTH - 320) // 2, (HEIGHT - 320) // 2))
    return picture.tobytes()


def write_video(path: Path, scenes: list[tuple[str | None, float]], tmp_path: Path) -> None:
    """A y4m video of `scenes`: (the URL whose QR code is shown, or None for nothing, seconds)."""
    chroma = bytes([128]) * (WIDTH * HEIGHT // 2)  # no colour: 4:2:0 planes at their middle value
    with path.open("wb") as video:
        video.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for url, seconds in scenes:
            frame = b"FRAME\n" + frame_of(url, tmp_path) + chroma
            for _ in range(round(seconds * FPS)):
                video.write(frame)


def chromium(tmp_path: Path, *flags: str) -> webdriver.Chrome:
    """Headless Chromium sized as a small Android phone, as in tests/test_browser.py."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", *flags):
        options.add_argument(flag)
    options.add_experimental_option("mobileEmulation", {
        "deviceMetrics": {"width": 360, "height": 760, "pixelRatio": 3.0},
        "userAgent": "Mozilla/5.0 (Linux; Android 13; SM-A145F) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36",
    })
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def api_status(served: Served, token: str) -> str:
    request = urllib.request.Request(f"{served.url}/api/v1/verify", data=json.dumps({"token": token}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(json.load(response)["status"])


def requested(browser: webdriver.Chrome) -> list[str]:
    """The paths of every request the page made so far, in order (Resource Timing), but the
    browser's own look for /favicon.ico, which comes whenever the browser gets to it."""
    return [path for path in browser.execute_script(
        "return performance.getEntriesByType('resource').map(function (e) { return new URL(e.name).pathname; })")
        if path != "/favicon.ico"]


def text(browser: webdriver.Chrome, element_id: str) -> str:
    return str(browser.find_element(By.ID, element_id).text)


def test_the_vendored_decoder_is_jsqr_1_4_0_as_published_with_its_licence() -> None:
    assert hashlib.sha256(DECODER.read_bytes()).hexdigest() == DECODER_SHA256
    licence = (DECODER.parent / "LICENSE").read_bytes()
    assert hashlib.sha256(licence).hexdigest() == LICENCE_SHA256
    assert b"Apache License" in licence and b"Version 2.0, January 2004" in licence


@pytest.fixture
def scanning_browser(tmp_path: Path) -> Iterator[tuple[webdriver.Chrome, Path]]:
    """Chromium whose camera plays the file the test writes at the returned path before scanning."""
    video = tmp_path / "camera.y4m"
    video.write_bytes(b"")
    browser = chromium(tmp_path, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                       f"--use-file-for-fake-video-capture={video}")
    try:
        yield browser, video
    finally:
        browser.quit()


def test_an_inspector_scans_a_valid_then_a_revoked_permit_and_the_phone_keeps_the_tally(
        served: Served, scanning_browser: tuple[webdriver.Chrome, Path], tmp_path: Path) -> None:
    browser, video = scanning_browser
    city = served.city
    now = int(time.time())
    good = city.issue(at=now, number="BR-1")
    revoked = city.issue(at=now, number="BR-2", holder_name="Hộ kinh doanh Quán Bia Bốn Mùa")
    city.change(revoked, "revoked")
    city.publish_status("hcm-syt", at=now)
    deadline = time.monotonic() + 15
    while api_status(served, revoked.token) != "revoked":  # the workers read the new list within seconds
        assert time.monotonic() < deadline, "the served verifier never read the published revocation"
        time.sleep(0.3)
    # Three seconds of each permit, then a long blank: the camera's file loops, and the test stops
    # scanning before the first permit comes round again.
    write_video(video, [(qr.permit_url(served.url, good.token), 3), (qr.permit_url(served.url, revoked.token), 3),
                        (None, 30)], tmp_path)

    browser.get(f"{served.url}/v")
    # Chromium 156 on Linux has no BarcodeDetector: the vendored decoder is what reads the codes here.
    assert browser.execute_script("return 'BarcodeDetector' in window") is False
    button = browser.find_element(By.ID, "scan-button")
    assert button.text == "Quét bằng camera"
    assert browser.find_element(By.ID, "tally").get_attribute("class") == "tally hidden"  # nothing counted yet
    assert DECODER_PATH not in requested(browser)  # not part of the page's first load
    before = len(requested(browser))
    # Every verdict the page shows, as it shows it.
    browser.execute_script("""
        window.__shown = [];
        new MutationObserver(function () {
          var status = document.getElementById('result').dataset.status;
          if (status && status !== 'checking') { window.__shown.push(status); }
        }).observe(document.getElementById('result'), { attributes: true, attributeFilter: ['data-status'] });
        window.__refused = [];
        document.addEventListener('securitypolicyviolation', function (e) { window.__refused.push(e.violatedDirective + ' ' + e.blockedURI); });""")

    button.click()
    WebDriverWait(browser, 40).until(lambda _: text(browser, "tally-checked") == "2")
    assert button.text == "Dừng quét"
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 360
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "page-scan-running-vi.png"))
    button.click()  # stop: the camera is released
    assert button.text == "Quét bằng camera"
    assert browser.execute_script("return document.getElementById('scan-video').srcObject") is None

    assert browser.execute_script("return window.__shown") == ["valid", "revoked"]
    # Camera, decoder and tally under the page's policy as it was: no inline script, no blob:, no media-src.
    assert browser.execute_script("return window.__refused") == []
    with urllib.request.urlopen(f"{served.url}/v", timeout=10) as response:
        assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert "unsafe-inline" not in CONTENT_SECURITY_POLICY and "blob:" not in CONTENT_SECURITY_POLICY
    assert browser.find_element(By.ID, "result").get_attribute("data-status") == "revoked"
    assert text(browser, "state-text") == "ĐÃ BỊ THU HỒI"
    assert (text(browser, "tally-checked"), text(browser, "tally-valid"), text(browser, "tally-invalid")) == ("2", "1", "1")
    recent = browser.find_elements(By.CSS_SELECTOR, "#tally-recent li")
    assert [(item.get_attribute("data-status"), item.text.split(" · ", 1)[1]) for item in recent] == [
        ("revoked", "BR-2 · ĐÃ BỊ THU HỒI"), ("valid", "BR-1 · HỢP LỆ")]
    for item in recent:  # the time of each check, in the city's time
        assert len(item.text.split(" · ")[0]) == len("09:14:03")

    # The decoder was fetched once, after Scan; since then the page asked nothing (but the home
    # screen's icon, which the browser fetches when it reads the manifest): each code was checked
    # on the phone, with the documents the page had fetched when it opened.
    after = [path for path in requested(browser)[before:] if not path.startswith("/icons/")]
    assert after == [DECODER_PATH]
    stored = json.loads(browser.execute_script("return localStorage.getItem('permit-scan-tally')"))
    assert (stored["checked"], stored["valid"], stored["invalid"]) == (2, 1, 1)
    assert [(entry["number"], entry["status"]) for entry in stored["recent"]] == [("BR-2", "revoked"), ("BR-1", "valid")]
    browser.execute_script("document.getElementById('tally').scrollIntoView({block: 'center'})")
    browser.save_screenshot(str(ARTIFACTS / "page-scan-tally-vi.png"))

    # Kept on the phone: the tally is there after a reload, in the language chosen.
    browser.get(f"{served.url}/v")
    browser.find_element(By.ID, "lang").click()
    assert text(browser, "scan-button") == "Scan with the camera"
    assert text(browser, "tally-checked") == "2"
    assert "Permits checked" in text(browser, "tally")
    assert [item.text.split(" · ", 1)[1] for item in browser.find_elements(By.CSS_SELECTOR, "#tally-recent li")] == [
        "BR-2 · REVOKED", "BR-1 · VALID"]
    browser.find_element(By.ID, "tally-clear").click()
    assert browser.find_element(By.ID, "tally").get_attribute("class") == "tally hidden"
    assert json.loads(browser.execute_script("return localStorage.getItem('permit-scan-tally')")) == {
        "checked": 0, "valid": 0, "invalid": 0, "recent": []}


REFUSED_VI = ("Trang này không được phép dùng camera. Hãy cho phép trang này dùng camera trong phần cài đặt của trình duyệt, "
              "hoặc dán đường dẫn từ mã QR vào ô dưới đây.")
ABSENT_VI = ("Trang này không dùng được camera nào. Hãy quét mã QR bằng ứng dụng camera của điện thoại, "
             "hoặc dán đường dẫn từ mã QR vào ô dưới đây.")


@pytest.mark.parametrize(("flags", "permission", "message"), [
    (("--use-fake-device-for-media-stream",), "denied", REFUSED_VI),  # the person said no, or the browser did
    ((), "granted", ABSENT_VI),  # allowed, but this machine has no camera
], ids=["refused", "absent"])
def test_without_a_camera_the_page_says_so_plainly_and_to_paste_the_link(
        served: Served, tmp_path: Path, flags: tuple[str, ...], permission: str, message: str) -> None:
    browser = chromium(tmp_path, *flags)
    try:
        browser.get(f"{served.url}/v")
        browser.execute_cdp_cmd("Browser.setPermission", {
            "origin": served.url, "permission": {"name": "camera"}, "setting": permission})
        browser.find_element(By.ID, "scan-button").click()
        notice = browser.find_element(By.ID, "scan-message")
        WebDriverWait(browser, 15).until(lambda _: notice.text not in ("", "Đang mở camera…"))
        assert notice.text == message
        assert notice.get_attribute("role") == "alert"
        assert browser.find_element(By.ID, "scan-video").get_attribute("class") == "scan-video hidden"
        assert DECODER_PATH not in requested(browser)  # nothing to decode: not fetched
        assert text(browser, "scan-button") == "Quét bằng camera"  # may be pressed again once allowed
        browser.find_element(By.ID, "lang").click()
        assert notice.text.endswith("or paste the link from the QR code below.")
    finally:
        browser.quit()
