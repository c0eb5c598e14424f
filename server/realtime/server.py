"""The Socket.IO server: websocket-only, Origin-checked, broadcasting through Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

import socketio
from aiohttp import WSMsgType, web
from engineio.async_drivers import aiohttp as eio_aiohttp
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from socketio.redis_manager import parse_redis_sentinel_url

from server import appkeys
from server.metrics import Metrics
from server.realtime import backstage, handlers, polls, qa, reactions, rtc, session, sfu, stage
from server.realtime.doors import Doors
from server.realtime.engine import LeanEngine
from server.store.connection import parse_cluster_url

logger = logging.getLogger(__name__)


class PodiumRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """AsyncRedisManager that knows when it is deaf, and can close a room on every worker.

    Its subscription proves itself: every BEAT_S the worker publishes a beat on the channel,
    and hearing any message (its own beats included) shows the subscription works. Hearing
    nothing for DEAF_AFTER_S marks the worker deaf (`/readyz` says so); a subscription that
    stays silent while connected is torn down and made again, and one that failed is retried
    every RETRY_S (python-socketio backs off to a minute). Once it hears again,
    `on_recovered` runs: what was broadcast meanwhile was lost, and the sockets that depend
    on broadcasts are made to re-sync.

    Publishing and listening use separate clients: a failed publish makes a new publisher
    without touching the subscription, and publishing has a timeout while listening has none.

    On a Redis Cluster the channel is a sharded one (SPUBLISH/SSUBSCRIBE): it lives on the
    shard that serves its slot, and a message goes to that shard's nodes only, where a
    classic PUBLISH is relayed to every node of the Cluster. Should that shard fail over,
    the subscription falls silent and is made again (above) on the shard's new primary.
    """

    BEAT_S = 0.5
    DEAF_AFTER_S = 1.5
    RETRY_S = 0.5

    def __init__(self, *args: Any, publish_timeout: float = 5.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.publish_timeout = publish_timeout
        self.heard_at = time.monotonic()
        self.deaf_since: float | None = None
        self.on_recovered: Callable[[], Awaitable[None]] | None = None
        self._beat = b"podium-beat:" + self.host_id.encode()
        self.cluster = parse_cluster_url(self.redis_url)
        self._sub_client: Any = None
        self._closing: set[asyncio.Task[None]] = set()  # replaced clients being closed
        # Set by stop(): a socket closed after it (its disconnect may broadcast) must not make
        # a new client that nobody would close.
        self._stopped = False
        self._watch: asyncio.Task[None] | None = None
        self._recovering: asyncio.Task[None] | None = None
        self.metrics: Metrics | None = None  # counts emits, local and published

    def initialize(self) -> None:
        super().initialize()
        if not self.write_only:
            self.heard_at = time.monotonic()
            self._watch = asyncio.get_running_loop().create_task(
                self._watch_loop(), name="subscription watch"
            )

    async def emit(  # noqa: PLR0917 (python-socketio's own signature)
        self,
        event: str,
        data: Any,
        namespace: str | None = None,
        room: str | None = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: str | None = None,
        **kwargs: Any,
    ) -> None:
        """As AsyncRedisManager.emit, but a message to one socket held by this worker (a
        relayed WebRTC signal, an ack-less reply) is not published to every other worker."""
        target = to or room
        ns = namespace or "/"
        if callback is None and isinstance(target, str) and self.eio_sid_from_sid(target, ns) is not None:
            if self.metrics is not None:
                self.metrics.emits_local.inc()
            await socketio.AsyncManager.emit(self, event, data, namespace=ns, room=target, skip_sid=skip_sid)
            return
        if self.metrics is not None:
            self.metrics.emits_published.inc()
        await super().emit(
            event, data, namespace=namespace, room=room, skip_sid=skip_sid, callback=callback, to=to, **kwargs
        )

    def _new_client(self, *, listening: bool) -> Any:
        """A client on the store (or the primary its Sentinels name)."""
        module = self._get_redis_module()
        options = dict(self.redis_options)
        options["socket_timeout"] = None if listening else self.publish_timeout
        if self.cluster is not None:
            return RedisCluster(**self.cluster.options(), **options)
        if urlparse(self.redis_url).scheme in {"redis+sentinel", "valkey+sentinel"}:
            sentinels, service, connection_kwargs = parse_redis_sentinel_url(self.redis_url)
            sentinel = module.sentinel.Sentinel(sentinels, **{**options, **connection_kwargs})
            return sentinel.master_for(service or self.channel)
        return module.Redis.from_url(self.redis_url, **options)

    def _redis_connect(self) -> None:
        """The publishing client (python-socketio calls this again after a failed publish);
        the client it replaces is closed, not left for the collector."""
        if self._stopped:
            raise RedisConnectionError("the worker is stopping: no more broadcasts")
        old: Any = getattr(self, "redis", None)
        self.redis = self._new_client(listening=False)
        self.connected = True
        if old is not None:
            self._close_later([old])

    def _close_later(self, clients: list[Any]) -> None:
        task = asyncio.get_running_loop().create_task(_close_quietly(clients))
        # Held until done (the loop keeps only weak references to tasks), and waited for by
        # stop(): a close still pending when the loop ends would leave its sockets open.
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _redis_listen_with_retries(self) -> AsyncIterator[Any]:
        failing = False
        while not self._stopped:
            client = self._new_client(listening=True)
            old, self._sub_client = self._sub_client, client
            if old is not None:
                self._close_later([old])
            self.pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                messages = await self._subscribe(self.pubsub)
                if failing:
                    logger.warning("broadcast channel subscribed again")
                failing = False
                async for message in messages:
                    yield message
            except Exception as exc:
                if not failing:
                    logger.warning("broadcast subscription lost: %s", exc or type(exc).__name__)
                failing = True
                # Deaf from now: whatever is broadcast before the subscription is made again
                # is lost, however short the gap, so hearing again must re-sync (_heard).
                if self.deaf_since is None:
                    self.deaf_since = time.monotonic()
                await asyncio.sleep(self.RETRY_S * (0.5 + random.random() / 2))

    async def _subscribe(self, pubsub: Any) -> AsyncIterator[Any]:
        """Subscribe to the channel; its messages (sharded on a Cluster)."""
        if self.cluster is None:
            await pubsub.subscribe(self.channel)
            return pubsub.listen()  # type: ignore[no-any-return]
        await pubsub.cluster.initialize()  # the subscription needs to know which node serves the slot
        await pubsub.ssubscribe(self.channel)
        return self._sharded(pubsub)

    async def _sharded(self, pubsub: Any) -> AsyncIterator[Any]:
        while True:
            message = await pubsub.get_sharded_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is not None:
                yield message

    async def _send(self, payload: Any) -> Any:
        """PUBLISH on the channel (SPUBLISH on a Cluster)."""
        if self.cluster is None:
            return await self.redis.publish(self.channel, payload)
        return await self.redis.spublish(self.channel, payload)

    async def _publish(self, data: Any) -> Any:
        """As AsyncRedisManager._publish (two attempts, a new client for the second), on
        this manager's channel, sharded or not. Nothing once the manager stopped."""
        if self._stopped:
            logger.debug("broadcast after stop not sent")
            return None
        for attempt in range(2):
            try:
                if not self.connected:
                    self._redis_connect()
                return await self._send(self.json.dumps(data))
            except Exception as exc:
                self.connected = False
                logger.error(
                    "cannot publish a broadcast (%s): %s", "retrying" if not attempt else "giving up", exc
                )
        return None

    async def _listen(self) -> AsyncIterator[Any]:
        channel = self.channel.encode("utf-8")
        async for message in self._redis_listen_with_retries():
            kind = message["type"]
            if message["channel"] != channel or kind not in ("message", "smessage") or "data" not in message:
                continue
            self._heard()
            data = message["data"]
            if isinstance(data, bytes) and data.startswith(b"podium-beat:"):
                continue
            yield data

    def _heard(self) -> None:
        self.heard_at = time.monotonic()
        if self.deaf_since is not None:
            logger.warning("broadcast channel heard again after %.1f s deaf", self.heard_at - self.deaf_since)
            self.deaf_since = None
            if self.on_recovered is not None and (self._recovering is None or self._recovering.done()):
                self._recovering = asyncio.get_running_loop().create_task(self._recover())

    async def _recover(self) -> None:
        assert self.on_recovered is not None
        try:
            await self.on_recovered()
        except Exception:
            logger.exception("re-syncing after a deaf spell failed")

    async def _watch_loop(self) -> None:
        """Beat, and notice silence (see the class's docstring)."""
        while True:
            await asyncio.sleep(self.BEAT_S)
            try:
                if not self.connected:
                    self._redis_connect()
                await asyncio.wait_for(self._send(self._beat), self.publish_timeout)
            except Exception as exc:
                self.connected = False
                logger.debug("beat not published: %s", exc)
            silent = time.monotonic() - self.heard_at
            if silent <= self.DEAF_AFTER_S:
                continue
            if self.deaf_since is None:
                self.deaf_since = self.heard_at
                logger.warning("broadcast channel silent for %.1f s: this worker is deaf", silent)
                continue
            listener: Any = getattr(self, "thread", None)
            if silent > 2 * self.DEAF_AFTER_S and listener is not None:
                # Connected but silent (a half-open connection, a killed subscription the
                # client has not noticed): listen again from scratch.
                self.heard_at = time.monotonic() - self.DEAF_AFTER_S
                logger.warning("restarting the broadcast subscription")
                listener.cancel()
                self.thread = self.server.start_background_task(self._thread)

    async def stop(self) -> None:
        """Stop listening and watching; close every client."""
        self._stopped = True
        tasks = {t for t in (self._watch, getattr(self, "thread", None)) if t is not None}
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: a cancel absorbed inside the Redis client must not hold shutdown.
            await asyncio.wait(tasks, timeout=2)
        await _close_quietly([c for c in (self._sub_client, self.redis) if c is not None])
        if self._closing:
            await asyncio.wait(set(self._closing), timeout=2)
        self.connected = False

    async def disconnect_room(self, room: str, namespace: str = "/") -> None:
        """Disconnect the room's sockets here and on every other worker."""
        message = {
            "method": "disconnect",
            "sid": None,
            "room": room,
            "namespace": namespace,
            "host_id": self.host_id,
        }
        await self._disconnect_local_room(room, namespace)
        await self._publish(message)

    async def _disconnect_local_room(self, room: str, namespace: str) -> None:
        sids = [sid for sid, _eio in self.get_participants(namespace, room)]
        for sid in sids:
            await self.server.disconnect(sid, namespace=namespace, ignore_queue=True)

    async def _handle_disconnect(self, message: dict[str, Any]) -> None:
        if message.get("sid") is None and isinstance(message.get("room"), str):
            await self._disconnect_local_room(message["room"], message.get("namespace") or "/")
        else:
            await super()._handle_disconnect(message)


class PlainWebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
    """engine.io's aiohttp websocket without per-message deflate.

    Deflate costs ~100 KB of memory per connection and a zlib pass per frame on both ends
    (measured: 138 KB against 35.5 KB a connection; a phone inflates a frame in 165 µs
    against 35 µs), for frames of a few hundred bytes; and the session feed writes its
    frames to the connection as they are, which a compressed stream would not allow."""

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        request = environ["aiohttp.request"]
        self._sock = web.WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
        await self._sock.prepare(request)
        self.transport = request.transport  # the engine and the feed write frames here
        await self.handler(self)
        return self._sock

    async def receive(self) -> str | bytes | None:
        """The next message, None once the client closed (or the connection was aborted)."""
        msg = await self._sock.receive()
        if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
            return msg.data  # type: ignore[no-any-return]
        return None


class PodiumServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio's server on LeanEngine (engine.py)."""

    def _engineio_server_class(self) -> type:
        return LeanEngine


async def _close_quietly(clients: list[Any]) -> None:
    for client in clients:
        # A client from Sentinel.master_for() leaves the Sentinel's own connections open:
        # they are closed too, also when closing the client failed (a primary gone mid-failover).
        sentinel = getattr(getattr(client, "connection_pool", None), "sentinel_manager", None)
        with contextlib.suppress(Exception):
            await client.aclose()
        if sentinel is not None:
            with contextlib.suppress(Exception):
                await sentinel.aclose()


def create_sio(app: web.Application) -> socketio.AsyncServer:
    """Build the server and its handlers for one app (no module-level server)."""
    settings = app[appkeys.SETTINGS]
    manager = PodiumRedisManager(
        settings.redis_url,
        channel="podium:socketio",
        publish_timeout=settings.redis_socket_timeout,
        redis_options={
            "socket_connect_timeout": settings.redis_socket_timeout,
            "health_check_interval": settings.redis_health_check_interval,
            "client_name": "podium-broadcast",  # in CLIENT LIST (and in any leak report)
        },
    )
    manager.metrics = app[appkeys.METRICS] if settings.metrics_enabled else None
    sio = PodiumServer(
        async_mode="aiohttp",
        client_manager=manager,
        # Websocket only: no long-polling, so no request of a connection can land on
        # another worker and no sticky sessions are needed.
        transports=["websocket"],
        # Origins are checked in the connect handler, which can then say why it refused.
        cors_allowed_origins=lambda _origin: True,
        max_http_buffer_size=settings.max_payload_bytes,
        # A phone that vanishes without closing (tunnel, flight mode) is dropped after
        # ping_interval + ping_timeout: 25 s, inside presence's 30 s promise. Pings are most of
        # what 10,000 idle phones cost a worker (a write and a read each): every 15 s, not 10.
        ping_interval=15,
        ping_timeout=10,
        logger=False,
        engineio_logger=False,
    )
    # This server's own copy of the driver table: no other engine.io server is touched.
    sio.eio._async = {**sio.eio._async, "websocket": PlainWebSocket}
    sio.eio.doors = Doors(
        per_address=settings.connections_per_address,
        unauthenticated=settings.unauthenticated,
        auth_deadline_s=settings.auth_deadline_s,
        trusted_proxies=settings.trusted_proxies,
    )
    sio.eio.send_buffer_max = settings.send_buffer_bytes
    app[appkeys.DOORS] = sio.eio.doors
    session.register(sio, app)
    qa.register(sio, app)
    polls.register(sio, app)
    reactions.register(sio, app)
    stage.register(sio, app)
    rtc.register(sio, app)
    sfu.register(sio, app)
    backstage.register(sio, app)
    handlers.register_unknown(sio, app)
    return sio


async def close_all(sio: socketio.AsyncServer) -> None:
    """On shutdown, tell this worker's sockets to go (clients reconnect to another worker).

    engine.io's own disconnect() waits for each socket's send queue to drain, which never
    happens for a client that is already gone; close without waiting instead.
    """
    eio = sio.eio
    for eio_sid, sock in list(eio.sockets.items()):
        try:
            await asyncio.wait_for(sock.close(wait=False, reason=eio.reason.SERVER_DISCONNECT), 1.0)
        except Exception:
            logger.debug("closing %s failed", eio_sid, exc_info=True)
        eio.sockets.pop(eio_sid, None)


def start_manager(sio: socketio.AsyncServer) -> None:
    """Subscribe to the broadcast channel now, not at the first connection."""
    if not sio.manager_initialized:
        sio.manager_initialized = True
        sio.manager.initialize()


async def stop_manager(sio: socketio.AsyncServer) -> None:
    """Stop the listener and the watch, and close the manager's Redis connections."""
    await sio.manager.stop()
