"""The page a permit's QR code opens: GET /v (and / for people who type the address).

The token stays in the URL fragment, which browsers never send, so it reaches neither this
server's access log nor any proxy's. A small external script reads it and asks the API; the
page itself holds no inline script, so the Content-Security-Policy can forbid all of them.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template

from verifier.reasons import REASON_TEXT, STATUS_TEXT

blueprint = Blueprint("page", __name__, static_folder="static", static_url_path="/static", template_folder="templates")

UI_TEXT: dict[str, dict[str, str]] = {
    "title": {"vi": "Kiểm tra giấy phép điện tử", "en": "Check an electronic permit"},
    "intro": {
        "vi": "Quét mã QR trên giấy phép bằng camera điện thoại, hoặc dán mã vào ô dưới đây.",
        "en": "Scan the QR code on the permit with your phone camera, or paste the code below.",
    },
    "checking": {"vi": "Đang kiểm tra…", "en": "Checking…"},
    "paste_label": {"vi": "Mã giấy phép hoặc đường dẫn từ mã QR", "en": "Permit code or the link from the QR code"},
    "check": {"vi": "Kiểm tra", "en": "Check"},
    "switch": {"vi": "English", "en": "Tiếng Việt"},
    "type": {"vi": "Loại giấy phép", "en": "Permit type"},
    "number": {"vi": "Số giấy phép", "en": "Permit number"},
    "holder": {"vi": "Được cấp cho", "en": "Issued to"},
    "holder_id": {"vi": "Mã số", "en": "Registration code"},
    "address": {"vi": "Địa chỉ", "en": "Address"},
    "activities": {"vi": "Hoạt động được phép", "en": "Permitted activities"},
    "conditions": {"vi": "Điều kiện", "en": "Conditions"},
    "validity": {"vi": "Thời hạn hiệu lực", "en": "Valid"},
    "validity_to": {"vi": "đến hết ngày", "en": "to the end of"},
    "issuer": {"vi": "Cơ quan cấp", "en": "Issued by"},
    "version": {"vi": "Phiên bản", "en": "Version"},
    "checked_at": {"vi": "Kiểm tra lúc", "en": "Checked at"},
    "registry_version": {"vi": "theo danh sách cơ quan phiên bản", "en": "against trusted-agency list version"},
    "no_permit": {
        "vi": "Không hiển thị nội dung vì không xác định được đây là giấy phép thật.",
        "en": "No content is shown because this could not be confirmed as a genuine permit.",
    },
    "network": {
        "vi": "Không kết nối được máy chủ kiểm tra. Hãy thử lại.",
        "en": "Could not reach the verification server. Please try again.",
    },
    "bad_input": {"vi": "Không đọc được mã đã nhập.", "en": "The code entered could not be read."},
    "privacy": {
        "vi": "Mã giấy phép chỉ được gửi để kiểm tra và không được lưu lại.",
        "en": "The permit code is sent only to be checked and is not stored.",
    },
    "noscript": {
        "vi": "Trang này cần JavaScript để đọc mã trong đường dẫn.",
        "en": "This page needs JavaScript to read the code in the link.",
    },
}


def _texts() -> dict[str, Any]:
    return {"ui": UI_TEXT, "status": STATUS_TEXT, "reasons": REASON_TEXT}


@blueprint.get("/v")
@blueprint.get("/")
def verify_page() -> str:
    store = current_app.extensions["permit_store"]
    registry = store.snapshot.registry
    city = registry.registry.name if registry is not None else ""
    return render_template("page.html", texts=_texts(), ui=UI_TEXT, city=city)
