"""Checks the system's verdicts against the simulator's ground truth."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

from nats.aio.client import Client

from shared.contracts import subjects
from shared.sim.scenario import DossierScript


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
