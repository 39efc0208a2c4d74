"""A dossier's timeline as a Gantt-like inline SVG, from the explain answer. Pure.

One row per stage: the hand-off wait (sent → received) in amber, the agency's processing in blue,
or red when the stage ended after its due time; pauses hatched over it (they count against no
agency); a black tick at the stage's due time. A last row holds the postal legs. Dashed lines mark
the appointment in force and the result. Time runs in calendar time; weekends are shaded.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from shared.calendar import VN_TZ
from shared.web.charts import FONT, svg_open
from shared.web.labels import e, hours, role, when

WIDTH, LABEL_W, ROW_H, HEAD = 1240, 320, 40, 46
COLOURS = {"handoff": "#f59e0b", "processing": "#2563eb", "late": "#dc2626", "postal": "#7c3aed"}


def _t(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value).astimezone(VN_TZ) if value else None


def _times(x: dict[str, Any]) -> Iterable[datetime | None]:
    yield from (_t(x.get(k)) for k in ("received_at", "counting_from", "appointment_at", "result_ready_at"))
    yield _t(x.get("returned_at"))
    for s in x["stages"]:
        yield from (_t(s.get(k)) for k in ("start", "received_at", "end", "due"))
    for p in [*x["pauses"], *x["postal_legs"]]:
        yield from (_t(p.get("start")), _t(p.get("end")))


def timeline_svg(x: dict[str, Any], chart_id: str = "timeline") -> str:
    known = [t for t in _times(x) if t is not None]
    if not known:
        return svg_open(chart_id, WIDTH, 40, "timeline") + "</svg>"
    first, last = min(known), max(known)
    pad = max((last - first) * 0.03, timedelta(hours=2))
    t0, t1 = first - pad, last + pad
    plot_w = WIDTH - LABEL_W - 20
    rows = len(x["stages"]) + (1 if x["postal_legs"] else 0)
    height = HEAD + ROW_H * max(rows, 1) + 78

    def px(t: datetime) -> float:
        return LABEL_W + plot_w * (t - t0) / (t1 - t0)

    out = [
        svg_open(chart_id, WIDTH, height, "timeline"),
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
        '<rect width="6" height="6" fill="#ffffff" fill-opacity="0.55"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#334155" stroke-width="2.5"/></pattern></defs>',
    ]
    out += _days(t0, t1, px, HEAD + ROW_H * max(rows, 1))
    for i, s in enumerate(x["stages"]):
        out += _stage_row(s, [p for p in x["pauses"] if p["stage_index"] == s["index"]], HEAD + ROW_H * i, px, t1)
    if x["postal_legs"]:
        y = HEAD + ROW_H * len(x["stages"])
        out.append(_label(y, "Bưu chính (postal)", "không tính cho cơ quan nào"))
        for leg in x["postal_legs"]:
            start, end = _t(leg["start"]), _t(leg["end"]) or t1
            if start is not None:
                tip = f"bưu chính {e(leg['direction'])} {e(leg['waybill'])}: {when(leg['start'])} → {when(leg['end'])}"
                out.append(_bar("postal", px(start), px(end), y, COLOURS["postal"], tip))
    bottom = HEAD + ROW_H * max(rows, 1)
    markers = (
        ("appointment_at", "Hẹn trả (appointment)", "#0f172a"),
        ("result_ready_at", "Có kết quả (result)", "#15803d"),
    )
    for k, (key, label, colour) in enumerate(markers):
        t = _t(x.get(key))
        if t is not None:
            x_at, anchor = px(t), "end" if px(t) > WIDTH - 260 else "start"
            shift = -4 if anchor == "end" else 4
            out.append(
                f'<g class="marker {key}"><line x1="{x_at:.1f}" x2="{x_at:.1f}" y1="{HEAD - 6}" y2="{bottom + 6}" '
                f'stroke="{colour}" stroke-width="1.5" stroke-dasharray="6 4"/>'
                f'<text x="{x_at + shift:.1f}" y="{bottom + 18 + 15 * k}" font-size="11" fill="{colour}" '
                f'text-anchor="{anchor}" {FONT}>{label} {when(t)}</text></g>'
            )
    out += _legend(bottom + 62)
    out.append("</svg>")
    return "".join(out)


def _days(t0: datetime, t1: datetime, px, bottom: float) -> list[str]:
    out = []
    span_days = (t1 - t0).days + 1
    every = 1 if span_days <= 21 else 2 if span_days <= 42 else 7
    d = t0.replace(hour=0, minute=0, second=0, microsecond=0)
    k = 0
    while d < t1:
        nxt = d + timedelta(days=1)
        a, b = px(max(d, t0)), px(min(nxt, t1))
        if d.weekday() >= 5:
            out.append(f'<rect class="weekend" x="{a:.1f}" y="{HEAD - 8}" width="{b - a:.1f}" '
                       f'height="{bottom - HEAD + 8}" fill="#f1f5f9"/>')  # fmt: skip
        if d >= t0 and k % every == 0 and a < WIDTH - 36:
            out.append(f'<line x1="{a:.1f}" x2="{a:.1f}" y1="{HEAD - 8}" y2="{bottom}" stroke="#e2e8f0"/>')
            out.append(f'<text x="{a + 2:.1f}" y="{HEAD - 14}" font-size="10" fill="#475569" {FONT}>'
                       f"{d.strftime('%d/%m')}</text>")  # fmt: skip
        d, k = nxt, k + 1
    return out


def _label(y: float, title: str, subtitle: str) -> str:
    return (
        f'<text x="{LABEL_W - 10}" y="{y + 15}" font-size="12" text-anchor="end" font-weight="600" {FONT}>'
        f"{e(title)}</text>"
        f'<text x="{LABEL_W - 10}" y="{y + 29}" font-size="10" text-anchor="end" fill="#64748b" {FONT}>'
        f"{e(subtitle)}</text>"
    )


def _bar(cls: str, a: float, b: float, y: float, fill: str, tip: str, extra: str = "") -> str:
    return (
        f'<rect class="{cls}" x="{a:.1f}" y="{y + 8}" width="{max(b - a, 1.5):.1f}" height="{ROW_H - 16}" '
        f'fill="{fill}"{extra}><title>{tip}</title></rect>'
    )


def _stage_row(s: dict[str, Any], pauses: list[dict[str, Any]], y: float, px, t_end: datetime) -> list[str]:
    start, received, end, due = (_t(s.get(k)) for k in ("start", "received_at", "end", "due"))
    who = s.get("agency_name") or s["agency"]
    verdict = f"trễ {hours(s['overrun_hours'])}" if s["late"] else ""
    late = "true" if s["late"] else "false"
    out = [f'<g class="stage{" late" if s["late"] else ""}" data-stage-index="{s["index"]}" data-late="{late}">']
    out.append(_label(y, f"{s['index']} · {role(s['role']).split(' (')[0]} · {who}", verdict or s["agency"]))
    if start is None:
        out.append("</g>")
        return out
    processing_from = received or start
    if received is not None and received > start:
        tip = f"chờ nhận (hand-off wait) {hours(s['handoff_wait_hours'])}: {when(start)} → {when(received)}"
        out.append(_bar("handoff", px(start), px(received), y, COLOURS["handoff"], tip))
    colour = COLOURS["late"] if s["late"] else COLOURS["processing"]
    stop = end or t_end
    tip = f"{e(who)}: {when(processing_from)} → {when(end) if end else 'đang xử lý (open)'}, hạn {when(due)}"
    dashed = "" if end else ' fill-opacity="0.45" stroke="#1e3a8a" stroke-dasharray="4 3"'
    out.append(_bar(f"processing{' late' if s['late'] else ''}", px(processing_from), px(stop), y, colour, tip, dashed))
    for p in pauses:
        p_start, p_end = _t(p["start"]), _t(p["end"]) or t_end
        if p_start is not None:
            tip = f"tạm dừng (pause, {e(p['kind'])}): {when(p_start)} → {when(p['end'])}"
            out.append(_bar("pause", px(p_start), px(p_end), y, "url(#hatch)", tip, ' stroke="#334155"'))
    if due is not None:
        x = px(due)
        out.append(
            f'<g class="due"><line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 3}" y2="{y + ROW_H - 3}" stroke="#0f172a" '
            f'stroke-width="3"/><path d="M{x - 5:.1f},{y + 2} L{x + 5:.1f},{y + 2} L{x:.1f},{y + 8} Z" fill="#0f172a"/>'
            f"<title>hạn giai đoạn (stage due) {when(due)}</title></g>"
        )
    out.append("</g>")
    return out


def _legend(y: float) -> list[str]:
    items = [
        ("handoff", COLOURS["handoff"], "chờ nhận (hand-off wait)"),
        ("processing", COLOURS["processing"], "xử lý đúng hạn (on time)"),
        ("late", COLOURS["late"], "xử lý trễ (late)"),
        ("pause", "url(#hatch)", "tạm dừng (pause)"),
        ("postal", COLOURS["postal"], "bưu chính (postal)"),
    ]
    out, x = [], 20
    for _, fill, text in items:
        out.append(f'<rect x="{x}" y="{y - 10}" width="16" height="12" fill="{fill}" stroke="#334155" '
                   f'stroke-width="0.5"/><text x="{x + 22}" y="{y}" font-size="11" {FONT}>{text}</text>')  # fmt: skip
        x += 170
    out.append(f'<line x1="{x + 6}" x2="{x + 6}" y1="{y - 12}" y2="{y + 3}" stroke="#0f172a" stroke-width="3"/>'
               f'<text x="{x + 14}" y="{y}" font-size="11" {FONT}>hạn giai đoạn (due)</text>')  # fmt: skip
    return out
