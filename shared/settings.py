"""Configuration from the environment (CONTRACT.md §1), read when a service is built, never at import."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

DEFAULT_NATS_URL = "nats://127.0.0.1:4222"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/lienthong"


@dataclass(frozen=True)
class Settings:
    nats_url: str
    database_url: str
    catalog_path: str | None
    clock: str
    batch_size: int = 100

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            nats_url=os.environ.get("NATS_URL", DEFAULT_NATS_URL),
            database_url=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL),
            catalog_path=os.environ.get("LIENTHONG_CATALOG") or None,
            clock=os.environ.get("LIENTHONG_CLOCK", "system"),
            batch_size=int(os.environ.get("LIENTHONG_BATCH_SIZE", "100")),
        )


def nats_servers(nats_url: str) -> list[str]:
    """NATS_URL may name several servers of a cluster, comma-separated ("nats://a:4222,nats://b:4222");
    nats-py and FastStream take them as a list (a single string would be parsed as one URL)."""
    servers = [part.strip() for part in nats_url.split(",") if part.strip()]
    return servers or [nats_url]


def nats_inbox_prefix(nats_url: str) -> str:
    """`_INBOX_{user}` when NATS_URL names a user, else NATS's default `_INBOX`: a service may then
    subscribe to its own replies only (shared/natsauth.py), and no other reads them."""
    first = nats_url.split(",")[0].strip()
    user = unquote(urlsplit(first if "://" in first else f"nats://{first}").username or "")
    return f"_INBOX_{re.sub(r'[^A-Za-z0-9_-]', '_', user)}" if user else "_INBOX"
