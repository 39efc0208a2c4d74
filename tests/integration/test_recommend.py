"""`lienthong recommend` against the running deadline service: lt.rpc.deadline.recommend replays
the stored facts, and the command prints the budgets and the replayed rates and writes the fragment."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg
import pytest
import yaml

from services.deadline.app import build_runtime
from services.deadline.recommend import recommend
from services.deadline.timeline import build_timeline
from shared import cli
from shared.contracts import subjects
from tests.harness import running, settings_for
from tests.integration.test_deadline import Env
from tests.support import collect, connect
from tests.unit.deadline.common import CALENDAR, CATALOG, THREE_LEVELS, vn
from tests.unit.deadline.test_recommend import finished, request

pytestmark = pytest.mark.integration
STORIES = [finished(f"T01.00.01.X99-260302-{n:04d}", district_days_late=n % 3) for n in range(1, 7)]


@pytest.fixture
async def served(fresh_streams: str, database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NATS_URL", fresh_streams)
    async with running(build_runtime, settings_for(fresh_streams, database_url, clock="simulated")) as runtime:
        nc, js = await connect(fresh_streams)
        db = await asyncpg.connect(database_url)
        env = Env(runtime, nc, js, db, await collect(nc, "lt.evt.deadline.>"), await collect(nc, "lt.out.agency.>"))
        for story in STORIES:
            await env.publish(story)
        for story in STORIES:
            await env.settled(story.code, status="result_ready")
        await env.tick(vn(2026, 3, 20, 9))
        yield env
        await db.close()
        await nc.close()


async def ask(env: Env, body: dict) -> dict:
    reply = await env.nc.request(subjects.RPC_DEADLINE_RECOMMEND, json.dumps(body).encode(), timeout=10)
    return json.loads(reply.data)


async def test_the_service_replays_the_stored_facts_like_the_pure_function(served):
    answer = await ask(served, {"procedure": THREE_LEVELS, "percentile": 80})
    assert answer["ok"] is True
    r = answer["recommendation"]
    expected = recommend([build_timeline(s.facts(), CALENDAR) for s in STORIES], request(80), CATALOG)
    assert r == json.loads(json.dumps(expected))
    assert [s["proposed_days"] for s in r["stages"]] == [0.5, 6.5, 2.0, 1.0]
    assert r["stage_on_time_rate"] == {"now": 0.7778, "proposed": 1.0}
    median = (await ask(served, {"procedure": THREE_LEVELS, "percentile": 50}))["recommendation"]
    assert median["stages"][1]["observed_days"] == 5.0


async def test_the_window_and_bad_requests_get_precise_answers(served):
    assert await ask(served, {"procedure": THREE_LEVELS, "from": "2026-04-01"}) == {
        "ok": False,
        "error": "procedure 9.000001: no finished dossier between 2026-04-01 and … to learn from",
    }
    assert await ask(served, {"procedure": THREE_LEVELS, "percentile": 101}) == {
        "ok": False,
        "error": "percentile: expected a number from 1 to 100, got 101",
    }
    assert await ask(served, {"procedure": "9.999999"}) == {
        "ok": False,
        "error": "procedure: '9.999999' is not in the catalog",
    }


async def test_the_command_prints_budgets_and_rates_and_writes_a_reviewable_fragment(
    served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    out = tmp_path / "fragment.yaml"
    argv = ["recommend", "--procedure", THREE_LEVELS, "--percentile", "80", "--out", str(out)]
    assert await asyncio.to_thread(cli.main, argv) == 0
    text = capsys.readouterr().out
    assert "Đề xuất định mức (budget proposal) · thủ tục 9.000001" in text
    assert "Phòng Lao động huyện Thử" in text
    assert "hiện nay (now) 77,8 % → với định mức đề xuất (replayed) 100 %" in text
    assert f"Đã ghi (wrote) {out}" in text
    entry = yaml.safe_load(out.read_text(encoding="utf-8"))["procedures"][0]
    assert entry["code"] == THREE_LEVELS and [s["working_days"] for s in entry["stages"]] == [0.5, 6.5, 2.0, 1.0]
    assert await asyncio.to_thread(cli.main, ["recommend", "--procedure", "9.000002"]) == 2
    assert "no finished dossier" in capsys.readouterr().err
