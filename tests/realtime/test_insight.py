"""The organizer's picture (issue 12): a sample per running session per minute, written by
one worker; the dashboard's data and the reports, organizers only (moderators read their
session's report)."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

import aiohttp
import pytest
from redis.exceptions import WatchError

from server import appkeys
from server.store import keys
from server.store.insight import InsightStore
from tests.conftest import Api, Running, World, moderator, person


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"insight_sample_s": 0.2}


async def _sampled(server: Running, session: str, n: int = 1) -> list[Any]:
    """The session's samples, once there are n."""
    store = server.app[appkeys.INSIGHT]
    for _ in range(50):
        samples = await store.samples(session)
        if len(samples) >= n:
            return samples
        await asyncio.sleep(0.1)
    raise AssertionError("no sample was taken")


async def test_a_running_session_is_sampled_once_a_minute_whatever_the_workers(
    server: Running, world: World, http: aiohttp.ClientSession
) -> None:
    crowd = [await person(server, world, http, f"P{i}") for i in range(3)]
    await crowd[0].call("session:where", {"session": world.session, "where": "hall"})
    samples = await _sampled(server, world.session)
    assert len(samples) == 1
    assert samples[0].remote + samples[0].hall == 3
    # Four more "workers" trying the same minute: none writes a second sample.
    others = [InsightStore(server.app[appkeys.REDIS], retention_s=86400, max_samples=100) for _ in range(4)]
    written = await asyncio.gather(*(o.sample([world.session]) for o in others))
    assert sum(written) == 0
    assert len(await server.app[appkeys.INSIGHT].samples(world.session)) == 1
    ttl = await server.app[appkeys.REDIS].ttl(keys.insight_minutes(world.session))
    assert 0 < ttl <= server.settings.insight_retention_days * 86400


async def test_an_ended_session_is_not_sampled(server: Running, world: World) -> None:
    mod = await moderator(server, world)
    assert (await mod.call("stage:status", {"session": world.session, "status": "ended"}))["ok"]
    store = server.app[appkeys.INSIGHT]
    assert await store.sample([world.session]) == 0
    assert await store.samples(world.session) == []


async def _past_minutes(server: Running, session: str, rows: list[dict[str, Any]]) -> None:
    """Samples of earlier minutes, as workers would have written them."""
    r = server.app[appkeys.REDIS]
    key = keys.insight_minutes(session)
    now_min = int((await r.time())[0]) // 60 * 60_000
    # Before whatever a worker sampled already (this minute): a stream takes ids only in order,
    # so the stream is written again, atomically, with the past minutes first.
    while True:
        async with r.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(key)
                sampled = await pipe.xrange(key)
                pipe.multi()
                pipe.delete(key)
                for i, row in enumerate(rows):
                    at = now_min - (len(rows) - i) * 60_000
                    fields = {"audience|hall": 0, "audience|remote": 0, "asked": 0, "approved": 0, "answered": 0,
                              "votes": 0, "poll_answers": 0, "rx": "{}", **row}  # fmt: skip
                    pipe.xadd(key, fields, id=f"{at}-0")
                for entry_id, fields in sampled:
                    pipe.xadd(key, fields, id=entry_id)
                await pipe.execute()
                return
            except WatchError:
                continue


async def test_the_dashboard_shows_people_and_activity_per_minute(
    server: Running, world: World, org: Api, http: aiohttp.ClientSession
) -> None:
    await _past_minutes(
        server,
        world.session,
        [
            {"audience|hall": 10, "audience|remote": 4, "asked": 2, "votes": 3, "rx": '{"👏": 5}'},
            {
                "audience|hall": 12,
                "audience|remote": 6,
                "asked": 5,
                "approved": 2,
                "votes": 9,
                "rx": '{"👏": 9}',
            },
        ],
    )
    ann = await person(server, world, http, "Ann")
    await _sampled(server, world.session, 3)
    data = await org.ok("GET", f"/api/events/{world.event['id']}/insight")
    assert [s["session"]["id"] for s in data["running"]] == [world.session]
    assert {o["id"] for o in data["others"]} == {world.sessions[1]["id"]}
    one = data["running"][0]
    assert one["polls"] == []  # filled by the polls feature
    series = one["series"]
    assert series["hall"][:2] == [10, 12] and series["remote"][:2] == [4, 6]
    assert series["asked"][:2] == [2, 3] and series["approved"][:2] == [0, 2]
    assert series["votes"][:2] == [3, 6] and series["reactions"][:2] == [5, 4]
    assert len(series["t"]) == len(series["hall"]) == 3
    assert one["present"]["audience"]["remote"] == 1
    assert one["time_zone"] == "Asia/Shanghai" and one["last_sample"].endswith("+08:00")
    single = await org.ok("GET", f"/api/sessions/{world.session}/insight?minutes=5")
    assert single["series"]["hall"] == series["hall"]
    await ann.disconnect()


async def test_insight_and_reports_are_for_organizers_and_reports_for_the_sessions_moderators(
    server: Running, world: World, http: aiohttp.ClientSession
) -> None:
    sid = world.session
    for token, path, status in (
        (world.tokens["moderator"], f"/api/sessions/{sid}/insight", 403),
        (world.tokens["moderator"], f"/api/events/{world.event['id']}/insight", 403),
        (world.tokens["moderator"], f"/api/events/{world.event['id']}/report.json", 403),
        (world.tokens["speaker"], f"/api/sessions/{sid}/report.json", 403),
        (world.tokens["screen"], f"/api/sessions/{sid}/report.csv", 403),
        (None, f"/api/sessions/{sid}/report.json", 401),
        (world.tokens["moderator"], f"/api/sessions/{sid}/report.json", 200),
        (world.tokens["moderator"], f"/api/sessions/{sid}/report.csv", 200),
        (world.tokens["organizer"], f"/api/sessions/{sid}/insight", 200),
    ):
        got, _ = (
            await Api(http, server.url, token).request("GET", path)
            if path.endswith(("json", "insight"))
            else (await _raw(http, server.url + path, token), None)
        )
        assert got == status, (path, got)


async def _raw(http: aiohttp.ClientSession, url: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.get(url, headers=headers) as r:
        return r.status


async def test_the_report_has_attendance_time_in_session_questions_and_reactions(
    server: Running, world: World, org: Api, http: aiohttp.ClientSession
) -> None:
    mod = await moderator(server, world)
    await mod.call("qa:settings", {"session": world.session, "moderation": "pre"})
    ann = await person(server, world, http, "Ann")
    ids = []
    for i in range(3):
        ack = await ann.call(
            "qa:ask", {"session": world.session, "text": f"Question {i}?", "client_id": f"c{i}"}
        )
        ids.append(ack["question"]["id"])
    for qid in ids[:2]:
        await mod.call("qa:moderate", {"session": world.session, "question": qid, "action": "approve"})
    await mod.call("qa:moderate", {"session": world.session, "question": ids[0], "action": "answer"})
    bob = await person(server, world, http, "Bob")
    assert (await bob.call("qa:vote", {"session": world.session, "question": ids[1], "vote": True}))["ok"]
    assert (await bob.call("reaction:send", {"session": world.session, "emoji": "👏"}))["ok"]
    await _past_minutes(server, world.session, [{"audience|hall": 30, "audience|remote": 10}])
    await _sampled(server, world.session, 2)
    await bob.disconnect()
    report = await org.ok("GET", f"/api/sessions/{world.session}/report.json")
    assert report["attendance"]["peak"]["total"] == 40 and report["attendance"]["peak"]["hall"] == 30
    assert report["attendance"]["peak"]["at"].endswith("+08:00")
    assert report["attendance"]["minutes"] >= 2
    q = report["questions"]
    assert (q["asked"], q["approved"], q["answered"], q["votes"]) == (3, 2, 1, 1)
    assert q["by_state"] == {"answered": 1, "approved": 1, "pending": 1}
    assert {x["id"]: x["votes"] for x in q["list"]}[ids[1]] == 1
    assert report["polls"] == []
    assert report["reactions"]["totals"]["👏"] == 1
    dwell = report["time_in_session"]
    assert dwell["people"] == 2 and sum(b["people"] for b in dwell["buckets"]) == 2
    assert report["time_zone"] == "Asia/Shanghai"
    async with http.get(
        f"{server.url}/api/sessions/{world.session}/report.csv",
        headers={"Authorization": f"Bearer {org.token}"},
    ) as r:
        text = (await r.read()).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["minute", "audience_hall", "audience_remote"]
    assert rows[1][1:3] == ["30", "10"] and rows[1][0].endswith("+08:00")
    whole = await org.ok("GET", f"/api/events/{world.event['id']}/report.json")
    assert whole["summary"]["questions_asked"] == 3 and len(whole["sessions"]) == 2
    await ann.disconnect()
    await mod.disconnect()
