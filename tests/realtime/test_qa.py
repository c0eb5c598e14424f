"""Q&A over real sockets: the lifecycle, what each role sees, races, retries and bad input."""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid

import pytest

from tests.conftest import Connected, Running, World, audience_token, hostile, moderator, person

H = hostile()


async def ask(c: Connected, world: World, text: str, **kw) -> dict:
    payload = {"session": world.session, "text": text, "client_id": uuid.uuid4().hex, **kw}
    return await c.call("qa:ask", payload)


async def act(mod: Connected, world: World, question: str, action: str, **kw) -> dict:
    return await mod.call(
        "qa:moderate", {"session": world.session, "question": question, "action": action, **kw}
    )


def seen_ids(c: Connected) -> set[str]:
    """Every question id whose content (text) reached this socket in any frame."""
    ids = set()
    for part in c.parts("qa"):
        ids |= {q["id"] for q in part.get("questions", []) if "text" in q}
    return ids


def wire(c: Connected) -> str:
    return json.dumps(c.received, ensure_ascii=False)


async def test_the_whole_lifecycle_in_pre_moderation(server: Running, world: World, http):
    ann = await person(server, world, http, "Ann")
    bob = await person(server, world, http, "Bob")
    mod = await moderator(server, world)

    asked = await ask(ann, world, "How will the agreement help start-ups?")
    assert asked["ok"] and asked["created"]
    q = asked["question"]
    assert (q["state"], q["name"], q["mine"], q["votes"]) == ("pending", "Ann", True, 0)

    # The moderator sees it at once, with the name and a stable alias.
    mq = await mod.wait_for(lambda c: c.feed.questions.get(q["id"]))
    assert (mq["id"], mq["state"], mq["name"]) == (q["id"], "pending", "Ann")
    assert mq["alias"].startswith("Guest ")
    # Bob learns only that one question waits.
    (bpart,) = await bob.wait_for(lambda c: c.parts("qa"))
    assert bpart["counts"] == {"pending": 1, "declined": 0}
    assert bpart["questions"] == [{"id": q["id"], "removed": True}]
    assert bob.feed.questions == {}

    assert (await act(mod, world, q["id"], "approve"))["changed"] is True
    await bob.wait_for(lambda c: q["id"] in c.feed.questions)
    await ann.wait_for(lambda c: c.feed.mine.get(q["id"], {}).get("state") == "approved")

    voted = await bob.call("qa:vote", {"session": world.session, "question": q["id"], "vote": True})
    assert voted == {"ok": True, "question": q["id"], "votes": 1, "voted": True}
    await ann.wait_for(
        lambda c: c.feed.questions[q["id"]]["votes"] == 1 and c.feed.mine[q["id"]]["votes"] == 1
    )

    await act(mod, world, q["id"], "edit", text="How will the free trade agreement help start-ups?")
    await act(mod, world, q["id"], "screen")
    snap = await bob.call("session:snapshot", {})
    shown = next(x for x in snap["qa"]["questions"] if x["id"] == q["id"])
    assert shown["edited"] and shown["on_screen"] and snap["qa"]["screen"] == q["id"]
    assert shown["text"].startswith("How will the free trade")
    assert snap["qa"]["voted"] == [q["id"]]

    await act(mod, world, q["id"], "answer")
    snap = await bob.call("session:snapshot", {})
    assert snap["qa"]["screen"] is None
    assert next(x for x in snap["qa"]["questions"] if x["id"] == q["id"])["state"] == "answered"
    withdraw = await ann.call("qa:withdraw", {"session": world.session, "question": q["id"]})
    assert withdraw["error"]["code"] == "conflict", "an answered question stays"

    # Every frame reached every socket in order, each starting where the last ended.
    for c in (ann, bob, mod):
        assert (c.feed.gaps, c.feed.regressions) == (0, 0)
        frames = c.frames()
        for earlier, later in itertools.pairwise(frames):
            assert tuple(later["from"]) <= tuple(earlier["to"]) < tuple(later["to"])
        assert c.state["questions"].get(q["id"], {}).get("state") in (None, "answered")


async def test_post_moderation_shows_questions_at_once_but_the_word_list_holds_some(
    server: Running, world: World, http
):
    mod = await moderator(server, world)
    ack = await mod.call(
        "qa:settings", {"session": world.session, "moderation": "post", "words": ["Scam", "Café"]}
    )
    assert ack["ok"] and ack["settings"]["words"] == ["scam", "cafe"]
    ann = await person(server, world, http)
    shown = await ask(ann, world, "What is next for the partnership?")
    held = await ask(ann, world, "Is this a SCAM?")
    accent = await ask(ann, world, "Meet at the cafe after?")
    assert shown["question"]["state"] == "approved"
    assert held["question"]["state"] == "pending" and accent["question"]["state"] == "pending"
    mq = await mod.call("session:snapshot", {})
    assert {q["id"]: q["held"] for q in mq["qa"]["questions"]}[held["question"]["id"]] == "word"
    bob = await person(server, world, http)
    snap = await bob.call("session:snapshot", {})
    assert [q["id"] for q in snap["qa"]["questions"]] == [shown["question"]["id"]]
    assert snap["qa"]["counts"]["pending"] == 2


async def test_anonymous_questions_never_carry_the_name_to_anyone(server: Running, world: World, http):
    ann = await person(server, world, http, "Ann Secret")
    bob = await person(server, world, http)
    mod = await moderator(server, world)
    await mod.call("qa:settings", {"session": world.session, "moderation": "post"})
    q = (await ask(ann, world, "Anonymous one", anonymous=True))["question"]
    assert q["anonymous"] is True
    await bob.wait_for(lambda c: q["id"] in seen_ids(c))
    await mod.wait_for(lambda c: q["id"] in seen_ids(c))
    await bob.call("session:snapshot", {})
    await mod.call("session:snapshot", {})
    for c in (bob, mod):
        assert "Ann Secret" not in wire(c)
    modsnap = await mod.call("session:snapshot", {})
    assert "Ann Secret" not in json.dumps(modsnap)
    alias = next(x for x in modsnap["qa"]["questions"] if x["id"] == q["id"])["alias"]
    q2 = (await ask(ann, world, "Anonymous two", anonymous=True))["question"]
    modsnap = await mod.call("session:snapshot", {})
    assert next(x for x in modsnap["qa"]["questions"] if x["id"] == q2["id"])["alias"] == alias


async def test_the_audience_never_receives_pending_declined_or_moderation_data(
    server: Running, world: World, http
):
    ann = await person(server, world, http, "Ann")
    spy = await person(server, world, http, "Spy")
    screen = await server.client(auth={"token": world.tokens["screen"]})
    await screen.call("session:join", {"session": world.session})
    mod = await moderator(server, world)
    await mod.call("qa:settings", {"session": world.session, "words": ["secretword"]})
    (await ask(ann, world, "PENDING-TEXT never approved"))["question"]
    direct = (await ask(ann, world, "DIRECT-DECLINE-TEXT"))["question"]
    await act(mod, world, direct["id"], "decline")
    declined = (await ask(ann, world, "DECLINED-TEXT after approval"))["question"]
    await act(mod, world, declined["id"], "approve")
    await act(mod, world, declined["id"], "decline")
    withdrawn = (await ask(ann, world, "WITHDRAWN-TEXT"))["question"]
    await act(mod, world, withdrawn["id"], "approve")
    await ann.call("qa:withdraw", {"session": world.session, "question": withdrawn["id"]})
    await asyncio.sleep(0.4)
    for c in (spy, screen):
        snap = await c.call("session:snapshot", {})
        everything = wire(c) + json.dumps(snap)
        for secret in ("PENDING-TEXT", "DIRECT-DECLINE-TEXT", "secretword", "alias", "held", "author"):
            assert secret not in everything, secret
        # Shown while approved, then taken back: gone from the snapshot.
        for gone in ("DECLINED-TEXT", "WITHDRAWN-TEXT"):
            assert gone not in json.dumps(snap), gone
        assert snap["qa"]["counts"] == {"pending": 1, "declined": 2}
        assert "words" not in snap["qa"]["settings"]
    # What the spy was shown while approved was taken back.
    removed = [q for part in spy.parts("qa") for q in part.get("questions", []) if q.get("removed")]
    assert {q["id"] for q in removed} >= {declined["id"], withdrawn["id"]}
    assert spy.feed.questions == {}


async def test_fifty_people_voting_at_once_give_exactly_fifty(server: Running, world: World, http):
    mod = await moderator(server, world)
    await mod.call("qa:settings", {"session": world.session, "moderation": "post"})
    author = await person(server, world, http)
    q = (await ask(author, world, "Vote for me"))["question"]
    voters = await asyncio.gather(*(person(server, world, http) for _ in range(50)))
    acks = await asyncio.gather(
        *(v.call("qa:vote", {"session": world.session, "question": q["id"], "vote": True}) for v in voters)
    )
    assert all(a["ok"] for a in acks)
    await author.wait_for(lambda c: c.feed.questions[q["id"]]["votes"] == 50)
    snap = await author.call("session:snapshot", {})
    assert next(x for x in snap["qa"]["questions"] if x["id"] == q["id"])["votes"] == 50
    # Coalesced: far fewer vote updates than votes.
    assert len(author.parts("votes")) < 20


async def test_one_person_voting_ten_times_in_parallel_counts_once_and_unvoting_is_harmless(
    server: Running, world: World, http
):
    mod = await moderator(server, world)
    await mod.call("qa:settings", {"session": world.session, "moderation": "post"})
    c = await person(server, world, http)
    q = (await ask(c, world, "Once"))["question"]
    vote = {"session": world.session, "question": q["id"], "vote": True}
    acks = await asyncio.gather(*(c.call("qa:vote", vote) for _ in range(10)))
    assert {a["votes"] for a in acks} == {1}
    unvote = {**vote, "vote": False}
    acks = await asyncio.gather(*(c.call("qa:vote", unvote) for _ in range(5)))
    assert {a["votes"] for a in acks} == {0}


async def test_two_moderators_screening_at_once_leave_exactly_one_on_screen(
    server: Running, world: World, http
):
    a, b = await moderator(server, world), await moderator(server, world)
    await a.call("qa:settings", {"session": world.session, "moderation": "post"})
    c = await person(server, world, http)
    qs = [(await ask(c, world, f"Q{i}"))["question"]["id"] for i in range(2)]
    for _ in range(5):
        await asyncio.gather(act(a, world, qs[0], "screen"), act(b, world, qs[1], "screen"))
        snap = await c.call("session:snapshot", {})
        on = [q["id"] for q in snap["qa"]["questions"] if q["on_screen"]]
        assert len(on) == 1 and on[0] == snap["qa"]["screen"]


async def test_merging_unites_voters_without_counting_anyone_twice(server: Running, world: World, http):
    mod = await moderator(server, world)
    await mod.call("qa:settings", {"session": world.session, "moderation": "post"})
    people = [await person(server, world, http) for _ in range(4)]
    original = (await ask(people[0], world, "Will there be a recording?"))["question"]["id"]
    duplicate = (await ask(people[1], world, "Is this recorded?"))["question"]["id"]
    for i, p in enumerate(people):
        if i < 3:
            await p.call("qa:vote", {"session": world.session, "question": original, "vote": True})
        if i >= 2:
            await p.call("qa:vote", {"session": world.session, "question": duplicate, "vote": True})
    assert (await act(mod, world, duplicate, "merge", into=original))["changed"]
    snap = await people[0].call("session:snapshot", {})
    by_id = {q["id"]: q for q in snap["qa"]["questions"]}
    assert by_id[original]["votes"] == 4 and duplicate not in by_id
    # A late vote for the duplicate lands on the original, once.
    late = await people[3].call("qa:vote", {"session": world.session, "question": duplicate, "vote": True})
    assert (late["question"], late["votes"]) == (original, 4)
    assert (await act(mod, world, duplicate, "merge", into=original))["changed"] is False
    assert (await act(mod, world, original, "merge", into=original))["error"]["code"] == "invalid"


async def test_every_action_can_be_undone_and_repeating_one_changes_nothing(
    server: Running, world: World, http
):
    mod = await moderator(server, world)
    ann = await person(server, world, http)
    q = (await ask(ann, world, "Undo me"))["question"]["id"]
    for action, undo, state in (
        ("approve", "hold", "pending"),
        ("decline", "hold", "pending"),
        ("approve", "decline", "declined"),
        ("restore", None, "approved"),
        ("answer", "restore", "approved"),
        ("archive", "restore", "approved"),
        ("screen", "unscreen", "approved"),
    ):
        first = await act(mod, world, q, action)
        assert first["ok"], (action, first)
        again = await act(mod, world, q, action)
        assert again == {"ok": True, "v": first["v"], "changed": False}, action
        if undo:
            assert (await act(mod, world, q, undo))["ok"]
        snap = await mod.call("session:snapshot", {})
        assert next(x for x in snap["qa"]["questions"] if x["id"] == q)["state"] == state, action


async def test_a_retry_after_a_dropped_connection_returns_the_first_question(
    server: Running, world: World, http
):
    token = await audience_token(http, server, world.event["code"])
    first = await server.client(auth={"participant": token})
    await first.call("session:join", {"session": world.session})
    client_id = uuid.uuid4().hex
    payload = {
        "session": world.session,
        "text": "Asked while the train entered a tunnel",
        "client_id": client_id,
    }
    await first.sio.emit("qa:ask", payload)  # sent, and the connection drops before the ack
    await first.sio.disconnect()
    second = await server.client(auth={"participant": token})
    await second.call("session:join", {"session": world.session})
    retried = await second.call("qa:ask", payload)
    again = await second.call("qa:ask", payload)
    assert retried["ok"] and again["question"]["id"] == retried["question"]["id"]
    assert again["created"] is False
    mod = await moderator(server, world)
    snap = await mod.call("session:snapshot", {})
    assert [q["text"] for q in snap["qa"]["questions"]] == [payload["text"]]


async def test_muting_declines_new_questions_silently_and_removes_votes(server: Running, world: World, http):
    mod = await moderator(server, world)
    await mod.call("qa:settings", {"session": world.session, "moderation": "post"})
    troll = await person(server, world, http, "Troll")
    good = await person(server, world, http)
    q_good = (await ask(good, world, "A good question"))["question"]["id"]
    await troll.call("qa:vote", {"session": world.session, "question": q_good, "vote": True})
    q_troll = (await ask(troll, world, "Spam spam"))["question"]["id"]
    muted = await mod.call("qa:mute", {"session": world.session, "question": q_troll, "mute": True})
    assert muted == {"ok": True, "muted": True, "votes_removed": 1}
    later = (await ask(troll, world, "More spam"))["question"]
    assert later["state"] == "pending", "the muted author sees nothing unusual"
    again = await troll.call("qa:vote", {"session": world.session, "question": q_good, "vote": True})
    assert again["ok"] and again["votes"] == 0
    snap = await good.call("session:snapshot", {})
    assert "More spam" not in json.dumps(snap) and snap["qa"]["counts"]["declined"] == 0
    modsnap = await mod.call("session:snapshot", {})
    assert next(x for x in modsnap["qa"]["questions"] if x["id"] == later["id"])["state"] == "declined"


async def test_closed_qa_anonymous_off_slow_mode_and_length_limit(server: Running, world: World, http):
    mod = await moderator(server, world)
    ann = await person(server, world, http)
    await mod.call(
        "qa:settings", {"session": world.session, "anonymous": False, "max_length": 20, "slow_seconds": 30}
    )
    assert (await ask(ann, world, "hidden", anonymous=True))["error"]["code"] == "forbidden"
    assert (await ask(ann, world, "x" * 21))["error"]["code"] == "invalid"
    assert (await ask(ann, world, "first"))["ok"]
    slow = await ask(ann, world, "second")
    assert slow["error"]["code"] == "rate_limited" and 25 <= slow["error"]["retry_after"] <= 30
    await mod.call("qa:settings", {"session": world.session, "open": False, "slow_seconds": 0})
    closed = await ask(ann, world, "third")
    assert closed["error"] == {"code": "conflict", "message": "Questions are closed for this session."}


@pytest.mark.parametrize("text", H["markup"] + H["languages"])
async def test_hostile_question_text_is_stored_as_typed(server: Running, world: World, http, text):
    ann = await person(server, world, http)
    assert (await ask(ann, world, text))["question"]["text"] == text


BAD_ASK = [
    *H["wrong_types"],
    {"session": "S"},
    {"session": "S", "text": "hi"},
    {"session": "S", "client_id": "c1"},
    {"session": "S", "text": "", "client_id": "c1"},
    {"session": "S", "text": "x" * 301, "client_id": "c1"},
    {"session": "S", "text": "bell\u0007", "client_id": "c1"},
    {"session": "S", "text": 5, "client_id": "c1"},
    {"session": "S", "text": "hi", "client_id": "bad id!"},
    {"session": "S", "text": "hi", "client_id": "c" * 65},
    {"session": "S", "text": "hi", "client_id": "c1", "anonymous": "yes"},
    {"session": "S", "text": "hi", "client_id": "c1", "extra": 1},
    {"session": "OTHER", "text": "hi", "client_id": "c1"},
]


def fill(payload, world: World, question: str = "Q"):
    if not isinstance(payload, dict):
        return payload
    out = dict(payload)
    if out.get("session") == "S":
        out["session"] = world.session
    elif out.get("session") == "OTHER":
        out["session"] = world.sessions[1]["id"]
    if out.get("question") == "Q":
        out["question"] = question
    return out


@pytest.mark.parametrize("payload", BAD_ASK, ids=repr)
async def test_bad_asks_are_refused_and_store_nothing(server: Running, world: World, http, payload):
    ann = await person(server, world, http)
    ack = await ann.call("qa:ask", fill(payload, world))
    assert ack["ok"] is False and ack["error"]["code"] in ("invalid", "conflict"), ack
    mod = await moderator(server, world)
    assert (await mod.call("session:snapshot", {}))["qa"]["questions"] == []


BAD_MODERATE = [
    *H["wrong_types"],
    {"session": "S", "question": "Q"},
    {"session": "S", "question": "Q", "action": "delete"},
    {"session": "S", "question": "nope", "action": "approve"},
    {"session": "S", "question": "Q", "action": "edit"},
    {"session": "S", "question": "Q", "action": "edit", "text": ""},
    {"session": "S", "question": "Q", "action": "merge"},
    {"session": "S", "question": "Q", "action": "merge", "into": "nope"},
    {"session": "S", "question": "Q", "action": "approve", "text": "sneaky"},
    {"session": "OTHER", "question": "Q", "action": "approve"},
]


@pytest.mark.parametrize("payload", BAD_MODERATE, ids=repr)
async def test_bad_moderation_is_refused_and_changes_nothing(server: Running, world: World, http, payload):
    ann = await person(server, world, http)
    q = (await ask(ann, world, "Target"))["question"]["id"]
    mod = await moderator(server, world)
    before = await mod.call("session:snapshot", {})
    ack = await mod.call("qa:moderate", fill(payload, world, q))
    assert ack["ok"] is False and ack["error"]["code"] in ("invalid", "not_found", "conflict", "forbidden"), (
        ack
    )
    after = await mod.call("session:snapshot", {})
    assert after["v"] == before["v"] and after["qa"] == before["qa"]


@pytest.mark.parametrize(
    ("event", "payload"),
    [
        ("qa:moderate", {"session": "S", "question": "Q", "action": "approve"}),
        ("qa:moderate", {"session": "S", "question": "Q", "action": "screen"}),
        ("qa:settings", {"session": "S", "moderation": "post"}),
        ("qa:mute", {"session": "S", "question": "Q", "mute": True}),
    ],
)
async def test_the_audience_cannot_call_moderator_events(server: Running, world: World, http, event, payload):
    ann = await person(server, world, http)
    q = (await ask(ann, world, "Mine"))["question"]["id"]
    before = await ann.call("session:snapshot", {})
    ack = await ann.call(event, fill(payload, world, q))
    assert ack["error"]["code"] == "forbidden"
    assert (await ann.call("session:snapshot", {}))["v"] == before["v"]


@pytest.mark.parametrize(
    "payload",
    [
        *H["wrong_types"],
        {"session": "S", "question": "Q"},
        {"session": "S", "question": "Q", "vote": 1},
        {"session": "S", "question": "nope", "vote": True},
        {"session": "S", "question": "Q", "vote": True, "x": 1},
    ],
    ids=repr,
)
async def test_bad_votes_are_refused(server: Running, world: World, http, payload):
    ann = await person(server, world, http)
    q = (await ask(ann, world, "pending, so not votable"))["question"]["id"]
    ack = await ann.call("qa:vote", fill(payload, world, q))
    assert ack["ok"] is False and ack["error"]["code"] in ("invalid", "not_found", "conflict")


async def test_only_the_author_can_withdraw_and_settings_are_validated(server: Running, world: World, http):
    ann, bob = await person(server, world, http), await person(server, world, http)
    q = (await ask(ann, world, "Mine"))["question"]["id"]
    assert (await bob.call("qa:withdraw", {"session": world.session, "question": q}))["error"][
        "code"
    ] == "not_found"
    assert (await ann.call("qa:withdraw", {"session": world.session, "question": q}))["ok"]
    mod = await moderator(server, world)
    for bad in (
        {"moderation": "none"},
        {"open": "yes"},
        {"max_length": 5},
        {"max_length": 10**6},
        {"slow_seconds": -1},
        {"words": "spam"},
        {"words": ["x" * 41]},
        {"words": ["ok"] * 201},
        {"colour": "red"},
    ):
        ack = await mod.call("qa:settings", {"session": world.session, **bad})
        assert ack["error"]["code"] == "invalid", bad
