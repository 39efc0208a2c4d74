"""Every demo procedure end to end through the four service processes: the simulator drives a
district (supplements under both policies, obligations, apologies, refusals, withdrawals, postal
returns with failed deliveries) and the system must blame exactly the stages it made late."""

from __future__ import annotations

import nats
import pytest

from shared.catalog import load_catalog
from shared.sim.driver import simulate
from shared.sim.scenario import SimConfig
from shared.sim.verify import blamed_stages, compare, ground_truth
from tests.conftest import ROOT

pytestmark = pytest.mark.e2e


@pytest.mark.timeout(900)
async def test_the_system_blames_exactly_the_stages_the_simulator_made_late(demo_services):
    catalog = load_catalog(ROOT / "infra" / "catalog" / "demo.yaml")
    config = SimConfig(
        dossiers=120,
        seed=11,
        arrival_working_days=8,
        supplement_probability=0.2,
        obligation_probability=0.1,
        refusal_probability=0.02,
        withdrawal_probability=0.02,
    )
    result = await simulate(demo_services.nats_url, catalog, config, progress=False)
    assert {s.procedure for s in result.scripts} == set(catalog.procedures), "every demo procedure is driven"
    assert not result.refused_inputs, result.refused_inputs[:3]
    nc = await nats.connect(demo_services.nats_url)
    try:
        agreement = compare(ground_truth(result.scripts), await blamed_stages(nc, [s.code for s in result.scripts]))
    finally:
        await nc.close()
    assert agreement.truth > 0
    assert (agreement.precision, agreement.recall) == (1.0, 1.0), (agreement.missing[:5], agreement.spurious[:5])
    assert result.postal_orders > 0
    logs = demo_services.log_text()
    assert "Traceback" not in logs, logs[-3000:]
    for secret in ("Công dân mô phỏng", "Thôn mô phỏng"):
        assert secret not in logs
