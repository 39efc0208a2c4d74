"""Waybill numbers in the UPU S10 format (two letters, eight digits, a check digit, country)."""

from __future__ import annotations

WEIGHTS = (8, 6, 4, 2, 3, 5, 9, 7)


def s10_check_digit(serial: str) -> int:
    if len(serial) != 8 or not serial.isdigit():
        raise ValueError("an S10 serial has eight digits")
    remainder = 11 - sum(int(d) * w for d, w in zip(serial, WEIGHTS, strict=True)) % 11
    return {10: 0, 11: 5}.get(remainder, remainder)


def waybill(serial_number: int, prefix: str = "LT", country: str = "VN") -> str:
    serial = f"{serial_number % 100_000_000:08d}"
    return f"{prefix}{serial}{s10_check_digit(serial)}{country}"


def is_valid(code: str) -> bool:
    return (
        len(code) == 13
        and code[:2].isalpha()
        and code[11:].isalpha()
        and code[2:11].isdigit()
        and s10_check_digit(code[2:10]) == int(code[10])
    )
