"""`lienthong simulate`: a simulated district driven through the running services, checked against
its own ground truth.

The same code path serves `make demo` (shared/demo.py), which starts the services first:
`simulate_and_check` plays the scenario over NATS (shared/sim/driver.py), writes the ground truth
as JSON, asks the deadline service to explain every simulated dossier, prints the precision and
recall of the blamed stages, and prints the system's lateness report.

The services must be running on the catalog the simulator reads (LIENTHONG_CATALOG, default the
demo catalog). With LIENTHONG_CLOCK=simulated they follow the simulator's clock (`lt.sim.clock`)
and their alerts fire on simulated time; on the system clock the verdicts are the same (they come
from the events' business times), only "now" differs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path

import nats

from shared.calendar import VN_TZ, WorkCalendar
from shared.catalog import Catalog, default_catalog_path, load_catalog
from shared.cli import CliError, Command, format_report
from shared.contracts import subjects
from shared.settings import DEFAULT_NATS_URL, nats_servers
from shared.sim.driver import SimResult, simulate
from shared.sim.scenario import SIMULATION_START, SimConfig, simulated_procedures
from shared.sim.verify import Agreement, blamed_stages, compare, ground_truth, truth_document

DEFAULT_DOSSIERS = 3000
DEFAULT_WEEKS = 3
DEFAULT_SEED = 20260202


@dataclass(frozen=True)
class Checked:
    result: SimResult
    agreement: Agreement
    elapsed_seconds: float
    report: dict


def arrival_working_days(calendar: WorkCalendar, start: date, weeks: float) -> int:
    """Working days in the `weeks` calendar weeks from `start` (a holiday week has fewer)."""
    days = round(weeks * 7)
    return max(1, sum(1 for i in range(days) if calendar.is_working_day(start + timedelta(days=i))))


def config_for(
    calendar: WorkCalendar,
    *,
    dossiers: int,
    seed: int,
    start: date | None = None,
    weeks: float = DEFAULT_WEEKS,
    procedures: tuple[str, ...] = (),
    **overrides,
) -> SimConfig:
    """A SimConfig from the command's terms: arrivals over `weeks` calendar weeks from the first
    office hour of `start`."""
    day = start or SIMULATION_START.date()
    opening = calendar.next_opening(datetime(day.year, day.month, day.day, tzinfo=VN_TZ))
    return replace(
        SimConfig(),
        dossiers=dossiers,
        seed=seed,
        start=opening,
        arrival_working_days=arrival_working_days(calendar, day, weeks),
        procedures=procedures,
        **overrides,
    )


def write_truth(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(document, ensure_ascii=False, indent=1))
    tmp.replace(path)


async def simulate_and_check(
    nats_url: str,
    catalog: Catalog,
    config: SimConfig,
    *,
    truth_out: Path | None,
    progress: bool = True,
    run_tag: str | None = None,
    say: Callable[[str], None] = print,
) -> Checked:
    """Play the scenario, write the ground truth, compare the blamed stages, print the report."""
    say(
        f"• Mô phỏng (simulating) {config.dossiers} hồ sơ, đến từ {config.start:%d/%m/%Y} trong "
        f"{config.arrival_working_days} ngày làm việc (seed {config.seed})"
    )
    began = time.monotonic()
    result = await simulate(nats_url, catalog, config, progress=progress, run_tag=run_tag)
    elapsed = time.monotonic() - began
    say(
        f"• {result.published} sự kiện (events) trong {elapsed:.1f} s; {result.ticks} nhịp đồng hồ mô phỏng; "
        f"{result.postal_orders} lệnh phát bưu chính (delivery orders); {len(result.refused_inputs)} sự kiện bị từ chối"
    )
    say(f"• Cơ quan chậm (slow agencies, chosen by the simulator): {', '.join(sorted(result.world.slow_agencies))}")
    handoffs = ", ".join(f"{a} → {b}" for a, b in sorted(result.world.slow_handoffs))
    say(f"• Chuyển giao nằm chờ nhiều ngày (hand-offs that sit for days): {handoffs or '—'}")
    if truth_out is not None:
        write_truth(truth_out, truth_document(result, config, run_tag))
        say(f"• Sự thật (ground truth): {truth_out}")
    nc = await nats.connect(nats_servers(nats_url))
    try:
        codes = [s.code for s in result.scripts if s.code]
        agreement = compare(ground_truth(result.scripts), await blamed_stages(nc, codes))
        request = {"from": config.start.date().isoformat(), "to": None, "procedure": None, "agency": None}
        reply = await nc.request(subjects.RPC_DEADLINE_REPORT, json.dumps(request).encode(), timeout=60)
    finally:
        await nc.close()
    answer = json.loads(reply.data)
    if not answer.get("ok"):
        raise CliError(f"the deadline service refused the report: {answer.get('error')}")
    say(
        f"• Đối chiếu sự thật (ground truth vs. system): {agreement.truth} giai đoạn trễ do mô phỏng tạo ra; "
        f"hệ thống chỉ ra (blamed) {agreement.blamed}; khớp (matched) {agreement.matched}"
    )
    say(f"  precision = {agreement.precision:.3f}, recall = {agreement.recall:.3f}")
    if agreement.missing or agreement.spurious:
        say(f"  missing: {list(agreement.missing)[:5]}  spurious: {list(agreement.spurious)[:5]}")
    say("")
    say(format_report(answer["report"]))
    return Checked(result, agreement, elapsed, answer["report"])


def passed(agreement: Agreement, min_precision: float, min_recall: float) -> bool:
    return agreement.precision >= min_precision and agreement.recall >= min_recall


# ---- the command -------------------------------------------------------------------------------


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1, got {text!r}")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text!r}")
    return value


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dossiers", type=_positive, default=DEFAULT_DOSSIERS, help=f"default {DEFAULT_DOSSIERS}")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, help="the same seed gives the same scenario")
    p.add_argument(
        "--start",
        type=_date,
        default=SIMULATION_START.date(),
        help="first arrival day (default 2026-02-02, before Tết)",
    )
    p.add_argument("--weeks", type=float, default=DEFAULT_WEEKS, help="calendar weeks of arrivals (default 3)")
    p.add_argument("--procedure", action="append", default=[], help="simulate only this procedure (repeatable)")
    p.add_argument("--slow-agencies", type=int, default=SimConfig.slow_agency_count, help="chronically slow agencies")
    p.add_argument("--truth-out", type=Path, default=Path("sim-truth.json"), help="ground truth JSON (sim-truth.json)")
    p.add_argument("--min-precision", type=_share, default=1.0, help="exit 1 below this precision (default 1.0)")
    p.add_argument("--min-recall", type=_share, default=1.0, help="exit 1 below this recall (default 1.0)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument(
        "--load",
        type=_positive,
        metavar="N",
        help="load mode (shared/sim/load.py): push N whole dossiers of procedure 9.000001 through the services "
        "(running on tests/catalogs/basic.yaml) as fast as they take them, print events/s and latency; no check",
    )
    p.add_argument("--rate", type=float, help="with --load: inbound events per second (default: flat out)")


def run(args: argparse.Namespace) -> int:
    if args.load:
        return run_load_mode(args.load, args.rate)
    catalog = load_catalog(os.environ.get("LIENTHONG_CATALOG") or default_catalog_path())
    try:
        config = config_for(
            catalog.calendar,
            dossiers=args.dossiers,
            seed=args.seed,
            start=args.start,
            weeks=args.weeks,
            procedures=tuple(args.procedure),
            slow_agency_count=args.slow_agencies,
        )
        simulated_procedures(catalog, config)  # unknown procedure codes: one line, before connecting
        nats_url = _nats_url()
        checked = asyncio.run(
            simulate_and_check(nats_url, catalog, config, truth_out=args.truth_out, progress=not args.no_progress)
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    except (OSError, nats.errors.Error, TimeoutError) as exc:
        raise CliError(f"NATS: {type(exc).__name__}: {exc}; are the services running (make up)?") from None
    ok = passed(checked.agreement, args.min_precision, args.min_recall)
    if not ok:
        print(
            f"lienthong simulate: precision {checked.agreement.precision:.3f} / recall {checked.agreement.recall:.3f} "
            f"below {args.min_precision} / {args.min_recall}",
            file=sys.stderr,
        )
    return 0 if ok else 1


def run_load_mode(dossiers: int, rate: float | None) -> int:
    from shared.sim.load import EVENTS_PER_DOSSIER, percentile, run_load

    async def go():
        nc = await nats.connect(nats_servers(_nats_url()))
        try:
            return await run_load(nc, dossiers, rate=rate / EVENTS_PER_DOSSIER if rate else None)
        finally:
            await nc.close()

    try:
        result = asyncio.run(go())
    except (OSError, nats.errors.Error, TimeoutError, RuntimeError) as exc:
        raise CliError(f"load: {type(exc).__name__}: {exc}") from None
    lat = result.latencies_ms
    print(
        f"load: {result.dossiers:,} dossiers, {result.events:,} inbound events ({result.mean_payload} B mean) in "
        f"{result.seconds:.2f} s = {result.rate:,.0f} events/s; event -> fact latency p50 "
        f"{percentile(lat, 0.5):.0f} ms, p99 {percentile(lat, 0.99):.0f} ms"
    )
    return 0


def _nats_url() -> str:
    """NATS_URL, else the one `make up` wrote, else the default."""
    return os.environ.get("NATS_URL") or _make_up_nats_url() or DEFAULT_NATS_URL


def _make_up_nats_url(state: Path = Path(".run")) -> str | None:
    """NATS_URL from the `.run/env` that `make up` wrote, when run from the repository."""
    env = state / "env"
    if not env.exists():
        return None
    for line in env.read_text().splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and words[1].startswith("NATS_URL="):
            return words[1].split("=", 1)[1] or None
    return None


COMMANDS = [
    Command("simulate", "drive a simulated district through the services and check the blamed stages", configure, run)
]
