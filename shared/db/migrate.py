"""A tiny ordered-migration runner: one Postgres schema per service.

Each service keeps `migrations/NNNN_what.sql` beside its code. The runner creates the schema and
the shared messaging tables (inbox, outbox, dead letters), then applies every file not yet
recorded in `{schema}.schema_migrations`, all under an advisory lock so that services and test
workers starting at once never race.
"""

from __future__ import annotations

import re
from pathlib import Path

import asyncpg

MESSAGING_SQL = Path(__file__).with_name("messaging.sql")
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


def migration_files(directory: Path) -> list[Path]:
    files = sorted(p for p in directory.glob("*.sql") if _NAME.match(p.name))
    versions = [p.name[:4] for p in files]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration numbers in {directory}")
    return files


async def migrate(conn: asyncpg.Connection, schema: str, directory: Path) -> list[str]:
    """Apply pending migrations of `schema`; returns the names applied."""
    if not re.fullmatch(r"[a-z_]+", schema):
        raise ValueError(f"bad schema name {schema!r}")
    applied: list[str] = []
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"lienthong-migrate:{schema}")
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {schema}.schema_migrations "
            "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        done = {r["name"] for r in await conn.fetch(f"SELECT name FROM {schema}.schema_migrations")}
        pending = [("0000_messaging.sql", MESSAGING_SQL)] if "0000_messaging.sql" not in done else []
        pending += [(p.name, p) for p in migration_files(directory) if p.name not in done]
        for name, path in pending:
            await conn.execute(path.read_text().replace("{schema}", schema))
            await conn.execute(f"INSERT INTO {schema}.schema_migrations (name) VALUES ($1)", name)
            applied.append(name)
    return applied
