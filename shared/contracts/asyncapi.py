"""The AsyncAPI 3.0 document of every subject, generated from the contract models.

    python -m shared.contracts.asyncapi [--out docs/asyncapi.json]

Generated from `shared/contracts` rather than from one FastStream app, because no single service
sees every subject (outbound and request/reply subjects included), and `shared` may not import
the services.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shared.contracts import events, subjects

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.json"


def _payload(data_model: type[BaseModel] | None) -> dict[str, Any]:
    envelope = events.Envelope.model_json_schema()
    if data_model is not None:
        envelope["properties"]["data"] = data_model.model_json_schema()
    return envelope


def _channel(address: str, description: str, data_model: type[BaseModel] | None) -> dict[str, Any]:
    name = data_model.__name__ if data_model else "Envelope"
    channel: dict[str, Any] = {
        "address": address,
        "description": description,
        "messages": {name: {"name": name, "contentType": "application/json", "payload": _payload(data_model)}},
    }
    return {**channel, **_parameters(address)}


_DATE = {"type": ["string", "null"], "format": "date", "description": "YYYY-MM-DD (local date in Vietnam)"}
_CODE = {"type": ["string", "null"], "minLength": 1}
_WINDOW = {"from": _DATE, "to": _DATE, "procedure": _CODE, "agency": _CODE}

# (subject, what it answers, request properties, key of the answer in an `ok` reply). The request
# of lt.rpc.intake.submit is the whole `submitted` envelope (CONTRACT.md §3).
RPC: tuple[tuple[str, str, dict[str, Any], str], ...] = (
    (
        subjects.RPC_INTAKE_SUBMIT,
        "submit a dossier (the same envelope as lt.in.agency.{agency}.submitted) and get its code and "
        "appointment at once, for the receipt (Mẫu 01); the reply also says whether it was a duplicate",
        {"$envelope": "submitted"},
        "dossier_code",
    ),
    (
        f"{subjects.RPC_INTAKE_SUBMIT}.{{agency}}",
        "extension: submit as agency {agency}, what an agency's lt.rpc.intake.submit becomes under "
        "infra/nats/secure.conf (its account maps the subject); refused unless the envelope's agency is that agency",
        {"$envelope": "submitted"},
        "dossier_code",
    ),
    (
        "lt.rpc.{service}.reconcile",
        "extension, for operators (`lienthong reconcile`): republish from the service's outbox what LT_EVT/LT_OUT "
        "lack, same Nats-Msg-Id, in order; the answer counts per stream what was scanned, missing, republished "
        "(docs/operations.md)",
        {
            "dry_run": {"type": "boolean", "default": False},
            "since": {"type": ["string", "null"], "format": "date-time"},
        },
        "streams",
    ),
    (
        subjects.RPC_INTAKE_DELIVERY_ADDRESS,
        "extension, for the postal service only (NATS permissions): a dossier's delivery address, read "
        "from intake's sealed tables when a delivery order is made",
        {"dossier_code": {"type": "string"}},
        "address",
    ),
    (
        subjects.RPC_DEADLINE_EXPLAIN,
        "a dossier's timeline and verdict (`lienthong explain`)",
        {"dossier_code": {"type": "string"}},
        "explanation",
    ),
    (subjects.RPC_DEADLINE_REPORT, "on-time and lateness figures (`lienthong report`)", _WINDOW, "report"),
    (subjects.RPC_DEADLINE_TREND, "on-time rate per week (operators' page)", _WINDOW, "trend"),
    (subjects.RPC_DEADLINE_HEATMAP, "late stages and overrun by agency × stage (page)", _WINDOW, "heatmap"),
    (subjects.RPC_DEADLINE_HANDOFFS, "hand-off waits between levels (page)", _WINDOW, "handoffs"),
    (
        subjects.RPC_DEADLINE_DOSSIERS,
        "late and at-risk dossiers, worst first (page)",
        {**_WINDOW, "limit": {"type": "integer", "minimum": 1}},
        "dossiers",
    ),
    (
        subjects.RPC_DEADLINE_RECOMMEND,
        "per-stage budgets from observed stage times, keeping the legal total (`lienthong recommend`)",
        {
            "procedure": {"type": "string"},
            "percentile": {"type": "number", "exclusiveMinimum": 0, "maximum": 100},
            "from": _DATE,
            "to": _DATE,
            "sample": {"type": "integer", "minimum": 1},
        },
        "recommendation",
    ),
    (
        subjects.RPC_DEADLINE_EVENT_LOG,
        "dossier timelines as event-log cases, paged by dossier code (`lienthong export`)",
        {**_WINDOW, "after": _CODE, "limit": {"type": "integer", "minimum": 1, "maximum": 1000}},
        "event_log",
    ),
)


def _object(properties: dict[str, Any]) -> dict[str, Any]:
    if properties == {"$envelope": "submitted"}:
        return _payload(events.SubmittedData)
    return {"type": "object", "properties": properties}


def _parameters(address: str) -> dict[str, Any]:
    names = {
        "agency": "agency token: the agency code with '.' replaced by '_'",
        "service": "intake, routing, deadline or postal",
    }
    found = {name: {"description": text} for name, text in names.items() if f"{{{name}}}" in address}
    return {"parameters": found} if found else {}


def _reply(answer: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["ok"],
        "properties": {
            "ok": {"type": "boolean"},
            "error": {"type": "string", "description": "when ok is false: what is wrong with the request"},
            answer: {"description": "when ok is true: the answer (see docs/events.md)"},
        },
    }


def build_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def add(key: str, address: str, description: str, model: type[BaseModel] | None, action: str) -> None:
        channels[key] = _channel(address, description, model)
        operations[f"{action}_{key}"] = {"action": action, "channel": {"$ref": f"#/channels/{key}"}}

    for action, model in events.AGENCY_ACTIONS.items():
        add(
            f"in_agency_{action}",
            f"lt.in.agency.{{agency}}.{action}",
            f"Agency system → lienthong: {action}",
            model,
            "receive",
        )
    for action, model in events.POSTAL_ACTIONS.items():
        add(f"in_postal_{action}", f"lt.in.postal.{action}", "Postal integration → lienthong", model, "receive")
    for (topic, type_), model in events.FACTS.items():
        add(
            f"evt_{topic}_{type_}",
            subjects.fact(topic, type_),
            f"Fact published by lienthong: {topic} {type_}",
            model,
            "send",
        )
    for type_, model in events.OUTBOUND_AGENCY.items():
        add(f"out_agency_{type_}", f"lt.out.agency.{{agency}}.{type_}", f"lienthong → agency: {type_}", model, "send")
    for type_, model in events.OUTBOUND_POSTAL.items():
        add(
            f"out_postal_{type_}", subjects.out_postal(type_), f"lienthong → postal integration: {type_}", model, "send"
        )
    add(
        "out_dead_letter",
        f"{subjects.DEAD_LETTER_PREFIX}.{{service}}",
        "Extension: messages that cannot be attributed to any agency, with the reason",
        None,
        "send",
    )
    for subject, description, request, answer in RPC:
        key = "rpc_" + subject.removeprefix("lt.rpc.").replace(".", "_").replace("{", "").replace("}", "")
        channels[key] = {
            "address": subject,
            "description": f"Request/reply (core NATS, no stream): {description}",
            **_parameters(subject),
            "messages": {
                "request": {"name": f"{key}_request", "contentType": "application/json", "payload": _object(request)},
                "reply": {"name": f"{key}_reply", "contentType": "application/json", "payload": _reply(answer)},
            },
        }
        operations[f"receive_{key}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/request"}],
            "reply": {"messages": [{"$ref": f"#/channels/{key}/messages/reply"}]},
        }
    add("sim_clock", subjects.SIM_CLOCK, 'Simulated clock: {"now": ISO time with offset}', None, "receive")
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "lienthong",
            "version": "1.0.0",
            "description": "Inter-level one-stop dossier routing (một cửa liên thông). Envelope: CONTRACT.md §3.",
        },
        "defaultContentType": "application/json",
        "servers": {"nats": {"host": "127.0.0.1:4222", "protocol": "nats"}},
        "channels": channels,
        "operations": operations,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(build_document(), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
