"""The stage lineup: speakers arrive backstage, only moderators move them, four live at most."""

from __future__ import annotations

import pytest

from tests.conftest import Api, Running, World, audience_token, speaker_links
from tests.conftest import join_session as join


def states(snap: dict) -> dict[str, str]:
    return {s["speaker"]: s["state"] for s in snap["stage"]["lineup"]}


async def test_speakers_arrive_backstage_go_live_and_keep_their_place_on_return(
    server: Running, world: World, org: Api
):
    mod, _ = await join(server, world, {"token": world.tokens["moderator"]})
    ((sid, token),) = await speaker_links(org, world, 1)
    speaker, snap = await join(server, world, {"token": token})
    assert states(snap)[sid] == "backstage"
    (row,) = [dict(s) for s in snap["stage"]["lineup"] if s["speaker"] == sid]
    arrived = row.pop("since_ms")
    assert row == {
        "speaker": sid,
        "state": "backstage",
        "label": "Speaker 0",
        "online": True,
        "backup_url": None,
        "lang": "",
    }
    await mod.wait_for(lambda c: states(c.state).get(sid) == "backstage")

    ack = await mod.call("stage:set", {"session": world.session, "speaker": sid, "state": "live"})
    assert ack["changed"] is True
    parts = await speaker.wait_for(
        lambda c: [d for d in c.parts("stage") if states({"stage": d}).get(sid) == "live"]
    )
    assert parts[-1]["to"] == (ack["v"], 0)
    went_live = next(s for s in parts[-1]["lineup"] if s["speaker"] == sid)["since_ms"]
    assert went_live >= arrived, "since_ms: when they entered the state they are in"
    assert (await mod.call("stage:set", {"session": world.session, "speaker": sid, "state": "live"}))[
        "changed"
    ] is False

    await speaker.disconnect()  # the speaker's train enters a tunnel...
    _, back = await join(server, world, {"token": token})
    assert states(back)[sid] == "live", "a returning speaker keeps their place without the moderator"
    (row,) = [s for s in back["stage"]["lineup"] if s["speaker"] == sid]
    assert row["since_ms"] == went_live, "coming back is not a new state: the hall's timing holds"


async def test_at_most_four_speakers_are_live(server: Running, world: World, org: Api):
    mod, _ = await join(server, world, {"token": world.tokens["moderator"]})
    links = await speaker_links(org, world, 5)
    for _, token in links:
        await join(server, world, {"token": token})
    for sid, _ in links[:4]:
        assert (await mod.call("stage:set", {"session": world.session, "speaker": sid, "state": "live"}))[
            "ok"
        ]
    fifth = await mod.call("stage:set", {"session": world.session, "speaker": links[4][0], "state": "live"})
    assert fifth["error"] == {"code": "conflict", "message": "The stage is full: take someone off first."}
    await mod.call("stage:set", {"session": world.session, "speaker": links[0][0], "state": "off"})
    assert (await mod.call("stage:set", {"session": world.session, "speaker": links[4][0], "state": "live"}))[
        "ok"
    ]


async def test_only_moderators_move_speakers_and_no_one_goes_live_by_themselves(
    server: Running, world: World, org: Api, http
):
    ((sid, token),) = await speaker_links(org, world, 1)
    speaker, _ = await join(server, world, {"token": token})
    audience, _ = await join(
        server, world, {"participant": await audience_token(http, server, world.event["code"])}
    )
    for c in (speaker, audience):
        ack = await c.call("stage:set", {"session": world.session, "speaker": sid, "state": "live"})
        assert ack["error"]["code"] == "forbidden"
    assert states(await speaker.call("session:snapshot", {}))[sid] == "backstage"


@pytest.mark.parametrize(
    "payload",
    [
        None,
        {},
        {"session": "S", "speaker": "nobody", "state": "live"},
        {"session": "S", "speaker": "SP", "state": "famous"},
        {"session": "S", "speaker": "SP"},
        {"session": "S", "speaker": 5, "state": "live"},
        {"session": "S", "speaker": "SP", "state": "live", "x": 1},
        {"session": "OTHER", "speaker": "SP", "state": "live"},
    ],
    ids=repr,
)
async def test_bad_stage_moves_are_refused_and_change_nothing(
    server: Running, world: World, org: Api, payload
):
    mod, _ = await join(server, world, {"token": world.tokens["moderator"]})
    ((sid, token),) = await speaker_links(org, world, 1)
    await join(server, world, {"token": token})
    if isinstance(payload, dict):
        payload = dict(payload)
        if payload.get("session") in ("S", "OTHER"):
            payload["session"] = world.session if payload["session"] == "S" else world.sessions[1]["id"]
        if payload.get("speaker") == "SP":
            payload["speaker"] = sid
    before = await mod.call("session:snapshot", {})
    ack = await mod.call("stage:set", payload)
    assert ack["ok"] is False and ack["error"]["code"] in ("invalid", "conflict")
    after = await mod.call("session:snapshot", {})
    assert after["v"] == before["v"] and after["stage"] == before["stage"]


async def test_a_speakers_studio_opened_again_tells_the_older_one_to_step_back(
    server: Running, world: World, org: Api, http
):
    (_, token), (_, other_token) = await speaker_links(org, world, 2)
    first, _ = await join(server, world, {"token": token})
    other, _ = await join(server, world, {"token": other_token})
    fan, _ = await join(
        server, world, {"participant": await audience_token(http, server, world.event["code"])}
    )
    second, _ = await join(server, world, {"token": token})
    second_sid = second.sio.get_sid("/")
    (msg,) = await first.wait_for(lambda c: c.events("stage:takeover"))
    assert msg == {"session": world.session, "peer": second_sid}
    # A clock change to everyone is the fence: whatever the others were sent came before it.
    mod, _ = await join(server, world, {"token": world.tokens["moderator"]})
    assert (await mod.call("stage:timer", {"session": world.session, "action": "start"}))["ok"]
    for c in (second, other, fan):
        await c.wait_for(lambda c: c.state["clock"]["state"] == "running")
        assert c.events("stage:takeover") == []
    # Taking over again is joining again: now the second one hears it.
    assert (await first.call("session:join", {"session": world.session}))["ok"]
    (msg,) = await second.wait_for(lambda c: c.events("stage:takeover"))
    assert msg["peer"] == first.sio.get_sid("/")


async def test_the_moderator_sets_the_running_order_and_later_arrivals_join_at_the_end(
    server: Running, world: World, org: Api
):
    mod, _ = await join(server, world, {"token": world.tokens["moderator"]})
    links = await speaker_links(org, world, 4)
    for _, token in links[:3]:
        await join(server, world, {"token": token})
    a, b, c, d = (sid for sid, _ in links)
    order = lambda snap: [s["speaker"] for s in snap["stage"]["lineup"]]  # noqa: E731
    assert order(await mod.call("session:snapshot", {})) == [a, b, c]  # arrival order
    ack = await mod.call("stage:order", {"session": world.session, "order": [c, a, b]})
    assert ack["ok"] and ack["changed"], ack
    assert (await mod.call("stage:order", {"session": world.session, "order": [c, a, b]}))["changed"] is False
    speaker, snap = await join(server, world, {"token": links[3][1]})
    assert order(snap) == [c, a, b, d]
    await mod.wait_for(lambda cl: order(cl.state) == [c, a, b, d])

    before = await mod.call("session:snapshot", {})
    for bad in ([c, a], [c, a, b, d, d], [c, a, b, "nobody"], [c, a, b, b], [], "c", [1, 2, 3, 4], [c] * 101):
        ack = await mod.call("stage:order", {"session": world.session, "order": bad})
        assert not ack["ok"] and ack["error"]["code"] in ("invalid", "conflict"), (bad, ack)
    ack = await speaker.call("stage:order", {"session": world.session, "order": [d, c, a, b]})
    assert ack["error"]["code"] == "forbidden"
    after = await mod.call("session:snapshot", {})
    assert order(after) == order(before) and after["v"] == before["v"]
