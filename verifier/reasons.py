"""Every status and reason code as a plain sentence, in Vietnamese and in English.

The page, the CLI and integrators' own screens show these; the codes stay the contract.
"""

from __future__ import annotations

STATUS_TEXT: dict[str, dict[str, str]] = {
    "valid": {"vi": "HỢP LỆ", "en": "VALID"},
    "invalid": {"vi": "KHÔNG HỢP LỆ", "en": "NOT VALID"},
    "revoked": {"vi": "ĐÃ BỊ THU HỒI", "en": "REVOKED"},
    "suspended": {"vi": "ĐANG BỊ ĐÌNH CHỈ", "en": "SUSPENDED"},
    "superseded": {"vi": "ĐÃ ĐƯỢC THAY THẾ", "en": "SUPERSEDED"},
    "expired": {"vi": "ĐÃ HẾT HẠN", "en": "EXPIRED"},
    "not_yet_valid": {"vi": "CHƯA CÓ HIỆU LỰC", "en": "NOT YET VALID"},
    "status_unknown": {"vi": "CHƯA KIỂM TRA ĐƯỢC", "en": "CANNOT CHECK NOW"},
}

REASON_TEXT: dict[str, dict[str, str]] = {
    "malformed_token": {
        "vi": "Mã không đúng định dạng giấy phép điện tử.",
        "en": "The code is not in the format of an electronic permit.",
    },
    "token_too_large": {
        "vi": "Mã quá dài để là một giấy phép.",
        "en": "The code is too long to be a permit.",
    },
    "unsupported_header": {
        "vi": "Mã dùng cách ký không được chấp nhận.",
        "en": "The code uses a signing method that is not accepted.",
    },
    "wrong_type": {
        "vi": "Đây là một loại tài liệu khác, không phải giấy phép.",
        "en": "This is another kind of document, not a permit.",
    },
    "unknown_issuer": {
        "vi": "Cơ quan cấp không có trong danh sách cơ quan được tin cậy.",
        "en": "The issuing agency is not in the list of trusted agencies.",
    },
    "unknown_key": {
        "vi": "Chữ ký không thuộc khóa nào của các cơ quan được tin cậy.",
        "en": "The signature is not from any key of a trusted agency.",
    },
    "issuer_key_mismatch": {
        "vi": "Giấy phép được ký bằng khóa của một cơ quan khác với cơ quan ghi trên giấy phép.",
        "en": "The permit was signed with a key of another agency than the one it names.",
    },
    "algorithm_mismatch": {
        "vi": "Thuật toán ký không khớp với khóa đã đăng ký.",
        "en": "The signing algorithm does not match the registered key.",
    },
    "bad_signature": {
        "vi": "Chữ ký số không đúng: nội dung đã bị sửa hoặc giấy phép là giả.",
        "en": "The digital signature does not match: the content was altered or the permit is forged.",
    },
    "key_not_valid_at_issue": {
        "vi": "Khóa ký không còn hiệu lực vào thời điểm giấy phép được ký.",
        "en": "The signing key was not valid when the permit was signed.",
    },
    "key_compromised": {
        "vi": "Khóa ký của cơ quan đã bị lộ; mọi giấy phép ký bằng khóa này đều không hợp lệ. Hãy đề nghị cơ quan cấp lại.",
        "en": "The agency's signing key was compromised; every permit signed with it is invalid. Ask the agency for a re-issued permit.",
    },
    "not_authorised_for_type": {
        "vi": "Cơ quan này không có thẩm quyền cấp loại giấy phép này.",
        "en": "This agency is not authorised to issue this type of permit.",
    },
    "missing_claim": {
        "vi": "Giấy phép thiếu thông tin bắt buộc.",
        "en": "The permit lacks required information.",
    },
    "bad_claim": {
        "vi": "Thông tin trên giấy phép không hợp lệ.",
        "en": "Information on the permit is not valid.",
    },
    "non_canonical_text": {
        "vi": "Giấy phép chứa ký tự không được phép hoặc chưa chuẩn hóa.",
        "en": "The permit contains characters that are not allowed or not normalised.",
    },
    "expired": {
        "vi": "Giấy phép đã hết thời hạn hiệu lực.",
        "en": "The permit's period of validity has ended.",
    },
    "not_yet_valid": {
        "vi": "Giấy phép chưa đến ngày có hiệu lực.",
        "en": "The permit's period of validity has not started yet.",
    },
    "issued_in_future": {
        "vi": "Giấy phép ghi ngày ký ở tương lai.",
        "en": "The permit claims to have been signed in the future.",
    },
    "revoked": {
        "vi": "Cơ quan cấp đã thu hồi giấy phép này.",
        "en": "The issuing agency has revoked this permit.",
    },
    "suspended": {
        "vi": "Cơ quan cấp đang đình chỉ giấy phép này.",
        "en": "The issuing agency has suspended this permit.",
    },
    "superseded": {
        "vi": "Giấy phép này đã được thay bằng một phiên bản mới hơn. Hãy đề nghị xuất trình bản mới nhất.",
        "en": "This permit has been replaced by a newer version. Ask for the current one.",
    },
    "status_unavailable": {
        "vi": "Chưa có danh sách trạng thái của cơ quan cấp, nên chưa biết giấy phép có bị thu hồi hay không.",
        "en": "The issuing agency's status list is not available, so whether the permit was revoked is unknown.",
    },
    "status_stale": {
        "vi": "Danh sách trạng thái đã quá hạn cập nhật; chưa thể khẳng định giấy phép còn hiệu lực.",
        "en": "The status list is out of date; the permit cannot be confirmed as in force.",
    },
    "registry_invalid": {
        "vi": "Danh sách cơ quan được tin cậy không hợp lệ.",
        "en": "The list of trusted agencies is not valid.",
    },
    "registry_rollback": {
        "vi": "Danh sách cơ quan được tin cậy cũ hơn bản đã nhận trước đó.",
        "en": "The list of trusted agencies is older than one already received.",
    },
    "registry_stale": {
        "vi": "Danh sách cơ quan được tin cậy đã hết hạn; chưa thể kiểm tra lúc này.",
        "en": "The list of trusted agencies has expired; the permit cannot be checked now.",
    },
    "registry_unavailable": {
        "vi": "Máy chủ kiểm tra chưa nhận được danh sách cơ quan được tin cậy; chưa thể kiểm tra lúc này.",
        "en": "This verifier has not received the list of trusted agencies yet; the permit cannot be checked now.",
    },
}
