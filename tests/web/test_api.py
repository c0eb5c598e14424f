"""The organizer's JSON API and the audience's join, with every refusal it owes."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Api, Running, World, hostile

H = hostile()


async def test_an_organizer_builds_an_event_with_sessions_and_links(org: Api):
    created = await org.ok(
        "POST",
        "/api/events",
        {"name": "Innovation Day", "time_zone": "Asia/Shanghai", "languages": ["zh-CN", "en"]},
    )
    event = created["event"]
    assert len(event["code"]) == 6 and created["sessions"] == [] and created["invites"] == []
    eid = event["id"]
    s = (
        await org.ok(
            "POST",
            f"/api/events/{eid}/sessions",
            {
                "title": "Opening",
                "starts_at": "2026-12-03T09:30",
                "ends_at": "2026-12-03T09:45",
                "stream_url": "https://video.example.org/live.m3u8",
            },
        )
    )["session"]
    assert (s["starts_at"], s["time_zone"], s["version"]) == ("2026-12-03T09:30:00+08:00", "Asia/Shanghai", 1)
    link = await org.ok(
        "POST",
        f"/api/events/{eid}/invites",
        {"role": "screen", "session_id": s["id"], "label": "Left projector"},
    )
    assert link["url"].endswith(f"/s/{s['id']}#t={link['token']}")
    assert link["invite"]["label"] == "Left projector"
    full = await org.ok("GET", f"/api/events/{eid}")
    assert [i["id"] for i in full["invites"]] == [link["invite"]["id"]]
    assert "token" not in full["invites"][0]
    edited = await org.ok("PATCH", f"/api/sessions/{s['id']}", {"title": "Opening greeting"})
    assert edited["session"]["version"] == 2
    listing = await org.ok("GET", "/api/events")
    assert listing["root"] is True and [e["id"] for e in listing["events"]] == [eid]


@pytest.mark.parametrize("name", H["markup"] + H["languages"])
async def test_hostile_names_are_stored_exactly_as_typed(org: Api, name):
    event = (await org.ok("POST", "/api/events", {"name": name, "time_zone": "UTC"}))["event"]
    assert event["name"] == name
    assert (await org.ok("GET", f"/api/events/{event['id']}"))["event"]["name"] == name


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": "x"},
        {"name": "", "time_zone": "UTC"},
        {"name": "x" * 121, "time_zone": "UTC"},
        {"name": "nul\u0000", "time_zone": "UTC"},
        {"name": "x", "time_zone": "Mars/Base"},
        {"name": "x", "time_zone": "UTC", "languages": "en"},
        {"name": "x", "time_zone": "UTC", "code": "!"},
        {"name": "x", "time_zone": "UTC", "admin": True},
        {"name": 5, "time_zone": "UTC"},
        [],
        "text",
        None,
    ],
    ids=repr,
)
async def test_bad_events_are_refused_and_nothing_is_created(org: Api, body):
    status, data = await org.request("POST", "/api/events", body)
    assert status == 400 and data["ok"] is False and data["error"]["code"] == "invalid"
    assert (await org.ok("GET", "/api/events"))["events"] == []


async def test_a_body_that_is_not_json_or_too_large_is_refused(org: Api, server: Running):
    status, data = await org.request("POST", "/api/events", data=b"{not json")
    assert (status, data["error"]["code"]) == (400, "invalid")
    status, data = await org.request(
        "POST", "/api/events", data=json.dumps({"name": "x" * 200_000, "time_zone": "UTC"})
    )
    assert status in (400, 413)
    status, data = await org.request("POST", "/api/events", data="[" * 10_000 + "]" * 10_000)
    assert (status, data["error"]["code"]) == (400, "invalid")


async def test_a_taken_code_is_a_conflict(org: Api):
    await org.ok("POST", "/api/events", {"name": "A", "time_zone": "UTC", "code": "AIDAY"})
    status, data = await org.request(
        "POST", "/api/events", {"name": "B", "time_zone": "UTC", "code": "ai-day"}
    )
    assert (status, data["error"]["code"], data["error"]["field"]) == (409, "conflict", "code")


@pytest.mark.parametrize(
    "body",
    [
        {"role": "audience"},
        {"role": "god"},
        {},
        {"role": "moderator", "hours": 0},
        {"role": "moderator", "hours": 100000},
        {"role": "moderator", "hours": True},
        {"role": "moderator", "hours": "72"},
        {"role": "moderator", "session_id": "nope"},
        {"role": "organizer", "session_id": "SESSION"},
        {"role": "moderator", "label": "x" * 81},
    ],
    ids=repr,
)
async def test_bad_invites_are_refused(org: Api, world: World, body):
    if body.get("session_id") == "SESSION":
        body = {**body, "session_id": world.session}
    before = len((await org.ok("GET", f"/api/events/{world.event['id']}"))["invites"])
    status, data = await org.request("POST", f"/api/events/{world.event['id']}/invites", body)
    assert status in (400, 404) and data["ok"] is False
    assert len((await org.ok("GET", f"/api/events/{world.event['id']}"))["invites"]) == before


async def test_a_session_of_another_event_cannot_scope_an_invite(org: Api, world: World):
    other = (await org.ok("POST", "/api/events", {"name": "Other", "time_zone": "UTC"}))["event"]
    status, data = await org.request(
        "POST", f"/api/events/{other['id']}/invites", {"role": "moderator", "session_id": world.session}
    )
    assert (status, data["error"]["code"]) == (404, "not_found")


async def test_an_event_organizer_manages_only_their_event_and_creates_none(
    org: Api, world: World, http, server: Running
):
    other = (await org.ok("POST", "/api/events", {"name": "Other", "time_zone": "UTC"}))["event"]
    mine = Api(http, server.url, world.tokens["organizer"])
    listing = await mine.ok("GET", "/api/events")
    assert listing["root"] is False and [e["id"] for e in listing["events"]] == [world.event["id"]]
    await mine.ok("PATCH", f"/api/events/{world.event['id']}", {"name": "Renamed"})
    for method, path, body in (
        ("GET", f"/api/events/{other['id']}", None),
        ("PATCH", f"/api/events/{other['id']}", {"name": "x"}),
        (
            "POST",
            f"/api/events/{other['id']}/sessions",
            {"title": "x", "starts_at": "2026-12-03T09:00", "ends_at": "2026-12-03T10:00"},
        ),
        ("POST", "/api/events", {"name": "x", "time_zone": "UTC"}),
    ):
        status, data = await mine.request(method, path, body)
        assert (status, data["error"]["code"]) == (403, "forbidden"), (method, path)


@pytest.mark.parametrize("role", ["moderator", "speaker", "screen"])
async def test_other_roles_cannot_use_the_organizer_api(http, server: Running, world: World, role):
    api = Api(http, server.url, world.tokens[role])
    status, data = await api.request("GET", "/api/events")
    assert (status, data["error"]["code"]) == (401, "unauthorized")
    status, data = await api.request("PATCH", f"/api/sessions/{world.session}", {"title": "hijack"})
    assert (status, data["error"]["code"]) == (403, "forbidden")
    status, data = await api.request(
        "POST", f"/api/events/{world.event['id']}/invites", {"role": "organizer"}
    )
    assert (status, data["error"]["code"]) == (403, "forbidden")


async def test_no_token_or_a_bad_one_is_unauthorized(http, server: Running):
    for token in (None, "garbage", "a.b"):
        status, data = await Api(http, server.url, token).request("GET", "/api/events")
        assert (status, data["error"]["code"]) == (401, "unauthorized")


async def test_me_tells_an_invite_holder_where_they_may_go(http, server: Running, world: World):
    me = await Api(http, server.url, world.tokens["moderator"]).ok("GET", "/api/me")
    assert me["role"] == "moderator" and [s["id"] for s in me["sessions"]] == [world.session]
    me = await Api(http, server.url, world.tokens["organizer"]).ok("GET", "/api/me")
    assert len(me["sessions"]) == 2


async def test_revoking_needs_the_right_organizer(org: Api, http, server: Running, world: World):
    event = await org.ok("GET", f"/api/events/{world.event['id']}")
    screen = next(i for i in event["invites"] if i["role"] == "screen")
    other = (await org.ok("POST", "/api/events", {"name": "Other", "time_zone": "UTC"}))["event"]
    other_org = (await org.ok("POST", f"/api/events/{other['id']}/invites", {"role": "organizer"}))["token"]
    # Another event's organizer hears exactly what an unknown id gets: nothing tells them it is real.
    status, theirs = await Api(http, server.url, other_org).request(
        "POST", f"/api/invites/{screen['id']}/revoke"
    )
    assert status == 404
    status, unknown = await Api(http, server.url, other_org).request("POST", "/api/invites/unknown/revoke")
    assert (status, unknown) == (404, theirs)
    # Without credentials the answer is 401 for a real id and an unknown one alike.
    for invite_id in (screen["id"], "unknown"):
        status, data = await Api(http, server.url, None).request("POST", f"/api/invites/{invite_id}/revoke")
        assert status == 401 and data["error"]["code"] == "unauthorized", (invite_id, status, data)
    revoked = await org.ok("POST", f"/api/invites/{screen['id']}/revoke")
    assert revoked["invite"]["revoked"] is True
    status, data = await Api(http, server.url, world.tokens["screen"]).request("GET", "/api/me")
    assert (status, data["error"]["message"]) == (401, "This link was revoked by the organizer.")


async def test_the_audience_joins_by_code_in_any_spelling_and_gets_a_cookie(
    http, server: Running, world: World
):
    code = world.event["code"]
    spelled = code[:3].lower() + "-" + code[3:].lower()
    async with http.post(f"{server.url}/api/codes/{spelled}/join", json={"name": "  Ann  "}) as r:
        data = await r.json()
        assert r.status == 200, data
        assert data["participant"]["name"] == "Ann"
        assert data["current_session"] in {s["id"] for s in data["sessions"]}
        cookie = r.cookies["podium_pid"]
        assert cookie["httponly"] and cookie["samesite"] == "Lax"
    async with http.get(f"{server.url}/api/codes/{code}") as r:
        public = await r.json()
        assert "invites" not in public and public["event"]["code"] == code


@pytest.mark.parametrize("code", ["NOPE99", "x", "../etc", "A" * 40])
async def test_unknown_or_malformed_codes_are_refused(http, server: Running, code):
    async with http.post(f"{server.url}/api/codes/{code}/join", json={}) as r:
        data = await r.json()
        assert r.status in (400, 404) and data["error"]["code"] in ("invalid", "not_found")


@pytest.mark.parametrize("name", [*H["control"], "x" * 61, 5, ["a"]], ids=repr)
async def test_bad_display_names_are_refused(http, server: Running, world: World, name):
    async with http.post(f"{server.url}/api/codes/{world.event['code']}/join", json={"name": name}) as r:
        assert r.status == 400 and (await r.json())["error"]["code"] == "invalid"


async def test_joining_from_a_foreign_page_is_refused(http, server: Running, world: World):
    async with http.post(
        f"{server.url}/api/codes/{world.event['code']}/join",
        json={},
        headers={"Origin": "https://evil.example"},
    ) as r:
        assert r.status == 403


@pytest.fixture
def settings_overrides():
    return {"join_per_minute_per_ip": 5}


async def test_joining_is_rate_limited_per_address(http, server: Running, world: World):
    statuses = []
    for _ in range(8):
        async with http.post(f"{server.url}/api/codes/{world.event['code']}/join", json={}) as r:
            statuses.append(r.status)
            if r.status == 429:
                body = await r.json()
                assert body["error"]["code"] == "rate_limited" and body["error"]["retry_after"] >= 1
    assert statuses.count(200) == 5 and statuses.count(429) == 3


async def test_health_and_readiness(http, server: Running):
    async with http.get(server.url + "/healthz") as r:
        assert (r.status, await r.json()) == (200, {"ok": True})
    async with http.get(server.url + "/readyz") as r:
        assert (r.status, await r.json()) == (200, {"ok": True})
