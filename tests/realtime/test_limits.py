"""Floods that more sockets do not escape: limits per person, counted in Redis across sockets
and workers, and unknown events charged like any other. Every event still gets one ack."""

from __future__ import annotations

import asyncio
import uuid

import aiohttp
import pytest

from server.store import keys
from tests.conftest import (
    Running,
    World,
    audience_token,
    make_settings,
    moderator,
    start_server,
    stop_server,
    sync_client,
)


@pytest.fixture
def settings_overrides():
    return {"asks_per_minute": 5, "votes_per_10s": 8}


async def _sockets(server: Running, world: World, token: str, n: int) -> list:
    out = []
    for _ in range(n):
        c = await server.client(auth={"participant": token})
        assert (await c.call("session:join", {"session": world.session}))["ok"]
        out.append(c)
    return out


async def test_one_person_with_many_sockets_on_two_workers_asks_only_their_share(
    server: Running, world: World, http: aiohttp.ClientSession, clean_redis: str, tmp_path
) -> None:
    other = await start_server(
        make_settings(clean_redis, tmp_path, secret=server.settings.secret, asks_per_minute=5)
    )
    try:
        token = await audience_token(http, server, world.event["code"], "Flooder")
        sockets = await _sockets(server, world, token, 6) + await _sockets(other, world, token, 6)
        acks = await asyncio.gather(
            *(
                c.call(
                    "qa:ask",
                    {"session": world.session, "text": f"question {i}", "client_id": uuid.uuid4().hex},
                )
                for i, c in enumerate(sockets * 3)
            )
        )
        accepted = [a for a in acks if a["ok"]]
        refused = [a for a in acks if not a["ok"]]
        assert len(accepted) == 5
        assert {a["error"]["code"] for a in refused} == {"rate_limited"}
        assert all(a["error"]["retry_after"] >= 1 for a in refused)
        r = sync_client(clean_redis)
        assert r.zcard(keys.questions(world.session)) == 5
        r.close()
        # Someone else is not affected by the flooder's limit.
        bystander = (
            await _sockets(server, world, await audience_token(http, server, world.event["code"]), 1)
        )[0]
        ack = await bystander.call(
            "qa:ask", {"session": world.session, "text": "mine", "client_id": uuid.uuid4().hex}
        )
        assert ack["ok"], ack
    finally:
        await stop_server(other)


async def test_votes_from_many_sockets_are_limited_per_person(
    server: Running, world: World, http: aiohttp.ClientSession
) -> None:
    token = await audience_token(http, server, world.event["code"], "Voter")
    sockets = await _sockets(server, world, token, 8)
    asker = (await _sockets(server, world, await audience_token(http, server, world.event["code"]), 1))[0]
    q = (await asker.call("qa:ask", {"session": world.session, "text": "vote me", "client_id": "c1"}))[
        "question"
    ]
    mod = await moderator(server, world)
    approved = await mod.call(
        "qa:moderate", {"session": world.session, "question": q["id"], "action": "approve"}
    )
    assert approved["ok"], approved
    acks = await asyncio.gather(
        *(
            c.call("qa:vote", {"session": world.session, "question": q["id"], "vote": i % 2 == 0})
            for i, c in enumerate(sockets * 4)
        )
    )
    assert sum(a["ok"] for a in acks) == 8, acks[:3]
    assert {a["error"]["code"] for a in acks if not a["ok"]} == {"rate_limited"}


async def test_unknown_events_are_charged_and_every_one_is_answered(
    server: Running, world: World, http
) -> None:
    token = await audience_token(http, server, world.event["code"])
    c = (await _sockets(server, world, token, 1))[0]
    acks = await asyncio.gather(*(c.call(f"made:up:{i}", {"x": i}) for i in range(300)))
    codes = [a["error"]["code"] for a in acks]
    assert len(acks) == 300
    assert set(codes) == {"invalid", "rate_limited"}
    assert codes.count("invalid") <= 45  # the socket's burst, then its allowance
    # The socket's allowance is spent for real events too.
    ack = await c.call("qa:ask", {"session": world.session, "text": "now?", "client_id": "c2"})
    assert ack["ok"] is False and ack["error"]["code"] == "rate_limited"
