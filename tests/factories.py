"""Unique references and ready-made submissions, so tests never collide."""

from __future__ import annotations

import uuid
from typing import Any


def unique_ref(prefix: str = "ref") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def submitted_data(
    procedure: str,
    *,
    return_method: str = "counter",
    channel: str = "counter",
    external_ref: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "external_ref": external_ref or unique_ref(),
        "procedure": procedure,
        "channel": channel,
        "return_method": return_method,
        "applicant": {
            "kind": "citizen",
            "full_name": "Nguyễn Thị Test",
            "id_number": "046190000001",
            "phone": "0905000001",
        },
        "delivery_address": None,
        "postal_waybill": None,
    }
    if return_method == "postal":
        data["delivery_address"] = {"line": "12 Đường Thử Nghiệm", "commune": "Phú An", "province": "Huế"}
    data.update(extra)
    return data
