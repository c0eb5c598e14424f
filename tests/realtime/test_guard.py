"""Open sockets lose their powers when their grounds go, whether or not a broadcast reached the
worker: a revoke or ban written to the store with no message sent (as after a store restart,
when the message went to a deaf worker), and an invite that simply expires."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import socketio

from server.store import keys
from tests.conftest import Api, Running, World, join_session, person, sync_client


async def _closed(c, timeout: float) -> dict:
    await c.wait_for(lambda c: c.events("connection:closed"), timeout=timeout)
    return c.events("connection:closed")[0]


async def test_a_revoke_no_broadcast_carried_closes_the_socket_within_two_seconds(
    server: Running, world: World, clean_redis: str
) -> None:
    mod, _ = await join_session(server, world, {"token": world.tokens["moderator"]})
    ack = await mod.call("stage:timer", {"session": world.session, "action": "add", "seconds": 60})
    assert ack["ok"], ack
    invite_id = next(
        i for i in (await mod.call("session:snapshot"))["staff"]["invites"] if i["role"] == "moderator"
    )["id"]
    r = sync_client(clean_redis)
    r.hset(keys.invite(invite_id), "revoked", "1")  # behind Podium's back: no message at all
    r.close()
    started = time.monotonic()
    # Within the cache's 2 s, whatever the sweep did: the next privileged event is refused.
    refused = None
    while time.monotonic() - started < 2.5 and mod.sio.connected:
        try:
            ack = await mod.call(
                "stage:timer", {"session": world.session, "action": "add", "seconds": 1}, timeout=0.5
            )
        except socketio.exceptions.TimeoutError:
            break  # closed by the sweep while this event was in flight: no ack can come
        if not ack["ok"]:
            refused = ack
            break
        await asyncio.sleep(0.1)
    assert refused is None or refused["error"]["code"] == "unauthorized"
    closed = await _closed(mod, timeout=2.5 - (time.monotonic() - started) + 0.5)
    assert closed == {"code": "unauthorized", "message": "This link was revoked by the organizer."}
    await mod.wait_for(lambda c: not c.sio.connected, timeout=1)
    assert time.monotonic() - started < 2.6


async def test_an_invite_that_expires_on_an_open_socket_loses_its_powers(
    server: Running, world: World, org: Api
) -> None:
    inv = await org.ok(
        "POST",
        f"/api/events/{world.event['id']}/invites",
        {"role": "moderator", "session_id": world.session, "hours": 3 / 3600},  # three seconds
    )
    mod, _ = await join_session(server, world, {"token": inv["token"]})
    assert (await mod.call("stage:timer", {"session": world.session, "action": "add", "seconds": 1}))["ok"]
    expires = inv["invite"]["expires_at"]
    await asyncio.sleep(max(0.0, expires - time.time()))
    closed = await _closed(mod, timeout=2.5)
    assert closed["message"] == "This link has expired."
    assert (await server.refused(auth={"token": inv["token"]}))["code"] == "unauthorized"


async def test_a_ban_no_broadcast_carried_closes_the_persons_sockets(
    server: Running, world: World, http: aiohttp.ClientSession, clean_redis: str
) -> None:
    banned = await person(server, world, http, "Troll")
    bystander = await person(server, world, http, "Bystander")
    participant = await _participant_of(server, banned)
    r = sync_client(clean_redis)
    r.sadd(keys.banned(world.event["id"]), participant)
    r.close()
    closed = await _closed(banned, timeout=2.5)
    assert closed["code"] == "unauthorized"
    await asyncio.sleep(0.3)
    assert bystander.sio.connected and not bystander.events("connection:closed")


async def _participant_of(server: Running, c) -> str:
    from server import appkeys

    conn = server.app[appkeys.CONNECTIONS][c.sio.get_sid()]
    assert conn.principal.participant_id
    return conn.principal.participant_id
