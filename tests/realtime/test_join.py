"""Joining a session over real sockets: snapshots, presence per person, roles, tabs."""

from __future__ import annotations

from tests.conftest import Api, Running, World, audience_token


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
    assert ack["presence"]["counts"]["audience"] == {"hall": 1, "remote": 0}
    assert ack["presence"]["counts"]["total"] == 1
    assert "staff" not in ack


async def test_three_tabs_of_one_person_count_once_and_the_last_tab_leaving_drops_them(
    server: Running, world: World, http
):
    token = await audience_token(http, server, world.event["code"])
    tabs = [await server.client(auth={"participant": token}) for _ in range(3)]
    for tab in tabs:
        assert (await tab.call("session:join", {"session": world.session}))["ok"]
    other = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
    ack = await other.call("session:join", {"session": world.session})
    assert ack["presence"]["counts"]["total"] == 2
    await other.wait_for(lambda c: c.last_count(world.session) == 2)
    await tabs[0].disconnect()
    await tabs[1].disconnect()
    snap = await other.call("session:snapshot", {})
    assert snap["presence"]["counts"]["total"] == 2
    await tabs[2].disconnect()
    await other.wait_for(lambda c: c.last_count(world.session) == 1)


async def test_every_role_is_counted_under_its_own_heading(server: Running, world: World, http):
    clients = {}
    for role in ("moderator", "speaker", "screen"):
        clients[role] = await server.client(auth={"token": world.tokens[role]})
        ack = await clients[role].call("session:join", {"session": world.session})
        assert ack["ok"], ack
        assert ack["you"]["role"] == role
    aud = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
    ack = await aud.call("session:join", {"session": world.session, "where": "remote"})
    counts = ack["presence"]["counts"]
    assert counts["moderator"] == {"hall": 1, "remote": 0}
    assert counts["speaker"] == {"hall": 0, "remote": 1}
    assert counts["screen"] == {"hall": 1, "remote": 0}
    assert counts["audience"] == {"hall": 0, "remote": 1}
    assert counts["total"] == 4


async def test_switching_between_hall_and_remote_moves_the_person(server: Running, world: World, http):
    token = await audience_token(http, server, world.event["code"])
    phone = await server.client(auth={"participant": token})
    await phone.call("session:join", {"session": world.session, "where": "remote"})
    laptop = await server.client(auth={"participant": token})
    ack = await laptop.call("session:join", {"session": world.session, "where": "hall"})
    assert ack["you"]["where"] == "remote", "a second tab keeps the person's place"
    assert (await phone.call("presence:where", {"where": "hall"})) == {"ok": True, "where": "hall"}
    snap = await laptop.call("session:snapshot", {})
    assert snap["presence"]["counts"]["audience"] == {"hall": 1, "remote": 0}


async def test_moving_to_another_session_leaves_the_first(server: Running, world: World, http):
    token = await audience_token(http, server, world.event["code"])
    a = await server.client(auth={"participant": token})
    await a.call("session:join", {"session": world.sessions[0]["id"]})
    ack = await a.call("session:join", {"session": world.sessions[1]["id"]})
    assert ack["presence"]["counts"]["total"] == 1
    watcher = await server.client(auth={"token": world.tokens["moderator"]})
    snap = await watcher.call("session:join", {"session": world.sessions[0]["id"]})
    assert snap["presence"]["counts"]["audience"] == {"hall": 0, "remote": 0}


async def test_staff_snapshot_lists_the_sessions_links_and_audience_never_sees_them(
    server: Running, world: World, http
):
    mod = await server.client(auth={"token": world.tokens["moderator"]})
    ack = await mod.call("session:join", {"session": world.session})
    roles = sorted(i["role"] for i in ack["staff"]["invites"])
    assert roles == ["moderator", "organizer", "screen", "speaker"]
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
