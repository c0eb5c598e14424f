"""Raised hands over real sockets: the queue in arrival order, withdrawing, declining, and
bringing an audience member backstage, which makes that very socket a speaker.

Who must NOT receive something is checked after a fence: a later broadcast to the whole
session (a clock change); a socket's messages arrive in the order they were sent."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import Api, Connected, Running, World, fence, hostile
from tests.conftest import join_session as join

H = hostile()


# --- helpers (small copies; test modules do not import each other) ----------------------


async def person(server: Running, world: World, http, name: str) -> tuple[Connected, str]:
    """A new audience member (as a phone joins with the code) in the session: (client, id)."""
    async with http.post(f"{server.url}/api/codes/{world.event['code']}/join", json={"name": name}) as r:
        data = await r.json()
        assert data["ok"], data
    c, snap = await join(server, world, {"participant": data["participant"]["token"]})
    assert snap["you"]["role"] == "audience" and snap["you"]["hand"] == {"state": "none"}, snap["you"]
    return c, str(data["participant"]["id"])


async def moderator(server: Running, world: World) -> Connected:
    c, _ = await join(server, world, {"token": world.tokens["moderator"]})
    return c


def wire(c: Connected) -> str:
    return json.dumps(c.received, ensure_ascii=False)


def queue_of(c: Connected) -> list[str] | None:
    """The people in the last hand:queue a moderator got, in order."""
    queues = c.events("hand:queue")
    return [h["person"] for h in queues[-1]["hands"]] if queues else None


def last_mine(c: Connected) -> dict[str, Any] | None:
    got = c.events("hand:mine")
    return got[-1] if got else None


async def raise_hand(c: Connected, world: World, note: Any = None) -> dict[str, Any]:
    payload: dict[str, Any] = {"session": world.session}
    if note is not None:
        payload["note"] = note
    return await c.call("hand:raise", payload)


async def answer(mod: Connected, world: World, pid: str, action: str) -> dict[str, Any]:
    return await mod.call("hand:answer", {"session": world.session, "person": pid, "action": action})


async def hands_in_snapshot(mod: Connected) -> list[dict[str, Any]]:
    snap = await mod.call("session:snapshot", {})
    assert snap["ok"], snap
    return snap["backstage"]["hands"]


# --- the queue ---------------------------------------------------------------------------


async def test_hands_queue_in_arrival_order_and_each_person_hears_only_of_their_own(
    server: Running, world: World, http
):
    mod = await moderator(server, world)
    org_mod, _ = await join(server, world, {"token": world.tokens["organizer"]})
    speaker, _ = await join(server, world, {"token": world.tokens["speaker"]})
    people = [await person(server, world, http, name) for name in ("Ann", "Bob", "Chen")]
    notes = ["I work on this in Haifa", H["languages"][0], ""]

    for i, ((c, _pid), note) in enumerate(zip(people, notes, strict=True)):
        ack = await raise_hand(c, world, note)
        assert ack == {"ok": True, "changed": True, "state": "raised"}, ack
        await mod.wait_for(lambda m, n=i + 1: queue_of(m) is not None and len(queue_of(m)) == n)
        got = await c.wait_for(last_mine)
        assert got == {"session": world.session, "state": "raised", "note": note}, got

    order = [pid for _, pid in people]
    assert queue_of(mod) == order
    hands = mod.events("hand:queue")[-1]
    assert hands["session"] == world.session
    assert [(h["name"], h["note"]) for h in hands["hands"]] == list(
        zip(["Ann", "Bob", "Chen"], notes, strict=True)
    )
    assert [h["at"] for h in hands["hands"]] == sorted(h["at"] for h in hands["hands"])
    await org_mod.wait_for(lambda c: queue_of(c) == order)
    assert await hands_in_snapshot(mod) == hands["hands"]

    await fence(world, mod, speaker, *(c for c, _ in people))
    assert not speaker.events("hand:queue") and not speaker.events("hand:mine")
    for c, pid in people:
        assert not c.events("hand:queue"), "the audience never sees the queue"
        assert {m["state"] for m in c.events("hand:mine")} == {"raised"}
        others = [p for _, p in people if p != pid]
        assert not any(p in wire(c) for p in others), "nor anyone else's id"
    ann = people[0][0]
    assert (await ann.call("session:snapshot", {}))["you"]["hand"] == {"state": "raised", "note": notes[0]}
    assert "backstage" not in await ann.call("session:snapshot", {})


async def test_raising_again_keeps_the_place_and_updates_the_note(server: Running, world: World, http):
    mod = await moderator(server, world)
    (ann, ann_id), (bob, bob_id) = [await person(server, world, http, n) for n in ("Ann", "Bob")]
    assert (await raise_hand(ann, world, "first"))["changed"] is True
    assert (await raise_hand(bob, world))["changed"] is True
    await mod.wait_for(lambda m: queue_of(m) == [ann_id, bob_id])
    at = (await hands_in_snapshot(mod))[0]["at"]

    again = await raise_hand(ann, world, "  second\tthought  ")
    assert again == {"ok": True, "changed": False, "state": "raised"}
    await mod.wait_for(lambda m: m.events("hand:queue")[-1]["hands"][0]["note"] == "second thought")
    assert queue_of(mod) == [ann_id, bob_id], "the place is kept"
    first = (await hands_in_snapshot(mod))[0]
    assert (first["person"], first["note"], first["at"]) == (ann_id, "second thought", at)
    await ann.wait_for(lambda c: last_mine(c) and last_mine(c).get("note") == "second thought")
    # raising again without a note clears it (still in place)
    assert (await raise_hand(ann, world))["changed"] is False
    await mod.wait_for(lambda m: m.events("hand:queue")[-1]["hands"][0]["note"] == "")
    assert queue_of(mod) == [ann_id, bob_id]


async def test_withdrawing_and_declining_take_the_hand_out_of_the_queue(server: Running, world: World, http):
    mod = await moderator(server, world)
    people = [await person(server, world, http, n) for n in ("Ann", "Bob", "Chen")]
    (ann, ann_id), (bob, bob_id), (chen, chen_id) = people
    for c, _ in people:
        assert (await raise_hand(c, world, "me"))["ok"]
    await mod.wait_for(lambda m: queue_of(m) == [ann_id, bob_id, chen_id])

    ack = await bob.call("hand:withdraw", {"session": world.session})
    assert ack == {"ok": True, "changed": True, "state": "none"}
    await mod.wait_for(lambda m: queue_of(m) == [ann_id, chen_id])
    await bob.wait_for(lambda c: last_mine(c) == {"session": world.session, "state": "none"})
    n_queues = len(mod.events("hand:queue"))
    again = await bob.call("hand:withdraw", {"session": world.session})
    assert again == {"ok": True, "changed": False, "state": "none"}

    declined = await answer(mod, world, chen_id, "decline")
    assert declined["ok"] and declined["state"] == "declined", declined
    await mod.wait_for(lambda m: queue_of(m) == [ann_id])
    await chen.wait_for(lambda c: last_mine(c) == {"session": world.session, "state": "declined"})
    assert (await chen.call("session:snapshot", {}))["you"]["hand"] == {"state": "declined"}
    assert await hands_in_snapshot(mod) == [
        {"person": ann_id, "name": "Ann", "note": "me", "at": (await hands_in_snapshot(mod))[0]["at"]}
    ]
    await fence(world, mod, ann, bob, chen)
    assert len(mod.events("hand:queue")) == n_queues + 1, "a withdraw that changed nothing is not sent"
    assert {m["state"] for m in ann.events("hand:mine")} == {"raised"}
    assert "declined" not in wire(ann) and "declined" not in wire(bob)
    # a declined person may ask again, at the back of the queue
    assert (await raise_hand(chen, world, "please"))["changed"] is True
    await mod.wait_for(lambda m: queue_of(m) == [ann_id, chen_id])


async def test_answering_a_hand_that_is_not_raised_is_a_conflict(server: Running, world: World, http):
    mod = await moderator(server, world)
    (ann, ann_id), (bob, bob_id) = [await person(server, world, http, n) for n in ("Ann", "Bob")]
    for action in ("decline", "bring"):
        ack = await answer(mod, world, ann_id, action)  # never raised
        assert ack["error"]["code"] == "conflict", ack
        ack = await answer(mod, world, "nobody-at-all", action)
        assert ack["error"]["code"] == "conflict", ack
    await raise_hand(ann, world)
    await raise_hand(bob, world)
    await ann.call("hand:withdraw", {"session": world.session})
    assert (await answer(mod, world, ann_id, "bring"))["error"]["code"] == "conflict"
    assert (await answer(mod, world, bob_id, "decline"))["ok"]
    assert (await answer(mod, world, bob_id, "decline"))["error"]["code"] == "conflict"
    assert (await answer(mod, world, bob_id, "bring"))["error"]["code"] == "conflict"
    await fence(world, mod, ann, bob)
    assert not [m for m in ann.events("hand:mine") if m["state"] == "brought"]
    assert not [m for m in bob.events("hand:mine") if m["state"] == "brought"]
    assert "token" not in wire(ann) + wire(bob)
    assert await hands_in_snapshot(mod) == []


@pytest.mark.parametrize(
    "payload",
    [
        {"person": "P", "action": "wave"},
        {"person": "P", "action": None},
        {"person": "P"},
        {"action": "bring"},
        {"person": 5, "action": "bring"},
        {"person": "../x", "action": "bring"},
        {"person": "P", "action": "bring", "token": "x"},
    ],
    ids=repr,
)
async def test_bad_answers_are_refused_and_leave_the_hand_up(server: Running, world: World, http, payload):
    mod = await moderator(server, world)
    ann, ann_id = await person(server, world, http, "Ann")
    await raise_hand(ann, world, "hi")
    body = {"session": world.session, **payload}
    if body.get("person") == "P":
        body["person"] = ann_id
    ack = await mod.call("hand:answer", body)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid", ack
    assert [h["person"] for h in await hands_in_snapshot(mod)] == [ann_id]
    await fence(world, mod, ann)
    assert {m["state"] for m in ann.events("hand:mine")} == {"raised"}


@pytest.mark.parametrize(
    "note",
    ["x" * 141, "x" * H["sizes"]["long_question_chars"], *H["control"], 5, True, ["hi"], {"a": 1}],
    ids=lambda n: repr(n)[:30],
)
async def test_bad_notes_are_refused_and_raise_nothing(server: Running, world: World, http, note):
    mod = await moderator(server, world)
    ann, _ = await person(server, world, http, "Ann")
    ack = await raise_hand(ann, world, note)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid", ack
    assert await hands_in_snapshot(mod) == []
    await fence(world, mod, ann)
    assert not mod.events("hand:queue") and not ann.events("hand:mine")


async def test_notes_at_the_limit_and_hostile_notes_are_kept_as_typed(server: Running, world: World, http):
    mod = await moderator(server, world)
    ann, _ = await person(server, world, http, "Ann")
    bob, _ = await person(server, world, http, H["markup"][1])
    assert (await raise_hand(ann, world, "é" * 140))["ok"]
    assert (await raise_hand(bob, world, H["markup"][0]))["ok"]
    hands = await hands_in_snapshot(mod)
    assert [(h["name"], h["note"]) for h in hands] == [("Ann", "é" * 140), (H["markup"][1], H["markup"][0])]


# --- who may do what ---------------------------------------------------------------------


async def test_only_the_audience_raises_hands_and_only_moderators_answer(server: Running, world: World, http):
    mod = await moderator(server, world)
    organizer, _ = await join(server, world, {"token": world.tokens["organizer"]})
    speaker, _ = await join(server, world, {"token": world.tokens["speaker"]})
    screen, _ = await join(server, world, {"token": world.tokens["screen"]})
    ann, ann_id = await person(server, world, http, "Ann")
    bob, _ = await person(server, world, http, "Bob")
    for c in (mod, organizer, speaker, screen):
        for event in ("hand:raise", "hand:withdraw"):
            ack = await c.call(event, {"session": world.session})
            assert ack["ok"] is False and ack["error"]["code"] == "forbidden", (event, ack)
    assert await hands_in_snapshot(mod) == []

    await raise_hand(ann, world)
    for c in (ann, bob, speaker, screen):
        for action in ("bring", "decline"):
            ack = await answer(c, world, ann_id, action)
            assert ack["ok"] is False and ack["error"]["code"] == "forbidden", (action, ack)
    assert [h["person"] for h in await hands_in_snapshot(mod)] == [ann_id]
    assert (await answer(organizer, world, ann_id, "decline"))["ok"], "organizers moderate too"


async def test_hands_belong_to_the_joined_session(server: Running, world: World, http):
    mod = await moderator(server, world)
    ann, ann_id = await person(server, world, http, "Ann")
    other = world.sessions[1]["id"]
    for event in ("hand:raise", "hand:withdraw"):
        ack = await ann.call(event, {"session": other})
        assert ack["error"]["code"] == "conflict", ack
    await raise_hand(ann, world)
    ack = await mod.call("hand:answer", {"session": other, "person": ann_id, "action": "bring"})
    assert ack["error"]["code"] == "conflict", ack
    assert [h["person"] for h in await hands_in_snapshot(mod)] == [ann_id]


async def test_raising_hands_is_limited_to_ten_a_minute_per_person(server: Running, world: World, http):
    mod = await moderator(server, world)
    ann, ann_id = await person(server, world, http, "Ann")
    bob, bob_id = await person(server, world, http, "Bob")
    acks = [await raise_hand(ann, world, f"note {i}") for i in range(10)]
    assert all(a["ok"] for a in acks), acks
    flood = await raise_hand(ann, world, "one too many")
    assert flood["ok"] is False and flood["error"]["code"] == "rate_limited", flood
    assert 1 <= flood["error"]["retry_after"] <= 60
    # ...across her tabs too: the limit is the person's, kept in the store
    tab, _ = await join(server, world, {"participant": ann.sio.connection_auth["participant"]})
    assert (await raise_hand(tab, world, "from my other tab"))["error"]["code"] == "rate_limited"
    assert (await raise_hand(bob, world, "me"))["ok"], "someone else is not limited"
    hands = await hands_in_snapshot(mod)
    assert [(h["person"], h["note"]) for h in hands] == [(ann_id, "note 9"), (bob_id, "me")]


# --- bring backstage ---------------------------------------------------------------------


async def test_bring_sends_a_speaker_link_to_that_person_alone_who_becomes_a_speaker(
    server: Running, world: World, org: Api, http
):
    mod = await moderator(server, world)
    organizer, _ = await join(server, world, {"token": world.tokens["organizer"]})
    speaker, _ = await join(server, world, {"token": world.tokens["speaker"]})
    screen, _ = await join(server, world, {"token": world.tokens["screen"]})
    ann, ann_id = await person(server, world, http, "Ann Guest")
    bob, bob_id = await person(server, world, http, "Bob")
    watcher, _ = await person(server, world, http, "Watcher")  # never raises a hand
    ann_tab, _ = await join(server, world, {"participant": ann.sio.connection_auth["participant"]})
    await raise_hand(ann, world, "I built the thing")
    await raise_hand(bob, world, "me too")
    await mod.wait_for(lambda m: queue_of(m) == [ann_id, bob_id])

    brought = await answer(mod, world, ann_id, "bring")
    assert brought["ok"] and brought["state"] == "brought" and brought["speaker"], brought
    assert "token" not in brought, "the moderator does not get the link"
    guest_id = brought["speaker"]
    got = await ann.wait_for(lambda c: [m for m in c.events("hand:mine") if m["state"] == "brought"])
    assert got[-1]["session"] == world.session and got[-1]["speaker"] == guest_id
    token = got[-1]["token"]
    assert isinstance(token, str) and len(token) > 20
    await ann_tab.wait_for(lambda c: [m for m in c.events("hand:mine") if m["state"] == "brought"])
    await mod.wait_for(lambda m: queue_of(m) == [bob_id])

    await fence(world, mod, organizer, speaker, screen, bob, watcher, ann)
    for c in (mod, organizer, speaker, screen, bob, watcher):
        assert token not in wire(c), "the link went to someone else"
        assert not [m for m in c.events("hand:mine") if "token" in m]
    assert {m["state"] for m in bob.events("hand:mine")} == {"raised"}
    snap = await mod.call("session:snapshot", {})
    assert token not in json.dumps(snap)
    guest_invite = next(i for i in snap["staff"]["invites"] if i["id"] == guest_id)
    assert (guest_invite["role"], guest_invite["session_id"], guest_invite["label"]) == (
        "speaker",
        world.session,
        "Ann Guest",
    )
    assert (await ann.call("session:snapshot", {}))["you"]["hand"]["token"] == token
    assert "token" not in (await bob.call("session:snapshot", {}))["you"]["hand"]

    # Ann's page upgrades the same socket
    ann_sid = ann.sio.get_sid()
    seen_before = len(ann.received)
    up = await ann.call("session:upgrade", {"token": token})
    assert up["ok"], up
    assert up["you"]["role"] == "speaker" and up["you"]["speaker"] == guest_id
    assert up["session"]["id"] == world.session
    assert up["rtc"]["you"] == ann_sid == ann.sio.get_sid(), "the same connection"
    assert {p["role"] for p in up["rtc"]["peers"]} >= {"screen", "moderator"}
    assert set(up["backstage"]) == {"chat", "cues"}
    assert "hand" not in up["you"] and "staff" not in up
    guest = dict({s["speaker"]: s for s in up["stage"]["lineup"]}[guest_id])
    assert guest.pop("since_ms") > 0
    assert guest == {
        "speaker": guest_id,
        "state": "backstage",
        "label": "Ann Guest",
        "online": True,
        "backup_url": None,
        "lang": "",
    }
    await ann.wait_for(lambda c: c.state["presence"]["counts"]["speaker"]["remote"] == 2)

    # the staff see the guest arrive backstage, and may signal to her
    await mod.wait_for(
        lambda m: {s["speaker"]: s["state"] for s in m.state["stage"]["lineup"]}.get(guest_id) == "backstage"
    )
    peer = await screen.wait_for(lambda c: [p for p in c.events("rtc:peer") if p["peer"] == ann_sid])
    assert peer[-1]["role"] == "speaker" and peer[-1]["speaker"] == guest_id

    # she may chat backstage now
    sent = await ann.call(
        "chat:send", {"session": world.session, "text": "Hello from row 12", "client_id": "g1"}
    )
    assert sent["ok"] and sent["message"]["from"] == {"role": "speaker", "name": "Ann Guest"}, sent
    await mod.wait_for(
        lambda m: [d for d in m.events("chat:message") if d["message"]["id"] == sent["message"]["id"]]
    )
    await speaker.wait_for(lambda c: c.events("chat:message"))
    # ...gets cues for her link...
    cue = await mod.call("stage:cue", {"session": world.session, "speaker": guest_id, "kind": "wrap"})
    assert cue["ok"], cue
    await ann.wait_for(lambda c: [d for d in c.events("stage:cue") if d["cue"]["id"] == cue["cue"]["id"]])
    # ...and the moderator may put her live
    live = await mod.call("stage:set", {"session": world.session, "speaker": guest_id, "state": "live"})
    assert live["ok"] and live["changed"] is True, live
    live_at = (live["v"], 0)
    await ann.wait_for(lambda c: [d for d in c.parts("stage") if d["to"] >= live_at])
    public = await watcher.wait_for(lambda c: [d for d in c.parts("stage") if d["to"] >= live_at])
    assert public[-1]["lineup"] == [{"speaker": guest_id, "state": "live", "label": "Ann Guest"}]

    await fence(world, mod, ann, ann_tab)
    after = [f for e, f in ann.received[seen_before:] if e == "session:feed"]
    stage_parts = [f["stage"] for f in after if "stage" in f]
    assert stage_parts, "she gets the stage as a speaker"
    for stage in stage_parts:
        assert all("online" in s for s in stage["lineup"]), "no audience view any more"
    ends = [tuple(f["to"]) for f in after]
    assert len(ends) == len(set(ends)), "one copy of each change, not the audience's as well"
    assert ann.feed.gaps == 0
    # her other tab stays in the audience: it gets the public view only
    assert ann_tab.state["stage"]["lineup"] == [{"speaker": guest_id, "state": "live", "label": "Ann Guest"}]

    def here(c: Connected) -> bool:
        counts = c.state["presence"]["counts"]
        # Bob, the watcher and Ann's tab in the audience; Ann and the other speaker on stage.
        return (
            counts["speaker"]["remote"] == 2
            and counts["audience"]["remote"] + counts["audience"]["hall"] == 3
        )

    await mod.wait_for(here)


async def test_an_upgraded_speaker_keeps_her_place_when_she_comes_back(server: Running, world: World, http):
    mod = await moderator(server, world)
    ann, ann_id = await person(server, world, http, "Ann")
    await raise_hand(ann, world)
    guest_id = (await answer(mod, world, ann_id, "bring"))["speaker"]
    token = (await ann.wait_for(lambda c: [m for m in c.events("hand:mine") if "token" in m]))[-1]["token"]
    assert (await ann.call("session:upgrade", {"token": token}))["ok"]
    assert (await mod.call("stage:set", {"session": world.session, "speaker": guest_id, "state": "live"}))[
        "ok"
    ]
    await ann.disconnect()
    dropped = await mod.wait_for(lambda m: [d for d in m.parts("online") if d.get(guest_id) is False])
    assert dropped
    assert {s["speaker"]: s["online"] for s in mod.state["stage"]["lineup"]}[guest_id] is False
    # her page reconnects with the speaker link it was given
    back, snap = await join(server, world, {"token": token})
    assert snap["you"]["role"] == "speaker" and snap["you"]["speaker"] == guest_id
    assert {s["speaker"]: s["state"] for s in snap["stage"]["lineup"]} == {guest_id: "live"}
    assert back.sio.connected


# --- upgrades that must not happen -------------------------------------------------------


async def test_upgrades_with_the_wrong_link_or_by_the_wrong_caller_are_forbidden(
    server: Running, world: World, org: Api, http
):
    mod = await moderator(server, world)
    ann, ann_id = await person(server, world, http, "Ann")
    other = world.sessions[1]["id"]
    elsewhere = await org.ok(
        "POST", f"/api/events/{world.event['id']}/invites", {"role": "speaker", "session_id": other}
    )
    event_wide = await org.ok("POST", f"/api/events/{world.event['id']}/invites", {"role": "speaker"})
    before = await ann.call("session:snapshot", {})

    for token in (
        elsewhere["token"],  # a speaker of another session
        event_wide["token"],  # a speaker link not scoped to this session
        world.tokens["moderator"],
        world.tokens["screen"],
        world.tokens["organizer"],
    ):
        ack = await ann.call("session:upgrade", {"token": token})
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
    snap = await ann.call("session:snapshot", {})
    assert snap["you"]["role"] == "audience" and "backstage" not in snap and "rtc" not in snap
    assert snap["stage"] == before["stage"] and snap["presence"]["counts"] == before["presence"]["counts"]

    # non-audience callers, even with a good link for this session
    await raise_hand(ann, world)
    guest = await answer(mod, world, ann_id, "bring")
    token = (await ann.wait_for(lambda c: [m for m in c.events("hand:mine") if "token" in m]))[-1]["token"]
    speaker, _ = await join(server, world, {"token": world.tokens["speaker"]})
    screen, _ = await join(server, world, {"token": world.tokens["screen"]})
    for c in (mod, speaker, screen):
        ack = await c.call("session:upgrade", {"token": token})
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
    assert (await speaker.call("session:snapshot", {}))["you"]["speaker"] != guest["speaker"]
    lineup = {s["speaker"] for s in (await mod.call("session:snapshot", {}))["stage"]["lineup"]}
    assert guest["speaker"] not in lineup, "no one arrived with the guest's link"

    # an upgrade needs a joined session
    bob, _ = await person(server, world, http, "Bob")
    assert (await bob.call("session:leave", {}))["ok"]
    ack = await bob.call("session:upgrade", {"token": token})
    assert ack["ok"] is False and ack["error"]["code"] == "conflict", ack
    # once a speaker, there is no second upgrade
    assert (await ann.call("session:upgrade", {"token": token}))["ok"]
    assert (await ann.call("session:upgrade", {"token": token}))["error"]["code"] == "forbidden"


GARBAGE_TOKENS = ["", "garbage", "a.b", "x" * 5000, 5, None, ["t"], {"i": "x"}]


@pytest.mark.parametrize("token", GARBAGE_TOKENS, ids=lambda t: repr(t)[:20])
async def test_upgrades_with_a_garbage_token_are_refused_and_change_nothing(
    server: Running, world: World, http, token
):
    mod = await moderator(server, world)
    ann, _ = await person(server, world, http, "Ann")
    before = await mod.call("session:snapshot", {})
    ack = await ann.call("session:upgrade", {"token": token})
    assert ack["ok"] is False and ack["error"]["message"], ack
    snap = await ann.call("session:snapshot", {})
    assert snap["you"]["role"] == "audience" and "backstage" not in snap
    assert (await mod.call("session:snapshot", {}))["stage"] == before["stage"]
    assert ann.sio.connected, "a bad token in a payload does not cost the socket its own sign-in"


async def test_an_upgrade_with_a_garbage_token_is_forbidden_as_documented(
    server: Running, world: World, http
):
    ann, _ = await person(server, world, http, "Ann")
    codes = set()
    for token in GARBAGE_TOKENS:
        ack = await ann.call("session:upgrade", {"token": token})
        codes.add(ack["error"]["code"])
    # docs/protocol.md, session:upgrade: "`forbidden` unless the caller is in the audience and
    # the token is a speaker link for the joined session"
    assert codes == {"forbidden"}, codes


@pytest.mark.parametrize("payload", [{}, {"token": "t", "x": 1}, [], "t"], ids=repr)
async def test_bad_upgrade_payloads_are_invalid(server: Running, world: World, http, payload):
    ann, _ = await person(server, world, http, "Ann")
    ack = await ann.call("session:upgrade", payload)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid", ack
    assert (await ann.call("session:snapshot", {}))["you"]["role"] == "audience"


async def test_two_moderators_bringing_the_same_hand_at_once_make_one_speaker_link(
    server: Running, world: World, http
):
    import asyncio

    mod = await moderator(server, world)
    organizer, _ = await join(server, world, {"token": world.tokens["organizer"]})
    ann, ann_id = await person(server, world, http, "Ann")
    await raise_hand(ann, world)
    before = (await mod.call("session:snapshot", {}))["staff"]["invites"]
    acks = await asyncio.gather(*(answer(m, world, ann_id, "bring") for m in (mod, organizer)))
    assert sorted(a["ok"] for a in acks) == [False, True], acks
    assert next(a for a in acks if not a["ok"])["error"]["code"] == "conflict"
    after = (await mod.call("session:snapshot", {}))["staff"]["invites"]
    new = [i for i in after if i["id"] not in {b["id"] for b in before}]
    assert [i["id"] for i in new] == [next(a for a in acks if a["ok"])["speaker"]], new
