"""Presence in a real Valkey: per-person counting, tabs, hall/remote, dead workers, coalescing."""

from __future__ import annotations

import asyncio
import json

from server.store import keys
from server.store.presence import PresenceStore

S = "sess1"


async def test_a_person_with_several_connections_counts_once(rclient):
    p = PresenceStore(rclient)
    for conn in ("c1", "c2", "c3"):
        assert await p.join(conn, S, "audience|ann", "hall", "w1") == "hall"
    await p.join("c4", S, "audience|bob", "remote", "w1")
    _, counts = await p.counts(S)
    assert counts["audience"] == {"hall": 1, "remote": 1} and counts["total"] == 2
    await p.leave("c1", S, "w1")
    await p.leave("c2", S, "w1")
    assert (await p.counts(S))[1]["total"] == 2
    await p.leave("c3", S, "w1")
    assert (await p.counts(S))[1]["audience"] == {"hall": 0, "remote": 1}


async def test_leaving_twice_or_an_unknown_connection_changes_nothing(rclient):
    p = PresenceStore(rclient)
    await p.join("c1", S, "audience|ann", "hall", "w1")
    assert await p.leave("c1", S, "w1") is True
    assert await p.leave("c1", S, "w1") is False
    assert await p.leave("never", S, "w1") is False
    assert (await p.counts(S))[1]["total"] == 0


async def test_the_same_person_in_two_roles_counts_in_each(rclient):
    p = PresenceStore(rclient)
    await p.join("c1", S, "audience|ann", "hall", "w1")
    await p.join("c2", S, "moderator|ann", "hall", "w1")
    _, counts = await p.counts(S)
    assert counts["audience"]["hall"] == counts["moderator"]["hall"] == 1


async def test_joining_another_session_moves_the_connection(rclient):
    p = PresenceStore(rclient)
    await p.join("c1", S, "audience|ann", "hall", "w1")
    await p.join("c1", "sess2", "audience|ann", "hall", "w1", previous=S)
    assert (await p.counts(S))[1]["total"] == 0
    assert (await p.counts("sess2"))[1]["total"] == 1


async def test_hall_and_remote_switch_moves_the_person_not_a_copy(rclient):
    p = PresenceStore(rclient)
    await p.join("c1", S, "audience|ann", "remote", "w1")
    assert await p.join("c2", S, "audience|ann", "hall", "w1") == "remote"
    assert await p.set_where(S, "audience|ann", "hall") is True
    assert await p.set_where(S, "audience|ann", "hall") is True
    assert await p.set_where(S, "audience|nobody", "hall") is False
    assert (await p.counts(S))[1]["audience"] == {"hall": 1, "remote": 0}


async def test_a_dead_workers_connections_are_reaped_and_a_live_ones_are_not(rclient):
    p = PresenceStore(rclient)
    await p.heartbeat("dead", 1_000)
    await p.heartbeat("alive", 100_000)
    await p.join("c1", S, "audience|ann", "hall", "dead")
    await p.join("c2", S, "audience|ann", "hall", "alive")  # same person, other worker
    await p.join("c3", S, "audience|bob", "hall", "dead")
    reaped = await p.reap_dead_workers(now_ms=100_000, ttl_ms=15_000)
    assert reaped == {"dead": 2}
    _, counts = await p.counts(S)
    assert counts["audience"]["hall"] == 1, "ann is still here through the live worker"
    assert await rclient.zscore(keys.WORKERS, "dead") is None
    assert not await rclient.exists(keys.worker_sessions("dead"))
    assert not await rclient.exists(keys.presence_worker(S, "dead"))
    assert await p.worker_connections("alive") == {"c2": S}


async def test_a_worker_presumed_dead_learns_it_at_its_next_heartbeat(rclient):
    p = PresenceStore(rclient)
    assert await p.heartbeat("w1", 1_000) is True
    assert await p.heartbeat("w1", 2_000) is False
    await p.reap_dead_workers(now_ms=100_000, ttl_ms=15_000)
    assert await p.heartbeat("w1", 100_001) is True


async def test_concurrent_joins_and_leaves_keep_exact_counts(rclient):
    p = PresenceStore(rclient)
    people = [f"audience|p{i}" for i in range(100)]
    await asyncio.gather(
        *(p.join(f"c{i}-{t}", S, m, "hall", "w1") for i, m in enumerate(people) for t in range(3))
    )
    assert (await p.counts(S))[1]["total"] == 100
    await asyncio.gather(*(p.leave(f"c{i}-{t}", S, "w1") for i in range(50) for t in range(3)))
    assert (await p.counts(S))[1]["total"] == 50


async def logged_counts(rclient) -> list[tuple[str, int]]:
    """The presence entries of S's log: (position, total)."""
    out = []
    for entry_id, fields in await rclient.xrange(keys.log(S)):
        if fields["t"] == "presence":
            out.append((entry_id, sum(int(n) for n in json.loads(fields["d"]).values())))
    return out


async def test_counts_are_logged_once_and_at_most_once_per_gate(rclient):
    await rclient.hset(keys.session(S), mapping={"v": 3, "lk": 0})
    p = PresenceStore(rclient)
    for i in range(20):
        await p.join(f"c{i}", S, f"audience|p{i}", "hall", "w1")
    assert await p.log_counts(gate_ms=300) == 1
    assert await logged_counts(rclient) == [("3-1", 20)], "unversioned: after version 3, k = 1"
    await p.join("c99", S, "audience|late", "hall", "w1")
    assert await p.log_counts(gate_ms=300) == 0, "gated: the next update waits"
    await asyncio.sleep(0.35)
    assert await p.log_counts(gate_ms=300) == 1
    assert await logged_counts(rclient) == [("3-1", 20), ("3-2", 21)]
    assert await p.log_counts(gate_ms=300) == 0, "nothing changed since"


async def test_two_workers_flushing_at_once_log_a_change_once(rclient):
    await rclient.hset(keys.session(S), mapping={"v": 1, "lk": 0})
    p1, p2 = PresenceStore(rclient), PresenceStore(rclient)
    await p1.join("c1", S, "audience|ann", "hall", "w1")
    a, b = await asyncio.gather(p1.log_counts(gate_ms=500), p2.log_counts(gate_ms=500))
    assert a + b == 1
    assert await logged_counts(rclient) == [("1-1", 1)]


async def test_a_deleted_session_gets_no_log(rclient):
    p = PresenceStore(rclient)
    await p.join("c1", S, "audience|ann", "hall", "w1")
    assert await p.log_counts(gate_ms=500) == 0
    assert not await rclient.exists(keys.log(S)) and not await rclient.exists(keys.session(S))


async def test_retire_removes_every_connection_of_a_stopping_worker(rclient):
    p = PresenceStore(rclient)
    await p.heartbeat("w1", 1)
    for i in range(5):
        await p.join(f"c{i}", S, f"audience|p{i}", "hall", "w1")
    assert await p.retire("w1") == 5
    assert (await p.counts(S))[1]["total"] == 0
