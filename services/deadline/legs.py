"""Postal legs of a dossier, from `lt.evt.postal.shipment_updated` facts. Pure.

The post's transit counts against no agency: a pickup leg runs from the post picking the papers
up to the dossier's receipt; a delivery leg from the result (or the post accepting the parcel,
when it said so) to the result leaving the post's hands: delivered, returned to sender, or back
at the receiving agency's counter once the delivery attempts ran out (`state` back_at_counter,
at the last failure), whichever came first. Retries belong to the leg: the result stays with the
post between them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.deadline.facts import Fact
from shared.calendar import WorkCalendar

DELIVERY_ENDS = ("delivered", "returned_to_sender")
BACK_AT_COUNTER = "back_at_counter"


@dataclass(frozen=True)
class PostalLeg:
    waybill: str
    direction: str  # pickup | delivery
    status: str  # the ending (delivered, returned_to_sender, back_at_counter), else the latest status
    start: datetime | None
    end: datetime | None
    working_seconds: int | None


def postal_legs(
    facts: Sequence[Fact], received_at: datetime | None, result_ready_at: datetime | None, calendar: WorkCalendar
) -> tuple[PostalLeg, ...]:
    """One leg per (waybill, direction), from facts already in time order; the legs in time order."""
    shipments: dict[tuple[str, str], list] = {}
    for fact in facts:
        shipments.setdefault((fact.data.waybill, fact.data.direction), []).append(fact.data)
    legs = []
    for (waybill, direction), updates in sorted(shipments.items()):
        first = {}
        for u in updates:
            first.setdefault(u.status, u.at)
        status = next((s for s in DELIVERY_ENDS if s in first), updates[-1].status)
        if direction == "pickup":
            start = first.get("picked_up") or updates[0].at
            end = received_at if received_at is not None and received_at >= start else None
        else:
            start = first.get("accepted") or result_ready_at or updates[0].at
            ends = {s: first[s] for s in DELIVERY_ENDS if s in first}
            back = [u.at for u in updates if u.state == BACK_AT_COUNTER]
            if back:  # the attempts ran out at the last failure
                ends[BACK_AT_COUNTER] = max((u.at for u in updates if u.status == "delivery_failed"), default=min(back))
            end = min(ends.values(), default=None)
            status = min(ends, key=ends.__getitem__) if ends else status
        seconds = calendar.working_seconds_between(start, end) if end is not None else None
        legs.append(PostalLeg(waybill, direction, status, start, end, seconds))
    return tuple(sorted(legs, key=lambda leg: (leg.start is None, leg.start or datetime.min, leg.waybill)))
