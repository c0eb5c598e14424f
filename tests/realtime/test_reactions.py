"""Reactions: limited per person in Redis, aggregated into about one update a second."""

from __future__ import annotations

import asyncio

import pytest

from tests.conftest import Running, World, audience_token

EMOJI = ["👏", "😂", "❤️", "😮", "🙏"]


async def person(server: Running, world: World, http):
    c = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
    ack = await c.call("session:join", {"session": world.session})
    assert ack["reactions"]["emoji"] == EMOJI
    return c


async def test_200_reactions_a_second_from_100_people_become_about_one_tick_a_second(
    server: Running, world: World, http
):
    screen = await server.client(auth={"token": world.tokens["screen"]})
    await screen.call("session:join", {"session": world.session})
    crowd = await asyncio.gather(*(person(server, world, http) for _ in range(100)))
    await asyncio.sleep(1.1)
    screen.received.clear()
    started = asyncio.get_running_loop().time()
    sent = {"👏": 0, "❤️": 0}
    for second in range(2):  # 100 people x 2 emoji, twice: 200 a second for 2 s
        acks = await asyncio.gather(
            *(
                c.call("reaction:send", {"session": world.session, "emoji": e})
                for c in crowd
                for e in ("👏", "❤️")
            )
        )
        assert all(a["ok"] for a in acks), [a for a in acks if not a["ok"]][:3]
        for e in sent:
            sent[e] += 100
        if second == 0:
            await asyncio.sleep(1.05)  # the per-person limit is one of each emoji per second
    await screen.wait_for(
        lambda c: sum(t["counts"].get("👏", 0) for t in c.parts("reactions")) == 200, timeout=5
    )
    elapsed = asyncio.get_running_loop().time() - started
    ticks = screen.parts("reactions")
    assert len(ticks) <= elapsed / 1.0 + 1, (len(ticks), elapsed)
    totals = {e: sum(t["counts"].get(e, 0) for t in ticks) for e in sent}
    assert totals == sent
    snap = await screen.call("session:snapshot", {})
    assert snap["reactions"]["totals"] == sent


async def test_one_person_cannot_go_past_one_of_each_emoji_a_second(server: Running, world: World, http):
    c = await person(server, world, http)
    acks = [await c.call("reaction:send", {"session": world.session, "emoji": "👏"}) for _ in range(5)]
    assert [a["ok"] for a in acks] == [True, False, False, False, False]
    assert acks[1]["error"]["code"] == "rate_limited" and acks[1]["error"]["retry_after"] == 1
    assert (await c.call("reaction:send", {"session": world.session, "emoji": "😂"}))["ok"], (
        "another emoji is fine"
    )
    # Two tabs are one person.
    token_tab = await server.client(
        auth={"participant": (await audience_token(http, server, world.event["code"]))}
    )
    await token_tab.call("session:join", {"session": world.session})
    await asyncio.sleep(1.05)
    assert (await c.call("reaction:send", {"session": world.session, "emoji": "👏"}))["ok"]
    await c.wait_for(lambda c: c.state["reactions"]["totals"] == {"👏": 2, "😂": 1})
    snap = await c.call("session:snapshot", {})
    assert snap["reactions"]["totals"] == {"👏": 2, "😂": 1}


@pytest.mark.parametrize(
    "payload",
    [
        None,
        5,
        "👏",
        {},
        {"emoji": "👏"},
        {"session": "S"},
        {"session": "S", "emoji": "💩"},
        {"session": "S", "emoji": "👏👏"},
        {"session": "S", "emoji": ["👏"]},
        {"session": "S", "emoji": "👏", "x": 1},
        {"session": "OTHER", "emoji": "👏"},
    ],
    ids=repr,
)
async def test_bad_reactions_are_refused_and_count_nothing(server: Running, world: World, http, payload):
    c = await person(server, world, http)
    if isinstance(payload, dict) and payload.get("session") in ("S", "OTHER"):
        payload = {
            **payload,
            "session": world.session if payload["session"] == "S" else world.sessions[1]["id"],
        }
    ack = await c.call("reaction:send", payload)
    assert ack["ok"] is False and ack["error"]["code"] in ("invalid", "conflict")
    assert (await c.call("session:snapshot", {}))["reactions"]["totals"] == {}
