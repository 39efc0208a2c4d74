"""Regression: with their durable consumers gone (the nats-server came back on a lost store), every
fetch fails at once with ServiceUnavailableError and FastStream's supervisor restarts the pull
loop with no pause: each service burnt about a quarter of a core (measured 23-26 %) until it was
restarted. shared/nats_compat.py now pauses before re-raising (0.1 s doubling to 2 s)."""

from __future__ import annotations

import asyncio
import shutil
import time

import pytest

from tests.faults.lab import Lab

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


def busiest_share_after_store_loss(lab: Lab) -> float:
    node = lab.nats_nodes[0]
    lab.kill_nats(node)
    shutil.rmtree(node.store)
    lab._spawn_nats(node)
    lab._wait_port(node.port, "nats-server")
    time.sleep(3)  # the services reconnect and their fetches start failing
    before, began = lab.cpu_seconds(), time.monotonic()
    time.sleep(5)
    after, spent = lab.cpu_seconds(), time.monotonic() - began
    return max((after[name] - before[name]) / spent for name in before)


@pytest.mark.timeout(120)
async def test_services_do_not_spin_when_their_consumers_are_gone(make_lab, capsys):
    lab = await make_lab("store-loss")
    share = await asyncio.to_thread(busiest_share_after_store_loss, lab)
    with capsys.disabled():
        print(f"\n[nats-away] busiest service after a store loss: {share:.1%} of a core (was ~25 % without back-off)")
    assert share < 0.05
    assert "fetch failed (ServiceUnavailableError" in lab.logs_text()
