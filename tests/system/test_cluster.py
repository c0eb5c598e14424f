"""Podium on a Redis/Valkey Cluster of three primaries (Valkey's own binary from the embedded
package, in cluster mode, on loopback ports, started here): every key of a session carries the
session as its hash tag, so a session lives on one shard and sessions spread over the shards;
the suite's core (the stores, Q&A, the feed's order and resume, presence and joins, the stage,
the clock, reactions, broadcasts, an upgrade, two worker processes) runs against it unchanged.
docs/operations.md quotes the figures these tests print."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from redis.exceptions import ResponseError

from server import appkeys
from server.store import keys, scripts
from server.store.connection import connect
from server.store.qa import QAStore
from tests.conftest import (
    Api,
    Connected,
    Running,
    audience_token,
    make_settings,
    make_world,
    start_server,
    stop_server,
)
from tests.stores import ClusterSet

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]

# The suite's core, run with REDIS_URL naming the Cluster.
CORE = [
    "tests/store/test_events_store.py",
    "tests/store/test_feed_store.py",
    "tests/store/test_presence_store.py",
    "tests/store/test_ratelimit.py",
    "tests/store/test_migrate.py",
    "tests/realtime/test_qa.py",
    "tests/realtime/test_feed.py",
    "tests/realtime/test_join.py",
    "tests/realtime/test_lineup.py",
    "tests/realtime/test_clock.py",
    "tests/realtime/test_reactions.py",
    "tests/realtime/test_broadcasts.py",
    "tests/realtime/test_upgrade.py",
    "tests/system/test_workers.py",
]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterSet]:
    started = time.monotonic()
    with ClusterSet(tmp_path_factory.mktemp("cluster")) as c:
        print(f"\ncluster of {len(c.nodes)} primaries up in {time.monotonic() - started:.1f} s")
        yield c


@pytest.mark.timeout(240)
def test_the_suites_core_runs_on_the_cluster(cluster: ClusterSet):
    # Not as a pytest-xdist worker (its variables would say so): one process, one store.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    env.update(REDIS_URL=cluster.url, PYTHONPATH=str(ROOT))
    started = time.monotonic()
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:xdist",
            "--no-header",
            *CORE,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    took = time.monotonic() - started
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else ""
    print(f"\nthe suite's core on the cluster: {summary} ({took:.0f} s)")
    assert run.returncode == 0, f"{run.stdout[-6000:]}\n{run.stderr[-2000:]}\n{cluster.logs()}"
    assert " passed" in summary and "skipped" not in summary, summary


async def _sessions_on_two_shards(
    org: Api, cluster: ClusterSet, event_id: str, first: list[str]
) -> list[str]:
    """Sessions of the event, more made until two primaries hold one: [on one, on another]."""
    sessions = list(first)
    for i in range(30):
        nodes = {cluster.node_of(keys.session(s)).name: s for s in sessions}
        if len(nodes) >= 2:
            return list(nodes.values())[:2]
        made = await org.ok(
            "POST",
            f"/api/events/{event_id}/sessions",
            {"title": f"Track {i}", "starts_at": "2026-12-03T13:00", "ends_at": "2026-12-03T14:00"},
        )
        sessions.append(made["session"]["id"])
    raise AssertionError("30 sessions, all on one primary")


async def _busy(
    server: Running, org: Api, http: aiohttp.ClientSession, event: dict[str, Any], session: str
) -> None:
    """Everything a session's keys hold: a moderator, a speaker, the audience asking, voting,
    reacting, raising a hand and chatting, the clock, the lineup."""
    staff, ids = {}, {}
    for role in ("moderator", "speaker"):
        inv = await org.ok(
            "POST", f"/api/events/{event['id']}/invites", {"role": role, "session_id": session}
        )
        staff[role], ids[role] = await server.client(auth={"token": inv["token"]}), inv["invite"]["id"]
        assert (await staff[role].call("session:join", {"session": session}))["ok"]
    mod = staff["moderator"]
    people = []
    for name in ("Ann", "Bob"):
        c = await server.client(auth={"participant": await audience_token(http, server, event["code"], name)})
        assert (await c.call("session:join", {"session": session, "where": "hall"}))["ok"]
        people.append(c)
    ann, bob = people
    ask = await ann.call("qa:ask", {"session": session, "text": "Where is my session?", "client_id": "a1"})
    qid = ask["question"]["id"]
    for call in (
        (mod, "qa:moderate", {"session": session, "question": qid, "action": "approve"}),
        (bob, "qa:vote", {"session": session, "question": qid, "vote": True}),
        (bob, "reaction:send", {"session": session, "emoji": "👏"}),
        (bob, "hand:raise", {"session": session, "note": "A follow-up"}),
        (mod, "stage:timer", {"session": session, "action": "start", "seconds": 600}),
        (mod, "stage:set", {"session": session, "speaker": ids["speaker"], "state": "live"}),
        (mod, "chat:send", {"session": session, "text": "Two minutes", "client_id": "c1"}),
    ):
        client, event_name, payload = call
        ack = await client.call(event_name, payload)
        assert ack["ok"], (event_name, ack)
    await ann.wait_for(lambda c: c.feed.questions.get(qid, {}).get("votes") == 1)


async def test_sessions_spread_over_the_shards_each_whole_on_one(
    cluster: ClusterSet, tmp_path: Path, http: aiohttp.ClientSession
):
    cluster.flush()
    running = await start_server(make_settings(cluster.url, tmp_path))
    try:
        org = Api(http, running.url, await running.organizer_token())
        world = await make_world(org)
        a, b = await _sessions_on_two_shards(
            org, cluster, world.event["id"], [s["id"] for s in world.sessions]
        )
        for session in (a, b):
            await _busy(running, org, http, world.event, session)
        by_node = cluster.keys_by_node()
        for session in (a, b):
            tag = "{" + session + "}"
            holders = {node: [k for k in ks if tag in k] for node, ks in by_node.items()}
            holders = {node: ks for node, ks in holders.items() if ks}
            assert list(holders) == [cluster.node_of(keys.session(session)).name], holders
            (held,) = holders.values()
            assert len(held) >= 20, held  # the session's state, not a stray key
        assert cluster.node_of(keys.session(a)) is not cluster.node_of(keys.session(b))
        tag = "{" + world.event["id"] + "}"
        event_nodes = {node for node, ks in by_node.items() if any(tag in k for k in ks)}
        assert event_nodes == {cluster.node_of(keys.event(world.event["id"])).name}
        spread = {node: len(ks) for node, ks in by_node.items()}
        print(f"\nkeys per primary, two busy sessions and their event: {spread}")
        # Every script the worker runs there starts with #!lua, so the server holds it to the
        # slot of its KEYS: a clock script that strayed to another slot of the same node (which
        # a script without the line may touch) is refused.
        clock = scripts.load(running.app[appkeys.REDIS], "clock")
        assert clock.script.startswith("#!lua\n")
        home = cluster.node_of(keys.session(a))
        other = next(
            k for k in (keys.session(f"x{i}") for i in range(1000))
            if cluster.node_of(k) is home and cluster.slot(k) != cluster.slot(keys.session(a))
        )  # fmt: skip
        line = "local key, log, action, amount = KEYS[1],"
        assert line in clock.script
        strayed = clock.script.replace(line, f"local key, log, action, amount = '{other}',")
        with pytest.raises(ResponseError, match="same slot"):
            await running.app[appkeys.REDIS].eval(strayed, 2, keys.session(a), keys.log(a), "start", 1000)
        assert not scripts.source("clock").startswith("#"), "one server: Redis 5 and 6 read it"
    finally:
        await stop_server(running)


def _ms(samples: list[float]) -> str:
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return f"p50 {statistics.median(samples) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"


async def _figures(server: Running, http: aiohttp.ClientSession, n: int = 100) -> dict[str, list[float]]:
    """Time n/2 joins, n asks and n votes (to their ack), and each ask until another phone
    shows it (people take turns: each person's asks and votes are rate-limited)."""
    org = Api(http, server.url, await server.organizer_token())
    world = await make_world(org)
    session = world.session
    mod = await server.client(auth={"token": world.tokens["moderator"]})
    assert (await mod.call("session:join", {"session": session}))["ok"]
    await mod.call("qa:settings", {"session": session, "moderation": "post"})
    out: dict[str, list[float]] = {"join": [], "ask": [], "vote": [], "ask seen by another phone": []}
    phones: list[Connected] = []
    for _ in range(n // 2):  # each a new phone: a join is rate-limited per person
        phone = await server.client(
            auth={"participant": await audience_token(http, server, world.event["code"])}
        )
        started = time.perf_counter()
        ack = await phone.call("session:join", {"session": session})
        out["join"].append(time.perf_counter() - started)
        assert ack["ok"], ack
        phones.append(phone)
    watcher = phones[-1]
    for i in range(n):
        started = time.perf_counter()
        ack = await phones[i % len(phones)].call(
            "qa:ask", {"session": session, "text": f"Question {i}", "client_id": f"f{i}"}
        )
        out["ask"].append(time.perf_counter() - started)
        assert ack["ok"], ack
        qid = ack["question"]["id"]
        await watcher.wait_for(lambda c, qid=qid: qid in c.feed.questions)
        out["ask seen by another phone"].append(time.perf_counter() - started)
        started = time.perf_counter()
        vote = await phones[(i + 1) % len(phones)].call(
            "qa:vote", {"session": session, "question": qid, "vote": True}
        )
        out["vote"].append(time.perf_counter() - started)
        assert vote["ok"], vote
    return out


async def _store_cpu(url: str, n: int = 500) -> dict[str, float]:
    """What one store call costs this process in CPU (µs): a plain read, and a vote (a script)."""
    client = connect(url)
    await client.ping()
    try:
        await client.hset(keys.session("S"), mapping={"v": 1, "lk": 0})
        qa = QAStore(client)
        qid, _, _ = await qa.ask(
            "S", question_id="q", client_id="c", person="a", name="", anonymous=False, alias="",
            text="t", now_ms=1, held="", slow_ms=0,
        )  # fmt: skip
        await qa.moderate("S", qid, "approve", 2)
        out = {}
        for what, call in (
            ("read", lambda i: client.hget(keys.session("S"), "v")),
            ("vote", lambda i: qa.vote("S", qid, f"p{i}", True)),
        ):
            started = time.process_time()
            for i in range(n):
                await call(i)
            out[what] = (time.process_time() - started) / n * 1e6
        return out
    finally:
        await client.aclose()


@pytest.mark.timeout(120)
async def test_figures_on_the_cluster_and_on_one_server(
    cluster: ClusterSet, clean_redis: str, tmp_path: Path, http: aiohttp.ClientSession
):
    """The same session traffic against one server and against the Cluster (one worker in this
    process, on this machine): what a request costs in time, to its ack and to another phone,
    and what a store call costs the worker in CPU."""
    report = []
    for name, url in (("one server", clean_redis), ("cluster", cluster.url)):
        if name == "cluster":
            cluster.flush()
        settings = make_settings(url, tmp_path / name.replace(" ", "-"), join_per_minute_per_ip=10_000)
        running = await start_server(settings)
        try:
            figures = await _figures(running, http)
        finally:
            await stop_server(running)
        for what, samples in figures.items():
            report.append(f"{name:>10} {what:>26}: {_ms(samples)}")
            assert statistics.median(samples) < 0.5, (name, what)
        for what, us in (await _store_cpu(url)).items():
            report.append(f"{name:>10} {'CPU per store ' + what:>26}: {us:.0f} µs")
    print("\n" + "\n".join(report))
