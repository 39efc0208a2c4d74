"""The shipped NATS accounts and permissions (infra/nats/secure.conf = nats-server.conf +
auth.conf, generated from the demo catalog) on a real, private nats-server: an agency publishes
only in its own name, reads only its own outbound messages (core subscriptions, its one JetStream
consumer, no other consumer, no stream or direct get), cannot smuggle messages in through reply
subjects; the post cannot speak for an agency; operators reach only their RPCs; and the four
services, each as its own user, take a dossier from submission to its postal return."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.js.api import ConsumerConfig

from services.deadline.app import build_runtime as build_deadline
from services.intake.app import build_runtime as build_intake
from services.postal.app import build_runtime as build_postal
from services.routing.app import build_runtime as build_routing
from shared import devenv, natsauth
from shared.catalog import load_catalog
from shared.contracts import subjects
from shared.contracts.streams import STREAMS, agency_reader, ensure_reader_consumers, ensure_streams
from shared.reconcile import reconcile_subject
from tests.factories import submitted_data
from tests.harness import running, settings_for
from tests.support import envelope, poll_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DEMO_CATALOG = ROOT / "infra" / "catalog" / "demo.yaml"
SECURE_CONF = ROOT / "infra" / "nats" / "secure.conf"
A, B = "000.00.15.H57", "000.00.16.H57"  # two communes of the demo catalog
LABOUR = "000.31.30.H57"  # the district's labour office
TA, TB = subjects.agency_token(A), subjects.agency_token(B)
DENIED = (nats.errors.TimeoutError, nats.errors.NoRespondersError, nats.js.errors.APIError)


def password(user: str) -> str:
    return f"test-secret-{user}"


def user_of(agency: str) -> str:
    return f"agency_{subjects.agency_token(agency)}"


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="module")
def secure_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[devenv.NatsServer]:
    """nats-server started with the shipped secure.conf; passwords in the variables it names."""
    users = natsauth.users_of(natsauth.accounts_for(load_catalog(DEMO_CATALOG)))
    with environment({u.env_var: password(u.name) for u in users}):
        server = devenv.start_nats(tmp_path_factory.mktemp("nats-secure"), config=SECURE_CONF)
    yield server
    server.stop()


def url_for(server: devenv.NatsServer, user: str) -> str:
    return server.url.replace("nats://", f"nats://{user}:{password(user)}@")


def server_log(server: devenv.NatsServer) -> str:
    return (server.store_dir.parent / "nats.log").read_text(errors="replace")


@dataclass
class Party:
    """A connection as one user; `js` uses the `lienthong` JetStream domain for outside parties."""

    nc: nats.aio.client.Client
    js: nats.js.JetStreamContext
    errors: list[str] = field(default_factory=list)

    def violations(self, needle: str = "") -> list[str]:
        return [e for e in self.errors if "permissions violation" in e.lower() and needle.lower() in e.lower()]


async def connect_as(server: devenv.NatsServer, user: str, outside: bool = True) -> Party:
    errors: list[str] = []

    async def on_error(exc: Exception) -> None:
        errors.append(str(exc))

    nc = await nats.connect(url_for(server, user), error_cb=on_error, max_reconnect_attempts=0)
    return Party(nc, nc.jetstream(domain=natsauth.JS_DOMAIN) if outside else nc.jetstream(), errors)


async def subjects_in(admin: Party, stream: str) -> dict[str, int]:
    info = await admin.js.stream_info(stream, subjects_filter=">")
    return dict(info.state.subjects or {})


@pytest.fixture
async def parties(secure_nats) -> AsyncIterator[dict[str, Party]]:
    """Fresh streams and readers' consumers (set up by admin), and connections as A, B, the post."""
    admin = await connect_as(secure_nats, "admin", outside=False)
    for config in STREAMS:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await admin.js.delete_stream(config.name)
    await ensure_streams(admin.js)
    await ensure_reader_consumers(admin.js, load_catalog(DEMO_CATALOG).agencies)
    found = {
        "admin": admin,
        "a": await connect_as(secure_nats, user_of(A)),
        "b": await connect_as(secure_nats, user_of(B)),
        "post": await connect_as(secure_nats, "postal"),
    }
    yield found
    for party in found.values():
        await party.nc.close()


def body(type_: str, agency: str | None, **data) -> bytes:
    return json.dumps(envelope(type_, agency, "2026-03-02T08:00:00+07:00", data, "X-1")).encode()


async def test_wrong_passwords_and_unknown_users_are_refused(secure_nats) -> None:
    for url in (
        secure_nats.url.replace("nats://", "nats://svc_intake:wrong@"),
        secure_nats.url.replace("nats://", f"nats://nobody:{password('nobody')}@"),
        secure_nats.url,  # no user at all
    ):
        with pytest.raises(nats.errors.Error):
            await nats.connect(url, max_reconnect_attempts=0, connect_timeout=2, allow_reconnect=False)


async def test_an_agency_publishes_only_in_its_own_name(parties) -> None:
    a, admin = parties["a"], parties["admin"]
    ack = await a.js.publish(subjects.in_agency(A, "withdrawn"), body("withdrawn", A), timeout=5)
    assert ack.stream == "LT_IN"

    for forged in (
        subjects.in_agency(B, "withdrawn"),
        subjects.in_postal("shipment_status"),
        subjects.fact("dossier", "received"),
        subjects.out_agency(B, "assigned"),
        subjects.SIM_CLOCK,
    ):
        with pytest.raises(DENIED):
            await a.js.publish(forged, body("withdrawn", B), timeout=0.5)
        await poll_until(lambda s=forged: a.violations(s), timeout=5, message=f"a violation for {forged}")
    await a.nc.flush()
    assert await subjects_in(admin, "LT_IN") == {subjects.in_agency(A, "withdrawn"): 1}
    assert await subjects_in(admin, "LT_EVT") == {} and await subjects_in(admin, "LT_OUT") == {}


async def test_reply_subjects_cannot_smuggle_messages_into_lienthong(parties) -> None:
    """Whoever answers a request publishes on its reply subject unchecked: JetStream's PubAck for
    A's own message, sent to another agency's subject or a fact subject, would be stored there. The
    import rewrites A's reply subjects, so the PubAck goes back into A's own account."""
    a, admin = parties["a"], parties["admin"]
    targets = (subjects.in_agency(B, "submitted"), subjects.fact("dossier", "received"), subjects.out_agency(B, "x"))
    for target in targets:
        await a.nc.publish(subjects.in_agency(A, "withdrawn"), body("withdrawn", A), reply=target)
    await a.nc.flush()
    await poll_until(
        lambda: subjects_in(admin, "LT_IN"), timeout=5, message="A's own messages stored"
    )  # stored once each, and nothing else anywhere
    assert await subjects_in(admin, "LT_IN") == {subjects.in_agency(A, "withdrawn"): len(targets)}
    assert await subjects_in(admin, "LT_EVT") == {} and await subjects_in(admin, "LT_OUT") == {}


async def test_inside_one_account_the_reply_trick_would_work(parties) -> None:
    """Why agencies have accounts of their own: the same trick from inside LIENTHONG (as admin)
    puts a PubAck into LT_EVT as if it were a fact."""
    admin = parties["admin"]
    await admin.nc.publish(
        subjects.in_agency(A, "withdrawn"), body("withdrawn", A), reply=subjects.fact("dossier", "received")
    )
    await admin.nc.flush()
    assert await poll_until(lambda: subjects_in(admin, "LT_EVT"), timeout=5, message="the smuggled PubAck") == {
        subjects.fact("dossier", "received"): 1
    }


async def test_an_agency_reads_only_its_own_outbound_messages(parties) -> None:
    a, admin = parties["a"], parties["admin"]
    own, other = [], []

    async def keep_own(msg) -> None:
        own.append(msg.subject)

    async def keep_other(msg) -> None:
        other.append(msg.subject)

    await a.nc.subscribe(f"lt.out.agency.{TA}.>", cb=keep_own)
    for pattern in (f"lt.out.agency.{TB}.>", "lt.out.>", "lt.evt.>", "lt.in.>", "_INBOX_svc_postal.>", ">"):
        await a.nc.subscribe(pattern, cb=keep_other)
    await a.nc.flush()
    await poll_until(lambda: len(a.violations("subscription")) >= 5, timeout=5, message="subscription violations")

    await admin.js.publish(subjects.out_agency(B, "assigned"), b'{"for": "B"}')
    await admin.js.publish(subjects.out_agency(A, "assigned"), b'{"for": "A"}')
    await admin.js.publish(subjects.fact("dossier", "routed"), b"{}")
    await poll_until(lambda: own, timeout=5, message="A's own outbound message")
    await admin.nc.flush()
    assert own == [subjects.out_agency(A, "assigned")] and other == []


async def test_an_agency_reads_its_consumer_and_no_other_part_of_jetstream(parties) -> None:
    a, admin = parties["a"], parties["admin"]
    await admin.js.publish(subjects.out_agency(B, "assigned"), b'{"for": "B"}')
    await admin.js.publish(subjects.out_agency(A, "assigned"), b'{"for": "A"}')

    mine = agency_reader(A)
    assert (await a.js.consumer_info("LT_OUT", mine)).num_pending == 1
    sub = await a.js.pull_subscribe_bind(mine, "LT_OUT")
    msgs = await sub.fetch(10, timeout=2)
    assert [(m.subject, m.data) for m in msgs] == [(subjects.out_agency(A, "assigned"), b'{"for": "A"}')]
    await msgs[0].ack()
    await a.nc.flush()
    await poll_until(
        lambda: _ack_floor(admin, mine), timeout=5, message="A's ack to reach its consumer"
    )  # acks work across the account boundary

    theirs = agency_reader(B)
    raw = a.nc.jetstream()  # the account's own $JS.API: no JetStream there
    attempts = {
        "fetch from B's consumer": (await a.js.pull_subscribe_bind(theirs, "LT_OUT")).fetch(1, timeout=1),
        "B's consumer info": a.js.consumer_info("LT_OUT", theirs, timeout=1),
        "a new consumer": a.js.add_consumer(
            "LT_OUT", ConsumerConfig(durable_name="spy", filter_subject=f"lt.out.agency.{TB}.>"), timeout=1
        ),
        "its own consumer re-filtered": a.js.add_consumer(
            "LT_OUT", ConsumerConfig(durable_name=mine, filter_subject=f"lt.out.agency.{TB}.>"), timeout=1
        ),
        "a push consumer": a.js.add_consumer(
            "LT_OUT", ConsumerConfig(name="push", deliver_subject="lt.evt.x", filter_subject="lt.out.>"), timeout=1
        ),
        "stream info": a.js.stream_info("LT_OUT"),
        "stream get": a.js.get_msg("LT_OUT", 1),
        "last message get": a.js.get_last_msg("LT_OUT", f"lt.out.agency.{TB}.>"),
        "direct get": a.js.get_msg("LT_OUT", 1, direct=True),
        "raw stream get": raw.get_msg("LT_OUT", 1),
        "raw direct get": raw.get_msg("LT_OUT", 1, direct=True),
        "raw B's consumer": raw.consumer_info("LT_OUT", theirs, timeout=1),
    }
    for what, attempt in attempts.items():
        with pytest.raises(DENIED):
            leaked = await attempt
            pytest.fail(f"{what} answered: {leaked}")
    # Forged acks on B's consumer: refused, B's message stays pending for B.
    await a.nc.publish(f"$JS.ACK.LT_OUT.{theirs}.1.1.1.0.0", b"+ACK")
    await a.nc.flush()
    await poll_until(lambda: a.violations(f"$js.ack.lt_out.{theirs}"), timeout=5, message="forged ack refused")
    assert (await admin.js.consumer_info("LT_OUT", theirs)).num_pending == 1
    assert {c.name for c in await admin.js.consumers_info("LT_OUT")} == {
        *(agency_reader(code) for code in load_catalog(DEMO_CATALOG).agencies),
        "postal",
    }  # nothing was created


async def _ack_floor(admin: Party, consumer: str) -> bool:
    info = await admin.js.consumer_info("LT_OUT", consumer)
    return info.ack_floor.stream_seq == 2 and info.num_ack_pending == 0


async def test_the_post_cannot_speak_for_or_read_an_agency(parties) -> None:
    post, admin = parties["post"], parties["admin"]
    ack = await post.js.publish(subjects.in_postal("shipment_status"), body("shipment_status", None), timeout=5)
    assert ack.stream == "LT_IN"
    with pytest.raises(DENIED):
        await post.js.publish(subjects.in_agency(A, "submitted"), body("submitted", A), timeout=0.5)
    await poll_until(lambda: post.violations(subjects.in_agency(A, "submitted")), timeout=5, message="a violation")
    with pytest.raises(DENIED):
        await post.nc.request(subjects.RPC_INTAKE_SUBMIT, body("submitted", A), timeout=0.5)

    got = []

    async def keep(msg) -> None:
        got.append(msg.subject)

    await post.nc.subscribe(f"lt.out.agency.{TA}.>", cb=keep)
    await post.nc.flush()
    await poll_until(lambda: post.violations("subscription"), timeout=5, message="a subscription violation")
    await admin.js.publish(subjects.out_agency(A, "assigned"), b"{}")
    await admin.js.publish(subjects.out_postal("delivery_order"), b"{}")
    msgs = await (await post.js.pull_subscribe_bind("postal", "LT_OUT")).fetch(10, timeout=2)
    assert [m.subject for m in msgs] == [subjects.out_postal("delivery_order")] and got == []
    with pytest.raises(DENIED):
        await (await post.js.pull_subscribe_bind(agency_reader(A), "LT_OUT")).fetch(1, timeout=1)
    assert await subjects_in(admin, "LT_IN") == {subjects.in_postal("shipment_status"): 1}


async def test_operators_reach_their_rpcs_only(secure_nats, parties) -> None:
    operator = await connect_as(secure_nats, "operator")
    try:
        for subject in (subjects.in_agency(A, "withdrawn"), subjects.in_postal("shipment_status")):
            with pytest.raises(DENIED):
                await operator.js.publish(subject, body("withdrawn", A), timeout=0.5)
        for subject in (subjects.RPC_INTAKE_SUBMIT, subjects.RPC_INTAKE_DELIVERY_ADDRESS):
            with pytest.raises(DENIED):
                await operator.nc.request(subject, b"{}", timeout=0.5)
        assert await subjects_in(parties["admin"], "LT_IN") == {}
    finally:
        await operator.nc.close()


# ---- the four services, each as its own user ---------------------------------------------------

SERVICES = (
    ("intake", build_intake),
    ("routing", build_routing),
    ("deadline", build_deadline),
    ("postal", build_postal),
)
PROCEDURE = "H57.TCXH.06"  # receive and process at the commune, decide at the labour office, return


def march(text: str) -> str:
    return f"2026-03-{text}+07:00"


class Watch:
    """What a party received through its JetStream consumer, fetched on demand."""

    def __init__(self, party: Party, consumer: str) -> None:
        self.party, self.consumer, self.seen, self.sub = party, consumer, [], None

    async def fetch(self) -> list[tuple[str, dict]]:
        if self.sub is None:
            self.sub = await self.party.js.pull_subscribe_bind(self.consumer, "LT_OUT")
        try:
            for msg in await self.sub.fetch(50, timeout=0.5):
                self.seen.append((msg.subject, json.loads(msg.data)))
                await msg.ack()
        except nats.errors.TimeoutError:
            pass
        return self.seen

    async def until(self, suffix: str, count: int = 1) -> list[dict]:
        async def found():
            hits = [b for s, b in await self.fetch() if s.endswith(suffix)]
            return hits if len(hits) >= count else None

        return await poll_until(found, timeout=30, message=f"{count} × {suffix} for {self.consumer}")


async def test_the_four_services_work_with_their_own_users(secure_nats, database_url: str, parties) -> None:
    a, post = parties["a"], parties["post"]
    labour = await connect_as(secure_nats, user_of(LABOUR))
    operator = await connect_as(secure_nats, "operator")
    facts: list[tuple[str, dict]] = []

    async def keep_fact(msg) -> None:
        facts.append((msg.subject, json.loads(msg.data)))

    await operator.nc.subscribe(subjects.EVT_ALL, cb=keep_fact)  # operators' read-only view of the facts

    def fact_count(code: str, type_: str) -> int:
        return sum(1 for s, b in facts if s == subjects.fact("dossier", type_) and b.get("dossier_code") == code)

    async with contextlib.AsyncExitStack() as stack:
        for name, build in SERVICES:
            settings = settings_for(url_for(secure_nats, f"svc_{name}"), database_url, catalog=str(DEMO_CATALOG))
            await stack.enter_async_context(running(build, settings))
        stack.push_async_callback(labour.nc.close)
        stack.push_async_callback(operator.nc.close)
        a_out, labour_out, post_out = Watch(a, agency_reader(A)), Watch(labour, agency_reader(LABOUR)), None

        # A submits over RPC in its own name (its account maps the contract's subject to its own).
        good = envelope("submitted", A, march("02T08:00:00"), submitted_data(PROCEDURE, return_method="postal"))
        reply = json.loads((await a.nc.request(subjects.RPC_INTAKE_SUBMIT, json.dumps(good).encode(), timeout=15)).data)
        assert reply["ok"], reply
        code = reply["dossier_code"]
        assert code.startswith(f"{A}-260302-")
        # ... and cannot submit in B's name, by RPC or through JetStream.
        forged = envelope("submitted", B, march("02T08:05:00"), submitted_data(PROCEDURE))
        refused = json.loads((await a.nc.request(subjects.RPC_INTAKE_SUBMIT, json.dumps(forged).encode(), 15)).data)
        assert refused["ok"] is False and "does not match" in refused["error"], refused
        forged_js = envelope("submitted", B, march("02T08:06:00"), submitted_data(PROCEDURE))
        await a.js.publish(
            subjects.in_agency(A, "submitted"), json.dumps(forged_js).encode(), headers={"Nats-Msg-Id": "f-1"}
        )
        (rejection,) = await a_out.until(".input_rejected")
        assert rejection["data"]["refused_event_id"] == forged_js["event_id"]

        await poll_until(lambda: fact_count(code, "routed"), timeout=30, message="routed")
        for when in ("02T09:00:00", "02T10:00:00"):
            done = fact_count(code, "stage_completed")
            await a.js.publish(
                subjects.in_agency(A, "stage_completed"),
                json.dumps(envelope("stage_completed", A, march(when), {"outcome": "forward"}, code)).encode(),
            )
            await poll_until(lambda d=done: fact_count(code, "stage_completed") > d, timeout=30, message=when)
        (assigned,) = await labour_out.until(".assigned")
        assert assigned["dossier_code"] == code
        await labour.js.publish(
            subjects.in_agency(LABOUR, "stage_completed"),
            json.dumps(
                envelope("stage_completed", LABOUR, march("03T10:00:00"), {"outcome": "result_ready"}, code)
            ).encode(),
        )

        # The post reads its order through its consumer and reports the delivery.
        post_out = Watch(post, "postal")
        (order,) = await post_out.until(".delivery_order")
        assert order["dossier_code"] == code and order["data"]["address"]["line"]
        for status, when in (("accepted", "03T14:00"), ("picked_up", "03T15:00"), ("delivered", "04T09:00")):
            at = march(f"{when}:00")
            data = {"waybill": order["data"]["waybill"], "status": status, "at": at}
            await post.js.publish(
                subjects.in_postal("shipment_status"), json.dumps(envelope("shipment_status", None, at, data)).encode()
            )
        await poll_until(lambda: fact_count(code, "returned"), timeout=30, message="returned by the post")

        # Operators: explain and the reconcile RPCs (nothing lost, so nothing to republish).
        explained = await operator.nc.request(
            subjects.RPC_DEADLINE_EXPLAIN, json.dumps({"dossier_code": code}).encode(), timeout=15
        )
        assert json.loads(explained.data)["ok"]
        for name, _ in SERVICES:
            answer = await operator.nc.request(reconcile_subject(name), b'{"dry_run": true}', timeout=60)
            report = json.loads(answer.data)
            assert report["ok"] and [s["missing"] for s in report["streams"]] == [0, 0], report

        # Every service published everything it had to: no outbox row left behind.
        db = await asyncpg.connect(database_url)
        try:

            async def unpublished() -> dict[str, int]:
                return {
                    name: await db.fetchval(f"SELECT count(*) FROM {name}.outbox WHERE published_at IS NULL")
                    for name, _ in SERVICES
                }

            await poll_until(lambda: _all_zero(unpublished()), timeout=30, message="every outbox row published")
            published = await db.fetchval(
                "SELECT count(*) FROM (SELECT 1 FROM deadline.outbox UNION ALL SELECT 1 FROM routing.outbox) x"
            )
            assert published > 5
        finally:
            await db.close()
    log = server_log(secure_nats)
    services_refused = [line for line in log.splitlines() if "Violation" in line and '"LIENTHONG/user:svc_' in line]
    assert services_refused == []


async def _all_zero(counts) -> bool:
    return not any((await counts).values())
