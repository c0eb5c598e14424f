"""`podium serve --workers 2`: a scrape of /metrics, whichever worker answers it, sums both
workers; a killed worker's counters stay in the sums and its gauges leave them; the
directory the workers share their values in lasts one run."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import aiohttp
import pytest

from server.store import keys
from server.store.connection import connect
from tests.conftest import Api, free_port
from tests.realtime.test_metrics import Samples, labelled, parse, value
from tests.system.conftest import (
    SECRET,
    Clients,
    Procs,
    base_env,
    children,
    cmdline,
    create_event,
    eventually,
    join_code,
    listeners,
    organizer_token,
    wait_healthy,
)

pytestmark = pytest.mark.slow


async def scrape(base: str) -> Samples:
    """One scrape on a connection of its own (so the kernel picks a worker for each)."""
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as http,
        http.get(f"{base}/metrics") as r,
    ):
        assert r.status == 200, await r.text()
        return parse(await r.text())


def worker_pids(master: int) -> list[int]:
    return [pid for pid in children(master) if "worker" in cmdline(pid)]


async def test_a_scrape_sums_both_workers_and_keeps_a_killed_workers_counts(
    procs: Procs, clean_redis: str, tmp_path: Path, clients: Clients
):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = base_env(
        REDIS_URL=clean_redis, PODIUM_SECRET=SECRET, PODIUM_DATA_DIR=str(tmp_path), TMPDIR=str(tmp)
    )
    serve = procs.start(["serve", "--workers", "2", "--port", str(port)], env, "serve")
    await wait_healthy(base, [serve])
    await eventually(lambda: listeners(port) == 2, 15, "both workers listening")
    assert len(list(tmp.glob("podium-metrics-*"))) == 1, "serve makes the workers' metrics directory"

    store = connect(clean_redis)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            setup = await create_event(Api(http, base, await organizer_token(clean_redis)))
            people = [await join_code(http, base, setup.code) for _ in range(16)]
        crowd = await asyncio.gather(*(clients.connect(base, {"participant": p["token"]}) for p in people))
        acks = await asyncio.gather(*(c.call("session:join", {"session": setup.session}) for c in crowd))
        assert all(ack["ok"] for ack in acks)
        per_worker = {}
        async for key in store.scan_iter(match=keys.presence_worker(setup.session, "*")):
            per_worker[key] = await store.scard(key)
        assert len(per_worker) == 2, f"every join on one worker: {per_worker}"
    finally:
        await store.aclose()

    # Each worker handled some of the joins; every scrape, answered by either, counts all 16.
    pids = worker_pids(serve.pid)
    for _ in range(6):
        m = await scrape(base)
        assert value(m, "podium_joins_total", outcome="ok") == 16
        assert value(m, "podium_socket_events_total", event="session:join") == 16
        assert value(m, "podium_ack_seconds_bucket", event="session:join", le="+Inf") == 16
        assert value(m, "podium_connections", role="audience") == 16
        assert labelled(m, "process_resident_memory_bytes", "pid") == {str(p) for p in pids}
        assert value(m, "podium_build_info", version="0.1.0") == 1, "a gauge of both, not their sum"

    # A worker killed: the supervisor starts another and marks the dead one's gauges gone.
    victim = pids[0]
    procs.track(victim)
    os.kill(victim, signal.SIGKILL)
    await eventually(
        lambda: victim not in worker_pids(serve.pid) and len(worker_pids(serve.pid)) == 2, 15, "a new worker"
    )
    await eventually(lambda: listeners(port) == 2, 15, "both workers listening again")
    await eventually(lambda: not all(c.sio.connected for c in crowd), 10, "the victim's sockets closed")
    left = sum(c.sio.connected for c in crowd)
    assert 0 < left < 16

    async def settled() -> Samples | None:
        m = await scrape(base)
        live = {str(p) for p in worker_pids(serve.pid)}
        if (
            value(m, "podium_connections", role="audience") == left
            and labelled(m, "process_resident_memory_bytes", "pid") == live
        ):
            return m
        return None

    m = await eventually(settled, 15, "the dead worker's gauges gone from the sums")
    assert value(m, "podium_joins_total", outcome="ok") == 16, "counters never go back"
    assert value(m, "podium_socket_events_total", event="session:join") == 16

    serve.signal_group(signal.SIGINT)
    assert await serve.wait(20) == 0, procs.logs()
    assert not list(tmp.glob("podium-metrics-*")), "the metrics directory outlived its run"
