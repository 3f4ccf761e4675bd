"""`permit print`: the A4 document an officer prints or sends, as HTML and as PDF.

Everything is checked on the real output: the HTML is opened in Debian's headless Chromium
(Selenium) and the QR code is read back from a screenshot; the PDF is made by the command
itself and read back with poppler (pdftoppm, pdftotext, pdffonts, pdfinfo).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterator
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import DAY, NOW, City, passphrase
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

import cli as cli_module
from cli import cli
from permits import demo, operator, pdf, printing, qr
from verifier.basis import basis_reader
from verifier.scan import read_qr

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
BASE_URL = "https://xacminh.hochiminhcity.gov.vn"
HOLDER = "Công ty TNHH Thực phẩm Sạch Bình Minh"  # the fixtures' holder
MM = 96 / 25.4  # CSS pixels per millimetre
POPPLER = ("pdftoppm", "pdftotext", "pdffonts", "pdfinfo")


@pytest.fixture
def home(env_home: City, monkeypatch: pytest.MonkeyPatch) -> City:
    """The city home on the fixtures' clock, its QR codes pointing at the city's verifier."""
    monkeypatch.setattr(cli_module, "now", lambda: NOW)
    env_home.home.set_config(base_url=BASE_URL)
    return env_home


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    """Where the documents go, apart from the home, so that a test sees every file written."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def permit(*args: str | Path, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def one_line_error(result: Result, reason: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"Error: [{reason}] "), result.output


def poppler(tool: str, *args: str | Path) -> str:
    if shutil.which(tool) is None:
        pytest.fail(f"{tool} is required: apt-get install poppler-utils")
    return subprocess.run([tool, *map(str, args)], check=True, capture_output=True, text=True, timeout=60).stdout


@pytest.fixture
def desktop(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    """Headless Chromium showing the page at 3 device pixels per CSS pixel, so that a
    screenshot resolves the QR code's 0.65 mm modules (about 7 pixels each)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Debian's chromium and chromium-driver are required (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    # The A4 sheet (210 × 297 mm) and its screen margins fit in the viewport.
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 840, "height": 1220, "deviceScaleFactor": 3, "mobile": False})
    yield driver
    driver.quit()


def write_html(city: City, tmp_path: Path, **overrides: Any) -> tuple[Any, Path]:
    record = city.issue(**overrides)
    out = tmp_path / "permit.html"
    result = permit("print", record.permit.id, "--out", out)
    assert result.exit_code == 0, result.output
    return record, out


# --- the HTML, in a real browser ------------------------------------------------------------------


def test_the_qr_code_on_the_printed_page_opens_the_permit_and_it_verifies(home: City, desktop: webdriver.Chrome, tmp_path: Path) -> None:
    record, out = write_html(home, tmp_path)
    url = qr.permit_url(BASE_URL, record.token)
    desktop.get(out.as_uri())
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "printed-permit.png"
    desktop.save_screenshot(str(shot))
    assert read_qr(shot) == url
    # Nothing was loaded besides the file itself.
    assert desktop.execute_script("return performance.getEntriesByType('resource').length") == 0
    home.publish_status("hcm-syt")
    verdict = permit("verify", url, "--json")
    assert verdict.exit_code == 0, verdict.output
    assert json.loads(verdict.output)["status"] == "valid"


# For each distinct non-ASCII letter in the visible text, in the font of the element it is in:
# its drawing must be a real glyph, unlike the same letter without its marks (marks dropped)
# and unlike a character no font has (U+E000, drawn as the missing-glyph box: tofu).
GLYPHS_JS = r"""
const size = 96, canvas = document.createElement('canvas');
canvas.width = canvas.height = size;
const ctx = canvas.getContext('2d', {willReadFrequently: true});
function draw(ch, font) {
  ctx.clearRect(0, 0, size, size);
  ctx.font = font;
  ctx.fillStyle = '#000';
  ctx.fillText(ch, 16, 68);
  const alpha = ctx.getImageData(0, 0, size, size).data.filter((_, i) => i % 4 === 3);
  return {ink: alpha.some(a => a > 0), pixels: alpha.join(',')};
}
const noMarks = ch => ({'đ': 'd', 'Đ': 'D'}[ch] || ch.normalize('NFD').replace(/\p{M}/gu, ''));
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
const seen = new Map();
for (let node = walker.nextNode(); node; node = walker.nextNode()) {
  const element = node.parentElement;
  if (!element.checkVisibility()) continue;
  const style = getComputedStyle(element);
  const font = `${style.fontStyle} ${style.fontWeight} 64px ${style.fontFamily}`;
  for (const ch of node.data) {
    if (ch > '\x7f' && /\p{L}/u.test(ch)) seen.set(ch + '\n' + font, [ch, font]);
  }
}
const missing = font => draw('\uE000', font).pixels;
const results = [];
for (const [ch, font] of seen.values()) {
  const glyph = draw(ch, font), base = noMarks(ch);
  results.push({ch, font, ink: glyph.ink,
                unlike_base: base === ch || glyph.pixels !== draw(base, font).pixels,
                unlike_missing: glyph.pixels !== missing(font),
                has_base: base !== ch});
}
// The control: two characters no font has draw the same box, so a letter without a glyph
// would equal U+E000 and fail `unlike_missing`.
const body = getComputedStyle(document.body);
const bodyFont = `${body.fontStyle} ${body.fontWeight} 64px ${body.fontFamily}`;
return {results, control_same_box: draw('\uE001', bodyFont).pixels === missing(bodyFont),
        control_box_has_ink: draw('\uE000', bodyFont).ink};
"""


def test_vietnamese_letters_are_drawn_with_their_marks_not_as_boxes(home: City, desktop: webdriver.Chrome, tmp_path: Path) -> None:
    # Chromium falls back to any installed font that has a glyph, so forcing a font without
    # Vietnamese would not make this fail on a machine where some font has it; the control
    # below shows instead that a character no font has is caught.
    _, out = write_html(home, tmp_path)
    desktop.get(out.as_uri())
    found = desktop.execute_script(GLYPHS_JS)
    assert found["control_same_box"] and found["control_box_has_ink"]
    results = found["results"]
    letters = {r["ch"] for r in results}
    # The permit's own Vietnamese, from the ledger and the registry, is among what was checked.
    for text in (HOLDER, "Sở Y tế", "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm".upper(), "Nguyễn Thị Minh Khai"):
        assert {ch for ch in text if ord(ch) > 127} <= letters
    assert any(r["has_base"] for r in results)
    bad = [(r["ch"], r["font"]) for r in results if not (r["ink"] and r["unlike_base"] and r["unlike_missing"])]
    assert bad == []


def test_the_qr_code_is_45_mm_and_the_page_is_a4(home: City, desktop: webdriver.Chrome, tmp_path: Path) -> None:
    record, out = write_html(home, tmp_path)
    desktop.get(out.as_uri())
    version = qr.qr_version(qr.permit_url(BASE_URL, record.token))
    modules = 17 + 4 * version
    for media in ("screen", "print"):
        desktop.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": media})
        # The dark modules span the symbol (finder patterns in three corners); the SVG adds the quiet zone.
        symbol = desktop.execute_script("return document.querySelector('.qr svg path').getBoundingClientRect().toJSON()")
        image = desktop.find_element(By.CSS_SELECTOR, ".qr svg").rect
        assert abs(symbol["width"] - 45 * MM) < 1 and abs(symbol["height"] - 45 * MM) < 1
        assert abs(image["width"] - 45 * MM * (modules + 8) / modules) < 1
    page = desktop.execute_script(
        "for (const rule of document.styleSheets[0].cssRules)"
        "  if (rule instanceof CSSPageRule) return rule.style.getPropertyValue('size');"
    )
    assert page.lower() == "a4"  # CSSOM serialises the keyword in lower case


def test_the_page_is_self_contained_and_holds_the_permit(home: City, tmp_path: Path) -> None:
    record, out = write_html(home, tmp_path, holder_address='Số 1 <script>alert("x")</script> & Co.',
                             conditions=("Giữ vệ sinh khu vực chế biến",))
    html = out.read_text(encoding="utf-8")

    class Tags(HTMLParser):
        found: list[tuple[str, list[tuple[str, str | None]]]] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            self.found.append((tag, attrs))

    parser = Tags()
    parser.feed(html)
    tags = {tag for tag, _ in parser.found}
    assert "script" not in tags and not tags & {"img", "link", "iframe", "object", "embed"}
    assert not [name for _, attrs in parser.found for name, _ in attrs if name in ("src", "href", "srcset", "action")]
    assert "url(" not in html and "@import" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co." in html  # shown as text, never markup
    for text in (HOLDER, "0312345678", "Sở Y tế", "Department of Health", "Thành phố Hồ Chí Minh",
                 "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm".upper(), "Food safety certificate",
                 "Sản xuất, chế biến thực phẩm", "Giữ vệ sinh khu vực chế biến", record.permit.id, record.permit.number,
                 "22/11/2026", "31/12/2028", "xacminh.hochiminhcity.gov.vn/v",
                 f"QR code version {qr.qr_version(qr.permit_url(BASE_URL, record.token))}, error correction M, 45 × 45 mm"):
        assert text in html
    assert unicodedata.is_normalized("NFC", html)


def test_a_permit_resting_on_others_prints_a_based_on_line_for_each(home: City, desktop: webdriver.Chrome, tmp_path: Path) -> None:
    operator.set_requirements(home.home, "food-safety", ["business-registration"])
    operator.set_requirements(home.home, "alcohol-retail", ["business-registration", "food-safety"])
    home.trusted = operator.publish(home.home, passphrase, NOW, 30 * DAY)
    registration = home.issue("hcm-skhdt", "business-registration", number="0312345678")
    from_basis = {"holder_id": None, "holder_name": None, "holder_address": None}
    food = home.issue("hcm-syt", "food-safety", number="1302/2026/GCN-ATTP", basis=(registration.permit,), **from_basis)
    alcohol = home.issue("hcm-sct", "alcohol-retail", number="0458/2026/GP-SCT", basis=(registration.permit, food.permit), **from_basis)
    shown = {}
    for name, record in (("registration", registration), ("alcohol", alcohol)):
        out = tmp_path / f"{name}.html"
        assert permit("print", record.permit.id, "--out", out).exit_code == 0
        desktop.get(out.as_uri())
        shown[name] = [row.text.splitlines() for row in desktop.find_elements(By.CSS_SELECTOR, ".fields tr.basis")]
    assert shown == {"registration": [], "alcohol": [  # named by the permit ID printed on each
        ["Dựa trên", "Based on",
         f"Giấy chứng nhận đăng ký doanh nghiệp, mã giấy phép {registration.permit.id} (Sở Kế hoạch và Đầu tư)",
         f"Business registration certificate, permit ID {registration.permit.id} (Department of Planning and Investment)"],
        ["Dựa trên", "Based on",
         f"Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm, mã giấy phép {food.permit.id} (Sở Y tế)",
         f"Food safety certificate, permit ID {food.permit.id} (Department of Health)"],
    ]}
    # Between the validity and the day it was issued; the holder is the basis's.
    labels = [row.text.splitlines()[0] for row in desktop.find_elements(By.CSS_SELECTOR, ".fields tr")]
    assert labels[labels.index("Thời hạn hiệu lực") + 1: labels.index("Ngày cấp")] == ["Dựa trên", "Dựa trên"]
    assert HOLDER in desktop.find_element(By.CSS_SELECTOR, ".fields").text
    ARTIFACTS.mkdir(exist_ok=True)
    desktop.save_screenshot(str(ARTIFACTS / "printed-permit-on-bases.png"))


def test_the_demo_prints_its_once_only_permits_with_what_each_rests_on(tmp_path: Path) -> None:
    home, _ = demo.build_demo(tmp_path / "demo", lambda line: None)
    story = demo.once_only(home, lambda line: None, basis_reader)
    rows = []
    for page in story.printed:
        html = page.read_text(encoding="utf-8")
        rows.append([" ".join(re.sub(r"<[^>]+>", " ", row).split()) for row in re.findall(r'<tr class="basis">(.*?)</tr>', html, re.S)])
    first, second = story.registration.permit.id, story.resting[0].permit.id
    registration = (f"Dựa trên Based on Giấy chứng nhận đăng ký doanh nghiệp, mã giấy phép {first} (Sở Kế hoạch và Đầu tư) "
                    f"Business registration certificate, permit ID {first} (Department of Planning and Investment)")
    assert rows == [[], [registration], [registration, "Dựa trên Based on Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm, "
                                         f"mã giấy phép {second} (Sở Y tế) Food safety certificate, permit ID {second} (Department of Health)"]]
    assert [page.name for page in story.printed] == [f"{r.permit.id}.html" for r in (story.registration, *story.resting)]


def test_the_verification_address_is_the_host_and_path_people_see() -> None:
    assert printing.verification_address("https://xacminh.hochiminhcity.gov.vn") == "xacminh.hochiminhcity.gov.vn/v"
    assert printing.verification_address("https://permits.example/hcm/") == "permits.example/hcm/v"
    assert printing.verification_address("http://127.0.0.1:8000") == "127.0.0.1:8000/v"


def test_json_says_what_was_written(home: City, tmp_path: Path) -> None:
    record = home.issue()
    out = tmp_path / "permit.html"
    result = permit("print", record.permit.id, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    url = qr.permit_url(BASE_URL, record.token)
    version = qr.qr_version(url)
    module = round(45 / (17 + 4 * version), 2)  # a version-v symbol is 17 + 4v modules a side
    assert json.loads(result.output) == {"id": record.permit.id, "version": 1, "file": str(out), "url": url,
                                         "qr_version": version, "qr_size_mm": 45.0, "qr_module_mm": module}
    human = permit("print", record.permit.id, "--out", out)
    assert human.output.splitlines() == [f"Permit {record.permit.id} (version 1) written to {out}",
                                         f"QR code version {version}, printed 45 × 45 mm ({module} mm modules)"]


# --- the PDF -------------------------------------------------------------------------------------


def test_the_pdf_is_one_a4_page_whose_qr_code_reads_back_and_whose_text_is_vietnamese(home: City, tmp_path: Path) -> None:
    record = home.issue()
    out = tmp_path / "permit.pdf"
    result = permit("print", record.permit.id, "--out", out)
    assert result.exit_code == 0, result.output
    info = poppler("pdfinfo", out)
    size = re.search(r"Page size:\s+([\d.]+) x ([\d.]+) pts \(A4\)", info)
    assert size and abs(float(size[1]) - 595.28) < 0.5 and abs(float(size[2]) - 841.89) < 0.5, info
    assert re.search(r"Pages:\s+1\n", info), info

    poppler("pdftoppm", "-r", "200", "-png", "-singlefile", out, tmp_path / "page")
    assert read_qr(tmp_path / "page.png") == qr.permit_url(BASE_URL, record.token)

    text = unicodedata.normalize("NFC", poppler("pdftotext", out, "-"))
    assert HOLDER in text and "Sở Y tế" in text
    assert "file:" not in text  # no browser header or footer

    fonts = poppler("pdffonts", out).splitlines()[2:]
    assert fonts and all(row.split()[-5] == "yes" for row in fonts), fonts  # the "emb" column


# --- refusals: one line, a reason code, no file ---------------------------------------------------


def test_an_unknown_permit_is_permit_not_found(home: City, out_dir: Path) -> None:
    home.issue()
    one_line_error(permit("print", "NOSUCHID", "--out", out_dir / "x.pdf"), "permit_not_found")
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("name", ["permit.png", "permit.htm", "permit", "permit.pdf.txt"])
def test_an_output_that_is_not_pdf_or_html_is_bad_output(home: City, out_dir: Path, name: str) -> None:
    record = home.issue()
    one_line_error(permit("print", record.permit.id, "--out", out_dir / name), "bad_output")
    assert list(out_dir.iterdir()) == []


@pytest.mark.parametrize("how", ["revoked", "suspended", "expired"])
def test_a_permit_not_in_force_is_never_printed(home: City, out_dir: Path, how: str) -> None:
    if how == "expired":  # its last day was the day before yesterday
        record = home.issue(at=NOW - 20 * DAY, valid_until=date(2026, 11, 20))
    else:
        record = home.change(home.issue(), how)
    for name in ("x.html", "x.pdf"):
        one_line_error(permit("print", record.permit.id, "--out", out_dir / name), "permit_not_in_force")
    assert list(out_dir.iterdir()) == []


def test_without_chromium_a_pdf_is_pdf_unavailable_and_html_still_works(home: City, tmp_path: Path, out_dir: Path) -> None:
    record = home.issue()
    empty = tmp_path / "bin"
    empty.mkdir()
    result = permit("print", record.permit.id, "--out", out_dir / "permit.pdf", env={"PATH": str(empty)})
    one_line_error(result, "pdf_unavailable")
    assert "chromium" in result.output and ".html" in result.output
    assert list(out_dir.iterdir()) == []
    assert permit("print", record.permit.id, "--out", out_dir / "permit.html", env={"PATH": str(empty)}).exit_code == 0


FAILING_CHROMIUM = """#!/bin/sh
# Writes half a PDF where it was asked to, then fails.
for arg in "$@"; do
  case "$arg" in --print-to-pdf=*) printf '%%PDF-1.4 half' > "${arg#--print-to-pdf=}" ;; esac
done
echo "[0101/000000.000:ERROR:printing] could not print" >&2
exit 1
"""
HANGING_CHROMIUM = "#!/bin/sh\nexec /bin/sleep 60\n"


@pytest.mark.parametrize("script", [FAILING_CHROMIUM, HANGING_CHROMIUM], ids=["fails", "hangs"])
def test_a_chromium_that_fails_or_hangs_is_pdf_failed_and_the_old_file_is_kept(
        home: City, tmp_path: Path, out_dir: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    record = home.issue()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "chromium").write_text(script)
    (bin_dir / "chromium").chmod(0o755)
    monkeypatch.setattr(pdf, "TIMEOUT_SECONDS", 2.0)
    out = out_dir / "permit.pdf"
    out.write_bytes(b"the permit printed yesterday")
    one_line_error(permit("print", record.permit.id, "--out", out, env={"PATH": str(bin_dir)}), "pdf_failed")
    assert out.read_bytes() == b"the permit printed yesterday"
    assert list(out_dir.iterdir()) == [out]
