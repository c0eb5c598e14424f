"""Joining a session over real sockets: snapshots, presence per person, roles, tabs.

Presence reaches every page through the session's feed, coalesced (at most one update per
session per presence.broadcast_ms): a page shows a join within moments, not in the join's
own answer."""

from __future__ import annotations

from typing import Any

from server import appkeys
from tests.conftest import Api, Connected, Running, World, audience_token


def shown(c: Connected) -> dict[str, Any]:
    """The presence counts the client's page shows now."""
    return c.state["presence"]["counts"]


async def test_audience_joins_and_gets_a_snapshot_with_itself_counted(server: Running, world: World, http):
    token = await audience_token(http, server, world.event["code"], name="Ann")
    a = await server.client(auth={"participant": token})
    ack = await a.call("session:join", {"session": world.session, "where": "hall"})
    assert ack["ok"], ack
    assert ack["session"]["id"] == world.session
    assert ack["session"]["starts_at"] == "2026-12-03T09:30:00+08:00"
    assert ack["event"]["code"] == world.event["code"]
    assert ack["v"] == ack["session"]["version"] >= 1
    assert ack["you"] == {
        "role": "audience",
        "name": "Ann",
        "where": "hall",
        "speaker": None,
        "hand": {"state": "none"},
    }
    assert ack["at"] == [ack["v"], ack["at"][1]], "the snapshot's place in the session's log"
    assert "staff" not in ack
    await a.wait_for(lambda c: shown(c)["audience"] == {"hall": 1, "remote": 0} and shown(c)["total"] == 1)


async def test_three_tabs_of_one_person_count_once_and_the_last_tab_leaving_drops_them(
    server: Running, world: World, http
):
    token = await audience_token(http, server, world.event["code"])
    tabs = [await server.client(auth={"participant": token}) for _ in range(3)]
    for tab in tabs:
        assert (await tab.call("session:join", {"session": world.session}))["ok"]
    other = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
    assert (await other.call("session:join", {"session": world.session}))["ok"]
    await other.wait_for(lambda c: c.last_count(world.session) == 2)
    await tabs[0].disconnect()
    await tabs[1].disconnect()
    counts = await server.app[appkeys.PRESENCE_STORE].counts(world.session)
    assert counts[1]["total"] == 2, "two of three tabs gone: the person is still here"
    await tabs[2].disconnect()
    await other.wait_for(lambda c: c.last_count(world.session) == 1)


async def test_every_role_is_counted_under_its_own_heading(server: Running, world: World, http):
    clients = {}
    for role in ("moderator", "speaker", "screen", "interpreter"):
        clients[role] = await server.client(auth={"token": world.tokens[role]})
        ack = await clients[role].call("session:join", {"session": world.session})
        assert ack["ok"], ack
        assert ack["you"]["role"] == role
    aud = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
    assert (await aud.call("session:join", {"session": world.session, "where": "remote"}))["ok"]
    expected = {
        "moderator": {"hall": 1, "remote": 0},
        "speaker": {"hall": 0, "remote": 1},
        "screen": {"hall": 1, "remote": 0},
        "interpreter": {"hall": 1, "remote": 0},
        "audience": {"hall": 0, "remote": 1},
        "total": 5,
    }
    for c in (aud, *clients.values()):
        await c.wait_for(lambda c: shown(c) == expected)


async def test_switching_between_hall_and_remote_moves_the_person(server: Running, world: World, http):
    token = await audience_token(http, server, world.event["code"])
    phone = await server.client(auth={"participant": token})
    await phone.call("session:join", {"session": world.session, "where": "remote"})
    laptop = await server.client(auth={"participant": token})
    ack = await laptop.call("session:join", {"session": world.session, "where": "hall"})
    assert ack["you"]["where"] == "remote", "a second tab keeps the person's place"
    assert (await phone.call("presence:where", {"where": "hall"})) == {"ok": True, "where": "hall"}
    await laptop.wait_for(lambda c: shown(c)["audience"] == {"hall": 1, "remote": 0})


async def test_moving_to_another_session_leaves_the_first(server: Running, world: World, http):
    token = await audience_token(http, server, world.event["code"])
    a = await server.client(auth={"participant": token})
    await a.call("session:join", {"session": world.sessions[0]["id"]})
    ack = await a.call("session:join", {"session": world.sessions[1]["id"]})
    assert ack["ok"] and ack["session"]["id"] == world.sessions[1]["id"]
    first = a.frames()
    await a.wait_for(lambda c: shown(c)["audience"]["remote"] == 1)
    watcher = await server.client(auth={"token": world.tokens["moderator"]})
    assert (await watcher.call("session:join", {"session": world.sessions[0]["id"]}))["ok"]
    await watcher.wait_for(lambda c: shown(c)["moderator"]["hall"] == 1)
    assert shown(watcher)["audience"] == {"hall": 0, "remote": 0}
    later = [f for f in a.frames()[len(first) :] if f["session"] == world.sessions[0]["id"]]
    assert not later, "the first session's changes stop reaching a socket that left it"


async def test_staff_snapshot_lists_the_sessions_links_and_audience_never_sees_them(
    server: Running, world: World, http
):
    mod = await server.client(auth={"token": world.tokens["moderator"]})
    ack = await mod.call("session:join", {"session": world.session})
    roles = sorted(i["role"] for i in ack["staff"]["invites"])
    assert roles == ["interpreter", "moderator", "organizer", "screen", "speaker"]
    assert all("token" not in i for i in ack["staff"]["invites"])
    aud = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
    ack = await aud.call("session:join", {"session": world.session})
    assert "staff" not in ack


async def test_a_session_scoped_link_cannot_enter_another_session(server: Running, world: World):
    mod = await server.client(auth={"token": world.tokens["moderator"]})
    ack = await mod.call("session:join", {"session": world.sessions[1]["id"]})
    assert ack == {
        "ok": False,
        "error": {"code": "forbidden", "message": "This link is for another session."},
    }


async def test_presence_broadcasts_reach_the_others_in_the_session(
    server: Running, world: World, http, org: Api
):
    first = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
    await first.call("session:join", {"session": world.session})
    for _ in range(3):
        c = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
        await c.call("session:join", {"session": world.session})
    await first.wait_for(lambda c: c.last_count(world.session) == 4)


async def test_a_join_still_works_after_the_store_forgot_its_scripts(server: Running, world: World, http):
    """A restarted store has an empty script cache: the join's pipeline loads it and goes on."""
    await server.app[appkeys.REDIS].script_flush()
    a = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
    ack = await a.call("session:join", {"session": world.session})
    assert ack["ok"], ack
    await a.wait_for(lambda c: c.last_count(world.session) == 1)
