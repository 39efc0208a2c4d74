"""The fault lab leaves nothing behind: closing it kills every process it started (services,
nats-servers, PostgreSQL), also after a test failed half-way with a service being restarted."""

from __future__ import annotations

import asyncio
import os

import pytest

from tests.faults.lab import Lab

pytestmark = [pytest.mark.e2e, pytest.mark.faults]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is gone for our purpose
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.timeout(120)
async def test_closing_a_lab_kills_everything_it_started(tmp_path):
    lab = Lab(tmp_path / "lab")
    try:
        await asyncio.to_thread(lab.start)
        await asyncio.to_thread(lab.kill_service, "routing")  # a restarted service is tracked too
        pids = [p.pid for p in lab.started] + [lab.pg.pid]
        assert len(pids) == 1 + 4 + 1 + 1  # nats-server, four services, routing again, postgres
        assert all(_running(pid) for pid in (*[p.pid for p in lab.services.values()], lab.pg.pid))
        raise RuntimeError("a test failing half-way")
    except RuntimeError:
        pass
    finally:
        await asyncio.to_thread(lab.close)
    assert lab.alive() == []
    assert not [pid for pid in pids if _running(pid)]
