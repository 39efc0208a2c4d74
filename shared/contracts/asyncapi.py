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


def _channel(address: str, description: str, data_model: type[BaseModel] | None, params: bool) -> dict[str, Any]:
    name = data_model.__name__ if data_model else "Envelope"
    channel: dict[str, Any] = {
        "address": address,
        "description": description,
        "messages": {name: {"name": name, "contentType": "application/json", "payload": _payload(data_model)}},
    }
    if params:
        channel["parameters"] = {"agency": {"description": "agency token: the agency code with '.' replaced by '_'"}}
    return channel


def build_document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}

    def add(key: str, address: str, description: str, model: type[BaseModel] | None, action: str) -> None:
        channels[key] = _channel(address, description, model, "{agency}" in address)
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
    add(
        "rpc_intake_submit",
        subjects.RPC_INTAKE_SUBMIT,
        "Request/reply: submit and get the code and appointment",
        events.SubmittedData,
        "receive",
    )
    add(
        "rpc_intake_submit_as_agency",
        f"{subjects.RPC_INTAKE_SUBMIT}.{{agency}}",
        "Extension, request/reply: submit as agency {agency} (what an agency's lt.rpc.intake.submit becomes "
        "under infra/nats/secure.conf); refused unless the envelope's agency is that agency",
        events.SubmittedData,
        "receive",
    )
    add(
        "rpc_reconcile",
        "lt.rpc.{service}.reconcile",
        'Extension, request/reply: {"dry_run": bool, "since": ISO time | null} → republish from the '
        "service's outbox what LT_EVT/LT_OUT lack; the reply counts, per stream, what was scanned, missing, "
        "republished (docs/operations.md §4)",
        None,
        "receive",
    )
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
