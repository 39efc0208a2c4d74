"""The ASGI app's routes that need no deadline service, and what it says when NATS is not there."""

from __future__ import annotations

import json
import socket

from shared.contracts.asyncapi import build_document
from shared.web.app import create_app
from shared.web.client import DeadlineClient
from tests.unit.web.asgi import get


def closed_port_url() -> str:
    """A NATS URL where nothing listens (a port just released by the OS)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"nats://127.0.0.1:{port}"


async def test_the_asyncapi_document_is_served_as_json_and_as_a_page():
    app = create_app(DeadlineClient(closed_port_url()))
    document = await get(app, "/asyncapi.json")
    assert document.status == 200 and document.headers["content-type"] == "application/json"
    assert json.loads(document.body) == build_document()
    page = await get(app, "/asyncapi")
    assert page.status == 200 and "lt.out.agency.{agency}.input_rejected" in page.text


async def test_without_nats_the_page_says_where_it_looked_and_health_says_not_connected():
    url = closed_port_url()
    client = DeadlineClient(url)
    app = create_app(client)
    page = await get(app, "/")
    assert page.status == 503
    assert f"cannot reach NATS at {url}" in page.text and "services.deadline" in page.text
    assert (await get(app, f"/dossiers/{'T01.00.01.X99-260302-0001'}")).status == 503
    assert json.loads((await get(app, "/healthz")).body) == {"ok": True, "nats": "not connected"}
    await client.close()


async def test_an_unknown_path_is_not_found():
    assert (await get(create_app(DeadlineClient(closed_port_url())), "/nothing-here")).status == 404
