"""Fixtures of the fault suite: real worker processes on a real store, and pages that
behave as the browser does (tests/faults/browser.py) driving a live session
(tests/faults/show.py) while something breaks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.faults.browser import Crowd
from tests.faults.show import SETTINGS
from tests.system.conftest import Procs, Worker, http, procs, wait_healthy, worker_env

__all__ = ["http", "procs"]  # the system tests' fixtures, used here too


async def start_workers(
    procs: Procs, redis_url: str, data_dir: Path, n: int = 2, **settings: str
) -> list[Worker]:
    """n `podium worker` processes on their own ports sharing one store, all healthy, with
    the show's limits (and PODIUM_<KEY> settings on top)."""
    workers = []
    for i in range(n):
        port = free_port()
        env = worker_env(redis_url, port, data_dir)
        env.update({f"PODIUM_{key.upper()}": value for key, value in {**SETTINGS, **settings}.items()})
        workers.append(Worker(procs.start(["worker"], env, f"worker{i + 1}"), port))
    for w in workers:
        await wait_healthy(w.url, [w.proc])
    return workers


@pytest.fixture
async def crowd() -> AsyncIterator[Crowd]:
    """The test's pages; every one is closed at the end."""
    box = Crowd()
    try:
        yield box
    finally:
        await box.close()
