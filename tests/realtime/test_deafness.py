"""A worker that cannot hear the broadcast channel knows it, says so, listens again within a
second of the store answering, and makes the sockets that live on broadcasts re-sync."""

from __future__ import annotations

import asyncio
import time

import aiohttp

from server import appkeys
from tests.conftest import (
    OwnStore,
    Running,
    World,
    audience_token,
    make_settings,
    moderator,
    person,
    start_server,
    stop_server,
    sync_client,
)


async def _ready(http: aiohttp.ClientSession, running: Running) -> tuple[int, dict]:
    async with http.get(running.url + "/readyz") as r:
        return r.status, await r.json()


async def test_a_killed_subscription_listens_again_within_a_second(
    server: Running, world: World, http: aiohttp.ClientSession, clean_redis: str, tmp_path
) -> None:
    other = await start_server(make_settings(clean_redis, tmp_path, secret=server.settings.secret))
    try:
        mod = await moderator(server, world)
        # A raised hand on the other worker reaches the moderator only through the channel.
        token = await audience_token(http, other, world.event["code"], "Hand")
        hand = await other.client(auth={"participant": token})
        assert (await hand.call("session:join", {"session": world.session}))["ok"]
        assert (await hand.call("hand:raise", {"session": world.session, "note": "before"}))["ok"]
        await mod.wait_for(lambda c: c.events("hand:queue"))
        r = sync_client(clean_redis)
        killed = r.client_kill_filter(_type="pubsub")
        r.close()
        assert killed >= 2  # one subscription per worker
        started = time.monotonic()
        heard_at = None
        raised = True
        while time.monotonic() - started < 3:
            seen = len(mod.events("hand:queue"))
            event = "hand:withdraw" if raised else "hand:raise"
            payload = {"session": world.session} if raised else {"session": world.session, "note": "after"}
            assert (await hand.call(event, payload))["ok"]
            raised = not raised
            try:
                await mod.wait_for(lambda c, n=seen: len(c.events("hand:queue")) > n, timeout=0.2)
            except AssertionError:
                continue
            heard_at = time.monotonic()
            break
        assert heard_at is not None, "the moderator's worker never heard the channel again"
        assert heard_at - started < 1.5
        # Each worker knows it hears again at the first message after subscribing again (its
        # own beat, every 0.5 s): the other one may know it a beat after the moderator's did.
        for running in (server, other):
            manager = running.app[appkeys.SIO].manager
            while manager.deaf_since is not None and time.monotonic() - started < 2.0:
                await asyncio.sleep(0.02)
            assert manager.deaf_since is None, f"still deaf {time.monotonic() - started:.1f} s after the kill"
    finally:
        await stop_server(other)


async def test_a_deaf_worker_says_so_and_resyncs_the_sockets_that_live_on_broadcasts(
    own: OwnStore, http: aiohttp.ClientSession
) -> None:
    running, world = own.server, own.world
    mod = await moderator(running, world)
    with_hand = await person(running, world, http, "With hand")
    assert (await with_hand.call("hand:raise", {"session": world.session, "note": "hi"}))["ok"]
    without = await person(running, world, http, "Without")
    snapshots = (mod.feed.snapshots, with_hand.feed.snapshots)
    own.freeze()
    try:
        manager = running.app[appkeys.SIO].manager
        deadline = time.monotonic() + 5
        while manager.deaf_since is None and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert manager.deaf_since is not None, "a silent channel went unnoticed"
        status, body = await _ready(http, running)
        assert status == 503 and "deaf_broadcasts_s" in body, body
    finally:
        own.thaw()
    thawed = time.monotonic()
    while (await _ready(http, running))[0] != 200:
        assert time.monotonic() - thawed < 3, "still not ready after the store came back"
        await asyncio.sleep(0.1)
    for c, before in ((mod, snapshots[0]), (with_hand, snapshots[1])):
        await c.wait_for(lambda c: c.events("session:resync"), timeout=3)
        await c.wait_for(lambda c, n=before: c.feed.snapshots > n, timeout=5)
    await asyncio.sleep(0.2)
    assert not without.events("session:resync"), "the audience at large is left alone"
    assert with_hand.state["you"]["hand"]["note"] == "hi"


async def test_after_a_store_outage_the_worker_hears_again_within_a_second(
    own: OwnStore, http: aiohttp.ClientSession
) -> None:
    """python-socketio's own retry backs off 1, 2, 4, 8... s while the store is down, so after
    a long outage a worker stayed deaf for many seconds after the store was back."""
    running, world = own.server, own.world
    mod = await moderator(running, world)
    hand = await person(running, world, http, "Hand")
    own.store.stop()
    await asyncio.sleep(6)  # long enough for python-socketio's backoff to reach 4 s
    await asyncio.to_thread(own.store.start)
    back = time.monotonic()
    manager = running.app[appkeys.SIO].manager
    while manager.deaf_since is not None:
        assert time.monotonic() - back < 1.5, "still deaf"
        await asyncio.sleep(0.05)
    while (await _ready(http, running))[0] != 200:
        assert time.monotonic() - back < 3, "still not ready"
        await asyncio.sleep(0.1)
    # The socket reconnects or stays; either way a hand now reaches the moderator again.
    await hand.wait_for(lambda c: c.sio.connected, timeout=5)
    seen = len(mod.events("hand:queue"))
    ack = await hand.call("hand:raise", {"session": world.session, "note": "back"}, timeout=10)
    assert ack["ok"], ack
    await mod.wait_for(lambda c: len(c.events("hand:queue")) > seen, timeout=3)
