"""Deadline end to end on the simulated clock: the four services as processes on the tests' own
catalog (tests/catalogs/basic.yaml), driven only through the public contract. The agencies publish
on `lt.in.agency.{A}.*` with business times, the clock moves by `lt.sim.clock` ticks, and the
district's story below runs from before Tết 2026 to the end of March:

- D1 (9.000001 at commune 1): crosses Tết; late only because of the district labour office;
- D2 (9.000001 at commune 2): the labour office signs for it three working days after it was sent,
  then pauses it for a supplement (policy `pause`); on time;
- D3 (9.000002 at commune 1): a supplement under the `restart` policy; the district justice office
  overruns its stage, the dossier is still on time;
- D4 (9.000004 at commune 2): the province is late, is asked for the apology, issues it (the
  appointment moves), and is late against the new appointment too;
- D5 (9.000003 at commune 1): the labour office never acts; the clock jumps past the appointment;
- D6 (9.000001 at commune 2): just received when the story ends.

Every expected time below is worked out by hand from CONTRACT.md §6 and the catalog's calendar:
office hours from October to March 07:30-11:30 and 13:00-17:00 (8 working hours a day), from
April 07:30-11:30 and 13:30-17:30; Tết 2026 is Mon 16 - Fri 20 February. The comments show the
arithmetic; nothing here calls the services' own calendar code.

Checked: the exact multiset of warnings (fact and agency notice), overdue flags (stage and
dossier scope: agency, due time, overdue-by working hours) and apology requests, each once
despite repeated ticks, duplicate inputs, redelivered facts and a restart of the deadline
service; every overdue flag within one second of the tick that passed its due time; then
`lienthong explain CODE --json` for every dossier and `lienthong report --json` with its filters,
run as `python -m shared.cli` processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shared.contracts import subjects
from tests.conftest import ROOT
from tests.e2e.conftest import RunningServices, reset_streams, service_env, start_services, stop_services
from tests.factories import submitted_data, unique_ref
from tests.support import connect, envelope, poll_until, publish_agency

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

COMMUNE, COMMUNE_2 = "T01.00.01.X99", "T01.00.02.X99"
LABOUR, JUSTICE = "T01.31.00.X99", "T01.32.00.X99"  # district departments
PROVINCE_DEPT, PROVINCE = "T00.05.00.X99", "T00.00.00.X99"
LABOUR_NAME = "Phòng Lao động huyện Thử"

D1, D2, D3 = "T01.00.01.X99-260210-0001", "T01.00.02.X99-260302-0001", "T01.00.01.X99-260302-0001"
D4, D5, D6 = "T01.00.02.X99-260316-0001", "T01.00.01.X99-260323-0001", "T01.00.02.X99-260330-0001"


def t(text: str) -> str:
    """'02-10 08:00' -> '2026-02-10T08:00:00+07:00' (Vietnam time, as the services write it)."""
    day, clock = text.split()
    return f"2026-{day}T{clock}:00+07:00"


# ---- what the agencies' systems see -----------------------------------------------------------


@dataclass
class Seen:
    subject: str
    body: dict[str, Any]
    at: float  # time.monotonic() on arrival


@dataclass
class District:
    """The agencies' systems and a simulator's clock, talking to the services over NATS only."""

    nc: Any
    js: Any
    facts: list[Seen] = field(default_factory=list)
    alerts: list[Seen] = field(default_factory=list)
    rejected: list[Seen] = field(default_factory=list)
    dead: list[Seen] = field(default_factory=list)
    ticks: list[tuple[datetime, float]] = field(default_factory=list)  # (business now, monotonic)
    inputs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    async def listen(self) -> None:
        def into(target: list[Seen], only: tuple[str, ...] = ()):
            async def on_message(msg) -> None:
                if not only or msg.subject.endswith(only):
                    target.append(Seen(msg.subject, json.loads(msg.data), time.monotonic()))

            return on_message

        await self.nc.subscribe(subjects.EVT_DOSSIER_ALL, cb=into(self.facts))
        await self.nc.subscribe("lt.evt.deadline.>", cb=into(self.alerts))
        await self.nc.subscribe("lt.out.agency.>", cb=into(self.alerts, (".deadline_warning", ".apology_required")))
        await self.nc.subscribe("lt.out.agency.*.input_rejected", cb=into(self.rejected))
        await self.nc.subscribe("lt.out.dead_letter.>", cb=into(self.dead))
        await self.nc.flush()

    async def tick(self, when: str) -> None:
        """Publish `now` on lt.sim.clock (time only moves forward; the same tick again is allowed)."""
        now = datetime.fromisoformat(t(when))
        self.ticks.append((now, time.monotonic()))
        await self.nc.publish(subjects.SIM_CLOCK, json.dumps({"now": now.isoformat()}).encode())
        await self.nc.flush()

    async def submit(self, agency: str, when: str, procedure: str) -> str:
        """The one-stop's `submitted` on JetStream; the code comes back on lt.evt.dossier.received."""
        await self.tick(when)
        ref = unique_ref("e2e-deadline")
        body = envelope("submitted", agency, t(when), submitted_data(procedure, external_ref=ref))
        await publish_agency(self.js, agency, body)

        def received() -> str | None:
            found = [f.body["dossier_code"] for f in self.facts if f.body["data"].get("external_ref") == ref]
            return found[0] if found else None

        code = await poll_until(received, timeout=30, message=f"the receipt of {ref}")
        self.inputs.setdefault(code, []).append(body)
        await self.fact_seq(code, 1, body)  # routed
        return code

    async def act(self, agency: str, action: str, code: str, when: str, seq: int, **data: Any) -> None:
        """Tick to `when`, publish the action, and wait only for routing's facts (up to version
        `seq`), as an agency's system would: not for the deadline service."""
        await self.tick(when)
        body = envelope(action, agency, t(when), data, dossier_code=code)
        self.inputs.setdefault(code, []).append(body)
        await publish_agency(self.js, agency, body)
        await self.fact_seq(code, seq, body)

    async def fact_seq(self, code: str, seq: int, body: dict[str, Any]) -> None:
        def arrived() -> bool:
            refused = [r for r in self.rejected if r.body["data"]["refused_event_id"] == body["event_id"]]
            assert not refused, f"{body['type']} of {code} refused: {refused[0].body['data']['reason']}"
            return any(f.body["dossier_code"] == code and f.body["data"].get("seq") == seq for f in self.facts)

        await poll_until(arrived, timeout=30, message=f"fact {seq} of {code}")

    def overdue_flags(self) -> list[Seen]:
        return [a for a in self.alerts if a.subject == "lt.evt.deadline.overdue"]


def alert_key(seen: Seen) -> tuple:
    """What an alert says, in a comparable form (the reason of an apology request reduced to its case)."""
    body, data = seen.body, seen.body["data"]
    subject = seen.subject
    if subject == "lt.evt.deadline.warning":
        assert data["scope"] == "stage" and data["agency"] == body["agency"], body
        return ("warning", body["dossier_code"], body["agency"], data["stage_index"], data["due_at"],
                data["remaining_hours"])  # fmt: skip
    if subject.endswith(".deadline_warning"):
        return ("agency_warning", subject, body["dossier_code"], body["agency"], data["stage_index"], data["due_at"],
                data["remaining_hours"])  # fmt: skip
    if subject == "lt.evt.deadline.overdue":
        assert data["agency"] == body["agency"] and data["detected_at"] == body["occurred_at"], body
        return ("overdue", body["dossier_code"], body["agency"], data["scope"], data["stage_index"], data["due_at"],
                data["overdue_by_hours"], data["detected_at"])  # fmt: skip
    if subject.endswith(".apology_required"):
        when = "has passed" if "has passed" in data["reason"] else "one day away"
        assert "is one working day away" in data["reason"] or when == "has passed", data["reason"]
        return ("apology_required", subject, body["dossier_code"], body["agency"], data["appointment_at"],
                data["stage_index"], when)  # fmt: skip
    raise AssertionError(f"unexpected alert on {subject}: {body}")


def warned(code: str, agency: str, stage: int, due: str, remaining: float) -> list[tuple]:
    """A warning is a fact and a notice to the agency, with the same figures."""
    return [
        ("warning", code, agency, stage, t(due), remaining),
        ("agency_warning", subjects.out_agency(agency, "deadline_warning"), code, agency, stage, t(due), remaining),
    ]


def overdue(code: str, agency: str, scope: str, stage: int, due: str, by: float, detected: str) -> tuple:
    return ("overdue", code, agency, scope, stage, t(due), by, t(detected))


def apology(code: str, agency: str, stage: int, appointment: str, when: str) -> tuple:
    return ("apology_required", subjects.out_agency(agency, "apology_required"), code, agency, t(appointment), stage,
            when)  # fmt: skip


EXPECTED_ALERTS = [
    # D1. Received Tue 10 Feb 08:00; appointment = 80 working hours later: Tue 7.5 (08:00-11:30,
    # 13:00-17:00), Wed-Fri 24 (31.5), Tết week and weekends, 23 Feb - 2 Mar six days (79.5), Tue 3
    # Mar 07:30 + 0.5 -> 08:00.
    # Stage 0 (1 day at the commune) is due Wed 11 Feb 08:00: a one-day stage is on its last
    # working day from its start, so the warning comes at once with 8 hours left.
    *warned(D1, COMMUNE, 0, "02-11 08:00", 8.0),
    # Stage 1 (4 days, 32 h, labour office) sent Tue 10 Feb 16:00: Tue 1 + Wed-Fri 24 = 25, then
    # Mon 23 Feb 7 h -> due Mon 23 Feb 16:00. Warned 8 working hours before: Fri 13 Feb 16:00.
    *warned(D1, LABOUR, 1, "02-23 16:00", 8.0),
    # Overdue at the tick of Tue 24 Feb 08:00: Mon 16:00-17:00 and Tue 07:30-08:00.
    overdue(D1, LABOUR, "stage", 1, "02-23 16:00", 1.5, "02-24 08:00"),
    # One working day before the appointment (Mon 2 Mar 08:00) the province department holds it.
    apology(D1, PROVINCE_DEPT, 2, "03-03 08:00", "one day away"),
    # Stage 2 (32 h) sent Wed 25 Feb 10:00: Wed 5.5, Thu 8, Fri 8, Mon 8 (29.5), Tue 3 Mar 2.5 ->
    # 10:00; warned at the tick of Mon 2 Mar 10:00. It ends exactly at its due time: never overdue.
    *warned(D1, PROVINCE_DEPT, 2, "03-03 10:00", 8.0),
    # The appointment passes with the result not ready; the tick of Tue 3 Mar 09:00 sees it.
    overdue(D1, PROVINCE_DEPT, "dossier", 2, "03-03 08:00", 1.0, "03-03 09:00"),
    # The return stage (1 day) sent Tue 3 Mar 10:00 is due Wed 4 Mar 10:00, warned at once.
    *warned(D1, COMMUNE, 3, "03-04 10:00", 8.0),
    # D2. Received Mon 2 Mar 08:00: stage 0 due Tue 3 Mar 08:00 (7.5 + 0.5).
    *warned(D2, COMMUNE_2, 0, "03-03 08:00", 8.0),
    # Stage 1 (32 h) sent Mon 2 Mar 10:00: Mon 5.5, Tue-Thu 24 (29.5), Fri 2.5 -> due Fri 6 Mar
    # 10:00, warned Thu 5 Mar 10:00. The supplement pause (Thu 14:00 - Tue 10 Mar 14:00, 24
    # working hours) then moves it to Wed 11 Mar 10:00: no second warning, and it ends at 09:00.
    *warned(D2, LABOUR, 1, "03-06 10:00", 8.0),
    # The return stage sent Fri 13 Mar 15:00: Fri 2 + Mon 6 -> due Mon 16 Mar 15:00.
    *warned(D2, COMMUNE_2, 3, "03-16 15:00", 8.0),
    # D3 (6 days). Stage 0 (half a day, 4 h) from Mon 2 Mar 08:00: 3.5 + 0.5 -> due 13:30; the
    # threshold (one working day) exceeds the whole budget, so the warning comes at once.
    *warned(D3, COMMUNE, 0, "03-02 13:30", 4.0),
    # Stage 2 (3 days, 24 h, justice office) sent Tue 3 Mar 10:00: Tue 5.5, Wed 8, Thu 8 (21.5),
    # Fri 2.5 -> due Fri 6 Mar 10:00, warned Thu 5 Mar 10:00, overdue at the tick of Fri 11:00.
    *warned(D3, JUSTICE, 2, "03-06 10:00", 8.0),
    overdue(D3, JUSTICE, "stage", 2, "03-06 10:00", 1.0, "03-06 11:00"),
    # The return stage sent Mon 9 Mar 10:00 is due Tue 10 Mar 10:00.
    *warned(D3, COMMUNE, 3, "03-10 10:00", 8.0),
    # D4 (7 days, 56 h). Received Mon 16 Mar 08:00: appointment Mon 7.5, Tue-Tue 48 (55.5), Wed
    # 25 Mar 08:00. Stage 0 due Tue 17 Mar 08:00.
    *warned(D4, COMMUNE_2, 0, "03-17 08:00", 8.0),
    # Stage 1 (3 days, 24 h) sent Mon 16 Mar 10:00: Mon 5.5, Tue 8, Wed 8, Thu 2.5 -> Thu 19 Mar
    # 10:00, warned Wed 18 Mar 10:00; it ends exactly then.
    *warned(D4, PROVINCE_DEPT, 1, "03-19 10:00", 8.0),
    # Stage 2 (2 days, 16 h, the province) sent Thu 19 Mar 10:00: Thu 5.5, Fri 8, Mon 2.5 -> Mon 23
    # Mar 10:00; warned Fri 20 Mar 10:00; overdue at the tick of Mon 23 Mar 11:00.
    *warned(D4, PROVINCE, 2, "03-23 10:00", 8.0),
    overdue(D4, PROVINCE, "stage", 2, "03-23 10:00", 1.0, "03-23 11:00"),
    # One working day before the appointment (Tue 24 Mar 08:00) the province holds it. It issues
    # the apology at 09:00 with a new appointment, Thu 26 Mar 17:00: the old appointment is never
    # flagged and no second apology is asked for (a dossier has one apology), but the new one
    # passes too: at the tick of Fri 27 Mar 08:00, by Fri 07:30-08:00.
    apology(D4, PROVINCE, 2, "03-25 08:00", "one day away"),
    overdue(D4, PROVINCE, "dossier", 2, "03-26 17:00", 0.5, "03-27 08:00"),
    # The return stage sent Fri 27 Mar 10:00: Fri 5.5 + Mon 2.5 -> due Mon 30 Mar 10:00.
    *warned(D4, COMMUNE_2, 3, "03-30 10:00", 8.0),
    # D5 (3 days, 24 h). Received Mon 23 Mar 08:00: appointment Thu 26 Mar 08:00; stage 0 due Tue
    # 24 Mar 08:00.
    *warned(D5, COMMUNE, 0, "03-24 08:00", 8.0),
    # Stage 1 (2 days, 16 h, labour office) sent Mon 23 Mar 09:00: Mon 6.5, Tue 8, Wed 1.5 -> Wed
    # 25 Mar 09:00, warned at the tick of Tue 24 Mar 09:00.
    *warned(D5, LABOUR, 1, "03-25 09:00", 8.0),
    # No tick between Tue 24 Mar 09:00 and Fri 27 Mar 08:00: that tick finds the apology due since
    # Wed 25 Mar 08:00 and the appointment already passed, the stage overdue by Wed 6.5 + Thu 8 +
    # Fri 0.5 = 15 hours, and the dossier by Thu 08:00-17:00 7.5 + Fri 0.5 = 8 hours.
    apology(D5, LABOUR, 1, "03-26 08:00", "has passed"),
    overdue(D5, LABOUR, "stage", 1, "03-25 09:00", 15.0, "03-27 08:00"),
    overdue(D5, LABOUR, "dossier", 1, "03-26 08:00", 8.0, "03-27 08:00"),
    # D6. Received Mon 30 Mar 08:00: stage 0 due Tue 31 Mar 08:00.
    *warned(D6, COMMUNE_2, 0, "03-31 08:00", 8.0),
]


# ---- the story --------------------------------------------------------------------------------


@dataclass
class Story:
    district: District
    services: RunningServices
    nats_url: str


async def play(d: District, running: RunningServices, env: dict[str, str], log_dir: Path) -> None:
    # Before Tết: D1 at commune 1.
    assert await d.submit(COMMUNE, "02-10 08:00", "9.000001") == D1
    await d.act(COMMUNE, "stage_completed", D1, "02-10 16:00", 3, outcome="forward")  # + handoff_sent
    await d.act(LABOUR, "handoff_received", D1, "02-11 08:00", 4, stage_index=1)
    await d.tick("02-13 16:00")  # D1 stage 1: one working day left
    await d.tick("02-23 16:00")  # after Tết, exactly its due time: not overdue yet
    await d.tick("02-24 08:00")  # overdue
    await d.act(LABOUR, "stage_completed", D1, "02-25 10:00", 6, outcome="forward")
    await d.act(PROVINCE_DEPT, "handoff_received", D1, "02-25 14:00", 7)

    # March, week 1: D2 and D3 arrive; D1 is asked for its apology.
    assert await d.submit(COMMUNE_2, "03-02 08:00", "9.000001") == D2
    assert await d.submit(COMMUNE, "03-02 08:00", "9.000002") == D3
    # D3's stage 1 is at the same commune: handoff_sent and an inferred handoff_received.
    await d.act(COMMUNE, "stage_completed", D3, "03-02 09:00", 4, outcome="forward")
    await d.act(COMMUNE_2, "stage_completed", D2, "03-02 10:00", 3, outcome="forward")
    await d.act(COMMUNE, "supplement_requested", D3, "03-02 10:00", 5, reason="Thiếu giấy xác nhận")
    await d.tick("03-03 09:00")  # D1's appointment (08:00) has passed
    # D3 restart: resumed + rescheduled; the appointment is the receipt + 6 working days again:
    # Tue 6.5, Wed-Mon 32 (38.5), Tue 8 (46.5), Wed 11 Mar 07:30 + 1.5 -> 09:00.
    await d.act(COMMUNE, "supplement_received", D3, "03-03 09:00", 7)
    # D1's province ends exactly at its due time: stage_completed, result_ready, handoff_sent.
    await d.act(PROVINCE_DEPT, "stage_completed", D1, "03-03 10:00", 10, outcome="result_ready")
    await d.act(COMMUNE, "stage_completed", D3, "03-03 10:00", 9, outcome="forward")
    # The next tick follows at once, as it does after every action here: the deadline service must
    # not flag D1's stage 2 or warn D3's finished stage 1 (due Wed 4 Mar 13:30, warned Tue 13:30)
    # on facts it has not applied yet.
    await d.act(JUSTICE, "handoff_received", D3, "03-03 14:00", 10)
    # The commune hands D1's result over without signing for the return hand-off first: routing
    # infers the receipt (handoff_received, stage_completed, returned).
    await d.act(COMMUNE, "result_returned", D1, "03-03 15:00", 13)
    await d.tick("03-05 10:00")  # warnings: D2 stage 1, D3 stage 2
    # D2's labour office signs for it three working days after it was sent (Mon 10:00 -> Thu 10:00).
    await d.act(LABOUR, "handoff_received", D2, "03-05 10:00", 4)
    await d.act(LABOUR, "supplement_requested", D2, "03-05 14:00", 5, reason="Thiếu sổ hộ khẩu")
    await d.tick("03-06 11:00")  # D3 stage 2 overdue; D2's stage 1 stands still
    await d.act(JUSTICE, "stage_completed", D3, "03-09 10:00", 13, outcome="result_ready")
    await poll_until(lambda: ("warning", D3, COMMUNE, 3) in {alert_key(a)[:4] for a in d.alerts}, timeout=30,
                     message="D3's return-stage warning")  # fmt: skip

    # The deadline service goes down; the commune returns D3's result meanwhile (its tick is lost
    # to the deadline service, which resumes at its saved clock and catches up on the facts).
    await asyncio.to_thread(running.processes["deadline"].terminate)
    await asyncio.to_thread(running.processes["deadline"].wait, 20)
    await d.act(COMMUNE, "result_returned", D3, "03-09 15:00", 16)
    await asyncio.to_thread(restart_deadline_process, running, env, log_dir)

    await d.act(COMMUNE_2, "supplement_received", D2, "03-10 14:00", 7)  # resumed + rescheduled
    await d.act(LABOUR, "stage_completed", D2, "03-11 09:00", 9, outcome="forward")
    await d.act(PROVINCE_DEPT, "handoff_received", D2, "03-11 13:00", 10)
    await d.act(PROVINCE_DEPT, "stage_completed", D2, "03-13 15:00", 13, outcome="result_ready")

    # From 16 March: D4, then D5.
    assert await d.submit(COMMUNE_2, "03-16 08:00", "9.000004") == D4
    await d.act(COMMUNE_2, "result_returned", D2, "03-16 09:00", 16)
    await d.act(COMMUNE_2, "stage_completed", D4, "03-16 10:00", 3, outcome="forward")
    await d.act(PROVINCE_DEPT, "handoff_received", D4, "03-16 14:00", 4)
    await d.tick("03-18 10:00")
    await d.act(PROVINCE_DEPT, "stage_completed", D4, "03-19 10:00", 6, outcome="forward")
    await d.act(PROVINCE, "handoff_received", D4, "03-19 14:00", 7)
    await d.tick("03-20 10:00")
    assert await d.submit(COMMUNE, "03-23 08:00", "9.000003") == D5
    await d.act(COMMUNE, "stage_completed", D5, "03-23 09:00", 3, outcome="forward")
    await d.tick("03-23 11:00")
    await d.tick("03-24 08:00")
    await d.act(PROVINCE, "apology_issued", D4, "03-24 09:00", 8, new_appointment_at=t("03-26 17:00"))
    await d.tick("03-27 08:00")
    await d.act(PROVINCE, "stage_completed", D4, "03-27 10:00", 11, outcome="result_ready")
    await d.act(COMMUNE_2, "result_returned", D4, "03-27 15:00", 14)
    assert await d.submit(COMMUNE_2, "03-30 08:00", "9.000001") == D6
    await d.tick("03-30 09:00")


def restart_deadline_process(running: RunningServices, env: dict[str, str], log_dir: Path) -> None:
    again = start_services(env, log_dir, ("deadline",), log_suffix=".restarted")
    running.processes["deadline"] = again.processes["deadline"]
    running.logs["deadline.restarted"] = again.logs["deadline"]


async def duplicates(d: District) -> None:
    """Every input of D1 and D4 again (same event ids: once with the same Nats-Msg-Id, which
    JetStream drops, once with a fresh one, which the services' inboxes must drop), every fact of
    D4 and D5 redelivered in reverse order, and ticks repeated or moving backwards."""
    for code in (D1, D4):
        for body in d.inputs[code]:
            await publish_agency(d.js, body["agency"], body)
            payload = json.dumps(body, ensure_ascii=False).encode()
            await d.js.publish(subjects.in_agency(body["agency"], body["type"]), payload,
                               headers={"Nats-Msg-Id": str(uuid.uuid4())})  # fmt: skip
    for seen in reversed([f for f in d.facts if f.body["dossier_code"] in (D4, D5)]):
        await d.js.publish(seen.subject, json.dumps(seen.body).encode(), headers={"Nats-Msg-Id": str(uuid.uuid4())})
    for when in ("03-30 09:00", "03-02 08:00", "03-30 09:00"):
        await d.tick(when)


@pytest.fixture(scope="module")
async def story(nats_url: str, e2e_database: str, tmp_path_factory: pytest.TempPathFactory):
    await reset_streams(nats_url)
    env = service_env(nats_url, e2e_database)
    log_dir = tmp_path_factory.mktemp("e2e-deadline-logs")
    running = start_services(env, log_dir)
    nc, js = await connect(nats_url)
    try:
        district = District(nc, js)
        await district.listen()
        await play(district, running, env, log_dir)
        with contextlib.suppress(AssertionError):  # a missing alert shows in the tests' own comparison
            await poll_until(lambda: len(district.alerts) >= len(EXPECTED_ALERTS), timeout=30, message="every alert")
        fact_ids = {f.body["event_id"] for f in district.facts}
        await duplicates(district)
        await asyncio.sleep(3)  # what has not come by now would be a duplicate, late
        assert {f.body["event_id"] for f in district.facts} == fact_ids, "a duplicate input made a new fact"
        yield Story(district, running, nats_url)
    finally:
        await nc.close()
        stop_services(running)


# ---- the alerts -------------------------------------------------------------------------------


async def test_every_warning_overdue_flag_and_apology_request_is_published_exactly_once(story):
    published = Counter(alert_key(a) for a in story.district.alerts)
    expected = Counter(EXPECTED_ALERTS)
    missing, unexpected = sorted((expected - published).elements()), sorted((published - expected).elements())
    assert published == expected, "\n".join(["missing:", *map(str, missing), "unexpected:", *map(str, unexpected)])


async def test_each_overdue_flag_comes_within_one_second_of_the_tick_that_passed_its_due_time(story):
    d = story.district
    flags = d.overdue_flags()
    assert len(flags) == 7
    for flag in flags:
        due = datetime.fromisoformat(flag.body["data"]["due_at"])
        passed_at = next(wall for now, wall in d.ticks if now > due)
        assert flag.at - passed_at < 1.0, (flag.body, round(flag.at - passed_at, 3))


async def test_nothing_was_refused_dead_lettered_or_crashed(story):
    d = story.district
    assert d.rejected == [] and d.dead == []
    logs = story.services.log_text()
    assert "Traceback" not in logs, logs[-3000:]
    assert "started successfully" in story.services.logs["deadline.restarted"].read_text()


# ---- explain and report through the operators' command line ------------------------------------


async def lienthong(nats_url: str, *args: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "shared.cli", *args, "--json", cwd=ROOT, env={**os.environ, "NATS_URL": nats_url},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return json.loads(out)


STAGE_KEYS = ("index", "agency", "role", "start", "received_at", "end", "outcome", "due", "budget_hours",
              "paused_hours", "used_hours", "overrun_hours", "late", "handoff_wait_hours")  # fmt: skip
VERDICT_KEYS = ("status", "holder_agency", "open_stage", "received_at", "appointment_at", "result_ready_at",
                "returned_at", "late", "late_by_hours")  # fmt: skip


def explained_stages(e: dict[str, Any]) -> list[tuple]:
    return [tuple(s[k] for k in STAGE_KEYS) for s in e["stages"]]


def explained_verdict(e: dict[str, Any]) -> dict[str, Any]:
    return {k: e[k] for k in VERDICT_KEYS} | {
        "appointments": [(a["cause"], a["appointment_at"]) for a in e["appointments"]],
        "pauses": [(p["kind"], p["stage_index"], p["agency"], p["start"], p["end"], p["working_hours"], p["charged_to"])
                   for p in e["pauses"]],
        "blamed": [(b["stage_index"], b["agency"], b["overrun_hours"]) for b in e["blamed"]],
    }  # fmt: skip


def times(row: tuple) -> tuple:
    """A hand-written row with its 'MM-DD HH:MM' strings turned into the service's ISO times."""
    return tuple(t(v) if isinstance(v, str) and len(v) == 11 and v[2] == "-" and v[5] == " " else v for v in row)


def expected(verdict: dict[str, Any], stages: list[tuple] | None) -> tuple[dict[str, Any], list[tuple] | None]:
    """The verdict's times, appointments and pauses written as 'MM-DD HH:MM'; stages as STAGE_KEYS rows."""
    verdict = {k: times((v,))[0] for k, v in verdict.items()}
    verdict["appointments"] = [times(a) for a in verdict["appointments"]]
    verdict["pauses"] = [times(p) for p in verdict.get("pauses", [])]
    return verdict, [times(s) for s in stages] if stages is not None else None


def done(appointment, received, ready, returned, late, late_by, appointments, blamed, pauses=()) -> dict[str, Any]:
    return {"status": "returned", "holder_agency": None, "open_stage": None, "received_at": received,
            "appointment_at": appointment, "result_ready_at": ready, "returned_at": returned, "late": late,
            "late_by_hours": late_by, "appointments": appointments, "pauses": list(pauses),
            "blamed": blamed}  # fmt: skip


def ongoing(appointment, received, holder, open_stage) -> dict[str, Any]:
    return {"status": "in_progress", "holder_agency": holder, "open_stage": open_stage, "received_at": received,
            "appointment_at": appointment, "result_ready_at": None, "returned_at": None, "late": False,
            "late_by_hours": 0.0, "appointments": [("received", appointment)], "pauses": [], "blamed": []}  # fmt: skip


# fmt: off
EXPLAINED = {
    # Late by Tue 08:00-10:00 only because the labour office overran, by Mon 23 Feb 16:00-17:00 +
    # Tue 8 + Wed 07:30-10:00 = 11.5 hours; the province used exactly its 32 hours.
    D1: expected(
        done("03-03 08:00", "02-10 08:00", "03-03 10:00", "03-03 15:00", True, 2.0,
             [("received", "03-03 08:00")], [(1, LABOUR, 11.5)]),
        [   # index agency role start received end outcome due budget paused used overrun late wait
            (0, COMMUNE, "receive", "02-10 08:00", "02-10 08:00", "02-10 16:00", "forward", "02-11 08:00",
             8.0, 0.0, 6.5, 0.0, False, 0.0),
            # signed for Wed 08:00 (Tue 16:00-17:00 + Wed 07:30-08:00); used Tue 1 + Wed-Fri 24, then
            # Mon-Tue 16 after Tết + Wed 2.5
            (1, LABOUR, "process", "02-10 16:00", "02-11 08:00", "02-25 10:00", "forward", "02-23 16:00",
             32.0, 0.0, 43.5, 11.5, True, 1.5),
            (2, PROVINCE_DEPT, "decide", "02-25 10:00", "02-25 14:00", "03-03 10:00", "result_ready", "03-03 10:00",
             32.0, 0.0, 32.0, 0.0, False, 2.5),
            # the receipt inferred when the result was handed over
            (3, COMMUNE, "return", "03-03 10:00", "03-03 15:00", "03-03 15:00", "returned", "03-04 10:00",
             8.0, 0.0, 3.5, 0.0, False, 3.5),
        ],
    ),
    # On time: the pause (Thu 5 Mar 14:00 - Tue 10 Mar 14:00: Thu 3, Fri 8, Mon 8, Tue 5) moved the
    # appointment by 24 hours, to Thu 19 Mar 08:00, and the labour office's due time with it. Its
    # 24-hour wait for the hand-off is its own: it used 24 + 2.5 + 4.5 = 31 of its 32 hours.
    D2: expected(
        done("03-19 08:00", "03-02 08:00", "03-13 15:00", "03-16 09:00", False, 0.0,
             [("received", "03-16 08:00"), ("pause", "03-19 08:00")], [],
             [("supplement", 1, LABOUR, "03-05 14:00", "03-10 14:00", 24.0, None)]),
        [
            (0, COMMUNE_2, "receive", "03-02 08:00", "03-02 08:00", "03-02 10:00", "forward", "03-03 08:00",
             8.0, 0.0, 2.0, 0.0, False, 0.0),
            (1, LABOUR, "process", "03-02 10:00", "03-05 10:00", "03-11 09:00", "forward", "03-11 10:00",
             32.0, 24.0, 31.0, 0.0, False, 24.0),
            # Wed 11 Mar 09:00 + 32 h: Wed 6.5, Thu 8, Fri 8, Mon 8 (30.5), Tue 1.5
            (2, PROVINCE_DEPT, "decide", "03-11 09:00", "03-11 13:00", "03-13 15:00", "result_ready", "03-17 09:00",
             32.0, 0.0, 20.5, 0.0, False, 2.5),
            (3, COMMUNE_2, "return", "03-13 15:00", "03-16 09:00", "03-16 09:00", "returned", "03-16 15:00",
             8.0, 0.0, 3.5, 0.0, False, 3.5),
        ],
    ),
    # On time against the restarted appointment (Wed 11 Mar 09:00), although the justice office
    # overran its 24 hours by Fri 10:00-17:00 5.5 + Mon 07:30-10:00 2.5 = 8 hours.
    D3: expected(
        done("03-11 09:00", "03-02 08:00", "03-09 10:00", "03-09 15:00", False, 0.0,
             [("received", "03-10 08:00"), ("restart", "03-11 09:00")], [(2, JUSTICE, 8.0)],
             [("supplement", 1, COMMUNE, "03-02 10:00", "03-03 09:00", 7.0, None)]),
        [
            (0, COMMUNE, "receive", "03-02 08:00", "03-02 08:00", "03-02 09:00", "forward", "03-02 13:30",
             4.0, 0.0, 1.0, 0.0, False, 0.0),
            # 12 hours from Mon 09:00 -> Tue 14:30; the 7 paused hours (Mon 10:00 - Tue 09:00) -> Wed 13:30
            (1, COMMUNE, "process", "03-02 09:00", "03-02 09:00", "03-03 10:00", "forward", "03-04 13:30",
             12.0, 7.0, 2.0, 0.0, False, 0.0),
            (2, JUSTICE, "decide", "03-03 10:00", "03-03 14:00", "03-09 10:00", "result_ready", "03-06 10:00",
             24.0, 0.0, 32.0, 8.0, True, 2.5),
            (3, COMMUNE, "return", "03-09 10:00", "03-09 15:00", "03-09 15:00", "returned", "03-10 10:00",
             8.0, 0.0, 3.5, 0.0, False, 3.5),
        ],
    ),
    # Judged against the apology's appointment (Thu 26 Mar 17:00): late by Fri 07:30-10:00. The
    # province overran its 16 hours by Mon 23 Mar 10:00 -> Fri 27 Mar 10:00 = 5.5 + 3 x 8 + 2.5.
    D4: expected(
        done("03-26 17:00", "03-16 08:00", "03-27 10:00", "03-27 15:00", True, 2.5,
             [("received", "03-25 08:00"), ("apology", "03-26 17:00")], [(2, PROVINCE, 32.0)]),
        [
            (0, COMMUNE_2, "receive", "03-16 08:00", "03-16 08:00", "03-16 10:00", "forward", "03-17 08:00",
             8.0, 0.0, 2.0, 0.0, False, 0.0),
            (1, PROVINCE_DEPT, "process", "03-16 10:00", "03-16 14:00", "03-19 10:00", "forward", "03-19 10:00",
             24.0, 0.0, 24.0, 0.0, False, 2.5),
            (2, PROVINCE, "decide", "03-19 10:00", "03-19 14:00", "03-27 10:00", "result_ready", "03-23 10:00",
             16.0, 0.0, 48.0, 32.0, True, 2.5),
            (3, COMMUNE_2, "return", "03-27 10:00", "03-27 15:00", "03-27 15:00", "returned", "03-30 10:00",
             8.0, 0.0, 3.5, 0.0, False, 3.5),
        ],
    ),
    # Still at the labour office, which never signed for it: not judged (no result yet), but past
    # its appointment and its stage past due.
    D5: expected(
        ongoing("03-26 08:00", "03-23 08:00", LABOUR, 1),
        [
            (0, COMMUNE, "receive", "03-23 08:00", "03-23 08:00", "03-23 09:00", "forward", "03-24 08:00",
             8.0, 0.0, 1.0, 0.0, False, 0.0),
            (1, LABOUR, "decide", "03-23 09:00", None, None, None, "03-25 09:00",
             16.0, 0.0, None, 0.0, False, None),
        ],
    ),
    # Received Mon 30 Mar 08:00: Mon 7.5, Tue 8, then April's office hours (07:30-11:30,
    # 13:30-17:30) Wed 1 - Fri 10 Apr 64 (79.5), Mon 13 Apr 07:30 + 0.5.
    D6: expected(ongoing("04-13 08:00", "03-30 08:00", COMMUNE_2, 0), None),
}
# fmt: on


@pytest.mark.parametrize("code", list(EXPLAINED))
async def test_explain_json_gives_the_verdict_the_late_stages_and_their_agencies(story, code: str):
    e = await lienthong(story.nats_url, "explain", code)
    verdict_expected, stages_expected = EXPLAINED[code]
    assert e["code"] == code
    assert explained_verdict(e) == verdict_expected
    if stages_expected is not None:
        assert explained_stages(e) == stages_expected
    if code == D6:  # only the receiving stage has started; the rest is the plan
        assert [(s["index"], s["agency"], s["start"], s["due"]) for s in e["stages"]] == [
            (0, COMMUNE_2, t("03-30 08:00"), t("03-31 08:00")),
            (1, LABOUR, None, None),
            (2, PROVINCE_DEPT, None, None),
            (3, COMMUNE_2, None, None),
        ]
    if code == D4:
        assert e["appointments"][1]["agency"] == PROVINCE
    if code == D1:
        assert e["blamed"][0]["agency_name"] == LABOUR_NAME and e["procedure"] == "9.000001"


def counts(r: dict[str, Any]) -> tuple:
    return (r["finished_on_time"], r["finished_late"], r["on_time_rate"], r["in_progress_within"],
            r["in_progress_past_due"])  # fmt: skip


def lateness(r: dict[str, Any]) -> list[tuple]:
    return [(x["agency"], x["stage_role"], x["procedure"], x["late_stages"], x["overrun_hours"]) for x in r["lateness"]]


PROVINCE_LATE = (PROVINCE, "decide", "9.000004", 1, 32.0)
LABOUR_LATE = (LABOUR, "process", "9.000001", 1, 11.5)
JUSTICE_LATE = (JUSTICE, "decide", "9.000002", 1, 8.0)


async def test_report_json_counts_on_time_late_and_running_dossiers_and_ranks_the_overruns(story):
    r = await lienthong(story.nats_url, "report")
    assert r["as_of"] == t("03-30 09:00")
    # finished: D2, D3 on time; D1, D4 late -> 2 / (2 + 2). Running: D6 within, D5 past due.
    assert counts(r) == (2, 2, 0.5, 1, 1)
    assert lateness(r) == [PROVINCE_LATE, LABOUR_LATE, JUSTICE_LATE]  # largest overrun first
    assert [(p["procedure"], *counts(p)) for p in r["by_procedure"]] == [
        ("9.000001", 1, 1, 0.5, 1, 0),
        ("9.000002", 1, 0, 1.0, 0, 0),
        ("9.000003", 0, 0, None, 0, 1),
        ("9.000004", 0, 1, 0.0, 0, 0),
    ]
    assert [(a["agency"], *counts(a)) for a in r["by_agency"]] == [
        (COMMUNE, 1, 1, 0.5, 0, 1),
        (COMMUNE_2, 1, 1, 0.5, 1, 0),
    ]


async def test_report_json_filters_by_result_or_receipt_date_procedure_and_agency(story):
    url = story.nats_url
    window, until, procedure, labour, combined = await asyncio.gather(
        lienthong(url, "report", "--from", "2026-03-04", "--to", "2026-03-31"),
        lienthong(url, "report", "--to", "2026-03-03"),
        lienthong(url, "report", "--procedure", "9.000001"),
        lienthong(url, "report", "--agency", LABOUR),
        lienthong(url, "report", "--from", "2026-03-10", "--procedure", "9.000004", "--agency", PROVINCE),
    )
    # results ready 4-31 Mar: D3 (9 Mar), D2 (13 Mar) on time, D4 (27 Mar) late; received then
    # and still running: D5 past due, D6 within.
    assert (window["from"], window["to"]) == ("2026-03-04", "2026-03-31")
    assert counts(window) == (2, 1, 0.6667, 1, 1)
    assert lateness(window) == [PROVINCE_LATE, JUSTICE_LATE]
    # up to 3 Mar: D1's result (3 Mar), late; D2 and D3, received 2 Mar, finished later.
    assert counts(until) == (0, 1, 0.0, 0, 0)
    assert lateness(until) == [LABOUR_LATE]
    assert counts(procedure) == (1, 1, 0.5, 1, 0)
    assert lateness(procedure) == [LABOUR_LATE]
    # dossiers that went through the labour office: D1 (late), D2 (on time), D5 (past due); not D6,
    # which has not left the commune yet.
    assert counts(labour) == (1, 1, 0.5, 0, 1)
    assert lateness(labour) == [LABOUR_LATE]
    assert counts(combined) == (0, 1, 0.0, 0, 0)
    assert lateness(combined) == [PROVINCE_LATE]
