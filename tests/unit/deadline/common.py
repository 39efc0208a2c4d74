"""The tests' catalog and a few names, shared by the deadline unit tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from shared.calendar import VN_TZ
from shared.catalog import load_catalog

CATALOG = load_catalog(Path(__file__).resolve().parents[2] / "catalogs" / "basic.yaml")
CALENDAR = CATALOG.calendar
HOUR = 3600
COMMUNE = "T01.00.01.X99"
LABOUR_OFFICE = "T01.31.00.X99"  # a district department
JUSTICE_OFFICE = "T01.32.00.X99"  # another district department
PROVINCE_DEPT = "T00.05.00.X99"
THREE_LEVELS = "9.000001"  # receive 1 day @commune, process 4 @district dept, decide 4 @province, return 1
RESTART = (
    "9.000002"  # supplements restart the clock; receive 0.5 day, process 1.5 @commune, decide 3 @justice, return 1
)


def vn(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=VN_TZ)
