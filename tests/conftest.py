"""Shared fixtures: a real Valkey/Redis (embedded, or REDIS_URL), a real Podium on a real port,
real socket.io clients. Nothing is mocked."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis
import socketio
from aiohttp import web

from server import appkeys
from server.app import create_app
from server.settings import Settings, load_settings
from server.store.connection import parse_cluster_url
from server.store.embedded import EmbeddedRedis
from tests.follower import Follower

FIXTURES = Path(__file__).parent / "fixtures"


def hostile() -> dict[str, Any]:
    """Text a stranger may type (a copy of shared/fixtures/hostile-text.json)."""
    return json.loads((FIXTURES / "hostile-text.json").read_text(encoding="utf-8"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    """REDIS_URL when set (CI may point at a server, or a Cluster: tests/system/test_cluster.py
    runs the suite's core so), else an embedded Valkey for the run: one per pytest-xdist worker,
    since each test empties the store it uses."""
    url = os.environ.get("REDIS_URL")
    if url:
        worker = getattr(request.config, "workerinput", {}).get("workerid")
        if worker is not None:
            pytest.exit("REDIS_URL names one store that every test empties: run its tests with -n 0", 2)
        yield url
        return
    server = EmbeddedRedis(tmp_path_factory.mktemp("valkey"))
    yield server.start()
    server.stop()


def sync_client(url: str, **options: Any) -> Any:
    """A synchronous client on the store REDIS_URL names: one server, or a Cluster (close it)."""
    target = parse_cluster_url(url)
    if target is None:
        return redis.Redis.from_url(url, **options)
    return redis.RedisCluster(
        startup_nodes=[redis.cluster.ClusterNode(h, p) for h, p in target.nodes], **options
    )


@pytest.fixture
def clean_redis(redis_url: str) -> str:
    """The store, emptied before the test (tests run one at a time); every primary of a Cluster."""
    client = sync_client(redis_url)
    if isinstance(client, redis.RedisCluster):
        client.flushdb(target_nodes=redis.RedisCluster.PRIMARIES)
    else:
        client.flushdb()
    client.close()
    return redis_url


@pytest.fixture
async def rclient(clean_redis: str) -> AsyncIterator[Any]:
    """An async client on the emptied store."""
    from server.store.connection import connect

    client = connect(clean_redis)
    yield client
    await client.aclose()


def make_settings(redis_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "port": free_port(),
        "data_dir": tmp_path,
        "secret": "test-secret-not-for-production",
    }
    values.update(overrides)
    return load_settings(env={}, **values)


@dataclass
class Running:
    """A Podium worker running in this process on a real port."""

    app: web.Application
    settings: Settings
    runner: web.AppRunner
    clients: list[socketio.AsyncClient] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.port}"

    async def organizer_token(self) -> str:
        return await self.app[appkeys.AUTH].root_organizer_link_token(1)

    async def client(
        self,
        *,
        auth: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        url: str | None = None,
    ) -> Connected:
        """A connected socket.io client (closed at the end of the test)."""
        sio = socketio.AsyncClient(reconnection=False)
        box = Connected(sio)
        box.listen()
        self.clients.append(sio)
        await sio.connect(
            url or self.url,
            transports=["websocket"],
            auth=auth,
            headers=headers or {},
            wait_timeout=5,
        )
        return box

    async def refused(self, *, auth: Any = None, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """Try to connect; return the refusal's {code, message} (fails if it connected)."""
        sio = socketio.AsyncClient(reconnection=False)
        errors: list[Any] = []
        sio.on("connect_error", lambda data=None: errors.append(data))
        self.clients.append(sio)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sio.connect(
                self.url, transports=["websocket"], auth=auth, headers=headers or {}, wait_timeout=5
            )
        assert errors, "the server refused without saying why"
        return errors[0]["data"]


SYNC_EVENTS = ("session:join", "session:snapshot", "session:resume", "session:upgrade")


class Connected:
    """A socket.io client that records what the server pushes to it, and follows its session's
    feed exactly as the browser does (tests/follower.py): it holds frames while a join or
    resume is answered, resumes on a gap, and keeps the state a page would show."""

    def __init__(self, sio: socketio.AsyncClient) -> None:
        self.sio = sio
        self.received: list[tuple[str, Any]] = []
        self.feed = Follower()
        self._changed = asyncio.Event()
        self._resuming: asyncio.Task[None] | None = None
        self._refreshing: asyncio.Task[None] | None = None

    def listen(self) -> None:
        async def any_event(event: str, data: Any = None) -> None:
            self.received.append((event, data))
            if event == "session:feed":
                self._take(data)
            elif (
                event == "session:resync"
                and isinstance(data, dict)
                and data.get("session") == self.feed.session
            ):
                self._refresh()
            self._changed.set()

        self.sio.on("*", any_event)

    def _take(self, frame: Any) -> None:
        if self.feed.take(frame) == "gap":
            self._resume()

    def _resume(self) -> None:
        if self._resuming is not None and not self._resuming.done():
            return  # never two at once: the answer covers what this one would

        async def run() -> None:
            session, pos = self.feed.session, self.feed.pos
            self.feed.begin()
            ack: Any = None
            try:
                ack = await self.sio.call(
                    "session:resume", {"session": session, "since": list(pos or (0, 0))}, timeout=10
                )
            finally:
                for outcome in self.feed.settle(ack):
                    if outcome == "gap":
                        self._resuming = None
                        self._resume()
                self._changed.set()

        self._resuming = asyncio.ensure_future(run())

    def _refresh(self) -> None:
        """The server missed broadcasts: the whole state again, as the browser fetches it."""

        async def run() -> None:
            await self.wait_for(lambda c: not c.feed.syncing, timeout=15)  # after any answer on its way
            await self.call("session:snapshot", {}, timeout=10)

        self._refreshing = asyncio.ensure_future(run())

    async def call(self, event: str, *payload: Any, timeout: float = 5) -> Any:
        """Emit with an ack and return the ack (fails the test if none comes). A join,
        snapshot or resume also sets the followed state, as the browser's does."""
        sync = event in SYNC_EVENTS
        if sync:
            session = payload[0].get("session") if payload and isinstance(payload[0], dict) else None
            self.feed.begin(session if event == "session:join" else None)
        ack: Any = None
        try:
            ack = (
                await self.sio.call(event, *payload, timeout=timeout)
                if payload
                else await self.sio.call(event, timeout=timeout)
            )
        finally:
            if sync:
                for outcome in self.feed.settle(ack):
                    if outcome == "gap":
                        self._resume()
                self._changed.set()
        return ack

    def events(self, name: str) -> list[Any]:
        return [data for event, data in self.received if event == name]

    def frames(self) -> list[dict[str, Any]]:
        """Every `session:feed` frame this client received (whatever became of it)."""
        return [d for d in self.events("session:feed") if isinstance(d, dict)]

    def parts(self, name: str) -> list[dict[str, Any]]:
        """One kind of change (qa, stage, clock, presence, votes, reactions, online, info,
        mine) from every frame received, with the frame's end version as `v`."""
        out = []
        for f in self.frames():
            if name in f:
                part = f[name]
                if isinstance(part, dict):
                    out.append({**part, "v": f["to"][0], "to": tuple(f["to"])})
                else:
                    out.append({"items": part, "v": f["to"][0], "to": tuple(f["to"])})
        return out

    @property
    def state(self) -> dict[str, Any]:
        """The session as this client's page would show it now."""
        return self.feed.state

    async def wait_for(self, predicate: Any, timeout: float = 5.0) -> Any:
        """Wait until predicate(self) is truthy; return its value."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"timed out; received: {self.received[-5:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.25))

    def last_count(self, session_id: str) -> int | None:
        if self.feed.session != session_id:
            return None
        return self.feed.total()

    async def disconnect(self) -> None:
        await self.sio.disconnect()


async def start_server(settings: Settings) -> Running:
    app = create_app(settings)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", settings.port)
    await site.start()
    return Running(app=app, settings=settings, runner=runner)


async def stop_server(running: Running) -> None:
    for client in running.clients:
        if client.connected:
            await client.disconnect()
    await running.runner.cleanup()


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module to start the server with other settings."""
    return {}


@pytest.fixture
async def server(
    clean_redis: str, tmp_path: Path, settings_overrides: dict[str, Any]
) -> AsyncIterator[Running]:
    """A real Podium worker on a real port, against the emptied store."""
    running = await start_server(make_settings(clean_redis, tmp_path, **settings_overrides))
    yield running
    await stop_server(running)


@dataclass
class OwnStore:
    """A Podium worker on a private embedded Valkey the test may stop, freeze or start again
    (on the same port and data), with a world made on it."""

    store: EmbeddedRedis
    server: Running
    world: World

    def freeze(self) -> None:
        """SIGSTOP the store: it hangs, its connections stay open."""
        assert self.store.process is not None
        self.store.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        if self.store.process is not None and self.store.process.poll() is None:
            self.store.process.send_signal(signal.SIGCONT)


@pytest.fixture
async def own(
    tmp_path: Path, http: aiohttp.ClientSession, settings_overrides: dict[str, Any]
) -> AsyncIterator[OwnStore]:
    """A worker on its own store (short store timeouts, as a test of store trouble wants)."""
    store = EmbeddedRedis(tmp_path / "own")
    url = store.start()
    values = {"redis_socket_timeout": 1.0, **settings_overrides}
    running = await start_server(make_settings(url, tmp_path, **values))
    box: OwnStore | None = None
    try:
        world = await make_world(Api(http, running.url, await running.organizer_token()))
        box = OwnStore(store, running, world)
        yield box
    finally:
        if box is not None:
            box.thaw()
        await stop_server(running)
        store.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Api:
    """The JSON API as an organizer (or anyone) sees it."""

    def __init__(self, http: aiohttp.ClientSession, base: str, token: str | None) -> None:
        self.http = http
        self.base = base
        self.token = token

    async def request(
        self, method: str, path: str, body: Any = None, **kw: Any
    ) -> tuple[int, dict[str, Any]]:
        headers = dict(kw.pop("headers", {}))
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = kw.pop("data", None)
        if body is not None:
            data = json.dumps(body)
        async with self.http.request(method, self.base + path, data=data, headers=headers, **kw) as r:
            return r.status, await r.json()

    async def ok(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        status, data = await self.request(method, path, body)
        assert data["ok"], (status, data)
        return data


@pytest.fixture
async def org(server: Running, http: aiohttp.ClientSession) -> Api:
    """The API as the start-up organizer."""
    return Api(http, server.url, await server.organizer_token())


@dataclass
class World:
    """An event with two sessions, links for every role, and an audience identity."""

    event: dict[str, Any]
    sessions: list[dict[str, Any]]
    tokens: dict[str, str]
    participant: dict[str, Any] = field(default_factory=dict)

    @property
    def session(self) -> str:
        return str(self.sessions[0]["id"])


async def make_world(org: Api) -> World:
    data = await org.ok(
        "POST",
        "/api/events",
        {"name": "Innovation Day", "time_zone": "Asia/Shanghai", "languages": ["zh-CN", "en", "he"]},
    )
    event = data["event"]
    sessions = []
    for title, start, end in (
        ("Opening greeting", "2026-12-03T09:30", "2026-12-03T09:45"),
        ("Science without borders", "2026-12-03T09:45", "2026-12-03T10:45"),
    ):
        s = await org.ok(
            "POST",
            f"/api/events/{event['id']}/sessions",
            {"title": title, "starts_at": start, "ends_at": end},
        )
        sessions.append(s["session"])
    tokens = {}
    for role in ("moderator", "speaker", "screen", "interpreter"):
        inv = await org.ok(
            "POST", f"/api/events/{event['id']}/invites", {"role": role, "session_id": sessions[0]["id"]}
        )
        tokens[role] = inv["token"]
    inv = await org.ok("POST", f"/api/events/{event['id']}/invites", {"role": "organizer"})
    tokens["organizer"] = inv["token"]
    return World(event=event, sessions=sessions, tokens=tokens)


@pytest.fixture
async def world(org: Api) -> World:
    return await make_world(org)


async def audience_token(
    http: aiohttp.ClientSession, server: Running, code: str, name: str | None = None
) -> str:
    """A fresh audience identity (as a phone gets by joining with the code)."""
    body = {} if name is None else {"name": name}
    async with http.post(f"{server.url}/api/codes/{code}/join", json=body) as r:
        data = await r.json()
        assert data["ok"], data
        return str(data["participant"]["token"])


async def join_session(
    server: Running, world: World, auth: dict[str, Any], session: str | None = None
) -> tuple[Connected, dict[str, Any]]:
    """A new socket with these credentials, joined to a session of the world: (client, snapshot)."""
    c = await server.client(auth=auth)
    ack = await c.call("session:join", {"session": session or world.session})
    assert ack["ok"], ack
    return c, ack


async def person(
    server: Running, world: World, http: aiohttp.ClientSession, name: str | None = None
) -> Connected:
    """A new audience member (a phone that joined with the code) in the world's first session."""
    c = await server.client(
        auth={"participant": await audience_token(http, server, world.event["code"], name)}
    )
    assert (await c.call("session:join", {"session": world.session}))["ok"]
    return c


async def moderator(server: Running, world: World) -> Connected:
    """The world's moderator, in its first session."""
    c, _ = await join_session(server, world, {"token": world.tokens["moderator"]})
    return c


async def speaker_links(
    org: Api, world: World, n: int, session: str | None = None, label: str = "Speaker"
) -> list[tuple[str, str]]:
    """n fresh speaker links for a session: [(invite id, token)], labelled "<label> <i>"."""
    links = []
    for i in range(n):
        inv = await org.ok(
            "POST",
            f"/api/events/{world.event['id']}/invites",
            {"role": "speaker", "session_id": session or world.session, "label": f"{label} {i}"},
        )
        links.append((inv["invite"]["id"], inv["token"]))
    return links


async def fence(world: World, mod: Connected, *clients: Connected) -> int:
    """A clock change, logged for everyone in the session; waits until each client has applied
    it. Whatever was logged before it has then reached them too."""
    ack = await mod.call("stage:timer", {"session": world.session, "action": "add", "seconds": 1})
    assert ack["ok"], ack
    for c in (mod, *clients):
        await c.wait_for(lambda c: c.feed.pos is not None and c.feed.pos >= (ack["v"], 0))
    return int(ack["v"])


from tests.janus import janus, janus_binary  # noqa: E402, F401  (the fixtures, for the SFU tests)
from tests.turn import coturn, coturn_secret, turnserver_path  # noqa: E402, F401  (the fixtures, for every test)
