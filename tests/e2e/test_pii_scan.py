"""No personal data in any exported byte or log line (CONTRACT.md §4; issue 5).

Dossiers are submitted with distinctive, random names, ID numbers, phone numbers, e-mail and
delivery addresses (through intake's request/reply and through its JetStream input), routed,
returned by the post (one delivery fails first, so the order is sent twice), to the end. Then
every OTLP request body the four services sent to the receiver (as sent and decompressed, and
the decoded span strings) and every line the four processes wrote are scanned for each secret in
every encoding it could plausibly take; none may appear. The address is also watched on NATS:
outside our own inputs it may travel only in the delivery order's body (and in intake's reply to
the postal service's request for it, which is how the order gets it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import string
import unicodedata
from collections.abc import Iterator

import pytest

from shared.contracts import subjects
from tests.e2e.conftest import stop_services
from tests.e2e.test_traces import COMMUNE, LABOUR, Driver, march
from tests.otlp_receiver import strings_of
from tests.support import connect, envelope, poll_until

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
    }


def secrets_of(p: dict[str, str]) -> list[str]:
    """The strings that must not leak, whole and by their random part (a partial leak counts)."""
    out = list(p.values())
    out += [p["full_name"].split()[-1], p["recipient"].split()[-1], p["street"].split()[3]]
    out += [p["phone"].replace(" ", ""), p["id_number"][4:], p["email"].split("@")[0]]
    return out


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


@pytest.mark.timeout(180)
async def test_no_personal_data_in_any_exported_byte_or_log_line(traced_services):
    rng = random.Random()  # a fresh secret every run: nothing can be tuned to it
    people = [person(rng) for _ in range(3)]
    secrets = [s for p in people for s in secrets_of(p)]
    address_secrets = [p["street"] for p in people] + [p["street"].split()[3] for p in people]

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
        await drive.tick("20T08:00:00")  # past every due time: the sweeps' logs and markers too
        await asyncio.sleep(1.0)
    finally:
        await nc.close()
    stop_services(traced_services.running)  # SIGTERM: each flushes its spans and logs

    receiver = traced_services.receiver
    spans = receiver.snapshot()
    assert {s.service for s in spans} >= {"intake", "routing", "deadline", "postal"}, "every service exported"
    assert {c for c in codes} <= {s.attributes.get("lienthong.dossier.code") for s in spans}
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

    # On NATS, the address leaves intake only for the post: in the delivery order's body.
    our_inputs = (subjects.RPC_INTAKE_SUBMIT, subjects.in_agency(COMMUNE, "submitted"))
    address_replies = {reply for subject, reply, _ in seen if subject == subjects.RPC_INTAKE_DELIVERY_ADDRESS}
    carriers = {subject for subject, _, data in seen if leaks(data, address_secrets)}
    assert subjects.out_postal("delivery_order") in carriers
    assert carriers - set(our_inputs) - address_replies == {subjects.out_postal("delivery_order")}, carriers
    orders = [data for subject, _, data in seen if subject == subjects.out_postal("delivery_order")]
    for p in people:
        assert any(p["street"].encode() in data for data in orders), "each address reached the post"


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


def _order_count(seen, code: str) -> int:
    return sum(
        1
        for s, _, data in seen
        if s == subjects.out_postal("delivery_order") and json.loads(data)["data"]["dossier_code"] == code
    )
