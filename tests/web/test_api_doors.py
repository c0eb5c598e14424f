"""The HTTP API's doors (issue 9): lone surrogates, null in optional fields, deep bodies, media
URLs that would reach a header, and ids as long as THREAT_MODEL.md says."""

from __future__ import annotations

import base64
import logging

import aiohttp
import pytest

from server.domain.validate import MAX_DEPTH
from tests.conftest import Api, Running, World
from tests.web.test_pages import csp_directives


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


@pytest.mark.parametrize("name", ["x\ud800", "\udfff", "ok\ud83d"], ids=ascii)
async def test_a_lone_surrogate_in_a_join_name_is_invalid_not_internal(
    server: Running, http: aiohttp.ClientSession, world: World, name, caplog
):
    status, data = await Api(http, server.url, None).request(
        "POST", f"/api/codes/{world.event['code']}/join", {"name": name}
    )
    assert (status, data["error"]["code"], data["error"]["field"]) == (400, "invalid", "name"), data
    no_tracebacks(caplog)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/events", {"name": "Day \ud800", "time_zone": "UTC"}, "name"),
        ("POST", "/api/events", {"name": "Day", "time_zone": "UTC\udc00"}, "time_zone"),
        ("PATCH", "/api/events/EVENT", {"name": "\ud83d"}, "name"),
        ("PATCH", "/api/sessions/SESSION", {"title": "T\ud800"}, "title"),
        ("PATCH", "/api/sessions/SESSION", {"stream_url": "https://a.example/\ud800.m3u8"}, "stream_url"),
        ("POST", "/api/events/EVENT/invites", {"role": "speaker", "label": "\udfff"}, "label"),
    ],
    ids=ascii,
)
async def test_a_lone_surrogate_in_any_organizer_field_is_invalid(
    org: Api, world: World, method, path, body, field, caplog
):
    path = path.replace("EVENT", world.event["id"]).replace("SESSION", world.session)
    status, data = await org.request(method, path, body)
    assert (status, data["error"]["code"], data["error"].get("field")) == (400, "invalid", field), data
    no_tracebacks(caplog)


async def test_a_surrogate_in_the_path_or_the_bearer_token_is_refused(
    server: Running, http: aiohttp.ClientSession, caplog
):
    async with http.get(f"{server.url}/api/events/%ED%A0%80") as r:  # UTF-8 of U+D800: not UTF-8
        assert r.status in (400, 401, 404)
    async with http.get(f"{server.url}/api/me", headers={"Authorization": "Bearer a\udcff.b"}) as r:
        assert r.status == 401
    no_tracebacks(caplog)


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/events/EVENT/invites", {"role": "speaker", "label": None}, "label"),
        ("POST", "/api/events/EVENT/invites", {"role": "speaker", "session_id": None}, "session_id"),
        ("POST", "/api/events/EVENT/invites", {"role": "speaker", "hours": None}, "hours"),
        ("POST", "/api/events", {"name": "Day", "time_zone": "UTC", "code": None}, "code"),
        ("POST", "/api/events", {"name": "Day", "time_zone": "UTC", "languages": None}, "languages"),
        ("PATCH", "/api/sessions/SESSION", {"title": None}, "title"),
        ("POST", "/api/codes/CODE/join", {"name": None}, "name"),
    ],
    ids=repr,
)
async def test_null_is_a_wrong_type_not_a_way_to_leave_a_field_out(
    org: Api, world: World, method, path, body, field
):
    path = path.replace("EVENT", world.event["id"]).replace("SESSION", world.session)
    path = path.replace("CODE", world.event["code"])
    before = await org.ok("GET", f"/api/events/{world.event['id']}")
    status, data = await org.request(method, path, body)
    assert (status, data["error"]["code"], data["error"].get("field")) == (400, "invalid", field), data
    assert await org.ok("GET", f"/api/events/{world.event['id']}") == before, "nothing changed"


async def test_null_means_no_video_where_the_protocol_says_so(org: Api, world: World):
    await org.ok("PATCH", f"/api/sessions/{world.session}", {"stream_url": "https://v.example/a.m3u8"})
    data = await org.ok("PATCH", f"/api/sessions/{world.session}", {"stream_url": None})
    assert data["session"]["stream_url"] == ""


async def test_a_body_nested_too_deep_is_refused_before_parsing(org: Api, world: World, caplog):
    for depth in (MAX_DEPTH + 1, 1_000, 30_000):
        body = "[" * depth + "]" * depth
        status, data = await org.request("POST", "/api/events", data=body)
        assert status == 400 and data["error"]["code"] == "invalid", data
        assert "nested too deeply" in data["error"]["message"]
    status, data = await org.request("POST", "/api/events", data="[" * 1_000_000)
    assert status in (400, 413) and data["ok"] is False, "past the size bound: refused unread"
    status, data = await org.request("POST", "/api/events", data=b"\xff\xfe{}")
    assert status == 400 and data["error"]["message"] == "The body must be JSON in UTF-8."
    no_tracebacks(caplog)


@pytest.mark.parametrize(
    "url",
    [
        "http://a.example;sandbox/x.m3u8",
        "http://a.example,b.example/x.m3u8",
        "http://a.example/x.m3u8;sandbox",
        "http://a.example/x y.m3u8",
        "http://a.example/x\ty.m3u8",
        'http://a.example/"x.m3u8',
        "http://a.example/'x.m3u8",
        "http://a.example/x\\y.m3u8",
        "http://a.example/<x>.m3u8",
        "http://a.example\n/x.m3u8",
        "http://user:pass@a.example/x.m3u8",
        "http://a_b.example/x.m3u8",
        "http://-a.example/x.m3u8",
        "http://a.example:0/x.m3u8",
        "http://a.example:99999/x.m3u8",
        "http://[fe80::1%25eth0]/x.m3u8",
        "http:///x.m3u8",
        "javascript:alert(1)",
        "data:text/html,x",
        "ftp://a.example/x.m3u8",
        "//a.example/x.m3u8",
    ],
)
async def test_a_media_url_that_could_break_a_header_is_refused(
    org: Api, http: aiohttp.ClientSession, server: Running, world: World, url
):
    status, data = await org.request("PATCH", f"/api/sessions/{world.session}", {"stream_url": url})
    assert (status, data["error"]["code"], data["error"]["field"]) == (400, "invalid", "stream_url"), data
    async with http.get(f"{server.url}/e/{world.event['code']}") as r:
        assert csp_directives(r.headers["Content-Security-Policy"])["connect-src"] == ["'self'", "https:"]
        assert "sandbox" not in r.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    ("url", "stored", "origin"),
    [
        (
            "http://Hall.Example:8088/live.m3u8",
            "http://hall.example:8088/live.m3u8",
            "http://hall.example:8088",
        ),
        ("http://10.0.0.5/a/b.m3u8?x=1&y=2", "http://10.0.0.5/a/b.m3u8?x=1&y=2", "http://10.0.0.5"),
        ("http://[::1]:8080/x.m3u8", "http://[::1]:8080/x.m3u8", "http://[::1]:8080"),
        (
            "http://bücher.example/x.m3u8",
            "http://xn--bcher-kva.example/x.m3u8",
            "http://xn--bcher-kva.example",
        ),
        ("https://video.example.org/live.m3u8", "https://video.example.org/live.m3u8", None),
    ],
)
async def test_a_plain_media_url_is_kept_and_its_origin_alone_reaches_the_policy(
    org: Api, http: aiohttp.ClientSession, server: Running, world: World, url, stored, origin
):
    data = await org.ok("PATCH", f"/api/sessions/{world.session}", {"stream_url": url})
    assert data["session"]["stream_url"] == stored
    async with http.get(f"{server.url}/e/{world.event['code']}") as r:
        connect = csp_directives(r.headers["Content-Security-Policy"])["connect-src"]
    assert connect == ["'self'", "https:", *([origin] if origin else [])]


async def test_invite_and_participant_ids_carry_128_random_bits(
    org: Api, world: World, server: Running, http: aiohttp.ClientSession
):
    made = await org.ok("POST", f"/api/events/{world.event['id']}/invites", {"role": "speaker"})
    assert len(base64.urlsafe_b64decode(made["invite"]["id"] + "==")) == 16
    async with http.post(f"{server.url}/api/codes/{world.event['code']}/join", json={}) as r:
        assert r.status == 200
        participant = (await r.json())["participant"]
    pid = participant.get("id") or participant.get("person")
    assert pid and len(base64.urlsafe_b64decode(pid + "==")) == 16, participant
