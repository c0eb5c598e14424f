"""The Socket.IO server: websocket-only, Origin-checked, broadcasting through Redis."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import socketio
from aiohttp import WSMsgType, web
from engineio.async_drivers import aiohttp as eio_aiohttp

from server import appkeys
from server.realtime import backstage, handlers, qa, reactions, rtc, session, stage
from server.realtime.engine import LeanEngine

logger = logging.getLogger(__name__)


class PodiumRedisManager(socketio.AsyncRedisManager):  # type: ignore[misc]
    """AsyncRedisManager that can also close every socket of a room on every worker.

    Used when an invite is revoked or an event deleted. It rides on the manager's own
    'disconnect' message (sid None, room set), so no second subscription is needed.
    """

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
            await socketio.AsyncManager.emit(self, event, data, namespace=ns, room=target, skip_sid=skip_sid)
            return
        await super().emit(
            event, data, namespace=namespace, room=room, skip_sid=skip_sid, callback=callback, to=to, **kwargs
        )

    def _redis_connect(self) -> None:
        """As AsyncRedisManager's, but the clients of the connection that failed are closed,
        not left for the collector (their sockets would stay open until then)."""
        old = [c for c in (getattr(self, "pubsub", None), getattr(self, "redis", None)) if c is not None]
        super()._redis_connect()
        if old:
            task = asyncio.get_running_loop().create_task(_close_quietly(old))
            self._closing = task  # keep a reference until it is done

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
        with contextlib.suppress(Exception):
            await client.aclose()


def create_sio(app: web.Application) -> socketio.AsyncServer:
    """Build the server and its handlers for one app (no module-level server)."""
    settings = app[appkeys.SETTINGS]
    manager = PodiumRedisManager(
        settings.redis_url,
        channel="podium:socketio",
        redis_options={
            "socket_timeout": None,  # the listener blocks on pub/sub by design
            "socket_connect_timeout": settings.redis_socket_timeout,
            "health_check_interval": settings.redis_health_check_interval,
        },
    )
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
    session.register(sio, app)
    qa.register(sio, app)
    reactions.register(sio, app)
    stage.register(sio, app)
    rtc.register(sio, app)
    backstage.register(sio, app)
    handlers.register_unknown(sio)
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
    """Stop the listener and close the manager's Redis connections."""
    manager = sio.manager
    task = getattr(manager, "thread", None)
    if task is not None:
        task.cancel()
        # Bounded: a cancel absorbed inside the Redis client must not hold shutdown.
        await asyncio.wait({task}, timeout=2)
    for name in ("pubsub", "redis"):
        client = getattr(manager, name, None)
        if client is not None:
            try:
                await client.aclose()
            except Exception:
                logger.debug("closing the manager's %s failed", name, exc_info=True)
    manager.connected = False
