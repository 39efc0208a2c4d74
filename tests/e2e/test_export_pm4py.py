"""The event-log export read by PM4Py (a test-only dependency: AGPL, never imported by services or
shared). A small simulated district on the tests' catalog, with one chronically slow agency,
goes through the four service processes; `lienthong export` writes XES and OCEL 2.0; PM4Py reads
both, and its view of the slowest activity must agree with our report's slowest stage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from datetime import datetime

import nats
import pm4py  # test-only (AGPL): in the dev extras, never imported by services or shared
import pytest

from shared.catalog import load_catalog
from shared.contracts import subjects
from shared.export.cli import cases, export
from shared.sim.driver import simulate
from shared.sim.scenario import SimConfig
from shared.sim.verify import blamed_stages, compare, ground_truth
from tests.conftest import ROOT
from tests.e2e.conftest import CATALOG

pytestmark = pytest.mark.e2e
PROCEDURE = "9.000001"  # receive (commune) -> process (district office) -> decide (province) -> return


async def _ask(nats_url: str, subject: str, request: dict) -> dict:
    nc = await nats.connect(nats_url)
    try:
        reply = await nc.request(subject, json.dumps(request).encode(), timeout=30)
    finally:
        await nc.close()
    answer = json.loads(reply.data)
    assert answer["ok"], answer
    return answer


@pytest.mark.timeout(600)
async def test_pm4py_reads_the_export_and_sees_the_slowest_activity_our_report_blames(services, tmp_path):
    catalog = load_catalog(CATALOG)
    config = SimConfig(
        dossiers=36,
        seed=17,
        arrival_working_days=4,
        procedures=(PROCEDURE,),
        slow_agency_count=1,
        late_probability_slow=1.0,
        late_probability_normal=0.0,
        slow_handoff_pairs=0,
        refusal_probability=0.0,
        withdrawal_probability=0.0,
    )
    result = await simulate(services.nats_url, catalog, config, progress=False)
    (slow,) = result.world.slow_agencies
    nc = await nats.connect(services.nats_url)
    try:
        agreement = compare(ground_truth(result.scripts), await blamed_stages(nc, [s.code for s in result.scripts]))
    finally:
        await nc.close()
    assert (agreement.precision, agreement.recall) == (1.0, 1.0) and agreement.truth > 0

    # Our report's slowest stage: the first row of its lateness ranking.
    report = (await _ask(services.nats_url, subjects.RPC_DEADLINE_REPORT, {}))["report"]
    top = report["lateness"][0]
    assert top["agency"] == slow

    # XES through the export code path (three pages: the paging must lose nothing) ...
    xes_path = tmp_path / "log.xes"
    with xes_path.open("w", encoding="utf-8") as out:
        traces, xes_events = await export(services.nats_url, "xes", out, {}, page=16)
    assert traces == config.dossiers
    # ... and OCEL through the command itself.
    ocel_path = tmp_path / "log.jsonocel"
    env = {**os.environ, "NATS_URL": services.nats_url}
    done = subprocess.run(
        [sys.executable, "-m", "shared.cli", "export", "--format", "ocel", "--out", str(ocel_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"{config.dossiers} hồ sơ" in done.stderr

    # PM4Py's view of the XES: mean service time per activity from start/complete lifecycle.
    from pm4py.objects.log.util import interval_lifecycle

    frame = pm4py.read_xes(str(xes_path))
    assert len(frame) == xes_events
    assert frame["case:concept:name"].nunique() == config.dossiers
    intervals = interval_lifecycle.to_interval(pm4py.convert_to_event_log(frame))
    service = pm4py.get_service_time(
        intervals, aggregation_measure="mean", start_timestamp_key="start_timestamp", timestamp_key="time:timestamp"
    )
    stage_times = {activity: seconds for activity, seconds in service.items() if activity.startswith("stage ")}
    slowest = max(stage_times, key=stage_times.get)
    assert slowest == f"stage {top_stage_index(catalog, top)} {top['stage_role']} at {top['agency']}", stage_times

    # The same means straight from our cases: PM4Py read exactly the spans we wrote.
    ours: dict[str, list[float]] = defaultdict(list)
    async for case in cases(services.nats_url, {}):
        for s in case["stages"]:
            if s["start"] and s["end"]:
                seconds = (datetime.fromisoformat(s["end"]) - datetime.fromisoformat(s["start"])).total_seconds()
                ours[f"stage {s['index']} {s['role']} at {s['agency']}"].append(seconds)
    assert set(ours) == set(stage_times)
    for activity, spans in ours.items():
        assert stage_times[activity] == pytest.approx(sum(spans) / len(spans), abs=1.0), activity

    # PM4Py's view of the OCEL: every dossier an object; the late stage completions all at the slow agency.
    ocel = pm4py.read_ocel2_json(str(ocel_path))
    objects = ocel.objects
    assert (objects["ocel:type"] == "dossier").sum() == config.dossiers
    assert slow in set(objects[objects["ocel:type"] == "agency"]["ocel:oid"])
    events = ocel.events
    late_ids = set(events[(events["ocel:activity"] == "stage completed") & (events["late"] == True)]["ocel:eid"])  # noqa: E712
    assert len(late_ids) == agreement.truth
    relations = ocel.relations
    holders = relations[(relations["ocel:eid"].isin(late_ids)) & (relations["ocel:qualifier"] == "holder")]
    assert set(holders["ocel:oid"]) == {slow}
    logs = services.log_text()
    assert "Traceback" not in logs, logs[-3000:]


def top_stage_index(catalog, row: dict) -> int:
    """The stage index of the report's (agency, role) in the simulated procedure."""
    stages = catalog.procedures[row["procedure"]].stages
    return next(i for i, s in enumerate(stages) if s.agency == row["agency"] and s.role == row["stage_role"])
