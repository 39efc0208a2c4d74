"""Working-time arithmetic on the Vietnamese office calendar (CONTRACT §6, DOMAIN §5).

Pure: no I/O, no clock. Every instant is mapped to a monotone "office clock": the number of
office seconds elapsed since the start of its year. Per-year prefix sums of each day's office
seconds make every question a lookup plus a bisect, so the cost does not grow with the span.
"""

from __future__ import annotations

import bisect
import functools
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import holidays

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")

_DAY = 86_400
_MAX_YEARS = 50  # a calendar with no office time for this long is broken, not slow


@functools.lru_cache(maxsize=512)
def public_holidays(country: str, year: int) -> frozenset[date]:
    """The `holidays` package's public holidays; building them is slow, so cache per (country, year)."""
    return frozenset(holidays.country_holidays(country, years=year))


def _seconds(t: time) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


@dataclass(frozen=True)
class OfficeSeason:
    """Office periods used from `from_month` to `to_month` inclusive; 10..3 wraps over the new year."""

    from_month: int
    to_month: int
    periods: tuple[tuple[time, time], ...]

    def months(self) -> tuple[int, ...]:
        if self.from_month <= self.to_month:
            return tuple(range(self.from_month, self.to_month + 1))
        return (*range(self.from_month, 13), *range(1, self.to_month + 1))


_DEFAULT_SEASONS = (OfficeSeason(1, 12, ((time(7, 30), time(11, 30)), (time(13, 0), time(17, 0)))),)


@dataclass(frozen=True)
class _Year:
    """Office-seconds table of one year: day i (0 = Jan 1) has office time prefix[i]..prefix[i+1]."""

    start: date
    prefix: tuple[int, ...]

    @property
    def total(self) -> int:
        return self.prefix[-1]


@dataclass(frozen=True)
class WorkCalendar:
    country: str = "VN"
    extra_days_off: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    seasons: tuple[OfficeSeason, ...] = _DEFAULT_SEASONS
    # Derived caches: not part of equality, hashing or the constructor.
    _spans: tuple[tuple[tuple[int, int], ...], ...] = field(init=False, repr=False, compare=False)
    _years: dict[int, _Year] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extra_days_off", frozenset(self.extra_days_off))
        object.__setattr__(self, "extra_working_days", frozenset(self.extra_working_days))
        object.__setattr__(self, "seasons", tuple(self.seasons))
        by_month: list[tuple[tuple[int, int], ...] | None] = [None] * 12
        for season in self.seasons:
            spans = tuple(sorted((_seconds(s), _seconds(e)) for s, e in season.periods))
            if any(e <= s for s, e in spans) or any(a[1] > b[0] for a, b in pairwise(spans)):
                raise ValueError(f"office periods must be increasing and disjoint: {season}")
            for m in season.months():
                if not 1 <= m <= 12 or by_month[m - 1] is not None:
                    raise ValueError(f"month {m} is outside 1..12 or in two seasons")
                by_month[m - 1] = spans
        if any(spans is None for spans in by_month):
            raise ValueError("the seasons must cover all 12 months")
        object.__setattr__(self, "_spans", tuple(by_month))
        object.__setattr__(self, "_years", {})

    # --- days -------------------------------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        """Extra working days (swapped Saturdays) win over weekends, holidays and extra days off."""
        d = _day(d)
        if d in self.extra_working_days:
            return True
        return d.weekday() < 5 and d not in public_holidays(self.country, d.year) and d not in self.extra_days_off

    def _day_spans(self, d: date) -> tuple[tuple[int, int], ...]:
        return self._spans[d.month - 1]

    def day_seconds(self, d: date) -> int:
        """Office seconds of d's season, whether or not d is a working day (the H of CONTRACT §6)."""
        return sum(e - s for s, e in self._day_spans(_day(d)))

    def periods_on(self, d: date) -> tuple[tuple[datetime, datetime], ...]:
        d = _day(d)
        if not self.is_working_day(d):
            return ()
        return tuple((_at(d, s), _at(d, e)) for s, e in self._day_spans(d))

    # --- the office clock -------------------------------------------------------------------

    def _year(self, year: int) -> _Year:
        table = self._years.get(year)
        if table is None:
            start, prefix, acc = date(year, 1, 1), [0], 0
            d = start
            while d.year == year:
                acc += self.day_seconds(d) if self.is_working_day(d) else 0
                prefix.append(acc)
                d += timedelta(days=1)
            table = self._years[year] = _Year(start, tuple(prefix))
        return table

    def _clock(self, local: datetime) -> tuple[int, int]:
        """(year, office seconds from that year's start to `local`)."""
        table = self._year(local.year)
        i = (local.date() - table.start).days
        done = table.prefix[i]
        if table.prefix[i + 1] > done:  # a working day: add the part of today already past
            tod = local.hour * 3600 + local.minute * 60 + local.second
            done += sum(min(max(tod - s, 0), e - s) for s, e in self._day_spans(local.date()))
        return local.year, done

    def _instant(self, year: int, target: int) -> datetime:
        """The earliest instant whose office clock reaches `target` (> 0) seconds of `year` or later."""
        for _ in range(_MAX_YEARS):
            table = self._year(year)
            if target <= table.total:
                i = bisect.bisect_left(table.prefix, target) - 1
                d = table.start + timedelta(days=i)
                left = target - table.prefix[i]
                for s, e in self._day_spans(d):
                    if left <= e - s:
                        return _at(d, s + left)
                    left -= e - s
            target -= table.total
            year += 1
        raise ValueError(f"no office time within {_MAX_YEARS} years")

    # --- public arithmetic ------------------------------------------------------------------

    def next_opening(self, t: datetime) -> datetime:
        # The first office second after t ends at clock+1; one second earlier is the opening
        # (or t itself when t is inside a period, end exclusive).
        return self._instant(*_plus(self._clock(_local(t)), 1)) - timedelta(seconds=1)

    def counting_start(self, received_at: datetime, intake_cutoff: time | None) -> datetime:
        """Where a receipt's clock starts: after the cut-off of a working day, the next working day."""
        local = _local(received_at)
        if intake_cutoff is not None and self.is_working_day(local.date()) and local.time() > intake_cutoff:
            return self.next_opening(_at(local.date() + timedelta(days=1), 0))
        return self.next_opening(local)

    def budget_seconds(self, start: datetime, working_days: float) -> int:
        """D working days as D x H seconds, H of the day the budget starts on, so half days work."""
        if working_days < 0:
            raise ValueError(f"negative budget: {working_days} working days")
        return round(working_days * self.day_seconds(self.next_opening(start).date()))

    def add_working_seconds(self, start: datetime, seconds: int) -> datetime:
        if seconds < 0:
            raise ValueError(f"negative duration: {seconds} s")
        if seconds == 0:
            return self.next_opening(start)
        # The earliest instant reaching the target: a due at a period's end stays at that end.
        return self._instant(*_plus(self._clock(_local(start)), seconds))

    def add_working_days(self, start: datetime, working_days: float) -> datetime:
        return self.add_working_seconds(start, self.budget_seconds(start, working_days))

    def working_seconds_between(self, a: datetime, b: datetime) -> int:
        """Office time in [a, b): the inverse of add_working_seconds, used for pauses and overruns."""
        la, lb = _local(a), _local(b)
        if lb <= la:
            return 0
        (ya, ca), (yb, cb) = self._clock(la), self._clock(lb)
        return cb - ca + sum(self._year(y).total for y in range(ya, yb))


def _plus(clock: tuple[int, int], seconds: int) -> tuple[int, int]:
    return clock[0], clock[1] + seconds


def _local(t: datetime) -> datetime:
    if t.tzinfo is None or t.utcoffset() is None:
        raise ValueError(f"naive datetime {t.isoformat()}: a timezone offset is required")
    return t.astimezone(VN_TZ).replace(microsecond=0)


def _day(d: date) -> date:
    """A datetime given for a day means its Vietnamese date (datetime is a date subclass)."""
    return _local(d).date() if isinstance(d, datetime) else d


def _at(d: date, seconds: int) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=VN_TZ) + timedelta(seconds=seconds)
