"""Fault-test fixtures: a private lab per test, killed completely on teardown (see lab.py)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from tests.faults.lab import Lab


@pytest.fixture
async def make_lab(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Callable[..., Lab]]:
    """`make_lab(name, **options)` starts a lab (servers and services); every lab made is closed
    at teardown, whether the test passed or not, and must leave no process running."""
    labs: list[Lab] = []

    async def make(name: str, *, start_services: bool = True, **options) -> Lab:
        lab = Lab(tmp_path_factory.mktemp(name), **options)
        labs.append(lab)
        await asyncio.to_thread(lab.start if start_services else lab.start_servers)
        return lab

    try:
        yield make
    finally:
        for lab in labs:
            await asyncio.to_thread(lab.close)
        orphans = [pid for lab in labs for pid in lab.alive()]
        assert not orphans, f"the fault lab left processes running: {orphans}"
