"""explain and report over NATS request/reply, and the `lienthong` command asking the running service."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from services.deadline.app import build_runtime
from shared import cli
from shared.contracts import subjects
from tests.harness import running, settings_for
from tests.integration.test_deadline import Env
from tests.support import collect, connect
from tests.unit.deadline.common import CATALOG, COMMUNE, LABOUR_OFFICE, THREE_LEVELS, vn
from tests.unit.deadline.story import Story

pytestmark = pytest.mark.integration

LATE = "T01.00.01.X99-260302-0001"
ON_TIME = "T01.00.01.X99-260302-0002"
PAST_DUE = "T01.00.01.X99-260302-0003"
OTHER_COMMUNE = "T01.00.02.X99"
WITHIN = "T01.00.02.X99-260316-0001"


def district() -> list[Story]:
    late = Story(CATALOG, LATE, THREE_LEVELS, COMMUNE)  # late 6.5 h because of the district office alone
    late.received(vn(2026, 3, 2, 8))
    late.completed(0, vn(2026, 3, 3, 8))
    late.completed(1, vn(2026, 3, 10, 16))
    late.completed(2, vn(2026, 3, 16, 16), "result_ready")
    on_time = Story(CATALOG, ON_TIME, THREE_LEVELS, COMMUNE)
    on_time.received(vn(2026, 3, 2, 9))
    on_time.completed(0, vn(2026, 3, 2, 11))
    on_time.completed(1, vn(2026, 3, 5, 9))
    on_time.completed(2, vn(2026, 3, 11, 9), "result_ready")  # exactly at its due time
    past_due = Story(CATALOG, PAST_DUE, THREE_LEVELS, COMMUNE)  # still at the district office
    past_due.received(vn(2026, 3, 2, 10))
    past_due.completed(0, vn(2026, 3, 2, 11))
    within = Story(CATALOG, WITHIN, THREE_LEVELS, OTHER_COMMUNE)
    within.received(vn(2026, 3, 16, 8))
    return [late, on_time, past_due, within]


@pytest.fixture
async def served(fresh_streams: str, database_url: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NATS_URL", fresh_streams)
    async with running(build_runtime, settings_for(fresh_streams, database_url, clock="simulated")) as runtime:
        nc, js = await connect(fresh_streams)
        db = await asyncpg.connect(database_url)
        env = Env(runtime, nc, js, db, await collect(nc, "lt.evt.deadline.>"), await collect(nc, "lt.out.agency.>"))
        for story in district():
            await env.publish(story)
        for code in (LATE, ON_TIME, PAST_DUE, WITHIN):
            await env.settled(code)
        await env.settled(LATE, status="result_ready")
        await env.tick(vn(2026, 3, 17, 9))
        yield env
        await db.close()
        await nc.close()


async def rpc(env: Env, subject: str, request: dict) -> dict:
    reply = await env.nc.request(subject, json.dumps(request).encode(), timeout=5)
    return json.loads(reply.data)


async def test_explain_names_the_stage_that_made_the_dossier_late(served):
    answer = await rpc(served, subjects.RPC_DEADLINE_EXPLAIN, {"dossier_code": LATE})
    assert answer["ok"] is True
    e = answer["explanation"]
    assert (e["code"], e["status"], e["late"], e["late_by_hours"]) == (LATE, "result_ready", True, 6.5)
    assert e["blamed"] == [
        {"stage_index": 1, "agency": LABOUR_OFFICE, "agency_name": "Phòng Lao động huyện Thử", "overrun_hours": 14.5}
    ]
    assert [s["late"] for s in e["stages"]] == [False, True, False, False]
    assert e["trace_id"] == "84ea5c9adac712b99fd0210c0b1300ea"


async def test_explain_says_precisely_what_is_wrong_with_a_request(served):
    unknown = await rpc(served, subjects.RPC_DEADLINE_EXPLAIN, {"dossier_code": "T01.00.01.X99-260302-9999"})
    assert unknown == {
        "ok": False,
        "error": "unknown dossier 'T01.00.01.X99-260302-9999': no fact about it has reached the deadline service",
    }
    missing = await rpc(served, subjects.RPC_DEADLINE_EXPLAIN, {"code": LATE})
    assert missing == {"ok": False, "error": "dossier_code: expected a dossier code string, got None"}


async def test_report_counts_verdicts_as_of_the_clock_and_ranks_lateness(served):
    answer = await rpc(
        served, subjects.RPC_DEADLINE_REPORT, {"from": None, "to": None, "procedure": None, "agency": None}
    )
    r = answer["report"]
    assert (r["finished_on_time"], r["finished_late"], r["on_time_rate"]) == (1, 1, 0.5)
    assert (r["in_progress_within"], r["in_progress_past_due"]) == (1, 1)
    assert r["as_of"] == "2026-03-17T09:00:00+07:00"
    assert r["lateness"] == [
        {"agency": LABOUR_OFFICE, "agency_name": "Phòng Lao động huyện Thử", "stage_role": "process",
         "procedure": THREE_LEVELS, "late_stages": 1, "overrun_hours": 14.5}
    ]  # fmt: skip
    assert [(a["agency"], a["finished_late"], a["in_progress_within"]) for a in r["by_agency"]] == [
        (COMMUNE, 1, 0),
        (OTHER_COMMUNE, 0, 1),
    ]


async def test_report_filters_finished_by_result_date_and_running_by_receipt_date(served):
    window = await rpc(served, subjects.RPC_DEADLINE_REPORT, {"from": "2026-03-13", "to": "2026-03-31"})
    r = window["report"]
    counts = (r["finished_on_time"], r["finished_late"], r["in_progress_within"], r["in_progress_past_due"])
    assert counts == (0, 1, 1, 0)
    other = (await rpc(served, subjects.RPC_DEADLINE_REPORT, {"agency": OTHER_COMMUNE}))["report"]
    assert (other["finished_late"], other["in_progress_within"], other["lateness"]) == (0, 1, [])
    none = (await rpc(served, subjects.RPC_DEADLINE_REPORT, {"procedure": "9.000002"}))["report"]
    assert (none["finished_on_time"], none["finished_late"], none["on_time_rate"]) == (0, 0, None)
    bad = await rpc(served, subjects.RPC_DEADLINE_REPORT, {"from": "17/03/2026"})
    assert bad == {"ok": False, "error": "from: expected a date YYYY-MM-DD or null, got '17/03/2026'"}


async def test_the_lienthong_command_asks_the_running_service(served, capsys: pytest.CaptureFixture[str]):
    assert await asyncio.to_thread(cli.main, ["explain", LATE]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"Hồ sơ {LATE} — TRỄ HẠN 6,5 giờ làm việc (late)")
    assert "http://localhost:16686/trace/84ea5c9adac712b99fd0210c0b1300ea" in text
    assert await asyncio.to_thread(cli.main, ["report", "--from", "2026-03-13", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["finished_late"], report["from"], report["to"]) == (1, "2026-03-13", None)
    assert await asyncio.to_thread(cli.main, ["explain", "T01.00.01.X99-260302-9999"]) == 2
    assert "unknown dossier" in capsys.readouterr().err


async def test_a_paused_dossier_is_past_due_only_if_its_appointment_passed_before_the_pause(
    fresh_streams: str, database_url: str
):
    async with running(build_runtime, settings_for(fresh_streams, database_url, clock="simulated")) as runtime:
        nc, js = await connect(fresh_streams)
        db = await asyncpg.connect(database_url)
        env = Env(runtime, nc, js, db, await collect(nc, "lt.evt.deadline.>"), await collect(nc, "lt.out.agency.>"))
        waiting = Story(CATALOG, "T01.00.01.X99-260302-0011", THREE_LEVELS, COMMUNE)  # appointment Mon 16 Mar
        waiting.received(vn(2026, 3, 2, 8))
        waiting.completed(0, vn(2026, 3, 2, 10))
        waiting.paused(1, vn(2026, 3, 4, 9))  # the citizen owes papers; the clock stands still since
        overdue = Story(CATALOG, "T01.00.01.X99-260302-0012", THREE_LEVELS, COMMUNE)
        overdue.received(vn(2026, 3, 2, 8))
        overdue.completed(0, vn(2026, 3, 2, 10))
        overdue.paused(1, vn(2026, 3, 17, 9))  # paused a day after its appointment had passed
        for story in (waiting, overdue):
            await env.publish(story)
            await env.settled(story.code, status="paused")
        await env.tick(vn(2026, 4, 20, 9))  # long after both appointments, by the calendar
        report = (await rpc(env, subjects.RPC_DEADLINE_REPORT, {}))["report"]
        assert (report["in_progress_within"], report["in_progress_past_due"]) == (1, 1)
        await db.close()
        await nc.close()
