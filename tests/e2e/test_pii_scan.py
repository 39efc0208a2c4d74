"""No personal data in any exported byte, log line, table or message (CONTRACT.md §4; issues 5, 6).

Dossiers are submitted with distinctive, random names, ID numbers, phone numbers, e-mail and
delivery addresses (through intake's request/reply and through its JetStream input), routed,
returned by the post (one delivery fails first, so the order is sent twice), to the end. One more
citizen asks for a postal pickup (a pickup address of their own), and their result, after two failed
deliveries, goes back to the commune's counter; a pickup request from an agency no catalog knows is
dead-lettered. Then every OTLP request body the four services sent to the receiver (as sent and
decompressed, and the decoded span strings) and every line the four processes wrote are scanned for
each secret in every encoding it could plausibly take; none may appear. So is every row of every
table outside intake's schema (the only place personal data is kept): routing's, deadline's and
postal's, their inboxes, outboxes and dead letters included. On NATS, the addresses travel only in
the delivery and pickup orders' bodies (and in intake's reply to the postal service's request for
one, which is how the delivery order gets it): every message seen on the wire and every message
stored in LT_EVT and LT_OUT is checked.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import string
import unicodedata
from collections.abc import Iterator

import asyncpg
import pytest

from shared.contracts import subjects
from tests.e2e.conftest import stop_services
from tests.e2e.test_traces import COMMUNE, LABOUR, Driver, march
from tests.otlp_receiver import strings_of
from tests.support import connect, envelope, poll_until, publish_agency

pytestmark = pytest.mark.e2e


def _token(rng: random.Random, n: int = 7) -> str:
    return rng.choice(string.ascii_uppercase) + "".join(rng.choice(string.ascii_lowercase) for _ in range(n - 1))


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def person(rng: random.Random) -> dict[str, str]:
    """A citizen no other test has: every field carries a random part."""
    mobile = "09" + _digits(rng, 8)
    return {
        "full_name": f"Nguyễn Văn {_token(rng)}",
        "id_number": "0799" + _digits(rng, 8),
        "phone": f"{mobile[:4]} {mobile[4:7]} {mobile[7:]}",
        "email": f"{_token(rng).lower()}.{_digits(rng, 4)}@thu-nghiem.vn",
        "street": f"Số {_digits(rng, 3)} Đường {_token(rng)} Ướt",
        "recipient": f"Trần Thị {_token(rng)}",
        "recipient_phone": "03" + _digits(rng, 8),
        "pickup_street": f"Ngõ {_digits(rng, 3)} Phố {_token(rng)} Khô",
    }


def secrets_of(p: dict[str, str]) -> list[str]:
    """The strings that must not leak, whole and by their random part (a partial leak counts)."""
    out = list(p.values())
    out += [
        p["full_name"].split()[-1],
        p["recipient"].split()[-1],
        p["street"].split()[3],
        p["pickup_street"].split()[3],
    ]
    out += [p["phone"].replace(" ", ""), p["id_number"][4:], p["email"].split("@")[0]]
    return out


def address_secrets_of(p: dict[str, str]) -> list[str]:
    """What an order may carry: the delivery and pickup addresses (with their recipient)."""
    return [p["street"], p["street"].split()[3], p["pickup_street"], p["pickup_street"].split()[3],
            p["recipient"], p["recipient"].split()[-1], p["recipient_phone"]]  # fmt: skip


def encodings(secret: str) -> Iterator[bytes]:
    """`secret` as bytes in every form a log or an exporter could give it."""
    for form in {secret, unicodedata.normalize("NFC", secret), unicodedata.normalize("NFD", secret)}:
        yield form.encode("utf-8")
        yield form.encode("utf-16-le")
        yield form.encode("utf-16-be")
        yield json.dumps(form)[1:-1].encode()  # ASCII JSON: \\u1ec5 ...
        yield form.encode("unicode_escape")  # Python repr-like: \\u1ec5, \\xe0
        yield repr(form.encode("utf-8"))[2:-1].encode()  # a bytes repr in a log: \\xe1\\xbb\\x85
        yield base64.b64encode(form.encode("utf-8"))
        yield form.encode("utf-8").hex().encode()
        ascii_only = unicodedata.normalize("NFD", form).encode("ascii", errors="ignore")  # "Nguyen Van ..."
        if len(ascii_only) >= 6:
            yield ascii_only


def leaks(blob: bytes, secrets: list[str]) -> list[str]:
    lowered = blob.lower()
    found = []
    for secret in secrets:
        for pattern in encodings(secret):
            if pattern and (pattern in blob or pattern.lower() in lowered):
                found.append(secret)
                break
    return found


@pytest.mark.timeout(300)
async def test_no_personal_data_in_any_exported_byte_or_log_line(traced_services):
    rng = random.Random()  # a fresh secret every run: nothing can be tuned to it
    people = [person(rng) for _ in range(5)]  # 4: postal intake; 5: a pickup request dead-lettered
    secrets = [s for p in people for s in secrets_of(p)]
    address_secrets = [s for p in people for s in address_secrets_of(p)]
    applicant_secrets = [s for s in secrets if s not in address_secrets]

    nc, js = await connect(traced_services.running.nats_url)
    seen: list[tuple[str, str | None, bytes]] = []

    async def on_any(msg) -> None:
        seen.append((msg.subject, msg.reply or None, msg.data))

    await nc.subscribe(">", cb=on_any)
    drive = Driver(nc, js)

    def submitted(p: dict[str, str]) -> dict:
        return {
            "external_ref": f"pii-{_digits(rng, 10)}",
            "procedure": "9.000003",
            "channel": "counter",
            "return_method": "postal",
            "applicant": {"kind": "citizen", "full_name": p["full_name"], "id_number": p["id_number"],
                          "phone": p["phone"], "email": p["email"]},
            "delivery_address": {"line": p["street"], "commune": "Xã Thử Một", "province": "Tỉnh Thử",
                                 "recipient": p["recipient"], "phone": p["recipient_phone"]},
        }  # fmt: skip

    try:
        await drive.tick("02T07:30:00")
        codes = [await drive.submit_data("02T08:00:00", submitted(people[0]))]
        codes.append(await drive.submit_data("02T08:10:00", submitted(people[1])))
        # The third through intake's JetStream input (its consumer's message span sees the body).
        body = envelope("submitted", COMMUNE, march("02T08:20:00"), submitted(people[2]))
        await js.publish(
            subjects.in_agency(COMMUNE, "submitted"),
            json.dumps(body, ensure_ascii=False).encode(),
            headers={"Nats-Msg-Id": body["event_id"]},
        )
        routed = await poll_until(lambda: _codes_of(seen, "lt.evt.dossier.routed", 3), timeout=20, message="routed")
        codes = sorted(set(codes) | set(routed))
        assert len(codes) == 3

        for code in codes:
            await drive.act(COMMUNE, "stage_completed", code, "02T15:00:00", outcome="forward")
        for code in codes:
            await drive.act(LABOUR, "stage_completed", code, "04T10:00:00", outcome="result_ready")
        waybills = await poll_until(lambda: _orders(seen, codes), timeout=20, message="delivery orders")
        first = waybills[codes[0]]
        for status, when in (("accepted", "04T14:00:00"), ("picked_up", "04T15:00:00"),
                             ("in_transit", "05T08:00:00"), ("delivery_failed", "05T10:00:00")):  # fmt: skip
            await drive.shipment(first, status, when)
        await poll_until(lambda: _order_count(seen, codes[0]) >= 2, timeout=20, message="the second order")
        for waybill in waybills.values():
            for status, when in (("accepted", "06T08:00:00"), ("picked_up", "06T09:00:00"),
                                 ("in_transit", "06T10:00:00"), ("delivered", "06T14:00:00")):  # fmt: skip
                await drive.shipment(waybill, status, when)
        await poll_until(
            lambda: len(_codes_of(seen, "lt.evt.dossier.returned", 3)) == 3, timeout=20, message="returned"
        )

        # Postal intake: the pickup address goes to the post in the pickup order's body only.
        intake_ref = f"pii-{_digits(rng, 10)}"
        where = {"line": people[3]["pickup_street"], "commune": "Xã Thử Một", "recipient": people[3]["recipient"],
                 "phone": people[3]["recipient_phone"]}  # fmt: skip
        pickup = {"procedure": "9.000003", "external_ref": intake_ref, "pickup_address": where}
        await drive.tick("06T15:00:00")
        await publish_agency(js, COMMUNE, envelope("pickup_requested", COMMUNE, march("06T15:00:00"), pickup))
        pickup_waybill = await poll_until(lambda: _pickup_waybill(seen, intake_ref), timeout=20, message="pickup")
        for status, when in (("accepted", "06T16:00:00"), ("picked_up", "09T08:00:00"), ("delivered", "09T10:00:00")):
            await drive.shipment(pickup_waybill, status, when)
        await drive.tick("09T11:00:00")
        fourth = {**submitted(people[3]), "channel": "postal", "external_ref": intake_ref,
                  "postal_waybill": pickup_waybill}  # fmt: skip
        codes.append(await drive.submit_data("09T11:00:00", fourth))
        await drive.act(COMMUNE, "stage_completed", codes[3], "09T14:00:00", outcome="forward")
        await drive.act(LABOUR, "stage_completed", codes[3], "10T10:00:00", outcome="result_ready")
        delivery = (await poll_until(lambda: _orders(seen, codes[3:]), timeout=20, message="order"))[codes[3]]
        await drive.shipment(delivery, "accepted", "10T14:00:00")
        await drive.shipment(delivery, "delivery_failed", "10T16:00:00")
        await poll_until(lambda: _order_count(seen, codes[3]) >= 2, timeout=20, message="the fourth's second order")
        await drive.shipment(delivery, "delivery_failed", "11T10:00:00")  # no attempt left: back to the counter
        await poll_until(lambda: _returns_to_counter(seen, codes[3]), timeout=20, message="back at the counter")
        await drive.act(COMMUNE, "result_returned", codes[3], "11T15:00:00")
        # A pickup request from an agency no catalog knows: dead-lettered by postal, address not kept.
        stranger = {**pickup, "external_ref": f"pii-{_digits(rng, 10)}",
                    "pickup_address": {"line": people[4]["pickup_street"]}}  # fmt: skip
        unknown_agency = "lt.in.agency.XX_99_99_X99.pickup_requested"
        body = envelope("pickup_requested", "XX.99.99.X99", march("11T15:00:00"), stranger)
        await js.publish(unknown_agency, json.dumps(body, ensure_ascii=False).encode())
        await poll_until(lambda: len(_codes_of(seen, "lt.evt.dossier.returned", 4)) == 4, timeout=20, message="4th")
        await poll_until(
            lambda: [1 for s, _, _ in seen if s == subjects.dead_letter("postal")], timeout=20, message="dead letter"
        )
        await drive.tick("20T08:00:00")  # past every due time: the sweeps' logs and markers too
        await asyncio.sleep(1.0)
    finally:
        await nc.close()
    stop_services(traced_services.running)  # SIGTERM: each flushes its spans and logs

    receiver = traced_services.receiver
    spans = receiver.snapshot()
    assert {s.service for s in spans} >= {"intake", "routing", "deadline", "postal"}, "every service exported"
    assert {c for c in codes} <= {s.attributes.get("lienthong.dossier.code") for s in spans}
    # The fourth dossier's trace shows both its postal legs (pickup, and the delivery that went back).
    legs = {(s.name, s.attributes.get("lienthong.postal.status")) for s in spans
            if s.attributes.get("lienthong.dossier.code") == codes[3] and s.name.startswith("postal ")}  # fmt: skip
    assert legs == {("postal pickup", "delivered"), ("postal delivery", "back_at_counter")}, legs
    assert "span not emitted" not in traced_services.running.log_text()
    requests = receiver.raw()
    assert requests and all(r.status == 200 for r in requests), [(r.path, r.status) for r in requests]

    for r in requests:
        assert leaks(r.wire, secrets) == [], f"OTLP request {r.seq} to {r.path} (as sent)"
        assert leaks(r.body, secrets) == [], f"OTLP request {r.seq} to {r.path}"
    decoded = "\n".join(strings_of(spans)).encode("utf-8")
    assert leaks(decoded, secrets) == [], "decoded span names, attributes, events or links"
    for name, path in traced_services.running.logs.items():
        text = path.read_bytes()
        assert text, f"{name} wrote no log at all"
        assert leaks(text, secrets) == [], f"log of {name}"

    # On NATS, the address leaves intake only for the post: in the delivery and pickup orders' bodies.
    orders_subjects = {subjects.out_postal("delivery_order"), subjects.out_postal("pickup_order")}
    our_inputs = (subjects.RPC_INTAKE_SUBMIT, subjects.in_agency(COMMUNE, "submitted"),
                  subjects.in_agency(COMMUNE, "pickup_requested"), unknown_agency)  # fmt: skip
    address_replies = {reply for subject, reply, _ in seen if subject == subjects.RPC_INTAKE_DELIVERY_ADDRESS}
    carriers = {subject for subject, _, data in seen if leaks(data, address_secrets)}
    assert carriers - set(our_inputs) - address_replies == orders_subjects, carriers
    assert {subject for subject, _, data in seen if leaks(data, applicant_secrets)} <= set(our_inputs)
    orders = [data for subject, _, data in seen if subject == subjects.out_postal("delivery_order")]
    for p in people[:4]:
        assert any(p["street"].encode() in data for data in orders), "each address reached the post"
    pickups = [data for subject, _, data in seen if subject == subjects.out_postal("pickup_order")]
    assert len(pickups) == 1 and people[3]["pickup_street"].encode() in pickups[0]

    # Everything the streams keep of our facts and outbound messages (not only what was seen on
    # the wire while the test listened): addresses only in the orders' bodies, nothing else at all.
    nc, js = await connect(traced_services.running.nats_url)
    try:
        for stream in ("LT_EVT", "LT_OUT"):
            stored = await _stored(js, stream)
            assert stored, stream
            allowed = orders_subjects if stream == "LT_OUT" else set()
            assert {subject for subject, data in stored if leaks(data, secrets)} <= allowed, stream
            assert [subject for subject, data in stored if leaks(data, applicant_secrets)] == [], stream
        assert len([1 for subject, _ in await _stored(js, "LT_OUT") if subject in orders_subjects]) == 7
    finally:
        await nc.close()

    # Every table outside intake's schema, every row, every column (bytea as hex: the outbox's
    # payloads and the dead letters' bodies included).
    db = await asyncpg.connect(traced_services.running.database_url)
    try:
        tables = await db.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('intake', 'pg_catalog', 'information_schema') ORDER BY 1, 2"
        )
        schemas = {r["table_schema"] for r in tables}
        assert {"routing", "deadline", "postal"} <= schemas, schemas
        scanned = 0
        for r in tables:
            rows = await db.fetch(f'SELECT t::text AS row FROM "{r["table_schema"]}"."{r["table_name"]}" t')
            scanned += len(rows)
            text = "\n".join(row["row"] for row in rows).encode("utf-8")
            assert leaks(text, secrets) == [], f"table {r['table_schema']}.{r['table_name']}"
        dead = await db.fetch("SELECT reason, body FROM postal.dead_letters")
        assert [(d["reason"], b"redacted" in d["body"]) for d in dead] == [
            ("subject 'lt.in.agency.XX_99_99_X99.pickup_requested': agency token 'XX_99_99_X99' is not in the catalog",
             True),
        ]  # fmt: skip
        assert scanned > 100
    finally:
        await db.close()


def _codes_of(seen, subject: str, at_least: int) -> list[str]:
    codes = []
    for s, _, data in seen:
        if s == subject:
            code = json.loads(data).get("dossier_code")
            if code and code not in codes:
                codes.append(code)
    return codes if len(codes) >= at_least else []


def _orders(seen, codes: list[str]) -> dict[str, str]:
    found = {}
    for s, _, data in seen:
        if s == subjects.out_postal("delivery_order"):
            d = json.loads(data)["data"]
            found.setdefault(d["dossier_code"], d["waybill"])
    return found if set(codes) <= set(found) else {}


def _pickup_waybill(seen, external_ref: str) -> str | None:
    for s, _, data in seen:
        if s == subjects.out_postal("pickup_order") and json.loads(data)["data"]["external_ref"] == external_ref:
            return json.loads(data)["data"]["waybill"]
    return None


def _returns_to_counter(seen, code: str) -> list[dict]:
    """The post's `assigned` (purpose return, from no agency) bringing the result back to the counter."""
    found = []
    for s, _, data in seen:
        body = json.loads(data) if s.endswith(".assigned") else None
        if body and body["dossier_code"] == code and body["data"]["from_agency"] is None:
            found.append(body)
    return found


async def _stored(js, stream: str) -> list[tuple[str, bytes]]:
    """Every message a stream holds, by sequence."""
    state = (await js.stream_info(stream)).state
    return [
        (m.subject, m.data)
        for m in [await js.get_msg(stream, seq) for seq in range(state.first_seq, state.last_seq + 1)]
    ]


def _order_count(seen, code: str) -> int:
    return sum(
        1
        for s, _, data in seen
        if s == subjects.out_postal("delivery_order") and json.loads(data)["data"]["dossier_code"] == code
    )
