"""The operators' page: a small Starlette (ASGI) app.

Starlette because the page is five routes over request/reply: it is the small, well-kept toolkit
FastAPI is built on (routing, responses, lifespan) without an ORM or a template engine to carry;
the HTML and SVG are built by pure functions (views.py, charts.py, gantt.py) that tests read
directly. It reads no table: every figure comes from the deadline service over NATS
(`lt.rpc.deadline.*`), like the `lienthong` command.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from shared.cli import DEFAULT_JAEGER_UI_URL
from shared.contracts import subjects
from shared.contracts.asyncapi import build_document
from shared.settings import DEFAULT_NATS_URL
from shared.web import views
from shared.web.asyncapi_view import asyncapi_page
from shared.web.client import DeadlineClient, RequestRefused, ServiceUnavailable
from shared.web.layout import error_page

FILTERS = ("from", "to", "procedure", "agency")


def _filters(request: Request) -> dict[str, Any]:
    """The query's filters as the service expects them: absent or empty means no filter."""
    return {key: request.query_params.get(key) or None for key in FILTERS}


def create_app(client: DeadlineClient | None = None, jaeger_url: str | None = None) -> Starlette:
    client = client or DeadlineClient(os.environ.get("NATS_URL", DEFAULT_NATS_URL))
    jaeger = jaeger_url or os.environ.get("JAEGER_UI_URL", DEFAULT_JAEGER_UI_URL)
    document = build_document()  # docs/asyncapi.json's generator: an installed package needs no docs/

    async def overview(request: Request) -> Response:
        query = _filters(request)
        trend, heat, handoffs, dossiers = await asyncio.gather(
            client.ask(subjects.RPC_DEADLINE_TREND, query, "trend"),
            client.ask(subjects.RPC_DEADLINE_HEATMAP, query, "heatmap"),
            client.ask(subjects.RPC_DEADLINE_HANDOFFS, query, "handoffs"),
            client.ask(subjects.RPC_DEADLINE_DOSSIERS, query, "dossiers"),
        )
        window = {**query, "from": trend["from"], "to": trend["to"]}  # the same window as the charts
        report = await client.ask(subjects.RPC_DEADLINE_REPORT, window, "report")
        return HTMLResponse(views.overview(report, trend, heat, handoffs, dossiers))

    async def dossier(request: Request) -> Response:
        code = request.path_params["code"]
        try:
            explained = await client.ask(subjects.RPC_DEADLINE_EXPLAIN, {"dossier_code": code}, "explanation")
        except RequestRefused as exc:
            return HTMLResponse(error_page(f"Hồ sơ {code}", str(exc)), status_code=404)
        return HTMLResponse(views.dossier(explained, jaeger))

    async def asyncapi_html(request: Request) -> Response:
        return HTMLResponse(asyncapi_page(document))

    async def asyncapi_json(request: Request) -> Response:
        return JSONResponse(document)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True, "nats": "connected" if client.connected else "not connected"})

    async def unavailable(request: Request, exc: Exception) -> Response:
        message = f"{exc}. Trang cần dịch vụ deadline (the page needs services.deadline running)."
        return HTMLResponse(error_page("Không lấy được số liệu (figures unavailable)", message), status_code=503)

    async def refused(request: Request, exc: Exception) -> Response:
        return HTMLResponse(error_page("Yêu cầu không hợp lệ (bad request)", str(exc)), status_code=400)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await client.close()

    return Starlette(
        routes=[
            Route("/", overview),
            Route("/dossiers/{code}", dossier),
            Route("/asyncapi", asyncapi_html),
            Route("/asyncapi.json", asyncapi_json),
            Route("/healthz", healthz),
        ],
        exception_handlers={ServiceUnavailable: unavailable, RequestRefused: refused},
        lifespan=lifespan,
    )
