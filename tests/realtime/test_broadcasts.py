"""What the server pushes through the feed: session edits, deletions, coalesced presence."""

from __future__ import annotations

import asyncio

import pytest

from server import appkeys
from server.store import keys
from tests.conftest import Api, OwnStore, Running, World, audience_token


async def joined(server: Running, world: World, http, session: str | None = None):
    c = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
    ack = await c.call("session:join", {"session": session or world.session})
    assert ack["ok"]
    return c, ack


async def test_a_session_edit_reaches_its_room_with_the_next_version_and_no_one_else(
    server: Running, world: World, http, org: Api
):
    a, snap = await joined(server, world, http)
    elsewhere, _ = await joined(server, world, http, world.sessions[1]["id"])
    await org.ok("PATCH", f"/api/sessions/{world.session}", {"title": "Opening (moved)"})
    (info,) = await a.wait_for(lambda c: c.parts("info"))
    assert info["to"] == (snap["v"] + 1, 0), "the edit is the next version"
    assert info["session"]["title"] == "Opening (moved)"
    assert a.state["session"]["title"] == "Opening (moved)"
    resnap = await a.call("session:snapshot", {})
    assert resnap["v"] == snap["v"] + 1 and resnap["session"]["title"] == "Opening (moved)"
    await asyncio.sleep(0.2)
    assert elsewhere.parts("info") == []


async def test_an_event_edit_bumps_every_sessions_version(server: Running, world: World, http, org: Api):
    a, snap_a = await joined(server, world, http)
    b, snap_b = await joined(server, world, http, world.sessions[1]["id"])
    await org.ok("PATCH", f"/api/events/{world.event['id']}", {"name": "Innovation Day 2026"})
    for client, snap in ((a, snap_a), (b, snap_b)):
        (info,) = await client.wait_for(lambda c: c.parts("info"))
        assert info["to"] == (snap["v"] + 1, 0)
        assert info["event"]["name"] == "Innovation Day 2026"
        assert client.state["event"]["name"] == "Innovation Day 2026"


async def test_deleting_a_session_tells_its_room_and_closes_its_links(
    server: Running, world: World, http, org: Api
):
    a, _ = await joined(server, world, http)
    mod = await server.client(auth={"token": world.tokens["moderator"]})
    await mod.call("session:join", {"session": world.session})
    await org.ok("DELETE", f"/api/sessions/{world.session}")
    await a.wait_for(lambda c: c.state.get("deleted"))
    closed = await mod.wait_for(lambda c: c.events("connection:closed"))
    assert closed[0]["message"] == "This session was deleted."
    assert (await server.refused(auth={"token": world.tokens["moderator"]}))["code"] == "unauthorized"
    assert (await a.call("session:join", {"session": world.session}))["error"]["code"] == "not_found"
    assert (await a.call("session:snapshot", {}))["error"]["code"] in ("not_found", "conflict")


async def test_a_deleted_session_leaves_nothing_in_the_store_but_its_expiring_log(
    server: Running, world: World, http, org: Api
):
    redis = server.app[appkeys.REDIS]
    a, _ = await joined(server, world, http)
    other, _ = await joined(server, world, http, world.sessions[1]["id"])
    mod = await server.client(auth={"token": world.tokens["moderator"]})
    await mod.call("session:join", {"session": world.session})
    asked = await a.call("qa:ask", {"session": world.session, "text": "Which keys stay?", "client_id": "k1"})
    qid = asked["question"]["id"]
    await mod.call("qa:moderate", {"session": world.session, "question": qid, "action": "approve"})
    assert (await a.call("qa:vote", {"session": world.session, "question": qid, "vote": True}))["ok"]
    await other.call("qa:ask", {"session": world.sessions[1]["id"], "text": "Mine stays", "client_id": "k2"})
    poll = (await mod.call("poll:create", {"session": world.session, "kind": "choice", "question": "Q?",
                                           "options": ["a", "b"]}))["poll"]  # fmt: skip
    await mod.call("poll:state", {"session": world.session, "poll": poll, "action": "open"})
    assert (await a.call("poll:answer", {"session": world.session, "poll": poll, "answer": [1]}))["ok"]
    assert (await a.call("reaction:send", {"session": world.session, "emoji": "👏"}))["ok"]
    await asyncio.sleep(0.3)  # the coalesced counts are logged
    before = {k async for k in redis.scan_iter(match=keys.session_pattern(world.session))}
    assert keys.question(world.session, qid) in before and keys.poll_answers(world.session, poll) in before
    other = world.sessions[1]["id"]
    others = {keys.session(other), keys.questions(other), keys.log(other)}
    assert await redis.exists(*others) == 3

    await org.ok("DELETE", f"/api/sessions/{world.session}")
    await a.wait_for(lambda c: c.state.get("deleted"))
    for _ in range(50):
        left = {k async for k in redis.scan_iter(match=keys.session_pattern(world.session))}
        if left <= {keys.log(world.session)}:
            break
        await asyncio.sleep(0.05)
    assert left <= {keys.log(world.session)}, sorted(left)
    assert 0 < await redis.ttl(keys.log(world.session)) <= 3600
    assert await redis.exists(*others) == 3, "another session's keys are left alone"


async def test_deleting_the_event_closes_every_link_of_it(server: Running, world: World, http, org: Api):
    a, _ = await joined(server, world, http)
    staff = {}
    for role in ("moderator", "screen", "organizer"):
        staff[role] = await server.client(auth={"token": world.tokens[role]})
    status, data = await org.request("DELETE", f"/api/events/{world.event['id']}", {"confirm": "wrong"})
    assert status == 400 and data["error"]["field"] == "confirm"
    await org.ok("DELETE", f"/api/events/{world.event['id']}", {"confirm": "Innovation Day"})
    for client in staff.values():
        await client.wait_for(lambda c: not c.sio.connected)
    await a.wait_for(lambda c: c.state.get("deleted"))


@pytest.fixture
def settings_overrides():
    return {"presence_broadcast_ms": 500}


async def test_a_join_storm_becomes_a_few_presence_broadcasts_with_the_right_total(
    server: Running, world: World, http
):
    watcher, _ = await joined(server, world, http)
    await asyncio.sleep(0.7)  # let the watcher's own join broadcast pass
    watcher.received.clear()
    tokens = [await audience_token(http, server, world.event["code"]) for _ in range(40)]
    started = asyncio.get_running_loop().time()
    clients = await asyncio.gather(*(server.client(auth={"participant": t}) for t in tokens))
    await asyncio.gather(*(c.call("session:join", {"session": world.session}) for c in clients))
    await watcher.wait_for(lambda c: c.last_count(world.session) == 41, timeout=5)
    elapsed = asyncio.get_running_loop().time() - started
    updates = watcher.parts("presence")
    # At most one update per 500 ms window (plus the window in progress), never one per join.
    assert len(updates) <= elapsed / 0.5 + 2, (len(updates), elapsed)
    assert len(updates) < 40
    positions = [u["to"] for u in updates]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    totals = [u["counts"]["total"] for u in updates]
    assert totals == sorted(totals), "the count only grows while people only arrive"


async def test_when_the_store_is_down_every_call_is_answered_unavailable_and_readyz_says_so(
    own: OwnStore, http
):
    running, world = own.server, own.world
    org = Api(http, running.url, await running.organizer_token())
    token = await audience_token(http, running, world.event["code"])
    c = await running.client(auth={"participant": token})
    own.store.stop()
    started = asyncio.get_running_loop().time()
    ack = await c.call("session:join", {"session": world.session}, timeout=15)
    assert ack["ok"] is False and ack["error"]["code"] == "unavailable"
    assert asyncio.get_running_loop().time() - started < 10
    async with http.get(running.url + "/readyz") as r:
        assert r.status == 503
    async with http.get(running.url + "/healthz") as r:
        assert r.status == 200
    status, data = await org.request("GET", "/api/events")
    assert status == 503 and data["error"]["code"] == "unavailable"
