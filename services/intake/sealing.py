"""Personal data sealed at rest: AES-256-GCM, the dossier code as associated data (a sealed
record cannot be moved to another dossier), the key from `LIENTHONG_PII_KEY` (32 bytes, base64).

Without that variable (development, tests, the demo) intake keeps a generated key in its own
schema and logs a warning: the data is then only as safe as the database. Production sets the
variable from a secret store.
"""

from __future__ import annotations

import base64
import logging
import os
import secrets
from dataclasses import dataclass

import asyncpg
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

log = logging.getLogger(__name__)
NONCE_BYTES = 12


@dataclass(frozen=True)
class Sealer:
    key: bytes

    def seal(self, plaintext: bytes, dossier_code: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return nonce + AESGCM(self.key).encrypt(nonce, plaintext, dossier_code.encode())

    def open(self, sealed: bytes, dossier_code: str) -> bytes:
        return AESGCM(self.key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], dossier_code.encode())


def key_from_text(text: str) -> bytes:
    key = base64.b64decode(text)
    if len(key) != 32:
        raise ValueError("LIENTHONG_PII_KEY must be 32 bytes, base64-encoded")
    return key


async def load_sealer(conn: asyncpg.Connection) -> Sealer:
    configured = os.environ.get("LIENTHONG_PII_KEY")
    if configured:
        return Sealer(key_from_text(configured))
    log.warning("LIENTHONG_PII_KEY is not set: using a development key kept in the database")
    generated = base64.b64encode(secrets.token_bytes(32)).decode()
    await conn.execute(
        "INSERT INTO intake.development_key (id, key) VALUES (1, $1) ON CONFLICT (id) DO NOTHING", generated
    )
    return Sealer(key_from_text(await conn.fetchval("SELECT key FROM intake.development_key WHERE id = 1")))
