"""End-to-end: the four services as separate processes (`python -m services.<name>`) on a private
nats-server and a fresh, empty database, driven only through the public contract."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import nats
import pytest

from shared.contracts.streams import STREAMS
from tests.conftest import ROOT, database_dsn
from tests.otlp_receiver import OtlpReceiver

SERVICES = ("intake", "routing", "deadline", "postal")
CATALOG = ROOT / "tests" / "catalogs" / "basic.yaml"


@dataclass
class RunningServices:
    nats_url: str
    database_url: str
    logs: dict[str, Path]
    processes: dict[str, subprocess.Popen]

    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs.values())


def start_services(
    env: dict[str, str], log_dir: Path, names: tuple[str, ...] = SERVICES, log_suffix: str = ""
) -> RunningServices:
    logs, processes = {}, {}
    for name in names:
        logs[name] = log_dir / f"{name}{log_suffix}.log"
        processes[name] = subprocess.Popen(
            [sys.executable, "-m", f"services.{name}"],
            cwd=ROOT,
            env=env,
            stdout=logs[name].open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 30
    for name in names:
        while "started successfully" not in logs[name].read_text(errors="replace"):
            if processes[name].poll() is not None:
                raise RuntimeError(f"{name} exited at start:\n{logs[name].read_text(errors='replace')}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start:\n{logs[name].read_text(errors='replace')}")
            time.sleep(0.05)
    return RunningServices(env["NATS_URL"], env["DATABASE_URL"], logs, processes)


def stop_services(running: RunningServices) -> None:
    for process in running.processes.values():
        process.terminate()
    for process in running.processes.values():
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


async def reset_streams(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    for config in STREAMS:
        try:
            await js.delete_stream(config.name)
        except nats.js.errors.NotFoundError:
            pass
    await nc.close()


@pytest.fixture(scope="module")
async def e2e_database(pg_server_dsn: str) -> AsyncIterator[str]:
    """An empty database: the services create their schemas themselves at start."""
    name = f"lt_e2e_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield database_dsn(pg_server_dsn, name)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def service_env(nats_url: str, database_url: str, catalog: Path = CATALOG, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(
        NATS_URL=nats_url,
        DATABASE_URL=database_url,
        LIENTHONG_CATALOG=str(catalog),
        LIENTHONG_CLOCK="simulated",
        PYTHONUNBUFFERED="1",
        OTEL_TRACES_EXPORTER="none",
    )
    env.update(extra)
    return env


@pytest.fixture(scope="module")
async def services(
    nats_url: str, e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningServices]:
    await reset_streams(nats_url)
    running = start_services(service_env(nats_url, e2e_database), tmp_path_factory.mktemp("e2e-logs"))
    try:
        yield running
    finally:
        stop_services(running)


@pytest.fixture
def service_logs(services: RunningServices) -> Iterator[RunningServices]:
    yield services


@pytest.fixture(scope="module")
async def demo_services(
    nats_url: str, e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[RunningServices]:
    """The four services on the demo catalog (infra/catalog/demo.yaml), for the simulator."""
    await reset_streams(nats_url)
    env = service_env(nats_url, e2e_database, catalog=ROOT / "infra" / "catalog" / "demo.yaml")
    running = start_services(env, tmp_path_factory.mktemp("e2e-demo-logs"))
    try:
        yield running
    finally:
        stop_services(running)


@dataclass
class TracedServices:
    """The four services exporting their spans by OTLP/HTTP to an in-test receiver."""

    running: RunningServices
    receiver: OtlpReceiver
    env: dict[str, str]
    log_dir: Path
    restarts: int = 0

    def restart(self, name: str) -> None:
        """Stop one service (SIGTERM: it flushes its spans) and start it again; both logs are kept."""
        process = self.running.processes[name]
        process.terminate()
        process.wait(15)
        self.restarts += 1
        again = start_services(self.env, self.log_dir, (name,), log_suffix=f".{self.restarts}")
        self.running.processes[name] = again.processes[name]
        self.running.logs[f"{name}.{self.restarts}"] = again.logs[name]


def traced_env(nats_url: str, database_url: str, receiver: OtlpReceiver, catalog: Path = CATALOG) -> dict[str, str]:
    """The standard OTEL_* variables, pointed at `receiver` (a short batch delay, for the tests)."""
    return service_env(
        nats_url,
        database_url,
        catalog=catalog,
        OTEL_TRACES_EXPORTER="otlp",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL="http/protobuf",
        OTEL_METRICS_EXPORTER="otlp",
        OTEL_LOGS_EXPORTER="otlp",
        OTEL_BSP_SCHEDULE_DELAY="200",
    )


@pytest.fixture(scope="module")
async def traced_services(
    nats_url: str, e2e_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[TracedServices]:
    """The four services on the tests' catalog, exporting spans to a real OTLP/HTTP receiver."""
    await reset_streams(nats_url)
    receiver = OtlpReceiver().start()
    env = traced_env(nats_url, e2e_database, receiver)
    log_dir = tmp_path_factory.mktemp("e2e-traced-logs")
    traced = TracedServices(start_services(env, log_dir), receiver, env, log_dir)
    try:
        yield traced
    finally:
        stop_services(traced.running)
        receiver.stop()
