"""The operators' figures over NATS request/reply (lt.rpc.deadline.trend/heatmap/handoffs/dossiers)
from the running deadline service, and the web page built from them."""

from __future__ import annotations

import json

import asyncpg
import pytest

from services.deadline.app import build_runtime
from shared.contracts import subjects
from shared.web.app import create_app
from shared.web.client import DeadlineClient
from tests.harness import running, settings_for
from tests.integration.test_deadline import Env
from tests.support import collect, connect
from tests.unit.deadline.common import COMMUNE, LABOUR_OFFICE, PROVINCE_DEPT, THREE_LEVELS
from tests.unit.web.asgi import get
from tests.unit.web.stories import (
    AT_RISK,
    COMMUNE_PROVINCE,
    LATE,
    NOW,
    ON_TIME,
    OTHER_COMMUNE,
    PAUSED_PROVINCE,
    STAGE_OVERDUE,
    district,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def served(fresh_streams: str, database_url: str):
    async with running(build_runtime, settings_for(fresh_streams, database_url, clock="simulated")) as runtime:
        nc, js = await connect(fresh_streams)
        db = await asyncpg.connect(database_url)
        env = Env(runtime, nc, js, db, await collect(nc, "lt.evt.deadline.>"), await collect(nc, "lt.out.agency.>"))
        for story in district():
            await env.publish(story)
        await env.settled(LATE, status="returned")
        await env.settled(ON_TIME, status="returned")
        await env.settled(PAUSED_PROVINCE, status="result_ready")
        await env.settled(STAGE_OVERDUE, open_stage=1)
        await env.settled(AT_RISK, open_stage=2)
        await env.tick(NOW)
        yield env
        await db.close()
        await nc.close()


async def rpc(env: Env, subject: str, request: dict) -> dict:
    reply = await env.nc.request(subject, json.dumps(request).encode(), timeout=5)
    return json.loads(reply.data)


async def test_trend_counts_finished_dossiers_per_week_of_their_result(served):
    answer = await rpc(served, subjects.RPC_DEADLINE_TREND, {})
    t = answer["trend"]
    assert (t["from"], t["to"], t["as_of"]) == ("2025-12-29", "2026-03-20", "2026-03-20T09:00:00+07:00")
    assert len(t["weeks"]) == 12 and t["weeks"][-2:] == ["2026-03-09", "2026-03-16"]
    assert t["overall"][-2:] == [
        {"week": "2026-03-09", "finished": 1, "on_time": 1, "late": 0, "on_time_rate": 1.0},
        {"week": "2026-03-16", "finished": 2, "on_time": 1, "late": 1, "on_time_rate": 0.5},
    ]
    assert t["overall"][0] == {"week": "2025-12-29", "finished": 0, "on_time": 0, "late": 0, "on_time_rate": None}
    procedures = {g["procedure"]: [p["on_time_rate"] for p in g["points"][-2:]] for g in t["by_procedure"]}
    assert procedures == {THREE_LEVELS: [1.0, 0.0], COMMUNE_PROVINCE: [None, 1.0]}
    agencies = {g["agency"]: g["agency_name"] for g in t["by_agency"]}
    assert agencies == {COMMUNE: "UBND xã Thử Một", OTHER_COMMUNE: "UBND xã Thử Hai"}
    week = await rpc(served, subjects.RPC_DEADLINE_TREND, {"from": "2026-03-16", "to": "2026-03-16"})
    assert [p["finished"] for p in week["trend"]["overall"]] == [1]  # only LATE's result is that day


async def test_heatmap_puts_the_overrun_on_the_agency_and_role_that_made_it(served):
    h = (await rpc(served, subjects.RPC_DEADLINE_HEATMAP, {}))["heatmap"]
    assert h["roles"] == ["receive", "process", "decide", "return"]
    assert [a["agency"] for a in h["agencies"]][:2] == [LABOUR_OFFICE, PROVINCE_DEPT]
    cells = {(c["agency"], c["role"]): (c["late_stages"], c["ended_stages"], c["overrun_hours"]) for c in h["cells"]}
    # district office: LATE overran 20.5 h, AT_RISK 17 h; ON_TIME kept its budget; STAGE_OVERDUE is open
    assert cells[(LABOUR_OFFICE, "process")] == (2, 3, 37.5)
    assert cells[(PROVINCE_DEPT, "process")] == (1, 1, 8.0)  # the pause is not the department's
    assert cells[(COMMUNE, "receive")] == (0, 3, 0.0)
    assert h["max_overrun_hours"] == 37.5


async def test_handoff_waits_are_grouped_by_levels_between_different_agencies(served):
    w = (await rpc(served, subjects.RPC_DEADLINE_HANDOFFS, {}))["handoffs"]
    levels = {(r["from_level"], r["to_level"]): r for r in w["by_level"]}
    # the return legs were never received (no handoff_received): they have no wait to count
    assert set(levels) == {("commune", "district"), ("district", "province"), ("commune", "province"),
                           ("province", "province")}  # fmt: skip
    c2d = levels[("commune", "district")]  # waits 6, 1.5, 5, 2 working hours
    assert (c2d["handoffs"], c2d["median_hours"], c2d["max_hours"]) == (4, 3.5, 6.0)
    assert c2d["p90_hours"] == pytest.approx(5.7)
    d2p = levels[("district", "province")]  # 1.5, 1, 1
    assert (d2p["handoffs"], d2p["median_hours"], d2p["max_hours"]) == (3, 1.0, 1.5)
    assert levels[("commune", "province")]["median_hours"] == 4.5
    office = next(a for a in w["by_agency"] if a["agency"] == LABOUR_OFFICE)
    assert (office["handoffs"], office["level"]) == (4, "district")


async def test_dossiers_list_the_overdue_the_at_risk_and_the_late_worst_first(served):
    d = (await rpc(served, subjects.RPC_DEADLINE_DOSSIERS, {}))["dossiers"]
    listed = [(x["code"], x["category"]) for x in d["dossiers"]]
    assert listed == [(STAGE_OVERDUE, "stage_overdue"), (AT_RISK, "at_risk"), (LATE, "late")]
    overdue = d["dossiers"][0]
    assert overdue["overdue_stage"] == {
        "index": 1,
        "agency": LABOUR_OFFICE,
        "agency_name": "Phòng Lao động huyện Thử",
        "due": "2026-03-13T11:00:00+07:00",
    }
    assert overdue["holder_agency"] == LABOUR_OFFICE and overdue["appointment_at"] == "2026-03-23T10:00:00+07:00"
    assert d["dossiers"][2]["late_hours"] == 6.5
    only_one = (await rpc(served, subjects.RPC_DEADLINE_DOSSIERS, {"limit": 1}))["dossiers"]["dossiers"]
    assert [x["code"] for x in only_one] == [STAGE_OVERDUE]
    other = (await rpc(served, subjects.RPC_DEADLINE_DOSSIERS, {"agency": OTHER_COMMUNE}))["dossiers"]["dossiers"]
    assert [x["code"] for x in other] == [AT_RISK]


async def test_bad_requests_get_a_precise_reason(served):
    assert await rpc(served, subjects.RPC_DEADLINE_DOSSIERS, {"limit": 0}) == {
        "ok": False,
        "error": "limit: expected a whole number from 1 to 1000, got 0",
    }
    assert await rpc(served, subjects.RPC_DEADLINE_HEATMAP, {"to": "20/03/2026"}) == {
        "ok": False,
        "error": "to: expected a date YYYY-MM-DD or null, got '20/03/2026'",
    }
    reply = await served.nc.request(subjects.RPC_DEADLINE_TREND, b"[1]", timeout=5)
    assert json.loads(reply.data) == {"ok": False, "error": "body must be a JSON object, not list"}


async def test_the_page_shows_every_figure_and_links_each_dossier(served):
    client = DeadlineClient(served.runtime.settings.nats_url)
    app = create_app(client, "http://jaeger.test:16686")
    try:
        page = await get(app, "/")
        assert page.status == 200 and page.headers["content-type"].startswith("text/html")
        html = page.text
        for chart in ('id="trend-procedure"', 'id="trend-agency"', 'id="heatmap"', 'id="handoffs"', 'id="dossiers"'):
            assert chart in html
        assert f'href="/dossiers/{STAGE_OVERDUE}"' in html and f'href="/dossiers/{LATE}"' in html
        assert f'data-agency="{LABOUR_OFFICE}" data-role="process" data-overrun="37.5"' in html
        assert "Xã → Huyện" in html
        assert "<b>66,7 %</b><span>tỉ lệ đúng hạn" in html  # 2 of the 3 finished on time

        filtered = await get(app, "/", f"procedure={COMMUNE_PROVINCE}")
        assert f'<option value="{COMMUNE_PROVINCE}" selected>' in filtered.text
        assert f'href="/dossiers/{LATE}"' not in filtered.text

        dossier = await get(app, f"/dossiers/{LATE}")
        assert dossier.status == 200
        assert 'id="timeline"' in dossier.text and 'data-stage-index="1" data-late="true"' in dossier.text
        assert 'href="http://jaeger.test:16686/trace/84ea5c9adac712b99fd0210c0b1300ea"' in dossier.text
        assert "TRỄ HẠN 6,5 giờ làm việc (late)" in dossier.text

        unknown = await get(app, "/dossiers/T01.00.01.X99-260302-9999")
        assert unknown.status == 404 and "no fact about it has reached the deadline service" in unknown.text
        bad = await get(app, "/", "from=2026-04-01&to=2026-03-01")
        assert bad.status == 400 and "from (2026-04-01) is after to (2026-03-01)" in bad.text
        health = await get(app, "/healthz")
        assert json.loads(health.body) == {"ok": True, "nats": "connected"}
    finally:
        await client.close()
