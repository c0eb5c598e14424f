"""A swamped worker refuses early and cheaply, and every connect and join gets an answer."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import socketio
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError
from redis.exceptions import TimeoutError as RedisTimeoutError

from server import appkeys
from server.store.connection import store_trouble
from tests.conftest import OwnStore, Running, World, audience_token, make_settings, start_server, stop_server


async def test_past_the_connect_limit_a_connect_is_refused_at_once_and_retryable(
    server: Running, world: World, http
):
    token = await audience_token(http, server, world.event["code"])
    gate = server.app[appkeys.GATE]
    gate.limits["connect"] = 0  # as if every place were taken
    loop = asyncio.get_running_loop()
    started = loop.time()
    refusal = await server.refused(auth={"participant": token})
    assert refusal["code"] == "unavailable" and refusal["retry_after"] >= 1, refusal
    assert loop.time() - started < 1
    gate.limits["connect"] = 10
    c = await server.client(auth={"participant": token})
    assert (await c.call("session:join", {"session": world.session}))["ok"]


@pytest.mark.parametrize("settings_overrides", [{"joins_in_flight": 3}])
async def test_a_join_storm_past_the_limit_gets_retryable_refusals_and_every_join_an_answer(
    server: Running, world: World, http
):
    tokens = [await audience_token(http, server, world.event["code"]) for _ in range(40)]
    clients = await asyncio.gather(*(server.client(auth={"participant": t}) for t in tokens))
    acks = await asyncio.gather(*(c.call("session:join", {"session": world.session}) for c in clients))
    refused = [a for a in acks if not a["ok"]]
    assert refused, "three in flight at most: some of forty at once are turned away"
    assert all(a["error"]["code"] == "unavailable" and a["error"]["retry_after"] >= 1 for a in refused)
    assert server.app[appkeys.GATE].inside["join"] == 0, "every place given back"
    # Coming back (as the browser does, after the time it was given) they all get in.
    for c, a in zip(clients, acks, strict=True):
        if not a["ok"]:
            assert (await c.call("session:join", {"session": world.session}))["ok"]
    counts = (await server.app[appkeys.PRESENCE_STORE].counts(world.session))[1]
    assert counts["audience"]["remote"] == 40


@pytest.mark.parametrize("settings_overrides", [{"connect_timeout_s": 1.5}])
async def test_a_connect_that_cannot_reach_the_store_is_refused_in_bounded_time(own: OwnStore):
    own.store.stop()
    loop = asyncio.get_running_loop()
    started = loop.time()
    # An invite is checked against the store at every connect: it cannot be now.
    refusal = await own.server.refused(auth={"token": own.world.tokens["moderator"]})
    assert refusal["code"] == "unavailable" and refusal["retry_after"] >= 1, refusal
    assert loop.time() - started < 4


@pytest.mark.parametrize("settings_overrides", [{"connect_timeout_s": 1.0}])
async def test_many_connects_while_the_store_hangs_all_end_in_connect_or_connect_error(own: OwnStore):
    """The bug: a connect whose store call waited on an exhausted pool got neither answer."""
    own.freeze()
    outcomes: list[str] = []

    async def one() -> None:
        sio = socketio.AsyncClient(reconnection=False)
        errors: list[Any] = []
        sio.on("connect_error", lambda data=None: errors.append(data))
        own.server.clients.append(sio)
        try:
            await sio.connect(own.server.url, transports=["websocket"], auth={"token": own.world.tokens["screen"]},
                              wait_timeout=8)  # fmt: skip
            outcomes.append("connected")
        except socketio.exceptions.ConnectionError:
            outcomes.append(errors[0]["data"]["code"] if errors and errors[0] else "no answer")

    await asyncio.wait_for(asyncio.gather(*(one() for _ in range(30))), 20)
    assert outcomes and set(outcomes) == {"unavailable"}, outcomes


OVERLOADED = {
    "heartbeat_seconds": 0.3,
    "worker_ttl_seconds": 1.2,
    "sweep_seconds": 0.3,
    "redis_socket_timeout": 1.0,
}


@pytest.mark.parametrize("settings_overrides", [OVERLOADED])
async def test_a_worker_whose_request_pool_runs_dry_is_not_declared_dead(
    server: Running, world: World, http, tmp_path
):
    """Issue 9, fault 3: with every request connection of worker A taken for longer than a
    worker's time to live, A's heartbeat (its own connection) keeps it alive in B's eyes: no
    connection of A leaves the counts; A's requests answer `unavailable` meanwhile, in
    bounded time, and work again once the pool frees."""
    other = await start_server(make_settings(server.settings.redis_url, tmp_path / "b", **OVERLOADED))
    try:
        phones = []
        for _ in range(5):
            token = await audience_token(http, server, world.event["code"])
            phone = await server.client(auth={"participant": token})
            assert (await phone.call("session:join", {"session": world.session}))["ok"]
            phones.append(phone)
        presence = other.app[appkeys.PRESENCE_STORE]
        assert (await presence.counts(world.session))[1]["total"] == 5

        pool = server.app[appkeys.REDIS].connection_pool
        taken = [await pool.get_connection() for _ in range(pool.max_connections)]
        try:
            loop = asyncio.get_running_loop()
            started = loop.time()
            ack = await phones[0].call(
                "qa:ask", {"session": world.session, "text": "Still there?", "client_id": "dry-1"}, timeout=10
            )
            assert ack["ok"] is False and ack["error"]["code"] == "unavailable", ack
            assert loop.time() - started < 5, "an answer in bounded time, not a hang"
            # Past three times to live, B still counts every one of A's connections.
            while loop.time() - started < 3 * OVERLOADED["worker_ttl_seconds"]:
                assert (await presence.counts(world.session))[1]["total"] == 5, "A was declared dead"
                await asyncio.sleep(0.2)
        finally:
            for conn in taken:
                await pool.release(conn)
        ack = await phones[0].call(
            "qa:ask", {"session": world.session, "text": "Still there?", "client_id": "dry-1"}
        )
        assert ack["ok"], ack
    finally:
        await stop_server(other)


def test_a_full_pool_is_told_as_busy_and_an_outage_as_unreachable() -> None:
    busy = "Podium is busy; trying again shortly."
    assert store_trouble(RedisConnectionError("No connection available.")) == busy  # redis-py's pool
    assert store_trouble(MaxConnectionsError("Too many connections")) == busy
    assert store_trouble(RedisConnectionError("no free connection to the Cluster within 5 s")) == busy
    down = "Podium cannot reach its store; try again shortly."
    assert store_trouble(RedisConnectionError("Error 111 connecting to 127.0.0.1:6379.")) == down
    assert store_trouble(RedisTimeoutError("Timeout reading from 127.0.0.1:6379")) == down
