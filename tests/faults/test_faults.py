"""Crashes, restarts and a lost cluster node while the simulator drives a district: nothing lost,
nothing applied twice.

One seed is played on three private labs side by side (each: nats-server with `sync_interval:
always` on its own store, an embedded PostgreSQL, the four services as processes):

- calm: no faults; the reference.
- stormy: each service is killed with `kill -9` and restarted, the nats-server is killed
  (SIGKILL) and restarted on the same store, PostgreSQL crashes (immediate stop) and restarts.
- cluster: a 3-node NATS cluster on loopback with R3 streams (LIENTHONG_STREAM_REPLICAS=3,
  NATS_URL naming the three servers); the node leading LT_EVT is killed mid-run and left down.

Afterwards every dossier of the stormy and the cluster runs must be in exactly the state of the
calm run (routing's control slip, the deadline service's verdicts, facts and alerts, the post's
shipments, every service's outbound messages; tests/faults/snapshot.py), nothing may be there
twice, no outbox row may stay unpublished, and the lateness report must be the same.

`make test` plays a small district (LIENTHONG_FAULT_DOSSIERS, default 50); `make test-faults`
a few thousand dossiers.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import nats
import pytest

from shared.catalog import load_catalog
from shared.contracts import subjects
from shared.settings import nats_servers
from shared.sim.cli import config_for
from shared.sim.driver import SimResult
from tests.faults.driver import Fault, ResilientSimulation, drive
from tests.faults.lab import DEMO_CATALOG, SERVICES, Lab
from tests.faults.snapshot import Comparison, Snapshot, compare, report_totals, take

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

DOSSIERS = int(os.environ.get("LIENTHONG_FAULT_DOSSIERS", "50"))
WEEKS = float(os.environ.get("LIENTHONG_FAULT_WEEKS", "1" if DOSSIERS <= 300 else "3"))
SEED = 9090
TIMEOUT = int(os.environ.get("LIENTHONG_FAULT_TIMEOUT", "5400"))


@dataclass
class Run:
    lab: Lab
    result: SimResult
    simulation: ResilientSimulation
    snapshot: Snapshot
    report: dict[str, Any]
    seconds: float


def crashes(lab: Lab) -> list[Fault]:
    def kill(name: str) -> Fault:
        return lambda: lab.kill_service(name)

    def nats_restart() -> None:
        lab.restart_nats(down_for=3.0)

    return [*(kill(name) for name in SERVICES), nats_restart, lab.crash_postgres]


async def stream_info(lab: Lab, name: str, subjects_filter: str | None = None):
    nc = await nats.connect(servers=nats_servers(lab.nats_url), connect_timeout=5)
    try:
        return await nc.jetstream().stream_info(name, subjects_filter=subjects_filter)
    finally:
        await nc.close()


def lose_the_leader(lab: Lab) -> Fault:
    def kill() -> None:
        leader = asyncio.run(stream_info(lab, "LT_EVT")).cluster.leader
        lab.kill_nats(lab.node(leader))
        lab.faults.append(f"nats-server {leader} (the LT_EVT leader) killed with SIGKILL and left down")

    return kill


async def lateness_report(lab: Lab, start) -> dict:
    nc = await nats.connect(servers=nats_servers(lab.nats_url))
    try:
        request = {"from": start.date().isoformat(), "to": None, "procedure": None, "agency": None}
        reply = await nc.request(subjects.RPC_DEADLINE_REPORT, json.dumps(request).encode(), timeout=120)
    finally:
        await nc.close()
    answer = json.loads(reply.data)
    assert answer.get("ok"), answer
    return report_totals(answer["report"])


@pytest.fixture(scope="module")
async def district(make_lab) -> dict[str, Run]:
    catalog = load_catalog(DEMO_CATALOG)
    config = config_for(catalog.calendar, dossiers=DOSSIERS, seed=SEED, weeks=WEEKS)
    calm = await make_lab("calm")
    stormy = await make_lab("stormy")
    cluster = await make_lab("cluster", cluster=True, env_extra={"LIENTHONG_STREAM_REPLICAS": "3"})
    began = time.monotonic()

    async def play(lab: Lab, faults: list[Fault]) -> Run:
        result, simulation = await drive(lab.nats_url, catalog, config, faults, busy=lab.busy)
        seconds = time.monotonic() - began
        snapshot, report = await take(lab.database_url), await lateness_report(lab, config.start)
        return Run(lab, result, simulation, snapshot, report, seconds)

    # side by side: the runs wait on the services far more than they compute
    runs = await asyncio.gather(
        play(calm, []), play(stormy, crashes(stormy)), play(cluster, [lose_the_leader(cluster)])
    )
    return dict(zip(("calm", "stormy", "cluster"), runs, strict=True))


def explain(name: str, calm: Run, run: Run, comparison: Comparison, say) -> None:
    """Write both runs' view of every differing dossier next to the lab, for the post-mortem."""
    if not comparison.differing:
        return
    detail = {
        key: {
            "fault_free": calm.snapshot.dossiers.get(key),
            "faulty": run.snapshot.dossiers.get(key),
            "fault_free_rows": sorted(map(str, calm.snapshot.rows.get(key, {}).items())),
            "faulty_rows": sorted(map(str, run.snapshot.rows.get(key, {}).items())),
        }
        for key in comparison.differing
    }
    path = run.lab.root / "differences.json"
    path.write_text(json.dumps(detail, indent=1, default=str, ensure_ascii=False))
    say(f"[{name}] differences: {path}\n" + "\n".join(comparison.examples))


def assert_same_end(calm: Run, run: Run, comparison: Comparison) -> None:
    assert comparison.dossiers == DOSSIERS
    assert (comparison.lost, comparison.duplicated) == (0, 0), comparison.examples
    assert not comparison.differing, comparison.examples
    assert run.snapshot.unpublished == 0 and calm.snapshot.unpublished == 0, "an outbox is stuck"
    assert run.snapshot.inbox_duplicates == 0
    assert run.snapshot.dead_letters == calm.snapshot.dead_letters
    assert run.report == calm.report


@pytest.mark.timeout(TIMEOUT)
async def test_crashes_and_restarts_lose_and_duplicate_nothing(district, capsys):
    calm, stormy = district["calm"], district["stormy"]
    comparison = compare(calm.snapshot, stormy.snapshot)
    with capsys.disabled():
        say = print
        say(
            f"\n[faults] dossiers driven: {len(stormy.result.scripts)} (same seed without faults: "
            f"{len(calm.result.scripts)}); events published: {stormy.result.published} "
            f"(fault-free {calm.result.published}); clock ticks: {stormy.result.ticks}; "
            f"faults injected: {len(stormy.lab.faults)} ({'; '.join(stormy.lab.faults)})\n"
            f"[faults] dossiers compared: {comparison.dossiers}; differing: {len(comparison.differing)}; "
            f"lost = {comparison.lost}; duplicated = {comparison.duplicated}; "
            f"stuck outbox rows = {stormy.snapshot.unpublished}; report totals equal: {calm.report == stormy.report}\n"
            f"[faults] busiest service while NATS was down: {stormy.lab.cpu_while_nats_down:.0%} of a core\n"
            f"[faults] runs side by side: fault-free {calm.seconds:.0f} s, faulty {stormy.seconds:.0f} s"
        )
        explain("faults", calm, stormy, comparison, say)
    assert len(stormy.lab.faults) == len(SERVICES) + 2, stormy.lab.faults
    assert_same_end(calm, stormy, comparison)
    assert "Traceback" not in calm.lab.logs_text()
    assert stormy.lab.cpu_while_nats_down < 0.10, "a service spins while NATS is away"


@pytest.mark.timeout(TIMEOUT)
async def test_killing_the_stream_leader_of_a_three_node_cluster_loses_nothing(district, capsys):
    calm, run = district["calm"], district["cluster"]
    lab = run.lab
    infos = {name: await stream_info(lab, name) for name in ("LT_IN", "LT_EVT", "LT_OUT")}
    orders = await stream_info(lab, "LT_OUT", subjects.out_postal("delivery_order"))
    orders_in_stream = sum((orders.state.subjects or {}).values())
    conn = await asyncpg.connect(lab.database_url)
    try:
        published = {"lt.evt.": 0, "lt.out.": 0}
        for schema in SERVICES:
            for prefix in published:
                published[prefix] += await conn.fetchval(
                    f"SELECT count(DISTINCT msg_id) FROM {schema}.outbox WHERE subject LIKE $1 "
                    "AND published_at IS NOT NULL",
                    prefix + "%",
                )
    finally:
        await conn.close()
    comparison = compare(calm.snapshot, run.snapshot)
    with capsys.disabled():
        say = print
        say(
            f"\n[cluster] dossiers driven: {len(run.result.scripts)}; faults: {'; '.join(lab.faults)}; "
            f"LT_EVT leader now {infos['LT_EVT'].cluster.leader}\n"
            f"[cluster] LT_IN {infos['LT_IN'].state.messages} messages for {len(run.simulation.inbound_ids)} "
            f"acknowledged inbound events; LT_EVT {infos['LT_EVT'].state.messages} for {published['lt.evt.']} "
            f"published facts; LT_OUT {infos['LT_OUT'].state.messages} for {published['lt.out.']} outbox rows + "
            f"{orders_in_stream} delivery orders ({len(run.simulation.orders_seen)} read by the post)\n"
            f"[cluster] against the fault-free run: differing {len(comparison.differing)}, lost = {comparison.lost}, "
            f"duplicated = {comparison.duplicated}; report totals equal: {calm.report == run.report}; "
            f"{run.seconds:.0f} s"
        )
        explain("cluster", calm, run, comparison, say)
    assert len(lab.faults) == 1, "the leader was never killed"
    assert all(info.config.num_replicas == 3 for info in infos.values())
    assert infos["LT_EVT"].cluster.leader not in lab.faults[0]
    assert infos["LT_IN"].state.messages == len(run.simulation.inbound_ids)
    assert infos["LT_EVT"].state.messages == published["lt.evt."]
    assert infos["LT_OUT"].state.messages == published["lt.out."] + orders_in_stream
    assert orders_in_stream == len(run.simulation.orders_seen) == len(calm.simulation.orders_seen)
    assert_same_end(calm, run, comparison)
