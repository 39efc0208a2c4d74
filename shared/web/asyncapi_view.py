"""A readable view of the AsyncAPI document: channels grouped by direction, their messages and the
fields of each message's `data`, with the full JSON schema one click away. Pure."""

from __future__ import annotations

import json
from typing import Any

from shared.web.labels import e
from shared.web.layout import page

GROUPS = (
    ("lt.in.", "Vào lienthong (inbound: agencies' and the post's systems → lienthong)"),
    ("lt.evt.", "Sự kiện (facts published by lienthong)"),
    ("lt.out.", "Ra (outbound: lienthong → agencies and the post)"),
    ("lt.rpc.", "Yêu cầu / trả lời (request / reply)"),
    ("", "Khác (other)"),
)
ACTIONS = {"receive": "nhận (receives)", "send": "gửi (sends)"}


def _type(schema: dict[str, Any]) -> str:
    """A field's type in a few words: `string (date-time)`, `one of: a, b`, `string or null`."""
    if "enum" in schema:
        return "một trong (one of): " + ", ".join(str(v) for v in schema["enum"])
    if "const" in schema:
        return f"= {schema['const']!r}"
    if "anyOf" in schema:
        return " hoặc (or) ".join(_type(s) for s in schema["anyOf"])
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    kind = schema.get("type", "any")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    return f"{kind} ({schema['format']})" if "format" in schema else str(kind)


def _fields(schema: dict[str, Any]) -> str:
    props = schema.get("properties") or {}
    if not props:
        return '<p class="hint">Không có trường cố định (no fixed fields).</p>'
    required = set(schema.get("required") or ())
    rows = "".join(
        f"<tr><td><code>{e(name)}</code></td><td>{e(_type(field))}</td>"
        f"<td>{'bắt buộc (required)' if name in required else ''}</td>"
        f"<td>{e(field.get('description') or '')}</td></tr>"
        for name, field in props.items()
    )
    return f"<table><tr><th>Trường (field)</th><th>Kiểu (type)</th><th></th><th>Ghi chú</th></tr>{rows}</table>"


def _channel(key: str, channel: dict[str, Any], actions: list[str]) -> str:
    parts = [
        f'<section class="channel" id="{e(key)}"><h2><code>{e(channel["address"])}</code></h2>',
        f'<p class="hint">{e(channel.get("description") or "")} · lienthong '
        f"{e(', '.join(ACTIONS.get(a, a) for a in actions))}</p>",
    ]
    for name, message in (channel.get("messages") or {}).items():
        payload = message.get("payload") or {}
        data = (payload.get("properties") or {}).get("data") or {}
        parts.append(f"<h3>{e(name)}</h3>")
        parts.append("<p>Phong bì (envelope, CONTRACT.md §3) · trường của <code>data</code>:</p>")
        parts.append(_fields(data))
        parts.append(
            "<details><summary>JSON schema</summary>"
            f"<pre>{e(json.dumps(payload, indent=2, ensure_ascii=False))}</pre></details>"
        )
    parts.append("</section>")
    return "".join(parts)


def asyncapi_page(document: dict[str, Any]) -> str:
    actions: dict[str, list[str]] = {}
    for op in (document.get("operations") or {}).values():
        key = op["channel"]["$ref"].rsplit("/", 1)[-1]
        actions.setdefault(key, []).append(op["action"])
    channels = document.get("channels") or {}
    placed: set[str] = set()
    info = document["info"]
    body = [
        f"<h2>{e(info['title'])} {e(info['version'])} · AsyncAPI {e(document['asyncapi'])}</h2>",
        f'<p class="hint">{e(info.get("description") or "")} Tải về (download): '
        '<a href="/asyncapi.json">asyncapi.json</a>.</p>',
    ]
    toc, sections = [], []
    for prefix, title in GROUPS:
        keys = [k for k, c in channels.items() if k not in placed and c["address"].startswith(prefix)]
        if not keys:
            continue
        placed.update(keys)
        links = "".join(f'<li><a href="#{e(k)}"><code>{e(channels[k]["address"])}</code></a></li>' for k in keys)
        toc.append(f"<h3>{e(title)}</h3><ul>{links}</ul>")
        sections += [_channel(k, channels[k], actions.get(k, [])) for k in keys]
    envelope = next(iter(channels.values()), {}).get("messages", {})
    envelope = next(iter(envelope.values()), {}).get("payload", {})
    fields = {k: v for k, v in (envelope.get("properties") or {}).items() if k != "data"}
    body.append(
        '<section id="envelope"><h2>Phong bì chung (the envelope of every message, CONTRACT.md §3)</h2>'
        f"{_fields({**envelope, 'properties': fields})}</section>"
    )
    body.append(f'<section id="channels">{"".join(toc)}</section>')
    return page("AsyncAPI", "".join(body + sections), "asyncapi")
