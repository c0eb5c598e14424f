"""Banning from an event, and exporting a session's Q&A."""

from __future__ import annotations

import csv
import io
import json

from tests.conftest import Api, Running, World, audience_token
from tests.realtime.test_qa import act, ask, moderator, person


async def test_a_ban_closes_every_tab_and_holds_across_reloads_and_cleared_cookies(
    server: Running, world: World, http
):
    mod = await moderator(server, world)
    token = await audience_token(http, server, world.event["code"], "Troll")
    tabs = [await server.client(auth={"participant": token}) for _ in range(2)]
    for tab in tabs:
        await tab.call("session:join", {"session": world.session})
    bystander = await person(server, world, http, "Bystander")  # same address (a hall's NAT)
    q = (await ask(tabs[0], world, "Buy followers at spam.example"))["question"]["id"]

    assert (await mod.call("qa:ban", {"session": world.session, "question": q}))["ok"]
    for tab in tabs:
        closed = await tab.wait_for(lambda c: c.events("connection:closed"))
        assert closed[0]["code"] == "forbidden"
        await tab.wait_for(lambda c: not c.sio.connected)
    assert bystander.sio.connected, "people who were already here keep their place"
    assert (await bystander.call("session:snapshot", {}))["ok"]

    # Reload: same cookie, refused at the door.
    again = await server.client(auth={"participant": token})
    ack = await again.call("session:join", {"session": world.session})
    assert ack["error"] == {
        "code": "forbidden",
        "message": "You were removed from this event by its moderators.",
    }
    # Cleared cookie: a brand-new identity from the same address is refused too.
    async with http.post(f"{server.url}/api/codes/{world.event['code']}/join", json={}) as r:
        assert r.status == 403
    async with http.get(f"{server.url}/e/{world.event['code']}") as r:
        assert r.status == 403
        assert "removed from this event" in await r.text()
    # Other sessions of the same event refuse them as well.
    ack = await again.call("session:join", {"session": world.sessions[1]["id"]})
    assert ack["error"]["code"] == "forbidden"


async def test_only_moderators_may_ban(server: Running, world: World, http):
    ann, bob = await person(server, world, http), await person(server, world, http)
    q = (await ask(ann, world, "hello"))["question"]["id"]
    ack = await bob.call("qa:ban", {"session": world.session, "question": q})
    assert ack["error"]["code"] == "forbidden"
    assert ann.sio.connected


async def test_the_export_holds_every_question_in_every_state_with_local_times(
    server: Running, world: World, http, org: Api
):
    mod = await moderator(server, world)
    ann = await person(server, world, http, "Ann")
    bob = await person(server, world, http, "Bob")
    q1 = (await ask(ann, world, '=HYPERLINK("http://evil.example")'))["question"]["id"]
    q2 = (await ask(bob, world, "演讲者如何看待合作的前景？", anonymous=True))["question"]["id"]
    q3 = (await ask(bob, world, "declined one"))["question"]["id"]
    await act(mod, world, q1, "approve")
    await act(mod, world, q2, "approve")
    await act(mod, world, q2, "answer")
    await act(mod, world, q3, "decline")
    await ann.call("qa:vote", {"session": world.session, "question": q2, "vote": True})

    data = await org.ok("GET", f"/api/sessions/{world.session}/qa.json")
    rows = {r["id"]: r for r in data["questions"]}
    assert {r["state"] for r in rows.values()} == {"approved", "answered", "declined"}
    assert rows[q2]["name"] == "" and rows[q2]["anonymous"] is True and rows[q2]["alias"].startswith("Guest ")
    assert rows[q1]["name"] == "Ann" and rows[q2]["votes"] == 1
    assert rows[q2]["answered_at"].endswith("+08:00") and rows[q1]["asked_at"].endswith("+08:00")
    assert "Bob" not in json.dumps(rows[q2], ensure_ascii=False), "the anonymous row names no one"

    moderator_api = Api(http, server.url, world.tokens["moderator"])
    status, _body = await moderator_api.request("GET", f"/api/sessions/{world.session}/qa.json")
    assert status == 200
    async with http.get(
        f"{server.url}/api/sessions/{world.session}/qa.csv",
        headers={"Authorization": f"Bearer {world.tokens['moderator']}"},
    ) as r:
        assert r.status == 200 and r.content_type == "text/csv"
        text = (await r.read()).decode("utf-8-sig")
    table = list(csv.DictReader(io.StringIO(text)))
    by_id = {row["id"]: row for row in table}
    assert by_id[q1]["text"].startswith("'="), "a formula is defused"
    assert by_id[q2]["text"] == "演讲者如何看待合作的前景？"


async def test_the_export_is_for_staff_only(server: Running, world: World, http):
    for token in (world.tokens["speaker"], world.tokens["screen"], None, "garbage"):
        status, _ = await Api(http, server.url, token).request(
            "GET", f"/api/sessions/{world.session}/qa.json"
        )
        assert status in (401, 403)
    participant = await audience_token(http, server, world.event["code"])
    status, _ = await Api(http, server.url, participant).request(
        "GET", f"/api/sessions/{world.session}/qa.csv"
    )
    assert status == 401
