"""`lienthong reconcile`: ask each service to republish from its outbox what the JetStream
streams lack (shared/reconcile), after a lost or restored store.

    lienthong reconcile [--service S]... [--dry-run] [--since TIME] [--timeout SECONDS] [--json]

Services are asked one after the other, in the order facts are caused (intake's `received`
before routing's facts, the post's, then deadline's alerts), so that a consumer that replays
them meets a dossier's facts mostly in their first order (consumers accept any order anyway).
Exit status 0 when every service answered ok, 1 otherwise (the others are still asked).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
from datetime import date, datetime, time
from typing import Any

from shared.calendar import VN_TZ
from shared.cli import CliError, Command, table
from shared.reconcile import reconcile_subject
from shared.settings import DEFAULT_NATS_URL, nats_servers

ORDER = ("intake", "routing", "postal", "deadline")


def since_value(text: str) -> str:
    """A date (midnight in Vietnam) or an ISO time with its UTC offset, as an ISO time."""
    try:
        return datetime.combine(date.fromisoformat(text), time(0), VN_TZ).isoformat()
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected YYYY-MM-DD or an ISO time with its offset, got {text!r}") from None
    if parsed.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no UTC offset (e.g. 2026-03-02T08:00:00+07:00)")
    return parsed.isoformat()


async def ask_services(
    nats_url: str, services: list[str], request: dict[str, Any], timeout: float
) -> list[dict[str, Any]]:
    """Each service's reply, in order; a service that does not answer gets an `ok: false` entry."""
    import nats
    from nats.errors import Error as NatsError
    from nats.errors import NoRespondersError

    try:
        nc = await nats.connect(nats_servers(nats_url), connect_timeout=5, max_reconnect_attempts=1, error_cb=_quiet)
    except (OSError, NatsError, TimeoutError) as exc:
        raise CliError(f"cannot reach NATS at {nats_url} ({type(exc).__name__}); set NATS_URL") from None
    replies = []
    try:
        for service in services:
            subject = reconcile_subject(service)
            try:
                answer = await nc.request(subject, json.dumps(request).encode(), timeout=timeout)
                reply = json.loads(answer.data)
            except NoRespondersError:
                reply = {"ok": False, "error": f"no {service} service answers {subject}: is it running?"}
            except TimeoutError:
                reply = {
                    "ok": False,
                    "error": f"{service} did not answer within {timeout:g} s (it may still be working)",
                }
            replies.append({"service": service, **reply})
    finally:
        await nc.close()
    return replies


async def _quiet(_: Exception) -> None:
    """One line says it all (nats-py would log each failed attempt with a traceback)."""


def format_replies(replies: list[dict[str, Any]], dry_run: bool) -> str:
    title = "Đối soát JetStream với outbox (reconcile)" + (" — chạy thử, không phát lại (dry run)" if dry_run else "")
    rows, notes = [], []
    for r in replies:
        if not r.get("ok"):
            notes.append(f"{r['service']}: LỖI (error): {r.get('error')}")
            continue
        for s in r["streams"]:
            counts = (s["scanned"], s["considered"], s["missing"], s["republished"], s["already_present"])
            rows.append((r["service"], s["stream"], *counts))
        if r.get("unpublished"):
            notes.append(
                f"{r['service']}: {r['unpublished']} dòng outbox chưa phát (unpublished; the relay sends them)"
            )
        extra = r.get("extra") or {}
        if "delivery_orders_lost" in extra:
            notes.append(
                f"{r['service']}: đơn phát bị mất (delivery orders lost) {extra['delivery_orders_lost']}, "
                f"gửi lại (re-sent) {extra['delivery_orders_resent']}; đơn thu gom bưu điện chưa xác nhận "
                f"(pickup orders not acknowledged, cannot be re-sent) {extra['pickup_orders_unacknowledged']}"
            )
    headers = ("Dịch vụ", "Luồng", "Đã quét", "Đã xét", "Thiếu", "Phát lại", "Đã có")
    return "\n".join([title, *table(headers, rows), *notes])


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--service", action="append", choices=ORDER, help="only this service (repeatable; default: all)")
    p.add_argument("--dry-run", action="store_true", help="count what is missing, republish nothing")
    p.add_argument(
        "--since", type=since_value, help="only outbox rows created since (YYYY-MM-DD or ISO time); scans less"
    )
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for each service (default 3600)")
    p.add_argument("--json", action="store_true", help="print the services' replies as JSON")


def run(args: argparse.Namespace) -> int:
    services = [s for s in ORDER if s in (args.service or ORDER)]
    request: dict[str, Any] = {"dry_run": args.dry_run}
    if args.since:
        request["since"] = args.since
    url = os.environ.get("NATS_URL", DEFAULT_NATS_URL)
    replies = asyncio.run(ask_services(url, services, request, args.timeout))
    if args.json:
        print(json.dumps(replies, ensure_ascii=False, indent=2, sort_keys=True))
    else:
        print(format_replies(replies, args.dry_run))
    return 0 if all(r.get("ok") for r in replies) else 1


COMMANDS = [
    Command(
        "reconcile",
        "republish from the services' outboxes what the JetStream streams lack (after a lost store)",
        configure,
        run,
    )
]
