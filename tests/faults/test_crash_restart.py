"""Crashes and restarts while the simulator drives a district: nothing lost, nothing applied twice.

The same seed is played twice on two private labs (nats-server with `sync_interval: always` on
its own store, an embedded PostgreSQL, the four services as processes): once without faults,
once while each service is killed with `kill -9` and restarted, the nats-server is killed and
restarted on the same store, and PostgreSQL crashes (immediate stop) and restarts. Afterwards
every dossier must be in exactly the state of the fault-free run (routing's control slip, the
deadline service's verdicts, facts and alerts, the post's shipments, every service's outbound
messages), no fact or message may be there twice, and the lateness report must be the same.

`make test` plays a small district (LIENTHONG_FAULT_DOSSIERS, default 150); `make test-faults`
a few thousand dossiers.
"""

from __future__ import annotations

import asyncio
import json
import os
import time

import nats
import pytest

from shared.catalog import load_catalog
from shared.contracts import subjects
from shared.settings import nats_servers
from shared.sim.cli import config_for
from tests.faults.driver import drive
from tests.faults.lab import DEMO_CATALOG, SERVICES, Lab
from tests.faults.snapshot import compare, report_totals, take

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

DOSSIERS = int(os.environ.get("LIENTHONG_FAULT_DOSSIERS", "150"))
WEEKS = float(os.environ.get("LIENTHONG_FAULT_WEEKS", "1" if DOSSIERS <= 300 else "3"))
SEED = 9090


def scenario():
    catalog = load_catalog(DEMO_CATALOG)
    return catalog, config_for(catalog.calendar, dossiers=DOSSIERS, seed=SEED, weeks=WEEKS)


def faults_for(lab: Lab) -> list:
    def kill(name: str):
        return lambda: lab.kill_service(name)

    def nats_restart():
        lab.restart_nats(down_for=3.0)

    return [*(kill(name) for name in SERVICES), nats_restart, lab.crash_postgres]


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


@pytest.mark.timeout(int(os.environ.get("LIENTHONG_FAULT_TIMEOUT", "3600")))
async def test_crashes_and_restarts_lose_and_duplicate_nothing(make_lab, capsys):
    catalog, config = scenario()

    began = time.monotonic()
    calm, stormy = await make_lab("calm"), await make_lab("stormy")
    faults = faults_for(stormy)

    async def play(lab: Lab, faults: list):
        result, _ = await drive(lab.nats_url, catalog, config, faults=faults, busy=lab.postal_orders_pending)
        seconds = time.monotonic() - began
        return result, await take(lab.database_url), await lateness_report(lab, config.start), seconds

    # both runs at once: they wait on the services far more than they compute
    (
        (calm_result, calm_snapshot, calm_report, calm_seconds),
        (
            stormy_result,
            stormy_snapshot,
            stormy_report,
            stormy_seconds,
        ),
    ) = await asyncio.gather(play(calm, []), play(stormy, faults))

    result = compare(calm_snapshot, stormy_snapshot)
    with capsys.disabled():
        print(
            f"\n[faults] dossiers driven: {len(stormy_result.scripts)} (fault-free run {len(calm_result.scripts)}); "
            f"events published: {stormy_result.published} (fault-free {calm_result.published}); "
            f"clock ticks: {stormy_result.ticks}; faults injected: {len(stormy.faults)}"
            f" ({'; '.join(stormy.faults)})\n"
            f"[faults] dossiers compared: {result.dossiers}; differing: {len(result.differing)}; "
            f"lost = {result.lost}; duplicated = {result.duplicated}; "
            f"stuck outbox rows = {stormy_snapshot.unpublished}; report totals equal: {calm_report == stormy_report}\n"
            f"[faults] busiest service while NATS was down: {stormy.cpu_while_nats_down:.0%} of a core\n"
            f"[faults] both runs side by side: fault-free {calm_seconds:.0f} s, faulty {stormy_seconds:.0f} s"
        )
    if result.differing:  # for the post-mortem: both runs' view of every differing dossier
        detail = {
            key: {
                "fault_free": calm_snapshot.dossiers.get(key),
                "faulty": stormy_snapshot.dossiers.get(key),
                "fault_free_rows": sorted(map(str, calm_snapshot.rows.get(key, {}).items())),
                "faulty_rows": sorted(map(str, stormy_snapshot.rows.get(key, {}).items())),
            }
            for key in result.differing
        }
        path = stormy.root / "differences.json"
        path.write_text(json.dumps(detail, indent=1, default=str, ensure_ascii=False))
        with capsys.disabled():
            print(f"[faults] differences: {path}\n" + "\n".join(result.examples))
    assert len(stormy.faults) == len(faults), stormy.faults
    assert result.dossiers == DOSSIERS
    assert (result.lost, result.duplicated) == (0, 0), result.examples
    assert not result.differing, result.examples
    assert stormy_snapshot.unpublished == 0 and calm_snapshot.unpublished == 0
    assert stormy_snapshot.inbox_duplicates == 0
    assert stormy_snapshot.dead_letters == calm_snapshot.dead_letters
    assert calm_report == stormy_report
    assert not stormy_result.refused_inputs, stormy_result.refused_inputs[:3]
    assert "Traceback" not in calm.logs_text()
    assert stormy.cpu_while_nats_down < 0.10, "a service spins while NATS is away"
