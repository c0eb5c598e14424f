"""Live polls over real sockets: the lifecycle, what each face sees (a draft only to
moderators, results to the audience only when shown), answers as one-per-person sets,
coalesced results, who may do what, and bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.conftest import Connected, Running, World, join_session, moderator, person


def polls_of(c: Connected) -> dict[str, dict[str, Any]]:
    """The polls as this client's page holds them: the snapshot's, then every frame's."""
    out: dict[str, dict[str, Any]] = {}
    for event, data in c.received:
        if event == "session:feed" and isinstance(data, dict):
            if data.get("reset"):
                out = {p["id"]: p for p in data["snapshot"].get("polls", [])}
            for p in data.get("polls", []):
                if p.get("removed"):
                    out.pop(p["id"], None)
                else:
                    out[p["id"]] = p
            for pid, results in (data.get("poll_results") or {}).items():
                if pid in out:
                    out[pid] = {**out[pid], "results": results}
    return out


async def joined_polls(c: Connected, world: World) -> dict[str, dict[str, Any]]:
    snap = await c.call("session:snapshot", {})
    return {p["id"]: p for p in snap["polls"]}


async def create(mod: Connected, world: World, **kw: Any) -> str:
    payload = {"session": world.session, "kind": "choice", "question": "Which city next year?",
               "options": ["Nanjing", "Tel Aviv", "Lagos"], **kw}  # fmt: skip
    ack = await mod.call("poll:create", payload)
    assert ack["ok"], ack
    return str(ack["poll"])


async def act(mod: Connected, world: World, poll: str, action: str) -> dict[str, Any]:
    return await mod.call("poll:state", {"session": world.session, "poll": poll, "action": action})


async def answer(c: Connected, world: World, poll: str, value: Any) -> dict[str, Any]:
    return await c.call("poll:answer", {"session": world.session, "poll": poll, "answer": value})


async def test_a_poll_from_draft_to_results_each_face_seeing_what_it_may(server: Running, world: World, http):
    mod = await moderator(server, world)
    ann, bob = await person(server, world, http, "Ann"), await person(server, world, http, "Bob")
    screen, _ = await join_session(server, world, {"token": world.tokens["screen"]})
    pid = await create(mod, world, correct=[0])

    draft = await mod.wait_for(lambda c: polls_of(c).get(pid))
    assert draft["state"] == "draft" and draft["results"] == {"voters": 0, "counts": {}}
    assert pid not in await joined_polls(ann, world), "a draft stays with the moderators"
    assert pid not in await joined_polls(screen, world)
    refused = await answer(ann, world, pid, [0])
    assert refused["error"]["code"] == "conflict"

    assert (await act(mod, world, pid, "open"))["changed"] is True
    seen = await ann.wait_for(lambda c: polls_of(c).get(pid))
    assert seen["state"] == "open" and "results" not in seen and "correct" not in seen
    on_screen = await screen.wait_for(lambda c: polls_of(c).get(pid))
    assert "results" in on_screen, "the hall gets the results to show when a moderator says"

    first = await answer(ann, world, pid, [1])
    assert first["ok"] and first["answer"] == ["1"] and first["changed"] is True and first["voters"] == 1
    again = await answer(ann, world, pid, [1])
    assert again["changed"] is False and again["voters"] == 1, "the same answer again changes nothing"
    assert (await answer(bob, world, pid, [1]))["voters"] == 2
    moved = await answer(ann, world, pid, [2])
    assert moved["changed"] is True and moved["voters"] == 2, "a person changes their answer, not adds one"
    res = await mod.wait_for(
        lambda c: polls_of(c)[pid]["results"]["counts"] == {"1": 1, "2": 1} and polls_of(c)[pid]
    )
    assert res["results"]["voters"] == 2
    await asyncio.sleep(0.3)
    assert "results" not in polls_of(ann)[pid], "no results reach the audience before they are shown"
    assert not any("poll_results" in d for e, d in ann.received if e == "session:feed")

    assert (await act(mod, world, pid, "close"))["changed"] is True
    assert (await answer(bob, world, pid, [0]))["error"]["code"] == "conflict"
    assert (await act(mod, world, pid, "show"))["changed"] is True
    shown = await bob.wait_for(lambda c: polls_of(c)[pid].get("results") and polls_of(c)[pid])
    assert shown["results"] == {"voters": 2, "counts": {"1": 1, "2": 1}}
    assert shown["correct"] == [0], "a closed quiz says which was right once shown"
    mine = await ann.call("poll:mine", {"session": world.session})
    assert mine["answers"] == {pid: ["2"]}
    assert (await act(mod, world, pid, "close"))["changed"] is False


async def test_words_rating_and_several_choices(server: Running, world: World, http):
    mod = await moderator(server, world)
    ann, bob = await person(server, world, http), await person(server, world, http)
    cloud = await create(mod, world, kind="words", question="One word for today?", options=[])
    stars = await create(mod, world, kind="rating", question="How was the talk?", options=[])
    multi = await create(mod, world, question="Which topics?", options=["AI", "Health", "Water"], multi=True)
    for p in (cloud, stars, multi):
        assert (await act(mod, world, p, "open"))["ok"], "several polls are open at once"
    assert (await answer(ann, world, cloud, ["Inspiring", "  inspiring ", "Ｗａｔｅｒ"]))["answer"] == [
        "inspiring",
        "water",
    ]
    assert (await answer(bob, world, cloud, ["inspiring"]))["ok"]
    assert (await answer(ann, world, stars, 5))["answer"] == ["5"]
    assert (await answer(ann, world, multi, [2, 0, 2]))["answer"] == ["0", "2"]
    await mod.wait_for(lambda c: polls_of(c)[cloud]["results"]["counts"] == {"inspiring": 2, "water": 1})
    await mod.wait_for(lambda c: polls_of(c)[stars]["results"]["counts"] == {"5": 1})
    await mod.wait_for(lambda c: polls_of(c)[multi]["results"]["counts"] == {"0": 1, "2": 1})


async def test_results_are_coalesced_however_many_answer(server: Running, world: World, http):
    mod = await moderator(server, world)
    pid = await create(mod, world)
    await act(mod, world, pid, "open")
    phones = [await person(server, world, http) for _ in range(30)]
    before = len([d for e, d in mod.received if e == "session:feed" and "poll_results" in d])
    acks = await asyncio.gather(*(answer(p, world, pid, [i % 3]) for i, p in enumerate(phones)))
    assert all(a["ok"] for a in acks)
    await mod.wait_for(lambda c: polls_of(c)[pid]["results"]["voters"] == 30)
    assert polls_of(mod)[pid]["results"]["counts"] == {"0": 10, "1": 10, "2": 10}
    frames = len([d for e, d in mod.received if e == "session:feed" and "poll_results" in d]) - before
    assert 1 <= frames <= 10, f"30 answers made {frames} result frames: not coalesced"


@pytest.mark.parametrize("role", ["audience", "speaker", "screen", "interpreter"])
async def test_only_moderators_run_polls(server: Running, world: World, http, role: str):
    mod = await moderator(server, world)
    pid = await create(mod, world)
    if role == "audience":
        c = await person(server, world, http)
    else:
        c, _ = await join_session(server, world, {"token": world.tokens[role]})
    s = world.session
    for event, payload in (
        ("poll:create", {"session": s, "kind": "rating", "question": "Mine?"}),
        ("poll:edit", {"session": s, "poll": pid, "question": "Changed?"}),
        ("poll:state", {"session": s, "poll": pid, "action": "open"}),
    ):
        ack = await c.call(event, payload)
        assert ack["error"]["code"] == "forbidden", (event, ack)
    assert (await mod.call("session:snapshot", {}))["polls"][0]["state"] == "draft"
    await act(mod, world, pid, "open")
    if role != "audience":
        assert (await answer(c, world, pid, [0]))["error"]["code"] == "forbidden"
    assert (await answer(mod, world, pid, [0]))["error"]["code"] == "forbidden"


@pytest.mark.parametrize(
    "payload",
    [
        {"kind": "quiz", "question": "x"},
        {"kind": "choice", "question": "x", "options": ["only one"]},
        {"kind": "choice", "question": "x", "options": ["a"] * 11},
        {"kind": "choice", "question": "x", "options": ["a", ""]},
        {"kind": "choice", "question": "x", "options": "a,b"},
        {"kind": "choice", "question": "x", "options": ["a", "b"], "correct": [5]},
        {"kind": "choice", "question": "x", "options": ["a", "b"], "correct": [0, 1]},
        {"kind": "rating", "question": "x", "options": ["a", "b"]},
        {"kind": "rating", "question": ""},
        {"kind": "rating", "question": "x" * 301},
        {"kind": "rating", "question": None},
        {"kind": "rating", "question": "x", "time_limit": -1},
        {"kind": "rating", "question": "x", "time_limit": "60"},
        {"kind": "rating", "question": "x", "anonymous": "yes"},
        {"kind": "rating", "question": "x", "extra": 1},
        {"kind": "rating", "question": "bell\x07"},
    ],
)
async def test_bad_polls_are_refused_and_change_nothing(server: Running, world: World, payload: dict):
    mod = await moderator(server, world)
    before = await mod.call("session:snapshot", {})
    ack = await mod.call("poll:create", {"session": world.session, **payload})
    assert ack["ok"] is False and ack["error"]["code"] == "invalid", ack
    after = await mod.call("session:snapshot", {})
    assert after["v"] == before["v"] and after["polls"] == before["polls"]


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("choice", []),
        ("choice", [0, 1]),  # one answer only
        ("choice", [3]),
        ("choice", 0),
        ("choice", ["0"]),
        ("choice", None),
        ("rating", 0),
        ("rating", 6),
        ("rating", 4.5),
        ("rating", [4]),
        ("words", ["a", "b", "c", "d"]),
        ("words", []),
        ("words", ["x" * 25]),
        ("words", "word"),
        ("words", ["   "]),
    ],
)
async def test_bad_answers_are_refused_and_change_nothing(
    server: Running, world: World, http, kind: str, value: Any
):
    mod = await moderator(server, world)
    ann = await person(server, world, http)
    extra: dict[str, Any] = {"kind": kind}
    if kind != "choice":
        extra["options"] = []
    pid = await create(mod, world, **extra)
    await act(mod, world, pid, "open")
    ack = await answer(ann, world, pid, value)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid", ack
    assert (await ann.call("poll:mine", {"session": world.session}))["answers"] == {}
    snap = await mod.call("session:snapshot", {})
    assert snap["polls"][0]["results"] == {"voters": 0, "counts": {}}


async def test_unknown_polls_and_other_sessions(server: Running, world: World, http):
    mod = await moderator(server, world)
    ann = await person(server, world, http)
    assert (await answer(ann, world, "no-such-poll", [0]))["error"]["code"] == "not_found"
    assert (await act(mod, world, "no-such-poll", "open"))["error"]["code"] == "not_found"
    other = await mod.call(
        "poll:create", {"session": world.sessions[1]["id"], "kind": "rating", "question": "x"}
    )
    assert other["error"]["code"] == "conflict"
    pid = await create(mod, world)
    await act(mod, world, pid, "open")
    assert (await act(mod, world, pid, "delete"))["error"]["code"] == "conflict", "close it first"
    await act(mod, world, pid, "close")
    assert (await act(mod, world, pid, "delete"))["changed"] is True
    assert (await mod.call("session:snapshot", {}))["polls"] == []


async def test_the_export_carries_every_poll_with_its_results(server: Running, world: World, http, org):
    import csv
    import io

    mod = await moderator(server, world)
    ann, bob = await person(server, world, http), await person(server, world, http)
    pid = await create(mod, world, options=["=cmd|' /C calc'!A0", "Tel Aviv"], correct=[1])
    await act(mod, world, pid, "open")
    await answer(ann, world, pid, [1])
    await answer(bob, world, pid, [1])
    cloud = await create(mod, world, kind="words", question="A word?", options=[])
    await act(mod, world, cloud, "open")
    await answer(ann, world, cloud, ["合作"])
    data = await org.ok("GET", f"/api/sessions/{world.session}/qa.json")
    polls = {p["id"]: p for p in data["polls"]}
    assert polls[pid]["voters"] == 2 and polls[pid]["state"] == "open"
    assert polls[pid]["answers"][1] == {"answer": "Tel Aviv", "count": 2, "correct": True}
    assert polls[pid]["opened_at"].endswith("+08:00")
    assert polls[cloud]["answers"] == [{"answer": "合作", "count": 1}]
    async with http.get(
        f"{server.url}/api/sessions/{world.session}/polls.csv",
        headers={"Authorization": f"Bearer {world.tokens['moderator']}"},
    ) as r:
        assert r.status == 200
        rows = list(csv.DictReader(io.StringIO((await r.read()).decode("utf-8-sig"))))
    assert rows[0]["answer"].startswith("'="), "a formula is defused"
    assert {(x["answer"], x["count"]) for x in rows if x["poll"] == pid} == {
        ("'=cmd|' /C calc'!A0", "0"),
        ("Tel Aviv", "2"),
    }
    async with http.get(
        f"{server.url}/api/sessions/{world.session}/polls.csv",
        headers={"Authorization": f"Bearer {world.tokens['screen']}"},
    ) as r:
        assert r.status == 403
    assert "responses" not in polls[pid], "an anonymous poll names no one"
    named = await create(mod, world, question="Named?", options=["Yes", "No"], anonymous=False)
    await act(mod, world, named, "open")
    carol = await person(server, world, http, "Carol")
    await answer(carol, world, named, [0])
    await answer(ann, world, named, [1])
    data = await org.ok("GET", f"/api/sessions/{world.session}/qa.json")
    (row,) = [p for p in data["polls"] if p["id"] == named]
    by_name = {r["name"]: r["answer"] for r in row["responses"]}
    assert by_name["Carol"] == ["Yes"] and len(by_name) == 2
    assert any(n.startswith("Guest ") and a == ["No"] for n, a in by_name.items())
    # The organizer's report has them too, and the running totals count the answers.
    report = await org.ok("GET", f"/api/sessions/{world.session}/report.json")
    assert {p["id"]: p["voters"] for p in report["polls"]} == {pid: 2, cloud: 1, named: 2}
    insight = await org.ok("GET", f"/api/sessions/{world.session}/insight")
    assert [p["id"] for p in insight["polls"]] == [pid, cloud, named]
    assert int(insight["totals"]["poll_answers"]) == 5


async def test_a_quiz_ranks_its_named_players_by_right_answers_then_speed(
    server: Running, world: World, http
):
    mod = await moderator(server, world)
    ann = await person(server, world, http, "Ann")
    bob = await person(server, world, http, "Bob")
    cy = await person(server, world, http)  # gave no name: shown by their alias
    q1 = await create(
        mod, world, question="Capital of Israel's tech?", options=["Haifa", "Tel Aviv"], correct=[1]
    )
    q2 = await create(
        mod, world, question="Nanjing is on the…", options=["Yangtze", "Yellow River"], correct=[0]
    )
    plain = await create(mod, world, question="Not a quiz")
    for p in (q1, q2, plain):
        await act(mod, world, p, "open")
    await answer(ann, world, q1, [1])
    await answer(bob, world, q1, [0])
    await asyncio.sleep(0.05)
    await answer(cy, world, q1, [1])
    await answer(cy, world, q2, [0])
    await answer(bob, world, q2, [1])
    await answer(bob, world, plain, [0])
    # Bob changes to the right answer: right now; then Ann changes q1 away from it: wrong now.
    await answer(bob, world, q2, [0])
    await answer(ann, world, q1, [0])
    screen, _ = await join_session(server, world, {"token": world.tokens["screen"]})
    ack = await screen.call("poll:leaderboard", {"session": world.session})
    assert ack["ok"] and ack["players"] == 2, ack
    board = ack["leaderboard"]
    assert [b["right"] for b in board] == [2, 1]
    assert board[0]["name"].startswith("Guest ") and board[1]["name"] == "Bob"
    assert board[0]["rank"] == 1 and board[0]["seconds"] >= 0
    refused = await ann.call("poll:leaderboard", {"session": world.session})
    assert refused["error"]["code"] == "forbidden"


async def test_open_answers_reach_the_hall_only_once_a_moderator_approves_them(
    server: Running, world: World, http
):
    mod = await moderator(server, world)
    ann, bob = await person(server, world, http), await person(server, world, http)
    screen, _ = await join_session(server, world, {"token": world.tokens["screen"]})
    pid = await create(mod, world, kind="text", question="What should we fund?", options=[])
    await act(mod, world, pid, "open")
    await act(mod, world, pid, "show")
    assert (await answer(ann, world, pid, "Clean water for schools"))["answer"] == ["Clean water for schools"]
    assert (await answer(bob, world, pid, "<script>spam</script>"))["ok"]
    assert (await answer(bob, world, pid, "x" * 281))["error"]["code"] == "invalid"
    staff = await mod.wait_for(lambda c: polls_of(c)[pid]["results"]["voters"] == 2 and polls_of(c)[pid])
    assert set(staff["results"]["counts"]) == {"Clean water for schools", "<script>spam</script>"}
    await asyncio.sleep(0.4)
    assert polls_of(screen)[pid]["results"]["counts"] == {}, "nothing unapproved on the hall screen"
    assert polls_of(bob)[pid]["results"]["counts"] == {}

    ok = await mod.call(
        "poll:approve",
        {"session": world.session, "poll": pid, "text": "Clean water for schools", "approve": True},
    )
    assert ok["changed"] is True
    for face in (screen, bob):
        await face.wait_for(lambda c: polls_of(c)[pid]["results"]["counts"] == {"Clean water for schools": 1})
    again = await mod.call(
        "poll:approve",
        {"session": world.session, "poll": pid, "text": "Clean water for schools", "approve": True},
    )
    assert again["changed"] is False
    nobody = await mod.call(
        "poll:approve", {"session": world.session, "poll": pid, "text": "made up", "approve": True}
    )
    assert nobody["error"]["code"] == "not_found"
    refused = await ann.call(
        "poll:approve",
        {"session": world.session, "poll": pid, "text": "Clean water for schools", "approve": False},
    )
    assert refused["error"]["code"] == "forbidden"
