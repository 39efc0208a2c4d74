"""The simulator's script is reproducible and its ground truth follows from the budgets."""

from __future__ import annotations

from shared.catalog import default_catalog_path, load_catalog
from shared.sim.scenario import SimConfig, build_scenario
from shared.sim.verify import compare

CATALOG = load_catalog(default_catalog_path())


def test_the_same_seed_gives_the_same_script():
    a = build_scenario(CATALOG, SimConfig(dossiers=50, seed=1))[1]
    b = build_scenario(CATALOG, SimConfig(dossiers=50, seed=1))[1]
    assert [(s.procedure, s.submitted_at, s.actions, s.late_stages) for s in a] == [
        (s.procedure, s.submitted_at, s.actions, s.late_stages) for s in b
    ]


def test_arrivals_fall_in_office_hours_of_working_days():
    for script in build_scenario(CATALOG, SimConfig(dossiers=200, seed=2))[1]:
        assert CATALOG.calendar.next_opening(script.submitted_at) == script.submitted_at


def test_actions_of_a_dossier_are_in_time_order_and_after_the_receipt():
    for script in build_scenario(CATALOG, SimConfig(dossiers=300, seed=3))[1]:
        times = [a.at for a in script.actions]
        assert times == sorted(times)
        assert all(t >= script.submitted_at for t in times)


def test_slow_agencies_make_more_late_stages_and_only_completed_stages_count():
    world, scripts = build_scenario(CATALOG, SimConfig(dossiers=1000, seed=4))
    late = [(s, k) for s in scripts for k in s.late_stages]
    assert late, "the scenario must make some stages late"
    completed = {
        (s.index, a.data.get("stage_index")) for s in scripts for a in s.actions if a.type == "stage_completed"
    }
    assert all((s.index, k) in completed for s, k in late)
    assert all(overrun > 0 for s, _ in late for overrun in s.late_stages.values())


def test_the_scenario_spans_tet_2026():
    scripts = build_scenario(CATALOG, SimConfig(dossiers=300, seed=5))[1]
    first = min(s.submitted_at for s in scripts)
    last = max(a.at for s in scripts for a in s.actions)
    assert first.date().isoformat() < "2026-02-16" and last.date().isoformat() > "2026-02-20"


def test_precision_and_recall_of_blamed_stages():
    agreement = compare({("A", 1), ("B", 2)}, {("A", 1), ("C", 0)})
    assert (agreement.precision, agreement.recall) == (0.5, 0.5)
    assert agreement.missing == (("B", 2),) and agreement.spurious == (("C", 0),)
    assert compare(set(), set()).precision == 1.0
