"""The page frame shared by every view: head, style, navigation. Pure, no external asset."""

from __future__ import annotations

from shared.web.labels import e

STYLE = """
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, "Segoe UI", Roboto, sans-serif; color: #0f172a; background: #f8fafc; }
header { background: #0f3b66; color: #fff; padding: 12px 28px; display: flex; gap: 28px; align-items: baseline; }
header h1 { font-size: 19px; margin: 0; font-weight: 650; }
header nav a { color: #dbeafe; margin-right: 18px; text-decoration: none; }
header nav a.active { color: #fff; font-weight: 650; border-bottom: 2px solid #fbbf24; }
main { padding: 18px 28px 40px; max-width: 1320px; }
section { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 14px 18px; margin: 16px 0; }
h2 { font-size: 17px; margin: 0 0 4px; }
p.hint { color: #475569; margin: 0 0 10px; font-size: 13px; }
svg.chart { max-width: 100%; height: auto; display: block; }
.row { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; }
.tiles { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px; }
.tile { background: #fff; border: 1px solid #e2e8f0; border-radius: 8px; padding: 10px 14px; }
.tile b { display: block; font-size: 24px; }
.tile span { color: #475569; font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid #e2e8f0; vertical-align: top; }
th { background: #f1f5f9; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.code, .badge { white-space: nowrap; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; }
.badge.overdue, .badge.late { background: #fee2e2; color: #991b1b; }
.badge.stage_overdue { background: #ffedd5; color: #9a3412; }
.badge.at_risk { background: #fef9c3; color: #854d0e; }
.badge.on_time { background: #dcfce7; color: #166534; }
.banner { background: #fef2f2; border: 1px solid #fecaca; color: #991b1b; padding: 10px 14px; border-radius: 8px; }
form.filters { display: flex; gap: 14px; align-items: end; flex-wrap: wrap; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: #475569; }
form.filters input, form.filters select, form.filters button { font: inherit; padding: 4px 8px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.facts dt { color: #475569; }
dl.facts dd { margin: 0; }
pre { background: #0f172a; color: #e2e8f0; padding: 10px; border-radius: 6px; overflow-x: auto; font-size: 12px; }
code { background: #f1f5f9; padding: 0 4px; border-radius: 4px; }
a { color: #1d4ed8; }
"""

NAV = (("overview", "/", "Tổng quan (overview)"), ("asyncapi", "/asyncapi", "Giao diện sự kiện (AsyncAPI)"))


def page(title: str, body: str, active: str = "") -> str:
    links = "".join(
        f'<a href="{href}" class="{"active" if key == active else ""}">{text}</a>' for key, href, text in NAV
    )
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)} · lienthong</title><style>{STYLE}</style></head><body>"
        f"<header><h1>Một cửa liên thông · Giám sát đúng hạn</h1><nav>{links}</nav></header>"
        f"<main>{body}</main></body></html>"
    )


def error_page(title: str, message: str) -> str:
    return page(title, f'<h2>{e(title)}</h2><p class="banner">{e(message)}</p>')
