"""A tiny run of the pipeline benchmark (benchmarks/pipeline.py: the four services as processes,
the simulator's load mode, a replay into fresh projections), so that `make bench` cannot rot."""

from __future__ import annotations

from benchmarks.pipeline import Servers, pipeline_run


async def test_a_tiny_pipeline_run_and_replay(nats_url: str, pg_server_dsn: str, tmp_path) -> None:
    figures = await pipeline_run(Servers(nats_url, pg_server_dsn, tmp_path), 3, tracing=True, replay=True)
    assert figures.load.events == 24 and figures.load.rate > 0
    assert len(figures.load.latencies_ms) == 24  # every inbound event caused a fact, and it was seen
    assert figures.spans_requests > 0  # the services exported their spans to the sink
    assert figures.replay_facts >= 24 and figures.replay_seconds > 0
