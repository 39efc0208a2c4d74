"""The deadline service against the real NATS and PostgreSQL, on the simulated clock: facts are
published on lt.evt.dossier.* as routing would, time moves by lt.sim.clock ticks, and every alert
must come once, at its time, to the right agency, with exact figures."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta

import asyncpg
import pytest

from services.deadline.app import WARN_SETTING, build_runtime
from services.deadline.scheduler import Scheduler, sweep
from shared.clock import ManualClock
from shared.contracts import subjects
from tests.harness import running, settings_for
from tests.support import Collector, collect, connect, poll_until
from tests.unit.deadline.common import CATALOG, COMMUNE, LABOUR_OFFICE, THREE_LEVELS, vn
from tests.unit.deadline.story import Story

pytestmark = pytest.mark.integration

CODE = "T01.00.01.X99-260302-0001"


@pytest.fixture
async def deadline(fresh_streams: str, database_url: str):
    async with running(build_runtime, settings_for(fresh_streams, database_url, clock="simulated")) as runtime:
        nc, js = await connect(fresh_streams)
        db = await asyncpg.connect(database_url)
        alerts = await collect(nc, "lt.evt.deadline.>")
        notices = await collect(nc, "lt.out.agency.>")
        yield Env(runtime, nc, js, db, alerts, notices)
        await db.close()
        await nc.close()


class Env:
    def __init__(self, runtime, nc, js, db, alerts: Collector, notices: Collector) -> None:
        self.runtime, self.nc, self.js, self.db, self.alerts, self.notices = runtime, nc, js, db, alerts, notices

    async def publish(self, story: Story, *, fresh_msg_ids: bool = False, reverse: bool = False) -> None:
        """As routing publishes facts; `fresh_msg_ids` slips a redelivery past JetStream's own dedupe."""
        for subject, body in reversed(story.messages) if reverse else story.messages:
            msg_id = str(uuid.uuid4()) if fresh_msg_ids else body["event_id"]
            await self.js.publish(subject, json.dumps(body).encode(), headers={"Nats-Msg-Id": msg_id})

    async def tick(self, now: datetime) -> None:
        await self.nc.publish(subjects.SIM_CLOCK, json.dumps({"now": now.isoformat()}).encode())
        await self.nc.flush()
        await poll_until(lambda: self.runtime.clock.now() == now, message=f"the clock to reach {now}")

    async def settled(self, code: str, **expected) -> None:
        """Wait until the dossier's summary row shows `expected` (the batch has been applied)."""

        async def matches() -> bool:
            row = await self.db.fetchrow("SELECT * FROM deadline.dossiers WHERE code = $1", code)
            return row is not None and all(row[k] == v for k, v in expected.items())

        await poll_until(matches, message=f"{code} to show {expected}")

    def fired(self) -> list[tuple[str, str | None, int | None]]:
        """(subject, scope, stage) of everything published so far, in order."""
        seen = [*self.alerts.messages, *self.notices.messages]
        return [(s, b["data"].get("scope"), b["data"].get("stage_index")) for s, b in seen]


RECEIVING_WARNING = [  # the commune's one-day stage, warned at its start (it ends at 10:00)
    ("lt.evt.deadline.warning", "stage", 0),
    ("lt.out.agency.T01_00_01_X99.deadline_warning", None, 0),
]


def at_the_district_office(code: str = CODE) -> Story:
    """Stage 1 at the district labour office, sent Mon 2 Mar 10:00, due Fri 6 Mar 10:00; the
    appointment is Mon 16 Mar 08:00. The commune's stage 0 (Mon 08:00-10:00, due Tue 08:00) was
    on its last working day from its start: its warning is due at 08:00 whenever it is seen."""
    s = Story(CATALOG, code, THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 3, 2, 8))
    s.completed(0, vn(2026, 3, 2, 10))
    s.handoff_received(1, vn(2026, 3, 2, 14))
    return s


async def quiet(seconds: float = 0.6) -> None:
    """Long enough for three background sweeps: what has not fired by then does not fire."""
    await asyncio.sleep(seconds)


async def test_every_alert_fires_once_at_its_time_to_the_right_agency(deadline):
    env, story = deadline, at_the_district_office()
    await env.publish(story)
    await env.settled(CODE, open_stage=1, holder_agency=LABOUR_OFFICE)

    await env.tick(vn(2026, 3, 5, 9, 59))
    await poll_until(lambda: len(env.fired()) == 2, message="the receiving stage's warning")
    await quiet()
    assert env.fired() == RECEIVING_WARNING
    # Seen late, it states the time left as it stood when the stage ended: Mon 10:00 -> Tue 08:00.
    assert env.alerts.of("deadline.warning")[0]["data"]["remaining_hours"] == 6.0

    await env.tick(vn(2026, 3, 5, 10))  # the last working day before Fri 10:00 begins
    await poll_until(lambda: len(env.fired()) == 4, message="the warning")
    [warning] = [w for w in env.alerts.of("deadline.warning") if w["data"]["stage_index"] == 1]
    assert warning["agency"] == LABOUR_OFFICE and warning["dossier_code"] == CODE
    assert warning["data"] == {
        "scope": "stage",
        "stage_index": 1,
        "agency": LABOUR_OFFICE,
        "due_at": "2026-03-06T10:00:00+07:00",
        "remaining_hours": 8.0,
    }
    [notice] = env.notices.of("T01_31_00_X99.deadline_warning")
    assert notice["data"] == {"stage_index": 1, "due_at": "2026-03-06T10:00:00+07:00", "remaining_hours": 8.0}

    await env.tick(vn(2026, 3, 6, 10))  # due exactly: not overdue yet
    await quiet()
    assert len(env.fired()) == 4

    await env.tick(vn(2026, 3, 9, 9))
    await poll_until(lambda: env.alerts.of("deadline.overdue"), message="the stage overdue")
    [overdue] = env.alerts.of("deadline.overdue")
    assert overdue["agency"] == LABOUR_OFFICE
    assert overdue["data"] == {
        "scope": "stage",
        "stage_index": 1,
        "agency": LABOUR_OFFICE,
        "due_at": "2026-03-06T10:00:00+07:00",
        "overdue_by_hours": 7.0,
        "detected_at": "2026-03-09T09:00:00+07:00",
    }

    await env.tick(vn(2026, 3, 13, 8))  # one working day before the appointment
    await poll_until(lambda: env.notices.of("apology_required"), message="the apology request")
    [apology] = env.notices.of("T01_31_00_X99.apology_required")
    assert apology["data"]["appointment_at"] == "2026-03-16T08:00:00+07:00"
    assert apology["data"]["stage_index"] == 1

    await env.tick(vn(2026, 3, 16, 9, 30))
    await poll_until(lambda: len(env.alerts.of("deadline.overdue")) == 2, message="the dossier overdue")
    dossier = env.alerts.of("deadline.overdue")[1]
    assert dossier["agency"] == LABOUR_OFFICE
    assert (dossier["data"]["scope"], dossier["data"]["due_at"], dossier["data"]["overdue_by_hours"]) == (
        "dossier",
        "2026-03-16T08:00:00+07:00",
        1.5,
    )

    # Exactly once: the same facts redelivered, later ticks, and a sweep run by hand change nothing.
    before = env.fired()
    await env.publish(story, fresh_msg_ids=True)  # redelivered: the inbox knows the event ids
    await env.publish(at_the_district_office(), fresh_msg_ids=True)  # republished: new ids, same versions
    await poll_until(
        lambda: env.db.fetchval("SELECT count(*) = 10 FROM deadline.facts"), message="the republished facts stored"
    )
    await env.tick(vn(2026, 3, 20, 9))
    assert await sweep(env.runtime.pool, CATALOG.calendar, vn(2026, 4, 1, 9)) == 0
    await quiet()
    assert env.fired() == before
    assert sorted(s for s, *_ in before) == [
        "lt.evt.deadline.overdue",
        "lt.evt.deadline.overdue",
        "lt.evt.deadline.warning",
        "lt.evt.deadline.warning",
        "lt.out.agency.T01_00_01_X99.deadline_warning",
        "lt.out.agency.T01_31_00_X99.apology_required",
        "lt.out.agency.T01_31_00_X99.deadline_warning",
    ]


async def test_a_stage_completed_in_time_is_never_flagged_and_the_next_stage_is_watched(deadline):
    env = deadline
    s = at_the_district_office()
    await env.publish(s)
    await env.settled(CODE, open_stage=1)
    await env.tick(vn(2026, 3, 4, 9))
    s.completed(1, vn(2026, 3, 4, 10))  # two days early; the province gets it (due Tue 10 Mar 10:00)
    await env.publish(s)
    await env.settled(CODE, open_stage=2, holder_agency="T00.05.00.X99")
    await env.tick(vn(2026, 3, 9, 9))
    await quiet()
    assert env.fired() == RECEIVING_WARNING
    await env.tick(vn(2026, 3, 9, 10))
    await poll_until(lambda: len(env.fired()) > 2, message="the province's warning")
    assert sorted(env.fired(), key=str) == sorted(
        [
            *RECEIVING_WARNING,
            ("lt.evt.deadline.warning", "stage", 2),
            ("lt.out.agency.T00_05_00_X99.deadline_warning", None, 2),
        ],
        key=str,
    )


async def test_a_pause_holds_the_alerts_and_the_resume_moves_them(deadline):
    env = deadline
    s = at_the_district_office()
    s.paused(1, vn(2026, 3, 3, 9))
    await env.publish(s)
    await env.settled(CODE, status="paused")
    await env.tick(vn(2026, 3, 17, 9))  # past every due time, but the clock stands still
    await quiet()
    assert env.fired() == RECEIVING_WARNING
    s.resumed(1, vn(2026, 3, 3, 9), vn(2026, 3, 17, 9))  # 80 working hours later
    await env.publish(s)
    await env.settled(CODE, status="in_progress")
    await env.tick(vn(2026, 3, 17, 10))
    await quiet()
    assert env.fired() == RECEIVING_WARNING  # stage 1 is now due Fri 20 Mar 10:00
    await env.tick(vn(2026, 3, 20, 10, 0, 1))
    await poll_until(lambda: env.alerts.of("deadline.overdue"), message="the moved overdue")
    assert env.alerts.of("deadline.overdue")[0]["data"]["due_at"] == "2026-03-20T10:00:00+07:00"


async def test_facts_in_reverse_order_give_the_same_timers(deadline):
    env = deadline
    await env.publish(at_the_district_office(), reverse=True)
    await env.settled(CODE, open_stage=1)
    rows = await env.db.fetch(
        "SELECT kind, fire_at FROM deadline.timers WHERE dossier_code = $1 ORDER BY kind, fire_at", CODE
    )
    assert [(r["kind"], r["fire_at"]) for r in rows] == [
        ("apology_required", vn(2026, 3, 13, 8)),
        ("dossier_overdue", vn(2026, 3, 16, 8, 0, 1)),
        ("stage_overdue", vn(2026, 3, 6, 10, 0, 1)),
        ("stage_warning", vn(2026, 3, 2, 8)),
        ("stage_warning", vn(2026, 3, 5, 10)),
    ]


async def test_a_malformed_fact_is_dead_lettered_with_its_reason(deadline):
    env = deadline
    dead = await collect(env.nc, "lt.out.dead_letter.>")
    body = {"event_id": str(uuid.uuid4()), "type": "handoff_sent", "schema_version": 1,
            "occurred_at": "2026-03-02T10:00:00+07:00", "agency": COMMUNE, "dossier_code": CODE,
            "data": {"seq": 1, "stage_index": 1}}  # fmt: skip
    await env.js.publish("lt.evt.dossier.handoff_sent", json.dumps(body).encode())
    await poll_until(lambda: dead.messages, message="the dead letter")
    reason = dead.messages[0][1]["data"]["reason"]
    assert "data.to_agency: required field is missing" in reason and "data.sent_at" in reason
    assert await env.db.fetchval("SELECT count(*) FROM deadline.facts") == 0


async def test_the_warning_threshold_comes_from_the_environment(
    fresh_streams: str, database_url: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv(WARN_SETTING, "2")  # two working hours before the due time
    async with running(build_runtime, settings_for(fresh_streams, database_url, clock="simulated")) as runtime:
        nc, js = await connect(fresh_streams)
        env = Env(runtime, nc, js, None, await collect(nc, "lt.evt.deadline.>"), await collect(nc, "lt.out.agency.>"))
        await env.publish(at_the_district_office())
        await env.tick(vn(2026, 3, 6, 7, 59))  # stage 1 is due Fri 10:00: 2.5 hours left
        await env.tick(vn(2026, 3, 6, 8))  # 2 hours left
        await poll_until(lambda: env.alerts.of("deadline.warning"), message="the warning")
        await quiet()
        # The commune's stage ended (Mon 10:00) long before its last 2 hours (from Mon 15:30): no warning.
        [warning] = env.alerts.of("deadline.warning")
        assert (warning["data"]["stage_index"], warning["occurred_at"]) == (1, "2026-03-06T08:00:00+07:00")
        assert warning["data"]["remaining_hours"] == 2.0
        await nc.close()


async def test_the_simulated_now_survives_a_restart(fresh_streams: str, database_url: str):
    settings = settings_for(fresh_streams, database_url, clock="simulated")
    async with running(build_runtime, settings) as runtime:
        await runtime.nc.publish(subjects.SIM_CLOCK, json.dumps({"now": "2026-03-09T09:00:00+07:00"}).encode())
        await poll_until(lambda: runtime.clock.now() == vn(2026, 3, 9, 9), message="the tick")
        db = await asyncpg.connect(database_url)
        await poll_until(lambda: db.fetchval("SELECT now FROM deadline.clock"), message="the saved clock")
        await db.close()
    async with running(build_runtime, settings) as runtime:
        await poll_until(lambda: runtime.clock.now() == vn(2026, 3, 9, 9), message="the restored clock")


async def test_with_the_system_clock_the_background_sweep_fires_what_is_due_within_a_second(
    fresh_streams: str, database_url: str
):
    async with running(build_runtime, settings_for(fresh_streams, database_url)) as runtime:
        nc, js = await connect(fresh_streams)
        env = Env(runtime, nc, js, None, await collect(nc, "lt.evt.deadline.>"), await collect(nc, "lt.out.agency.>"))
        loop = asyncio.get_running_loop()
        await env.publish(at_the_district_office())  # March 2026: every due time has passed by the wall clock
        began = loop.time()
        await poll_until(lambda: len(env.fired()) == 7, timeout=5, message="the five alerts")
        assert loop.time() - began < 1.5  # the batch, then at most one 0.2 s sweep interval
        assert sorted(s for s, *_ in env.fired()) == [
            "lt.evt.deadline.overdue",
            "lt.evt.deadline.overdue",
            "lt.evt.deadline.warning",
            "lt.evt.deadline.warning",
            "lt.out.agency.T01_00_01_X99.deadline_warning",
            "lt.out.agency.T01_31_00_X99.apology_required",
            "lt.out.agency.T01_31_00_X99.deadline_warning",
        ]
        await nc.close()


async def test_a_manual_clock_drives_the_sweep_across_tet(deadline):
    """The simulated clock never ticks here: only the sweeps driven by the ManualClock fire."""
    env = deadline
    s = Story(CATALOG, "T01.00.01.X99-260210-0001", THREE_LEVELS, COMMUNE)
    s.received(vn(2026, 2, 10, 8))
    s.completed(0, vn(2026, 2, 10, 16))  # stage 1 due Mon 23 Feb 16:00, after the Tết week
    await env.publish(s)
    await env.settled(s.code, open_stage=1)
    clock = ManualClock(vn(2026, 2, 13, 15, 59))
    scheduler = Scheduler(CATALOG.calendar, clock)
    assert await scheduler.sweep_now(env.runtime.pool) == 1  # the commune's one-day stage, warned at its start
    assert await scheduler.sweep_now(env.runtime.pool) == 0
    clock.advance(timedelta(minutes=1))  # Friday before Tết, 16:00: one working day is left
    assert await scheduler.sweep_now(env.runtime.pool) == 1
    clock.current = vn(2026, 2, 23, 16)  # a week of holidays later: due, not yet overdue
    assert await scheduler.sweep_now(env.runtime.pool) == 0
    clock.current = vn(2026, 2, 24, 8)
    assert await scheduler.sweep_now(env.runtime.pool) == 1
    await poll_until(lambda: env.alerts.of("deadline.overdue"), message="the overdue")
    warnings = {w["data"]["stage_index"]: w["data"]["remaining_hours"] for w in env.alerts.of("deadline.warning")}
    assert warnings == {0: 1.5, 1: 8.0}  # stage 0 as it stood when it ended (Tue 16:00 -> Wed 08:00)
    assert env.alerts.of("deadline.overdue")[0]["data"]["overdue_by_hours"] == 1.5
