"""Property-based fuzzing (hypothesis) of every client event's payload and of raw Engine.IO /
Socket.IO frames, against a real Podium worker on a real port and a real store.

The properties, for every example: the server answers an event that asked for an ack exactly
once, within seconds, never with `internal`; it logs no error or traceback; the socket that sent
the junk keeps working; and a bystander in the same session keeps receiving the session's
feed. The example count is bounded (`FUZZ_EXAMPLES`, default 400 per test) so `make test`
stays quick; set it higher to fuzz for longer.

Hypothesis drives synchronous test functions, so Podium and the sockets run on an event loop
in a thread of their own; each example is submitted to it and waited for.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server import appkeys
from server.realtime import protocol as p
from tests.conftest import Api, Running, make_settings, make_world, start_server, stop_server, sync_client
from tests.fuzz.raw import RawSocket

T = TypeVar("T")
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "400"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the checkout
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
# Every field name any event takes, so that many examples get past "Unknown field".
FIELDS = [
    "session", "where", "since", "text", "client_id", "anonymous", "question", "vote", "action",
    "into", "moderation", "open", "slow_mode_s", "words", "participant", "seconds", "emoji",
    "speaker", "state", "status", "order", "kind", "minutes", "cue", "rtt_ms", "kbps", "loss",
    "fps", "note", "hand", "token", "to", "data", "sdp", "type", "candidate", "sdpMid",
    "sdpMLineIndex", "usernameFragment", "max_live", "mode", "running", "answered",
]  # fmt: skip


class Errors(logging.Handler):
    """Every record at ERROR or with a traceback, from any logger, while the fuzz runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append(record)


@dataclass(repr=False)
class Stage:
    """Podium on its own loop: sockets of each kind, joined to the world's first session."""

    loop: asyncio.AbstractEventLoop
    server: Running
    session: str
    http: aiohttp.ClientSession
    auths: dict[str, dict[str, Any]]
    errors: Errors = field(default_factory=Errors)
    socks: dict[str, RawSocket] = field(default_factory=dict)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    async def fresh(self, role: str) -> RawSocket:
        """The socket of `role`, opened and joined again if the last example closed it."""
        sock = self.socks[role]
        if sock.closed:
            sock = self.socks[role] = await open_joined(self, role)
        return sock

    @property
    def bystander(self) -> RawSocket:
        return self.socks["bystander"]


async def open_joined(stage: Stage, role: str) -> RawSocket:
    sock = await RawSocket.open(stage.http, stage.server.url, stage.auths[role])
    ack = await sock.call(p.SESSION_JOIN, {"session": stage.session})
    assert ack["ok"], ack
    return sock


@pytest.fixture(scope="module")
def stage(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stage]:
    client = sync_client(redis_url)
    client.flushdb()
    client.close()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="podium-fuzz", daemon=True)
    thread.start()

    def run(coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

    tmp: Path = tmp_path_factory.mktemp("fuzz")
    # Limits high enough that the fuzz reaches the handlers rather than the flood guard.
    generous = {
        "socket_events_per_10s": 1_000_000,
        "asks_per_minute": 1_000_000,
        "votes_per_10s": 1_000_000,
        "chat_per_10s": 1_000_000,
        "hands_per_minute": 1_000_000,
        "rtc_signals_per_10s": 1_000_000,
        "rtc_signal_burst": 1_000_000,
    }

    async def up() -> Stage:
        server = await start_server(make_settings(redis_url, tmp, **generous))
        http = aiohttp.ClientSession()
        world = await make_world(Api(http, server.url, await server.organizer_token()))
        auths: dict[str, dict[str, Any]] = {
            role: {"token": world.tokens[role]} for role in ("moderator", "speaker", "screen", "organizer")
        }
        for name in ("audience", "bystander"):
            async with http.post(f"{server.url}/api/codes/{world.event['code']}/join", json={}) as r:
                auths[name] = {"participant": (await r.json())["participant"]["token"]}
        stage = Stage(loop, server, world.session, http, auths)
        for role in auths:
            stage.socks[role] = await open_joined(stage, role)
        return stage

    staged = run(up())
    logging.getLogger().addHandler(staged.errors)
    try:
        yield staged
    finally:
        logging.getLogger().removeHandler(staged.errors)

        async def down() -> None:
            for sock in staged.socks.values():
                if not sock.closed:
                    await sock.close()
            await staged.http.close()
            await stop_server(staged.server)

        run(down())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# --- strategies ------------------------------------------------------------------------------

# Text a client could send: anything, lone surrogates and controls included.
texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec=None), max_size=20),
    st.sampled_from(["", " ", "\ud800", "x\udfff", "\u202e", "\x00", "a" * 5000, "SESSION"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False),
    texts,
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), texts), inner, max_size=4),
    ),
    max_leaves=12,
)
payloads = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5),
    json_values,
)


def with_session(value: Any, session: str) -> Any:
    """The placeholder "SESSION" replaced by the real session id, so that handlers get past it."""
    if value == "SESSION":
        return session
    if isinstance(value, dict):
        return {k: with_session(v, session) for k, v in value.items()}
    if isinstance(value, list):
        return [with_session(v, session) for v in value]
    return value


async def check_after(stage: Stage, role: str) -> None:
    """The socket still answers (back in the session, which an example may have made it leave;
    opened again if the example closed it on purpose), and the bystander is still in the
    session and unaffected."""
    sock = await stage.fresh(role)
    try:
        ack = await sock.call(p.SESSION_SNAPSHOT, {}, timeout=10)
    except AssertionError as timed_out:  # say what the server thinks of every socket it holds
        sio = stage.server.app[appkeys.SIO]
        eio_sids = list(sio.eio.sockets)
        info = {
            e: (sio.manager.sid_from_eio_sid(e, "/"), sio.eio.sockets[e].closed, sio.eio.sockets[e].closing)
            for e in eio_sids
        }
        raise AssertionError(f"{timed_out}; server sockets: {info}") from None
    if not ack["ok"] or ack["session"]["id"] != stage.session:
        ack = await sock.call(p.SESSION_JOIN, {"session": stage.session}, timeout=10)
    assert ack["ok"], ack
    ack = await stage.bystander.call(p.SESSION_SNAPSHOT, {}, timeout=10)
    assert ack["ok"], ack


def assert_no_errors(stage: Stage) -> None:
    bad = [
        r.getMessage()[:300] + (logging.Formatter().formatException(r.exc_info)[-1500:] if r.exc_info else "")
        for r in stage.errors.records
    ]
    stage.errors.records.clear()
    assert not bad, bad


ROLES = ["audience", "moderator", "speaker", "screen", "organizer"]


@FUZZ
@given(
    role=st.sampled_from(ROLES),
    event=st.one_of(st.sampled_from(p.CLIENT_EVENTS), texts),
    payload=payloads,
    session_field=st.booleans(),
)
def test_every_event_answers_once_and_never_internal(stage: Stage, role, event, payload, session_field):
    if session_field and isinstance(payload, dict):
        payload = {"session": "SESSION", **payload}
    payload = with_session(payload, stage.session)

    async def one() -> None:
        sock = await stage.fresh(role)
        ack_id = sock.take_id()
        body = json.dumps(payload)  # ensure_ascii: lone surrogates travel as \\udXXX escapes
        await sock.send(f"42{ack_id}[{json.dumps(event)},{body}]")
        ack = await sock.ack(ack_id, timeout=10)
        await asyncio.sleep(0)
        assert len(sock.acks[ack_id]) == 1, sock.acks[ack_id]
        assert isinstance(ack, dict) and isinstance(ack.get("ok"), bool), ack
        if not ack["ok"]:
            assert ack["error"]["code"] != "internal", (event, payload, ack)
        await check_after(stage, role)

    stage.run(one())
    assert_no_errors(stage)


# Raw frames: the Engine.IO type, then for messages a Socket.IO packet with a type, maybe an
# attachment count, a namespace and an ack id, then JSON-ish text or anything.
# (far above the ids RawSocket.call takes, so that an ack to the fuzz is never taken for one of those)
ack_ids = st.one_of(st.just(""), st.integers(min_value=10**6, max_value=10**9).map(str), st.just("9" * 120))
namespaces = st.sampled_from(["", "/,", "/admin,", "/?x=1,", "/,,", "/"])
bodies = st.one_of(
    json_values.map(json.dumps),
    st.tuples(st.sampled_from([*p.CLIENT_EVENTS, "connect", "*", "disconnect"]), json_values).map(
        lambda t: json.dumps(list(t))
    ),
    st.integers(min_value=0, max_value=200).map(lambda n: "[" * n),
    st.text(alphabet='[]{}",:0123456789ab\\ ', max_size=60),
    texts,
)
sio_packets = st.builds(
    lambda kind, att, ns, aid, body: f"{kind}{att}{ns}{aid}{body}",
    st.sampled_from(["0", "2", "3", "4", "5", "6", "7", "9"]),
    st.sampled_from(["", "1-", "0-", "99-"]),
    namespaces,
    ack_ids,
    bodies,
)


def utf8(frame: str | bytes) -> bool:
    """Whether a text frame can travel at all: a websocket's text is UTF-8, which has no lone
    surrogates (those reach Podium only as JSON escapes, which the payload fuzz sends)."""
    if isinstance(frame, bytes):
        return True
    try:
        frame.encode()
    except UnicodeEncodeError:
        return False
    return True


frames = st.one_of(
    sio_packets.map(lambda s: "4" + s),
    st.sampled_from(["", "2", "3", "5", "6", "9", "4", "probe", "2probe"]),
    texts,
    st.binary(max_size=40),
).filter(utf8)


def closes_on_purpose(frame: str | bytes) -> bool:
    """A frame that asks the server to close this socket (Engine.IO close, namespace leave)."""
    return isinstance(frame, str) and (frame == "1" or frame.startswith("41"))


@FUZZ
@given(role=st.sampled_from(["audience", "moderator"]), frame=frames)
def test_raw_frames_never_break_the_server_or_anyone_else(stage: Stage, role, frame):
    async def one() -> None:
        sock = await stage.fresh(role)
        asked = set(sock.acks)
        await sock.send(frame)
        if closes_on_purpose(frame):
            # It may close (Engine.IO's close, a leave of the default namespace) or not (a
            # leave of a namespace it never joined): either way, the next step sees which.
            with contextlib.suppress(AssertionError):
                await sock.wait_for(lambda s: s.closed, timeout=1)
        await check_after(stage, role)
        # An event the frame itself asked an ack for got at most one, never `internal`.
        assert all(len(v) == 1 for k, v in sock.acks.items() if k not in asked), dict(sock.acks)
        for k, v in sock.acks.items():
            if k not in asked and isinstance(v[0], dict) and v[0].get("ok") is False:
                assert v[0]["error"]["code"] != "internal", (frame, v)

    stage.run(one())
    assert_no_errors(stage)
