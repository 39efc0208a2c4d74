"""A private, crash-testable world for the fault tests: its own nats-server (or a 3-node cluster)
with its own store, its own embedded PostgreSQL, and the four services as processes.

Every process the lab starts is recorded; `close()` kills every one of them (their whole
process groups), whatever happened before, so a failing test leaves no orphan behind. Nothing
here touches the machine's servers on 4222 / 5432.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
import nats

from shared import devenv
from shared.settings import nats_servers

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("intake", "routing", "deadline", "postal")
NATS_CONFIG = ROOT / "infra" / "nats" / "nats-server.conf"  # sync_interval: always
DEMO_CATALOG = ROOT / "infra" / "catalog" / "demo.yaml"


def _kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)


@dataclass
class NatsNode:
    name: str
    port: int
    cluster_port: int
    store: Path
    state: Path
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


@dataclass
class Lab:
    """One private world. `nats_nodes` has one node, or three for a cluster."""

    root: Path
    catalog: Path = DEMO_CATALOG
    cluster: bool = False
    nats_nodes: list[NatsNode] = field(default_factory=list)
    pg: devenv.PostgresServer | None = None
    pg_port: int = 0
    database_url: str = ""
    services: dict[str, subprocess.Popen] = field(default_factory=dict)
    started: list[subprocess.Popen] = field(default_factory=list)  # everything, for close()
    faults: list[str] = field(default_factory=list)
    env_extra: dict[str, str] = field(default_factory=dict)
    restarts: int = 0
    cpu_while_nats_down: float = 0.0  # the busiest service's share of a core while NATS was away

    # -- NATS --------------------------------------------------------------------------------

    @property
    def nats_url(self) -> str:
        return ",".join(node.url for node in self.nats_nodes)

    def start_nats(self) -> None:
        count = 3 if self.cluster else 1
        for i in range(count):
            name = f"n{i}"
            state = self.root / "nats" / name
            state.mkdir(parents=True, exist_ok=True)
            node = NatsNode(name, devenv.free_port(), devenv.free_port(), state / "store", state)
            self.nats_nodes.append(node)
        for node in self.nats_nodes:
            self._spawn_nats(node)
        for node in self.nats_nodes:
            self._wait_port(node.port, f"nats-server {node.name}")

    def _nats_config(self, node: NatsNode) -> Path:
        if not self.cluster:
            return NATS_CONFIG
        routes = ", ".join(f'"nats://127.0.0.1:{n.cluster_port}"' for n in self.nats_nodes if n is not node)
        text = NATS_CONFIG.read_text() + (
            f'\nserver_name: "{node.name}"\n'
            f'cluster {{\n  name: "lt-faults"\n  listen: "127.0.0.1:{node.cluster_port}"\n  routes: [{routes}]\n}}\n'
        )
        path = node.state / "nats.conf"
        path.write_text(text)
        return path

    def _spawn_nats(self, node: NatsNode) -> None:
        node.store.mkdir(parents=True, exist_ok=True)
        cmd = [
            devenv.nats_server_binary(),
            "-c",
            str(self._nats_config(node)),
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(node.port),
            "-sd",
            str(node.store),
            "-l",
            str(node.state / "nats.log"),
        ]
        with open(node.state / "nats.stderr", "ab") as err:
            node.proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
            )
        self.started.append(node.proc)

    def kill_nats(self, node: NatsNode) -> None:
        assert node.proc is not None
        _kill_group(node.proc)
        node.proc = None

    def restart_nats(self, node: NatsNode | None = None, down_for: float = 1.0) -> None:
        """SIGKILL the server and start it again on the same port and the same store."""
        node = node or self.nats_nodes[0]
        self.kill_nats(node)
        time.sleep(min(1.0, down_for / 2))  # the services notice
        before, began = self.cpu_seconds(), time.monotonic()
        time.sleep(max(0.0, down_for - min(1.0, down_for / 2)))
        after, spent = self.cpu_seconds(), time.monotonic() - began
        share = {n: (after[n] - before[n]) / spent for n in before if n in after}
        self.cpu_while_nats_down = max([*share.values(), self.cpu_while_nats_down])
        self._spawn_nats(node)
        self._wait_port(node.port, f"nats-server {node.name}")
        self.faults.append(f"nats-server {node.name} killed (SIGKILL) and restarted on its store")

    # -- PostgreSQL --------------------------------------------------------------------------

    def start_postgres(self) -> None:
        self.pg = devenv.start_postgres(self.root / "pg", port=self.pg_port or None)
        self.pg_port = int(self.pg.dsn.rsplit(":", 1)[1].split("/")[0])
        if not self.database_url:
            self.database_url = asyncio.run(devenv.create_database(self.pg.dsn, "lienthong"))

    def crash_postgres(self, down_for: float = 1.0) -> None:
        """An immediate shutdown (no checkpoint: crash recovery at the next start), then a start."""
        assert self.pg is not None
        devenv._pg(self.pg, "pg_ctl", "-D", str(self.pg.data_dir), "-m", "immediate", "-w", "stop", check=False)
        time.sleep(down_for)
        self.start_postgres()
        self.faults.append("postgres crashed (immediate stop) and restarted")

    # -- services ----------------------------------------------------------------------------

    def service_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
        env.update(
            NATS_URL=self.nats_url,
            DATABASE_URL=self.database_url,
            LIENTHONG_CATALOG=str(self.catalog),
            LIENTHONG_CLOCK="simulated",
            PYTHONUNBUFFERED="1",
            OTEL_TRACES_EXPORTER="none",
            OTEL_METRICS_EXPORTER="none",
            OTEL_LOGS_EXPORTER="none",
        )
        env.update(self.env_extra)
        return env

    def log(self, name: str) -> Path:
        return self.root / "logs" / f"{name}.log"

    def start_service(self, name: str, wait: float = 60.0) -> None:
        log = self.log(name)
        log.parent.mkdir(parents=True, exist_ok=True)
        offset = log.stat().st_size if log.exists() else 0
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", f"services.{name}"],
                cwd=ROOT,
                env=self.service_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.started.append(proc)
        self.services[name] = proc
        deadline = time.monotonic() + wait
        while "started successfully" not in _tail(log, offset):
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited at start:\n{_tail(log, offset)[-3000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{_tail(log, offset)[-3000:]}")
            time.sleep(0.05)

    def start_services(self) -> None:
        for name in SERVICES:
            self.start_service(name)

    def kill_service(self, name: str, down_for: float = 0.5) -> None:
        """`kill -9` the service, then start it again."""
        _kill_group(self.services[name])
        time.sleep(down_for)
        self.restarts += 1
        self.start_service(name)
        self.faults.append(f"{name} killed (kill -9) and restarted")

    def stop_services(self) -> None:
        for proc in self.services.values():
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
        for proc in self.services.values():
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                _kill_group(proc)

    def cpu_seconds(self) -> dict[str, float]:
        """User + system CPU seconds of each running service process."""
        used = {name: devenv.cpu_seconds(proc.pid) for name, proc in self.services.items()}
        return {name: seconds for name, seconds in used.items() if seconds == seconds}  # gone: left out

    def logs_text(self) -> str:
        return "\n".join(self.log(n).read_text(errors="replace") for n in SERVICES if self.log(n).exists())

    # -- whole lab ---------------------------------------------------------------------------

    def start_servers(self) -> Lab:
        self.root.mkdir(parents=True, exist_ok=True)
        self.start_nats()
        self.start_postgres()
        return self

    def start(self) -> Lab:
        self.start_servers()
        asyncio.run(self.wait_jetstream())
        self.start_services()
        return self

    def close(self) -> None:
        """Kill everything this lab started (services first), and the embedded PostgreSQL."""
        for proc in reversed(self.started):
            if proc.poll() is None:
                _kill_group(proc)
        if self.pg is not None:
            with contextlib.suppress(Exception):
                self.pg.stop()

    def alive(self) -> list[int]:
        """Pids of processes the lab started that still run (should be [] after close())."""
        pids = [p.pid for p in self.started if p.poll() is None]
        if self.pg is not None and self.pg.pid and "postgres" in devenv._cmdline(self.pg.pid):
            pids.append(self.pg.pid)
        return pids

    @staticmethod
    def _wait_port(port: int, what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not devenv._port_open(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"{what} did not listen on {port}")
            time.sleep(0.05)

    async def wait_jetstream(self, timeout: float = 60.0) -> None:
        """Until JetStream answers (a cluster first elects its meta leader)."""
        nc = await nats.connect(servers=nats_servers(self.nats_url), connect_timeout=5)
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    await nc.jetstream().account_info()
                    return
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    await asyncio.sleep(0.2)
        finally:
            await nc.close()

    def node(self, server_name: str) -> NatsNode:
        return next(n for n in self.nats_nodes if n.name == server_name)

    async def busy(self, last_tick: datetime | None) -> bool:
        """Work the streams do not show yet, read from the database: the deadline service has not
        released the last tick (saved in deadline.clock) or still has due timers to fire there, an
        outbox row waits for its relay, or the postal dispatcher holds back a delivery order (it
        retries after a back-off when intake, NATS or the database was away). Also True while the
        database cannot answer."""
        try:
            conn = await asyncpg.connect(self.database_url, timeout=5)
        except Exception:
            return True
        try:
            row = await conn.fetchrow(BUSY_QUERY)
            behind = last_tick is not None and (row["clock"] is None or row["clock"] < last_tick)
            return behind or bool(row["due"] or row["unpublished"] or row["orders"])
        except Exception:
            return True
        finally:
            with contextlib.suppress(Exception):
                await conn.close()


BUSY_QUERY = """
SELECT (SELECT now FROM deadline.clock) AS clock,
       (SELECT count(*) FROM deadline.timers
         WHERE fired_at IS NULL AND fire_at <= (SELECT now FROM deadline.clock)) AS due,
       (SELECT count(*) FROM intake.outbox WHERE published_at IS NULL)
     + (SELECT count(*) FROM routing.outbox WHERE published_at IS NULL)
     + (SELECT count(*) FROM deadline.outbox WHERE published_at IS NULL)
     + (SELECT count(*) FROM postal.outbox WHERE published_at IS NULL) AS unpublished,
       (SELECT count(*) FROM postal.shipments WHERE order_pending AND direction = 'delivery') AS orders
"""


def _tail(path: Path, offset: int) -> str:
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def dump(obj: object) -> str:
    return json.dumps(obj, default=str, sort_keys=True, ensure_ascii=False)
