"""A speaker's connection, as the lineup shows it: `online` turns false within a moment of a
closed connection and within worker_ttl + sweep of a worker's SIGKILL, and a speaker who
comes back is online again in the place they had."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from server import appkeys
from server.store import keys
from server.store.connection import connect
from tests.conftest import Api, Connected, Running, World, fence, free_port
from tests.conftest import join_session as join
from tests.system.conftest import (
    SECRET,
    Clients,
    Procs,
    base_env,
    children,
    cmdline,
    conn_worker,
    create_event,
    create_invite,
    eventually,
    listeners,
    organizer_token,
    wait_disconnected,
    wait_healthy,
)

# --- helpers -----------------------------------------------------------------------------


async def speaker_link(org: Api, world: World, label: str) -> tuple[str, str]:
    inv = await org.ok(
        "POST",
        f"/api/events/{world.event['id']}/invites",
        {"role": "speaker", "session_id": world.session, "label": label},
    )
    return inv["invite"]["id"], inv["token"]


def entry(stage: dict[str, Any], speaker: str) -> dict[str, Any] | None:
    return next((s for s in stage["lineup"] if s["speaker"] == speaker), None)


def without_time(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A lineup row without since_ms (when the state began: checked on its own)."""
    return None if row is None else {k: v for k, v in row.items() if k != "since_ms"}


def lineups_showing(c: Connected, speaker: str, **want: Any) -> list[dict[str, Any]]:
    """The stages in c's frames where the speaker's entry has every field in want."""
    out = []
    for stage in c.parts("stage"):
        e = entry(stage, speaker)
        if e is not None and all(e.get(k) == v for k, v in want.items()):
            out.append(stage)
    return out


def onlines(c: Connected, speaker: str, value: bool) -> list[dict[str, Any]]:
    """The frames' notes of who is connected that say the speaker is (or is not)."""
    return [m for m in c.parts("online") if m.get(speaker) is value]


def shows_online(c: Connected, speaker: str) -> bool | None:
    """Whether c's page shows the speaker connected now."""
    e = entry(c.state["stage"], speaker) if "stage" in c.state else None
    return None if e is None else bool(e["online"])


# --- one worker, in this process ---------------------------------------------------------


async def test_a_speaker_who_drops_shows_offline_and_comes_back_online_in_the_same_place(
    server: Running, world: World, org: Api
):
    mod, _ = await join(server, world, {"token": world.tokens["moderator"]})
    sid, token = await speaker_link(org, world, "Minister")
    speaker, snap = await join(server, world, {"token": token})
    assert entry(snap["stage"], sid)["online"] is True
    live = await mod.call("stage:set", {"session": world.session, "speaker": sid, "state": "live"})
    assert live["changed"] is True
    await mod.wait_for(lambda c: lineups_showing(c, sid, state="live", online=True))

    await speaker.disconnect()
    dropped_at = time.monotonic()
    offline = await mod.wait_for(lambda c: onlines(c, sid, False), timeout=3)
    print(f"offline after {time.monotonic() - dropped_at:.2f}s")
    assert offline[-1]["v"] == live["v"], "a connection is not a versioned change"
    assert shows_online(mod, sid) is False
    snap = await mod.call("session:snapshot", {})
    assert snap["v"] == live["v"], "a connection is not a versioned change: no one resyncs for it"
    assert without_time(entry(snap["stage"], sid)) == {
        "speaker": sid,
        "state": "live",
        "label": "Minister",
        "online": False,
        "backup_url": None,
        "lang": "",
    }

    back, again = await join(server, world, {"token": token})
    assert entry(again["stage"], sid)["online"] is True
    assert entry(again["stage"], sid)["state"] == "live", "back in the place they had"
    await mod.wait_for(lambda c: [m for m in onlines(c, sid, True) if m["to"] > offline[-1]["to"]])
    assert shows_online(mod, sid) is True
    assert entry((await mod.call("session:snapshot", {}))["stage"], sid)["state"] == "live"
    assert back.sio.connected


async def test_a_speaker_with_two_tabs_stays_online_until_the_last_one_closes(
    server: Running, world: World, org: Api
):
    mod, _ = await join(server, world, {"token": world.tokens["moderator"]})
    sid, token = await speaker_link(org, world, "Panelist")
    first, _ = await join(server, world, {"token": token})
    second, _ = await join(server, world, {"token": token})
    await mod.wait_for(lambda c: lineups_showing(c, sid, online=True))

    await first.disconnect()
    # a later change to the lineup (another speaker arrives) shows who is online now
    other, other_token = await speaker_link(org, world, "Other")
    await join(server, world, {"token": other_token})
    got = await mod.wait_for(lambda c: [d for d in c.parts("stage") if entry(d, other)])
    assert entry(got[-1], sid)["online"] is True, "one tab closing is not a drop"
    assert not lineups_showing(mod, sid, online=False) and not onlines(mod, sid, False)

    await second.disconnect()
    await mod.wait_for(lambda c: onlines(c, sid, False), timeout=3)


async def test_the_audience_never_hears_of_a_speaker_dropping_backstage(
    server: Running, world: World, org: Api, http
):
    from tests.conftest import audience_token

    mod, _ = await join(server, world, {"token": world.tokens["moderator"]})
    aud, _ = await join(
        server, world, {"participant": await audience_token(http, server, world.event["code"])}
    )
    sid, token = await speaker_link(org, world, "Backstage")
    speaker, _ = await join(server, world, {"token": token})
    await speaker.disconnect()
    await mod.wait_for(lambda c: onlines(c, sid, False), timeout=3)
    await fence(world, mod, aud)
    assert not aud.parts("online"), "the audience is never told of connections"
    for d in aud.parts("stage"):
        assert d["lineup"] == [], d
    assert aud.state["stage"]["lineup"] == []
    assert sid not in str(aud.received)


# --- `podium serve --workers 2`, and a SIGKILL -------------------------------------------

HEARTBEAT_S, TTL_S, SWEEP_S = 1, 3, 1


def worker_pids(master: int) -> list[int]:
    return [pid for pid in children(master) if "worker" in cmdline(pid)]


def pid_of_connection(log: str, sid: str) -> int | None:
    """The worker process that logged this socket's session join ([w=<pid> conn=<sid> ...])."""
    m = re.search(rf"\[w=(\d+) conn={re.escape(sid)} [^\]]*\] joined as", log)
    return int(m.group(1)) if m else None


@pytest.mark.slow
async def test_sigkill_of_the_speakers_worker_shows_them_offline_on_the_other_worker(
    procs: Procs, clean_redis: str, tmp_path: Path, http, clients: Clients
):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = base_env(
        REDIS_URL=clean_redis,
        PODIUM_SECRET=SECRET,
        PODIUM_DATA_DIR=str(tmp_path),
        PODIUM_PRESENCE_HEARTBEAT_SECONDS=str(HEARTBEAT_S),
        PODIUM_PRESENCE_WORKER_TTL_SECONDS=str(TTL_S),
        PODIUM_PRESENCE_SWEEP_SECONDS=str(SWEEP_S),
    )
    serve = procs.start(["serve", "--workers", "2", "--port", str(port)], env, "serve")
    await wait_healthy(base, [serve])
    await eventually(lambda: listeners(port) == 2, 15, "both workers listening")
    assert len(worker_pids(serve.pid)) == 2, procs.logs()

    store = connect(clean_redis)
    try:
        org = Api(http, base, await organizer_token(clean_redis))
        setup = await create_event(org)
        speaker_inv = await create_invite(org, setup, "speaker")
        sid_speaker = speaker_inv["invite"]["id"]
        mod_inv = await create_invite(org, setup, "moderator")

        speaker = await clients.connect(base, {"token": speaker_inv["token"]})
        assert (await speaker.call("session:join", {"session": setup.session}))["ok"]
        speaker_worker = await conn_worker(store, setup.session, speaker.sio.get_sid())
        assert speaker_worker

        # The kernel spreads connections over the two workers: keep a moderator on the other one.
        mod = None
        for _ in range(30):
            c = await clients.connect(base, {"token": mod_inv["token"]})
            assert (await c.call("session:join", {"session": setup.session}))["ok"]
            if await conn_worker(store, setup.session, c.sio.get_sid()) != speaker_worker:
                mod = c
                break
            await c.disconnect()
        assert mod is not None, "every moderator connection landed on the speaker's worker"
        mod_worker = await conn_worker(store, setup.session, mod.sio.get_sid())

        live = await mod.call(
            "stage:set", {"session": setup.session, "speaker": sid_speaker, "state": "live"}
        )
        assert live["ok"] and live["changed"] is True, live
        await mod.wait_for(lambda c: lineups_showing(c, sid_speaker, state="live", online=True))

        victim = await eventually(
            lambda: pid_of_connection(serve.stderr(), speaker.sio.get_sid()),
            5,
            "the speaker's worker in the log",
        )
        assert victim in worker_pids(serve.pid), (victim, worker_pids(serve.pid))
        assert pid_of_connection(serve.stderr(), mod.sio.get_sid()) != victim

        os.kill(victim, signal.SIGKILL)  # no disconnect handler runs: only the sweeper can tell
        killed = time.monotonic()
        await wait_disconnected(speaker)
        try:
            offline = await mod.wait_for(
                lambda c: onlines(c, sid_speaker, False),
                timeout=TTL_S + SWEEP_S + HEARTBEAT_S + 8,
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n--- podium serve ---\n{procs.logs()[-6000:]}") from None
        took = time.monotonic() - killed
        print(f"speaker offline {took:.1f}s after SIGKILL of their worker")
        # Not before the dead worker's last heartbeat (at most HEARTBEAT_S before the kill) went stale.
        assert took >= TTL_S - HEARTBEAT_S - 0.5, f"offline after {took:.1f}s: not through the sweeper?"
        snap = await mod.call("session:snapshot", {})
        assert entry(snap["stage"], sid_speaker)["state"] == "live", "a crash moves no one"
        assert entry(snap["stage"], sid_speaker)["online"] is False
        assert await store.zscore(keys.WORKERS, speaker_worker) is None, "the dead worker was not reaped"
        assert await store.zscore(keys.WORKERS, mod_worker) is not None
        assert mod.sio.connected

        # The speaker's page reconnects (to whichever worker answers): online, still live.
        back = await clients.connect(base, {"token": speaker_inv["token"]})
        again = await back.call("session:join", {"session": setup.session})
        assert again["ok"], again
        assert without_time(entry(again["stage"], sid_speaker)) == {
            "speaker": sid_speaker,
            "state": "live",
            "label": "",
            "online": True,
            "backup_url": None,
            "lang": "",
        }
        await mod.wait_for(lambda c: shows_online(c, sid_speaker) is True)
        assert mod.feed.gaps == 0 and offline[-1]["to"] < mod.feed.pos
    finally:
        await store.aclose()


async def test_a_speaker_still_connected_in_another_browser_stays_online(
    server: Running, world: World, org: Api, http
):
    from tests.conftest import audience_token

    mod, _ = await join(server, world, {"token": world.tokens["moderator"]})
    sid, token = await speaker_link(org, world, "Minister")
    # The laptop once joined an event by its code, so it carries a participant cookie; the phone not.
    cookie = await audience_token(http, server, world.event["code"])
    laptop, _ = await join(server, world, {"token": token, "participant": cookie})
    phone, _ = await join(server, world, {"token": token})
    # One speaker (their link) in two browsers is one person on stage.
    await mod.wait_for(lambda c: (c.last_count(world.session) or 0) == 2)
    phone_sid = phone.sio.get_sid("/")
    await phone.disconnect()
    connections = server.app[appkeys.CONNECTIONS]
    for _ in range(200):  # until the server has processed the phone's disconnect
        if phone_sid not in connections:
            break
        await asyncio.sleep(0.02)
    assert phone_sid not in connections
    await asyncio.sleep(0.3)  # past a presence flush, which would publish a drop
    assert laptop.sio.connected
    snap = await mod.call("session:snapshot", {})
    assert snap["presence"]["counts"]["speaker"]["remote"] == 1
    assert entry(snap["stage"], sid)["online"] is True, "the laptop is still in the session"
