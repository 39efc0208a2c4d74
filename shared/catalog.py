"""The catalog (CONTRACT §5): calendar, agencies and standard processes, loaded from one YAML file.

A bad catalog is refused as a whole, with every error at once, each naming `file:line: path`, so
whoever edits the file can fix it in one pass. YAML is composed to nodes first to keep their lines.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time
from itertools import pairwise
from pathlib import Path
from typing import Annotated, Any, Literal

import holidays
import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from shared.calendar import OfficeSeason, WorkCalendar

RECEIVING = "receiving"  # stage agency: wherever the dossier was submitted
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _hhmm(v: Any) -> time:
    if isinstance(v, time):
        return v
    if not isinstance(v, str):  # YAML 1.1 reads an unquoted 13:00 as the number 780
        raise ValueError(f"expected a quoted 'HH:MM' string, got {v!r}")
    if not (m := _HHMM.match(v)):
        raise ValueError(f"bad time {v!r}, expected 'HH:MM' between 00:00 and 23:59")
    return time(int(m[1]), int(m[2]))


def _iso_date(v: Any) -> date:
    if isinstance(v, date) and not isinstance(v, datetime):
        return v
    if isinstance(v, str) and _ISO_DATE.match(v):
        try:
            return date.fromisoformat(v)
        except ValueError:
            pass
    raise ValueError(f"bad date {v!r}, expected YYYY-MM-DD")


def _month(v: int) -> int:
    if not 1 <= v <= 12:
        raise ValueError(f"month {v} is outside 1..12")
    return v


# Codes are parsed leniently (DOMAIN §4): dot-separated groups of letters, digits and "-". No "_", so
# that Agency.token (dots -> "_") stays unambiguous.
Code = Annotated[str, Field(pattern=r"^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$")]
HHMM = Annotated[time, BeforeValidator(_hhmm)]
IsoDate = Annotated[date, BeforeValidator(_iso_date)]
Month = Annotated[int, AfterValidator(_month)]
WorkingDays = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Agency(_Frozen):
    code: Code
    name: str = Field(min_length=1)
    level: str = Field(pattern=r"^[a-z][a-z_]*$")  # free data: commune, district, police, ...
    parent: Code | None = None

    @property
    def token(self) -> str:
        """The code as one NATS subject token (dots separate tokens)."""
        return self.code.replace(".", "_")


class StageSpec(_Frozen):
    agency: Code  # RECEIVING or an agency code
    role: Literal["receive", "process", "decide", "consult", "return"]
    working_days: WorkingDays


class Procedure(_Frozen):
    code: Code
    name: str = Field(min_length=1)
    total_working_days: WorkingDays
    intake_cutoff: HHMM | None = None
    supplement_policy: Literal["pause", "restart"] = "pause"
    stages: tuple[StageSpec, ...]


class OfficeHours(_Frozen):
    from_month: Month
    to_month: Month
    hours: tuple[tuple[HHMM, HHMM], ...]


class CalendarConfig(_Frozen):
    country: str = "VN"
    extra_days_off: tuple[IsoDate, ...] = ()
    extra_working_days: tuple[IsoDate, ...] = ()
    office_hours: tuple[OfficeHours, ...] | None = None  # None: WorkCalendar's default hours


@dataclass(frozen=True, eq=False)
class Catalog:
    calendar: WorkCalendar
    agencies: dict[str, Agency]
    procedures: dict[str, Procedure]
    _by_token: dict[str, Agency] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_token", {a.token: a for a in self.agencies.values()})

    def agency(self, code: str) -> Agency:
        return self.agencies[code]

    def procedure(self, code: str) -> Procedure:
        return self.procedures[code]

    def agency_by_token(self, token: str) -> Agency | None:
        return self._by_token.get(token)


class CatalogError(ValueError):
    def __init__(self, errors: list[str]) -> None:
        super().__init__("invalid catalog:\n  " + "\n  ".join(errors))
        self.errors = errors


def default_catalog_path() -> Path:
    return Path(__file__).resolve().parents[1] / "infra/catalog/demo.yaml"


def catalog_from_env() -> Catalog:
    return load_catalog(os.environ.get("LIENTHONG_CATALOG") or default_catalog_path())


def load_catalog(path: str | Path) -> Catalog:
    return parse_catalog(Path(path).read_text(encoding="utf-8"), source=str(path))


def parse_catalog(text: str, source: str = "<catalog>") -> Catalog:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise CatalogError([f"{source}:{mark.line + 1 if mark else 1}: YAML: {exc.problem or exc}"]) from exc
    except yaml.YAMLError as exc:
        raise CatalogError([f"{source}:1: YAML: {exc}"]) from exc
    doc = _Doc()
    try:
        data = doc.plain(node, (), yaml.constructor.SafeConstructor()) if node is not None else None
    except RecursionError:
        raise CatalogError([f"{source}:1: YAML: recursive alias"]) from None
    if not isinstance(data, dict):
        doc.add((), "expected a mapping with calendar, agencies and procedures")
    catalog = _build(data if isinstance(data, dict) else {}, doc)
    if doc.problems or catalog is None:
        located = sorted(((doc.line(at), _dotted(at), msg) for at, msg in doc.problems), key=lambda x: x[0])
        raise CatalogError([f"{source}:{line}: {where}: {msg}" for line, where, msg in located])
    return catalog


Where = tuple[str | int, ...]  # a path into the document: ("procedures", 1, "stages", 2, "agency")


class _Doc:
    """The problems found so far, and the line of every path of the document."""

    def __init__(self) -> None:
        self.lines: dict[Where, int] = {(): 1}
        self.problems: list[tuple[Where, str]] = []

    def add(self, at: Where, msg: str) -> None:
        self.problems.append((at, msg))

    def line(self, at: Where) -> int:
        while at not in self.lines:  # e.g. a missing field: the line of its mapping
            at = at[:-1]
        return self.lines[at]

    def plain(self, node: yaml.Node, at: Where, ctor: Any) -> Any:
        """Node tree to plain data; a scalar YAML cannot construct stays a string for the validators."""
        self.lines.setdefault(at, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for k, v in node.value:
                key = str(k.value)
                self.lines[(*at, key)] = k.start_mark.line + 1
                if key in out:
                    self.add((*at, key), f"duplicate key {key!r}")
                out[key] = self.plain(v, (*at, key), ctor)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.plain(item, (*at, i), ctor) for i, item in enumerate(node.value)]
        try:
            return ctor.construct_object(node)
        except (ValueError, yaml.YAMLError):  # e.g. the impossible date 2026-02-30
            return node.value

    def validate(self, model: type[BaseModel], data: Any, at: Where) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                loc, msg = (*at, *err["loc"]), err["msg"].removeprefix("Value error, ")
                if err["type"] == "extra_forbidden":
                    msg = f"unknown field {loc[-1]!r}"
                self.add(loc, "missing field" if err["type"] == "missing" else msg)
            return None

    def items(self, model: type[BaseModel], value: Any, at: Where) -> list[Any] | None:
        """Validate a list item by item, so one bad item hides no error of the others; None if any failed."""
        if not isinstance(value, list):
            self.add(at, "missing list" if value is None else "expected a list")
            return None
        models = [self.validate(model, item, (*at, i)) for i, item in enumerate(value)]
        return None if None in models else models


def _dotted(at: Where) -> str:
    out = ""
    for part in at:
        out += f"[{part}]" if isinstance(part, int) else f".{part}" if out else part
    return out or "<root>"


def _build(data: dict[str, Any], doc: _Doc) -> Catalog | None:
    """Structure is checked by the models, cross-references on the raw data, so that a bad field
    neither hides the other errors of its item nor makes its references look unknown."""
    for key in data.keys() - {"calendar", "agencies", "procedures"}:
        doc.add((key,), f"unknown field {key!r}")
    calendar = _calendar(data.get("calendar", {}), doc)
    agencies = doc.items(Agency, data.get("agencies"), ("agencies",))
    procedures = doc.items(Procedure, data.get("procedures"), ("procedures",))
    known = _check_agencies(_dicts(data.get("agencies")), doc)
    _check_procedures(_dicts(data.get("procedures")), known, doc)
    if doc.problems or calendar is None or agencies is None or procedures is None:
        return None
    return Catalog(calendar, {a.code: a for a in agencies}, {p.code: p for p in procedures})


def _dicts(value: Any) -> list[tuple[int, dict[str, Any]]]:
    return [(i, x) for i, x in enumerate(value) if isinstance(x, dict)] if isinstance(value, list) else []


def _calendar(raw: Any, doc: _Doc) -> WorkCalendar | None:
    at = ("calendar",)
    if not isinstance(raw, dict):
        doc.add(at, "expected a mapping")
        return None
    before, hours = len(doc.problems), raw.get("office_hours")
    config = doc.validate(CalendarConfig, {k: v for k, v in raw.items() if k != "office_hours"}, at)
    seasons = None if hours is None else doc.items(OfficeHours, hours, (*at, "office_hours"))
    if seasons is not None:
        _check_seasons(seasons, doc)
    country = raw.get("country", "VN")
    if isinstance(country, str) and country not in holidays.list_supported_countries():
        doc.add((*at, "country"), f"country {country!r} is unknown to the holidays package")
    if config is None:
        return None
    for j, d in enumerate(config.extra_working_days):
        if d in config.extra_days_off:
            doc.add((*at, "extra_working_days", j), f"{d} is also listed in extra_days_off")
    if len(doc.problems) > before:
        return None
    off, extra = frozenset(config.extra_days_off), frozenset(config.extra_working_days)
    if seasons is None:
        return WorkCalendar(config.country, off, extra)
    periods = tuple(OfficeSeason(s.from_month, s.to_month, s.hours) for s in seasons)
    return WorkCalendar(config.country, off, extra, periods)


def _check_seasons(seasons: list[OfficeHours], doc: _Doc) -> None:
    owner: dict[int, int] = {}
    for k, oh in enumerate(seasons):
        at = ("calendar", "office_hours", k)
        if not oh.hours:
            doc.add((*at, "hours"), "a season needs at least one office period")
        for j, (start, end) in enumerate(oh.hours):
            if end <= start:
                doc.add((*at, "hours", j), f"office period ends at {end:%H:%M}, not after its start {start:%H:%M}")
        valid = sorted((s, e, j) for j, (s, e) in enumerate(oh.hours) if e > s)
        for (s1, e1, _), (s2, e2, j2) in pairwise(valid):
            if s2 < e1:
                doc.add((*at, "hours", j2), f"office period {s2:%H:%M}-{e2:%H:%M} overlaps {s1:%H:%M}-{e1:%H:%M}")
        for m in OfficeSeason(oh.from_month, oh.to_month, ()).months():
            if m in owner:
                doc.add(at, f"month {m} is already covered by office_hours[{owner[m]}]")
            owner.setdefault(m, k)
    if missing := sorted(set(range(1, 13)) - owner.keys()):
        doc.add(("calendar", "office_hours"), f"months {missing} are not covered by any season")


def _check_agencies(items: list[tuple[int, dict[str, Any]]], doc: _Doc) -> dict[str, Any]:
    """Duplicate and reserved codes, unknown parents, parent loops; returns code -> parent."""
    first: dict[str, int] = {}
    for i, a in items:
        code = _text(a.get("code"))
        if code == RECEIVING:
            doc.add(("agencies", i, "code"), f"{RECEIVING!r} is reserved for the receiving agency")
        elif code in first:
            doc.add(("agencies", i, "code"), f"duplicate agency code {code!r}, first at agencies[{first[code]}]")
        elif code is not None:
            first[code] = i
    parents = {a["code"]: _text(a.get("parent")) for i, a in items if first.get(_text(a.get("code"))) == i}
    for i, a in items:
        code, parent = _text(a.get("code")), _text(a.get("parent"))
        if parent is not None and parent not in first:
            doc.add(("agencies", i, "parent"), f"unknown agency {parent!r}")
        seen = {code}
        while parent in parents and parent not in seen:
            seen.add(parent)
            parent = parents[parent]
        if parent == code and code is not None:
            doc.add(("agencies", i, "parent"), f"the parent chain of {code!r} loops back to it")
    return parents


def _check_procedures(items: list[tuple[int, dict[str, Any]]], agencies: dict[str, Any], doc: _Doc) -> None:
    """Duplicate codes, empty stages, unknown stage agencies, misplaced returns, budget sums."""
    first: dict[str, int] = {}
    for i, p in items:
        at: Where = ("procedures", i)
        code, stages = _text(p.get("code")), p.get("stages")
        if code in first:
            doc.add((*at, "code"), f"duplicate procedure code {code!r}, first at procedures[{first[code]}]")
        elif code is not None:
            first[code] = i
        if stages == []:
            doc.add((*at, "stages"), "a procedure needs at least one stage")
        if not isinstance(stages, list) or not stages:
            continue
        for j, stage in _dicts(stages):
            agency = _text(stage.get("agency"))
            if agency is not None and agency != RECEIVING and agency not in agencies:
                doc.add((*at, "stages", j, "agency"), f"unknown agency {agency!r}")
            if stage.get("role") == "return" and j != len(stages) - 1:
                doc.add((*at, "stages", j, "role"), "a 'return' stage must be the last stage")
        budgets = [_number(s.get("working_days")) if isinstance(s, dict) else None for s in stages]
        total = _number(p.get("total_working_days"))
        if total is not None and None not in budgets and not math.isclose(math.fsum(budgets), total, abs_tol=1e-9):
            doc.add(
                (*at, "total_working_days"),
                f"stage budgets of procedure {code!r} add up to "
                f"{math.fsum(budgets):g} working days, but total_working_days is {total:g}",
            )


def _text(v: Any) -> str | None:
    return v if isinstance(v, str) else None


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None
