"""Bad input on every client event: a clear error ack, and nothing changes."""

from __future__ import annotations

import asyncio

import pytest

from server import appkeys
from server.errors import CODES
from tests.conftest import Running, World, audience_token, hostile

H = hostile()
WRONG = H["wrong_types"]


def deep(n: int):
    value: object = "x"
    for _ in range(n):
        value = [value]
    return value


BAD_JOIN = [
    *WRONG,
    {},
    {"session": None},
    {"session": 5},
    {"session": ""},
    {"session": "nope"},
    {"session": "../../etc"},
    {"session": "x" * 5000},
    {"session": "abc", "extra": 1},
    {"session": "abc", "where": "roof"},
    {"session": "abc", "where": 1},
    {"session": deep(50)},
]


async def counts(client, session):
    """The session's presence as the store holds it now (pages see it coalesced, a moment later)."""
    server = client.server
    return (await server.app[appkeys.PRESENCE_STORE].counts(session))[1]


@pytest.fixture
async def member(server: Running, world: World, http):
    c = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
    ack = await c.call("session:join", {"session": world.session, "where": "hall"})
    assert ack["ok"]
    c.server = server
    return c


@pytest.mark.parametrize("payload", BAD_JOIN, ids=repr)
async def test_bad_session_join_payloads_are_refused_and_change_nothing(member, world: World, payload):
    before = await counts(member, world.session)
    ack = await member.call("session:join", payload)
    assert ack["ok"] is False
    assert ack["error"]["code"] in ("invalid", "not_found")
    assert ack["error"]["message"]
    assert await counts(member, world.session) == before
    snap = await member.call("session:snapshot", {})
    assert snap["session"]["id"] == world.session, "still in the session it was in"


@pytest.mark.parametrize(
    "payload", [*WRONG, {"where": "roof"}, {"where": None}, {"where": "hall", "x": 1}], ids=repr
)
async def test_bad_presence_where_payloads_are_refused_and_change_nothing(member, world: World, payload):
    before = await counts(member, world.session)
    ack = await member.call("presence:where", payload)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid"
    assert await counts(member, world.session) == before


@pytest.mark.parametrize("event", ["session:leave", "session:snapshot"])
@pytest.mark.parametrize("payload", [{"x": 1}, [], "x", 5], ids=repr)
async def test_events_without_fields_refuse_payloads_with_fields(member, world: World, event, payload):
    ack = await member.call(event, payload)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid"
    assert (await counts(member, world.session))["total"] == 1


async def test_more_than_one_argument_is_refused(member):
    ack = await member.sio.call("session:join", ({"session": "a"}, {"b": 1}), timeout=5)
    assert ack["ok"] is False and ack["error"]["code"] == "invalid"


async def test_an_unknown_event_still_gets_an_ack(member):
    ack = await member.call("qa:nonsense", {"a": 1})
    assert ack == {"ok": False, "error": {"code": "invalid", "message": "Unknown event."}}


async def test_snapshot_and_where_before_joining_are_conflicts(server: Running, world: World, http):
    c = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
    for event, payload in (("session:snapshot", {}), ("presence:where", {"where": "hall"})):
        ack = await c.call(event, payload)
        assert ack["error"]["code"] == "conflict"
    assert (await c.call("session:leave", {}))["ok"], "leaving when in no session is harmless"


async def test_a_screen_cannot_claim_to_be_remote(server: Running, world: World):
    screen = await server.client(auth={"token": world.tokens["screen"]})
    ack = await screen.call("session:join", {"session": world.session, "where": "remote"})
    assert ack["you"]["where"] == "hall"
    assert (await screen.call("presence:where", {"where": "remote"}))["error"]["code"] == "forbidden"


async def test_a_payload_over_the_size_limit_closes_only_that_connection(
    member, server: Running, world: World, http
):
    other = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
    await other.call("session:join", {"session": world.session})
    big = {"session": "x" * (server.settings.max_payload_bytes + 10)}
    with pytest.raises(Exception):  # noqa: B017 - the connection is dropped, the ack never comes
        await member.call("session:join", big, timeout=2)
    assert (await other.call("session:snapshot", {}))["ok"], "the server is fine"


async def test_a_flood_from_one_socket_is_rate_limited_and_every_call_is_answered(member):
    acks = await asyncio.gather(*(member.call("session:snapshot", {}) for _ in range(60)))
    codes = [a["error"]["code"] if not a["ok"] else "ok" for a in acks]
    assert codes.count("ok") >= 15
    assert "rate_limited" in codes
    assert set(codes) <= {"ok", "rate_limited"}
    limited = next(a for a in acks if not a["ok"])
    assert limited["error"]["retry_after"] == 1


async def test_rejoining_too_fast_is_rate_limited_per_person(server: Running, world: World, http):
    token = await audience_token(http, server, world.event["code"])
    tabs = [await server.client(auth={"participant": token}) for _ in range(4)]
    acks = []
    for _ in range(10):
        for tab in tabs:
            acks.append(await tab.call("session:join", {"session": world.session}))
    assert sum(1 for a in acks if a["ok"]) == 30
    assert all(a["error"]["code"] == "rate_limited" for a in acks if not a["ok"])


def test_every_error_code_has_an_http_status_and_the_list_is_fixed():
    from server.errors import HTTP_STATUS

    assert (
        set(HTTP_STATUS)
        == set(CODES)
        == {
            "invalid",
            "unauthorized",
            "forbidden",
            "not_found",
            "conflict",
            "rate_limited",
            "unavailable",
            "internal",
        }
    )
