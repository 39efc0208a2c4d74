"""`lienthong`: the operators' command line.

`explain` and `report` ask the deadline service over NATS request/reply (`lt.rpc.deadline.*`,
NATS_URL, default nats://127.0.0.1:4222) instead of reading its tables: there is one source of
truth (the same code answers this tool, the demo and any other client), no second reader of a
schema that belongs to one service, and the tool works from anywhere NATS is reachable, with NATS
permissions deciding who may ask.

Subcommands are `Command` values. `main()` builds the parser from `commands()`: the ones defined
here plus the `COMMANDS` list of every module named in `EXTENSIONS`, so that other tools
(simulate, serve, export, ...) register from their own modules by adding one name there.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from shared.calendar import VN_TZ
from shared.contracts import subjects
from shared.settings import DEFAULT_NATS_URL, nats_servers

# modules exposing `COMMANDS: list[Command]`
EXTENSIONS: tuple[str, ...] = (
    "shared.web.serve",
    "shared.recommend",
    "shared.sim.cli",
    "shared.export.cli",
    "shared.natsauth",
    "shared.reconcile.cli",
)
DEFAULT_JAEGER_UI_URL = "http://localhost:16686"


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


class CliError(Exception):
    """A failure to tell the operator in one line (exit status 2)."""


# ---- asking the deadline service --------------------------------------------------------------


def ask(subject: str, request: dict[str, Any], timeout: float = 15.0) -> dict[str, Any]:
    return asyncio.run(_ask(os.environ.get("NATS_URL", DEFAULT_NATS_URL), subject, request, timeout))


async def _ask(url: str, subject: str, request: dict[str, Any], timeout: float) -> dict[str, Any]:
    import nats
    from nats.errors import Error as NatsError
    from nats.errors import NoRespondersError

    try:
        nc = await nats.connect(
            nats_servers(url), connect_timeout=5, max_reconnect_attempts=1, reconnect_time_wait=0.2, error_cb=_quiet
        )
    except (OSError, NatsError, TimeoutError) as exc:
        raise CliError(f"cannot reach NATS at {url} ({type(exc).__name__}); set NATS_URL") from None
    try:
        reply = await nc.request(subject, json.dumps(request).encode(), timeout=timeout)
    except NoRespondersError:
        raise CliError(f"no deadline service answers {subject} on {url}: is services.deadline running?") from None
    except TimeoutError:
        raise CliError(f"the deadline service did not answer {subject} within {timeout:g} s") from None
    finally:
        await nc.close()
    return json.loads(reply.data)


async def _quiet(_: Exception) -> None:
    """nats-py would log every failed connection attempt with a traceback; one line says it all."""


def _answer(subject: str, request: dict[str, Any], key: str) -> dict[str, Any]:
    answer = ask(subject, request)
    if not answer.get("ok"):
        raise CliError(str(answer.get("error") or answer))
    return answer[key]


# ---- formatting (pure) ------------------------------------------------------------------------


def vn_number(value: float | None, decimals: int = 2) -> str:
    """6.5 -> '6,5'; 14.0 -> '14' (Vietnamese decimal comma)."""
    if value is None:
        return "—"
    text = f"{value:.{decimals}f}".rstrip("0").rstrip(".")
    return text.replace(".", ",")


def vn_time(value: str | None) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M")


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]
    lines = ["  ".join(str(cell).ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip(), *lines]


VERDICTS = {
    "in_progress": "ĐANG GIẢI QUYẾT (in progress)",
    "paused": "TẠM DỪNG (paused: waiting for the citizen)",
    "refused": "BỊ TỪ CHỐI (refused)",
    "withdrawn": "ĐÃ RÚT (withdrawn)",
}


def verdict(e: dict[str, Any]) -> str:
    if e["late"]:
        return f"TRỄ HẠN {vn_number(e['late_by_hours'])} giờ làm việc (late)"
    if e["result_ready_at"]:
        return "ĐÚNG HẠN (on time)"
    return VERDICTS.get(e["status"], e["status"])


def format_explanation(e: dict[str, Any], jaeger_url: str) -> str:
    procedure = f"{e['procedure']} {e.get('procedure_name') or ''}".strip()
    receiving = f"{e.get('receiving_agency_name') or ''} ({e['receiving_agency']})".strip()
    moves = [a["cause"] for a in e.get("appointments", [])[1:]]
    lines = [
        f"Hồ sơ {e['code']} — {verdict(e)}",
        f"Thủ tục (procedure): {procedure}",
        f"Tiếp nhận (received): {vn_time(e['received_at'])} tại {receiving}",
        f"Hẹn trả (appointment): {vn_time(e['appointment_at'])}"
        + (f"  [dời {len(moves)} lần (moved): {', '.join(moves)}]" if moves else ""),
        f"Có kết quả (result ready): {vn_time(e['result_ready_at'])} · Đã trả (returned): {vn_time(e['returned_at'])}",
        "",
    ]
    rows = [
        (
            f"{s['index']} {s['role']}",
            s.get("agency_name") or s["agency"],
            vn_time(s["due"]),
            vn_time(s["end"]),
            f"{vn_number(s['overrun_hours'])} giờ" if s["late"] else "—",
        )
        for s in e["stages"]
    ]
    lines += [*table(("Giai đoạn", "Cơ quan", "Hạn (due)", "Hoàn thành", "Vượt (overrun)"), rows), ""]
    for p in e["pauses"]:
        lines.append(
            f"Tạm dừng (pause, {p['kind']}) ở giai đoạn {p['stage_index']}: {vn_time(p['start'])} → "
            f"{vn_time(p['end'])}, {vn_number(p['working_hours'])} giờ — không tính cho cơ quan nào"
        )
    for leg in e["postal_legs"]:
        lines.append(
            f"Bưu chính (postal {leg['direction']}, {leg['waybill']}, {leg['status']}): {vn_time(leg['start'])} → "
            f"{vn_time(leg['end'])} — không tính cho cơ quan nào"
        )
    journey = e.get("end_to_end")
    if journey and journey.get("to"):
        via = {"postal": "qua bưu chính (by post)", "counter": "tại quầy (at the counter)"}.get(journey["via"], "")
        lines.append(
            f"Công dân chờ (citizen's end-to-end): {vn_time(journey['from'])} → {vn_time(journey['to'])} {via}: "
            f"{vn_number(journey['working_hours'])} giờ làm việc, {vn_number(journey['elapsed_days'], 1)} ngày; "
            f"đến khi có kết quả {vn_number(journey['to_result_hours'])} giờ (đánh giá đúng hạn dừng ở đây), "
            f"sau đó {vn_number(journey['after_result_hours'])} giờ; bưu chính {vn_number(journey['postal_hours'])} giờ"
        )
    for b in e["blamed"]:
        who = f"{b.get('agency_name') or b['agency']} ({b['agency']})"
        lines.append(f"Trễ do (blamed): giai đoạn {b['stage_index']} — {who}, vượt {vn_number(b['overrun_hours'])} giờ")
    lines.append(f"Trace: {e['trace_id']} · Jaeger: {jaeger_url.rstrip('/')}/trace/{e['trace_id']}")
    return "\n".join(lines)


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{vn_number(value * 100, 1)} %"


def format_report(r: dict[str, Any]) -> str:
    scope = (
        f"từ (from) {r['from'] or '…'} đến (to) {r['to'] or '…'} · thủ tục: {r['procedure'] or 'tất cả'} · "
        f"cơ quan: {r['agency'] or 'tất cả'} · tính đến (as of) {vn_time(r['as_of'])}"
    )
    finished = r["finished_on_time"] + r["finished_late"]
    lines = [
        f"Báo cáo đúng hạn (on-time report) · {scope}",
        f"Đã giải quyết (finished): {finished} — đúng hạn (on time) {r['finished_on_time']}, trễ hạn (late) "
        f"{r['finished_late']} · tỉ lệ đúng hạn (on-time rate, QĐ 766): {_rate(r['on_time_rate'])}",
        f"Đang giải quyết (in progress): {r['in_progress_within'] + r['in_progress_past_due']} — còn hạn (within) "
        f"{r['in_progress_within']}, quá hạn (past due) {r['in_progress_past_due']}",
        "",
        "Trễ theo cơ quan (lateness by agency, largest overrun first):",
    ]
    late = [_lateness_row(x) for x in r["lateness"]]
    lines += table(("Cơ quan", "Vai trò", "Thủ tục", "Số GĐ trễ", "Vượt (giờ)"), late) if late else ["  (không có)"]
    lines += ["", *_end_to_end_lines(r.get("end_to_end"))]
    groups = (("Theo thủ tục (by procedure)", "procedure"), ("Theo nơi tiếp nhận (by receiving agency)", "agency"))
    for title, key in groups:
        body = [_verdict_row(x[key], x) for x in r[f"by_{key}"]]
        lines += ["", f"{title}:", *table(("Mã", "Đúng hạn", "Trễ hạn", "Tỉ lệ", "Còn hạn", "Quá hạn"), body)]
    return "\n".join(lines)


def _end_to_end_lines(x: dict[str, Any] | None) -> list[str]:
    """The citizen's wait, pickup and delivery included (the on-time figures above stop at the result)."""
    title = "Thời gian công dân chờ (citizen-facing end-to-end, incl. postal pickup and delivery):"
    if not x or not x["returned"]:
        return [title, "  (chưa có hồ sơ đã trả kết quả)"]
    rows = [
        (
            {"all": "tất cả", "postal": "bưu chính", "counter": "tại quầy"}.get(row["via"], row["via"]),
            row["returned"],
            vn_number(row["mean_working_hours"]),
            vn_number(row["median_working_hours"]),
            vn_number(row["max_working_hours"]),
            vn_number(row["mean_elapsed_days"], 1),
            vn_number(row["mean_after_result_hours"]),
            vn_number(row["mean_postal_hours"]),
        )
        for row in [{"via": "all", **x}, *x["by_return"]]
    ]
    headers = ("Trả", "Số HS", "TB (giờ)", "Trung vị", "Tối đa", "TB (ngày)", "Sau KQ (giờ)", "Bưu chính (giờ)")
    return [title, *table(headers, rows)]


def _lateness_row(x: dict[str, Any]) -> tuple:
    return (
        x.get("agency_name") or x["agency"],
        x["stage_role"],
        x["procedure"],
        x["late_stages"],
        vn_number(x["overrun_hours"]),
    )


def _verdict_row(code: str, x: dict[str, Any]) -> tuple:
    on_time, late, rate = x["finished_on_time"], x["finished_late"], _rate(x["on_time_rate"])
    return code, on_time, late, rate, x["in_progress_within"], x["in_progress_past_due"]


# ---- the commands -----------------------------------------------------------------------------


def _print_json(value: Any) -> None:
    print(json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True))


def run_explain(args: argparse.Namespace) -> int:
    e = _answer(subjects.RPC_DEADLINE_EXPLAIN, {"dossier_code": args.dossier_code}, "explanation")
    if args.json:
        _print_json(e)
    else:
        print(format_explanation(e, os.environ.get("JAEGER_UI_URL", DEFAULT_JAEGER_UI_URL)))
    return 0


def run_report(args: argparse.Namespace) -> int:
    request = {"from": args.date_from, "to": args.date_to, "procedure": args.procedure, "agency": args.agency}
    r = _answer(subjects.RPC_DEADLINE_REPORT, request, "report")
    if args.json:
        _print_json(r)
    else:
        print(format_report(r))
    return 0


def _iso_date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _configure_explain(p: argparse.ArgumentParser) -> None:
    p.add_argument("dossier_code", help="e.g. 000.00.15.H57-260302-0007")
    p.add_argument("--json", action="store_true", help="print the service's stable JSON")


def _configure_report(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="date_from", type=_iso_date, help="first day (results ready / received)")
    p.add_argument("--to", dest="date_to", type=_iso_date, help="last day, inclusive")
    p.add_argument("--procedure", help="a procedure code")
    p.add_argument("--agency", help="an agency code: dossiers that went through it")
    p.add_argument("--json", action="store_true", help="print the service's stable JSON")


BUILTIN = [
    Command("explain", "where one dossier went, when, and who made it late", _configure_explain, run_explain),
    Command("report", "on-time rate and lateness by agency", _configure_report, run_report),
]


def commands() -> list[Command]:
    found = list(BUILTIN)
    for module in EXTENSIONS:
        found += importlib.import_module(module).COMMANDS
    return found


def build_parser(available: Sequence[Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lienthong", description="lienthong operators' tool")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in available:
        command.configure(sub.add_parser(command.name, help=command.help, description=command.help))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    available = commands()
    args = build_parser(available).parse_args(argv)
    command = next(c for c in available if c.name == args.command)
    try:
        return command.run(args)
    except CliError as exc:
        print(f"lienthong {command.name}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
