"""A NATS cluster: NATS_URL may name several servers; LIENTHONG_STREAM_REPLICAS sets R3."""

from __future__ import annotations

import pytest

from shared.contracts.streams import stream_replicas
from shared.settings import nats_inbox_prefix, nats_servers


def test_nats_url_names_one_or_several_servers():
    assert nats_servers("nats://127.0.0.1:4222") == ["nats://127.0.0.1:4222"]
    assert nats_servers("nats://a:4222, nats://b:4222,nats://c:4222") == [
        "nats://a:4222",
        "nats://b:4222",
        "nats://c:4222",
    ]
    assert nats_inbox_prefix("nats://svc_intake:pw@a:4222,nats://svc_intake:pw@b:4222") == "_INBOX_svc_intake"


def test_stream_replicas(monkeypatch):
    monkeypatch.delenv("LIENTHONG_STREAM_REPLICAS", raising=False)
    assert stream_replicas() == 1
    monkeypatch.setenv("LIENTHONG_STREAM_REPLICAS", "3")
    assert stream_replicas() == 3
    monkeypatch.setenv("LIENTHONG_STREAM_REPLICAS", "2")
    with pytest.raises(ValueError, match="1, 3 or 5"):
        stream_replicas()


async def test_a_stream_request_waits_for_the_cluster_peers_then_gives_up_on_other_errors():
    from nats.js.errors import BadRequestError

    from shared.contracts.streams import NO_SUITABLE_PEERS, _once_placed

    calls = []

    async def placed_on_third_try():
        calls.append(1)
        if len(calls) < 3:
            raise BadRequestError(code=400, err_code=NO_SUITABLE_PEERS, description="no suitable peers for placement")
        return "created"

    assert await _once_placed(placed_on_third_try, "LT_EVT", pause=0) == "created"
    assert len(calls) == 3

    async def other_error():
        raise BadRequestError(code=400, err_code=10058, description="stream name already in use")

    with pytest.raises(BadRequestError):
        await _once_placed(other_error, "LT_EVT", pause=0)

    async def never_placed():
        raise BadRequestError(code=400, err_code=NO_SUITABLE_PEERS, description="peer offline")

    with pytest.raises(BadRequestError):
        await _once_placed(never_placed, "LT_EVT", wait=0.05, pause=0.01)
