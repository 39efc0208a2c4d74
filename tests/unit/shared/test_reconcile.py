"""shared.reconcile: the RPC's request, and the command line's arguments and table (pure)."""

import argparse
from datetime import datetime, timedelta, timezone

import pytest

from shared.reconcile import ReconcileRequest, reconcile_subject
from shared.reconcile.cli import ORDER, format_replies, since_value


def test_an_empty_request_reconciles_everything() -> None:
    assert ReconcileRequest.parse(b"") == ReconcileRequest(dry_run=False, since=None)
    assert ReconcileRequest.parse(b'{"dry_run": true}') == ReconcileRequest(dry_run=True)


def test_since_keeps_its_offset() -> None:
    parsed = ReconcileRequest.parse(b'{"since": "2026-03-02T00:00:00+07:00"}')
    assert parsed.since == datetime(2026, 3, 2, tzinfo=timezone(timedelta(hours=7)))


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[]", "JSON object"),
        (b'{"dry_run": "yes"}', "dry_run"),
        (b'{"since": "2026-03-02T00:00:00"}', "UTC offset"),
        (b'{"since": 5}', "since"),
        (b'{"everything": true}', r"unknown field\(s\): everything"),
        (b"{", "Expecting"),
    ],
)
def test_a_bad_request_is_refused_with_its_reason(body: bytes, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        ReconcileRequest.parse(body)


def test_services_are_asked_in_the_order_facts_are_caused() -> None:
    assert ORDER == ("intake", "routing", "postal", "deadline")
    assert reconcile_subject("postal") == "lt.rpc.postal.reconcile"


def test_since_on_the_command_line() -> None:
    assert since_value("2026-03-02") == "2026-03-02T00:00:00+07:00"
    assert since_value("2026-03-02T08:00:00+00:00") == "2026-03-02T08:00:00+00:00"
    for bad in ("yesterday", "2026-03-02T08:00:00"):
        with pytest.raises(argparse.ArgumentTypeError):
            since_value(bad)


def test_the_table_shows_each_stream_and_each_failure() -> None:
    stream = {"stream": "LT_EVT", "scanned": 3, "considered": 9, "missing": 6, "republished": 6, "already_present": 0}
    replies = [
        {"service": "intake", "ok": True, "streams": [stream], "unpublished": 2, "extra": {}},
        {"service": "routing", "ok": False, "error": "no routing service answers lt.rpc.routing.reconcile"},
    ]
    text = format_replies(replies, dry_run=True)
    assert "dry run" in text
    assert "intake   LT_EVT  3        9       6      6         0" in text
    assert "intake: 2 dòng outbox chưa phát" in text
    assert "routing: LỖI (error): no routing service answers" in text


def test_the_durability_benchmark_compares_the_shipped_config_with_it_minus_sync_interval(tmp_path) -> None:
    from benchmarks.durability import SHIPPED, default_sync_config

    shipped = SHIPPED.read_text().splitlines()
    default = default_sync_config(tmp_path).read_text().splitlines()
    assert [line for line in shipped if line not in default] == ["  sync_interval: always"]
