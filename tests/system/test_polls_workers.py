"""Polls across two real worker processes: answers taken by either worker add up to the same
results on every face, logged coalesced by whichever worker took them."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Api
from tests.system.conftest import (
    Clients,
    Procs,
    create_event,
    create_invite,
    join_code,
    organizer_token,
    start_workers,
)

pytestmark = pytest.mark.slow


def results(c: Any, poll: str) -> dict[str, Any] | None:
    """The poll's results as the client's page holds them (frames in order)."""
    out = None
    for event, data in c.received:
        if event != "session:feed" or not isinstance(data, dict):
            continue
        for p in data.get("polls", []):
            if p["id"] == poll and "results" in p:
                out = p["results"]
        if poll in (data.get("poll_results") or {}):
            out = data["poll_results"][poll]
    return out


async def test_answers_on_two_workers_add_up_everywhere(
    procs: Procs, clean_redis: str, tmp_path: Path, http, clients: Clients
):
    w1, w2 = await start_workers(procs, clean_redis, tmp_path, 2)
    org = Api(http, w1.url, await organizer_token(clean_redis))
    setup = await create_event(org)
    mod_token = (await create_invite(org, setup))["token"]
    screen_token = (await create_invite(org, setup, role="screen"))["token"]
    mods = []
    for w in (w1, w2):
        m = await clients.connect(w.url, {"token": mod_token})
        assert (await m.call("session:join", {"session": setup.session}))["ok"]
        mods.append(m)
    screen = await clients.connect(w2.url, {"token": screen_token})
    assert (await screen.call("session:join", {"session": setup.session}))["ok"]
    ack = await mods[0].call(
        "poll:create",
        {"session": setup.session, "kind": "choice", "question": "Which?", "options": ["A", "B", "C"]},
    )
    poll = ack["poll"]
    assert (await mods[0].call("poll:state", {"session": setup.session, "poll": poll, "action": "open"}))[
        "ok"
    ]

    phones = []
    for i in range(24):
        w = (w1, w2)[i % 2]
        person = await join_code(http, w.url, setup.code)
        c = await clients.connect(w.url, {"participant": person["token"]})
        assert (await c.call("session:join", {"session": setup.session}))["ok"]
        phones.append(c)
    acks = await asyncio.gather(
        *(
            c.call("poll:answer", {"session": setup.session, "poll": poll, "answer": [i % 3]})
            for i, c in enumerate(phones)
        )
    )
    assert all(a["ok"] for a in acks), acks
    want = {"voters": 24, "counts": {"0": 8, "1": 8, "2": 8}}
    for face in (*mods, screen):
        await face.wait_for(lambda c: results(c, poll) == want, timeout=10)
