"""Checks the system's verdicts against the simulator's ground truth."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from nats.aio.client import Client

from shared.contracts import subjects
from shared.sim.scenario import DossierScript, SimConfig

if TYPE_CHECKING:
    from shared.sim.driver import SimResult


@dataclass(frozen=True)
class Agreement:
    truth: int
    blamed: int
    matched: int
    missing: tuple[tuple[str, int], ...]
    spurious: tuple[tuple[str, int], ...]

    @property
    def precision(self) -> float:
        return self.matched / self.blamed if self.blamed else 1.0

    @property
    def recall(self) -> float:
        return self.matched / self.truth if self.truth else 1.0


def compare(truth: set[tuple[str, int]], blamed: set[tuple[str, int]]) -> Agreement:
    matched = truth & blamed
    return Agreement(
        truth=len(truth),
        blamed=len(blamed),
        matched=len(matched),
        missing=tuple(sorted(truth - blamed)),
        spurious=tuple(sorted(blamed - truth)),
    )


def ground_truth(scripts: list[DossierScript]) -> set[tuple[str, int]]:
    return {(s.code, k) for s in scripts if s.code for k in s.late_stages}


async def blamed_stages(nc: Client, codes: list[str], concurrency: int = 32) -> set[tuple[str, int]]:
    """Ask the deadline service to explain every dossier; collect the stages it blames."""
    blamed: set[tuple[str, int]] = set()
    gate = asyncio.Semaphore(concurrency)

    async def explain(code: str) -> None:
        async with gate:
            reply = await nc.request(subjects.RPC_DEADLINE_EXPLAIN, json.dumps({"dossier_code": code}).encode(), 30)
        answer = json.loads(reply.data)
        if not answer.get("ok"):
            raise RuntimeError(f"explain {code}: {answer.get('error')}")
        for item in answer["explanation"]["blamed"]:
            blamed.add((code, item["stage_index"]))

    await asyncio.gather(*(explain(code) for code in codes))
    return blamed


def truth_document(result: SimResult, config: SimConfig, run_tag: str | None = None) -> dict[str, Any]:
    """The simulator's ground truth as JSON: the world it chose and, per dossier, which stages it
    made late and by how many working hours. Identifiers and times only: no personal data."""
    settings = {
        k: (v.isoformat() if isinstance(v, datetime) else list(v) if isinstance(v, tuple) else v)
        for k, v in asdict(config).items()
    }
    world = result.world
    dossiers = [
        {
            "index": s.index,
            "code": s.code,
            "procedure": s.procedure,
            "receiving_agency": s.receiving_agency,
            "return_method": s.return_method,
            "submitted_at": s.submitted_at.isoformat(),
            "ends": s.ends,
            "actions": len(s.actions),
            "late_stages": [
                {"stage_index": k, "overrun_working_hours": round(seconds / 3600, 4)}
                for k, seconds in sorted(s.late_stages.items())
            ],
        }
        for s in result.scripts
    ]
    return {
        "seed": config.seed,
        "run_tag": run_tag,
        "config": settings,
        "world": {
            "slow_agencies": sorted(world.slow_agencies),
            "slow_handoffs": [list(pair) for pair in sorted(world.slow_handoffs)],
            "pace": {agency: list(bounds) for agency, bounds in sorted(world.pace.items())},
        },
        "late_stages": sum(len(d["late_stages"]) for d in dossiers),
        "dossiers": dossiers,
    }
