"""Podium on Redis/Valkey Sentinel: a primary, a replica and three Sentinels on loopback, two
workers following the primary they name. The primary is SIGKILLed mid-session (asks, votes, a
moderator approving); the Sentinels promote the replica, the dead node comes back as a replica
of the new primary, and Podium carries on without losing or doubling an acknowledged write."""

from __future__ import annotations

import asyncio
import gc
import random
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from server import appkeys
from server.store import keys
from tests.conftest import (
    Api,
    Connected,
    Running,
    World,
    fence,
    make_settings,
    make_world,
    moderator,
    person,
    start_server,
    stop_server,
)
from tests.stores import SentinelSet, until

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True, scope="module")
def _sentinel_leftovers() -> Iterator[None]:
    """Once this module's test loop has closed: collect what it left, ResourceWarnings off.
    Under load (the parallel suite), connections without a client name (redis-py's clients
    of the Sentinels, made during the failover) were found open by the collector in the next
    test of the process, failing that test's setup. Where they are left open is not found yet
    (the closing note of 2026-11-30 says where it was looked for); this keeps them from
    failing an unrelated test meanwhile, and from hiding anything else: only ResourceWarning
    is ignored, and only here."""
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


@dataclass
class Ledger:
    """Every write Podium acknowledged `ok`, and what the failover cost the people writing."""

    asks: dict[str, str] = field(default_factory=dict)  # text (unique per ask) -> question id
    votes: set[tuple[str, str]] = field(default_factory=set)  # (question, voter): voted for now
    approved: set[str] = field(default_factory=set)
    screen: str | None = None  # the last question put on screen
    acked: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    killed_at: float | None = None
    first_ask_after_kill: float | None = None


async def until_ok(c: Connected, ledger: Ledger, event: str, payload: dict[str, Any]) -> dict[str, Any]:
    """Send until acknowledged `ok`, as the browser does with a retryable refusal (the same
    payload: an ask keeps its client id, a vote is a set, an approval or a screen is a state)."""
    while True:
        try:
            ack = await c.call(event, payload, timeout=10)
        except socketio.exceptions.TimeoutError:
            ledger.refused["no ack"] += 1
            continue
        if ack["ok"]:
            ledger.acked[event] += 1
            return ack
        code = ack["error"]["code"]
        assert code in ("unavailable", "rate_limited"), ack  # all a failover may cause
        ledger.refused[f"{event} {code}"] += 1
        await asyncio.sleep(0.2 if code == "unavailable" else ack["error"]["retry_after"])


async def asking(c: Connected, name: str, world: World, ledger: Ledger, stop: asyncio.Event) -> None:
    """Ask a question every half second until stopped."""
    n = 0
    while not stop.is_set():
        n += 1
        text = f"{name} asks #{n} ({uuid.uuid4().hex[:8]})?"
        payload = {"session": world.session, "text": text, "client_id": uuid.uuid4().hex}
        asked_at = time.monotonic()
        ack = await until_ok(c, ledger, "qa:ask", payload)
        ledger.asks[text] = ack["question"]["id"]
        if ledger.killed_at and asked_at > ledger.killed_at and ledger.first_ask_after_kill is None:
            ledger.first_ask_after_kill = time.monotonic()
        await asyncio.sleep(0.5)


async def voting(c: Connected, name: str, world: World, ledger: Ledger, stop: asyncio.Event) -> None:
    """Vote for, or take back the vote for, one of the questions of others every half second."""
    while not stop.is_set():
        others = sorted(qid for qid, q in c.feed.questions.items() if not q["text"].startswith(name))
        if others:
            qid = random.choice(others)
            on = (qid, name) not in ledger.votes
            await until_ok(c, ledger, "qa:vote", {"session": world.session, "question": qid, "vote": on})
            (ledger.votes.add if on else ledger.votes.discard)((qid, name))
        await asyncio.sleep(0.5)


async def moderating(mod: Connected, world: World, ledger: Ledger, stop: asyncio.Event) -> None:
    """Approve every pending question as it arrives; put one of the two newest on screen, then
    the other, and so on."""
    while not stop.is_set():
        for qid, q in mod.feed.questions.items():
            if q["state"] == "pending" and qid not in ledger.approved:
                act = {"session": world.session, "question": qid, "action": "approve"}
                await until_ok(mod, ledger, "qa:moderate", act)
                ledger.approved.add(qid)
        approved = [q for q in mod.feed.questions.values() if q["state"] == "approved"]
        newest = sorted(approved, key=lambda q: q["created_at"])[-2:]
        pick = next((q["id"] for q in newest if q["id"] != ledger.screen), None)
        if pick is not None:
            act = {"session": world.session, "question": pick, "action": "screen"}
            await until_ok(mod, ledger, "qa:moderate", act)
            ledger.screen = pick
        await asyncio.sleep(0.25)


async def ready(http: aiohttp.ClientSession, server: Running) -> bool:
    async with http.get(server.url + "/readyz") as r:
        return r.status == 200


async def test_a_failover_mid_session_loses_no_acknowledged_write(
    tmp_path: Path, http: aiohttp.ClientSession
):
    async with SentinelSet(tmp_path / "stores", replicas=1, min_replicas=1) as stores:
        # A lively session, not a flood: per-person limits that its pace stays under.
        options = {"redis_wait_replicas": 1, "redis_socket_timeout": 2.0, "asks_per_minute": 600}
        a = await start_server(make_settings(stores.url, tmp_path / "a", **options))
        b = await start_server(make_settings(stores.url, tmp_path / "b", **options))
        try:
            await drive_a_session_through_a_failover(stores, a, b, http)
        except BaseException:
            print(stores.logs())
            raise
        finally:
            await stop_server(a)
            await stop_server(b)


async def drive_a_session_through_a_failover(
    stores: SentinelSet, a: Running, b: Running, http: aiohttp.ClientSession
) -> None:
    world = await make_world(Api(http, a.url, await a.organizer_token()))
    mod = await moderator(b, world)
    names = ["Ann", "Bob", "Chen", "Dana"]
    people = [await person(a if i % 2 else b, world, http, name) for i, name in enumerate(names)]
    ledger, stop = Ledger(), asyncio.Event()
    tasks = [asyncio.create_task(moderating(mod, world, ledger, stop))]
    for c, name in zip(people, names, strict=True):
        tasks += [
            asyncio.create_task(asking(c, name, world, ledger, stop)),
            asyncio.create_task(voting(c, name, world, ledger, stop)),
        ]
    try:
        await asyncio.sleep(2)  # a session in full swing
        before = len(ledger.asks)
        assert before >= len(names) and ledger.acked["qa:vote"] and ledger.approved

        ledger.killed_at = time.monotonic()
        old = stores.kill_primary()
        new = await stores.wait_failover(old)
        promoted_s = time.monotonic() - ledger.killed_at
        # The new primary has no replica: with wait_replicas=1 (and min-replicas-to-write 1) no
        # write is acknowledged until one is back. A supervisor brings the dead node back as one.
        await stores.revive(old)
        revived_s = time.monotonic() - ledger.killed_at
        await until("an ask acknowledged after the failover", lambda: ledger.first_ask_after_kill, 15)
        asked_s = ledger.first_ask_after_kill - ledger.killed_at  # type: ignore[operator]
        for server in (a, b):
            await until(f"{server.url}/readyz to say 200", lambda s=server: ready(http, s), 10)
        ready_s = time.monotonic() - ledger.killed_at
        counted = len(ledger.asks)
        await until("more asks after the failover", lambda: len(ledger.asks) >= counted + len(names), 10)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    print(
        f"\nfailover: {old.name} killed -> {new.name} promoted in {promoted_s:.2f} s, "
        f"{old.name} back as a replica at {revived_s:.2f} s, first ask acknowledged at "
        f"{asked_s:.2f} s, both workers ready at {ready_s:.2f} s; acknowledged: {dict(ledger.acked)} "
        f"({before} asks before the kill); refused meanwhile: {dict(ledger.refused)}"
    )
    assert asked_s < revived_s + 3, "Podium carries on within seconds of a replica being back"

    # The new primary had never seen the scripts: Podium met NOSCRIPT there and loaded them.
    assert "errorstat_NOSCRIPT" in new.ask("INFO", "errorstats")

    # Every acknowledged write is in the new primary, once.
    store = a.app[appkeys.QA]
    r = a.app[appkeys.REDIS]
    stored = {q["id"]: q for q in await store.all(world.session)}
    texts = Counter(q["text"] for q in stored.values())
    assert {t: n for t, n in texts.items() if n > 1} == {}, "an ask applied twice"
    assert {q["text"]: qid for qid, q in stored.items()} == ledger.asks, "asks lost (or not asked)"
    for qid, q in stored.items():
        voters = await r.smembers(keys.voters(world.session, qid))
        acked = {name for voted, name in ledger.votes if voted == qid}
        participants = {await a.app[appkeys.IDENTITY].participant_name(p) for p in voters}
        assert participants == acked, f"votes of {q['text']}"
        assert q["votes"] == len(voters), "a vote counted twice"
    assert {qid for qid, q in stored.items() if q["state"] == "approved"} == ledger.approved
    assert await store.screen(world.session) == ledger.screen

    # Every client converged on the store's session: its version and its questions.
    version = await fence(world, mod, *people)
    assert int(await r.hget(keys.session(world.session), "v")) == version
    public = {qid: q["votes"] for qid, q in stored.items() if q["state"] == "approved"}
    await mod.wait_for(lambda c: {k: (q["state"], q["votes"]) for k, q in c.feed.questions.items()}
                       == {k: (q["state"], q["votes"]) for k, q in stored.items()})  # fmt: skip
    for c in (mod, *people):
        await c.wait_for(lambda c: {k: q["votes"] for k, q in c.feed.questions.items()
                                    if q["state"] == "approved"} == public)  # fmt: skip
        assert c.state["qa"]["screen"] == ledger.screen
