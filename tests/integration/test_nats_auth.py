"""The shipped NATS authorization (infra/nats/auth.conf, generated from the demo catalog) on a real,
private nats-server: an agency cannot speak for another or read another's outbound messages, the
post cannot speak for an agency, and the services still work with their own users."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import nats
import pytest
from nats.js.api import ConsumerConfig

from services.intake.app import build_runtime as build_intake
from services.routing.app import build_runtime as build_routing
from shared import devenv, natsauth
from shared.catalog import load_catalog
from shared.contracts import subjects
from shared.contracts.streams import ensure_streams
from tests.factories import submitted_data
from tests.harness import running, settings_for
from tests.support import envelope, poll_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEMO_CATALOG = ROOT / "infra" / "catalog" / "demo.yaml"
SHIPPED = ROOT / "infra" / "nats" / "auth.conf"
A, B = "000.00.15.H57", "000.00.16.H57"  # two communes of the demo catalog
TA, TB = subjects.agency_token(A), subjects.agency_token(B)


def secret(user: str) -> str:
    return f"test-secret-{user}"


def test_shipped_config_is_generated_from_the_demo_catalog() -> None:
    assert SHIPPED.read_text() == natsauth.render(natsauth.users_for(load_catalog(DEMO_CATALOG)))


@pytest.fixture(scope="module")
def authed_nats(tmp_path_factory: pytest.TempPathFactory):
    """nats-server with the durability config and the *shipped* auth.conf; passwords from the
    environment variables the file refers to."""
    users = natsauth.users_for(load_catalog(DEMO_CATALOG))
    state = tmp_path_factory.mktemp("nats-auth")
    config = state / "server.conf"
    for name in ("nats-server.conf", "auth.conf"):  # nats-server includes only relative paths
        (state / name).write_text((ROOT / "infra" / "nats" / name).read_text())
    config.write_text('include "nats-server.conf"\ninclude "auth.conf"\n')
    saved = {u.env_var: devenv.os.environ.get(u.env_var) for u in users}
    devenv.os.environ.update({u.env_var: secret(u.name) for u in users})
    try:
        server = devenv.start_nats(state, config=config)
    finally:
        for key, value in saved.items():
            if value is None:
                devenv.os.environ.pop(key, None)
            else:
                devenv.os.environ[key] = value
    yield server
    server.stop()


def url_for(server: devenv.NatsServer, user: str) -> str:
    return server.url.replace("nats://", f"nats://{user}:{secret(user)}@")


class Client:
    def __init__(self, nc: nats.aio.client.Client, errors: list[str]) -> None:
        self.nc, self.js, self.errors = nc, nc.jetstream(), errors

    def violations(self, needle: str) -> list[str]:
        return [e for e in self.errors if "permissions violation" in e.lower() and needle in e]


async def client(server: devenv.NatsServer, user: str, inbox_prefix: str = "_INBOX") -> Client:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(
        url_for(server, user), inbox_prefix=inbox_prefix, error_cb=on_error, max_reconnect_attempts=0
    )
    return Client(nc, errors)


def agency(code: str) -> natsauth.NatsUser:
    return natsauth.agency_user(code)


@pytest.fixture
async def clients(authed_nats):
    svc = await client(authed_nats, "svc_routing")
    await ensure_streams(svc.js)
    a = await client(authed_nats, agency(A).name, agency(A).inbox_prefix)
    b = await client(authed_nats, agency(B).name, agency(B).inbox_prefix)
    post = await client(authed_nats, "postal", natsauth.postal_user().inbox_prefix)
    yield svc, a, b, post
    for c in (svc, a, b, post):
        await c.nc.close()


def body(type_: str, agency_code: str, **data) -> bytes:
    return json.dumps(envelope(type_, agency_code, "2026-03-02T08:00:00+07:00", data, "X-1")).encode()


async def test_wrong_password_is_refused(authed_nats) -> None:
    with pytest.raises(nats.errors.Error):
        await nats.connect(
            authed_nats.url.replace("nats://", "nats://svc_intake:wrong@"), max_reconnect_attempts=0, connect_timeout=2
        )


async def test_an_agency_publishes_only_for_itself(clients) -> None:
    svc, a, b, post = clients
    ack = await a.js.publish(subjects.in_agency(A, "withdrawn"), body("withdrawn", A), timeout=2)
    assert ack.stream == "LT_IN"

    for forged in (
        subjects.in_agency(B, "withdrawn"),
        subjects.fact("dossier", "received"),
        subjects.out_agency(B, "assigned"),
    ):
        with pytest.raises(nats.errors.TimeoutError):  # the server drops it: no PubAck ever comes
            await a.js.publish(forged, body("withdrawn", B), timeout=0.5)
        await poll_until(lambda s=forged: a.violations(s), timeout=2, message=f"a violation for {forged}")
    stored = await svc.js.stream_info("LT_IN")
    assert stored.state.messages == 1
    assert (await svc.js.get_last_msg("LT_IN", f"lt.in.agency.{TA}.>")).subject == subjects.in_agency(A, "withdrawn")


async def test_an_agency_reads_only_its_own_outbound(clients) -> None:
    svc, a, b, post = clients
    own, other = [], []
    await a.nc.subscribe(f"lt.out.agency.{TA}.>", cb=lambda m: own.append(m.subject) or asyncio.sleep(0))
    await a.nc.subscribe(f"lt.out.agency.{TB}.>", cb=lambda m: other.append(m.subject) or asyncio.sleep(0))
    await a.nc.subscribe("lt.out.>", cb=lambda m: other.append(m.subject) or asyncio.sleep(0))
    await a.nc.subscribe("_INBOX.>", cb=lambda m: other.append(m.subject) or asyncio.sleep(0))
    await a.nc.flush()
    await poll_until(lambda: len(a.violations("Subscription")) >= 3, timeout=2, message="subscription violations")

    await svc.js.publish(subjects.out_agency(B, "assigned"), b"{}", timeout=2)
    await svc.js.publish(subjects.out_agency(A, "assigned"), b"{}", timeout=2)
    await poll_until(lambda: own, timeout=2, message="A's own outbound message")
    await asyncio.sleep(0.1)
    assert own == [subjects.out_agency(A, "assigned")] and other == []

    # JetStream: its one consumer on its own subjects works; any other consumer or filter does not.
    name = agency(A).name
    await a.js.add_consumer(
        "LT_OUT", ConsumerConfig(name=name, durable_name=name, filter_subject=f"lt.out.agency.{TA}.>")
    )
    sub = await a.js.pull_subscribe_bind(name, "LT_OUT")
    msgs = await sub.fetch(10, timeout=2)
    assert [m.subject for m in msgs] == [subjects.out_agency(A, "assigned")]
    await msgs[0].ack()
    for config in (
        ConsumerConfig(name=name, durable_name=name, filter_subject=f"lt.out.agency.{TB}.>"),
        ConsumerConfig(name="spy", durable_name="spy", filter_subject=f"lt.out.agency.{TB}.>"),
    ):
        with pytest.raises(nats.errors.TimeoutError):
            await a.js.add_consumer("LT_OUT", config, timeout=0.5)
    with pytest.raises(nats.errors.TimeoutError):
        await a.js.get_last_msg("LT_OUT", f"lt.out.agency.{TB}.>")  # no stream reads either


async def test_the_post_cannot_speak_for_an_agency(clients) -> None:
    svc, a, b, post = clients
    ack = await post.js.publish(subjects.in_postal("shipment_status"), body("shipment_status", A), timeout=2)
    assert ack.stream == "LT_IN"
    with pytest.raises(nats.errors.TimeoutError):
        await post.js.publish(subjects.in_agency(A, "submitted"), body("submitted", A), timeout=0.5)
    await poll_until(lambda: post.violations(subjects.in_agency(A, "submitted")), timeout=2, message="a violation")
    got = []
    await post.nc.subscribe(f"lt.out.agency.{TA}.>", cb=lambda m: got.append(m) or asyncio.sleep(0))
    await post.nc.flush()
    await poll_until(lambda: post.violations("Subscription"), timeout=2, message="a subscription violation")


async def test_services_work_with_their_own_users(authed_nats, database_url: str, clients) -> None:
    """intake and routing connect as svc_intake/svc_routing; A's submission is admitted and routed,
    and A's event carrying B in its envelope is refused to A (the forged-agency check)."""
    svc, a, b, post = clients
    for name in ("LT_IN", "LT_EVT", "LT_OUT"):
        await svc.js.purge_stream(name)
    rejected: list[dict] = []
    await a.nc.subscribe(
        subjects.out_agency(A, "input_rejected"), cb=lambda m: rejected.append(json.loads(m.data)) or asyncio.sleep(0)
    )
    intake = settings_for(url_for(authed_nats, "svc_intake"), database_url, catalog=str(DEMO_CATALOG))
    routing = settings_for(url_for(authed_nats, "svc_routing"), database_url, catalog=str(DEMO_CATALOG))
    async with running(build_intake, intake), running(build_routing, routing):
        good = envelope("submitted", A, "2026-03-02T08:00:00+07:00", submitted_data("1.001776"))
        forged = envelope("submitted", B, "2026-03-02T08:00:00+07:00", submitted_data("1.001776"))
        for env in (good, forged):
            await a.js.publish(
                subjects.in_agency(A, "submitted"), json.dumps(env).encode(), headers={"Nats-Msg-Id": env["event_id"]}
            )

        async def routed() -> bool:
            try:
                await svc.js.get_last_msg("LT_EVT", "lt.evt.dossier.routed")
                return True
            except nats.js.errors.NotFoundError:
                return False

        await poll_until(routed, timeout=15, message="dossier.routed from the services")
        await poll_until(lambda: rejected, timeout=10, message="input_rejected to A")
    assert rejected[0]["data"]["refused_event_id"] == forged["event_id"]
    assert "does not match" in rejected[0]["data"]["reason"]
