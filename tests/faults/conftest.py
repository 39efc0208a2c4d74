"""Fault-test fixtures: private labs, killed completely on teardown (see lab.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.faults.lab import Lab

MakeLab = Callable[..., Awaitable[Lab]]


@pytest.fixture(scope="module")
async def make_lab(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[MakeLab]:
    """`await make_lab(name, **options)` starts a lab (servers and services); every lab made is
    closed when the module ends, whether its tests passed or not, and must leave no process."""
    labs: list[Lab] = []

    async def make(name: str, **options) -> Lab:
        lab = Lab(tmp_path_factory.mktemp(name), **options)
        labs.append(lab)
        await asyncio.to_thread(lab.start)
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            await asyncio.to_thread(lab.close)
        orphans = [pid for lab in labs for pid in lab.alive()]
        assert not orphans, f"the fault lab left processes running: {orphans}"
