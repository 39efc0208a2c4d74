"""Every NATS subject of the public contract (CONTRACT.md §2), in one place."""

from __future__ import annotations

IN_AGENCY_PREFIX = "lt.in.agency"
IN_POSTAL_PREFIX = "lt.in.postal"
EVT_PREFIX = "lt.evt"
OUT_AGENCY_PREFIX = "lt.out.agency"
OUT_POSTAL_PREFIX = "lt.out.postal"

IN_AGENCY_ALL = "lt.in.agency.>"
IN_AGENCY_SUBMITTED = "lt.in.agency.*.submitted"
IN_POSTAL_ALL = "lt.in.postal.>"
EVT_DOSSIER_ALL = "lt.evt.dossier.>"
EVT_ALL = "lt.evt.>"

RPC_INTAKE_SUBMIT = "lt.rpc.intake.submit"
RPC_INTAKE_DELIVERY_ADDRESS = "lt.rpc.intake.delivery_address"
RPC_DEADLINE_EXPLAIN = "lt.rpc.deadline.explain"
RPC_DEADLINE_REPORT = "lt.rpc.deadline.report"
# Extensions for the operators' page and `lienthong recommend` (services/deadline/ops.py).
RPC_DEADLINE_TREND = "lt.rpc.deadline.trend"
RPC_DEADLINE_HEATMAP = "lt.rpc.deadline.heatmap"
RPC_DEADLINE_HANDOFFS = "lt.rpc.deadline.handoffs"
RPC_DEADLINE_DOSSIERS = "lt.rpc.deadline.dossiers"
RPC_DEADLINE_RECOMMEND = "lt.rpc.deadline.recommend"
# Extension for `lienthong export` (services/deadline/eventlog.py): dossier timelines, paged by code.
RPC_DEADLINE_EVENT_LOG = "lt.rpc.deadline.event_log"
SIM_CLOCK = "lt.sim.clock"

# Extension: dead letters for messages that cannot be attributed to any agency.
DEAD_LETTER_PREFIX = "lt.out.dead_letter"


def agency_token(agency_code: str) -> str:
    """`000.00.15.H57` -> `000_00_15_H57` (CONTRACT.md §2)."""
    return agency_code.replace(".", "_")


def in_agency(agency_code: str, action: str) -> str:
    return f"{IN_AGENCY_PREFIX}.{agency_token(agency_code)}.{action}"


def in_postal(action: str) -> str:
    return f"{IN_POSTAL_PREFIX}.{action}"


def fact(topic: str, type_: str) -> str:
    return f"{EVT_PREFIX}.{topic}.{type_}"


def out_agency(agency_code: str, type_: str) -> str:
    return f"{OUT_AGENCY_PREFIX}.{agency_token(agency_code)}.{type_}"


def out_postal(type_: str) -> str:
    return f"{OUT_POSTAL_PREFIX}.{type_}"


def dead_letter(service: str) -> str:
    return f"{DEAD_LETTER_PREFIX}.{service}"
