"""Test-session infrastructure: a private nats-server, a PostgreSQL (DATABASE_URL's server, or an
embedded one), and a migrated template database from which every test gets a fresh copy."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import nats
import pytest

from shared import devenv
from shared.contracts.streams import STREAMS
from shared.db.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]
SERVICE_SCHEMAS = {"intake": "intake", "routing": "routing", "deadline": "deadline", "postal": "postal"}


def database_dsn(server_dsn: str, name: str) -> str:
    parts = urlsplit(server_dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devenv.NatsServer]:
    """A private nats-server per test session (never the machine's shared one)."""
    server = devenv.start_nats(tmp_path_factory.mktemp("nats"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def nats_url(nats_server: devenv.NatsServer) -> str:
    return nats_server.url


@pytest.fixture(scope="session")
def pg_server_dsn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """DATABASE_URL's server when set (CI and dev machines run one), else an embedded PostgreSQL."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    server = devenv.start_postgres(tmp_path_factory.mktemp("pg"))
    yield server.dsn
    server.stop()


@pytest.fixture(scope="session")
async def migrated_template(pg_server_dsn: str) -> AsyncIterator[str]:
    name = f"lt_template_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        conn = await asyncpg.connect(database_dsn(pg_server_dsn, name))
        try:
            for service, schema in SERVICE_SCHEMAS.items():
                migrations = ROOT / "services" / service / "migrations"
                await migrate(conn, schema, migrations)
        finally:
            await conn.close()
        yield name
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database_url(pg_server_dsn: str, migrated_template: str) -> AsyncIterator[str]:
    """A fresh database per test, copied from the migrated template (cheap, fully isolated)."""
    name = f"lt_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server_dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_template}"')
        yield database_dsn(pg_server_dsn, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def fresh_streams(nats_url: str) -> AsyncIterator[str]:
    """Delete the contract's streams (and with them every durable consumer) before a test."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for config in STREAMS:
        try:
            await js.delete_stream(config.name)
        except nats.js.errors.NotFoundError:
            pass
    await nc.close()
    yield nats_url
