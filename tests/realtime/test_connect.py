"""Who may open a socket: participant cookie or token, invite token, Origin allow-list."""

from __future__ import annotations

import time

import pytest

from server import appkeys
from server.domain import identity as idn
from tests.conftest import Api, Running, World, audience_token


async def test_the_participant_cookie_signs_a_browser_in(server: Running, world: World, http):
    token = await audience_token(http, server, world.event["code"], name="Noa")
    c = await server.client(headers={"Cookie": f"podium_pid={token}"})
    ack = await c.call("session:join", {"session": world.session})
    assert ack["you"]["name"] == "Noa"


async def test_no_credentials_are_refused_with_a_clear_reason(server: Running):
    refusal = await server.refused()
    assert refusal == {"code": "unauthorized", "message": "Open the event's link or enter its code first."}


@pytest.mark.parametrize(
    "auth",
    [
        {"token": "garbage"},
        {"token": "a.b"},
        {"token": 12345},
        {"token": ["x"]},
        {"token": "x" * 5000},
        {"participant": "garbage"},
        "not-an-object",
    ],
)
async def test_bad_credentials_are_refused(server: Running, auth):
    refusal = await server.refused(auth=auth)
    assert refusal["code"] == "unauthorized"
    assert refusal["message"]


async def test_an_expired_invite_is_refused_as_expired(server: Running, world: World):
    auth = server.app[appkeys.AUTH]
    token = idn.sign(
        {"i": "x", "r": "moderator", "e": world.event["id"], "s": "", "x": int(time.time()) - 1},
        auth.secret,
        "invite",
    )
    assert (await server.refused(auth={"token": token}))["message"] == "This link has expired."


async def test_a_participant_cookie_cannot_pose_as_an_invite(server: Running, world: World, http):
    token = await audience_token(http, server, world.event["code"])
    assert (await server.refused(auth={"token": token}))["code"] == "unauthorized"


async def test_a_foreign_origin_is_refused_and_our_own_is_welcome(server: Running, world: World):
    token = world.tokens["moderator"]
    refusal = await server.refused(auth={"token": token}, headers={"Origin": "https://evil.example"})
    assert refusal == {"code": "forbidden", "message": "This page is not allowed to connect to Podium."}
    ok = await server.client(auth={"token": token}, headers={"Origin": server.url})
    assert (await ok.call("session:join", {"session": world.session}))["ok"]


async def test_a_revoked_link_closes_its_open_sockets_and_cannot_reconnect(
    server: Running, world: World, org: Api
):
    event = await org.ok("GET", f"/api/events/{world.event['id']}")
    invite = next(i for i in event["invites"] if i["role"] == "moderator")
    mod = await server.client(auth={"token": world.tokens["moderator"]})
    await mod.call("session:join", {"session": world.session})
    speaker = await server.client(auth={"token": world.tokens["speaker"]})
    await speaker.call("session:join", {"session": world.session})

    await org.ok("POST", f"/api/invites/{invite['id']}/revoke")
    closed = await mod.wait_for(lambda c: c.events("connection:closed"))
    assert closed[0] == {"code": "unauthorized", "message": "This link was revoked by the organizer."}
    await mod.wait_for(lambda c: not c.sio.connected)
    assert (await server.refused(auth={"token": world.tokens["moderator"]}))["message"] == (
        "This link was revoked by the organizer."
    )
    assert speaker.sio.connected, "other links are untouched"
    await speaker.wait_for(lambda c: c.last_count(world.session) == 1)


async def test_the_fixed_organizer_token_from_config_works(clean_redis, tmp_path):
    from tests.conftest import make_settings, start_server, stop_server

    running = await start_server(make_settings(clean_redis, tmp_path, organizer_token="fixed-" + "x" * 30))
    try:
        c = await running.client(auth={"token": "fixed-" + "x" * 30})
        assert c.sio.connected
        assert (await running.refused(auth={"token": "fixed-" + "y" * 30}))["code"] == "unauthorized"
    finally:
        await stop_server(running)
