"""Interpreters and translated questions over real sockets: the language a question is
detected in, translations as versioned Q&A changes reaching every face in its view, the
interpreter's role kept to translating, and bad input."""

from __future__ import annotations

import csv
import io
import json

import pytest

from server.domain.qa import translation_text
from tests.conftest import Api, Connected, Running, World, hostile, join_session, moderator, person
from tests.realtime.test_qa import act, ask, wire

H = hostile()
ZH = "请问这项协议将如何帮助初创企业？"
EN = "How will the agreement help start-ups?"


async def interpreter(server: Running, world: World) -> tuple[Connected, dict]:
    return await join_session(server, world, {"token": world.tokens["interpreter"]})


async def translate(c: Connected, world: World, question: str, lang: str, text) -> dict:
    return await c.call(
        "qa:translate", {"session": world.session, "question": question, "lang": lang, "text": text}
    )


def version(c: Connected) -> int:
    return int(c.feed.pos[0]) if c.feed.pos else 0


async def test_a_question_is_tagged_with_the_language_it_is_written_in(server: Running, world: World, http):
    ann = await person(server, world, http, "Ann")
    mod = await moderator(server, world)
    cases = {
        ZH: "zh-CN",
        EN: "en",
        "מה דעתך על React Server Components?": "he",
        "请问GPT-4的上下文长度是多少？": "zh-CN",  # a name in Latin letters inside Chinese
        "What does 深度学习 mean for your lab?": "en",  # a Chinese term inside English
        "👏👏👏": "",  # no letters: nobody can tell
    }
    ids = {}
    for text, expected in cases.items():
        q = (await ask(ann, world, text))["question"]
        assert q["lang"] == expected, text
        assert q["translations"] == {}
        ids[q["id"]] = expected
    await mod.wait_for(lambda c: set(ids) <= set(c.feed.questions))
    assert {qid: mod.feed.questions[qid]["lang"] for qid in ids} == ids


async def test_an_interpreter_sees_every_question_but_nothing_of_the_backstage(
    server: Running, world: World, http
):
    ann = await person(server, world, http, "Ann")
    mod = await moderator(server, world)
    assert (await mod.call("qa:settings", {"session": world.session, "words": ["spam"]}))["ok"]
    assert (
        await mod.call("chat:send", {"session": world.session, "text": "backstage only", "client_id": "c1"})
    )["ok"]
    q = (await ask(ann, world, ZH))["question"]["id"]
    interp, snap = await interpreter(server, world)
    assert snap["you"]["role"] == "interpreter"
    (seen,) = [x for x in snap["qa"]["questions"] if x["id"] == q]
    assert seen["state"] == "pending" and seen["alias"].startswith("Guest "), "as moderators see it"
    assert "words" not in snap["qa"]["settings"], "the word list stays with the moderators"
    assert not {"backstage", "staff", "rtc"} & set(snap), "no chat, cues, hands, links or media"
    assert "lang" in snap["stage"]["lineup"][0] if snap["stage"]["lineup"] else True

    # New questions reach the interpreter as they do the moderators, pending ones included.
    q2 = (await ask(ann, world, EN))["question"]["id"]
    got = await interp.wait_for(lambda c: c.feed.questions.get(q2))
    assert got["state"] == "pending" and got["lang"] == "en"
    assert (
        await mod.call("chat:send", {"session": world.session, "text": "still backstage", "client_id": "c2"})
    )["ok"]
    await mod.wait_for(lambda c: len(c.events("chat:message")) >= 2)
    assert "backstage" not in wire(interp)
    counts = await interp.wait_for(lambda c: c.state["presence"]["counts"]["interpreter"]["hall"] == 1)
    assert counts


def moderator_only(world: World, question: str, speaker: str, person: str, peer: str) -> list:
    """Every event only a moderator may send, each with the payload a moderator's console
    would send (so a refusal can only be for who is asking)."""
    s = world.session
    return [
        ("qa:moderate", {"session": s, "question": question, "action": "approve"}),
        ("qa:moderate", {"session": s, "question": question, "action": "screen"}),
        ("qa:moderate", {"session": s, "question": question, "action": "decline"}),
        ("qa:moderate", {"session": s, "question": question, "action": "edit", "text": "rewritten"}),
        ("qa:settings", {"session": s, "open": False}),
        ("qa:mute", {"session": s, "question": question, "mute": True}),
        ("qa:ban", {"session": s, "question": question}),
        ("stage:status", {"session": s, "status": "live"}),
        ("stage:set", {"session": s, "speaker": speaker, "state": "live"}),
        ("stage:order", {"session": s, "order": [speaker]}),
        ("stage:timer", {"session": s, "action": "start"}),
        ("stage:cue", {"session": s, "speaker": speaker, "kind": "wrap"}),
        ("chat:send", {"session": s, "text": "let me in", "client_id": "c3"}),
        ("hand:answer", {"session": s, "person": person, "action": "decline"}),
        ("rtc:signal", {"session": s, "to": peer, "kind": "offer", "data": {"type": "offer", "sdp": "v=0"}}),
        ("rtc:ice", {"session": s}),
        ("poll:create", {"session": s, "kind": "rating", "question": "Mine?"}),
        ("poll:state", {"session": s, "poll": "any-poll", "action": "open"}),
        ("poll:edit", {"session": s, "poll": "any-poll", "question": "Changed?"}),
    ]


async def test_an_interpreter_is_refused_every_moderator_only_event(
    server: Running, world: World, http, org: Api
):
    from tests.conftest import speaker_links

    ann = await person(server, world, http, "Ann")
    mod = await moderator(server, world)
    ((speaker, token),) = await speaker_links(org, world, 1)
    studio, _ = await join_session(server, world, {"token": token})
    q = (await ask(ann, world, ZH))["question"]["id"]
    assert (await ann.call("hand:raise", {"session": world.session}))["ok"]
    interp, _ = await interpreter(server, world)
    await interp.wait_for(lambda c: q in c.feed.questions)
    before = await mod.call("session:snapshot", {})
    hands = await mod.wait_for(lambda c: c.events("hand:queue") and c.events("hand:queue")[-1]["hands"])
    person_id = hands[0]["person"]
    for event, payload in moderator_only(world, q, speaker, person_id, studio.sio.get_sid()):
        ack = await interp.call(event, payload)
        assert ack["ok"] is False and ack["error"]["code"] == "forbidden", (event, ack)
    after = await mod.call("session:snapshot", {})
    assert after["v"] == before["v"], "nothing changed"
    assert after["qa"]["questions"] == before["qa"]["questions"]
    assert after["stage"] == before["stage"] and after["qa"]["settings"] == before["qa"]["settings"]
    assert ann.sio.connected
    # The staff's HTTP calls refuse the interpreter's link too.
    api = Api(http, server.url, world.tokens["interpreter"])
    for method, path in (
        ("GET", f"/api/sessions/{world.session}/qa.json"),
        ("GET", f"/api/sessions/{world.session}/qa.csv"),
        ("GET", f"/api/events/{world.event['id']}"),
        ("POST", f"/api/events/{world.event['id']}/invites"),
    ):
        status, _ = await api.request(method, path, {"role": "moderator"} if method == "POST" else None)
        assert status == 403, (method, path)


async def test_a_translation_reaches_every_face_at_once_in_its_view(
    server: Running, world: World, http, org: Api
):
    from tests.conftest import speaker_links

    ann = await person(server, world, http, "Ann")
    bob = await person(server, world, http, "Bob")
    mod = await moderator(server, world)
    ((_speaker, token),) = await speaker_links(org, world, 1)
    studio, _ = await join_session(server, world, {"token": token})
    screen, _ = await join_session(server, world, {"token": world.tokens["screen"]})
    interp, _ = await interpreter(server, world)
    q = (await ask(ann, world, ZH))["question"]["id"]

    # Even before a moderator approves it, the interpreter can work ahead.
    ack = await translate(interp, world, q, "en", EN)
    assert ack["ok"] and ack["changed"] is True, ack
    v_translated = ack["v"]
    got = await mod.wait_for(lambda c: c.feed.questions.get(q, {}).get("translations", {}).get("en"))
    assert got["text"] == EN and got["stale"] is False and got["at"] > 0
    assert q not in bob.feed.questions, "a pending question and its translation stay with the staff"

    assert (await act(mod, world, q, "approve"))["ok"]
    assert (await act(mod, world, q, "screen"))["ok"]
    for face in (bob, studio, screen):
        seen = await face.wait_for(lambda c: c.feed.questions.get(q))
        assert seen["lang"] == "zh-CN" and seen["translations"] == {"en": EN}, seen
    mine = await ann.wait_for(lambda c: c.feed.mine.get(q, {}).get("state") == "approved" and c.feed.mine[q])
    assert mine["translations"] == {"en": EN}

    # A second translation (Hebrew) goes out as its own versioned change; every face has both.
    he = "כיצד ההסכם יעזור לחברות הזנק?"
    ack2 = await translate(interp, world, q, "he", he)
    assert ack2["changed"] is True and ack2["v"] > v_translated
    for face in (bob, studio, screen, mod, interp):
        await face.wait_for(
            lambda c: set(c.feed.questions.get(q, {}).get("translations", {})) == {"en", "he"}
        )
    # The same text again changes nothing; a retry is harmless.
    again = await translate(interp, world, q, "he", he)
    assert again == {"ok": True, "v": ack2["v"], "changed": False}
    # Every face saw each version once, in order.
    for face in (bob, studio, screen, mod, interp):
        tos = [tuple(f["to"]) for f in face.frames() if "to" in f]
        assert tos == sorted(tos) and len(tos) == len(set(tos)), tos

    # Taken away: "" removes it everywhere.
    gone = await translate(mod, world, q, "he", "")
    assert gone["changed"] is True
    await bob.wait_for(lambda c: c.feed.questions[q]["translations"] == {"en": EN})


async def test_an_edit_makes_translations_stale_until_they_are_redone(server: Running, world: World, http):
    ann = await person(server, world, http, "Ann")
    bob = await person(server, world, http, "Bob")
    mod = await moderator(server, world)
    interp, _ = await interpreter(server, world)
    q = (await ask(ann, world, ZH))["question"]["id"]
    await act(mod, world, q, "approve")
    await translate(interp, world, q, "en", EN)
    await bob.wait_for(lambda c: c.feed.questions.get(q, {}).get("translations") == {"en": EN})

    assert (await act(mod, world, q, "edit", text="请问这项新协议将如何帮助初创企业？"))["changed"]
    stale = await interp.wait_for(
        lambda c: c.feed.questions[q]["translations"]["en"]["stale"] and c.feed.questions[q]
    )
    assert stale["translations"]["en"]["text"] == EN, "kept for the interpreter to redo"
    await bob.wait_for(lambda c: c.feed.questions[q]["translations"] == {}, timeout=5)
    # Sending the same text again says it still holds: current again.
    assert (await translate(interp, world, q, "en", EN))["changed"] is True
    await bob.wait_for(lambda c: c.feed.questions[q]["translations"] == {"en": EN})


async def test_a_wrong_language_is_corrected_and_its_translation_goes(server: Running, world: World, http):
    ann = await person(server, world, http, "Ann")
    mod = await moderator(server, world)
    interp, _ = await interpreter(server, world)
    # Hebrew written in Latin letters ("Ma nishma?") is detected as the event's Latin language.
    q = (await ask(ann, world, "Ma nishma, ma koreh?"))["question"]
    assert q["lang"] == "en"
    await translate(interp, world, q["id"], "he", "מה נשמע, מה קורה?")
    ack = await interp.call("qa:language", {"session": world.session, "question": q["id"], "lang": "he"})
    assert ack["ok"] and ack["changed"] is True
    got = await mod.wait_for(
        lambda c: c.feed.questions[q["id"]]["lang"] == "he" and c.feed.questions[q["id"]]
    )
    assert got["translations"] == {}, "a translation into its own language says nothing"
    same = await mod.call("qa:language", {"session": world.session, "question": q["id"], "lang": "he"})
    assert same["ok"] and same["changed"] is False
    refused = await translate(interp, world, q["id"], "he", "מה נשמע?")
    assert refused["error"]["code"] == "invalid"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"lang": "fr"}, "invalid"),  # not one of the event's languages
        ({"lang": ""}, "invalid"),
        ({"lang": None}, "invalid"),
        ({"lang": ["en"]}, "invalid"),
        ({"lang": "zh-CN"}, "invalid"),  # the question's own
        ({"text": None}, "invalid"),
        ({"text": 42}, "invalid"),
        ({"text": "x" * 2001}, "invalid"),
        ({"text": "字" * 9000}, "invalid"),  # under the frame limit, over the pre-check
        ({"text": "   "}, "invalid"),
        ({"text": "\ud800"}, "invalid"),
        ({"text": "bell\x07"}, "invalid"),
        ({"question": "no-such-question"}, "not_found"),
        ({"question": ["x"]}, "invalid"),
        ({"extra": 1}, "invalid"),
        ({"session": "another-session"}, "conflict"),
    ],
)
async def test_bad_translations_get_a_clear_error_and_change_nothing(
    server: Running, world: World, http, change: dict, code: str
):
    ann = await person(server, world, http, "Ann")
    interp, _ = await interpreter(server, world)
    q = (await ask(ann, world, ZH))["question"]["id"]
    await interp.wait_for(lambda c: q in c.feed.questions)
    before = await interp.call("session:snapshot", {})
    payload = {"session": world.session, "question": q, "lang": "en", "text": EN, **change}
    ack = await interp.call("qa:translate", payload)
    assert ack["ok"] is False and ack["error"]["code"] == code, ack
    after = await interp.call("session:snapshot", {})
    assert after["v"] == before["v"] and after["qa"]["questions"] == before["qa"]["questions"]


async def test_hostile_text_survives_a_translation_exactly(server: Running, world: World, http):
    ann = await person(server, world, http, "Ann")
    bob = await person(server, world, http, "Bob")
    mod = await moderator(server, world)
    q = (await ask(ann, world, ZH))["question"]["id"]
    await act(mod, world, q, "approve")
    for text in [*H["markup"], *H["bidi_and_invisible"], *H["control"], *H["languages"]]:
        if not isinstance(text, str) or not text.strip():
            continue
        ack = await translate(mod, world, q, "en", text)
        if not ack["ok"]:
            assert ack["error"]["code"] == "invalid", (text, ack)
            continue
        typed = translation_text(text)  # normalized as every text is (NFC, line breaks, trimmed)
        await bob.wait_for(lambda c, typed=typed: c.feed.questions[q]["translations"].get("en") == typed)


async def test_only_moderators_and_interpreters_translate(server: Running, world: World, http, org: Api):
    from tests.conftest import speaker_links

    ann = await person(server, world, http, "Ann")
    q = (await ask(ann, world, ZH))["question"]["id"]
    ((_speaker, token),) = await speaker_links(org, world, 1)
    studio, _ = await join_session(server, world, {"token": token})
    screen, _ = await join_session(server, world, {"token": world.tokens["screen"]})
    for who in (ann, studio, screen):
        assert (await translate(who, world, q, "en", EN))["error"]["code"] == "forbidden"
        ack = await who.call("qa:language", {"session": world.session, "question": q, "lang": "en"})
        assert ack["error"]["code"] == "forbidden"


async def test_the_studio_says_its_language_and_the_lineup_carries_it(
    server: Running, world: World, org: Api
):
    from tests.conftest import speaker_links

    mod = await moderator(server, world)
    ((speaker, token),) = await speaker_links(org, world, 1)
    studio = await server.client(auth={"token": token})
    assert (await studio.call("session:join", {"session": world.session, "lang": "en"}))["ok"]
    row = await mod.wait_for(
        lambda c: next((s for s in c.state["stage"]["lineup"] if s["speaker"] == speaker and s["lang"]), None)
    )
    assert row["lang"] == "en"
    # The speaker switches the studio to Hebrew and reloads: the lineup follows.
    await studio.disconnect()
    again = await server.client(auth={"token": token})
    assert (await again.call("session:join", {"session": world.session, "lang": "he"}))["ok"]
    await mod.wait_for(lambda c: any(s["lang"] == "he" for s in c.state["stage"]["lineup"]))
    bad = await again.call("session:join", {"session": world.session, "lang": "<script>"})
    assert bad["error"]["code"] == "invalid"


async def test_the_export_carries_the_language_and_every_translation(
    server: Running, world: World, http, org: Api
):
    ann = await person(server, world, http, "Ann")
    mod = await moderator(server, world)
    interp, _ = await interpreter(server, world)
    q = (await ask(ann, world, ZH))["question"]["id"]
    await act(mod, world, q, "approve")
    await translate(interp, world, q, "en", EN)
    await translate(interp, world, q, "he", "=cmd|' /C calc'!A0")

    data = await org.ok("GET", f"/api/sessions/{world.session}/qa.json")
    (row,) = [r for r in data["questions"] if r["id"] == q]
    assert row["language"] == "zh-CN" and row["text"] == ZH
    assert row["translations"]["en"]["text"] == EN and row["translations"]["en"]["stale"] is False
    assert row["translations"]["en"]["at"].endswith("+08:00")
    async with http.get(
        f"{server.url}/api/sessions/{world.session}/qa.csv",
        headers={"Authorization": f"Bearer {world.tokens['moderator']}"},
    ) as r:
        text = (await r.read()).decode("utf-8-sig")
    (line,) = [x for x in csv.DictReader(io.StringIO(text)) if x["id"] == q]
    assert line["language"] == "zh-CN" and line["text"] == ZH
    assert line["translation_en"] == EN and line["translation_zh-CN"] == ""
    assert line["translation_he"].startswith("'="), "a formula is defused in translations too"
    assert json.loads(json.dumps(line))  # one row, no stray columns
