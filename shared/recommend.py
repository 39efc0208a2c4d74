"""`lienthong recommend --procedure CODE`: per-stage budgets from the stage times observed.

The deadline service does the work (`lt.rpc.deadline.recommend`: percentiles, proposal, replay of
the recorded facts); this prints its answer and writes a catalog fragment an operator can review
and paste over the procedure's entry. The fragment's comments carry the evidence.
"""

from __future__ import annotations

import argparse
import json
from datetime import date
from pathlib import Path
from typing import Any

from shared.cli import CliError, Command, ask, table, vn_number
from shared.contracts import subjects


def _days(value: float | None) -> str:
    return "—" if value is None else vn_number(value, 2)


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{vn_number(value * 100, 1)} %"


def _who(stage: dict[str, Any]) -> str:
    return "nơi tiếp nhận (receiving)" if stage["agency"] == "receiving" else stage["agency_name"] or stage["agency"]


def _evidence(r: dict[str, Any]) -> str:
    window = f", kết quả từ {r['from'] or '…'} đến {r['to'] or '…'}" if r["from"] or r["to"] else ""
    return f"{r['dossiers']} hồ sơ đã có kết quả (finished dossiers{window}), phân vị p{r['percentile']:g}"


def format_recommendation(r: dict[str, Any]) -> str:
    p = f"p{r['percentile']:g}"
    rows = [
        (
            f"{s['index']} {s['role']}",
            _who(s),
            _days(s["current_days"]),
            vn_number(s["observed_hours"], 1) if s["observed_hours"] is not None else "—",
            _days(s["observed_days"]),
            _days(s["proposed_days"]),
            _rate(s["on_time_rate_now"]),
            _rate(s["on_time_rate_proposed"]),
        )
        for s in r["stages"]
    ]
    headers = ("Giai đoạn", "Cơ quan", "Hiện tại (ngày)", f"{p} (giờ)", f"{p} (ngày)", "Đề xuất (ngày)",
               "Đúng hạn nay", "Đúng hạn đề xuất")  # fmt: skip
    total, observed = r["total_working_days"], r["observed_total_days"]
    tight = " — các cơ quan cần nhiều hơn tổng cho phép (agencies need more than the legal total)"
    tight = tight if observed > total else ""
    lines = [
        f"Đề xuất định mức (budget proposal) · thủ tục {r['procedure']} {r['procedure_name']} · "
        f"tổng theo quy định (legal total) {_days(total)} ngày làm việc",
        f"Dựa trên (evidence): {_evidence(r)} thời gian mỗi giai đoạn đã dùng (working time used: hand-off wait + "
        "processing; pauses and postal transit excluded)"
        + (f"; bỏ qua {r['skipped_other_plan']} hồ sơ theo quy trình khác" if r["skipped_other_plan"] else ""),
        "",
        *table(headers, rows),
        "",
        f"Tổng {p} quan sát (sum of observed {p}): {_days(observed)} ngày so với tổng theo quy định {_days(total)} ngày"
        + tight,
        f"Tỉ lệ giai đoạn đúng hạn (stage on-time rate): hiện nay (now) {_rate(r['stage_on_time_rate']['now'])} → "
        f"với định mức đề xuất (replayed) {_rate(r['stage_on_time_rate']['proposed'])}",
        "Hồ sơ mọi giai đoạn đúng hạn (dossiers with every stage on time): "
        f"{_rate(r['dossiers_every_stage_on_time']['now'])} → {_rate(r['dossiers_every_stage_on_time']['proposed'])}",
        f"Tỉ lệ hồ sơ đúng hạn (dossier on-time rate, QĐ 766): {_rate(r['dossier_on_time_rate'])}, không đổi vì tổng "
        "thời hạn giữ nguyên (unchanged: the legal total is kept)",
    ]
    return "\n".join(lines)


def catalog_fragment(r: dict[str, Any]) -> str:
    """The procedure's catalog entry with the proposed stages (YAML; strings JSON-quoted, which YAML
    reads as double-quoted scalars), under comments giving the evidence."""
    p = f"p{r['percentile']:g}"
    lines = [
        f"# lienthong recommend: proposed stage budgets for procedure {r['procedure']}",
        f"# Evidence: {r['dossiers']} finished dossiers"
        + (f" (results from {r['from'] or '…'} to {r['to'] or '…'})" if r["from"] or r["to"] else "")
        + f"; {p} of the working time each stage used (hand-off wait + processing,",
        "# pauses and postal transit excluded), scaled to the legal total in half working days.",
        f"# Replayed on the recorded facts: stage on-time rate {_rate(r['stage_on_time_rate']['now'])} now, "
        f"{_rate(r['stage_on_time_rate']['proposed'])} with these budgets;",
        f"# dossier on-time rate {_rate(r['dossier_on_time_rate'])} (unchanged: the total is kept).",
        "# Review, then replace the procedure's entry in the catalog (LIENTHONG_CATALOG) and restart the services.",
        "procedures:",
        f"  - code: {json.dumps(r['procedure'])}",
        f"    name: {json.dumps(r['procedure_name'], ensure_ascii=False)}",
        f"    total_working_days: {r['total_working_days']:g}",
    ]
    if r["intake_cutoff"]:
        lines.append(f"    intake_cutoff: {json.dumps(r['intake_cutoff'])}")
    lines += [f"    supplement_policy: {r['supplement_policy']}", "    stages:"]
    for s in r["stages"]:
        observed = f"{s['observed_days']:g}" if s["observed_days"] is not None else "none observed"
        lines.append(
            f"      - {{agency: {json.dumps(s['agency'])}, role: {s['role']}, working_days: {s['proposed_days']:g}}}"
            f"  # now {s['current_days']:g}; {p} used {observed}"
        )
    return "\n".join(lines) + "\n"


def run_recommend(args: argparse.Namespace) -> int:
    request = {"procedure": args.procedure, "percentile": args.percentile, "from": args.date_from, "to": args.date_to}
    answer = ask(subjects.RPC_DEADLINE_RECOMMEND, request, timeout=60)
    if not answer.get("ok"):
        raise CliError(str(answer.get("error") or answer))
    r = answer["recommendation"]
    if args.json:
        print(json.dumps(r, ensure_ascii=False, indent=2, sort_keys=True))
    else:
        print(format_recommendation(r))
    if args.out is not None:
        args.out.write_text(catalog_fragment(r), encoding="utf-8")
        if not args.json:
            print(f"Đã ghi (wrote) {args.out}")
    return 0


def _iso_date(text: str) -> str:
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _percentile(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"expected a percentile from 1 to 100, got {text!r}")
    return value


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--procedure", required=True, help="the procedure's code, e.g. 1.001776")
    p.add_argument("--percentile", type=_percentile, default=80, help="of the observed stage times (default 80)")
    p.add_argument("--from", dest="date_from", type=_iso_date, help="first result date of the dossiers observed")
    p.add_argument("--to", dest="date_to", type=_iso_date, help="last result date, inclusive")
    p.add_argument("--out", type=Path, help="write the proposed catalog fragment (YAML) here")
    p.add_argument("--json", action="store_true", help="print the service's stable JSON")


COMMANDS = [
    Command(
        "recommend",
        "propose per-stage budgets from observed stage times, keeping the legal total",
        _configure,
        run_recommend,
    )
]
