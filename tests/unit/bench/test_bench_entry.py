"""`make bench`'s entry point (benchmarks/__main__.py) and the simulator's load mode cannot rot:
the arguments parse, `--quick` shrinks every size, the load is valid input for the contract."""

from __future__ import annotations

import re

import pytest

from benchmarks.__main__ import QUICK, Row, parse_args, table
from shared.catalog import load_catalog
from shared.contracts.inbound import Accepted, parse_agency_message
from shared.sim.load import EVENTS_PER_DOSSIER, build_load, percentile
from shared.tracing.attributes import DOSSIER_CODE
from tests.harness import CATALOGS


def test_quick_shrinks_every_size_and_explicit_sizes_win():
    args = parse_args(["--quick", "--dossiers", "7"])
    assert args.dossiers == 7
    for key, value in QUICK.items():
        if key != "dossiers":
            assert getattr(args, key) == value
    full = parse_args([])
    assert full.open_stages == 1_000_000 and full.report_dossiers == 1_000_000


@pytest.mark.parametrize("argv", [["--open-stages", "10"], ["--dossiers", "0"]])
def test_impossible_sizes_are_refused(argv):
    with pytest.raises(SystemExit):
        parse_args(argv)


def test_the_load_is_accepted_input_in_route_order():
    catalog = load_catalog(CATALOGS / "basic.yaml")

    def agency_for_token(token: str) -> str | None:
        agency = catalog.agency_by_token(token)
        return agency.code if agency else None

    plan = build_load(3)
    assert len({d.code for d in plan}) == 3
    assert all(re.fullmatch(DOSSIER_CODE, d.code) for d in plan)  # the span attributes take them
    for dossier in plan:
        events = [dossier.submitted, *dossier.route]
        assert len(events) == EVENTS_PER_DOSSIER
        assert len({e.first_fact_id for e in events}) == EVENTS_PER_DOSSIER
        for event in events:
            parsed = parse_agency_message(event.subject, event.payload, agency_for_token)
            assert isinstance(parsed, Accepted), parsed
            assert parsed.envelope.dossier_code == dossier.code


def test_the_summary_table_and_percentiles():
    rows = [Row("a. x", "1 events/s", "raw: 4/s", "0.250", "≥ 0.25", True), Row("f. y", "1 ms", "", "", "—", None)]
    text = table(rows)
    assert "met" in text and "NOT MET" not in text
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 3.0
