"""What a run left behind, per dossier, in a form two runs can be compared by.

Dossier codes depend on the order intake numbered concurrent submissions, so dossiers are keyed
by what the simulator chose: (receiving agency, external reference). Per dossier: routing's state,
stages and pauses (the control slip), the deadline service's verdicts, stages, facts and alerts,
the post's shipments, and every outbound message each service wrote to its outbox (its subject
only: ids are fresh per run). Facts and outbox rows are multisets, so a fact applied twice or a
message announced twice shows up as one more row than in the fault-free run.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg

SCHEMAS = ("intake", "routing", "deadline", "postal")

QUERIES: dict[str, str] = {
    "routing": """SELECT code, jsonb_build_object('status', status, 'sub_state', sub_state, 'holder', holder,
                    'stage', current_stage, 'seq', seq, 'appointment_at', appointment_at) AS v
                  FROM routing.dossiers""",
    "routing_stages": """SELECT dossier_code AS code, jsonb_agg(jsonb_build_array(stage_index, agency, role, sent_at,
                    received_at, received_inferred, completed_at, outcome, due_at, paused_seconds)
                    ORDER BY stage_index) AS v FROM routing.stages GROUP BY 1""",
    "routing_pauses": """SELECT dossier_code AS code, jsonb_agg(jsonb_build_array(paused_seq, kind, stage_index, agency,
                    paused_at, resumed_at, paused_seconds, policy) ORDER BY paused_seq) AS v
                  FROM routing.pauses GROUP BY 1""",
    "verdict": """SELECT code, jsonb_build_object('status', status, 'late', late, 'late_hours', late_hours,
                    'received_at', received_at, 'appointment_at', appointment_at, 'result_ready_at', result_ready_at,
                    'returned_at', returned_at, 'holder', holder_agency, 'open_stage', open_stage,
                    'agencies', agencies) AS v FROM deadline.dossiers""",
    "deadline_stages": """SELECT dossier_code AS code, jsonb_agg(jsonb_build_array(stage_index, agency, start_at,
                    received_at, end_at, due_at, used_hours, overrun_hours, late, handoff_wait_hours)
                    ORDER BY stage_index) AS v FROM deadline.stages GROUP BY 1""",
    "timers": """SELECT dossier_code AS code, jsonb_agg(jsonb_build_array(kind, identity, due_at, fire_at,
                    fired_at IS NOT NULL) ORDER BY identity) AS v FROM deadline.timers GROUP BY 1""",
    "shipments": """SELECT dossier_code AS code, jsonb_agg(jsonb_build_array(direction, state, attempt, cod_amount_vnd)
                    ORDER BY direction) AS v FROM postal.shipments WHERE dossier_code IS NOT NULL GROUP BY 1""",
    "shipment_events": """SELECT s.dossier_code AS code, jsonb_agg(jsonb_build_array(s.direction, e.status, e.at,
                    e.attempt, e.emitted) ORDER BY s.direction, e.at, e.status) AS v
                  FROM postal.shipment_events e JOIN postal.shipments s USING (waybill)
                  WHERE s.dossier_code IS NOT NULL GROUP BY 1""",
}
# multisets: one entry per row, so that a duplicate is counted
FACTS = "SELECT dossier_code AS code, topic, type, seq, occurred_at FROM deadline.facts"
OUTBOX = "SELECT dossier_code AS code, subject FROM {schema}.outbox WHERE dossier_code IS NOT NULL"


@dataclass
class Snapshot:
    dossiers: dict[str, dict[str, Any]] = field(default_factory=dict)  # key -> section -> value
    rows: dict[str, Counter] = field(default_factory=dict)  # key -> Counter of fact/outbox rows
    unpublished: int = 0  # outbox rows never published (a stuck relay)
    dead_letters: int = 0
    inbox_duplicates: int = 0  # (consumer, msg_key) twice: impossible with the primary key, checked anyway


async def take(database_url: str) -> Snapshot:
    conn = await asyncpg.connect(database_url)
    try:
        keys = {
            r["code"]: f"{r['agency']}/{r['external_ref']}"
            for r in await conn.fetch("SELECT code, agency, external_ref FROM intake.dossiers")
        }
        snap = Snapshot({key: {} for key in keys.values()}, {key: Counter() for key in keys.values()})
        for section, query in QUERIES.items():
            for r in await conn.fetch(query):
                key = keys.get(r["code"], f"?{r['code']}")
                snap.dossiers.setdefault(key, {})[section] = json.loads(r["v"])
        for r in await conn.fetch(FACTS):
            key = keys.get(r["code"], f"?{r['code']}")
            snap.rows.setdefault(key, Counter())[("fact", r["topic"], r["type"], r["seq"], str(r["occurred_at"]))] += 1
        for schema in SCHEMAS:
            for r in await conn.fetch(OUTBOX.format(schema=schema)):
                key = keys.get(r["code"], f"?{r['code']}")
                snap.rows.setdefault(key, Counter())[("outbox", schema, r["subject"])] += 1
            snap.unpublished += await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")
            snap.dead_letters += await conn.fetchval(f"SELECT count(*) FROM {schema}.dead_letters")
            snap.inbox_duplicates += await conn.fetchval(
                f"SELECT count(*) FROM (SELECT 1 FROM {schema}.inbox GROUP BY consumer, msg_key HAVING count(*) > 1) d"
            )
        return snap
    finally:
        await conn.close()


@dataclass
class Comparison:
    dossiers: int
    differing: list[str]
    lost: int  # rows the fault-free run has and the faulty one lacks (plus dossiers missing)
    duplicated: int  # rows the faulty run has in excess
    examples: list[str]


def compare(expected: Snapshot, actual: Snapshot) -> Comparison:
    differing, examples, lost, duplicated = [], [], 0, 0
    for key in sorted(set(expected.dossiers) | set(actual.dossiers)):
        want, got = expected.dossiers.get(key), actual.dossiers.get(key)
        want_rows, got_rows = expected.rows.get(key, Counter()), actual.rows.get(key, Counter())
        missing, extra = want_rows - got_rows, got_rows - want_rows
        lost += sum(missing.values()) + (1 if got is None else 0)
        duplicated += sum(extra.values()) + (1 if want is None else 0)
        if want != got or missing or extra:
            differing.append(key)
            if len(examples) < 5:
                sections = sorted(
                    s for s in set(want or {}) | set(got or {}) if (want or {}).get(s) != (got or {}).get(s)
                )
                examples.append(
                    f"{key}: sections {sections}; missing rows {list(missing.items())[:3]}; "
                    f"extra rows {list(extra.items())[:3]}; "
                    + "; ".join(f"{s}: {(want or {}).get(s)} != {(got or {}).get(s)}" for s in sections[:2])
                )
    return Comparison(len(expected.dossiers), differing, lost, duplicated, examples)


def report_totals(report: dict[str, Any]) -> dict[str, Any]:
    """The report without what depends on the wall clock of the run."""
    return {k: v for k, v in report.items() if k not in ("as_of", "generated_at")}
