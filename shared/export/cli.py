"""`lienthong export --format xes|ocel [--out FILE]`: the dossiers' event log for process-mining
tools (PM4Py, ProM, Celonis...), read page by page from the deadline service over
`lt.rpc.deadline.event_log` and written as it arrives, so a large log never sits in memory."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any, TextIO

from shared.cli import CliError, Command, _iso_date
from shared.contracts import subjects
from shared.export.eventlog import case_attributes, case_events
from shared.export.ocel import OcelWriter
from shared.export.xes import XesWriter
from shared.settings import DEFAULT_NATS_URL, nats_servers

PAGE = 500


async def cases(
    nats_url: str, window: dict[str, Any], page: int = PAGE, timeout: float = 60.0
) -> AsyncIterator[dict[str, Any]]:
    """Every case of the window, in dossier-code order, one request per page."""
    import nats
    from nats.errors import Error as NatsError
    from nats.errors import NoRespondersError

    try:
        nc = await nats.connect(nats_servers(nats_url), connect_timeout=5, max_reconnect_attempts=1, error_cb=_quiet)
    except (OSError, NatsError, TimeoutError) as exc:
        raise CliError(f"cannot reach NATS at {nats_url} ({type(exc).__name__}); set NATS_URL") from None
    try:
        after = None
        while True:
            request = {**window, "after": after, "limit": page}
            try:
                reply = await nc.request(subjects.RPC_DEADLINE_EVENT_LOG, json.dumps(request).encode(), timeout)
            except NoRespondersError:
                raise CliError(f"no deadline service answers {subjects.RPC_DEADLINE_EVENT_LOG}") from None
            except TimeoutError:
                raise CliError(f"the deadline service did not answer within {timeout:g} s") from None
            answer = json.loads(reply.data)
            if not answer.get("ok"):
                raise CliError(str(answer.get("error") or answer))
            for case in answer["event_log"]["cases"]:
                yield case
            after = answer["event_log"]["next_after"]
            if after is None:
                return
    finally:
        await nc.close()


async def _quiet(_: Exception) -> None:
    """One line says it all (nats-py would log a traceback per failed attempt)."""


async def export(nats_url: str, fmt: str, out: TextIO, window: dict[str, Any], page: int = PAGE) -> tuple[int, int]:
    """Write the log to `out`; returns (cases, events)."""
    if fmt == "xes":
        xes = XesWriter(out)
        async for case in cases(nats_url, window, page):
            xes.trace(case["code"], case_attributes(case), case_events(case))
        xes.close()
        return xes.traces, xes.events
    ocel = OcelWriter(out)
    count = 0
    async for case in cases(nats_url, window, page):
        ocel.case(case)
        count += 1
    ocel.close()
    return count, ocel.events


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", choices=("xes", "ocel"), required=True, help="XES (IEEE 1849) or OCEL 2.0 JSON")
    p.add_argument("--out", type=Path, help="file to write (default: standard output)")
    p.add_argument("--from", dest="date_from", type=_iso_date, help="first receipt day")
    p.add_argument("--to", dest="date_to", type=_iso_date, help="last receipt day, inclusive")
    p.add_argument("--procedure", help="a procedure code")
    p.add_argument("--agency", help="an agency code: dossiers that went through it")
    p.add_argument("--page-size", type=int, default=PAGE, help=f"cases per request (default {PAGE}, at most 1000)")


def run(args: argparse.Namespace) -> int:
    window = {"from": args.date_from, "to": args.date_to, "procedure": args.procedure, "agency": args.agency}
    url = os.environ.get("NATS_URL", DEFAULT_NATS_URL)
    target = args.out.with_name(args.out.name + ".part") if args.out else None
    with target.open("w", encoding="utf-8") if target else nullcontext(sys.stdout) as out:
        try:
            counted, events = asyncio.run(export(url, args.format, out, window, args.page_size))
        except BaseException:
            if target is not None:
                out.close()
                target.unlink(missing_ok=True)
            raise
    if target is not None:
        target.replace(args.out)
        print(f"lienthong export: {counted} hồ sơ (cases), {events} sự kiện (events) → {args.out}", file=sys.stderr)
    return 0


COMMANDS = [Command("export", "the dossiers' event log as XES or OCEL 2.0 for process mining", configure, run)]
