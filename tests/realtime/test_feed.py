"""The session feed over real sockets: order under concurrency, across workers and through
store trouble; resuming after missed frames; what a reconnect costs."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster

from server import appkeys
from server.store import keys
from tests.conftest import (
    Api,
    Connected,
    OwnStore,
    Running,
    World,
    audience_token,
    fence,
    make_settings,
    moderator,
    person,
    start_server,
    stop_server,
)
from tests.follower import Follower


def chained(c: Connected) -> None:
    """Every frame c received starts where an earlier one ended or before, and ends later."""
    frames = c.frames()
    for earlier, later in itertools.pairwise(frames):
        assert tuple(later["from"]) <= tuple(earlier["to"]) < tuple(later["to"]), (earlier, later)


async def test_thirty_concurrent_questions_arrive_in_log_order_with_no_gap(
    server: Running, world: World, http
):
    """The bug this replaced: 30 concurrent asks gave a moderator v = 10, 9, 8, ..., 3."""
    mod = await moderator(server, world)
    await mod.call("qa:settings", {"session": world.session, "moderation": "post"})
    watchers = [await person(server, world, http) for _ in range(3)]
    askers = [await person(server, world, http, f"P{i}") for i in range(30)]
    acks = await asyncio.gather(
        *(
            a.call(
                "qa:ask", {"session": world.session, "text": f"Question {i}", "client_id": uuid.uuid4().hex}
            )
            for i, a in enumerate(askers)
        )
    )
    assert all(a["ok"] for a in acks)
    ids = {a["question"]["id"] for a in acks}
    top = max(a["v"] for a in acks)
    for c in (mod, *watchers):
        await c.wait_for(lambda c: c.feed.pos >= (top, 0) and ids <= set(c.feed.questions))
        chained(c)
        assert (c.feed.gaps, c.feed.regressions, c.feed.snapshots) == (0, 0, 1)
        # The moderator's frames carry the versions of every ask, in order.
        ends = [f["to"][0] for f in c.frames()]
        assert ends == sorted(ends)


async def test_a_client_that_missed_frames_resumes_from_the_entries_the_worker_holds(
    server: Running, world: World, http
):
    mod = await moderator(server, world)
    ann = await person(server, world, http)
    old = ann.feed.pos
    for seconds in (1, 2, 3):
        assert (
            await mod.call("stage:timer", {"session": world.session, "action": "add", "seconds": seconds})
        )["ok"]
    await fence(world, mod, ann)
    ack = await ann.sio.call("session:resume", {"session": world.session, "since": list(old)})
    assert ack["ok"] and "frame" in ack, ack
    frame = ack["frame"]
    assert tuple(frame["from"]) == old and tuple(frame["to"]) == ann.feed.pos
    assert frame["clock"] == {**frame["clock"], "state": "idle"}
    # Nothing missed: an empty frame at the same place.
    same = await ann.sio.call("session:resume", {"session": world.session, "since": list(ann.feed.pos)})
    assert same["frame"] == {**same["frame"], "from": list(ann.feed.pos), "to": list(ann.feed.pos)}
    assert set(same["frame"]) == {"session", "from", "to", "now_ms"}


async def test_a_resume_older_than_the_worker_remembers_reads_the_log_and_older_than_the_log_gets_a_snapshot(
    server: Running, world: World, http
):
    mod = await moderator(server, world)
    ann = await person(server, world, http)
    start = ann.feed.pos
    for _ in range(5):
        await mod.call("stage:timer", {"session": world.session, "action": "add", "seconds": 1})
    await fence(world, mod, ann)
    local = server.app[appkeys.HUB].sessions[world.session]
    local.ring.clear()  # as if this worker had long forgotten
    local.ring_base = local.state.pos
    ack = await ann.sio.call("session:resume", {"session": world.session, "since": list(start)})
    assert "frame" in ack and tuple(ack["frame"]["from"]) == start, ack
    assert tuple(ack["frame"]["to"]) == local.state.pos
    # The log trimmed past it: the whole session instead.
    r = server.app[appkeys.REDIS]
    await r.xtrim(keys.log(world.session), maxlen=1, approximate=False)
    ack = await ann.sio.call("session:resume", {"session": world.session, "since": list(start)})
    assert "snapshot" in ack and tuple(ack["snapshot"]["at"]) == local.state.pos, ack
    # A malformed position is refused.
    for bad in ("3-0", [1], [1, -1], ["1", "0"], [True, 0], None, [2**60, 0]):
        ack = await ann.sio.call("session:resume", {"session": world.session, "since": bad})
        assert ack["ok"] is False and ack["error"]["code"] == "invalid", (bad, ack)


async def test_a_reconnect_costs_only_what_was_missed(server: Running, world: World, http):
    mod = await moderator(server, world)
    token = await audience_token(http, server, world.event["code"])
    phone = await server.client(auth={"participant": token})
    assert (await phone.call("session:join", {"session": world.session}))["ok"]
    held = phone.feed.pos
    await phone.disconnect()  # a tunnel
    await mod.call("qa:settings", {"session": world.session, "moderation": "post"})
    back = await server.client(auth={"participant": token})
    back.feed.session, back.feed.pos, back.feed.state = world.session, held, phone.feed.state
    ack = await back.call("session:join", {"session": world.session, "since": list(held)})
    assert ack["ok"] and ack["resumed"] is True, ack
    assert "qa" not in ack and "at" not in ack, "no snapshot: only what changed"
    assert ack["frame"]["qa"]["settings"]["moderation"] == "post"
    assert ack["you"]["role"] == "audience" and "voted" in ack
    assert back.state["qa"]["settings"]["moderation"] == "post"
    # A position from before the log (or from another session's numbers) gets a snapshot.
    other = await server.client(auth={"participant": token})
    ack = await other.call("session:join", {"session": world.session, "since": [0, 0]})
    assert ack["ok"] and "at" in ack and "resumed" not in ack


async def test_two_workers_give_their_sockets_the_same_frames_in_the_same_order(
    server: Running, world: World, http, clean_redis, tmp_path
):
    other = await start_server(make_settings(clean_redis, tmp_path, secret=server.settings.secret))
    try:
        mod = await moderator(server, world)
        await mod.call("qa:settings", {"session": world.session, "moderation": "post"})
        here = [await person(server, world, http) for _ in range(3)]
        there = []
        for _ in range(3):
            c = await other.client(
                auth={"participant": await audience_token(http, server, world.event["code"])}
            )
            assert (await c.call("session:join", {"session": world.session}))["ok"]
            there.append(c)
        acks = await asyncio.gather(
            *(
                c.call(
                    "qa:ask", {"session": world.session, "text": f"From {i}", "client_id": uuid.uuid4().hex}
                )
                for i, c in enumerate(here + there)
            )
        )
        ids = [a["question"]["id"] for a in acks]
        await asyncio.gather(
            *(
                mod.call("qa:moderate", {"session": world.session, "question": q, "action": "screen"})
                for q in ids
            )
        )
        await fence(world, mod, *here, *there)
        final = {q: mod.feed.questions[q]["on_screen"] for q in ids}
        assert sum(final.values()) == 1
        for c in here + there:
            chained(c)
            assert c.feed.gaps == 0
            assert {q: c.feed.questions[q]["on_screen"] for q in ids} == final
            assert c.state["qa"]["screen"] == mod.state["qa"]["screen"]
    finally:
        await stop_server(other)


async def test_a_reader_that_loses_its_connection_continues_where_it_was(server: Running, world: World, http):
    mod = await moderator(server, world)
    ann = await person(server, world, http)
    await mod.call("qa:settings", {"session": world.session, "moderation": "post"})
    r = server.app[appkeys.REDIS]
    killed = 0
    # Every node of a Cluster (the reader has a connection to the session's, and may have
    # one to the node it learnt the Cluster's layout from).
    for node in r.get_primaries() if isinstance(r, RedisCluster) else [None]:
        on = {"target_nodes": node} if node else {}
        for client in await r.client_list(**on):
            if client.get("name") == "podium-feed":
                await r.execute_command("CLIENT", "KILL", "ID", client["id"], **on)
                killed += 1
    assert killed == 1 or (killed and isinstance(r, RedisCluster))
    # Changes made while the reader reconnects reach everyone, in order, none lost.
    for i in range(10):
        ack = await ann.call(
            "qa:ask", {"session": world.session, "text": f"During {i}", "client_id": f"d{i}"}
        )
        assert ack["ok"]
    await fence(world, mod, ann)
    assert len(ann.feed.questions) == 10
    chained(ann)
    assert ann.feed.gaps == 0


@pytest.mark.parametrize("settings_overrides", [{"feed_small_room": 2, "feed_tick_ms": 400}])
async def test_a_big_rooms_audience_gets_gathered_frames_but_a_moderators_move_at_once(
    server: Running, world: World, http, org: Api
):
    mod = await moderator(server, world)
    await mod.call("qa:settings", {"session": world.session, "moderation": "post"})
    crowd = [await person(server, world, http) for _ in range(30)]  # past small_room
    await crowd[0].wait_for(lambda c: c.last_count(world.session) == 31)  # and the moderator
    ann = crowd[0]
    before = len(ann.frames())
    acks = []
    for i in range(8):
        acks.append(
            await crowd[i + 1].call(
                "qa:ask", {"session": world.session, "text": f"Q{i}", "client_id": f"q{i}"}
            )
        )
        await asyncio.sleep(0.05)
    await ann.wait_for(lambda c: len(c.feed.questions) == 8)
    gathered = ann.frames()[before:]
    assert len(gathered) < 8, "eight questions in 0.4 s come as fewer frames"
    assert len(mod.frames()) > len(gathered), "the moderator gets every change at once"
    # A moderator's move is not held back by the tick.
    loop = asyncio.get_running_loop()
    started = loop.time()
    await mod.call(
        "qa:moderate", {"session": world.session, "question": acks[0]["question"]["id"], "action": "screen"}
    )
    await ann.wait_for(lambda c: c.state["qa"]["screen"] == acks[0]["question"]["id"])
    assert loop.time() - started < 0.3
    chained(ann)


async def test_the_store_restarting_sends_every_socket_the_whole_state_again(own: OwnStore, http):
    running, world = own.server, own.world
    mod = await moderator(running, world)
    ann = await person(running, world, http)
    await mod.call("qa:settings", {"session": world.session, "moderation": "post"})
    ack = await ann.call("qa:ask", {"session": world.session, "text": "Before", "client_id": "b1"})
    await fence(world, mod, ann)
    url = own.store.url
    own.store.stop()
    assert own.store.start() == url  # the same port and data: its append-only file brings it back
    await ann.wait_for(lambda c: c.feed.resets >= 1, timeout=15)
    assert ack["question"]["id"] in ann.feed.questions
    # The feed goes on after it.
    after = await ann.call(
        "qa:ask", {"session": world.session, "text": "After", "client_id": "a1"}, timeout=10
    )
    assert after["ok"], after
    await mod.wait_for(lambda c: after["question"]["id"] in c.feed.questions, timeout=10)
    assert mod.feed.resets >= 1


async def test_the_feed_reader_keeps_its_own_connection(server: Running, world: World, http):
    await person(server, world, http)
    r: aioredis.Redis = server.app[appkeys.REDIS]
    if not isinstance(r, RedisCluster):
        names = [c.get("name") for c in await r.client_list()]
        assert names.count("podium-feed") == 1
        return
    # A Cluster: a client of its own, reading on the session's node (its other connections,
    # at most one a node, are those it learnt the layout and the time on).
    per_node = {
        node.name: [c.get("name") for c in await r.client_list(target_nodes=node)].count("podium-feed")
        for node in r.get_primaries()
    }
    assert per_node[r.get_node_from_key(keys.log(world.session)).name] >= 1, per_node
    assert sum(per_node.values()) <= len(per_node) + 1, per_node


class Paused:
    """An audience phone on a raw websocket (picows) whose reading can be paused, as a phone
    in a tunnel or a frozen tab: the server sees it stop reading."""

    def __init__(self) -> None:
        self.feed = Follower()
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.n = 0
        self.ready = asyncio.get_running_loop().create_future()
        self.transport: Any = None
        self.changed = asyncio.Event()
        self.token = ""
        self.resuming: asyncio.Future[None] | None = None

    def listener(self) -> Any:
        from picows import WSListener, WSMsgType

        outer = self

        class Listener(WSListener):  # type: ignore[misc]
            def on_ws_connected(self, transport: Any) -> None:
                outer.transport = transport

            def on_ws_frame(self, transport: Any, frame: Any) -> None:
                data = frame.get_payload_as_bytes()
                if data[:1] == b"0":
                    transport.send(WSMsgType.TEXT, b"40" + orjson.dumps({"participant": outer.token}))
                elif data[:1] == b"2":
                    transport.send(WSMsgType.TEXT, b"3")
                elif data[:2] == b"40" and not outer.ready.done():
                    outer.ready.set_result(True)
                elif data[:2] == b"43":
                    i = 2
                    while data[i : i + 1].isdigit():
                        i += 1
                    outer.acks.pop(int(data[2:i])).set_result(orjson.loads(data[i:])[0])
                elif (
                    data.startswith(b'42["session:feed",')
                    and outer.feed.take(orjson.loads(data[18:-1])) == "gap"
                ):
                    outer.resuming = asyncio.ensure_future(outer.resume())
                outer.changed.set()

        return Listener()

    async def connect(self, server: Running, token: str) -> None:
        from picows import ws_connect

        self.token = token
        url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        await ws_connect(self.listener, url)
        await asyncio.wait_for(self.ready, 5)

    async def call(self, event: str, payload: Any) -> Any:
        from picows import WSMsgType

        self.n += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.acks[self.n] = fut
        self.transport.send(WSMsgType.TEXT, b"42" + str(self.n).encode() + orjson.dumps([event, payload]))
        return await asyncio.wait_for(fut, 10)

    async def join(self, session: str) -> None:
        self.feed.begin(session)
        self.feed.settle(await self.call("session:join", {"session": session}))

    async def resume(self) -> None:
        self.feed.begin()
        ack = await self.call(
            "session:resume", {"session": self.feed.session, "since": list(self.feed.pos or (0, 0))}
        )
        self.feed.settle(ack)

    def pause(self) -> None:
        self.transport.underlying_transport.pause_reading()

    def go_on(self) -> None:
        self.transport.underlying_transport.resume_reading()

    def close(self) -> None:
        self.transport.disconnect()


@pytest.mark.parametrize(
    "settings_overrides", [{"feed_slow_bytes": 32 * 1024, "socket_events_per_10s": 10**6}]
)
async def test_a_phone_that_stops_reading_is_skipped_then_told_to_resume(server: Running, world: World, http):
    mod = await moderator(server, world)
    await mod.call("qa:settings", {"session": world.session, "moderation": "post", "max_length": 2000})
    ann = await person(server, world, http)
    asked = await ann.call("qa:ask", {"session": world.session, "text": "x" * 50, "client_id": "long"})
    qid = asked["question"]["id"]
    phone = Paused()
    await phone.connect(server, await audience_token(http, server, world.event["code"]))
    try:
        await phone.join(world.session)
        phone.pause()
        hub = server.app[appkeys.HUB]
        sent = 0
        while hub.frames_skipped == 0 and sent < 2000:
            sent += 1
            text = f"{sent} " + "Long edited text " * 110  # ~1.9 KB a frame to each phone
            ack = await mod.call(
                "qa:moderate", {"session": world.session, "question": qid, "action": "edit", "text": text}
            )
            assert ack["ok"], ack
        assert hub.frames_skipped > 0, "a phone that reads nothing is skipped, not buffered without end"
        # Everyone else got everything, in order, meanwhile.
        await fence(world, mod, ann)
        assert ann.feed.questions[qid]["text"].startswith(f"{sent} ")
        assert ann.feed.gaps == 0
        # Back from the tunnel: it reads what was kept for it, learns it missed frames, resumes.
        phone.go_on()
        deadline = asyncio.get_running_loop().time() + 10
        while phone.feed.questions.get(qid, {}).get("text", "").split(" ")[0] != str(sent):
            assert asyncio.get_running_loop().time() < deadline, phone.feed.questions.get(qid, {}).get(
                "text", ""
            )[:20]
            phone.changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(phone.changed.wait(), 0.5)
        assert phone.feed.resumes >= 1
        assert phone.feed.pos == mod.feed.pos
    finally:
        phone.close()
