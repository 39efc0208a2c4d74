"""A streaming XES writer (IEEE 1849-2016): one `<trace>` per dossier, written as it comes. Pure:
it writes to the text stream it is given and keeps nothing between traces."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TextIO
from xml.sax.saxutils import quoteattr

from shared.export.eventlog import LogEvent

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1849-2016" xes.features="nested-attributes" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>
  <extension name="Organizational" prefix="org" uri="http://www.xes-standard.org/org.xesext"/>
  <extension name="Lifecycle" prefix="lifecycle" uri="http://www.xes-standard.org/lifecycle.xesext"/>
  <global scope="trace">
    <string key="concept:name" value="__INVALID__"/>
  </global>
  <global scope="event">
    <string key="concept:name" value="__INVALID__"/>
    <date key="time:timestamp" value="1970-01-01T00:00:00.000+00:00"/>
    <string key="lifecycle:transition" value="complete"/>
  </global>
  <classifier name="Activity" keys="concept:name"/>
  <classifier name="Activity and transition" keys="concept:name lifecycle:transition"/>
  <string key="concept:name" value="lienthong dossiers"/>
"""
FOOTER = "</log>\n"


def xes_time(t: datetime) -> str:
    """ISO 8601 with milliseconds and the offset, as XES's time extension writes it."""
    if t.tzinfo is None:
        raise ValueError("XES timestamps must carry a UTC offset")
    return t.isoformat(timespec="milliseconds")


def attribute(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return f"<boolean key={quoteattr(key)} value={quoteattr('true' if value else 'false')}/>"
    if isinstance(value, int):
        return f"<int key={quoteattr(key)} value={quoteattr(str(value))}/>"
    if isinstance(value, float):
        return f"<float key={quoteattr(key)} value={quoteattr(repr(value))}/>"
    if isinstance(value, datetime):
        return f"<date key={quoteattr(key)} value={quoteattr(xes_time(value))}/>"
    return f"<string key={quoteattr(key)} value={quoteattr(str(value))}/>"


class XesWriter:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.traces = 0
        self.events = 0
        out.write(HEADER)

    def trace(self, case_id: str, attributes: Mapping[str, Any], events: Iterable[LogEvent]) -> None:
        lines = ["  <trace>", f"    {attribute('concept:name', case_id)}"]
        lines += [f"    {attribute(k, v)}" for k, v in attributes.items() if v is not None]
        for e in events:
            lines.append("    <event>")
            lines.append(f"      {attribute('concept:name', e.activity)}")
            lines.append(f"      {attribute('lifecycle:transition', e.lifecycle)}")
            lines.append(f"      {attribute('time:timestamp', e.timestamp)}")
            if e.resource is not None:
                lines.append(f"      {attribute('org:resource', e.resource)}")
            lines += [f"      {attribute(k, v)}" for k, v in e.attributes.items() if v is not None]
            lines.append("    </event>")
            self.events += 1
        lines.append("  </trace>\n")
        self.out.write("\n".join(lines))
        self.traces += 1

    def close(self) -> None:
        self.out.write(FOOTER)
