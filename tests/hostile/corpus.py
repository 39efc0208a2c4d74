"""The hostile input corpus: bad or hostile inbound messages, each with the precise answer lienthong
must give (a substring of the `input_rejected` or dead-letter reason), or `Ignored` for a replayed
`event_id` (CONTRACT.md §3: the same event_id delivered twice has the effect of one).

`cases(ctx)` builds them against a running district: `ctx.code` is a routed dossier whose stage 0
(at COMMUNE) was completed with event id `ctx.applied_event_id`, so LABOUR holds stage 1, not yet
received. `edge_cases(ctx)` are odd but valid submissions that must be accepted as they are.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from shared.contracts import subjects

COMMUNE, OTHER_COMMUNE, LABOUR = "T01.00.01.X99", "T01.00.02.X99", "T01.31.00.X99"
WHEN = "2026-03-02T16:00:00+07:00"


@dataclass(frozen=True)
class Rejected:
    """`lt.out.agency.{agency}.input_rejected`, or `lt.out.postal.input_rejected` when agency is None."""

    agency: str | None
    reason: str


@dataclass(frozen=True)
class DeadLettered:
    service: str
    reason: str


@dataclass(frozen=True)
class Ignored:
    """A replay: no new answer (`earlier` is how many the original already got), no fact, no change."""

    earlier: int = 0


@dataclass(frozen=True)
class Case:
    name: str
    subject: str
    body: bytes
    expect: Rejected | DeadLettered | Ignored
    msg_id: str = field(default_factory=lambda: str(uuid.uuid4()))  # Nats-Msg-Id


@dataclass(frozen=True)
class Context:
    code: str  # a routed dossier; LABOUR holds stage 1 (sent, not received)
    applied_event_id: str  # COMMUNE's stage_completed that was applied
    refused_event_id: str  # an event of COMMUNE already refused once


def env(type_: str, agency: str | None = COMMUNE, data: Any = None, code: str | None = None, **over: Any) -> dict:
    body = {
        "event_id": str(uuid.uuid4()),
        "type": type_,
        "schema_version": 1,
        "occurred_at": WHEN,
        "agency": agency,
        "dossier_code": code,
        "data": {} if data is None else data,
    }
    body.update(over)
    return body


def raw(obj: Any) -> bytes:
    """UTF-8 JSON; a lone surrogate cannot be encoded, so such a body carries it as a \\uXXXX escape."""
    try:
        return json.dumps(obj, ensure_ascii=False).encode()
    except UnicodeEncodeError:
        return json.dumps(obj).encode()


def submitted(**data: Any) -> dict:
    base = {
        "external_ref": f"hostile-{uuid.uuid4().hex[:10]}",
        "procedure": "9.000001",
        "channel": "counter",
        "return_method": "counter",
        "applicant": {"kind": "citizen", "full_name": "Nguyễn Văn Thử", "id_number": "046190000009"},
    }
    base.update(data)
    return base


def applicant(name: str) -> dict:
    return {"kind": "citizen", "full_name": name, "id_number": "046190000009"}


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"n": value}
    return value


def cases(ctx: Context) -> list[Case]:
    code = ctx.code
    sc = subjects.in_agency(COMMUNE, "stage_completed")
    sub = subjects.in_agency(COMMUNE, "submitted")
    labour = lambda action: subjects.in_agency(LABOUR, action)  # noqa: E731
    commune = lambda action: subjects.in_agency(COMMUNE, action)  # noqa: E731
    postal = subjects.in_postal("shipment_status")
    me = Rejected  # shorthand: refusals to COMMUNE unless said otherwise
    c = lambda reason: me(COMMUNE, reason)  # noqa: E731
    good_sc = lambda **over: {**env("stage_completed", data={"outcome": "forward"}, code=code), **over}  # noqa: E731
    ship = lambda **data: env(  # noqa: E731
        "shipment_status", agency=None, data={"waybill": "EB999999999VN", "status": "delivered", "at": WHEN, **data}
    )
    huge_reason = "x" * (70 * 1024)
    return [
        # ---- bytes that are not a JSON object --------------------------------------------------
        Case("empty body", sc, b"", c("body is not valid JSON")),
        Case("plain text", sc, b"hello, lienthong", c("body is not valid JSON")),
        Case("truncated JSON", sc, raw(good_sc())[:-7], c("body is not valid JSON")),
        Case("JSON array", sc, b"[1, 2, 3]", c("body must be a JSON object, not list")),
        Case("JSON string", sc, b'"stage_completed"', c("body must be a JSON object, not str")),
        Case("JSON null", sc, b"null", c("body must be a JSON object, not NoneType")),
        Case("invalid UTF-8 lead byte", sc, b"\xff" + raw(good_sc()), c("body is not valid UTF-8 (byte 0)")),
        Case(
            "overlong UTF-8 in a value",
            sc,
            raw(good_sc()).replace(b"forward", b"forw\xc0\xafrd"),
            c("body is not valid UTF-8"),
        ),
        Case("UTF-16 body", sc, json.dumps(good_sc()).encode("utf-16"), c("body is not valid UTF-8")),
        Case(
            "huge body (70 KiB)",
            subjects.in_agency(COMMUNE, "refused"),
            raw(env("refused", data={"reason": huge_reason}, code=code)),
            c("more than the 65536 allowed"),
        ),
        Case(
            "JSON nested 13 levels",
            sc,
            raw(good_sc(data={"outcome": "forward", "x": nested(12)})),
            c("body JSON is nested deeper than 12 levels"),
        ),
        Case(
            "JSON nested 20000 levels",
            sc,
            b'{"a":' + b"[" * 20000 + b"]" * 20000 + b"}",
            c("body JSON is nested deeper than 12 levels"),
        ),
        Case(
            "NaN in a number",
            sc,
            raw(good_sc(data={"outcome": "forward", "stage_index": float("nan")})),
            c("body is not valid JSON: NaN is not a JSON number"),
        ),
        Case(
            "Infinity in a number",
            sc,
            raw(good_sc(data={"outcome": "forward", "stage_index": float("inf")})),
            c("body is not valid JSON: Infinity is not a JSON number"),
        ),
        Case(
            "number beyond float range",
            sc,
            raw(good_sc()).replace(b'"schema_version": 1', b'"schema_version": 1e999'),
            c("out of range"),
        ),
        # ---- the envelope ------------------------------------------------------------------------
        Case(
            "event_id missing",
            sc,
            raw({k: v for k, v in good_sc().items() if k != "event_id"}),
            c("event_id: required field is missing"),
        ),
        Case("event_id empty", sc, raw(good_sc(event_id="")), c("event_id: String should have at least 1 character")),
        Case("event_id too long", sc, raw(good_sc(event_id="e" * 129)), c("event_id: String should have at most 128")),
        Case("event_id a number", sc, raw(good_sc(event_id=42)), c("event_id: Input should be a valid string")),
        Case(
            "event_id with NUL",
            sc,
            raw(good_sc(event_id="evt\u0000nul")),
            c("event_id: contains the control character U+0000"),
        ),
        Case(
            "type missing",
            sc,
            raw({k: v for k, v in good_sc().items() if k != "type"}),
            c("type: required field is missing"),
        ),
        Case(
            "type not the subject's action",
            sc,
            raw(good_sc(type="refused")),
            c("type: 'refused' does not match the subject's action 'stage_completed'"),
        ),
        Case("schema_version 2", sc, raw(good_sc(schema_version=2)), c("schema_version: Input should be 1")),
        Case(
            "occurred_at missing",
            sc,
            raw({k: v for k, v in good_sc().items() if k != "occurred_at"}),
            c("occurred_at: required field is missing"),
        ),
        Case(
            "occurred_at naive",
            sc,
            raw(good_sc(occurred_at="2026-03-02T16:00:00")),
            c("occurred_at: Input should have timezone info"),
        ),
        Case(
            "occurred_at not a date",
            sc,
            raw(good_sc(occurred_at="yesterday")),
            c("occurred_at: Input should be a valid datetime"),
        ),
        Case(
            "occurred_at far future",
            sc,
            raw(good_sc(occurred_at="2099-01-01T08:00:00+07:00")),
            c("occurred_at: 2099-01-01T08:00:00+07:00 is in the future"),
        ),
        Case("unknown top-level field", sc, raw(good_sc(is_admin=True)), c("is_admin: unknown field")),
        Case("data a list", sc, raw(good_sc(data=["forward"])), c("data: Input should be a valid dictionary")),
        Case(
            "forged agency",
            sc,
            raw(good_sc(agency=LABOUR)),
            c(f"agency: '{LABOUR}' does not match the subject's agency '{COMMUNE}'"),
        ),
        Case(
            "agency missing",
            sc,
            raw(good_sc(agency=None)),
            c(f"agency: 'None' does not match the subject's agency '{COMMUNE}'"),
        ),
        Case(
            "agency SQL-looking",
            sc,
            raw(good_sc(agency="T01'; DROP TABLE routing.dossiers;--")),
            c("agency: String should match pattern"),
        ),
        Case(
            "dossier_code missing",
            sc,
            raw(good_sc(dossier_code=None)),
            c("dossier_code: required for every action but 'submitted'"),
        ),
        Case(
            "dossier_code SQL-looking",
            sc,
            raw(good_sc(dossier_code="x' OR '1'='1")),
            c("dossier_code: String should match pattern"),
        ),
        Case(
            "dossier_code with RTL override",
            sc,
            raw(good_sc(dossier_code=code + "\u202e")),
            c("dossier_code: contains the bidirectional control character U+202E"),
        ),
        Case(
            "unknown dossier",
            sc,
            raw(good_sc(dossier_code=f"{COMMUNE}-260302-9999")),
            c(f"dossier_code: unknown dossier '{COMMUNE}-260302-9999'"),
        ),
        # ---- the action's data -------------------------------------------------------------------
        Case("outcome missing", sc, raw(good_sc(data={})), c("data.outcome: required field is missing")),
        Case(
            "outcome unknown",
            sc,
            raw(good_sc(data={"outcome": "maybe"})),
            c("data.outcome: Input should be 'forward' or 'result_ready'"),
        ),
        Case(
            "stage_index negative",
            sc,
            raw(good_sc(data={"outcome": "forward", "stage_index": -1})),
            c("data.stage_index: Input should be greater than or equal to 0"),
        ),
        Case(
            "stage_index a word",
            sc,
            raw(good_sc(data={"outcome": "forward", "stage_index": "one"})),
            c("data.stage_index: Input should be a valid integer"),
        ),
        Case(
            "apology without a new appointment",
            commune("apology_issued"),
            raw(env("apology_issued", code=code)),
            c("data.new_appointment_at: required field is missing"),
        ),
        Case(
            "apology with a naive appointment",
            commune("apology_issued"),
            raw(env("apology_issued", data={"new_appointment_at": "2026-04-01T08:00:00"}, code=code)),
            c("data.new_appointment_at: Input should have timezone info"),
        ),
        Case(
            "refusal without a reason",
            commune("refused"),
            raw(env("refused", code=code)),
            c("data.reason: required field is missing"),
        ),
        Case(
            "refusal reason too long",
            commune("refused"),
            raw(env("refused", data={"reason": "r" * 2001}, code=code)),
            c("data.reason: String should have at most 2000 characters"),
        ),
        Case(
            "negative fee",
            commune("obligation_requested"),
            raw(env("obligation_requested", data={"amount_vnd": -5000}, code=code)),
            c("data.amount_vnd: Input should be greater than or equal to 0"),
        ),
        Case(
            "field name with NUL",
            sc,
            raw(good_sc(data={"outcome": "forward", "x\u0000y": 1})),
            c("data: field name 'x\\x00y' contains the control character U+0000"),
        ),
        Case(
            "lone surrogate in free text",
            commune("refused"),
            raw(env("refused", data={"reason": "\ud800"}, code=code)),
            c("data.reason: contains a lone surrogate U+D800"),
        ),
        # ---- the subject ---------------------------------------------------------------------------
        Case(
            "unknown action",
            commune("launch"),
            raw(env("launch", code=code)),
            c(f"unknown action 'launch' in subject '{commune('launch')}'"),
        ),
        Case(
            "agency token not in the catalog",
            "lt.in.agency.ZZ_99.stage_completed",
            raw(good_sc()),
            DeadLettered("routing", "agency token 'ZZ_99' is not in the catalog"),
        ),
        Case(
            "agency token in lower case",
            "lt.in.agency.t01_00_01_x99.stage_completed",
            raw(good_sc()),
            DeadLettered("routing", "agency token 't01_00_01_x99' is not in the catalog"),
        ),
        Case(
            "subject with an extra token",
            sc + ".again",
            raw(good_sc()),
            DeadLettered("routing", "is not lt.in.agency.{agency}.{action}"),
        ),
        # ---- out of order and against the dossier's state -----------------------------------------
        Case(
            "completion by an agency that no longer holds it",
            sc,
            raw(good_sc()),
            c(f"dossier {code} is held by {LABOUR} (stage 1), not {COMMUNE}"),
        ),
        Case(
            "result returned before any result",
            commune("result_returned"),
            raw(env("result_returned", code=code)),
            c(f"dossier {code} has no result yet"),
        ),
        Case(
            "receipt dated before the hand-off",
            labour("handoff_received"),
            raw(env("handoff_received", agency=LABOUR, code=code, occurred_at="2026-03-02T09:00:00+07:00")),
            Rejected(LABOUR, "is earlier than"),
        ),
        Case(
            "supplement received but never requested",
            labour("supplement_received"),
            raw(env("supplement_received", agency=LABOUR, code=code)),
            Rejected(LABOUR, "supplement"),
        ),
        # ---- replays of old event ids --------------------------------------------------------------
        Case(
            "replay of an applied event with other content",
            sc,
            raw(good_sc(event_id=ctx.applied_event_id, data={"outcome": "result_ready"})),
            Ignored(),
        ),
        Case(
            "replay of an applied event on another action",
            commune("withdrawn"),
            raw(env("withdrawn", code=code, event_id=ctx.applied_event_id)),
            Ignored(),
        ),
        Case("replay of a refused event", sc, raw(good_sc(event_id=ctx.refused_event_id)), Ignored(earlier=1)),
        # ---- submissions (intake) -------------------------------------------------------------------
        Case(
            "submission without external_ref",
            sub,
            raw(env("submitted", data={k: v for k, v in submitted().items() if k != "external_ref"})),
            c("data.external_ref: required field is missing"),
        ),
        Case(
            "submission by fax",
            sub,
            raw(env("submitted", data=submitted(channel="fax"))),
            c("data.channel: Input should be 'counter', 'online' or 'postal'"),
        ),
        Case(
            "postal return without an address",
            sub,
            raw(env("submitted", data=submitted(return_method="postal"))),
            c("delivery_address is required when return_method is 'postal'"),
        ),
        Case(
            "unknown procedure",
            sub,
            raw(env("submitted", data=submitted(procedure="0.000000"))),
            c("data.procedure: unknown procedure '0.000000'"),
        ),
        Case(
            "SQL-looking procedure",
            sub,
            raw(env("submitted", data=submitted(procedure="9.000001'; DROP TABLE intake.dossiers;--"))),
            c("data.procedure: unknown procedure '9.000001'; DROP TABLE intake.dossiers;--'"),
        ),
        Case(
            "name with RTL override",
            sub,
            raw(env("submitted", data=submitted(applicant=applicant("Trần\u202eMinh")))),
            c("data.applicant.full_name: contains the bidirectional control character U+202E"),
        ),
        Case(
            "name with an isolate control",
            sub,
            raw(env("submitted", data=submitted(applicant=applicant("\u2067Lê Văn\u2069")))),
            c("data.applicant.full_name: contains the bidirectional control character U+2067"),
        ),
        Case(
            "name with NUL",
            sub,
            raw(env("submitted", data=submitted(applicant=applicant("Lê\u0000Văn")))),
            c("data.applicant.full_name: contains the control character U+0000"),
        ),
        Case(
            "name with a lone surrogate",
            sub,
            raw(env("submitted", data=submitted(applicant=applicant("Lê\udc00")))),
            c("data.applicant.full_name: contains a lone surrogate U+DC00"),
        ),
        Case(
            "name with an escape sequence",
            sub,
            raw(env("submitted", data=submitted(applicant=applicant("Lê\u001b[31mVăn")))),
            c("data.applicant.full_name: contains the control character U+001B"),
        ),
        Case(
            "external_ref with a zero-width space",
            sub,
            raw(env("submitted", data=submitted(external_ref="ref\u200b-1"))),
            c("data.external_ref: contains the invisible or control character U+200B"),
        ),
        Case(
            "external_ref with a byte-order mark",
            sub,
            raw(env("submitted", data=submitted(external_ref="\ufeffref-2"))),
            c("data.external_ref: contains the invisible or control character U+FEFF"),
        ),
        Case(
            "name too long",
            sub,
            raw(env("submitted", data=submitted(applicant=applicant("A" * 257)))),
            c("data.applicant.full_name: String should have at most 256 characters"),
        ),
        Case(
            "applicant of an unknown kind",
            sub,
            raw(env("submitted", data=submitted(applicant={"kind": "robot"}))),
            c("data.applicant.kind: Input should be"),
        ),
        Case(
            "applicant a string",
            sub,
            raw(env("submitted", data=submitted(applicant="Nguyễn Văn A"))),
            c("data.applicant: Input should be a valid dictionary"),
        ),
        Case(
            "forged agency on a submission",
            sub,
            raw(env("submitted", agency=OTHER_COMMUNE, data=submitted())),
            c(f"agency: '{OTHER_COMMUNE}' does not match the subject's agency '{COMMUNE}'"),
        ),
        Case(
            "submission claiming another agency's code",
            sub,
            raw(env("submitted", data=submitted(), dossier_code=f"{OTHER_COMMUNE}-260302-0001")),
            c(f"does not start with the receiving agency's code '{COMMUNE}-'"),
        ),
        Case(
            "submission far in the future",
            sub,
            raw(env("submitted", data=submitted(), occurred_at="2030-01-01T08:00:00+07:00")),
            c("occurred_at: 2030-01-01T08:00:00+07:00 is in the future"),
        ),
        Case(
            "submission from an unknown agency",
            "lt.in.agency.XX_00_00_X00.submitted",
            raw(env("submitted", agency="XX.00.00.X00", data=submitted())),
            DeadLettered("intake", "agency token 'XX_00_00_X00' is not in the catalog"),
        ),
        # ---- the postal integration -------------------------------------------------------------------
        Case("unknown waybill", postal, raw(ship()), Rejected(None, "data.waybill: unknown waybill 'EB999999999VN'")),
        Case(
            "impossible shipment status",
            postal,
            raw(ship(status="teleported")),
            Rejected(None, "data.status: Input should be"),
        ),
        Case(
            "naive shipment time",
            postal,
            raw(ship(at="2026-03-05T10:00:00")),
            Rejected(None, "data.at: Input should have timezone info"),
        ),
        Case(
            "waybill with NUL",
            postal,
            raw(ship(waybill="EB\u0000")),
            Rejected(None, "data.waybill: contains the control character U+0000"),
        ),
        Case(
            "unknown postal action",
            subjects.in_postal("hack"),
            raw(env("hack", agency=None)),
            Rejected(None, "unknown postal action in subject 'lt.in.postal.hack'"),
        ),
        Case("postal body not UTF-8", postal, b"\xfe\xff\x00{", Rejected(None, "body is not valid UTF-8 (byte 0)")),
        Case(
            "pickup without an address",
            commune("pickup_requested"),
            raw(env("pickup_requested", data={"procedure": "9.000001", "external_ref": "pickup-x"})),
            c("data.pickup_address: required field is missing"),
        ),
    ]


def edge_cases() -> list[tuple[str, dict]]:
    """Odd but valid submissions: names with combining marks, emoji and joiners, and SQL-looking
    references, stored as they are (parameterised queries only)."""
    return [
        ("decomposed Vietnamese (combining marks)", submitted(applicant=applicant("Nguye\u0302\u0303n Thi\u0323"))),
        ("emoji in a name", submitted(applicant=applicant("Lan 🌸"))),
        ("emoji joined with ZWJ", submitted(applicant=applicant("Gia đình 👨\u200d👩\u200d👧"))),
        ("SQL-looking external_ref", submitted(external_ref="x'); DELETE FROM intake.dossiers;--")),
        ("right-to-left script", submitted(applicant=applicant("محمد"))),
    ]
