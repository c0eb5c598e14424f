"""A store an older Podium wrote (key layout 1, before hash tags) is brought to layout 2 at
start-up: the event in it survives, whole. tests/fixtures/store-layout-1.json is such a store,
written by Podium's own stores at d578daf (an event, two sessions, invites, a ban, questions
with votes, one on screen, a live speaker with a backup recording, a paused clock, reactions,
chat, a raised hand, a cue, and two connections of a worker that no longer runs)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from server.errors import Forbidden
from server.store import keys
from server.store.backstage import BackstageStore
from server.store.events import EventStore
from server.store.feed import FeedStore
from server.store.identity import IdentityStore
from server.store.joining import JoinStore
from server.store.migrate import migrate, schema
from server.store.presence import PresenceStore
from server.store.qa import QAStore

LAYOUT_1 = Path(__file__).parent.parent / "fixtures" / "store-layout-1.json"


async def load_layout_1(client: Any) -> dict[str, Any]:
    """Write the layout-1 store into client's store, key by key; returns the dump."""
    dump: dict[str, Any] = json.loads(LAYOUT_1.read_text(encoding="utf-8"))
    for key, item in dump.items():
        kind, value = item["type"], item["value"]
        if kind == "string":
            await client.set(key, value)
        elif kind == "hash":
            await client.hset(key, mapping=value)
        elif kind == "set":
            await client.sadd(key, *value)
        elif kind == "zset":
            await client.zadd(key, dict(value))
        elif kind == "list":
            await client.rpush(key, *value)
        elif kind == "stream":
            for entry_id, fields in value:
                await client.xadd(key, fields, id=entry_id)
        if item["pttl"]:
            await client.pexpire(key, max(int(item["pttl"]), 60_000))
    return dump


async def test_an_event_of_layout_1_survives_the_upgrade_whole(rclient):
    dump = await load_layout_1(rclient)
    assert await schema(rclient) == 1
    old_log = dump["podium:ses:SES1:log"]["value"]

    renamed = await migrate(rclient)
    assert renamed == sum(1 for k in dump if k.startswith(("podium:ses:", "podium:ev:")))
    assert await schema(rclient) == keys.SCHEMA_VERSION
    left = [k async for k in rclient.scan_iter(match="podium:*")]
    assert not [k for k in left if k.startswith(("podium:ses:", "podium:ev:")) and "{" not in k]
    assert not [k for k in left if k.startswith(("podium:conn:", "podium:worker:oldworker"))]

    events = EventStore(rclient)
    event = await events.event_by_code("UPGRAD")
    assert (event.id, event.name, event.time_zone) == ("EVT1", "Innovation Day 创新日", "Asia/Shanghai")
    assert [s.title for s in await events.list_sessions("EVT1")] == ["Keynote", "Panel"]
    keynote = await events.get_session("SES1")
    assert keynote.stream_url == "https://media.example/keynote.m3u8"

    qa = QAStore(rclient)
    questions = {q["id"]: q for q in await qa.all("SES1")}
    assert {i: (q["state"], q["votes"]) for i, q in questions.items()} == {
        "Q1": ("approved", 2),
        "Q2": ("approved", 1),
        "Q3": ("pending", 0),
    }
    assert questions["Q2"]["text"] == "一个问题"
    assert await qa.screen("SES1") == "Q1"
    assert await qa.voted("SES1", "P1") == ["Q1", "Q2"]
    # A retry of a question asked before the upgrade is still the same question.
    qid, created, _ = await qa.ask(
        "SES1", question_id="new", client_id="c1", person="P1", name="Ann", anonymous=False,
        alias="Blue Fox", text="What comes next?", now_ms=1, held="", slow_ms=0,
    )  # fmt: skip
    assert (qid, created) == ("Q1", False)

    state = await FeedStore(rclient).load("SES1")
    assert state is not None
    v = int(dump["podium:ses:SES1"]["value"]["v"])
    last_v, last_k = (int(p) for p in old_log[-1][0].split("-"))
    assert state.pos == (last_v, last_k) and last_v == v
    assert state.status == "live"
    (speaker,) = state.lineup
    assert (speaker["speaker"], speaker["state"], speaker["label"]) == ("SPK1", "live", "Dr. Remote")
    assert speaker["backup_url"] == "https://media.example/backup.mp4"
    assert state.clock.state == "paused"
    assert state.reactions == {"👏": 1}
    assert state.screen == "Q1" and set(state.questions) == {"Q1", "Q2", "Q3"}

    identity = IdentityStore(rclient)
    assert {i.id: i.role for i in await identity.list_invites("EVT1")} == {
        "SPK1": "speaker",
        "MOD1": "moderator",
    }
    assert (await identity.get_invite("SPK1")).backup_url == "https://media.example/backup.mp4"
    assert await identity.participant_name("P1") == "Ann"
    assert await identity.is_banned("EVT1", "P3", "", 0)
    with pytest.raises(Forbidden):
        await JoinStore(rclient).admit(
            conn="c9", session_id="SES1", event_id="EVT1", member="audience|P3", where="hall",
            worker="w", person="P3", participant="P3", address="x", hand=True, limit=10, window_ms=1000,
        )  # fmt: skip
    backstage = BackstageStore(rclient)
    assert [m["text"] for m in await backstage.chat("SES1")] == ["Two minutes, please"]
    assert [h["person"] for h in await backstage.hands("SES1")] == ["P2"]
    assert [c["minutes"] for c in await backstage.cues("SES1")] == [5]

    # The old worker's connections are gone from the counts, which are logged again: zero.
    presence = PresenceStore(rclient)
    assert (await presence.counts("SES1"))[1]["total"] == 0
    presence.pending.recheck(["SES1"])
    assert await presence.log_counts(gate_ms=1) == 2  # the counts, and who is online
    (last_id, last), *_ = await rclient.xrevrange(keys.log("SES1"), count=1)
    assert last_id == f"{v}-{state.pos[1] + 2}" and last["t"] == "online"

    # The log goes on from where it was.
    version, changed = await qa.moderate("SES1", "Q3", "approve", 2)
    assert changed and version == v + 1


async def test_the_migration_runs_once_and_a_second_worker_waits_for_it(rclient):
    await load_layout_1(rclient)
    first, second = await asyncio.gather(migrate(rclient), migrate(rclient))
    assert sorted([first, second])[0] == 0 and max(first, second) > 0
    assert await migrate(rclient) == 0
    assert not await rclient.exists(keys.MIGRATING)


async def test_a_new_store_is_marked_current_and_nothing_is_renamed(rclient):
    await rclient.set(keys.code("ABCD"), "e1")  # keys of layout 2's own shape are left alone
    assert await migrate(rclient) == 0
    assert await schema(rclient) == keys.SCHEMA_VERSION
    assert await rclient.get(keys.code("ABCD")) == "e1"
