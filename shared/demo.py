"""`make demo`: the whole system on one machine, with no manual step.

Starts an embedded nats-server and PostgreSQL when NATS_URL / DATABASE_URL are not set (on free
loopback ports; never the machine's 4222/5432), runs the four services as separate processes on
the simulated clock, drives a simulated district through them, checks the system's blamed stages
against the simulator's ground truth, prints the lateness report, and stops everything it started.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
import nats

from shared import devenv
from shared.catalog import default_catalog_path, load_catalog
from shared.contracts.streams import STREAMS
from shared.settings import nats_servers
from shared.sim import cli as sim_cli

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("intake", "routing", "deadline", "postal")


def start_service(name: str, env: dict[str, str], log_dir: Path) -> subprocess.Popen:
    log = (log_dir / f"{name}.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", f"services.{name}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def wait_started(processes: dict[str, subprocess.Popen], log_dir: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for name, process in processes.items():
        log = log_dir / f"{name}.log"
        while "started successfully" not in log.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"service {name} did not start; its log:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)


async def reset_streams(nats_url: str) -> None:
    nc = await nats.connect(nats_servers(nats_url))
    for config in STREAMS:
        try:
            await nc.jetstream().delete_stream(config.name)
        except nats.js.errors.NotFoundError:
            pass
    await nc.close()


async def run_demo(args: argparse.Namespace, state: Path) -> int:
    started_at = time.monotonic()
    started: list = []
    own_postgres = False
    nats_url = os.environ.get("NATS_URL")
    server_dsn = os.environ.get("DATABASE_URL")
    if not nats_url:
        server = devenv.start_nats(state / "nats")
        started.append(server)
        nats_url = server.url
        print(f"• nats-server nhúng (embedded): {nats_url}")
    else:
        print(f"• NATS: {nats_url} (the demo resets the LT_IN, LT_EVT and LT_OUT streams)")
    if not server_dsn:
        pg = devenv.start_postgres(state / "pg")
        started.append(pg)
        own_postgres = True
        server_dsn = pg.dsn
        print(f"• PostgreSQL nhúng (embedded): {server_dsn}")
    db_name = f"lienthong_demo_{uuid.uuid4().hex[:8]}"
    database_url = await devenv.create_database(server_dsn, db_name)
    await reset_streams(nats_url)
    env = {k: v for k, v in os.environ.items()}
    env.update(NATS_URL=nats_url, DATABASE_URL=database_url, LIENTHONG_CLOCK="simulated", PYTHONUNBUFFERED="1")
    env.setdefault("LIENTHONG_CATALOG", str(default_catalog_path()))
    log_dir = state / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = {name: start_service(name, env, log_dir) for name in SERVICES}
    try:
        wait_started(processes, log_dir)
        print(f"• 4 dịch vụ đang chạy (services running): {', '.join(SERVICES)}; logs in {log_dir}")
        catalog = load_catalog(env["LIENTHONG_CATALOG"])
        config = sim_cli.config_for(catalog.calendar, dossiers=args.dossiers, seed=args.seed, weeks=args.weeks)
        checked = await sim_cli.simulate_and_check(nats_url, catalog, config, truth_out=state / "sim-truth.json")
        wall = time.monotonic() - started_at
        print(f"\n• make demo: {wall:.0f} s từ đầu đến cuối (end to end, wall time)")
        return 0 if sim_cli.passed(checked.agreement, 1.0, 1.0) else 1
    finally:
        for process in processes.values():
            process.send_signal(signal.SIGTERM)
        for process in processes.values():
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
        for server in reversed(started):
            server.stop()
        if not own_postgres:  # a server we did not start keeps nothing of the demo
            admin = await asyncpg.connect(server_dsn)
            await admin.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
            await admin.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.demo", description=__doc__)
    parser.add_argument("--dossiers", type=int, default=int(os.environ.get("DEMO_DOSSIERS", "1000")))
    parser.add_argument("--seed", type=int, default=sim_cli.DEFAULT_SEED)
    parser.add_argument("--weeks", type=float, default=sim_cli.DEFAULT_WEEKS, help="calendar weeks of arrivals")
    args = parser.parse_args(argv)
    state = Path(tempfile.mkdtemp(prefix="lienthong-demo-"))
    try:
        code = asyncio.run(run_demo(args, state))
    finally:
        shutil.rmtree(state / "nats", ignore_errors=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
