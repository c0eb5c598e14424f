"""Behind the stage over real sockets: cues and their read receipts, the backstage chat, the
speakers' health reports, the session's status and the speakers' backup recordings.

Who must NOT receive something is checked after a fence: a later broadcast to the whole
session (a clock change). A socket's messages arrive in the order they were sent, so once a
client has the fence, anything meant for it before the fence has arrived too."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from tests.conftest import Api, Connected, Running, World, audience_token, fence, hostile, speaker_links
from tests.conftest import join_session as join

H = hostile()


# --- helpers (small copies; test modules do not import each other) ----------------------


async def settle(c: Connected, timeout: float = 5) -> int:
    """Wait until the session's version stops moving (changes just made have all been
    published) and return it."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        v = (await c.call("session:snapshot", {}))["v"]
        if v == last:
            return int(v)
        assert time.monotonic() < deadline, "the session's version keeps moving"
        last = v
        await asyncio.sleep(0.25)


def wire(c: Connected) -> str:
    """Everything a client received, as one string (to look for what must not be there)."""
    return json.dumps(c.received, ensure_ascii=False)


def lineup(stage: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["speaker"]: s for s in stage["lineup"]}


@dataclass
class Backstage:
    """A session with two moderators (a moderator link and an organizer), two speakers,
    a hall screen and an audience member, all joined."""

    mod: Connected
    organizer: Connected
    a: Connected
    a_id: str
    b: Connected
    b_id: str
    screen: Connected
    aud: Connected

    @property
    def everyone(self) -> list[Connected]:
        return [self.mod, self.organizer, self.a, self.b, self.screen, self.aud]


@pytest.fixture
async def bs(server: Running, world: World, org: Api, http) -> Backstage:
    inv = await org.ok(
        "POST",
        f"/api/events/{world.event['id']}/invites",
        {"role": "moderator", "session_id": world.session, "label": "Stage manager"},
    )
    mod, _ = await join(server, world, {"token": inv["token"]})
    organizer, _ = await join(server, world, {"token": world.tokens["organizer"]})
    (a_id, a_token), (b_id, b_token) = await speaker_links(org, world, 2)
    a, _ = await join(server, world, {"token": a_token})
    b, _ = await join(server, world, {"token": b_token})
    screen, _ = await join(server, world, {"token": world.tokens["screen"]})
    aud, _ = await join(
        server, world, {"participant": await audience_token(http, server, world.event["code"])}
    )
    return Backstage(mod, organizer, a, a_id, b, b_id, screen, aud)


async def cue(mod: Connected, world: World, speaker: str, kind: str, **kw: Any) -> dict[str, Any]:
    return await mod.call("stage:cue", {"session": world.session, "speaker": speaker, "kind": kind, **kw})


async def snapshot_cues(c: Connected) -> list[dict[str, Any]]:
    snap = await c.call("session:snapshot", {})
    assert snap["ok"], snap
    return snap["backstage"]["cues"]


# --- cues --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "extra", "expect"),
    [
        ("minutes", {"minutes": 2}, {"minutes": 2, "text": ""}),
        ("minutes", {"minutes": 120}, {"minutes": 120, "text": ""}),
        ("wrap", {}, {"minutes": None, "text": ""}),
        ("text", {"text": "Slide 4 is\tmissing  "}, {"minutes": None, "text": "Slide 4 is missing"}),
        ("text", {"text": H["markup"][0]}, {"minutes": None, "text": H["markup"][0]}),
        ("text", {"text": H["languages"][1]}, {"minutes": None, "text": H["languages"][1]}),
    ],
    ids=["minutes", "minutes-max", "wrap", "text-normalised", "text-markup", "text-hebrew"],
)
async def test_a_cue_reaches_its_speaker_and_the_moderators_only(
    bs: Backstage, world: World, kind, extra, expect
):
    before = int(time.time() * 1000)
    ack = await cue(bs.mod, world, bs.a_id, kind, **extra)
    assert ack["ok"], ack
    sent = ack["cue"]
    assert sent["id"] and sent["speaker"] == bs.a_id and sent["kind"] == kind
    assert {k: sent[k] for k in expect} == expect
    assert sent["by"] == "Stage manager" and sent["acked_at"] is None
    assert before - 1000 <= sent["at"] <= int(time.time() * 1000) + 1000

    for c in (bs.a, bs.mod, bs.organizer):
        got = await c.wait_for(lambda c: c.events("stage:cue"))
        assert got == [{"session": world.session, "cue": sent}], got
    await fence(world, bs.mod, bs.b, bs.screen, bs.aud)
    for c in (bs.b, bs.screen, bs.aud):
        assert not c.events("stage:cue")
        assert sent["id"] not in wire(c)


async def test_the_speaker_acknowledges_a_cue_once_and_the_moderators_see_it_read(
    bs: Backstage, world: World
):
    sent = (await cue(bs.mod, world, bs.a_id, "minutes", minutes=5))["cue"]
    await bs.a.wait_for(lambda c: c.events("stage:cue"))

    ack = await bs.a.call("stage:cue_ack", {"session": world.session, "cue": sent["id"]})
    assert ack["ok"] and ack["changed"] is True, ack
    read = ack["cue"]
    assert read["acked_at"] is not None and read["acked_at"] >= sent["at"]
    assert {**read, "acked_at": None} == sent
    for c in (bs.mod, bs.organizer, bs.a):  # moderators see it read; the speaker's tabs dismiss it
        got = await c.wait_for(lambda c: len(c.events("stage:cue")) == 2 and c.events("stage:cue"))
        assert got[-1] == {"session": world.session, "cue": read}

    again = await bs.a.call("stage:cue_ack", {"session": world.session, "cue": sent["id"]})
    assert again["ok"] and again["changed"] is False
    assert again["cue"]["acked_at"] == read["acked_at"], "the first read time stays"
    await fence(world, bs.mod, bs.a, bs.organizer, bs.b)
    assert len(bs.mod.events("stage:cue")) == 2, "a repeated receipt is not sent again"
    assert len(bs.a.events("stage:cue")) == 2
    assert not bs.b.events("stage:cue")
    assert [c["acked_at"] for c in await snapshot_cues(bs.mod)] == [read["acked_at"]]


async def test_only_the_cues_speaker_may_acknowledge_it(bs: Backstage, world: World):
    sent = (await cue(bs.mod, world, bs.a_id, "wrap"))["cue"]
    payload = {"session": world.session, "cue": sent["id"]}
    for c in (bs.b, bs.mod, bs.organizer, bs.screen, bs.aud):
        ack = await c.call("stage:cue_ack", payload)
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
    missing = await bs.a.call("stage:cue_ack", {"session": world.session, "cue": "no-such-cue"})
    assert missing["error"]["code"] == "not_found", missing
    for bad in ({"session": world.session}, {"session": world.session, "cue": 5}, {**payload, "x": 1}):
        ack = await bs.a.call("stage:cue_ack", bad)
        assert ack["error"]["code"] == "invalid", (bad, ack)
    assert [c["acked_at"] for c in await snapshot_cues(bs.mod)] == [None], "still unread"


async def test_a_speaker_of_another_session_cannot_acknowledge_a_cue(
    server: Running, world: World, org: Api, bs: Backstage
):
    sent = (await cue(bs.mod, world, bs.a_id, "wrap"))["cue"]
    other = world.sessions[1]["id"]
    ((_, token),) = await speaker_links(org, world, 1, session=other)
    elsewhere, _ = await join(server, world, {"token": token}, session=other)
    ack = await elsewhere.call("stage:cue_ack", {"session": other, "cue": sent["id"]})
    assert ack["error"]["code"] == "not_found", ack
    ack = await elsewhere.call("stage:cue_ack", {"session": world.session, "cue": sent["id"]})
    assert ack["error"]["code"] == "conflict", ack  # not joined there
    assert [c["acked_at"] for c in await snapshot_cues(bs.mod)] == [None]


async def test_only_moderators_send_cues(bs: Backstage, world: World):
    for c in (bs.a, bs.b, bs.screen, bs.aud):
        ack = await cue(c, world, bs.a_id, "wrap")
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
    assert (await cue(bs.organizer, world, bs.a_id, "wrap"))["ok"], "an organizer moderates too"
    assert len(await snapshot_cues(bs.mod)) == 1


LONG = "x" * H["sizes"]["long_question_chars"]

BAD_CUES = [
    ("kind-unknown", {"kind": "shout"}, "invalid"),
    ("kind-case", {"kind": "WRAP"}, "invalid"),
    ("kind-empty", {"kind": ""}, "invalid"),
    ("kind-number", {"kind": 5}, "invalid"),
    ("kind-list", {"kind": ["wrap"]}, "invalid"),
    ("kind-missing", {"kind": None}, "invalid"),
    ("minutes-missing", {"kind": "minutes"}, "invalid"),
    ("minutes-zero", {"kind": "minutes", "minutes": 0}, "invalid"),
    ("minutes-121", {"kind": "minutes", "minutes": 121}, "invalid"),
    ("minutes-negative", {"kind": "minutes", "minutes": -1}, "invalid"),
    ("minutes-bool", {"kind": "minutes", "minutes": True}, "invalid"),
    ("minutes-str", {"kind": "minutes", "minutes": "2"}, "invalid"),
    ("minutes-float", {"kind": "minutes", "minutes": 2.5}, "invalid"),
    ("minutes-huge", {"kind": "minutes", "minutes": 10**30}, "invalid"),
    ("text-missing", {"kind": "text"}, "invalid"),
    ("text-empty", {"kind": "text", "text": ""}, "invalid"),
    ("text-blank", {"kind": "text", "text": " \t\n "}, "invalid"),
    ("text-201", {"kind": "text", "text": "x" * 201}, "invalid"),
    ("text-hostile-long", {"kind": "text", "text": LONG}, "invalid"),
    ("text-number", {"kind": "text", "text": 5}, "invalid"),
    *[(f"text-control-{i}", {"kind": "text", "text": t}, "invalid") for i, t in enumerate(H["control"])],
    ("unknown-field", {"kind": "wrap", "colour": "red"}, "invalid"),
    ("speaker-not-an-id", {"kind": "wrap", "speaker": "../x"}, "invalid"),
    ("speaker-number", {"kind": "wrap", "speaker": 5}, "invalid"),
    ("speaker-never-arrived", {"kind": "wrap", "speaker": "NEW"}, "not_found"),
    ("speaker-other-session", {"kind": "wrap", "speaker": "OTHER"}, "not_found"),
    ("speaker-a-moderator", {"kind": "wrap", "speaker": "MOD"}, "not_found"),
]


@pytest.mark.parametrize(
    ("payload", "code"), [(p, c) for _, p, c in BAD_CUES], ids=[i for i, _, _ in BAD_CUES]
)
async def test_bad_cues_are_refused_and_leave_nothing_behind(
    server: Running, world: World, org: Api, bs: Backstage, payload, code
):
    ((new_id, _),) = await speaker_links(org, world, 1)  # a link that never entered
    other = world.sessions[1]["id"]
    ((other_id, other_token),) = await speaker_links(org, world, 1, session=other)
    await join(server, world, {"token": other_token}, session=other)
    staff = (await bs.mod.call("session:snapshot", {}))["staff"]["invites"]
    mod_id = next(i["id"] for i in staff if i["role"] == "moderator")
    ids = {"NEW": new_id, "OTHER": other_id, "MOD": mod_id}
    body = {"session": world.session, "speaker": bs.a_id, **payload}
    body["speaker"] = ids.get(body["speaker"], body["speaker"])
    if body["kind"] is None:
        del body["kind"]
    before = await bs.mod.call("session:snapshot", {})

    ack = await bs.mod.call("stage:cue", body)
    assert ack["ok"] is False and ack["error"]["code"] == code, ack
    assert ack["error"]["message"]

    after = await bs.mod.call("session:snapshot", {})
    assert after["backstage"]["cues"] == before["backstage"]["cues"] == []
    assert after["stage"] == before["stage"]
    await fence(world, bs.mod, *bs.everyone)
    assert not any(c.events("stage:cue") for c in bs.everyone)


async def test_a_cue_over_the_payload_limit_drops_that_connection_and_stores_nothing(
    server: Running, world: World, bs: Backstage
):
    other_mod, _ = await join(server, world, {"token": world.tokens["moderator"]})
    huge = {"session": world.session, "speaker": bs.a_id, "kind": "text", "text": "x" * 70_000}
    await other_mod.sio.emit("stage:cue", huge)
    deadline = time.monotonic() + 5
    while other_mod.sio.connected:  # the server drops the connection; no ack ever comes
        assert time.monotonic() < deadline, "a payload over the limit did not close the connection"
        await asyncio.sleep(0.02)
    await fence(world, bs.mod, bs.a)
    assert not bs.a.events("stage:cue")
    assert await snapshot_cues(bs.mod) == []


async def test_the_snapshot_shows_moderators_every_cue_and_a_speaker_only_their_own(
    bs: Backstage, world: World
):
    to_a = [(await cue(bs.mod, world, bs.a_id, "minutes", minutes=m))["cue"] for m in (5, 2)]
    to_b = (await cue(bs.organizer, world, bs.b_id, "text", text="Mic is muted"))["cue"]
    to_a.append((await cue(bs.mod, world, bs.a_id, "wrap"))["cue"])

    mod_cues = await snapshot_cues(bs.mod)
    assert {c["id"] for c in mod_cues} == {c["id"] for c in [*to_a, to_b]}
    assert sorted(mod_cues, key=lambda c: c["at"]) == mod_cues, "oldest first"
    assert {c["id"]: c for c in mod_cues}[to_b["id"]] == to_b
    assert await snapshot_cues(bs.organizer) == mod_cues

    a_cues = await snapshot_cues(bs.a)
    assert {c["id"] for c in a_cues} == {c["id"] for c in to_a}
    assert all(c["speaker"] == bs.a_id for c in a_cues)
    assert await snapshot_cues(bs.b) == [to_b]

    aud = await bs.aud.call("session:snapshot", {})
    assert aud["ok"] and "backstage" not in aud
    screen = await bs.screen.call("session:snapshot", {})
    assert screen["ok"] and "backstage" not in screen
    assert to_b["text"] not in json.dumps(aud) + json.dumps(screen)


# --- chat --------------------------------------------------------------------------------


async def chat(c: Connected, world: World, text: Any, client_id: str | None = None) -> dict[str, Any]:
    return await c.call(
        "chat:send", {"session": world.session, "text": text, "client_id": client_id or uuid.uuid4().hex}
    )


def chat_ids(c: Connected) -> list[str]:
    return [d["message"]["id"] for d in c.events("chat:message")]


async def test_the_backstage_chat_reaches_moderators_and_speakers_only(bs: Backstage, world: World):
    from_mod = await chat(bs.mod, world, "Two minutes to doors")
    assert from_mod["ok"] and from_mod["changed"] is True, from_mod
    m1 = from_mod["message"]
    assert m1["from"] == {"role": "moderator", "name": "Stage manager"}
    assert m1["text"] == "Two minutes to doors" and m1["id"] and m1["at"] > 0
    from_a = await chat(bs.a, world, "Ready.\nMy slides are on the stick")
    m2 = from_a["message"]
    assert m2["from"] == {"role": "speaker", "name": "Speaker 0"}
    assert m2["text"] == "Ready.\nMy slides are on the stick", "line breaks are kept"

    for c in (bs.mod, bs.organizer, bs.a, bs.b):
        await c.wait_for(lambda c: len(c.events("chat:message")) == 2)
        assert c.events("chat:message") == [
            {"session": world.session, "message": m1},
            {"session": world.session, "message": m2},
        ]
    await fence(world, bs.mod, bs.screen, bs.aud)
    for c in (bs.screen, bs.aud):
        assert not c.events("chat:message")
        assert "Two minutes to doors" not in wire(c) and "slides" not in wire(c)


async def test_the_audience_and_screens_cannot_chat_backstage(bs: Backstage, world: World):
    for c in (bs.aud, bs.screen):
        ack = await chat(c, world, "let me in")
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
    await fence(world, bs.mod, *bs.everyone)
    assert not any(c.events("chat:message") for c in bs.everyone)
    assert (await bs.mod.call("session:snapshot", {}))["backstage"]["chat"] == []


async def test_a_resent_chat_message_is_the_same_message(bs: Backstage, world: World):
    first = await chat(bs.a, world, "Is my audio OK?", client_id="c-17")
    again = await chat(bs.a, world, "Is my audio OK?", client_id="c-17")
    assert first["changed"] is True and again["changed"] is False
    assert again["message"] == first["message"]
    # the same client id from someone else is their own message
    other = await chat(bs.b, world, "Mine too?", client_id="c-17")
    assert other["changed"] is True and other["message"]["id"] != first["message"]["id"]
    await fence(world, bs.mod, bs.a)
    snap = await bs.mod.call("session:snapshot", {})
    assert [m["id"] for m in snap["backstage"]["chat"]] == [first["message"]["id"], other["message"]["id"]]
    assert chat_ids(bs.mod) == [first["message"]["id"], other["message"]["id"]], "no second broadcast"


async def test_the_chat_in_the_snapshot_is_oldest_first_for_moderators_and_speakers(
    bs: Backstage, world: World
):
    sent = []
    for i, c in enumerate((bs.mod, bs.a, bs.organizer, bs.b, bs.a)):
        sent.append((await chat(c, world, f"message {i}\r\nsecond line"))["message"])
    assert [m["text"] for m in sent] == [f"message {i}\nsecond line" for i in range(5)]
    for c in (bs.mod, bs.organizer, bs.a, bs.b):
        snap = await c.call("session:snapshot", {})
        assert snap["backstage"]["chat"] == sent
    assert "hands" not in (await bs.a.call("session:snapshot", {}))["backstage"]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "\n\t\n",
        "x" * 501,
        "x" * H["sizes"]["long_question_chars"],
        *H["control"],
        5,
        None,
        ["hi"],
    ],
    ids=repr,
)
async def test_bad_chat_messages_are_refused_and_change_nothing(bs: Backstage, world: World, text):
    ack = await chat(bs.a, world, text)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid", ack
    await fence(world, bs.mod, bs.b)
    assert not bs.mod.events("chat:message") and not bs.b.events("chat:message")
    assert (await bs.mod.call("session:snapshot", {}))["backstage"]["chat"] == []


@pytest.mark.parametrize(
    "payload",
    [
        {"text": "hi"},
        {"text": "hi", "client_id": ""},
        {"text": "hi", "client_id": "a b"},
        {"text": "hi", "client_id": "x" * 65},
        {"text": "hi", "client_id": "c1", "extra": 1},
        {"client_id": "c1"},
    ],
    ids=repr,
)
async def test_bad_chat_payloads_are_refused(bs: Backstage, world: World, payload):
    ack = await bs.mod.call("chat:send", {"session": world.session, **payload})
    assert ack["ok"] is False and ack["error"]["code"] == "invalid", ack
    assert (await bs.mod.call("session:snapshot", {}))["backstage"]["chat"] == []


async def test_exactly_500_characters_and_hostile_text_are_kept_as_typed(bs: Backstage, world: World):
    longest = "é" * 500
    assert (await chat(bs.mod, world, longest))["message"]["text"] == longest
    for text in (*H["markup"], *H["languages"], H["bidi_and_invisible"][0]):
        assert (await chat(bs.a, world, text))["message"]["text"] == text
    texts = [m["text"] for m in (await bs.b.call("session:snapshot", {}))["backstage"]["chat"]]
    assert texts == [longest, *H["markup"], *H["languages"], H["bidi_and_invisible"][0]]


# --- health ------------------------------------------------------------------------------


async def test_a_speakers_health_reaches_the_moderators_only(bs: Backstage, world: World):
    before = int(time.time() * 1000)
    report = {"session": world.session, "rtt_ms": 84, "kbps": 1450, "loss": 0, "fps": 30}
    assert await bs.a.call("stage:health", report) == {"ok": True}
    assert await bs.b.call("stage:health", {"session": world.session, "rtt_ms": 300}) == {"ok": True}
    for c in (bs.mod, bs.organizer):
        got = await c.wait_for(lambda c: len(c.events("stage:health")) == 2 and c.events("stage:health"))
        a, b = got
        assert {k: v for k, v in a.items() if k != "at"} == {**report, "speaker": bs.a_id}
        assert {k: v for k, v in b.items() if k != "at"} == {
            "session": world.session,
            "rtt_ms": 300,
            "speaker": bs.b_id,
        }
        assert before - 1000 <= a["at"] <= int(time.time() * 1000) + 1000
    await fence(world, bs.mod, bs.a, bs.b, bs.screen, bs.aud)
    for c in (bs.a, bs.b, bs.screen, bs.aud):
        assert not c.events("stage:health")


async def test_only_speakers_report_health(bs: Backstage, world: World):
    for c in (bs.mod, bs.organizer, bs.screen, bs.aud):
        ack = await c.call("stage:health", {"session": world.session, "rtt_ms": 10})
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
    await fence(world, bs.mod)
    assert not bs.mod.events("stage:health")


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"rtt_ms": -1},
        {"rtt_ms": 60_001},
        {"rtt_ms": True},
        {"rtt_ms": "84"},
        {"rtt_ms": 8.5},
        {"rtt_ms": None},
        {"rtt_ms": 84, "kbps": -1},
        {"rtt_ms": 84, "kbps": 1_000_001},
        {"rtt_ms": 84, "loss": 101},
        {"rtt_ms": 84, "loss": -1},
        {"rtt_ms": 84, "fps": 241},
        {"rtt_ms": 84, "fps": "30"},
        {"rtt_ms": 84, "jitter": 3},
    ],
    ids=repr,
)
async def test_bad_health_reports_are_refused_and_not_relayed(bs: Backstage, world: World, fields):
    ack = await bs.a.call("stage:health", {"session": world.session, **fields})
    assert ack["ok"] is False and ack["error"]["code"] == "invalid", ack
    await fence(world, bs.mod, bs.organizer)
    assert not bs.mod.events("stage:health") and not bs.organizer.events("stage:health")


async def test_health_reports_at_the_limits_are_relayed(bs: Backstage, world: World):
    edge = {"session": world.session, "rtt_ms": 60_000, "kbps": 1_000_000, "loss": 100, "fps": 240}
    assert (await bs.a.call("stage:health", edge))["ok"]
    zero = {"session": world.session, "rtt_ms": 0, "kbps": 0, "loss": 0, "fps": 0}
    assert (await bs.a.call("stage:health", zero))["ok"]
    got = await bs.mod.wait_for(lambda c: len(c.events("stage:health")) == 2 and c.events("stage:health"))
    assert [g["rtt_ms"] for g in got] == [60_000, 0]
    assert [g["fps"] for g in got] == [240, 0]


# --- status ------------------------------------------------------------------------------


def status_deltas(c: Connected, v: int) -> list[dict[str, Any]]:
    """The stage part of the frame that brought version v (frames may merge several)."""
    return [
        {"stage": f["stage"], "session": f["session"], "v": f["to"][0]}
        for f in c.frames()
        if "stage" in f and tuple(f["from"]) < (v, 0) <= tuple(f["to"])
    ]


async def test_the_status_goes_to_every_face_each_in_its_view(bs: Backstage, world: World):
    await settle(bs.mod)
    set_live = await bs.mod.call("stage:set", {"session": world.session, "speaker": bs.a_id, "state": "live"})
    assert set_live["changed"] is True

    ack = await bs.mod.call("stage:status", {"session": world.session, "status": "live"})
    assert ack["ok"] and ack["changed"] is True and ack["v"] > set_live["v"], ack
    full_view = None
    for c in (bs.mod, bs.organizer, bs.a, bs.b, bs.screen):
        (delta,) = await c.wait_for(lambda c: status_deltas(c, ack["v"]))
        stage = delta["stage"]
        assert delta["session"] == world.session
        assert stage["status"] == "live" and stage["max_live"] == 4
        assert set(lineup(stage)) == {bs.a_id, bs.b_id}
        row = dict(lineup(stage)[bs.b_id])
        assert row.pop("since_ms") > 1_700_000_000_000, "when they entered their state, in ms"
        assert row == {
            "speaker": bs.b_id,
            "state": "backstage",
            "label": "Speaker 1",
            "online": True,
            "backup_url": None,
            "lang": "",
        }
        full_view = full_view or stage
        assert stage == full_view, "every staff face sees the same stage"

    (public,) = await bs.aud.wait_for(lambda c: status_deltas(c, ack["v"]))
    assert public["stage"] == {
        "status": "live",
        "max_live": 4,
        "lineup": [{"speaker": bs.a_id, "state": "live", "label": "Speaker 0"}],
    }
    assert bs.b_id not in wire(bs.aud), "the audience never hears of a speaker backstage"
    snap = await bs.aud.call("session:snapshot", {})
    assert snap["stage"] == public["stage"] and snap["v"] == ack["v"]
    assert (await bs.screen.call("session:snapshot", {}))["stage"] == full_view


async def test_only_moderators_change_the_status_and_repeating_it_changes_nothing(
    bs: Backstage, world: World
):
    for c in (bs.a, bs.screen, bs.aud):
        ack = await c.call("stage:status", {"session": world.session, "status": "ended"})
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", ack
    await settle(bs.mod)
    snap = await bs.mod.call("session:snapshot", {})
    assert snap["stage"]["status"] == "scheduled"

    first = await bs.organizer.call("stage:status", {"session": world.session, "status": "ended"})
    again = await bs.mod.call("stage:status", {"session": world.session, "status": "ended"})
    assert first["changed"] is True and again == {"ok": True, "v": first["v"], "changed": False}
    await fence(world, bs.mod, bs.aud, bs.a)
    for c in (bs.aud, bs.a):
        changes = [d for d in c.parts("stage") if d["v"] > snap["v"]]
        assert [(d["to"], d["status"]) for d in changes] == [((first["v"], 0), "ended")]
    for bad in ("paused", "LIVE", "", 1, None):
        ack = await bs.mod.call("stage:status", {"session": world.session, "status": bad})
        assert ack["error"]["code"] == "invalid", (bad, ack)
    ack = await bs.mod.call("stage:status", {"session": world.session, "status": "live", "x": 1})
    assert ack["error"]["code"] == "invalid"
    assert (await bs.mod.call("session:snapshot", {}))["stage"]["status"] == "ended"


# --- backup recordings -------------------------------------------------------------------

BACKUP = "https://cdn.example/minister.mp4"


async def test_a_backup_needs_a_recording_which_the_organizer_attaches(bs: Backstage, world: World, org: Api):
    move = {"session": world.session, "speaker": bs.a_id, "state": "backup"}
    before = await bs.mod.call("session:snapshot", {})
    ack = await bs.mod.call("stage:set", move)
    assert ack["ok"] is False and ack["error"]["code"] == "conflict", ack
    assert (await bs.mod.call("session:snapshot", {}))["stage"] == before["stage"]

    status, data = await org.request("PATCH", f"/api/invites/{bs.a_id}", {"backup_url": BACKUP})
    assert status == 200 and data["invite"]["backup_url"] == BACKUP, data
    for c in (bs.mod, bs.organizer, bs.a, bs.screen):
        await c.wait_for(lambda c: lineup(c.state["stage"])[bs.a_id]["backup_url"])
    delta = bs.mod.parts("stage")[-1]
    assert lineup(delta)[bs.a_id]["backup_url"] == BACKUP
    assert lineup(delta)[bs.b_id]["backup_url"] is None
    assert delta["v"] > before["v"]

    ack = await bs.mod.call("stage:set", move)
    assert ack["ok"] and ack["changed"] is True, ack
    (public,) = await bs.aud.wait_for(lambda c: status_deltas(c, ack["v"]))
    assert public["stage"]["lineup"] == [{"speaker": bs.a_id, "state": "backup", "label": "Speaker 0"}]
    assert BACKUP not in wire(bs.aud), "the audience gets no recording addresses"
    # live takes the speaker back to the camera
    back = await bs.mod.call("stage:set", {**move, "state": "live"})
    assert back["changed"] is True
    assert lineup((await bs.a.call("session:snapshot", {}))["stage"])[bs.a_id]["state"] == "live"

    # "" removes the recording; lineups hear of it
    status, data = await org.request("PATCH", f"/api/invites/{bs.a_id}", {"backup_url": ""})
    assert status == 200 and data["invite"]["backup_url"] is None
    await bs.mod.wait_for(lambda c: lineup(c.state["stage"])[bs.a_id]["backup_url"] is None)
    assert (await bs.mod.call("stage:set", move))["error"]["code"] == "conflict"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://cdn.example/x.mp4",
        "javascript:alert(1)",
        "cdn.example/x.mp4",
        "https://",
        "https://cdn.example/a b.mp4",
        "https://cdn.example/\u0000.mp4",
        "https://cdn.example/" + "x" * 5000,
        5,
        True,
        ["https://cdn.example/x.mp4"],
    ],
    ids=lambda u: repr(u)[:40],
)
async def test_bad_backup_urls_are_refused(bs: Backstage, world: World, org: Api, url):
    before = await bs.mod.call("session:snapshot", {})
    status, data = await org.request("PATCH", f"/api/invites/{bs.a_id}", {"backup_url": url})
    assert status == 400 and data["error"]["code"] == "invalid", (status, data)
    await fence(world, bs.mod)
    for d in bs.mod.parts("stage"):
        assert all(e["backup_url"] is None for e in d["lineup"]), d
    assert lineup((await bs.mod.call("session:snapshot", {}))["stage"]) == lineup(before["stage"])


async def test_only_a_speakers_link_has_a_backup_and_only_organizers_attach_it(
    server: Running, bs: Backstage, world: World, org: Api, http
):
    snap = await bs.mod.call("session:snapshot", {})
    by_role = {i["role"]: i["id"] for i in snap["staff"]["invites"]}
    for role in ("moderator", "screen"):
        status, data = await org.request("PATCH", f"/api/invites/{by_role[role]}", {"backup_url": BACKUP})
        assert status == 400 and data["error"]["code"] == "invalid", (role, status, data)
    for body in ({}, {"backup_url": BACKUP, "label": "x"}):
        status, data = await org.request("PATCH", f"/api/invites/{bs.a_id}", body)
        assert status == 400 and data["error"]["code"] == "invalid", (body, status, data)

    anonymous = Api(http, server.url, None)
    status, data = await anonymous.request("PATCH", f"/api/invites/{bs.a_id}", {"backup_url": BACKUP})
    assert status == 401 and data["error"]["code"] == "unauthorized", (status, data)
    for role in ("moderator", "speaker", "screen"):
        as_role = Api(http, server.url, world.tokens[role])
        status, data = await as_role.request("PATCH", f"/api/invites/{bs.a_id}", {"backup_url": BACKUP})
        assert status == 403 and data["error"]["code"] == "forbidden", (role, status, data)
    # an organizer of another event
    other = await org.ok("POST", "/api/events", {"name": "Elsewhere", "time_zone": "UTC"})
    inv = await org.ok("POST", f"/api/events/{other['event']['id']}/invites", {"role": "organizer"})
    stranger = Api(http, server.url, inv["token"])
    status, data = await stranger.request("PATCH", f"/api/invites/{bs.a_id}", {"backup_url": BACKUP})
    # (another event's organizer is told what an unknown id gets: not whether the id is real)
    assert status == 404 and data["error"]["code"] == "not_found", (status, data)
    # the event's own organizer link may
    own = Api(http, server.url, world.tokens["organizer"])
    status, data = await own.request("PATCH", f"/api/invites/{bs.b_id}", {"backup_url": BACKUP})
    assert status == 200, (status, data)

    stage = lineup((await bs.mod.call("session:snapshot", {}))["stage"])
    assert stage[bs.a_id]["backup_url"] is None and stage[bs.b_id]["backup_url"] == BACKUP


async def test_backups_count_toward_the_four_on_stage(server: Running, bs: Backstage, world: World, org: Api):
    links = await speaker_links(org, world, 3, label="Panel")
    for _, token in links:
        await join(server, world, {"token": token})
    for sid in (bs.a_id, bs.b_id):
        status, _ = await org.request("PATCH", f"/api/invites/{sid}", {"backup_url": BACKUP})
        assert status == 200

    async def move(speaker: str, state: str) -> dict[str, Any]:
        return await bs.mod.call("stage:set", {"session": world.session, "speaker": speaker, "state": state})

    assert (await move(bs.a_id, "backup"))["changed"]
    for sid, _ in links:
        assert (await move(sid, "live"))["changed"]
    full = await move(bs.b_id, "backup")
    assert full["error"]["code"] == "conflict", "three live and one backup fill the stage"
    assert (await move(bs.b_id, "live"))["error"]["code"] == "conflict"
    # moving between live and backup is not a fifth place
    assert (await move(bs.a_id, "live"))["changed"]
    assert (await move(bs.a_id, "backup"))["changed"]
    assert (await move(links[0][0], "off"))["changed"]
    assert (await move(bs.b_id, "backup"))["changed"]

    snap = await bs.aud.call("session:snapshot", {})
    on_stage = {s["speaker"]: s["state"] for s in snap["stage"]["lineup"]}
    assert on_stage == {bs.a_id: "backup", bs.b_id: "backup", links[1][0]: "live", links[2][0]: "live"}


# --- links the console learns of ------------------------------------------------------------


async def test_a_link_made_revoked_or_changed_reaches_the_sessions_moderators_only(
    server: Running, world: World, org: Api, bs: Backstage
):
    interpreter, _ = await join(server, world, {"token": world.tokens["interpreter"]})
    other = world.sessions[1]["id"]
    elsewhere, _ = await join(server, world, {"token": world.tokens["organizer"]}, session=other)
    ((new_id, _),) = await speaker_links(org, world, 1)
    for c in (bs.mod, bs.organizer):
        told = await c.wait_for(
            lambda c: [m for m in c.events("staff:invites") if new_id in {i["id"] for i in m["invites"]}]
        )
        assert told[-1]["session"] == world.session
        assert new_id in {i["id"] for i in told[-1]["invites"]}
        assert "token" not in json.dumps(told[-1])
    await org.ok("PATCH", f"/api/invites/{new_id}", {"backup_url": "https://media.example.org/talk.mp4"})
    changed = await bs.mod.wait_for(
        lambda c: [
            m
            for m in c.events("staff:invites")
            for i in m["invites"]
            if i["id"] == new_id and i.get("backup_url")
        ]
    )
    assert changed
    await org.ok("POST", f"/api/invites/{new_id}/revoke")
    await bs.mod.wait_for(lambda c: new_id not in {i["id"] for i in c.events("staff:invites")[-1]["invites"]})
    # An event-wide link reaches every session's moderators; nobody else hears of links.
    await org.ok("POST", f"/api/events/{world.event['id']}/invites", {"role": "screen", "label": "Foyer"})
    await elsewhere.wait_for(lambda c: any(m["session"] == other for m in c.events("staff:invites")))
    await asyncio.sleep(0.3)  # as long again as the moderators' took
    for c in (bs.a, bs.b, bs.screen, bs.aud, interpreter):
        assert c.events("staff:invites") == []
