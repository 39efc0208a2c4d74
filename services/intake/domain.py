"""Intake decisions as pure functions: admit a submission, or say precisely why not."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from shared.calendar import VN_TZ
from shared.catalog import Catalog
from shared.contracts.events import DossierReceived, SubmittedData


@dataclass(frozen=True)
class Admission:
    """What intake records for a new dossier, before it has a code."""

    agency: str
    procedure: str
    received_at: datetime
    counting_from: datetime
    appointment_at: datetime
    total_working_days: float


def admit(agency: str, occurred_at: datetime, data: SubmittedData, catalog: Catalog) -> Admission | str:
    """Admit a submission received at `agency` at `occurred_at`, or return the refusal reason."""
    if agency not in catalog.agencies:
        return f"agency: '{agency}' is not in the catalog"
    procedure = catalog.procedures.get(data.procedure)
    if procedure is None:
        return f"data.procedure: unknown procedure '{data.procedure}'"
    calendar = catalog.calendar
    counting_from = calendar.counting_start(occurred_at, procedure.intake_cutoff)
    appointment_at = calendar.add_working_days(counting_from, procedure.total_working_days)
    return Admission(
        agency=agency,
        procedure=procedure.code,
        received_at=occurred_at,
        counting_from=counting_from,
        appointment_at=appointment_at,
        total_working_days=procedure.total_working_days,
    )


def receipt_day(received_at: datetime) -> str:
    """YYMMDD of the receipt, in Vietnamese local time."""
    return received_at.astimezone(VN_TZ).strftime("%y%m%d")


def receipt_date(received_at: datetime) -> date:
    return received_at.astimezone(VN_TZ).date()


def dossier_code(agency: str, received_at: datetime, sequence: int) -> str:
    """`{agency code}-{YYMMDD}-{NNNN}` (CONTRACT.md §3); past 9999 the number simply grows."""
    return f"{agency}-{receipt_day(received_at)}-{sequence:04d}"


def code_fits_submission(code: str, agency: str) -> str | None:
    """A publisher may bring its own code; it must belong to the receiving agency."""
    if not code.startswith(f"{agency}-"):
        return f"dossier_code: '{code}' does not start with the receiving agency's code '{agency}-'"
    return None


def received_fact(code: str, admission: Admission, data: SubmittedData) -> DossierReceived:
    return DossierReceived(
        procedure=admission.procedure,
        receiving_agency=admission.agency,
        channel=data.channel,
        return_method=data.return_method,
        received_at=admission.received_at,
        counting_from=admission.counting_from,
        appointment_at=admission.appointment_at,
        total_working_days=admission.total_working_days,
        external_ref=data.external_ref,
        postal_waybill=data.postal_waybill,
    )
