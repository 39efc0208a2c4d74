"""The overview's charts as inline SVG drawn in Python. Pure.

Server-side SVG needs no script and no CDN (office browsers and the tests' browser may have no
internet), prints, and is searchable in the DOM. Colours: the Okabe-Ito palette, which people
with colour-vision deficiencies tell apart; the heatmap runs from pale yellow to dark red.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.cli import vn_number
from shared.web.labels import day, e, role, short_level

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#999933", "#000000")
FONT = 'font-family="system-ui, sans-serif"'


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[float | None]  # one per x, None where there is nothing to plot


def svg_open(chart_id: str, width: float, height: float, label: str) -> str:
    """Drawn at its own size (never upscaled), shrunk to fit narrow screens."""
    return (
        f'<svg id="{chart_id}" class="chart" width="{width}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{e(label)}">'
    )


def _text(x: float, y: float, body: str, size: int = 12, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" {FONT}{extra}>{body}</text>'


def line_chart(chart_id: str, title: str, x_labels: Sequence[str], series: Sequence[Series]) -> str:
    """Rates (0..1) per x; a gap where a point is None; a legend under the plot."""
    width, left, right, top, plot_h = 620, 44, 16, 28, 200
    plot_w = width - left - right
    legend_rows = (len(series) + 1) // 2
    height = top + plot_h + 34 + 20 * legend_rows
    n = max(len(x_labels), 1)
    step = plot_w / max(n - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        x = left + (i * step if n > 1 else plot_w / 2)
        return x, top + plot_h * (1 - v)

    out = [svg_open(chart_id, width, height, title)]
    out.append(_text(left, 16, e(title), 13, extra=' font-weight="600"'))
    for pct in (0, 25, 50, 75, 100):
        y = top + plot_h * (1 - pct / 100)
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e2e8f0"/>')
        out.append(_text(left - 6, y + 4, f"{pct}%", 11, "end"))
    every = max(1, round(n / 12))
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == n - 1:
            x, _ = xy(i, 0)
            out.append(_text(x, top + plot_h + 16, e(label), 11, "middle"))
    for k, s in enumerate(series):
        colour = PALETTE[k % len(PALETTE)]
        runs: list[list[tuple[float, float]]] = [[]]
        for i, v in enumerate(s.points):
            if v is None:
                runs.append([])
                continue
            runs[-1].append(xy(i, v))
            x, y = xy(i, v)
            tip = f"{e(s.label)} · {e(x_labels[i])}: {vn_number(v * 100, 1)} %"
            out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"><title>{tip}</title></circle>')
        for run in runs:
            if len(run) > 1:
                pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in run)
                out.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" stroke-width="2.5"/>')
        lx, ly = left + (k % 2) * 290, top + plot_h + 38 + (k // 2) * 20
        out.append(f'<rect x="{lx}" y="{ly - 10}" width="14" height="10" fill="{colour}"/>')
        out.append(_text(lx + 20, ly, e(_clip(s.label, 44)), 12))
    out.append("</svg>")
    return "".join(out)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def heat_colour(value: float, top: float) -> str:
    """0 → pale yellow, `top` → dark red (linear in the overrun hours)."""
    share = 0.0 if top <= 0 else max(0.0, min(1.0, value / top))
    low, high = (254, 240, 138), (153, 27, 27)
    r, g, b = (round(a + (z - a) * share) for a, z in zip(low, high, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap(chart_id: str, heat: dict[str, Any]) -> str:
    """Agency rows x stage-role columns, coloured by overrun hours; cells: hours and late/ended."""
    roles, agencies = heat["roles"], heat["agencies"]
    cells = {(c["agency"], c["role"]): c for c in heat["cells"]}
    top = float(heat["max_overrun_hours"] or 0)
    label_w, cell_w, cell_h, head = 300, 118, 40, 44
    width = max(label_w + cell_w * max(len(roles), 1) + 16, label_w + 560)
    height = head + cell_h * max(len(agencies), 1) + 64
    out = [svg_open(chart_id, width, height, "heatmap")]
    out.append(
        '<defs><linearGradient id="heat-scale"><stop offset="0" stop-color="#fef08a"/>'
        '<stop offset="1" stop-color="#991b1b"/></linearGradient></defs>'
    )
    for j, r in enumerate(roles):
        out.append(_text(label_w + cell_w * j + cell_w / 2, head - 12, e(role(r).split(" (")[0]), 12, "middle"))
        out.append(_text(label_w + cell_w * j + cell_w / 2, head - 0, f"({e(r)})", 10, "middle", ' fill="#64748b"'))
    for i, a in enumerate(agencies):
        y = head + 6 + cell_h * i
        name = f"{a['agency_name'] or a['agency']} · {short_level(a['level'])}"
        out.append(_text(label_w - 8, y + cell_h / 2 + 4, e(_clip(name, 44)), 12, "end"))
        for j, r in enumerate(roles):
            x, c = label_w + cell_w * j, cells.get((a["agency"], r))
            if c is None:
                out.append(f'<rect x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" height="{cell_h - 2}" fill="#f1f5f9"/>')
                continue
            over = float(c["overrun_hours"] or 0)
            fill = heat_colour(over, top) if c["late_stages"] else "#dcfce7"
            ink = "#ffffff" if c["late_stages"] and top and over / top > 0.55 else "#0f172a"
            paint = f' fill="{ink}"'
            data = f'data-agency="{e(a["agency"])}" data-role="{e(r)}" data-overrun="{over:g}"'
            tip = f"{e(a['agency_name'] or a['agency'])} · {e(role(r))}: {c['late_stages']}/{c['ended_stages']} trễ"
            out.append(
                f'<g class="cell{" late" if c["late_stages"] else ""}" {data}>'
                f'<rect x="{x + 1}" y="{y + 1}" width="{cell_w - 2}" height="{cell_h - 2}" fill="{fill}"/>'
                f"<title>{tip}, vượt {vn_number(over, 1)} giờ</title>"
                + _text(x + cell_w / 2, y + 17, f"{vn_number(over, 1)} giờ", 12, "middle", paint)
                + _text(x + cell_w / 2, y + 31, f"{c['late_stages']}/{c['ended_stages']} trễ", 10, "middle", paint)
                + "</g>"
            )
    ly = head + cell_h * max(len(agencies), 1) + 24
    out.append(_text(label_w - 8, ly + 10, "Giờ vượt hạn (overrun hours):", 11, "end"))
    out.append(f'<rect x="{label_w}" y="{ly}" width="220" height="12" fill="url(#heat-scale)"/>')
    out.append(_text(label_w, ly + 26, "0", 10, "middle"))
    out.append(_text(label_w + 220, ly + 26, f"{vn_number(top, 1)} giờ", 10, "middle"))
    out.append(f'<rect x="{label_w + 250}" y="{ly}" width="14" height="12" fill="#dcfce7"/>')
    out.append(_text(label_w + 270, ly + 10, "không trễ (none late)", 10))
    out.append(f'<rect x="{label_w + 400}" y="{ly}" width="14" height="12" fill="#f1f5f9"/>')
    out.append(_text(label_w + 420, ly + 10, "không có (no stage)", 10))
    out.append("</svg>")
    return "".join(out)


def wait_bars(chart_id: str, rows: Sequence[dict[str, Any]]) -> str:
    """Hand-off waits between levels: median and p90 bars per (from level → to level)."""
    label_w, bar_w, row_h, head = 190, 440, 46, 30
    width, height = label_w + bar_w + 120, head + row_h * max(len(rows), 1) + 30
    top = max([float(r["p90_hours"] or 0) for r in rows] + [1.0])
    out = [svg_open(chart_id, width, height, "hand-off waits")]
    out.append(f'<rect x="{label_w}" y="6" width="14" height="10" fill="#56B4E9"/>')
    out.append(_text(label_w + 20, 15, "trung vị (median)", 11))
    out.append(f'<rect x="{label_w + 150}" y="6" width="14" height="10" fill="#0072B2"/>')
    out.append(_text(label_w + 170, 15, "p90 (9 in 10 waited less)", 11))
    for i, r in enumerate(rows):
        y = head + row_h * i
        pair = f"{short_level(r['from_level'])} → {short_level(r['to_level'])}"
        out.append(_text(label_w - 8, y + 16, e(pair), 13, "end", ' font-weight="600"'))
        out.append(_text(label_w - 8, y + 31, f"{r['handoffs']} lần chuyển", 10, "end", ' fill="#64748b"'))
        for k, (key, colour) in enumerate((("median_hours", "#56B4E9"), ("p90_hours", "#0072B2"))):
            value = float(r[key] or 0)
            w = max(1.0, bar_w * value / top)
            by = y + 4 + k * 17
            out.append(
                f'<rect class="bar {key}" x="{label_w}" y="{by}" width="{w:.1f}" height="14" fill="{colour}">'
                f"<title>{e(pair)}: {vn_number(value, 1)} giờ làm việc</title></rect>"
            )
            out.append(_text(label_w + w + 6, by + 11, f"{vn_number(value, 1)} giờ", 11))
    out.append("</svg>")
    return "".join(out)


def week_labels(weeks: Sequence[str]) -> list[str]:
    return [day(w) for w in weeks]
