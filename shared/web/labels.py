"""Words and numbers as the page shows them: Vietnamese first, English in parentheses. Pure."""

from __future__ import annotations

from datetime import date, datetime
from html import escape

from shared.calendar import VN_TZ
from shared.cli import vn_number

ROLES = {
    "receive": "Tiếp nhận (receive)",
    "process": "Xử lý (process)",
    "decide": "Quyết định (decide)",
    "consult": "Lấy ý kiến (consult)",
    "return": "Trả kết quả (return)",
}
LEVELS = {"commune": "Xã", "district": "Huyện", "province": "Tỉnh", "ministry": "Bộ"}
CATEGORIES = {
    "overdue": "Quá hạn hẹn trả (overdue)",
    "stage_overdue": "Giai đoạn quá hạn (stage past due)",
    "at_risk": "Sắp đến hạn (due within a working day)",
    "late": "Đã trễ hạn (finished late)",
}
STATUSES = {
    "in_progress": "Đang giải quyết (in progress)",
    "paused": "Tạm dừng (paused)",
    "result_ready": "Đã có kết quả (result ready)",
    "returned": "Đã trả kết quả (returned)",
    "refused": "Bị từ chối (refused)",
    "withdrawn": "Đã rút (withdrawn)",
}
PAUSES = {"supplement": "bổ sung hồ sơ (supplement)", "obligation": "nghĩa vụ tài chính (fee or tax)"}


def e(value: object) -> str:
    """HTML-escaped text ('' for None)."""
    return "" if value is None else escape(str(value), quote=True)


def role(code: str) -> str:
    return ROLES.get(code, code)


def level(code: str | None) -> str:
    if not code:
        return "—"
    return f"{LEVELS[code]} ({code})" if code in LEVELS else code


def short_level(code: str | None) -> str:
    return LEVELS.get(code or "", code or "—")


def hours(value: float | None) -> str:
    return "—" if value is None else f"{vn_number(value, 1)} giờ"


def rate(value: float | None) -> str:
    return "—" if value is None else f"{vn_number(value * 100, 1)} %"


def when(value: str | datetime | None) -> str:
    """dd/mm/yyyy HH:MM, Vietnam time."""
    if not value:
        return "—"
    t = datetime.fromisoformat(value) if isinstance(value, str) else value
    return t.astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


def day(value: str | date) -> str:
    d = date.fromisoformat(value) if isinstance(value, str) else value
    return d.strftime("%d/%m")


def agency(code: str | None, name: str | None) -> str:
    if not code:
        return "—"
    return f"{name} ({code})" if name else code
