"""A 3-node NATS cluster on loopback with R3 streams (LIENTHONG_STREAM_REPLICAS=3, NATS_URL naming
the three servers): the node leading LT_EVT is killed (SIGKILL, and left down) while the simulator
drives a district, and nothing is lost. The streams hold every fact and outbound message the
services' outboxes say were acknowledged, and every inbound event the driver had acknowledged,
each once; and every dossier ends in exactly the state a fault-free single-server run of the same
seed reaches (tests/faults/snapshot.py).
"""

from __future__ import annotations

import asyncio
import os
import time

import asyncpg
import nats
import pytest

from shared.catalog import load_catalog
from shared.contracts import subjects
from shared.settings import nats_servers
from shared.sim.cli import config_for
from tests.faults.driver import drive
from tests.faults.lab import DEMO_CATALOG, Lab
from tests.faults.snapshot import compare, take

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

DOSSIERS = int(os.environ.get("LIENTHONG_CLUSTER_DOSSIERS", "60"))


async def stream_info(lab: Lab, name: str, subjects_filter: str | None = None):
    nc = await nats.connect(servers=nats_servers(lab.nats_url), connect_timeout=5)
    try:
        return await nc.jetstream().stream_info(name, subjects_filter=subjects_filter)
    finally:
        await nc.close()


@pytest.mark.timeout(1800)
async def test_killing_the_stream_leader_of_a_three_node_cluster_loses_nothing(make_lab, capsys):
    catalog = load_catalog(DEMO_CATALOG)
    config = config_for(catalog.calendar, dossiers=DOSSIERS, seed=4242, weeks=1)
    calm = await make_lab("calm-single")
    lab = await make_lab("cluster", cluster=True, env_extra={"LIENTHONG_STREAM_REPLICAS": "3"})
    for name in ("LT_IN", "LT_EVT", "LT_OUT"):
        info = await stream_info(lab, name)
        assert info.config.num_replicas == 3 and len(info.cluster.replicas) == 2, info.cluster
    killed: list[str] = []

    def kill_the_leader() -> None:
        leader = asyncio.run(stream_info(lab, "LT_EVT")).cluster.leader
        lab.kill_nats(lab.node(leader))
        lab.faults.append(f"nats-server {leader} (LT_EVT leader) killed with SIGKILL, left down")
        killed.append(leader)

    began = time.monotonic()
    (_, calm_sim), (result, simulation) = await asyncio.gather(
        drive(calm.nats_url, catalog, config, faults=[], busy=calm.postal_orders_pending),
        drive(lab.nats_url, catalog, config, faults=[kill_the_leader], busy=lab.postal_orders_pending),
    )
    seconds = time.monotonic() - began
    assert killed, "the leader was never killed"

    conn = await asyncpg.connect(lab.database_url)
    try:
        published: dict[str, int] = {"lt.evt.": 0, "lt.out.": 0}
        for schema in ("intake", "routing", "deadline", "postal"):
            assert not await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")
            for prefix in published:
                published[prefix] += await conn.fetchval(
                    f"SELECT count(DISTINCT msg_id) FROM {schema}.outbox WHERE subject LIKE $1", prefix + "%"
                )
    finally:
        await conn.close()
    infos = {name: await stream_info(lab, name) for name in ("LT_IN", "LT_EVT", "LT_OUT")}
    orders = await stream_info(lab, "LT_OUT", subjects.out_postal("delivery_order"))
    orders_in_stream = sum((orders.state.subjects or {}).values())
    new_leader = infos["LT_EVT"].cluster.leader
    comparison = compare(await take(calm.database_url), await take(lab.database_url))
    with capsys.disabled():
        print(
            f"\n[cluster] dossiers driven: {len(result.scripts)}; "
            f"killed: {killed[0]} (LT_EVT leader, now {new_leader}); "
            f"LT_IN {infos['LT_IN'].state.messages} msgs for {len(simulation.inbound_ids)} acknowledged events; "
            f"LT_EVT {infos['LT_EVT'].state.messages} for {published['lt.evt.']} facts in the outboxes; "
            f"LT_OUT {infos['LT_OUT'].state.messages} for {published['lt.out.']} outbox rows + {orders_in_stream} "
            f"delivery orders ({len(simulation.orders_seen)} read by the post); "
            f"against the fault-free single-server run: differing {len(comparison.differing)}, "
            f"lost = {comparison.lost}, duplicated = {comparison.duplicated}; {seconds:.0f} s"
        )
    assert new_leader != killed[0]
    assert infos["LT_IN"].state.messages == len(simulation.inbound_ids)
    assert infos["LT_EVT"].state.messages == published["lt.evt."]
    assert infos["LT_OUT"].state.messages == published["lt.out."] + orders_in_stream
    assert orders_in_stream == len(simulation.orders_seen) == len(calm_sim.orders_seen)
    assert (comparison.lost, comparison.duplicated) == (0, 0), comparison.examples
    assert not comparison.differing, comparison.examples
    assert not result.refused_inputs, result.refused_inputs[:3]
