"""Code lists of Circular 05/2025 descriptive metadata (values and Vietnamese labels)."""

from __future__ import annotations

MAINTENANCE = {
    "01": "Vĩnh viễn",
    "02": "70 năm",
    "03": "50 năm",
    "04": "30 năm",
    "05": "20 năm",
    "06": "10 năm",
    "07": "Khác (số năm ghi rõ)",
}
#: Years of each fixed retention code; ``None`` is permanent, ``07`` carries its own years.
MAINTENANCE_YEARS: dict[str, int | None] = {
    "01": None,
    "02": 70,
    "03": 50,
    "04": 30,
    "05": 20,
    "06": 10,
}
OTHER_TERM_MIN_YEARS = 2
OTHER_TERM_MAX_YEARS = 70

MODE = {"01": "Công khai", "02": "Sử dụng có điều kiện", "03": "Mật"}

LANGUAGE = {
    "01": "Tiếng Việt",
    "02": "Tiếng Anh",
    "03": "Tiếng Pháp",
    "04": "Tiếng Nga",
    "05": "Tiếng Trung",
    "06": "Việt - Anh",
    "07": "Việt - Nga",
    "08": "Việt - Pháp",
    "09": "Hán Nôm",
    "10": "Việt - Trung",
    "11": "Khác",
}

PHYSICAL_FORMAT = {"01": "Tốt", "02": "Bình thường", "03": "Hư hỏng"}

CONFIDENCE_LEVEL = {"01": "Gốc điện tử", "02": "Số hóa", "03": "Hỗn hợp"}
BORN_DIGITAL, DIGITISED, MIXED = "01", "02", "03"

RISK_RECOVERY = {"1": "Có", "0": "Không"}
RISK_RECOVERY_STATUS = {"01": "Đã thực hiện", "02": "Chưa thực hiện"}

PROCESS = {"1": "Có tệp luồng xử lý", "0": "Không"}

TYPE_NAME = {
    "01": "Nghị quyết",
    "02": "Quyết định",
    "03": "Chỉ thị",
    "04": "Quy chế",
    "05": "Quy định",
    "06": "Thông cáo",
    "07": "Thông báo",
    "08": "Hướng dẫn",
    "09": "Chương trình",
    "10": "Kế hoạch",
    "11": "Phương án",
    "12": "Đề án",
    "13": "Dự án",
    "14": "Báo cáo",
    "15": "Tờ trình",
    "16": "Giấy ủy quyền",
    "17": "Phiếu gửi",
    "18": "Phiếu chuyển",
    "19": "Phiếu báo",
    "20": "Biên bản",
    "21": "Hợp đồng",
    "22": "Công văn",
    "23": "Công điện",
    "24": "Bản ghi nhớ",
    "25": "Bản thỏa thuận",
    "26": "Giấy mời",
    "27": "Giấy giới thiệu",
    "28": "Giấy nghỉ phép",
    "29": "Thư công",
    "30": "Bản đồ",
    "31": "Bản vẽ kỹ thuật",
    "32": "Khác",
}

PIC_COLOUR = {"01": "Màu", "02": "Đen trắng"}
MEDIA_TYPE = {"01": "Âm thanh", "02": "Phim, video"}

RECORD_STATUS = ("NEW", "SUPPLEMENT", "REPLACEMENT", "TEST", "OTHER")

# TTHC extension (schemas/tthc.xsd)
CHANNEL = ("online", "direct", "post")
FINAL_STATUS = ("returned", "refused", "stopped", "withdrawn")
APPLICANT_KIND = ("citizen", "organization")
ID_TYPE = ("CCCD", "passport", "tax")
