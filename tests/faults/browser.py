"""Podium's page as a fault test needs it: web/static/js/live.js over one picows websocket,
cheap enough that hundreds of pages fit in the test process beside the workers.

The wire is bench/phones.py's (Engine.IO v4 and Socket.IO v5, just enough of them); the
session is kept by tests/follower.py, the Python twin of live.js. What a page does, as the
browser does:

- every request resolves: its ack, or `unavailable` at once when the connection drops (as
  socket.io-client rejects an ack with a timeout on disconnect), or after 8 s;
- a join, snapshot or resume holds the frames that arrive meanwhile; a gap resumes from the
  position; a `reset` frame is taken whole; `session:resync` fetches a snapshot (after the
  answer on its way, if any);
- a dropped connection comes back spread over the server's `hints.spread_ms`, else with
  socket.io-client's backoff (0.5 s doubling to 10 s, +-50 %), then joins again with the
  position it holds (`since`); a join refused `unavailable` or `rate_limited` is asked again
  after `retry_after` plus jitter, six times;
- a refused connect that is retryable is sent again after `retry_after` (x1 to x2); one
  that is not, or a socket Podium closes on purpose (Socket.IO DISCONNECT), stays closed.

Where a browser's connection would go through a load balancer to some worker, a page tries
its workers' addresses in turn, from its own (a worker that is down refuses at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from typing import Any

import orjson
from picows import WSListener, WSMsgType, WSTransport, ws_connect

from tests.follower import Follower

ACK_TIMEOUT_S = 8.0
RETRYABLE = ("unavailable", "rate_limited")
FEED = b'42["session:feed",'


def no_ack(message: str) -> dict[str, Any]:
    """What a request resolves to when no answer came (live.js: `unavailable`)."""
    return {"ok": False, "error": {"code": "unavailable", "message": message}, "no_ack": True}


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) of values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


class Crowd:
    """The pages of one test: their background tasks and their reconnects."""

    def __init__(self) -> None:
        self.pages: list[Page] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.stopping = False
        self.back: list[float] = []  # seconds from each lost connection to joined again

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def page(self, name: str, auth: dict[str, Any], urls: list[str], home: int = 0) -> Page:
        page = Page(self, name, auth, urls, home)
        self.pages.append(page)
        return page

    async def enter(self, pages: list[Page], session: str, concurrency: int = 50) -> None:
        """Open and join these pages, a few at a time; fails if one cannot."""
        gate = asyncio.Semaphore(concurrency)

        async def one(page: Page) -> None:
            async with gate:
                assert await page.enter(session), f"{page.name} could not join: {page.refusal}"

        await asyncio.gather(*(one(p) for p in pages))

    def reconnects(self) -> str:
        """'p50 / p99' of the reconnect times so far (or '-' when nobody lost a connection)."""
        if not self.back:
            return "-"
        return f"{percentile(self.back, 50):.2f} / {percentile(self.back, 99):.2f} s"

    async def close(self) -> None:
        self.stopping = True
        for page in self.pages:
            page.close()
        for task in list(self.tasks):
            task.cancel()
        with contextlib.suppress(Exception):
            await asyncio.gather(*self.tasks, return_exceptions=True)


class Page(WSListener):  # type: ignore[misc]
    """One browser tab of Podium's (audience, moderator or screen: the auth says which)."""

    def __init__(self, crowd: Crowd, name: str, auth: dict[str, Any], urls: list[str], home: int) -> None:
        self.crowd = crowd
        self.name = name
        self.auth = auth
        self.urls = urls
        self.home = home % len(urls)
        self.feed = Follower()
        self.session: str | None = None
        self.transport: WSTransport | None = None
        self.url: str | None = None  # the worker this page is connected to
        self.connected = False  # Socket.IO CONNECT done
        self.joined = False
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_id = 0
        self.spread_ms = 0
        self.refresh_due = False
        self.closing = False  # closed by the test (the tab was closed)
        self.ended = False  # closed by Podium on purpose, or refused for good: stays closed
        self.refusal: dict[str, Any] | None = None
        self.closed: list[dict[str, Any]] = []  # `connection:closed` messages
        self.heard: list[tuple[str, Any]] = []  # every other event but the feed's
        self.resyncs = 0
        self.lost_at: float | None = None
        self.closed_at: float | None = None  # when the connection ended (or Podium said it would)
        self.back_at: float | None = None  # when the page last joined again after a drop
        self.drops = 0
        self._ready: asyncio.Future[Any] | None = None
        self._joined = asyncio.Event()

    # --- the wire -------------------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if transport is not self.transport:
            return  # an earlier connection's last word
        was_connected = self.connected
        self.closed_at = self.closed_at or time.monotonic()
        self.connected = self.joined = False
        self._joined.clear()
        for fut in self.acks.values():
            if not fut.done():
                fut.set_result(no_ack("disconnected"))
        self.acks.clear()
        if self._ready is not None and not self._ready.done():
            self._ready.set_result(("failed", None))
        if was_connected and not self.closing and not self.ended and not self.crowd.stopping:
            self.drops += 1
            self.lost_at = time.monotonic()
            self.crowd.spawn(self.come_back())

    def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            return
        data = frame.get_payload_as_bytes()
        kind = data[:1]
        if kind == b"2":  # Engine.IO ping
            transport.send(WSMsgType.TEXT, b"3")
        elif kind == b"0":  # Engine.IO open: sign in
            self._send_connect()
        elif kind == b"4":
            self._socketio(data)

    def _socketio(self, data: bytes) -> None:
        sub = data[1:2]
        if sub == b"2":
            if data.startswith(FEED):
                self._take(orjson.loads(data[len(FEED) : -1]))
                return
            event, *args = orjson.loads(data[2:])
            payload = args[0] if args else None
            self.heard.append((event, payload))
            if event == "connection:closed":
                self.closed.append(payload)
            elif (
                event == "session:resync"
                and isinstance(payload, dict)
                and payload.get("session") == self.session
            ):
                self.resyncs += 1
                self.crowd.spawn(self.refresh())
        elif sub == b"3":
            i = 2
            while data[i : i + 1].isdigit():
                i += 1
            fut = self.acks.pop(int(data[2:i]), None)
            if fut is not None and not fut.done():
                fut.set_result(orjson.loads(data[i:])[0])
        elif sub == b"0":
            self.connected = True
            self.closed_at = None
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(("ok", None))
        elif sub == b"4":  # CONNECT refused
            info = orjson.loads(data[2:]) if len(data) > 2 else {}
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(("refused", info.get("data", info)))
        elif sub == b"1":  # "io server disconnect": closed on purpose, not to be reconnected
            self.ended = True
            self.closed_at = time.monotonic()

    def _send_connect(self) -> None:
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.send(WSMsgType.TEXT, b"40" + orjson.dumps(self.auth))

    def request(self, event: str, payload: Any, timeout: float = ACK_TIMEOUT_S) -> asyncio.Future[Any]:
        """Send an event with an ack; the future always resolves (see the module's docstring)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if self.transport is None or not self.connected:
            fut.set_result(no_ack("not connected"))
            return fut
        self.next_id += 1
        ack_id = self.next_id
        self.acks[ack_id] = fut
        self.transport.send(WSMsgType.TEXT, b"42" + str(ack_id).encode() + orjson.dumps([event, payload]))

        def expire() -> None:
            if not fut.done():
                self.acks.pop(ack_id, None)
                fut.set_result(no_ack("timed out"))

        loop.call_later(timeout, expire)
        return fut

    # --- connecting -----------------------------------------------------------------------

    async def open(self) -> bool:
        """Connect to the first worker that takes the socket (from this page's own); False if
        none did, or Podium refused for good (then `ended`)."""
        for i in range(len(self.urls)):
            url = self.urls[(self.home + i) % len(self.urls)]
            if await self._open(url):
                return True
            if self.ended or self.crowd.stopping:
                return False
        return False

    async def _open(self, url: str) -> bool:
        loop = asyncio.get_running_loop()
        self._ready = loop.create_future()
        self.connected = False
        ws = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        try:
            await ws_connect(lambda: self, ws, websocket_handshake_timeout=5)
        except Exception:
            return False  # refused before the websocket opened (a worker down, a door shut)
        while True:
            try:
                outcome, info = await asyncio.wait_for(asyncio.shield(self._ready), 10)
            except TimeoutError:
                outcome, info = "failed", None
            if outcome == "ok":
                self.url = url
                return True
            if outcome == "refused" and isinstance(info, dict) and info.get("code") in RETRYABLE:
                # Podium is busy or cannot reach its store: come back when it says.
                await asyncio.sleep(float(info.get("retry_after", 1)) * (1 + random.random()))
                self._ready = loop.create_future()
                if self.transport is None or self.transport.is_disconnected:
                    return False
                self._send_connect()
                continue
            if outcome == "refused":
                self.ended, self.refusal = True, info
            self._drop()
            return False

    def _drop(self) -> None:
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.disconnect()

    async def come_back(self) -> None:
        """A lost connection, as live.js handles it: spread, then backoff; join with `since`."""
        lost = self.lost_at or time.monotonic()
        attempt = 0
        while not self.crowd.stopping and not self.ended and not self.closing:
            if attempt == 0 and self.spread_ms > 0:
                await asyncio.sleep(random.random() * self.spread_ms / 1000)
            else:
                await asyncio.sleep(min(10.0, 0.5 * 2 ** max(0, attempt - 1)) * (0.5 + random.random()))
            attempt += 1
            if self.crowd.stopping or self.ended or self.closing:
                return
            if await self.open():
                if await self.join():
                    self.back_at = time.monotonic()
                    self.crowd.back.append(self.back_at - lost)
                return  # a join refused for good leaves the page as the browser's is left

    async def enter(self, session: str) -> bool:
        """Open the page on a session: connect, then join."""
        self.session = session
        return await self.open() and await self.join()

    # --- the session ----------------------------------------------------------------------

    async def join(self) -> bool:
        """session:join, with the position held after a reconnect (live.js `join`)."""
        assert self.session is not None
        payload: dict[str, Any] = {"session": self.session}
        if self.feed.pos is not None:
            payload["since"] = list(self.feed.pos)
        self.feed.begin(self.session)
        ack = await self.request("session:join", payload)
        attempt = 1
        while not ack["ok"] and ack["error"]["code"] in RETRYABLE and attempt <= 6:
            base = float(ack["error"].get("retry_after", 1))
            await asyncio.sleep(base + random.random() * min(attempt, 4))
            if not self.connected:
                break
            ack = await self.request("session:join", payload)
            attempt += 1
        if not ack["ok"] and not ack.get("no_ack"):
            self.refusal = ack["error"]
        self._settle(ack)
        if ack["ok"]:
            self.spread_ms = int((ack.get("hints") or {}).get("spread_ms", self.spread_ms))
            self.joined = True
            self._joined.set()
        return bool(ack["ok"])

    def _settle(self, ack: Any) -> None:
        for outcome in self.feed.settle(ack):
            if outcome == "gap":
                self.crowd.spawn(self.resume())
        if self.refresh_due and not self.feed.syncing:
            self.refresh_due = False
            self.crowd.spawn(self.refresh())

    def _take(self, frame: dict[str, Any]) -> None:
        if self.feed.take(frame) == "gap":
            self.crowd.spawn(self.resume())

    async def resume(self) -> None:
        """Missed frames: what changed since the position (never two requests at once)."""
        if self.feed.syncing or not self.joined:
            return
        self.feed.begin()
        ack = await self.request(
            "session:resume", {"session": self.session, "since": list(self.feed.pos or (0, 0))}
        )
        self._settle(ack)

    async def refresh(self) -> None:
        """The whole state again (the server missed broadcasts), after any answer on its way."""
        if self.feed.syncing:
            self.refresh_due = True
            return
        self.feed.begin()
        self._settle(await self.request("session:snapshot", {}))

    def state_screen(self) -> str | None:
        """The question this page shows on screen."""
        return (self.feed.state.get("qa") or {}).get("screen")

    async def wait_joined(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._joined.wait(), timeout)
        return self.joined

    # --- the test's hands -----------------------------------------------------------------

    def cut(self, graceful: bool = False, elsewhere: bool = False) -> None:
        """The network drops this page's connection (no close handshake); it comes back (to
        another worker first, `elsewhere`, as a load balancer may send it)."""
        if elsewhere:
            self.home = (self.home + 1) % len(self.urls)
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.disconnect(graceful=graceful)

    def close(self) -> None:
        """The tab is closed."""
        self.closing = True
        self._drop()
