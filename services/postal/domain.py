"""A shipment's state from every status the post reported: pure and order-tolerant.

Statuses may arrive late or twice. The state is the furthest status of the current attempt;
`delivered` and `returned_to_sender` end a shipment and nothing moves it back; a second, different
ending is impossible and refused. A `delivery_failed` ends an attempt: the post tries again
(a new order) until the attempts run out, and the result then goes back to the counter.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class StatusReport:
    status: str
    attempt: int


@dataclass(frozen=True)
class Outcome:
    state: str
    reorder: bool = False  # send a new delivery order (attempt + 1)
    back_to_counter: bool = False  # the result returns to the receiving agency's counter


def impossible(current: str, incoming: str) -> str | None:
    """Why `incoming` cannot follow a shipment whose state is `current`, or None."""
    if current in ENDINGS and incoming in ENDINGS and incoming != current:
        return f"status '{incoming}' is impossible: the shipment already ended as '{current}'"
    if current == "back_at_counter" and incoming in ENDINGS:
        return f"status '{incoming}' is impossible: the result is back at the agency's counter"
    return None


def apply_status(state: str, attempt: int, report: StatusReport, max_attempts: int) -> Outcome:
    """The shipment's state after one more (possibly late) report."""
    if state in ENDINGS or state == "back_at_counter":
        return Outcome(state)  # endings are final; late reports change nothing
    if report.attempt < attempt:
        return Outcome(state)  # a late report of an earlier attempt
    if report.status == "delivery_failed":
        if attempt < max_attempts:
            return Outcome("delivery_failed", reorder=True)
        return Outcome("back_at_counter", back_to_counter=True)
    if report.status == "returned_to_sender":
        return Outcome("returned_to_sender", back_to_counter=True)
    if RANK[report.status] > RANK.get(state, 0) or report.status == "delivered":
        return Outcome(report.status)
    return Outcome(state)
