"""The preset DEFLATE dictionaries of permit tokens: version 1 ("zip": "DEFv1") and version 2
("zip": "DEFv2"), which is version 1 followed by the skeleton of a permit's bases.

A permit's claims are a few hundred bytes of JSON and Vietnamese text: too short for DEFLATE to
find much repetition on its own (about 20 % saved). Seeded with the claim skeleton and the
words that make up Vietnamese business names, addresses and activities, it saves about 35 %
more, which is two or three QR versions.

This text is part of the wire format. Changing one byte makes every token issued with it
unreadable, so it is frozen (a test pins its SHA-256); a better dictionary is a new "zip"
value next to this one, never an edit. DEFLATE reaches the end of the dictionary with the
shortest distances, so the most frequent material is last.

Version 2 exists for permits that rest on others: their references (agency, id, index, type)
cost about 90 bytes of payload under version 1, two QR versions, because nothing in it knows the
`basis` member or the type codes. Issuers sign permits with a basis with version 2 and all others
with version 1, so that a verifier older than bases still reads every permit it could read.
"""

from __future__ import annotations

_WORDS_RARE = (
    # permit numbers and document kinds
    "GCNĐKDN GPXD GPKD GP-SXD GP-SCT GCN-ATTP QĐ-UBND /2024/ /2025/ /2026/ /2027/ SKHĐT SYT SCT SXD "
    "Giấy chứng nhận đăng ký doanh nghiệp Giấy phép xây dựng Giấy phép bán lẻ rượu "
    "Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm "
    # wards and communes of Ho Chi Minh City (2025 arrangement, and earlier names still printed)
    "Bến Nghé Đa Kao Võ Thị Sáu Nguyễn Thái Bình Phạm Ngũ Lão Cô Giang Cầu Kho "
    "Sài Gòn Bến Thành Tân Định Cầu Ông Lãnh Bàn Cờ Xuân Hòa Nhiêu Lộc Chợ Quán An Đông Chợ Lớn "
    "Bình Tây Phú Lâm Gia Định Thạnh Mỹ Tây Gò Vấp Hạnh Thông An Nhơn Phú Nhuận Đức Nhuận Cầu Kiệu "
    "Tân Sơn Nhất Bảy Hiền Tân Sơn Hòa Phú Thạnh Tân Tạo An Lạc Linh Xuân Hiệp Bình Tam Bình "
    "An Khánh Bình Trưng Cát Lái Long Trường Tăng Nhơn Phú Phước Long Tân Thuận Tân Mỹ Tân Hưng "
    "Phú Thuận Chánh Hưng Bình Đông Diên Hồng Vườn Lài Hòa Hưng Minh Phụng Bình Thới Phú Thọ "
    "Đông Hưng Thuận Trung Mỹ Tây Tân Thới Hiệp Thới An An Phú Đông Bình Lợi Trung Bình Quới "
    "Bình Chánh Hóc Môn Củ Chi Nhà Bè Cần Giờ Thủ Dầu Một Biên Hòa Vũng Tàu "
    # streets
    "Đồng Khởi Hai Bà Trưng Lê Duẩn Pasteur Nam Kỳ Khởi Nghĩa Điện Biên Phủ Cách Mạng Tháng Tám "
    "Võ Văn Tần Trần Hưng Đạo Nguyễn Trãi Lý Thường Kiệt Ba Tháng Hai Phan Xích Long Hoàng Văn Thụ "
    "Cộng Hòa Trường Chinh Quang Trung Nguyễn Văn Linh Phạm Văn Đồng Xa lộ Hà Nội Võ Văn Kiệt "
    "Nguyễn Văn Cừ Lê Văn Sỹ Nguyễn Đình Chiểu Trần Quang Khải Hùng Vương An Dương Vương "
    "Lạc Long Quân Tôn Đức Thắng Bùi Viện Nguyễn Thái Học Lê Thánh Tôn Mạc Thị Bưởi Nguyễn Huệ "
    "Nguyễn Thị Minh Khai Lê Lợi Hàm Nghi Tôn Thất Thiệp Nguyễn Du Lý Tự Trọng Phan Đăng Lưu "
)

_WORDS_COMMON = (
    # conditions
    "Tuân thủ quy định về phòng cháy chữa cháy và vệ sinh môi trường. "
    "Không bán rượu cho người dưới 18 tuổi. Không bán hàng sau 22 giờ. "
    "Thực hiện đúng quy định về an toàn thực phẩm. Treo giấy phép tại nơi dễ thấy. "
    "Thi công theo đúng thiết kế được duyệt; bảo đảm an toàn lao động. "
    # activities
    "Kinh doanh dịch vụ ăn uống Bán lẻ đồ uống có cồn Bán lẻ rượu, bia Sản xuất, chế biến thực phẩm "
    "Bán buôn thực phẩm Bán lẻ lương thực, thực phẩm, đồ uống, thuốc lá Nhà hàng và dịch vụ ăn uống "
    "Cung cấp suất ăn công nghiệp Bếp ăn tập thể Bánh mì, bánh ngọt Nước giải khát Cà phê, chè "
    "Xây dựng nhà ở riêng lẻ Xây dựng công trình dân dụng Sửa chữa, cải tạo Tư vấn quản lý "
    "Cho thuê văn phòng Kinh doanh bất động sản Hoạt động dịch vụ Đại lý, môi giới Phân phối "
    "Bán lẻ hàng hóa tiêu dùng Tạp hóa Mỹ phẩm Dược phẩm Thiết bị điện tử Vận tải hàng hóa "
    "Xuất nhập khẩu Thương mại điện tử Phần mềm Công nghệ thông tin Giáo dục Du lịch Khách sạn "
    "tầng, 1 tầng hầm, diện tích xây dựng m2, tổng diện tích sàn "
    # holder names
    "Tập đoàn Chi nhánh Hợp tác xã Doanh nghiệp tư nhân Cửa hàng Nhà hàng Quán Siêu thị Nhà thuốc "
    "Phòng khám Thương mại Dịch vụ Đầu tư Phát triển Sản xuất Xây dựng Công nghệ Thực phẩm "
    "Đồ uống Bất động sản Nội thất Cơ khí Nông sản Thủy sản Bánh kẹo Kỹ thuật Quốc tế "
    "Việt Nam Miền Nam Phương Nam An Phát Thành Công Hưng Thịnh Phú Quý Minh Tâm Hoàng Gia "
    "Phúc Long Tân Phát Hòa Bình Gia Phát Thiên Long Sạch Xanh Mới Việt "
    "Công ty TNHH MTV Công ty TNHH Một thành viên Công ty Cổ phần Hộ kinh doanh Công ty TNHH "
    # addresses
    "Khu công nghiệp Khu chế xuất Khu phố Ấp Lô Tòa nhà Lầu Tầng Hẻm Số Đường "
    "Nguyễn Trần Lê Phạm Huỳnh Hoàng Phan Võ Đặng Bùi Đỗ Hồ Ngô Dương Lý Văn Thị Hữu Đức Minh "
    "Quận 1, Quận 3, Quận 5, Quận 7, Quận 10, Quận Bình Thạnh, Quận Tân Bình, Quận Tân Phú, "
    "Thành phố Thủ Đức, Thành phố Hồ Chí Minh Phường Tân Phú, Phường Bình Thạnh, Phường Tân Bình, "
    "Phường Bình Tân, Phường Thủ Đức, Xã , Phường , TP. Hồ Chí Minh"
)

# The claim skeleton in canonical (sorted) order, and the lead of current epoch seconds.
_SKELETON = (
    '"],"cond":["'
    '{"exp":17,"iat":17,"iss":"hcm-s","jti":"","nbf":17,'
    '"permit":{"act":["","addr":"","cond":["","name":"Công ty ","no":"'
    '"},"ptype":"","st":,"sub":"03","ver":1}'
)

DICTIONARY_V1: bytes = (_WORDS_RARE + _WORDS_COMMON + _SKELETON).encode("utf-8")

# The canonical claims of a permit with bases start with them (members sorted): the reference
# skeleton, and the city's type codes and agency ids they name, last (nearest) of all.
_BASIS_SKELETON = (
    '"ptype":"construction" "ptype":"alcohol-retail" "ptype":"food-safety" "ptype":"business-registration" '
    "hcm-skhdt hcm-sct hcm-syt hcm-sxd "
    '{"basis":[{"iss":"hcm-s","jti":"","ptype":"","st":},{"iss":"hcm-s","jti":"","ptype":"business-registration","st":}],"exp":17,'
)

DICTIONARY_V2: bytes = DICTIONARY_V1 + _BASIS_SKELETON.encode("utf-8")
