"""The operators' page in a real headless Chromium: the deadline service runs in-process on the
simulated clock with a district's recorded facts, the page runs under uvicorn, and Chromium
renders the overview and a late dossier's page; their screenshots must be real, non-blank images
and the rendered DOM must hold the heatmap and the timeline with the late stage marked.

Set LIENTHONG_SCREENSHOTS=<dir> to keep the screenshots for a look."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import struct
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import uvicorn

from services.deadline.app import build_runtime
from shared.web.app import create_app
from shared.web.client import DeadlineClient
from tests.harness import running, settings_for
from tests.integration.test_deadline import Env
from tests.support import collect, connect
from tests.unit.deadline.common import LABOUR_OFFICE
from tests.unit.web.stories import AT_RISK, LATE, NOW, PAUSED_PROVINCE, STAGE_OVERDUE, district, generated_weeks

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's `chromium` package (apt-get install -y chromium)"),
    pytest.mark.timeout(240),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.asynccontextmanager
async def serving(app, port: int) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started or task.done():
                break
            await asyncio.sleep(0.05)
        if task.done():
            task.result()
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)


async def chromium(profile: Path, *args: str) -> bytes:
    """Run headless Chromium once; its stdout (the DOM for --dump-dom)."""
    process = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
        f"--user-data-dir={profile}", "--window-size=1400,1800", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), 90)
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """(width, height, rows of RGB(A) bytes) of an 8-bit truecolour PNG, with the stdlib only."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        header = chunk if kind == b"IHDR" else header
        idat += [chunk] if kind == b"IDAT" else []
        pos += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    assert depth == 8 and colour in (2, 6), f"unexpected PNG format: depth {depth}, colour type {colour}"
    bpp = 3 if colour == 2 else 4
    raw, stride, rows, prev = zlib.decompress(b"".join(idat)), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a, b = line[i - bpp] if i >= bpp else 0, prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + b) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xFF
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        rows.append(bytes(line))
        prev = line
    return width, height, rows


def check_screenshot(path: Path) -> set[tuple[int, ...]]:
    """A real, non-blank screenshot: a PNG of the window's size with many distinct colours."""
    data = path.read_bytes()
    assert len(data) > 30_000, f"{path.name}: only {len(data)} bytes"
    width, height, rows = png_pixels(data)
    assert (width, height) == (1400, 1800)
    bpp = len(rows[0]) // width
    colours = {tuple(row[i : i + 3]) for row in rows[::4] for i in range(0, len(row), bpp * 4)}
    assert len(colours) > 40, f"{path.name} looks blank: {len(colours)} colours"
    return colours


@pytest.fixture
async def district_served(fresh_streams: str, database_url: str):
    async with running(build_runtime, settings_for(fresh_streams, database_url, clock="simulated")) as runtime:
        nc, js = await connect(fresh_streams)
        db = await asyncpg.connect(database_url)
        env = Env(runtime, nc, js, db, await collect(nc, "lt.evt.deadline.>"), await collect(nc, "lt.out.agency.>"))
        stories = district() + generated_weeks()
        for story in stories:
            await env.publish(story)
        for story in stories:
            await env.settled(story.code)
        await env.settled(LATE, status="returned")
        await env.settled(PAUSED_PROVINCE, status="result_ready")
        await env.settled(AT_RISK, open_stage=2)
        await env.tick(NOW)
        yield env
        await db.close()
        await nc.close()


async def test_the_page_renders_the_heatmap_and_a_late_dossiers_timeline_in_chromium(district_served, tmp_path):
    client = DeadlineClient(district_served.runtime.settings.nats_url)
    async with serving(create_app(client, "http://jaeger.test:16686"), free_port()) as base:
        overview_png, dossier_png = tmp_path / "overview.png", tmp_path / "dossier.png"
        await chromium(tmp_path / "p1", f"--screenshot={overview_png}", f"{base}/")
        await chromium(tmp_path / "p2", f"--screenshot={dossier_png}", f"{base}/dossiers/{LATE}")
        overview_dom = (await chromium(tmp_path / "p3", "--dump-dom", f"{base}/")).decode()
        dossier_dom = (await chromium(tmp_path / "p4", "--dump-dom", f"{base}/dossiers/{LATE}")).decode()
        asyncapi_dom = (await chromium(tmp_path / "p5", "--dump-dom", f"{base}/asyncapi")).decode()
        keep = os.environ.get("LIENTHONG_SCREENSHOTS")
        if keep:  # whole pages, for people to look at
            pages = (("overview-full", "/"), ("asyncapi", "/asyncapi"), ("paused", f"/dossiers/{PAUSED_PROVINCE}"))
            for name, path in pages:
                shot = Path(keep) / f"{name}.png"
                shot.parent.mkdir(parents=True, exist_ok=True)
                await chromium(tmp_path / name, f"--screenshot={shot}", "--window-size=1400,4200", f"{base}{path}")

    assert '<svg id="heatmap"' in overview_dom
    assert f'data-agency="{LABOUR_OFFICE}" data-role="process"' in overview_dom
    assert '<svg id="trend-procedure"' in overview_dom and "<polyline" in overview_dom
    assert '<svg id="handoffs"' in overview_dom
    assert f'href="/dossiers/{STAGE_OVERDUE}"' in overview_dom
    assert '<svg id="timeline"' in dossier_dom
    assert 'class="stage late" data-stage-index="1" data-late="true"' in dossier_dom
    assert 'class="processing late"' in dossier_dom and 'fill="#dc2626"' in dossier_dom
    assert 'id="trace-link" href="http://jaeger.test:16686/trace/84ea5c9adac712b99fd0210c0b1300ea"' in dossier_dom
    assert "lt.in.agency.{agency}.submitted" in asyncapi_dom and "lt.evt.deadline.overdue" in asyncapi_dom

    overview_colours = check_screenshot(overview_png)
    dossier_colours = check_screenshot(dossier_png)
    assert (220, 38, 38) in dossier_colours, "the late stage's red bar is not on the dossier's screenshot"
    assert any(r > 150 and g < 120 and b < 60 for r, g, b in overview_colours), "no hot heatmap cell on screen"
    if keep:
        for png in (overview_png, dossier_png):
            shutil.copy(png, Path(keep) / png.name)
