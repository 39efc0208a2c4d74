"""shared.catalog: the demo catalog loads; a bad catalog is refused with every error at its file:line: path."""

from datetime import date, time

import pytest

from shared.calendar import VN_TZ, WorkCalendar
from shared.catalog import (
    RECEIVING,
    CatalogError,
    catalog_from_env,
    default_catalog_path,
    load_catalog,
    parse_catalog,
)

# The CONTRACT §5 example; tests edit it and expect errors at these line numbers.
BASE = """\
calendar:
  country: VN
  extra_days_off: [2026-08-31]
  extra_working_days: [2025-04-26]
  office_hours:
    - {from_month: 4, to_month: 9, hours: [["07:30", "11:30"], ["13:30", "17:30"]]}
    - {from_month: 10, to_month: 3, hours: [["07:30", "11:30"], ["13:00", "17:00"]]}
agencies:
  - {code: "000.00.15.H57", name: "UBND xã Phú An", level: commune, parent: "000.00.30.H57"}
  - {code: "000.00.30.H57", name: "UBND huyện Phú Vang", level: district}
  - {code: "000.31.30.H57", name: "Phòng Lao động - TB&XH huyện Phú Vang", level: district, parent: "000.00.30.H57"}
procedures:
  - code: "1.001776"
    name: "Trợ cấp xã hội hằng tháng"
    total_working_days: 20
    intake_cutoff: "15:00"
    supplement_policy: pause
    stages:
      - {agency: receiving, role: receive, working_days: 1}
      - {agency: receiving, role: process, working_days: 6}
      - {agency: "000.31.30.H57", role: process, working_days: 10}
      - {agency: "000.00.30.H57", role: decide, working_days: 2}
      - {agency: receiving, role: return, working_days: 1}
"""


def errors(text: str, *edits: tuple[str, str]) -> list[str]:
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    with pytest.raises(CatalogError) as caught:
        parse_catalog(text, "f.yaml")
    return caught.value.errors


# --- valid catalogs -------------------------------------------------------------------------


def test_contract_example_loads():
    catalog = parse_catalog(BASE)
    procedure = catalog.procedure("1.001776")
    assert procedure.intake_cutoff == time(15) and procedure.supplement_policy == "pause"
    assert [s.working_days for s in procedure.stages] == [1, 6, 10, 2, 1]
    assert procedure.stages[0].agency == RECEIVING and procedure.stages[-1].role == "return"
    assert catalog.agency("000.00.15.H57").parent == "000.00.30.H57"
    assert catalog.calendar.extra_working_days == frozenset({date(2025, 4, 26)})
    assert catalog.calendar.next_opening(catalog.calendar.periods_on(date(2026, 4, 15))[1][0]).hour == 13


def test_lookups_by_code_and_by_subject_token():
    catalog = parse_catalog(BASE)
    agency = catalog.agency("000.31.30.H57")
    assert agency.token == "000_31_30_H57"
    assert catalog.agency_by_token("000_31_30_H57") is agency
    assert catalog.agency_by_token("000_99_30_H57") is None
    with pytest.raises(KeyError):
        catalog.agency("000.99.30.H57")
    with pytest.raises(KeyError):
        catalog.procedure("9.999999")


def test_calendar_defaults_to_vn_and_default_office_hours():
    text = BASE.replace(BASE[: BASE.index("agencies:")], "")
    assert parse_catalog(text).calendar == WorkCalendar()


def test_demo_catalog_loads_with_real_inter_level_procedures():
    catalog = load_catalog(default_catalog_path())
    communes = [a for a in catalog.agencies.values() if a.level == "commune"]
    assert len(communes) >= 8 and all(a.parent == "000.00.30.H57" for a in communes)
    assert catalog.agency("000.00.15.H57").name == "UBND xã Phú An"
    assert {"1.001776", "2.000286", "1.001731", "2.000986", "1.011537"} <= catalog.procedures.keys()
    assert len(catalog.procedures) >= 6
    assert catalog.procedure("1.001776").total_working_days == 20
    assert catalog.procedure("2.000286").total_working_days == 34
    for p in catalog.procedures.values():
        assert p.stages[0].agency == RECEIVING and p.stages[0].role == "receive"
        assert sum(s.working_days for s in p.stages) == p.total_working_days
    assert {p.supplement_policy for p in catalog.procedures.values()} == {"pause", "restart"}
    assert any(p.intake_cutoff == time(15) for p in catalog.procedures.values())


def test_demo_calendar_has_hue_seasonal_hours():
    cal = load_catalog(default_catalog_path()).calendar
    assert cal.periods_on(date(2026, 4, 15))[1][0].time() == time(13, 30)
    assert cal.periods_on(date(2026, 10, 15))[1][0].time() == time(13, 0)
    assert cal.is_working_day(date(2025, 4, 26)) and not cal.is_working_day(date(2026, 8, 31))
    assert cal.periods_on(date(2026, 4, 15))[0][0].tzinfo is VN_TZ


def test_catalog_from_env_reads_the_variable_at_call_time(monkeypatch, tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(BASE.replace("Trợ cấp xã hội hằng tháng", "Mine"), encoding="utf-8")
    monkeypatch.delenv("LIENTHONG_CATALOG", raising=False)
    assert "2.000286" in catalog_from_env().procedures
    monkeypatch.setenv("LIENTHONG_CATALOG", str(path))
    assert catalog_from_env().procedure("1.001776").name == "Mine"


def test_errors_of_a_file_name_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(BASE.replace("level: district}", "level: District}", 1), encoding="utf-8")
    with pytest.raises(CatalogError) as caught:
        load_catalog(path)
    assert caught.value.errors[0].startswith(f"{path}:10: agencies[1].level: ")


def test_demo_error_names_file_line_and_path():
    text = default_catalog_path().read_text(encoding="utf-8")
    stage = '{agency: "000.31.30.H57", role: process, working_days: 7}'  # procedures[1].stages[2]
    line = text[: text.index(stage)].count("\n") + 1
    bad = text.replace(stage, stage.replace("000.31.30.H57", "000.31.99.H57"), 1)
    with pytest.raises(CatalogError) as caught:
        parse_catalog(bad, "demo.yaml")
    assert caught.value.errors == [f"demo.yaml:{line}: procedures[1].stages[2].agency: unknown agency '000.31.99.H57'"]


# --- one error of each kind, at its place ---------------------------------------------------


def test_unknown_field_is_refused():
    assert errors(BASE, ("    supplement_policy: pause\n", "    supplement_policy: pause\n    colour: red\n")) == [
        "f.yaml:18: procedures[0].colour: unknown field 'colour'"
    ]
    assert errors(BASE, ("level: commune,", "level: commune, rank: 1,")) == [
        "f.yaml:9: agencies[0].rank: unknown field 'rank'"
    ]
    assert errors(BASE, ("calendar:\n", "calendar:\n  timezone: UTC\n")) == [
        "f.yaml:2: calendar.timezone: unknown field 'timezone'"
    ]
    assert errors(BASE + "extras: 1\n") == ["f.yaml:24: extras: unknown field 'extras'"]


def test_unknown_stage_agency_is_refused():
    assert errors(BASE, ('"000.31.30.H57", role', '"000.31.99.H57", role')) == [
        "f.yaml:21: procedures[0].stages[2].agency: unknown agency '000.31.99.H57'"
    ]


def test_receiving_is_a_stage_agency_but_not_an_agency_code():
    assert parse_catalog(BASE).procedure("1.001776").stages[1].agency == "receiving"
    assert errors(BASE, ('code: "000.00.15.H57"', 'code: "receiving"'))[0] == (
        "f.yaml:9: agencies[0].code: 'receiving' is reserved for the receiving agency"
    )


def test_unknown_parent_is_refused():
    assert errors(BASE, ('parent: "000.00.30.H57"}', 'parent: "000.00.99.H57"}')) == [
        "f.yaml:9: agencies[0].parent: unknown agency '000.00.99.H57'"
    ]


def test_parent_loop_is_refused():
    assert errors(BASE, ("level: district}", 'level: district, parent: "000.31.30.H57"}')) == [
        "f.yaml:10: agencies[1].parent: the parent chain of '000.00.30.H57' loops back to it",
        "f.yaml:11: agencies[2].parent: the parent chain of '000.31.30.H57' loops back to it",
    ]


def test_stage_budgets_must_add_up_to_the_total():
    assert errors(BASE, ("working_days: 10}", "working_days: 9}")) == [
        "f.yaml:15: procedures[0].total_working_days: stage budgets of procedure '1.001776' add up to 19 "
        "working days, but total_working_days is 20"
    ]


def test_bad_time_strings_are_refused():
    assert errors(BASE, ('intake_cutoff: "15:00"', 'intake_cutoff: "25:00"')) == [
        "f.yaml:16: procedures[0].intake_cutoff: bad time '25:00', expected 'HH:MM' between 00:00 and 23:59"
    ]
    assert errors(BASE, ('[["07:30", "11:30"], ["13:30"', '[["7h30", "11:30"], ["13:30"')) == [
        "f.yaml:6: calendar.office_hours[0].hours[0][0]: bad time '7h30', expected 'HH:MM' between 00:00 and 23:59"
    ]


def test_unquoted_time_read_by_yaml_as_a_number_is_refused():
    assert errors(BASE, ('["13:00", "17:00"]', '[13:00, "17:00"]')) == [
        "f.yaml:7: calendar.office_hours[1].hours[1][0]: expected a quoted 'HH:MM' string, got 780"
    ]


def test_office_period_ending_before_it_starts_is_refused():
    assert errors(BASE, ('["13:30", "17:30"]', '["13:30", "13:30"]')) == [
        "f.yaml:6: calendar.office_hours[0].hours[1]: office period ends at 13:30, not after its start 13:30"
    ]


def test_overlapping_office_periods_are_refused():
    assert errors(BASE, ('["13:30", "17:30"]', '["11:00", "17:30"]')) == [
        "f.yaml:6: calendar.office_hours[0].hours[1]: office period 11:00-17:30 overlaps 07:30-11:30"
    ]


def test_months_outside_1_to_12_are_refused():
    assert errors(BASE, ("to_month: 9,", "to_month: 13,"), ("from_month: 10,", "from_month: 0,")) == [
        "f.yaml:6: calendar.office_hours[0].to_month: month 13 is outside 1..12",
        "f.yaml:7: calendar.office_hours[1].from_month: month 0 is outside 1..12",
    ]


def test_seasons_must_cover_all_months_exactly_once():
    assert errors(BASE, ("to_month: 9,", "to_month: 8,")) == [
        "f.yaml:5: calendar.office_hours: months [9] are not covered by any season"
    ]
    assert errors(BASE, ("from_month: 10,", "from_month: 9,")) == [
        "f.yaml:7: calendar.office_hours[1]: month 9 is already covered by office_hours[0]"
    ]


def test_duplicate_agency_code_is_refused():
    extra = '  - {code: "000.00.15.H57", name: "UBND xã khác", level: commune}\n'
    assert errors(BASE, ("procedures:\n", extra + "procedures:\n")) == [
        "f.yaml:12: agencies[3].code: duplicate agency code '000.00.15.H57', first at agencies[0]"
    ]


def test_duplicate_procedure_code_is_refused():
    procedure = BASE[BASE.index("  - code:") :]
    assert errors(BASE + procedure) == [
        "f.yaml:24: procedures[1].code: duplicate procedure code '1.001776', first at procedures[0]"
    ]


def test_empty_stages_are_refused():
    text = BASE[: BASE.index("    stages:")] + "    stages: []\n"
    assert errors(text) == ["f.yaml:18: procedures[0].stages: a procedure needs at least one stage"]


def test_return_stage_must_be_last():
    assert errors(BASE, ("role: process, working_days: 6", "role: return, working_days: 6")) == [
        "f.yaml:20: procedures[0].stages[1].role: a 'return' stage must be the last stage"
    ]


def test_bad_role_and_non_positive_budget_are_refused():
    assert errors(BASE, ("role: decide, working_days: 2", "role: sign, working_days: 0")) == [
        "f.yaml:15: procedures[0].total_working_days: stage budgets of procedure '1.001776' add up to 18 "
        "working days, but total_working_days is 20",
        "f.yaml:22: procedures[0].stages[3].role: "
        "Input should be 'receive', 'process', 'decide', 'consult' or 'return'",
        "f.yaml:22: procedures[0].stages[3].working_days: Input should be greater than 0",
    ]


def test_bad_level_is_refused():
    assert errors(BASE, ("level: commune", "level: Xã-1")) == [
        "f.yaml:9: agencies[0].level: String should match pattern '^[a-z][a-z_]*$'"
    ]
    assert parse_catalog(BASE.replace("level: commune", "level: social_insurance")).agency("000.00.15.H57")


def test_bad_dates_are_refused():
    assert errors(BASE, ("[2026-08-31]", '[2026-02-30, "31/08/2026"]'), ("[2025-04-26]", "[2025-04-26 08:00:00]")) == [
        "f.yaml:3: calendar.extra_days_off[0]: bad date '2026-02-30', expected YYYY-MM-DD",
        "f.yaml:3: calendar.extra_days_off[1]: bad date '31/08/2026', expected YYYY-MM-DD",
        "f.yaml:4: calendar.extra_working_days[0]: bad date datetime.datetime(2025, 4, 26, 8, 0), expected YYYY-MM-DD",
    ]


def test_a_day_both_off_and_worked_is_refused():
    assert errors(BASE, ("[2025-04-26]", "[2026-08-31]")) == [
        "f.yaml:4: calendar.extra_working_days[0]: 2026-08-31 is also listed in extra_days_off"
    ]


def test_unknown_country_is_refused():
    assert errors(BASE, ("country: VN", "country: XX")) == [
        "f.yaml:2: calendar.country: country 'XX' is unknown to the holidays package"
    ]


def test_missing_field_points_at_its_item():
    assert errors(BASE, ('    name: "Trợ cấp xã hội hằng tháng"\n', "")) == [
        "f.yaml:13: procedures[0].name: missing field"
    ]
    assert errors(BASE[: BASE.index("procedures:")]) == ["f.yaml:1: procedures: missing list"]


def test_duplicate_yaml_key_is_refused():
    assert errors(
        BASE, ("    total_working_days: 20\n", "    total_working_days: 20\n    total_working_days: 20\n")
    ) == ["f.yaml:16: procedures[0].total_working_days: duplicate key 'total_working_days'"]


def test_yaml_syntax_error_names_its_line():
    found = errors(BASE, ("working_days: 2}", "working_days: 2"))
    assert len(found) == 1 and found[0].startswith("f.yaml:23: YAML: ")
    assert errors("calendar: [1,\n")[0].startswith("f.yaml:2: YAML: ")
    assert errors("") == [
        "f.yaml:1: <root>: expected a mapping with calendar, agencies and procedures",
        "f.yaml:1: agencies: missing list",
        "f.yaml:1: procedures: missing list",
    ]


def test_all_errors_are_reported_together_in_line_order():
    found = errors(
        BASE,
        ("country: VN", "country: XX"),
        ('["13:30", "17:30"]', '["11:00", "17:30"]'),
        ('parent: "000.00.30.H57"}', 'parent: "000.00.99.H57"}'),
        ('intake_cutoff: "15:00"', 'intake_cutoff: "7h30"'),
        ('"000.31.30.H57", role', '"000.31.99.H57", role'),
        ("role: process, working_days: 6", "role: return, working_days: 5"),
    )
    assert found == [
        "f.yaml:2: calendar.country: country 'XX' is unknown to the holidays package",
        "f.yaml:6: calendar.office_hours[0].hours[1]: office period 11:00-17:30 overlaps 07:30-11:30",
        "f.yaml:9: agencies[0].parent: unknown agency '000.00.99.H57'",
        "f.yaml:15: procedures[0].total_working_days: stage budgets of procedure '1.001776' add up to 19 "
        "working days, but total_working_days is 20",
        "f.yaml:16: procedures[0].intake_cutoff: bad time '7h30', expected 'HH:MM' between 00:00 and 23:59",
        "f.yaml:20: procedures[0].stages[1].role: a 'return' stage must be the last stage",
        "f.yaml:21: procedures[0].stages[2].agency: unknown agency '000.31.99.H57'",
    ]


def test_catalog_error_is_a_value_error_listing_every_error():
    with pytest.raises(ValueError) as caught:
        parse_catalog(BASE.replace("country: VN", "country: XX"), "f.yaml")
    assert "f.yaml:2: calendar.country" in str(caught.value)
