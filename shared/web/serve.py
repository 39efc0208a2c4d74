"""`lienthong serve`: run the operators' page with uvicorn (NATS_URL, JAEGER_UI_URL)."""

from __future__ import annotations

import argparse

from shared.cli import Command


def _configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8080, help="port to listen on (default 8080)")


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from shared.web.app import create_app

    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="info", proxy_headers=False)
    return 0


COMMANDS = [
    Command(
        "serve",
        "the operators' web page: on-time trend, lateness heatmap, hand-off waits, dossiers, AsyncAPI",
        _configure,
        run_serve,
    )
]
