"""Several real worker processes on one real Valkey: cross-worker presence, crashes, revocation,
and `podium serve --workers 2` sharing one port."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from server.store import keys
from server.store.connection import connect
from tests.conftest import Api, free_port
from tests.system.conftest import (
    SECRET,
    Clients,
    Procs,
    Worker,
    alive,
    base_env,
    children,
    cmdline,
    conn_worker,
    counts,
    create_event,
    create_invite,
    eventually,
    join_code,
    listeners,
    organizer_token,
    start_workers,
    total,
    wait_disconnected,
    wait_gone,
    wait_healthy,
)

pytestmark = pytest.mark.slow


@pytest.fixture
async def store(clean_redis: str):
    client = connect(clean_redis)
    yield client
    await client.aclose()


@pytest.fixture
async def two_workers(procs: Procs, clean_redis: str, tmp_path: Path) -> list[Worker]:
    return await start_workers(procs, clean_redis, tmp_path, 2)


async def org_api(http: aiohttp.ClientSession, redis_url: str, base: str) -> Api:
    return Api(http, base, await organizer_token(redis_url))


async def test_presence_is_shared_across_workers_and_a_second_tab_counts_once(
    two_workers: list[Worker], clean_redis: str, store, http, clients: Clients
):
    w1, w2 = two_workers
    org = await org_api(http, clean_redis, w1.url)
    setup = await create_event(org)
    pa = await join_code(http, w1.url, setup.code, name="Ann")
    pb = await join_code(http, w2.url, setup.code, name="Bob")

    a = await clients.connect(w1.url, {"participant": pa["token"]})
    ack = await a.call("session:join", {"session": setup.session, "where": "hall"})
    assert ack["ok"], ack
    b = await clients.connect(w2.url, {"participant": pb["token"]})
    ack = await b.call("session:join", {"session": setup.session, "where": "remote"})
    assert ack["ok"], ack

    # Each sees the other through broadcasts, whichever worker sent them.
    await a.wait_for(lambda c: total(c, setup.session) == 2, timeout=5)
    await b.wait_for(lambda c: total(c, setup.session) == 2, timeout=5)
    assert counts(a, setup.session)["audience"] == {"hall": 1, "remote": 1}
    assert await conn_worker(store, setup.session, a.sio.get_sid()) != await conn_worker(
        store, setup.session, b.sio.get_sid()
    )
    assert await store.zcard(keys.WORKERS) == 2

    # Bob's second tab, on worker 2 too: still two people.
    updates_before = len(a.parts("presence"))
    b2 = await clients.connect(w2.url, {"participant": pb["token"]})
    ack = await b2.call("session:join", {"session": setup.session, "where": "hall"})
    assert ack["ok"], ack
    await b2.wait_for(lambda c: total(c, setup.session) == 2, timeout=5)
    assert ack["you"]["where"] == "remote", "a second tab keeps the person's place"
    await asyncio.sleep(1.0)  # two broadcast windows: a change would have gone out by now
    assert total(a, setup.session) == 2
    assert total(b2, setup.session) in (None, 2)
    status, data = await org.request("GET", f"/api/sessions/{setup.session}/presence")
    assert status == 200 and data["counts"]["total"] == 2, data
    assert len(a.parts("presence")) == updates_before, "no update for a tab"

    # Bob's first tab closes: his other tab keeps him counted; the last one takes him out.
    await b.disconnect()
    await asyncio.sleep(1.0)
    assert total(a, setup.session) == 2
    await b2.disconnect()
    await a.wait_for(lambda c: total(c, setup.session) == 1, timeout=5)
    assert counts(a, setup.session)["audience"] == {"hall": 1, "remote": 0}


async def test_sigkill_of_a_worker_drops_its_people_from_presence(
    two_workers: list[Worker], clean_redis: str, store, http, clients: Clients
):
    w1, w2 = two_workers
    org = await org_api(http, clean_redis, w1.url)
    setup = await create_event(org)
    pa = await join_code(http, w1.url, setup.code)
    pb = await join_code(http, w2.url, setup.code)
    a = await clients.connect(w1.url, {"participant": pa["token"]})
    assert (await a.call("session:join", {"session": setup.session}))["ok"]
    b = await clients.connect(w2.url, {"participant": pb["token"]})
    b_tab = await clients.connect(w2.url, {"participant": pb["token"]})
    for tab in (b, b_tab):
        assert (await tab.call("session:join", {"session": setup.session}))["ok"]
    await a.wait_for(lambda c: total(c, setup.session) == 2, timeout=5)
    live = await conn_worker(store, setup.session, a.sio.get_sid())
    dead = await conn_worker(store, setup.session, b.sio.get_sid())
    assert live != dead
    connections = {b.sio.get_sid(), b_tab.sio.get_sid()}
    assert await store.smembers(keys.presence_worker(setup.session, dead)) == connections
    assert await store.smembers(keys.worker_sessions(dead)) == {setup.session}

    w2.proc.kill()  # no disconnect handler, no retire: only the sweeper can notice
    killed = time.monotonic()
    assert await w2.proc.wait(5) == -signal.SIGKILL
    await a.wait_for(lambda c: total(c, setup.session) == 1, timeout=30)
    dropped = time.monotonic() - killed
    print(f"SIGKILL drop time: {dropped:.1f}s")
    # Heartbeat 5 s, TTL 15 s, sweep 5 s: between ~10 s and ~20 s after the kill.
    assert dropped < 30, f"the dead worker's people left the counts after {dropped:.1f}s"
    assert counts(a, setup.session)["audience"] == {"hall": 0, "remote": 1}  # remote by default

    assert await store.zscore(keys.WORKERS, dead) is None, "the dead worker is still registered"
    assert await store.zscore(keys.WORKERS, live) is not None, "the live worker was reaped too"
    assert not await store.exists(keys.worker_sessions(dead))
    assert not await store.exists(keys.presence_worker(setup.session, dead))
    assert not set(await store.hkeys(keys.presence_conns(setup.session))) & connections
    assert a.sio.connected
    status, data = await org.request("GET", f"/api/sessions/{setup.session}/presence")
    assert status == 200 and data["counts"]["total"] == 1, data


async def test_revoking_a_link_on_one_worker_closes_its_socket_on_another(
    two_workers: list[Worker], clean_redis: str, http, clients: Clients
):
    w1, w2 = two_workers
    org = await org_api(http, clean_redis, w1.url)
    setup = await create_event(org)
    inv = await create_invite(org, setup, "moderator")
    keep = await create_invite(org, setup, "moderator")  # another link of the same role stays
    pa = await join_code(http, w1.url, setup.code)

    watcher = await clients.connect(w1.url, {"participant": pa["token"]})
    assert (await watcher.call("session:join", {"session": setup.session}))["ok"]
    mod = await clients.connect(w2.url, {"token": inv["token"]})
    ack = await mod.call("session:join", {"session": setup.session})
    assert ack["ok"] and ack["you"]["role"] == "moderator", ack
    other = await clients.connect(w2.url, {"token": keep["token"]})
    assert (await other.call("session:join", {"session": setup.session}))["ok"]
    await watcher.wait_for(lambda c: total(c, setup.session) == 3, timeout=5)

    data = await org.ok("POST", f"/api/invites/{inv['invite']['id']}/revoke")  # on worker 1
    assert data["invite"]["revoked"] is True

    closed = await mod.wait_for(lambda c: c.events("connection:closed"), timeout=5)
    assert closed[0]["code"] == "unauthorized", closed
    assert closed[0]["message"], closed
    await wait_disconnected(mod)
    # Its worker ran the disconnect handler: the moderator left the counts everywhere.
    await watcher.wait_for(lambda c: total(c, setup.session) == 2, timeout=5)
    # Only that link's sockets were closed.
    assert other.sio.connected and watcher.sio.connected
    assert not other.events("connection:closed")
    assert (await other.call("session:snapshot", {}))["ok"]

    for w in (w2, w1):
        refusal = await clients.refused(w.url, {"token": inv["token"]})
        assert refusal["code"] == "unauthorized", refusal


def worker_pids(master: int) -> list[int]:
    return [pid for pid in children(master) if "worker" in cmdline(pid)]


async def test_serve_runs_two_workers_on_one_port_and_stops_on_ctrl_c(
    procs: Procs, clean_redis: str, tmp_path: Path, store, http, clients: Clients
):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = base_env(REDIS_URL=clean_redis, PODIUM_SECRET=SECRET, PODIUM_DATA_DIR=str(tmp_path))
    serve = procs.start(["serve", "--workers", "2", "--port", str(port)], env, "serve")
    await wait_healthy(base, [serve])
    await eventually(lambda: "/o#t=" in serve.stdout(), 15, "the organizer link")
    workers = worker_pids(serve.pid)
    assert len(workers) == 2, (workers, procs.logs())
    # Healthy means one worker answers; wait until both listen (SO_REUSEPORT: two sockets).
    await eventually(lambda: listeners(port) == 2, 15, "both workers listening")
    assert not (tmp_path / "redis").exists(), "with REDIS_URL set, serve must not start a store"

    org = Api(http, base, await organizer_token(clean_redis))
    setup = await create_event(org)
    people = [await join_code(http, base, setup.code) for _ in range(20)]
    crowd = await asyncio.gather(*(clients.connect(base, {"participant": p["token"]}) for p in people))
    acks = await asyncio.gather(*(c.call("session:join", {"session": setup.session}) for c in crowd))
    assert all(ack["ok"] for ack in acks), [a for a in acks if not a["ok"]]

    per_worker = {}
    async for key in store.scan_iter(match=keys.presence_worker(setup.session, "*")):
        per_worker[key] = await store.scard(key)
    assert len(per_worker) == 2, f"connections not spread over both workers: {per_worker}"
    assert sum(per_worker.values()) == 20, per_worker
    assert await store.zcard(keys.WORKERS) == 2

    for c in crowd:
        await c.wait_for(lambda c: total(c, setup.session) == 20, timeout=10)

    serve.signal_group(signal.SIGINT)  # Ctrl-C in a terminal: the master and its workers
    stopped = time.monotonic()
    code = await serve.wait(20)
    assert code == 0, f"serve exited with {code} (None: still running)\n{procs.logs()}"
    assert time.monotonic() - stopped < 20
    assert not await wait_gone(workers, 2), f"workers still running\n{procs.logs()}"
    assert not [pid for pid in workers if alive(pid)]
    # A clean stop retires both workers from presence at once.
    assert await store.zcard(keys.WORKERS) == 0
    assert not [k async for k in store.scan_iter(match=keys.presence_worker(setup.session, "*"))]
    assert not [k async for k in store.scan_iter(match=keys.worker_sessions("*"))]
    for c in crowd:
        await wait_disconnected(c)
