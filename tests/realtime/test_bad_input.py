"""Bad input on every client event: a clear error ack, and nothing changes."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest

from server import appkeys
from server.domain.validate import MAX_DEPTH
from server.errors import CODES
from tests.conftest import Running, World, audience_token, hostile, moderator, person
from tests.fuzz.raw import RawSocket

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


# --- nesting: refused before anything parses it, and answered once -------------------------

TOO_DEEP = {
    "ok": False,
    "error": {
        "code": "invalid",
        "message": f"The payload is nested too deeply (at most {MAX_DEPTH} levels).",
    },
}


def nested(depth: int) -> str:
    """A JSON payload `depth` levels deep, written out (json.dumps itself gives up near 1,000)."""
    return "[" * (depth - 1) + "{}" + "]" * (depth - 1)


def no_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [r.getMessage() for r in bad]


@pytest.fixture
async def raw(server: Running, world: World, http) -> AsyncIterator[dict[str, RawSocket]]:
    """An audience member and a moderator on hand-written sockets, joined to the session."""
    socks = {
        "audience": await RawSocket.open(
            http, server.url, {"participant": await audience_token(http, server, world.event["code"])}
        ),
        "moderator": await RawSocket.open(http, server.url, {"token": world.tokens["moderator"]}),
    }
    for sock in socks.values():
        assert (await sock.call("session:join", {"session": world.session}))["ok"]
    yield socks
    for sock in socks.values():
        await sock.close()


@pytest.mark.parametrize("role", ["audience", "moderator"])
@pytest.mark.parametrize("event", ["qa:ask", "session:join", "stage:timer", "qa:nonsense"])
@pytest.mark.parametrize("depth", [MAX_DEPTH, 1_000, 10_000])
async def test_a_payload_nested_too_deep_gets_one_invalid_ack(raw, role, event, depth, caplog):
    sock = raw[role]
    ack_id = sock.take_id()
    await sock.send(f"42{ack_id}[{json.dumps(event)},{nested(depth)}]")  # with the event's list: depth + 1
    assert await sock.ack(ack_id) == TOO_DEEP
    assert (await sock.call("session:snapshot", {}))["ok"], "the socket works on"
    assert sock.acks[ack_id] == [TOO_DEEP], "exactly one ack"
    no_tracebacks(caplog)


async def test_nesting_up_to_the_bound_reaches_the_handler(raw):
    ack = await raw["audience"].call("qa:ask", raw=nested(MAX_DEPTH - 1))
    assert ack["error"] == {"code": "invalid", "message": "The payload must be an object."}


async def test_brackets_inside_text_are_not_nesting(raw, world: World):
    text = "[" * 150 + "{" * 100 + '"]\\'
    payload = {"session": world.session, "text": text, "client_id": "brackets"}
    ack = await raw["audience"].call("qa:ask", payload)
    assert ack["ok"], ack
    assert ack["question"]["text"] == text


async def test_deep_frames_without_an_ack_are_dropped_with_one_short_line(raw, caplog):
    caplog.set_level(logging.INFO, logger="server.realtime.engine")
    sock = raw["audience"]
    frames = [
        f'42["qa:ask",{nested(10_000)}]',  # an event that asked for no ack
        "40" + nested(10_000),  # a connect whose auth is deep
        "43" + nested(10_000),  # an ack from the client
        "42" + "[" * 10_000,  # never closed
    ]
    for frame in frames:
        await sock.send(frame)
    assert (await sock.call("session:snapshot", {}))["ok"]
    lines = [r for r in caplog.records if r.name == "server.realtime.engine"]
    assert len(lines) == len(frames), [r.getMessage() for r in lines]
    assert all(len(r.getMessage()) < 200 for r in lines)
    assert not sock.acks.keys() - {1, 2}, "only the calls were answered"
    no_tracebacks(caplog)


@pytest.mark.parametrize(
    "frame",
    [
        '42{id}["connect",{{}}]',  # python-socketio's own handlers are no client's events
        '42{id}["disconnect","x"]',
        '42{id}["*"]',
        '42{id}["*",{{}}]',
    ],
)
async def test_the_servers_own_handler_names_are_unknown_events(raw, world: World, frame, caplog):
    sock = raw["audience"]
    ack_id = sock.take_id()
    await sock.send(frame.format(id=ack_id))
    assert await sock.ack(ack_id) == {"ok": False, "error": {"code": "invalid", "message": "Unknown event."}}
    snap = await sock.call("session:snapshot", {})
    assert snap["ok"] and snap["session"]["id"] == world.session, "still connected and in the session"
    no_tracebacks(caplog)


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ('42{id}["qa:ask",{{"text": }}]', "The payload must be JSON."),
        ('42{id}["qa:ask",1' + "1" * 120 + "]", "The payload must be JSON."),  # python-socketio's bound
        ("42{id}[1]", "An event is a name and one payload object."),
        ("42{id}[]", "An event is a name and one payload object."),
        ('42{id}{{"a":1}}', "An event is a name and one payload object."),
        ("42{id}", "An event is a name and one payload object."),
        ('42{id}[["qa:ask"]]', "An event is a name and one payload object."),
        ('451-{id}["qa:ask",{{"_placeholder":true,"num":0}}]', "Podium takes no binary packets."),
        ('421-{id}["qa:ask",{{}}]', "Podium takes no binary packets."),
    ],
)
async def test_malformed_events_that_ask_for_an_ack_get_one(raw, frame, message, caplog):
    sock = raw["moderator"]
    ack_id = sock.take_id()
    await sock.send(frame.format(id=ack_id))
    assert await sock.ack(ack_id) == {"ok": False, "error": {"code": "invalid", "message": message}}
    assert (await sock.call("session:snapshot", {}))["ok"]
    assert len(sock.acks[ack_id]) == 1
    no_tracebacks(caplog)


async def test_frames_no_client_sends_change_nothing(raw, caplog):
    sock = raw["audience"]
    for frame in [
        "",
        "x",
        "4",
        "4x",
        "9",
        "2",
        "5",
        "6",
        "b" + "A" * 8,
        "44{}",
        "47",
        b"\x00\xff",
        '42/admin,7["x"]',
    ]:
        await sock.send(frame)
    await sock.send('451-["qa:ask",{"_placeholder":true,"num":0}]')
    await sock.send(b"\x01\x02")  # the attachment it announced: taken by nobody
    assert (await sock.call("session:snapshot", {}))["ok"]
    assert not sock.acks.keys() - {1, sock.next_id - 1}
    no_tracebacks(caplog)


# --- lone surrogates: `invalid`, never `internal` -------------------------------------------

SURROGATES = ["x\ud800", "\udfff", "a\ud83d b", "\ud83d\ude00\ud800"]


@pytest.mark.parametrize("bad", SURROGATES, ids=ascii)
async def test_a_lone_surrogate_in_any_text_is_invalid_and_changes_nothing(
    server: Running, world: World, http, bad, caplog
):
    mod = await moderator(server, world)
    ann = await person(server, world, http, "Ann")
    await mod.call("qa:settings", {"session": world.session, "moderation": "post"})
    q = (await ann.call("qa:ask", {"session": world.session, "text": "A fine question", "client_id": "q1"}))[
        "question"
    ]
    s = world.session
    for who, event, payload, field in [
        (ann, "qa:ask", {"session": s, "text": bad, "client_id": "q2"}, "text"),
        (ann, "hand:raise", {"session": s, "note": bad}, "note"),
        (mod, "qa:moderate", {"session": s, "question": q["id"], "action": "edit", "text": bad}, "text"),
        (mod, "chat:send", {"session": s, "text": bad, "client_id": "c1"}, "text"),
        (mod, "stage:cue", {"session": s, "speaker": "x", "kind": "text", "text": bad}, "text"),
        (mod, "qa:settings", {"session": s, "words": ["fine", bad]}, "words"),
    ]:
        ack = await who.call(event, payload)
        assert ack["ok"] is False, (event, ack)
        assert (ack["error"]["code"], ack["error"]["field"]) == ("invalid", field), (event, ack)
        assert "surrogate" in ack["error"]["message"]
    snap = await mod.call("session:snapshot", {})
    assert [x["text"] for x in snap["qa"]["questions"]] == ["A fine question"]
    assert snap["backstage"] == {"chat": [], "cues": [], "hands": []}
    assert snap["qa"]["settings"]["words"] == []
    no_tracebacks(caplog)


@pytest.mark.parametrize(
    ("event", "payload", "code"),
    [
        ("session:join", {"session": "\ud800"}, "invalid"),
        ("session:join", {"session": "ok", "wh\ud800ere": 1}, "invalid"),
        ("qa:vote", {"session": "SESSION", "question": "x\udc00", "vote": True}, "invalid"),
        ("reaction:send", {"session": "SESSION", "emoji": "\ud83d"}, "invalid"),
        ("session:upgrade", {"token": "a\ud800.b"}, "forbidden"),
        ("qa:\ud800", {}, "invalid"),
    ],
    ids=ascii,
)
async def test_surrogates_in_ids_keys_tokens_and_event_names_are_refused(
    member, world: World, event, payload, code, caplog
):
    payload = {k: world.session if v == "SESSION" else v for k, v in payload.items()}
    ack = await member.call(event, payload)
    assert ack["ok"] is False and ack["error"]["code"] == code, ack
    no_tracebacks(caplog)


@pytest.mark.parametrize(
    "auth",
    [{"token": "a\ud800.b"}, {"participant": "\udfff"}, {"token": "x", "participant": "p\ud800.q"}],
    ids=ascii,
)
async def test_surrogates_in_credentials_are_refused_as_unauthorized(server: Running, auth, caplog):
    assert (await server.refused(auth=auth))["code"] == "unauthorized"
    no_tracebacks(caplog)


@pytest.mark.parametrize("frame", ["40", '40{"participant":"x"}', "40/,{}", "40/?x=1,"])
async def test_a_second_connect_on_a_connected_socket_changes_nothing(raw, world: World, frame, caplog):
    sock = raw["audience"]
    before = (await sock.call("session:snapshot", {}))["you"]
    await sock.send(frame)
    snap = await sock.call("session:snapshot", {})
    assert snap["ok"] and snap["you"] == before, "the same socket, the same person, in the session"
    assert not [f for f in sock.received if f.startswith(("40", "44"))][1:], "no second connect answered"
    no_tracebacks(caplog)
