"""The SFU's doors, over real sockets and a real Janus: only a live speaker publishes, only
the session's screens, moderators and audience watch, and only live speakers; without an
SFU configured every sfu:* event says so."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from tests.conftest import Api, Running, World, join_session, moderator, person, speaker_links
from tests.janus import JanusProcess

# A minimal offer is enough for the checks that come before Janus sees it.
OFFER = {"type": "offer", "sdp": "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"}


@pytest.fixture
def settings_overrides(janus: JanusProcess) -> dict[str, Any]:
    return {"sfu_url": janus.url, "sfu_api_secret": janus.api_secret}


async def test_only_a_live_speaker_publishes_and_only_live_speakers_are_watched(
    server: Running, world: World, org: Api, http: aiohttp.ClientSession
):
    [(speaker_id, token)] = await speaker_links(org, world, 1)
    speaker, snap = await join_session(server, world, {"token": token})
    assert snap["rtc"]["sfu"] is True
    mod = await moderator(server, world)
    phone = await person(server, world, http)
    session = world.session

    ack = await speaker.call("sfu:publish", {"session": session, "jsep": OFFER})
    assert ack["error"]["code"] == "forbidden"  # backstage: the room is for what the hall sees
    for who in (mod, phone):
        ack = await who.call("sfu:publish", {"session": session, "jsep": OFFER})
        assert ack["error"]["code"] == "forbidden"
        ack = await who.call("sfu:subscribe", {"session": session, "speaker": speaker_id})
        assert ack["error"]["code"] == "forbidden"  # not live

    assert (await mod.call("stage:set", {"session": session, "speaker": speaker_id, "state": "live"}))["ok"]
    ack = await phone.call("sfu:subscribe", {"session": session, "speaker": speaker_id})
    assert ack["error"]["code"] == "not_found"  # live, but not sending yet: ask again later
    ack = await phone.call("sfu:subscribe", {"session": world.sessions[1]["id"], "speaker": speaker_id})
    assert ack["error"]["code"] == "conflict"  # another session than the one joined
    ack = await phone.call("sfu:start", {"session": session, "speaker": speaker_id, "jsep": OFFER})
    assert ack["error"]["code"] == "invalid"  # an answer is an answer
    ack = await speaker.call("sfu:publish", {"session": session, "jsep": {"type": "offer", "sdp": ""}})
    assert ack["error"]["code"] == "invalid"


@pytest.mark.parametrize("settings_overrides", [{}])  # no rtc.sfu_url
@pytest.mark.parametrize("event", ["sfu:publish", "sfu:subscribe", "sfu:stop"])
async def test_without_an_sfu_the_stage_stays_peer_to_peer(
    event: str, server: Running, world: World, org: Api, settings_overrides: dict[str, Any]
):
    [(speaker_id, token)] = await speaker_links(org, world, 1)
    speaker, snap = await join_session(server, world, {"token": token})
    assert "sfu" not in snap["rtc"]
    payload = {
        "sfu:publish": {"session": world.session, "jsep": OFFER},
        "sfu:subscribe": {"session": world.session, "speaker": speaker_id},
        "sfu:stop": {"session": world.session},
    }[event]
    ack = await speaker.call(event, payload)
    assert ack["error"]["code"] == "conflict"


async def room_exists(janus: JanusProcess, room: int) -> bool:
    """Asked of Janus directly, with its API secret."""
    secret = {"apisecret": janus.api_secret, "transaction": "t"}
    async with aiohttp.ClientSession() as http:
        async with http.post(janus.url, json={"janus": "create", **secret}) as r:
            session = (await r.json(content_type=None))["data"]["id"]
        body = {"janus": "attach", "plugin": "janus.plugin.videoroom", **secret}
        async with http.post(f"{janus.url}/{session}", json=body) as r:
            handle = (await r.json(content_type=None))["data"]["id"]
        body = {"janus": "message", "body": {"request": "exists", "room": room}, **secret}
        async with http.post(f"{janus.url}/{session}/{handle}", json=body) as r:
            data = (await r.json(content_type=None))["plugindata"]["data"]
        async with http.post(f"{janus.url}/{session}", json={"janus": "destroy", **secret}):
            pass
    return bool(data["exists"])


@pytest.mark.parametrize("end", ["ended", "deleted"])
async def test_a_sessions_room_is_made_on_first_need_and_goes_when_the_session_ends(
    end: str, server: Running, world: World, org: Api, http: aiohttp.ClientSession, janus: JanusProcess
):
    from server.domain import sfu as dom

    room = dom.room_id(world.session)
    [(speaker_id, token)] = await speaker_links(org, world, 1)
    mod = await moderator(server, world)
    phone = await person(server, world, http)
    assert not await room_exists(janus, room)
    await join_session(server, world, {"token": token})  # the speaker arrives in the lineup
    assert (await mod.call("stage:set", {"session": world.session, "speaker": speaker_id, "state": "live"}))[
        "ok"
    ]
    ack = await phone.call("sfu:subscribe", {"session": world.session, "speaker": speaker_id})
    assert ack["error"]["code"] == "not_found"  # nobody publishes yet, but the room is there
    assert await room_exists(janus, room)

    if end == "ended":
        assert (await mod.call("stage:status", {"session": world.session, "status": "ended"}))["ok"]
    else:
        await org.ok("DELETE", f"/api/sessions/{world.session}")
    assert not await room_exists(janus, room)
