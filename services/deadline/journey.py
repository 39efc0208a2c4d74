"""The citizen's side of a dossier: from handing the papers over to holding the result. Pure.

The agencies are judged until `result_ready` (CONTRACT.md §6); the citizen waits longer: for the
post to bring the papers in (a pickup), and for the result to reach them (handed out at the
counter, or delivered by the post). This is that end-to-end time, split into its parts; the
postal legs in it are charged to no agency.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from services.deadline.legs import PostalLeg
from shared.calendar import WorkCalendar


@dataclass(frozen=True)
class Journey:
    start: datetime  # the post picked the papers up (postal intake), else the receipt
    end: datetime | None  # the result in the citizen's hands; None until then
    via: str | None  # counter | postal: how the result reached the citizen
    working_seconds: int | None  # start -> end, in working time
    elapsed_seconds: int | None  # start -> end, in calendar time (what the citizen lives through)
    before_receipt_seconds: int  # the pickup: the post bringing the papers in
    to_result_seconds: int | None  # receipt -> result ready: the agencies' part, the one judged
    after_result_seconds: int | None  # result ready -> in the citizen's hands: the return
    postal_seconds: int  # of all this, in the post's hands (ended legs)


def citizen_journey(
    received_at: datetime | None,
    result_ready_at: datetime | None,
    returned_at: datetime | None,
    returned_via: str | None,
    legs: Sequence[PostalLeg],
    calendar: WorkCalendar,
) -> Journey | None:
    """None while the dossier's receipt is unknown."""
    if received_at is None:
        return None
    pickups = [leg.start for leg in legs if leg.direction == "pickup" and leg.start is not None]
    start = min([*pickups, received_at])
    ended = returned_at if returned_at is not None and returned_at >= start else None

    def working(a: datetime | None, b: datetime | None) -> int | None:
        return calendar.working_seconds_between(a, b) if a is not None and b is not None else None

    return Journey(
        start=start,
        end=ended,
        via=returned_via if ended is not None else None,
        working_seconds=working(start, ended),
        elapsed_seconds=round((ended - start).total_seconds()) if ended is not None else None,
        before_receipt_seconds=working(start, received_at) or 0,
        to_result_seconds=working(received_at, result_ready_at),
        after_result_seconds=working(result_ready_at, ended),
        postal_seconds=sum(leg.working_seconds or 0 for leg in legs),
    )
