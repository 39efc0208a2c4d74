"""`lienthong simulate`'s pure parts: its configuration from the command's terms, the ground truth
document, the pass/fail rule, the per-agency paces and the procedure filter of the scenario."""

from __future__ import annotations

import json
from datetime import date

import pytest

from shared.catalog import default_catalog_path, load_catalog
from shared.cli import build_parser, commands
from shared.sim.cli import arrival_working_days, config_for, passed, write_truth
from shared.sim.driver import SimResult
from shared.sim.scenario import SimConfig, build_scenario
from shared.sim.verify import compare, ground_truth, truth_document

CATALOG = load_catalog(default_catalog_path())


def test_three_weeks_from_2_february_2026_hold_fewer_working_days_because_of_tet():
    # 2026-02-02 .. 2026-02-22: 15 weekdays, of which Tết takes 5 (16-20 February).
    assert arrival_working_days(CATALOG.calendar, date(2026, 2, 2), 3) == 10
    assert arrival_working_days(CATALOG.calendar, date(2026, 3, 2), 3) == 15


def test_config_starts_at_the_first_office_hour_of_the_start_day():
    config = config_for(CATALOG.calendar, dossiers=10, seed=3, start=date(2026, 2, 1), weeks=1)  # a Sunday
    assert config.start.isoformat() == "2026-02-02T07:30:00+07:00"
    assert (config.dossiers, config.seed, config.arrival_working_days) == (10, 3, 5)


def test_the_command_is_registered_with_its_options():
    args = build_parser(commands()).parse_args(
        ["simulate", "--dossiers", "5", "--seed", "9", "--weeks", "2", "--procedure", "1.001776", "--min-recall", "0.9"]
    )
    assert (args.dossiers, args.seed, args.weeks, args.procedure, args.min_recall) == (5, 9, 2.0, ["1.001776"], 0.9)
    assert args.start == date(2026, 2, 2) and args.min_precision == 1.0
    with pytest.raises(SystemExit):
        build_parser(commands()).parse_args(["simulate", "--min-precision", "1.5"])


def test_passing_needs_both_precision_and_recall():
    perfect = compare({("A", 1)}, {("A", 1)})
    half = compare({("A", 1), ("B", 1)}, {("A", 1)})
    assert passed(perfect, 1.0, 1.0)
    assert not passed(half, 1.0, 1.0)
    assert passed(half, 1.0, 0.5)


def test_the_procedure_filter_limits_dossiers_and_slow_agencies_to_those_procedures():
    config = SimConfig(dossiers=80, seed=6, procedures=("2.002621",))
    world, scripts = build_scenario(CATALOG, config)
    assert {s.procedure for s in scripts} == {"2.002621"}
    assert world.slow_agencies <= {"000.41.30.H57", "000.42.30.H57"}
    with pytest.raises(ValueError, match=r"9\.999999"):
        build_scenario(CATALOG, SimConfig(dossiers=1, procedures=("9.999999",)))


def test_every_agency_has_its_own_pace_and_on_time_stages_keep_to_it():
    world, _ = build_scenario(CATALOG, SimConfig(dossiers=1, seed=7))
    assert set(world.pace) == set(CATALOG.agencies)
    assert all(0.2 <= low < high <= 0.95 for low, high in world.pace.values())
    assert len(set(world.pace.values())) > len(world.pace) // 2, "paces differ between agencies"


def test_the_ground_truth_document_lists_every_late_stage_with_its_overrun_and_no_personal_data(tmp_path):
    config = SimConfig(dossiers=200, seed=8)
    world, scripts = build_scenario(CATALOG, config)
    for i, s in enumerate(scripts):
        s.code = f"X-{i:04d}"
    doc = truth_document(SimResult(world, scripts), config, run_tag="t1")
    path = tmp_path / "out" / "truth.json"
    write_truth(path, doc)
    loaded = json.loads(path.read_text())
    assert loaded["seed"] == 8 and loaded["run_tag"] == "t1"
    assert loaded["config"]["start"] == "2026-02-02T07:30:00+07:00"
    assert loaded["world"]["slow_agencies"] == sorted(world.slow_agencies)
    late = {(d["code"], x["stage_index"]) for d in loaded["dossiers"] for x in d["late_stages"]}
    assert late == ground_truth(scripts) and loaded["late_stages"] == len(late) > 0
    hours = {(s.code, k): v / 3600 for s in scripts for k, v in s.late_stages.items()}
    assert all(
        x["overrun_working_hours"] == pytest.approx(hours[(d["code"], x["stage_index"])], abs=1e-4)
        for d in loaded["dossiers"]
        for x in d["late_stages"]
    )
    assert {d["ends"] for d in loaded["dossiers"]} <= {"returned", "refused", "withdrawn"}
    text = path.read_text()
    assert "full_name" not in text and "id_number" not in text and "Công dân" not in text


def test_the_scenario_has_every_kind_of_event_the_district_produces():
    _, scripts = build_scenario(CATALOG, SimConfig(dossiers=1500, seed=9))
    kinds = {a.type for s in scripts for a in s.actions}
    assert {
        "handoff_received",
        "stage_completed",
        "supplement_requested",
        "supplement_received",
        "obligation_requested",
        "obligation_fulfilled",
        "apology_issued",
        "refused",
        "withdrawn",
        "result_returned",
    } <= kinds
    assert {s.return_method for s in scripts} == {"postal", "counter"}
    assert {s.ends for s in scripts} == {"returned", "refused", "withdrawn"}


def test_an_unknown_procedure_is_one_line_before_any_connection(capsys, monkeypatch):
    from shared import cli

    monkeypatch.setenv("NATS_URL", "nats://127.0.0.1:1")  # nothing listens there: it must not be tried
    assert cli.main(["simulate", "--procedure", "9.999999", "--no-progress"]) == 2
    assert "procedures not in the catalog: 9.999999" in capsys.readouterr().err


def test_the_nats_url_of_make_up_is_read_from_its_env_file(tmp_path):
    from shared.sim.cli import _make_up_nats_url

    assert _make_up_nats_url(tmp_path) is None
    (tmp_path / "env").write_text("export NATS_URL=nats://127.0.0.1:40123\nexport DATABASE_URL='postgresql://x'\n")
    assert _make_up_nats_url(tmp_path) == "nats://127.0.0.1:40123"
