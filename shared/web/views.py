"""The overview and the dossier page as HTML, from the deadline service's answers. Pure."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from shared.cli import verdict
from shared.web import charts
from shared.web.gantt import timeline_svg
from shared.web.labels import CATEGORIES, PAUSES, STATUSES, agency, e, hours, level, rate, role, when
from shared.web.layout import page

MAX_SERIES = 7


def _series(groups: list[dict[str, Any]], key: str, name_key: str) -> list[charts.Series]:
    """The busiest groups (most dossiers finished), each labelled with its name and code."""
    busiest = sorted(groups, key=lambda g: (-sum(p["finished"] for p in g["points"]), g[key]))[:MAX_SERIES]
    return [
        charts.Series(f"{g[name_key] or g[key]} ({g[key]})", [p["on_time_rate"] for p in g["points"]]) for g in busiest
    ]


def _filters(trend: dict[str, Any]) -> str:
    chosen = trend["procedure"]
    codes = sorted({g["procedure"] for g in trend["by_procedure"]} | ({chosen} if chosen else set()))
    names = {g["procedure"]: g["procedure_name"] for g in trend["by_procedure"]}
    options = '<option value="">Tất cả (all)</option>' + "".join(
        f'<option value="{e(c)}"{" selected" if c == chosen else ""}>{e(c)} {e(names.get(c) or "")}</option>'
        for c in codes
    )
    return (
        '<form class="filters" method="get" action="/">'
        f'<label>Từ ngày (from)<input type="date" name="from" value="{e(trend["from"])}"></label>'
        f'<label>Đến ngày (to)<input type="date" name="to" value="{e(trend["to"])}"></label>'
        f'<label>Thủ tục (procedure)<select name="procedure">{options}</select></label>'
        '<button type="submit">Xem (show)</button>'
        f'<span class="hint">Tính đến (as of) {when(trend["as_of"])}</span></form>'
    )


def _tiles(report: dict[str, Any]) -> str:
    finished = report["finished_on_time"] + report["finished_late"]
    running = report["in_progress_within"] + report["in_progress_past_due"]
    tiles = [
        (rate(report["on_time_rate"]), "tỉ lệ đúng hạn (on-time rate, QĐ 766)"),
        (str(finished), f"đã giải quyết (finished), {report['finished_late']} trễ hạn (late)"),
        (str(running), "đang giải quyết (in progress)"),
        (str(report["in_progress_past_due"]), "đang quá hạn hẹn trả (running past the appointment)"),
    ]
    return (
        '<div class="tiles">'
        + "".join(f'<div class="tile"><b>{v}</b><span>{t}</span></div>' for v, t in tiles)
        + "</div>"
    )


def _dossier_rows(dossiers: list[dict[str, Any]]) -> str:
    if not dossiers:
        return '<p class="hint">Không có hồ sơ trễ hạn hay sắp đến hạn (none late or at risk).</p>'
    rows = []
    for d in dossiers:
        stage = d["overdue_stage"]
        where = agency(stage["agency"], stage["agency_name"]) + f", hạn {when(stage['due'])}" if stage else ""
        holder = agency(d["holder_agency"], d["holder_agency_name"]) if d["holder_agency"] else "—"
        rows.append(
            f'<tr data-category="{e(d["category"])}"><td class="code"><a href="/dossiers/{quote(d["code"], safe="")}">'
            f"{e(d['code'])}</a></td>"
            f'<td><span class="badge {e(d["category"])}">{e(CATEGORIES.get(d["category"], d["category"]))}</span></td>'
            f"<td>{e(d['procedure'])} {e(d['procedure_name'] or '')}</td>"
            f"<td>{e(holder)}{'<br>giai đoạn quá hạn: ' + e(where) if where else ''}</td>"
            f"<td>{when(d['appointment_at'])}</td><td>{when(d['result_ready_at'])}</td>"
            f'<td class="num">{hours(d["late_hours"]) if d["category"] == "late" else ""}</td></tr>'
        )
    head = (
        "<tr><th>Mã hồ sơ (dossier)</th><th>Tình trạng (state)</th><th>Thủ tục (procedure)</th>"
        "<th>Đang ở (held by)</th><th>Hẹn trả (appointment)</th><th>Có kết quả (result)</th><th>Trễ (late by)</th></tr>"
    )
    return f'<table id="dossiers">{head}{"".join(rows)}</table>'


def overview(report, trend, heat, handoffs, dossiers) -> str:
    labels = charts.week_labels(trend["weeks"])
    overall = charts.Series("Tất cả (all)", [p["on_time_rate"] for p in trend["overall"]])
    by_procedure = charts.line_chart(
        "trend-procedure",
        "Theo thủ tục (by procedure)",
        labels,
        [overall, *_series(trend["by_procedure"], "procedure", "procedure_name")],
    )
    by_agency = charts.line_chart(
        "trend-agency", "Theo nơi tiếp nhận (by receiving agency)", labels,
        _series(trend["by_agency"], "agency", "agency_name"),
    )  # fmt: skip
    agency_rows = "".join(
        f"<tr><td>{e(agency(a['agency'], a['agency_name']))}</td><td>{e(level(a['level']))}</td>"
        f'<td class="num">{a["handoffs"]}</td><td class="num">{hours(a["median_hours"])}</td>'
        f'<td class="num">{hours(a["p90_hours"])}</td></tr>'
        for a in handoffs["by_agency"][:10]
    )
    body = [
        _filters(trend),
        _tiles(report),
        '<section><h2>Tỉ lệ đúng hạn theo tuần (on-time rate per week)</h2><p class="hint">Hồ sơ có kết quả trong '
        "tuần (dossiers whose result was ready that week): đúng hạn / đã giải quyết.</p>"
        f'<div class="row"><div>{by_procedure}</div><div>{by_agency}</div></div></section>',
        '<section><h2>Trễ hạn theo cơ quan và bước (lateness by agency × stage)</h2><p class="hint">Mỗi ô: số giờ '
        "làm việc vượt hạn và số giai đoạn trễ / đã xong (overrun working hours; late / ended stages).</p>"
        f"{charts.heatmap('heatmap', heat)}</section>",
        '<section><h2>Thời gian chờ chuyển giữa các cấp (hand-off waits between levels)</h2><p class="hint">Từ lúc '
        "gửi đến lúc cơ quan sau nhận, giờ làm việc (sent → received, working hours).</p>"
        f"{charts.wait_bars('handoffs', handoffs['by_level'])}"
        "<table><tr><th>Cơ quan nhận (receiving agency)</th><th>Cấp (level)</th><th>Số lần</th><th>Trung vị</th>"
        f"<th>p90</th></tr>{agency_rows}</table></section>",
        "<section><h2>Hồ sơ trễ hạn và sắp đến hạn (late and at-risk dossiers)</h2>"
        f"{_dossier_rows(dossiers['dossiers'])}</section>",
    ]
    return page("Tổng quan", "".join(body), "overview")


def dossier(x: dict[str, Any], jaeger_url: str) -> str:
    late = x["late"]
    badge = "late" if late else "on_time" if x["result_ready_at"] else "at_risk"
    moves = [a["cause"] for a in x.get("appointments", [])[1:]]
    trace = f"{jaeger_url.rstrip('/')}/trace/{x['trace_id']}"
    facts = [
        ("Thủ tục (procedure)", f"{x['procedure']} {x.get('procedure_name') or ''}"),
        ("Nơi tiếp nhận (received at)", agency(x["receiving_agency"], x.get("receiving_agency_name"))),
        ("Tiếp nhận (received)", when(x["received_at"])),
        ("Hẹn trả (appointment)", when(x["appointment_at"]) + (f" · dời (moved): {', '.join(moves)}" if moves else "")),
        ("Có kết quả (result ready)", when(x["result_ready_at"])),
        ("Đã trả (returned)", when(x["returned_at"])),
        ("Trạng thái (status)", STATUSES.get(x["status"], x["status"])),
    ]
    stage_rows = "".join(
        f'<tr class="{"late" if s["late"] else ""}"><td>{s["index"]}</td><td>{e(role(s["role"]))}</td>'
        f"<td>{e(agency(s['agency'], s.get('agency_name')))}</td><td>{when(s['start'])}</td>"
        f"<td>{when(s['received_at'])}</td><td>{when(s['due'])}</td><td>{when(s['end'])}</td>"
        f'<td class="num">{hours(s["budget_hours"])}</td><td class="num">{hours(s["used_hours"])}</td>'
        f'<td class="num">{hours(s["overrun_hours"]) if s["late"] else "—"}</td></tr>'
        for s in x["stages"]
    )
    notes = [
        f"<li>Tạm dừng ({e(PAUSES.get(p['kind'], p['kind']))}) ở giai đoạn {p['stage_index']}: {when(p['start'])} → "
        f"{when(p['end'])}, {hours(p['working_hours'])}: không tính cho cơ quan nào (charged to no agency)</li>"
        for p in x["pauses"]
    ] + [
        f"<li>Bưu chính ({e(leg['direction'])}, {e(leg['waybill'])}, {e(leg['status'])}): {when(leg['start'])} → "
        f"{when(leg['end'])}: không tính cho cơ quan nào</li>"
        for leg in x["postal_legs"]
    ]
    blamed = "".join(
        f"<li>Giai đoạn {b['stage_index']}: {e(agency(b['agency'], b.get('agency_name')))}, vượt (overrun) "
        f"{hours(b['overrun_hours'])}</li>"
        for b in x["blamed"]
    )
    body = [
        f'<h2>Hồ sơ {e(x["code"])} <span class="badge {badge}" id="verdict">{e(verdict(x))}</span></h2>',
        '<section><dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{e(v)}</dd>" for k, v in facts) + "</dl>",
        f'<p>Trace: <a id="trace-link" href="{e(trace)}">{e(x["trace_id"])}</a> (Jaeger)</p></section>',
        '<section><h2>Dòng thời gian (timeline)</h2><p class="hint">Mỗi hàng là một giai đoạn; vạch đen là hạn '
        f"của giai đoạn (each row a stage; the black tick its due time).</p>{timeline_svg(x)}</section>",
        "<section><h2>Các giai đoạn (stages)</h2><table><tr><th>#</th><th>Bước</th><th>Cơ quan</th><th>Gửi (sent)"
        "</th><th>Nhận (received)</th><th>Hạn (due)</th><th>Xong (ended)</th><th>Định mức</th><th>Đã dùng</th>"
        f"<th>Vượt</th></tr>{stage_rows}</table>",
        f"<ul>{''.join(notes)}</ul>" if notes else "",
        f"<h2>Trễ do (blamed)</h2><ul>{blamed}</ul>" if blamed else "",
        "</section>",
    ]
    return page(f"Hồ sơ {x['code']}", "".join(body))
