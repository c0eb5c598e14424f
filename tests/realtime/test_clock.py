"""The session clock: one per session, on Redis time, the same on every worker and after a reconnect."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.conftest import (
    Running,
    World,
    audience_token,
    make_settings,
    moderator,
    start_server,
    stop_server,
)


def left_now(clock: dict, received_at: float) -> float:
    """Seconds left as a client computes it from a clock it received at received_at."""
    if clock["state"] != "running":
        return clock["left_ms"] / 1000
    return clock["left_ms"] / 1000 - (time.monotonic() - received_at)


async def test_a_fresh_clock_holds_the_sessions_length_and_runs_when_started(server: Running, world: World):
    mod = await moderator(server, world)
    snap = await mod.call("session:snapshot", {})
    assert snap["clock"]["state"] == "idle" and snap["clock"]["left_ms"] == 15 * 60 * 1000
    ack = await mod.call("stage:timer", {"session": world.session, "action": "start"})
    assert ack["clock"]["state"] == "running" and ack["v"] == snap["v"] + 1
    assert ack["clock"]["deadline_ms"] - ack["clock"]["now_ms"] == ack["clock"]["left_ms"]
    again = await mod.call("stage:timer", {"session": world.session, "action": "start"})
    assert again["v"] == ack["v"], "starting a running clock changes nothing"
    await asyncio.sleep(0.3)
    paused = await mod.call("stage:timer", {"session": world.session, "action": "pause"})
    assert paused["clock"]["state"] == "paused"
    assert 15 * 60 * 1000 - 1000 < paused["clock"]["left_ms"] <= 15 * 60 * 1000 - 250
    added = await mod.call("stage:timer", {"session": world.session, "action": "add", "seconds": 120})
    assert added["clock"]["left_ms"] == paused["clock"]["left_ms"] + 120_000
    reset = await mod.call("stage:timer", {"session": world.session, "action": "reset", "seconds": 600})
    assert reset["clock"] == {**reset["clock"], "state": "idle", "left_ms": 600_000, "deadline_ms": None}


async def test_the_clock_agrees_across_two_workers_and_a_reconnect(
    server: Running, world: World, http, clean_redis, tmp_path
):
    other = await start_server(make_settings(clean_redis, tmp_path, secret=server.settings.secret))
    try:
        mod = await moderator(server, world)
        token = await audience_token(http, server, world.event["code"])
        phone = await other.client(auth={"participant": token})
        await phone.call("session:join", {"session": world.session})
        await mod.call("stage:timer", {"session": world.session, "action": "start"})
        delta = (await phone.wait_for(lambda c: c.parts("clock")))[0]
        got_delta = time.monotonic()
        assert delta["state"] == "running"
        await asyncio.sleep(0.5)
        ack = await mod.call("stage:timer", {"session": world.session, "action": "add", "seconds": 60})
        got_ack = time.monotonic()
        await phone.wait_for(lambda c: len(c.parts("clock")) == 2)
        got_second = time.monotonic()
        second = phone.parts("clock")[1]
        # Worker A's answer and what worker B's client computes agree within a second.
        assert abs(left_now(ack["clock"], got_ack) - left_now(second, got_second)) < 1
        assert abs(left_now(second, got_second) - (left_now(delta, got_delta) + 60)) < 1
        # Reconnect (to the other worker): the snapshot says the same.
        await phone.disconnect()
        again = await server.client(auth={"participant": token})
        snap = await again.call("session:join", {"session": world.session})
        got_snap = time.monotonic()
        assert abs(left_now(snap["clock"], got_snap) - left_now(ack["clock"], got_ack)) < 1
    finally:
        await stop_server(other)


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"session": "S"},
        {"session": "S", "action": "explode"},
        {"session": "S", "action": "add"},
        {"session": "S", "action": "add", "seconds": "60"},
        {"session": "S", "action": "add", "seconds": 10**9},
        {"session": "S", "action": "start", "seconds": 0},
        {"session": "S", "action": "start", "x": 1},
        {"session": "OTHER", "action": "start"},
    ],
    ids=repr,
)
async def test_bad_timer_calls_are_refused_and_change_nothing(server: Running, world: World, payload):
    mod = await moderator(server, world)
    if isinstance(payload, dict) and payload.get("session") in ("S", "OTHER"):
        payload = {
            **payload,
            "session": world.session if payload["session"] == "S" else world.sessions[1]["id"],
        }
    before = await mod.call("session:snapshot", {})
    ack = await mod.call("stage:timer", payload)
    assert ack["ok"] is False and ack["error"]["code"] in ("invalid", "conflict")
    after = await mod.call("session:snapshot", {})
    assert after["v"] == before["v"] and after["clock"]["state"] == "idle"


@pytest.mark.parametrize("role", ["audience", "speaker", "screen"])
async def test_only_moderators_run_the_clock(server: Running, world: World, http, role):
    if role == "audience":
        auth = {"participant": await audience_token(http, server, world.event["code"])}
    else:
        auth = {"token": world.tokens[role]}
    c = await server.client(auth=auth)
    await c.call("session:join", {"session": world.session})
    ack = await c.call("stage:timer", {"session": world.session, "action": "start"})
    assert ack["error"]["code"] == "forbidden"
    assert (await c.call("session:snapshot", {}))["clock"]["state"] == "idle"
