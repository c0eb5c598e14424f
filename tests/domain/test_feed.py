"""The feed's rules, pure: positions, entries, merged frames, the pace of a big room."""

from __future__ import annotations

import copy
import json
import random
from typing import Any

import pytest

from server.domain import feed as fd
from server.domain import qa
from tests.follower import Follower


def test_positions_are_ordered_and_contiguous():
    assert fd.parse_position("12-3") == (12, 3)
    assert fd.parse_position([12, 3]) == (12, 3)
    for bad in ("12", "a-b", [1], [1, 2, 3], [1.5, 0], ["1", "0"], [True, 0], [-1, 0], None, {}, [2**60, 0]):
        with pytest.raises(ValueError):
            fd.parse_position(bad)
    assert fd.follows((3, 0), (3, 1)) and fd.follows((3, 5), (4, 0))
    assert (
        not fd.follows((3, 0), (3, 2)) and not fd.follows((3, 1), (5, 0)) and not fd.follows((3, 1), (3, 1))
    )


def raw_question(
    qid: str, state: str = "approved", votes: int = 0, author: str = "p1", **kw: Any
) -> list[str]:
    fields = {
        "id": qid, "text": f"Text {qid}", "name": "Ann", "anon": "0", "author": author, "alias": "Guest 1000",
        "state": state, "held": "", "votes": str(votes), "edited": "0", "created": "1000", "updated": "1000",
        "answered": "0", "merged_into": "",
    }  # fmt: skip
    fields.update({k: str(v) for k, v in kw.items()})
    return [x for kv in fields.items() for x in kv]


def entry(v: int, k: int, kind: str, data: Any, urgent: bool = False) -> fd.Entry:
    return fd.entry_from_fields(f"{v}-{k}", {"t": kind, "d": json.dumps(data), "f": "1" if urgent else "0"})


def state() -> fd.SessionState:
    return fd.SessionState(
        session_id="s1",
        pos=(1, 0),
        session={"id": "s1", "event_id": "e1", "title": "T", "version": 1},
        event={},
    )


def test_lua_empty_tables_and_strings_parse():
    e = entry(2, 0, fd.STAGE, {"status": "live", "lineup": {}})
    assert e.data == {"status": "live", "lineup": []}
    e = entry(2, 1, fd.PRESENCE, {"audience|hall": "3", "screen|hall": "1"})
    assert e.data["audience"] == {"hall": 3, "remote": 0} and e.data["total"] == 4
    e = entry(2, 2, fd.VOTES, {"q1": "7"})
    assert e.data == {"q1": 7}
    e = entry(
        3, 0, fd.QA, {"q": [raw_question("q1")], "screen": "", "pending": 0, "declined": 0}, urgent=True
    )
    assert e.urgent and e.data["screen"] is None and e.data["questions"][0]["votes"] == 0


def test_a_batch_merges_each_thing_at_its_latest_state_for_each_view():
    s = state()
    entries = [
        entry(2, 0, fd.QA, {"q": [raw_question("q1", "pending")], "screen": "", "pending": 1, "declined": 0}),
        entry(3, 0, fd.QA, {"q": [raw_question("q1", "approved")], "screen": "", "pending": 0, "declined": 0}, True),
        entry(3, 1, fd.VOTES, {"q1": "4"}),
        entry(3, 2, fd.ONLINE, {"sp": "0"}),
        entry(4, 0, fd.QA, {"q": [raw_question("q2", "pending", author="p2")], "screen": "", "pending": 1, "declined": 0}),
        entry(4, 1, fd.VOTES, {"q1": "5", "q2": "0"}),
        entry(4, 2, fd.REACTIONS, {"n": {"👏": "3"}, "total": {"👏": "10"}}),
        entry(4, 3, fd.REACTIONS, {"n": {"👏": "2"}, "total": {"👏": "12"}}),
    ]  # fmt: skip
    batches = {v: fd.Batch(v, (1, 0)) for v in fd.VIEWS}
    for e in entries:
        s.apply(e)
        for b in batches.values():
            b.add(e, s)
    aud = batches[fd.AUD].frame("s1", 0)
    mod = batches[fd.MOD].frame("s1", 0)
    assert aud is not None and mod is not None
    assert (aud["from"], aud["to"]) == ([1, 0], [4, 3])
    assert aud["qa"]["questions"][0]["votes"] == 5, "the question's view took the later count"
    assert {q["id"]: q.get("removed", False) for q in aud["qa"]["questions"]} == {"q1": False, "q2": True}
    assert "votes" not in aud, "no count of a question the audience may not see (q2 waits)"
    assert "online" not in aud and mod["online"] == {"sp": False}
    assert aud["reactions"] == {"counts": {"👏": 5}, "totals": {"👏": 12}}
    assert {q["id"] for q in mod["qa"]["questions"]} == {"q1", "q2"} and mod["qa"]["counts"]["pending"] == 1
    assert batches[fd.AUD].urgent
    assert set(batches[fd.AUD].mine) == {"p1", "p2"}
    assert batches[fd.AUD].mine["p1"]["q1"]["votes"] == 5


def test_a_batch_with_nothing_for_its_view_gives_no_frame():
    s = state()
    b = fd.Batch(fd.AUD, s.pos)
    e = entry(1, 1, fd.ONLINE, {"sp": "1"})
    s.apply(e)
    b.add(e, s)
    assert b.frame("s1", 0) is None and b.end == (1, 1) and b.start == (1, 0)


def random_entries(rng: random.Random, n: int) -> list[fd.Entry]:
    out: list[fd.Entry] = []
    v, k = 1, 0
    states: dict[str, str] = {}
    votes: dict[str, int] = {}
    for _ in range(n):
        roll = rng.random()
        if roll < 0.45 or not states:
            v, k = v + 1, 0
            qid = f"q{rng.randrange(12)}"
            states[qid] = rng.choice(["pending", "approved", "answered", "declined", "withdrawn"])
            votes.setdefault(qid, 0)
            screen = rng.choice(["", *[q for q, st in states.items() if st == "approved"]])
            data: Any = {
                "q": [raw_question(qid, states[qid], votes[qid])],
                "screen": screen,
                "pending": sum(st == "pending" for st in states.values()),
                "declined": 0,
            }
            out.append(entry(v, k, fd.QA, data, rng.random() < 0.5))
        elif roll < 0.6:
            v, k = v + 1, 0
            out.append(
                entry(v, k, fd.CLOCK, {"state": "paused", "left": rng.randrange(10**6), "deadline": 0})
            )
        elif roll < 0.8:
            k += 1
            changed = rng.sample(sorted(states), min(3, len(states)))
            for q in changed:
                votes[q] = rng.randrange(50)
            out.append(entry(v, k, fd.VOTES, {q: str(votes[q]) for q in changed}))
        else:
            k += 1
            out.append(entry(v, k, fd.PRESENCE, {"audience|hall": str(rng.randrange(100))}))
    return out


def shown(f: Follower) -> dict[str, Any]:
    questions = {q: {**view, "on_screen": None} for q, view in f.questions.items()}
    return {
        "questions": questions,
        "screen": f.state.get("qa", {}).get("screen"),
        "clock": f.state.get("clock", {}).get("left_ms"),
        "presence": f.state.get("presence"),
    }


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("view", [fd.MOD, fd.AUD])
def test_a_merged_frame_applied_at_any_position_inside_its_range_gives_the_state_at_its_end(seed, view):
    """The rule clients live by: from <= position < to, apply and hold `to`."""
    rng = random.Random(seed)
    entries = random_entries(rng, 40)
    s = state()
    snapshots = {s.pos: s.view(view) | {"clock": s.clock.public(0)}}
    states = {s.pos: copy.deepcopy(s)}
    for e in entries:
        s.apply(e)
        snapshots[e.pos] = s.view(view) | {"clock": s.clock.public(0)}
        states[e.pos] = copy.deepcopy(s)
    positions = [(1, 0), *(e.pos for e in entries)]
    for _ in range(15):
        a, p, b = sorted(rng.sample(range(len(positions)), 3))
        # What a worker at b sends a client that resumes from a (its state is the one at b).
        frame = fd.replay(view, positions[a], entries[a:b], states[positions[b]]).frame("s1", 0)
        at_p, at_b = Follower(), Follower()
        for f, pos in ((at_p, positions[p]), (at_b, positions[b])):
            f.begin("s1")
            f.settle({"ok": True, **snapshots[pos]})
        if frame is not None:
            assert at_p.take(frame) == "applied"
        assert shown(at_p) == shown(at_b), (positions[a], positions[p], positions[b])


def test_the_audience_tick_grows_with_the_crowd_and_stops():
    assert fd.audience_tick_ms(200, 200, 250, 500) == 0
    assert 0 < fd.audience_tick_ms(201, 200, 250, 500) < 50
    assert fd.audience_tick_ms(1000, 200, 250, 500) == 125
    assert fd.audience_tick_ms(2000, 200, 250, 500) == 250
    assert fd.audience_tick_ms(4000, 200, 250, 500) == 500
    assert fd.audience_tick_ms(100_000, 200, 250, 500) == 500
    assert fd.audience_tick_ms(100_000, 200, 0, 500) == 0
    assert fd.reconnect_spread_ms(150, 200) == 0
    assert fd.reconnect_spread_ms(5000, 200) == 10_000
    assert fd.reconnect_spread_ms(50_000, 200) == 20_000


def test_a_question_the_audience_may_not_see_is_removed_not_shown():
    s = state()
    b = fd.Batch(fd.AUD, s.pos)
    for e in (
        entry(
            2, 0, fd.QA, {"q": [raw_question("q1", "approved")], "screen": "", "pending": 0, "declined": 0}
        ),
        entry(
            3, 0, fd.QA, {"q": [raw_question("q1", "declined")], "screen": "", "pending": 0, "declined": 1}
        ),
    ):
        s.apply(e)
        b.add(e, s)
    frame = b.frame("s1", 0)
    assert frame is not None and frame["qa"]["questions"] == [{"id": "q1", "removed": True}]
    assert "Text q1" not in json.dumps(frame)
    assert s.view(fd.AUD)["qa"]["questions"] == []
    assert [q["id"] for q in s.view(fd.MOD)["qa"]["questions"]] == ["q1"]
    assert {"approved", "answered"} == qa.PUBLIC_STATES
