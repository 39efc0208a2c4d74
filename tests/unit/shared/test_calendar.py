"""shared.calendar: working-time arithmetic of CONTRACT §6 on the Huế calendar of CONTRACT §5."""

import timeit
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.calendar import VN_TZ, OfficeSeason, WorkCalendar

HUE_SEASONS = (
    OfficeSeason(4, 9, ((time(7, 30), time(11, 30)), (time(13, 30), time(17, 30)))),
    OfficeSeason(10, 3, ((time(7, 30), time(11, 30)), (time(13, 0), time(17, 0)))),
)
HUE = WorkCalendar(
    country="VN",
    extra_days_off=frozenset({date(2026, 8, 31)}),
    extra_working_days=frozenset({date(2025, 4, 26)}),
    seasons=HUE_SEASONS,
)
PLAIN = WorkCalendar()  # VN holidays, 07:30-11:30 / 13:00-17:00 all year, no swapped days
HOUR = 3600
DAY = 8 * HOUR


def vn(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=VN_TZ)


# --- working days ---------------------------------------------------------------------------


def test_tet_2026_and_the_other_holidays_are_not_working_days():
    for d in range(16, 21):
        assert not HUE.is_working_day(date(2026, 2, d))
    assert not HUE.is_working_day(date(2026, 11, 24))  # Vietnam Culture Day, in holidays 0.109
    assert not HUE.is_working_day(date(2026, 1, 1))
    assert HUE.is_working_day(date(2026, 2, 13)) and HUE.is_working_day(date(2026, 2, 23))


def test_weekends_are_not_working_days():
    assert not HUE.is_working_day(date(2026, 3, 7))  # Saturday
    assert not HUE.is_working_day(date(2026, 3, 8))  # Sunday
    assert HUE.is_working_day(date(2026, 3, 9))


def test_swapped_saturday_is_a_working_day_only_when_listed():
    assert not PLAIN.is_working_day(date(2025, 4, 26))
    assert HUE.is_working_day(date(2025, 4, 26))
    friday = vn(2025, 4, 25, 10)
    assert HUE.add_working_days(friday, 1) == vn(2025, 4, 26, 10)
    assert PLAIN.add_working_days(friday, 1) == vn(2025, 4, 28, 10)


def test_extra_working_day_wins_over_a_public_holiday():
    cal = WorkCalendar(extra_working_days=frozenset({date(2026, 2, 16)}))
    assert cal.is_working_day(date(2026, 2, 16))
    assert cal.add_working_seconds(vn(2026, 2, 13, 17), 1 * HOUR) == vn(2026, 2, 16, 8, 30)


def test_extra_days_off_are_skipped():
    cal = WorkCalendar(extra_days_off=frozenset({date(2026, 3, 3)}))
    assert not cal.is_working_day(date(2026, 3, 3))
    assert PLAIN.add_working_days(vn(2026, 3, 2, 10), 1) == vn(2026, 3, 3, 10)
    assert cal.add_working_days(vn(2026, 3, 2, 10), 1) == vn(2026, 3, 4, 10)


def test_a_datetime_given_for_a_day_means_its_vietnamese_date():
    sunday_evening_utc = datetime(2026, 2, 15, 20, tzinfo=UTC)  # Monday 03:00 in Huế: Tết
    assert not HUE.is_working_day(sunday_evening_utc)
    assert HUE.is_working_day(datetime(2026, 3, 8, 20, tzinfo=UTC))  # Monday 03:00 in Huế
    assert HUE.periods_on(datetime(2026, 3, 8, 20, tzinfo=UTC))[0][0] == vn(2026, 3, 9, 7, 30)


def test_periods_on_a_working_day_are_aware_and_empty_on_a_day_off():
    assert HUE.periods_on(date(2026, 4, 15)) == (
        (vn(2026, 4, 15, 7, 30), vn(2026, 4, 15, 11, 30)),
        (vn(2026, 4, 15, 13, 30), vn(2026, 4, 15, 17, 30)),
    )
    assert HUE.periods_on(date(2026, 4, 18)) == ()
    assert HUE.periods_on(date(2026, 2, 17)) == ()


def test_day_seconds_is_the_season_length_even_on_a_day_off():
    assert HUE.day_seconds(date(2026, 4, 18)) == DAY
    assert HUE.day_seconds(date(2026, 10, 18)) == DAY


# --- opening and counting start -------------------------------------------------------------


def test_next_opening_inside_a_period_is_the_instant_itself():
    assert HUE.next_opening(vn(2026, 3, 2, 7, 30)) == vn(2026, 3, 2, 7, 30)
    assert HUE.next_opening(vn(2026, 3, 2, 16, 59, 59)) == vn(2026, 3, 2, 16, 59, 59)


def test_next_opening_at_a_period_end_is_the_next_period():
    assert HUE.next_opening(vn(2026, 3, 2, 11, 30)) == vn(2026, 3, 2, 13)
    assert HUE.next_opening(vn(2026, 3, 2, 17)) == vn(2026, 3, 3, 7, 30)


def test_start_on_a_sunday_night_counts_from_monday_opening():
    sunday_night = vn(2026, 3, 1, 22)
    assert HUE.next_opening(sunday_night) == vn(2026, 3, 2, 7, 30)
    assert HUE.add_working_days(sunday_night, 1) == vn(2026, 3, 2, 17)


def test_receipt_after_the_cutoff_counts_from_the_next_working_day():
    assert HUE.counting_start(vn(2026, 3, 3, 15, 5), time(15)) == vn(2026, 3, 4, 7, 30)
    assert HUE.counting_start(vn(2026, 3, 6, 15, 5), time(15)) == vn(2026, 3, 9, 7, 30)  # Friday
    assert HUE.counting_start(vn(2026, 2, 13, 15, 5), time(15)) == vn(2026, 2, 23, 7, 30)  # before Tết


def test_receipt_at_or_before_the_cutoff_counts_from_receipt():
    assert HUE.counting_start(vn(2026, 3, 3, 15), time(15)) == vn(2026, 3, 3, 15)
    assert HUE.counting_start(vn(2026, 3, 3, 14, 59), time(15)) == vn(2026, 3, 3, 14, 59)
    assert HUE.counting_start(vn(2026, 3, 3, 15, 0, 1), time(15)) == vn(2026, 3, 4, 7, 30)


def test_receipt_without_cutoff_or_on_a_day_off_counts_from_the_next_opening():
    assert HUE.counting_start(vn(2026, 3, 3, 15, 5), None) == vn(2026, 3, 3, 15, 5)
    assert HUE.counting_start(vn(2026, 3, 7, 15, 5), time(15)) == vn(2026, 3, 9, 7, 30)
    assert HUE.counting_start(vn(2026, 3, 3, 12), time(15)) == vn(2026, 3, 3, 13)


def test_receipt_cutoff_uses_local_time_of_an_utc_event():
    assert HUE.counting_start(datetime(2026, 3, 3, 8, 5, tzinfo=UTC), time(15)) == vn(2026, 3, 4, 7, 30)


# --- due times ------------------------------------------------------------------------------


def test_five_working_days_across_tet_2026():
    assert HUE.add_working_days(vn(2026, 2, 12, 10), 5) == vn(2026, 2, 26, 10)


def test_year_boundary_skips_new_year():
    assert HUE.add_working_days(vn(2025, 12, 31, 16), 1) == vn(2026, 1, 2, 16)


def test_half_day_budget_is_four_hours():
    assert HUE.budget_seconds(vn(2026, 3, 2, 10), 0.5) == 4 * HOUR
    assert HUE.add_working_days(vn(2026, 3, 2, 7, 30), 0.5) == vn(2026, 3, 2, 11, 30)
    assert HUE.add_working_days(vn(2026, 3, 2, 10), 0.5) == vn(2026, 3, 2, 15, 30)


def test_due_exactly_at_the_end_of_the_day_stays_at_17_00():
    due = HUE.add_working_seconds(vn(2026, 3, 2, 16), HOUR)
    assert due == vn(2026, 3, 2, 17)
    assert HUE.add_working_days(vn(2026, 3, 2, 7, 30), 1) == vn(2026, 3, 2, 17)


def test_due_exactly_at_the_start_of_lunch_stays_at_11_30():
    assert HUE.add_working_seconds(vn(2026, 3, 2, 11), 30 * 60) == vn(2026, 3, 2, 11, 30)


def test_lunch_break_is_skipped():
    assert HUE.add_working_seconds(vn(2026, 3, 2, 11), HOUR) == vn(2026, 3, 2, 13, 30)
    assert HUE.add_working_seconds(vn(2026, 3, 2, 12), HOUR) == vn(2026, 3, 2, 14)
    assert HUE.working_seconds_between(vn(2026, 3, 2, 11), vn(2026, 3, 2, 14)) == 90 * 60


def test_seasonal_hours_april_afternoon_starts_at_13_30_october_at_13_00():
    assert HUE.next_opening(vn(2026, 4, 15, 12)) == vn(2026, 4, 15, 13, 30)
    assert HUE.next_opening(vn(2026, 10, 15, 12)) == vn(2026, 10, 15, 13)
    assert HUE.add_working_seconds(vn(2026, 4, 15, 11), HOUR) == vn(2026, 4, 15, 14)
    assert HUE.add_working_seconds(vn(2026, 10, 15, 11), HOUR) == vn(2026, 10, 15, 13, 30)
    assert HUE.add_working_days(vn(2026, 4, 15, 7, 30), 1) == vn(2026, 4, 15, 17, 30)


def test_budget_crossing_into_summer_hours_follows_each_days_periods():
    assert HUE.add_working_days(vn(2026, 3, 31, 16), 1) == vn(2026, 4, 1, 16, 30)


def test_budget_uses_the_hours_of_the_day_it_starts_on():
    long_summer = (
        OfficeSeason(4, 9, ((time(7), time(11, 30)), (time(13), time(17, 30)))),  # 9 h
        OfficeSeason(10, 3, ((time(7, 30), time(11, 30)), (time(13), time(17)))),  # 8 h
    )
    cal = WorkCalendar(seasons=long_summer)
    assert cal.budget_seconds(vn(2026, 9, 29, 8), 2) == 2 * 9 * HOUR
    assert cal.budget_seconds(vn(2026, 9, 30, 18), 2) == 2 * DAY  # starts on Oct 1
    assert cal.budget_seconds(vn(2026, 9, 29, 8), 1.25) == round(1.25 * 9 * HOUR)


def test_event_with_utc_offset_is_read_in_vietnam_time():
    start = datetime(2026, 3, 2, 3, 0, tzinfo=timezone(timedelta(0)))  # 10:00 +07:00
    due = HUE.add_working_seconds(start, HOUR)
    assert due == vn(2026, 3, 2, 11) and due.utcoffset() == timedelta(hours=7)
    assert HUE.add_working_days(datetime(2026, 2, 12, 3, tzinfo=UTC), 5) == vn(2026, 2, 26, 10)


def test_results_are_in_vietnam_time_and_truncated_to_the_second():
    start = datetime(2026, 3, 2, 10, 0, 0, 900_000, tzinfo=timezone(timedelta(hours=9)))  # 08:00:00.9 +07
    assert HUE.next_opening(start) == vn(2026, 3, 2, 8)
    assert HUE.next_opening(start).microsecond == 0
    assert HUE.add_working_seconds(start, 1).tzinfo is VN_TZ


def test_zero_seconds_is_the_next_opening_and_negative_is_refused():
    assert HUE.add_working_seconds(vn(2026, 3, 2, 18), 0) == vn(2026, 3, 3, 7, 30)
    assert HUE.add_working_days(vn(2026, 3, 2, 10), 0) == vn(2026, 3, 2, 10)
    with pytest.raises(ValueError):
        HUE.add_working_seconds(vn(2026, 3, 2, 10), -1)
    with pytest.raises(ValueError):
        HUE.budget_seconds(vn(2026, 3, 2, 10), -0.5)


def test_naive_datetimes_are_rejected():
    naive = datetime(2026, 3, 2, 10)
    for call in (
        lambda: HUE.next_opening(naive),
        lambda: HUE.counting_start(naive, time(15)),
        lambda: HUE.budget_seconds(naive, 1),
        lambda: HUE.add_working_seconds(naive, 60),
        lambda: HUE.add_working_days(naive, 1),
        lambda: HUE.working_seconds_between(naive, vn(2026, 3, 3)),
        lambda: HUE.working_seconds_between(vn(2026, 3, 1), naive),
    ):
        with pytest.raises(ValueError, match="naive"):
            call()


# --- measuring ------------------------------------------------------------------------------


def test_working_seconds_between_counts_office_time_only():
    assert HUE.working_seconds_between(vn(2026, 3, 2, 7, 30), vn(2026, 3, 3, 7, 30)) == DAY
    assert HUE.working_seconds_between(vn(2026, 3, 6, 16), vn(2026, 3, 9, 8, 30)) == 2 * HOUR  # weekend
    assert HUE.working_seconds_between(vn(2026, 2, 13, 7, 30), vn(2026, 2, 24, 7, 30)) == 2 * DAY  # Tết
    assert HUE.working_seconds_between(vn(2026, 3, 3), vn(2026, 3, 2)) == 0
    assert HUE.working_seconds_between(vn(2026, 3, 2, 10), vn(2026, 3, 2, 10)) == 0


def test_working_seconds_between_spans_years():
    a, b = vn(2025, 12, 31, 16), vn(2027, 1, 4, 8, 30)
    whole_2026 = sum(HUE.day_seconds(d) for d in _days(2026) if HUE.is_working_day(d))
    assert HUE.working_seconds_between(a, b) == HOUR + whole_2026 + HOUR


def _days(year: int):
    d = date(year, 1, 1)
    while d.year == year:
        yield d
        d += timedelta(days=1)


instants = st.datetimes(
    min_value=datetime(2025, 1, 1),
    max_value=datetime(2027, 12, 31, 23, 59, 59),
    timezones=st.sampled_from([VN_TZ, UTC, timezone(timedelta(hours=-5))]),
)


@settings(max_examples=300, deadline=None)
@given(start=instants, seconds=st.integers(min_value=1, max_value=60 * DAY))
def test_working_seconds_between_inverts_add_working_seconds(start, seconds):
    due = HUE.add_working_seconds(start, seconds)
    assert due > start
    assert HUE.working_seconds_between(start, due) == seconds
    assert HUE.working_seconds_between(HUE.next_opening(start), due) == seconds
    assert due.tzinfo is VN_TZ and due.microsecond == 0


@settings(max_examples=300, deadline=None)
@given(a=instants, b=instants)
def test_add_working_seconds_reaches_the_earliest_instant_with_that_much_office_time(a, b):
    worked = HUE.working_seconds_between(a, b)
    if worked:
        due = HUE.add_working_seconds(a, worked)
        assert due <= b
        assert HUE.working_seconds_between(due, b) == 0


@settings(max_examples=200, deadline=None)
@given(t=instants)
def test_next_opening_is_inside_an_office_period(t):
    opening = HUE.next_opening(t)
    assert opening >= t.replace(microsecond=0)
    assert any(s <= opening < e for s, e in HUE.periods_on(opening.date()))
    assert HUE.working_seconds_between(t, opening) == 0


# --- construction and speed -----------------------------------------------------------------


def test_calendars_with_the_same_rules_are_equal_and_hashable():
    twin = WorkCalendar("VN", frozenset({date(2026, 8, 31)}), frozenset({date(2025, 4, 26)}), HUE_SEASONS)
    assert twin == HUE and hash(twin) == hash(HUE)
    assert WorkCalendar() != HUE


def test_seasons_must_cover_every_month_once_with_disjoint_periods():
    morning = ((time(7, 30), time(11, 30)),)
    with pytest.raises(ValueError):
        WorkCalendar(seasons=(OfficeSeason(1, 11, morning),))
    with pytest.raises(ValueError):
        WorkCalendar(seasons=(OfficeSeason(1, 12, morning), OfficeSeason(6, 6, morning)))
    with pytest.raises(ValueError):
        WorkCalendar(seasons=(OfficeSeason(1, 12, ((time(7), time(12)), (time(11), time(17)))),))
    with pytest.raises(ValueError):
        WorkCalendar(seasons=(OfficeSeason(1, 12, ((time(12), time(11)),)),))


def test_wrapping_season_covers_the_new_year():
    assert OfficeSeason(10, 3, ()).months() == (10, 11, 12, 1, 2, 3)
    assert OfficeSeason(4, 9, ()).months() == (4, 5, 6, 7, 8, 9)


def test_arithmetic_is_fast_enough_for_reports():
    HUE.working_seconds_between(vn(2025, 1, 1), vn(2027, 12, 31))  # build the year tables
    a, b = vn(2025, 3, 1, 9), vn(2026, 3, 1, 9)
    per_year = timeit.timeit(lambda: HUE.working_seconds_between(a, b), number=10_000) / 10_000
    per_due = timeit.timeit(lambda: HUE.add_working_days(a, 40), number=10_000) / 10_000
    assert per_year < 100e-6 and per_due < 300e-6, (per_year, per_due)
