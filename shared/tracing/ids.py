"""Trace and span ids of a dossier, derived from its code alone (CONTRACT.md §4).

The trace id is the first 16 bytes of SHA-256 of the UTF-8 dossier code, so anyone can open the
trace from the code. Span ids are the first 8 bytes of SHA-256 of the code and a span key naming
the interval (`dossier`, `stage:2`, `stage:2:handoff`, ...): the same facts give the same ids, so
a replay or a re-emission lands on the same spans and parents can be named before they are sent.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

ROOT_KEY = "dossier"


def dossier_trace_id(code: str) -> int:
    """The dossier's trace id as the integer OpenTelemetry uses."""
    return int.from_bytes(hashlib.sha256(code.encode("utf-8")).digest()[:16], "big")


def dossier_trace_id_hex(code: str) -> str:
    """The dossier's trace id as the 32 hex digits Jaeger and Tempo show."""
    return hashlib.sha256(code.encode("utf-8")).digest()[:16].hex()


def span_id(code: str, key: str) -> int:
    """The id of the span `key` of dossier `code` (never 0, which OpenTelemetry reserves)."""
    value = int.from_bytes(hashlib.sha256(f"{code}\x00{key}".encode()).digest()[:8], "big")
    return value or 1


@lru_cache(maxsize=4096)
def root_span_id(code: str) -> int:
    """The id of the dossier's root span (cached: every message span links to it)."""
    return span_id(code, ROOT_KEY)
