"""A shipment's state from every status the post reported: pure and order-tolerant.

The post's reports may arrive late, twice, or in any order. Each report is first given to one
delivery attempt (the post may say which one in `data.attempt`; otherwise its business time
decides: a report dated no later than an earlier attempt's failure belongs to that attempt), and
recorded once per (status, attempt). The shipment's state is then derived from the set of recorded
reports alone, so the order they came in never changes it:

- `delivered` or `returned_to_sender` (of any attempt) end the shipment; a second, different
  ending is impossible and refused, and nothing moves an ended shipment back;
- a delivery's `delivery_failed` ends an attempt: the post is ordered to try again (a new order,
  attempt + 1) until `max_attempts` attempts have failed; the result then goes back to the
  receiving agency's counter (`back_at_counter`), after which `delivered` is impossible;
- otherwise the state is the furthest status of the attempt in progress (`ordered` before any).

A pickup (postal intake) has a single attempt: the post fetched the papers or it did not; its
`returned_to_sender` means the papers went back to the citizen.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from shared.calendar import VN_TZ, WorkCalendar

RANK = {
    "ordered": 0,
    "accepted": 1,
    "picked_up": 2,
    "in_transit": 3,
    "delivery_failed": 4,
    "delivered": 5,
    "returned_to_sender": 5,
}
ENDINGS = ("delivered", "returned_to_sender")
BACK_AT_COUNTER = "back_at_counter"
RESULT_AT_COUNTER = ("returned_to_sender", BACK_AT_COUNTER)  # the receiving agency hands the result out


@dataclass(frozen=True)
class Report:
    status: str
    at: datetime
    attempt: int


@dataclass(frozen=True)
class Shipment:
    waybill: str
    direction: str  # delivery | pickup
    ordered_at: datetime  # the first order: the result ready (delivery) or the citizen's request (pickup)
    reports: tuple[Report, ...] = ()  # every report recorded so far, the first one per (status, attempt)


@dataclass(frozen=True)
class State:
    name: str  # ordered | accepted | picked_up | in_transit | delivered | returned_to_sender | back_at_counter
    attempt: int  # the attempt in progress, or the last one (= delivery orders sent)
    ordered_at: datetime  # when that attempt was ordered

    @property
    def ended(self) -> bool:
        return self.name in ENDINGS or self.name == BACK_AT_COUNTER


@dataclass(frozen=True)
class Applied:
    """A new report: record it; `before` and `after` are the shipment's states around it."""

    report: Report
    before: State
    after: State
    direction: str = "delivery"

    @property
    def reorder(self) -> bool:
        """A failed attempt with attempts left: send the post a new delivery order."""
        return self.after.attempt > self.before.attempt and not self.after.ended

    @property
    def back_to_counter(self) -> bool:
        """The result has just come back to the receiving agency's counter (a delivery only)."""
        if self.direction != "delivery":
            return False
        return self.after.name in RESULT_AT_COUNTER and self.before.name not in RESULT_AT_COUNTER


@dataclass(frozen=True)
class Duplicate:
    """The same status of the same attempt again: already applied."""

    report: Report


@dataclass(frozen=True)
class Impossible:
    reason: str


def failures(reports: Iterable[Report]) -> dict[int, datetime]:
    """Each failed attempt and when it failed (the first report of it)."""
    failed: dict[int, datetime] = {}
    for r in sorted(reports, key=lambda r: (r.attempt, r.at)):
        if r.status == "delivery_failed":
            failed.setdefault(r.attempt, r.at)
    return failed


def state_of(shipment: Shipment, max_attempts: int) -> State:
    """The shipment's state from its recorded reports, whatever order they were recorded in."""
    statuses = {r.status for r in shipment.reports}
    if shipment.direction != "delivery":
        name = max((r.status for r in shipment.reports), key=RANK.__getitem__, default="ordered")
        return State(name, 1, shipment.ordered_at)
    failed = failures(shipment.reports)
    attempt = len(failed) + 1 if len(failed) < max_attempts else max(len(failed), 1)
    ordered_at = failed.get(attempt - 1, shipment.ordered_at)
    if "delivered" in statuses:
        return State("delivered", attempt, ordered_at)
    if "returned_to_sender" in statuses:
        return State("returned_to_sender", attempt, ordered_at)
    if len(failed) >= max_attempts:
        return State(BACK_AT_COUNTER, attempt, ordered_at)
    current = [r.status for r in shipment.reports if r.attempt == attempt]
    return State(max(current, key=RANK.__getitem__, default="ordered"), attempt, ordered_at)


def attempt_of(shipment: Shipment, state: State, at: datetime, declared: int | None) -> int | Impossible:
    """The attempt a report belongs to: the one it names, else the earliest attempt that had not
    yet failed at its business time `at` (a late report of an attempt that failed since)."""
    if declared is not None:
        if declared > state.attempt:
            sent = "1 order was" if state.attempt == 1 else f"{state.attempt} orders were"
            return Impossible(
                f"data.attempt: attempt {declared} of waybill {shipment.waybill} was never ordered ({sent} sent)"
            )
        return declared
    failed = failures(shipment.reports)
    for attempt in range(1, state.attempt):
        if attempt in failed and at <= failed[attempt]:
            return attempt
    return state.attempt


def receive(shipment: Shipment, status: str, at: datetime, declared: int | None, max_attempts: int):
    """One report from the post: `Applied`, `Duplicate`, or `Impossible` with the precise reason."""
    before = state_of(shipment, max_attempts)
    attempt = attempt_of(shipment, before, at, declared)
    if isinstance(attempt, Impossible):
        return attempt
    problem = _impossible(shipment, before, status, at, attempt)
    if problem is not None:
        return problem
    report = Report(status, at, attempt)
    if any(r.status == status and r.attempt == attempt for r in shipment.reports):
        return Duplicate(report)
    after = state_of(
        Shipment(shipment.waybill, shipment.direction, shipment.ordered_at, (*shipment.reports, report)), max_attempts
    )
    return Applied(report, before, after, shipment.direction)


def _local(t: datetime) -> str:
    """A time in a refusal: Vietnam's local time, whatever offset it was stored or sent with."""
    return t.astimezone(VN_TZ).isoformat()


def _impossible(shipment: Shipment, before: State, status: str, at: datetime, attempt: int) -> Impossible | None:
    waybill, kind = shipment.waybill, "delivery" if shipment.direction == "delivery" else "pickup"
    ordered = failures(shipment.reports).get(attempt - 1, shipment.ordered_at) if attempt > 1 else shipment.ordered_at
    if at < ordered:
        return Impossible(
            f"waybill {waybill}: status '{status}' at {_local(at)} is earlier than the {kind} order "
            f"of attempt {attempt} ({_local(ordered)})"
        )
    if status in ENDINGS and before.name in ENDINGS and status != before.name:
        ended = next(r.at for r in shipment.reports if r.status == before.name)
        return Impossible(
            f"waybill {waybill}: status '{status}' is impossible: the shipment already ended as "
            f"'{before.name}' at {_local(ended)}"
        )
    if status == "delivered" and before.name == BACK_AT_COUNTER:
        last = max(failures(shipment.reports).values())
        return Impossible(
            f"waybill {waybill}: status 'delivered' is impossible: after {before.attempt} failed delivery attempts "
            f"(the last at {_local(last)}) the result went back to the receiving agency's counter"
        )
    return None


def transit_start(shipment: Shipment) -> datetime:
    """When the post's transit began: its first `accepted`, else the order (as the deadline service
    draws the postal leg)."""
    accepted = [r.at for r in shipment.reports if r.status == "accepted"]
    return min(accepted, default=shipment.ordered_at)


def return_stage_due(
    calendar: WorkCalendar, stage_start: datetime, budget_seconds: int, transit_from: datetime, back_at: datetime
) -> datetime:
    """When the receiving agency must hand out a result the post brought back: the return stage's
    start plus its budget plus the post's transit inside it, which counts against no agency
    (CONTRACT.md §6), i.e. the due time the deadline service judges that stage by."""
    transit = calendar.working_seconds_between(max(transit_from, stage_start), back_at)
    return calendar.add_working_seconds(stage_start, budget_seconds + transit)
