"""The session feed in a real Valkey: every change logged in the same step as the change, at
contiguous positions, and a state read at a position equal to the log applied up to it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random

import pytest

from server.domain import events as ev
from server.domain import feed as fd
from server.domain import qa
from server.store import keys
from server.store.clock import ClockStore
from server.store.events import EventStore, new_id
from server.store.feed import FeedStore, entries_from
from server.store.lineup import LineupStore
from server.store.presence import PresenceStore
from server.store.qa import QAStore
from server.store.reactions import ReactionStore


@pytest.fixture
async def session(rclient):
    store = EventStore(rclient)
    event = await store.create_event(
        ev.new_event({"name": "Day", "time_zone": "Asia/Shanghai", "code": "FEED12"}, new_id(), 1, code="")
    )
    s = await store.create_session(
        ev.new_session(
            {"title": "Keynote", "starts_at": "2026-12-03T09:00", "ends_at": "2026-12-03T10:00"},
            event,
            new_id(),
        )
    )
    return s.id


async def log(rclient, session_id: str) -> list[fd.Entry]:
    return entries_from(await rclient.xrange(keys.log(session_id)))


async def ask(store: QAStore, session_id: str, n: int, person: str = "p1") -> tuple[str, int]:
    qid, _created, version = await store.ask(
        session_id, question_id=f"q{n}", client_id=f"c{n}", person=person, name="Ann", anonymous=False,
        alias="Guest 1", text=f"Question {n}", now_ms=1000 + n, held="", slow_ms=0,
    )  # fmt: skip
    return qid, version


async def test_each_change_is_logged_at_its_version_with_what_changed(rclient, session):
    store = QAStore(rclient)
    q1, v1 = await ask(store, session, 1)
    q2, v2 = await ask(store, session, 2)
    v3, _ = await store.moderate(session, q1, "screen", 2000)
    v4, _ = await store.moderate(session, q2, "screen", 2001)  # q1 comes off screen
    v5, _ = await store.moderate(session, q1, "merge", 2002, q2)
    entries = await log(rclient, session)
    assert [e.pos for e in entries] == [(v, 0) for v in (v1, v2, v3, v4, v5)] == [(v, 0) for v in range(2, 7)]
    assert [e.kind for e in entries] == ["qa"] * 5
    assert [e.urgent for e in entries] == [False, False, True, True, True], "a moderator's action is urgent"
    first = entries[0].data
    assert [q["id"] for q in first["questions"]] == [q1] and first["counts"] == {"pending": 1, "declined": 0}
    assert entries[2].data["screen"] == q1
    assert entries[2].data["counts"] == {"pending": 1, "declined": 0}, "screening approves"
    assert {q["id"] for q in entries[3].data["questions"]} == {q1, q2}, "the one that came off screen too"
    merged = {q["id"]: q for q in entries[4].data["questions"]}
    assert merged[q1]["state"] == "merged" and merged[q1]["merged_into"] == q2 and q2 in merged


async def test_repeats_and_refusals_log_nothing(rclient, session):
    store = QAStore(rclient)
    q1, _ = await ask(store, session, 1)
    await store.moderate(session, q1, "approve", 2000)
    before = await log(rclient, session)
    await store.moderate(session, q1, "approve", 2001)
    with pytest.raises(Exception):  # noqa: B017 - any refusal
        await store.moderate(session, q1, "merge", 2002, q1)
    await ask(store, session, 1)  # a retry of the same client id
    with pytest.raises(Exception):  # noqa: B017
        await store.withdraw(session, q1, "someone else", 3000)
    assert await log(rclient, session) == before


async def test_coalesced_updates_follow_the_version_they_come_after(rclient, session):
    store, presence, reactions = QAStore(rclient), PresenceStore(rclient), ReactionStore(rclient)
    q1, v = await ask(store, session, 1)
    await store.moderate(session, q1, "approve", 2000)
    v += 1
    await presence.join("c1", session, "audience|p1", "hall", "w1")
    assert await presence.log_counts(gate_ms=1) == 1
    await store.vote(session, q1, "p2", True)
    await store.vote(session, q1, "p3", True)
    assert await store.log_vote_counts(gate_ms=1) == 1
    assert await reactions.send(session, "p2", "👏", 1000)
    assert await reactions.log_ticks(gate_ms=1) == 1
    v_next, _ = await store.moderate(session, q1, "screen", 2001)
    entries = await log(rclient, session)
    assert [(e.pos, e.kind) for e in entries[-4:]] == [
        ((v, 1), "presence"),
        ((v, 2), "votes"),
        ((v, 3), "rx"),
        ((v_next, 0), "qa"),
    ]
    assert entries[-3].data == {q1: 2}
    assert entries[-2].data == {"counts": {"👏": 1}, "totals": {"👏": 1}}
    for before, after in itertools.pairwise(entries):
        assert fd.follows(before.pos, after.pos), (before.pos, after.pos)


async def test_the_state_read_at_a_position_is_the_log_applied_up_to_it(rclient, session):
    """Whatever happened, loading the session gives exactly what a worker that loaded it at
    the start and applied every entry since holds."""
    feed, store, lineup, clock = (
        FeedStore(rclient),
        QAStore(rclient),
        LineupStore(rclient),
        ClockStore(rclient),
    )
    presence, reactions = PresenceStore(rclient), ReactionStore(rclient)
    start = await feed.load(session)
    assert start is not None and start.pos == (1, 0)
    rng = random.Random(7)
    ids: list[str] = []
    for step in range(120):
        roll = rng.random()
        if roll < 0.25 or not ids:
            qid, _ = await ask(store, session, step, person=f"p{rng.randrange(5)}")
            ids.append(qid)
        elif roll < 0.55:
            action = rng.choice(qa.ACTIONS)
            arg = rng.choice(ids) if action == "merge" else ("New text" if action == "edit" else "")
            with contextlib.suppress(Exception):
                await store.moderate(session, rng.choice(ids), action, 5000 + step, arg)
        elif roll < 0.7:
            with contextlib.suppress(Exception):
                await store.vote(session, rng.choice(ids), f"p{rng.randrange(9)}", rng.random() < 0.8)
            await store.log_vote_counts(gate_ms=1)
        elif roll < 0.8:
            await presence.join(
                f"c{step}", session, f"audience|p{step % 7}", rng.choice(["hall", "remote"]), "w"
            )
            await presence.log_counts(gate_ms=1)
        elif roll < 0.85:
            await reactions.send(session, f"p{step}", "❤️", 1)
            await reactions.log_ticks(gate_ms=1)
        elif roll < 0.9:
            speaker = f"s{rng.randrange(3)}"
            await lineup.arrive(session, speaker, f"Speaker {speaker}", f"speaker|i:{speaker}")
            with contextlib.suppress(Exception):
                await lineup.set_state(session, speaker, rng.choice(["live", "off", "backstage"]))
        elif roll < 0.95:
            await clock.apply(session, rng.choice(["start", "pause", "add"]), 60_000)
        else:
            await store.save_settings(session, qa.Settings(moderation=rng.choice(["pre", "post"])))
    followed = start
    for entry in await log(rclient, session):
        assert fd.follows(followed.pos, entry.pos)
        followed.apply(entry)
    loaded = await feed.load(session)
    assert loaded is not None
    assert loaded.pos == followed.pos
    assert loaded.questions == followed.questions
    assert (loaded.screen, loaded.counts, loaded.settings) == (
        followed.screen,
        followed.counts,
        followed.settings,
    )
    assert (loaded.status, loaded.lineup, loaded.clock) == (followed.status, followed.lineup, followed.clock)
    assert loaded.reactions == followed.reactions
    assert loaded.presence == followed.presence
    for view in fd.VIEWS:
        assert loaded.view(view) == followed.view(view)


async def test_concurrent_changes_get_contiguous_positions(rclient, session):
    store = QAStore(rclient)
    await asyncio.gather(*(ask(store, session, i, person=f"p{i}") for i in range(40)))
    positions = [e.pos for e in await log(rclient, session)]
    assert positions == [(v, 0) for v in range(2, 42)]


async def test_the_log_keeps_the_latest_entries_only(rclient, session):
    async with rclient.pipeline(transaction=False) as pipe:
        for i in range(keys.FEED_MAX_ENTRIES + 500):
            pipe.hincrby(keys.session(session), "v", 1)
            pipe.xadd(keys.log(session), {"t": "clock", "d": json.dumps({"state": "idle", "left": i, "deadline": 0})},
                      id=f"{i + 2}-0", maxlen=keys.FEED_MAX_ENTRIES, approximate=True)  # fmt: skip
        await pipe.execute()
    await ClockStore(rclient).apply(session, "start", 1000)  # a real write trims like these did
    length = await rclient.xlen(keys.log(session))
    assert keys.FEED_MAX_ENTRIES <= length < keys.FEED_MAX_ENTRIES + 200
