"""shared.devenv: embedded nats-server and PostgreSQL start on free ports, accept clients, and stop."""

import socket
from urllib.parse import urlparse

import asyncpg
import nats

from shared import devenv


def _accepts(url: str) -> bool:
    u = urlparse(url)
    try:
        socket.create_connection((u.hostname, u.port), timeout=0.5).close()
        return True
    except OSError:
        return False


async def test_embedded_nats_serves_jetstream_and_stops(tmp_path):
    srv = devenv.start_nats(tmp_path / "nats")
    try:
        assert urlparse(srv.url).port != 4222
        nc = await nats.connect(srv.url)
        js = nc.jetstream()
        await js.add_stream(name="DEVENV", subjects=["devenv.>"])
        ack = await js.publish("devenv.hello", b"hi")
        assert ack.seq == 1
        await nc.close()
        assert (srv.store_dir / "jetstream").is_dir()
    finally:
        srv.stop()
    assert not _accepts(srv.url)
    assert devenv._cmdline(srv.pid) == ""


async def test_embedded_postgres_accepts_queries_and_stops(tmp_path):
    srv = devenv.start_postgres(tmp_path / "pg")
    try:
        assert srv.dsn.startswith("postgresql://postgres@127.0.0.1:")
        assert urlparse(srv.dsn).port != 5432
        conn = await asyncpg.connect(srv.dsn)
        assert await conn.fetchval("select 1") == 1
        assert await conn.fetchval("show fsync") == "on"
        await conn.close()
        dsn = await devenv.create_database(srv.dsn, "devenv_check")
        assert dsn == await devenv.create_database(srv.dsn, "devenv_check")  # idempotent
        conn = await asyncpg.connect(dsn)
        assert await conn.fetchval("select current_database()") == "devenv_check"
        await conn.close()
    finally:
        srv.stop()
    assert not _accepts(srv.dsn)
    assert srv.scratch_dir is None or not srv.scratch_dir.exists()


def test_cli_up_is_idempotent_and_down_stops_everything(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("NATS_URL", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    state = tmp_path / "run"
    try:
        devenv.main(["up", "--state", str(state)])
        first = (state / "env").read_text()
        devenv.main(["up", "--state", str(state)])
        assert (state / "env").read_text() == first  # the live servers were reused
    finally:
        devenv.main(["down", "--state", str(state)])
    env = dict(line.removeprefix("export ").split("=", 1) for line in first.splitlines())
    assert env["DATABASE_URL"].endswith("/lienthong")
    assert not _accepts(env["NATS_URL"]) and not _accepts(env["DATABASE_URL"])
    assert not (state / "env").exists() and not (state / "pg").exists()
    assert "nats-server" in capsys.readouterr().out
