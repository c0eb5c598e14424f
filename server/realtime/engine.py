"""Engine.IO for a websocket-only server, without a task per socket for what the socket does.

python-engineio's socket keeps, per connection, a writer task waiting on a queue, a new task
(and a timer) for every message it reads, and a task sleeping until the next ping: three
tasks alive per connection beyond aiohttp's own handler, and a task switch for every packet
sent. Measured on Podium at 500 connections: ~34 KB of Python heap a connection; the
worker's CPU in a busy keynote went largely to task creation and queue wake-ups.

Here, once the websocket is up (Podium offers no other transport) a packet is written to
the connection at once: the frame is built and handed to the socket's transport in the
caller's step, as the session feed writes its frames. Reading waits on aiohttp's receive
(no task, no timer); the ping is a timer, and so is the check that its pong came (a late
pong closes the socket and aborts its transport), instead of the library's service task
walking every socket. What the library does otherwise
(handshake, ping timeouts, the server's service task, closing) is unchanged: only
`_handle_connect` is restated, to make this socket.

Podium runs websocket-only and without per-message deflate (server.py): both are
required, and checked.

What a client sends is looked at before python-socketio parses it (`inspect`): a packet
nested deeper than `validate.MAX_DEPTH` (a parser recurses once per level), a binary one
(Podium sends and takes none), an event whose name is not text or is one of the server's
own handlers, or JSON that does not parse, never reaches a handler. An event that asked for
an ack gets `invalid` as its one ack; anything else is dropped with one line at info (no
traceback: junk must not grow the logs faster than it arrives).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import struct
import time
from typing import Any

import engineio
from engineio import exceptions, packet
from engineio.async_socket import AsyncSocket
from socketio import packet as sio

from server.domain import validate
from server.errors import error
from server.realtime.doors import Doors

logger = logging.getLogger(__name__)

# A Socket.IO packet (socketio/packet.py): its type; "<n>-" attachments (binary packets
# only); "/<namespace>," unless the default; an ack id; then its JSON. Numbers are ASCII
# digits here, and an ack id has at most 100 (python-socketio refuses longer ones).
_HEAD = re.compile(r"(\d)(\d+-)?(/[^,]*,)?(\d{1,100})?(?!\d)", re.ASCII)
# Event names python-socketio gives to the server's own handlers, never to a client's event.
_RESERVED = frozenset({"connect", "disconnect", "*"})
_STRING = json.JSONDecoder()  # reads the event's name alone (a string: it starts with ")


def inspect(text: str) -> tuple[str | None, int | None]:
    """Why a client's Socket.IO packet must not reach python-socketio (None if it may go on),
    and the ack id an event on the default namespace asked for (None if it asked for none).
    Reads the packet's head, an event's name and the nesting of its JSON; parses no payload."""
    head = _HEAD.match(text)
    if head is None:
        return "Not a Socket.IO packet.", None
    kind, binary, namespace, ack_id = int(head[1]), head[2], head[3], head[4]
    default = namespace is None or namespace[:-1].partition("?")[0] == "/"
    ack = int(ack_id) if ack_id and default and kind in (sio.EVENT, sio.BINARY_EVENT) else None
    data = text[head.end() :]
    if validate.too_deep(data):
        return f"The payload is nested too deeply (at most {validate.MAX_DEPTH} levels).", ack
    if kind in (sio.CONNECT, sio.DISCONNECT):
        return None, None  # python-socketio answers these itself (a refusal says why)
    if binary is not None or kind in (sio.BINARY_EVENT, sio.BINARY_ACK):
        return "Podium takes no binary packets.", ack
    if kind not in (sio.EVENT, sio.ACK):
        return "Not a packet a client sends.", None
    if not default:
        return "Podium serves the default namespace only.", None
    if kind == sio.ACK:
        return (None, None) if data[:1] == "[" else ("An ack carries a list.", None)
    try:
        name = _STRING.raw_decode(data, 1)[0] if data.startswith('["') else None
    except ValueError:
        name = None
    if name is None:
        return "An event is a name and one payload object.", ack
    if name in _RESERVED:
        return "Unknown event.", ack
    return None, ack


def _namespace(text: str) -> str:
    """The namespace a Socket.IO packet names, as python-socketio reads it (query cut off)."""
    head = _HEAD.match(text)
    return (head[3][:-1].partition("?")[0] if head and head[3] else "") or "/"


def ws_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A complete, unmasked websocket frame (server to client) around payload."""
    n = len(payload)
    first = 0x80 | opcode
    if n < 126:
        header = struct.pack("!BB", first, n)
    elif n < 65536:
        header = struct.pack("!BBH", first, 126, n)
    else:
        header = struct.pack("!BBQ", first, 127, n)
    return header + payload


class Pending:
    """What an Engine.IO socket sends before its websocket is up (the open packet): engine.io
    wants a queue; this one is a list with the queue's methods it calls."""

    def __init__(self) -> None:
        self.items: list[Any] = []

    async def put(self, item: Any) -> None:
        self.items.append(item)

    def put_nowait(self, item: Any) -> None:
        self.items.append(item)

    def get_nowait(self) -> Any:
        if not self.items:
            raise asyncio.QueueEmpty
        return self.items.pop(0)

    async def get(self) -> Any:  # pragma: no cover - polling only, which Podium does not offer
        raise exceptions.QueueEmpty

    def task_done(self) -> None:
        pass

    async def join(self) -> None:
        pass

    def qsize(self) -> int:
        return len(self.items)


class LeanSocket(AsyncSocket):  # type: ignore[misc]
    """An Engine.IO socket that writes straight to its websocket's transport."""

    closed: bool
    closing: bool
    connected: bool
    upgraded: bool
    last_ping: float | None

    def __init__(self, server: Any, sid: str) -> None:
        super().__init__(server, sid)
        self.transport: asyncio.Transport | None = None
        self.write_error = False

    # --- sending -----------------------------------------------------------------------

    def write(self, pkt: Any) -> None:
        """Write one packet now (before the websocket is up, it waits in the queue)."""
        transport = self.transport
        if transport is None:
            self.queue.put_nowait(pkt)
            return
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > self.server.send_buffer_max:
            # The client stopped reading with this much waiting for it: drop it (its
            # buffer goes with it) rather than hold more; it reconnects and resumes.
            logger.info("dropped %s: %d bytes unread", self.sid, transport.get_write_buffer_size())
            transport.abort()
            return
        encoded = pkt.encode()
        if isinstance(encoded, str):
            transport.write(ws_frame(encoded.encode()))
        else:
            transport.write(ws_frame(encoded, 0x2))

    async def send(self, pkt: Any) -> None:
        """Send a packet to the client (at once: the transport buffers what the peer has not
        read; a peer that stops reading altogether is closed by the ping timeout)."""
        if not await self.check_ping_timeout():
            return
        self.write(pkt)

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        """Close the socket: tell the client (unless aborting); it closes its end."""
        if not self.closed and not self.closing:
            self.closing = True
            if self.server.doors is not None:
                self.server.doors.closed(self.sid)
            await self.server._trigger_event(
                "disconnect", self.sid, reason or self.server.reason.SERVER_DISCONNECT, run_async=False
            )
            if not abort:
                self.write(packet.Packet(packet.CLOSE))
            self.closed = True
            transport = self.transport
            if transport is not None and not transport.is_closing():
                if abort or reason == self.server.reason.PING_TIMEOUT:
                    # The peer asked to go, or is gone: nothing more to say to it.
                    transport.abort()
                else:
                    # What was written goes out first, then the websocket's close and the
                    # TCP connection: a closed socket never lingers as a live connection
                    # that reads frames nobody will answer.
                    transport.write(ws_frame(struct.pack("!H", 1000), 0x8))
                    transport.close()

    def _sign_in_due(self) -> None:
        """The socket had its time to sign in (connect the namespace): close it if it did not."""
        doors = self.server.doors
        if doors is not None and doors.is_unsigned(self.sid) and not self.closing and not self.closed:
            logger.info("closed %s: not signed in within %.0f s", self.sid, doors.auth_deadline_s)
            task = asyncio.get_running_loop().create_task(
                self.close(wait=False, reason=self.server.reason.SERVER_DISCONNECT)
            )
            self.server.closing_tasks.add(task)
            task.add_done_callback(self.server.closing_tasks.discard)

    # --- pings -------------------------------------------------------------------------

    def schedule_ping(self) -> None:
        """The next ping in ping_interval (a timer, not a task sleeping per connection)."""
        if self.last_ping:
            self.last_ping = None
            asyncio.get_running_loop().call_later(self.server.ping_interval, self._ping)

    def _ping(self) -> None:
        if not self.closing and not self.closed:
            self.last_ping = time.time()
            self.write(packet.Packet(packet.PING))
            asyncio.get_running_loop().call_later(self.server.ping_timeout, self._pong_due, self.last_ping)

    def _pong_due(self, sent: float) -> None:
        """The pong for the ping sent at `sent` should be here: if not, the peer is gone."""
        if self.last_ping == sent and not self.closing and not self.closed:
            task = asyncio.get_running_loop().create_task(
                self.close(wait=False, abort=False, reason=self.server.reason.PING_TIMEOUT)
            )
            self.server.closing_tasks.add(task)
            task.add_done_callback(self.server.closing_tasks.discard)

    # --- receiving ---------------------------------------------------------------------

    async def _frame(self, data: str | bytes) -> None:
        """One websocket message from the client: a Socket.IO packet, a pong or a close.
        Nothing else is sent by a client of a websocket-only server (no upgrade, no binary)."""
        if isinstance(data, str) and data[:1] == "4":
            await self._message(data[1:])
        elif data == "3":
            self.schedule_ping()
        elif data == "1":
            await self.close(wait=False, abort=True, reason=self.server.reason.CLIENT_DISCONNECT)
        else:
            logger.info("dropped a frame from %s: not one a client sends", self.sid)

    async def _message(self, text: str) -> None:
        """A Socket.IO packet: handed to python-socketio, or refused (see `inspect`)."""
        why, ack = inspect(text)
        sio_server = getattr(self.server.handlers.get("message"), "__self__", None)
        if why is None and text[:1] == "0":
            # A second connect on a connected namespace would make python-socketio give the
            # same connection a second identity; one on a connection that is going would run
            # the connect handler without its environ. A connect after a refusal is fine:
            # that is how a client retries.
            if self.closing or self.closed or self.sid not in getattr(sio_server, "environ", {}):
                why = "The connection is closing."
            elif self._namespace_connected(sio_server, text):
                why = "Already connected."
        if why is None:
            try:
                await self.server.handlers["message"](self.sid, text)
                doors = self.server.doors
                if text[:1] == "0" and doors is not None and self._namespace_connected(sio_server, text):
                    doors.signed_in(self.sid)
                if text[:1] == "1" and _namespace(text) == "/":
                    # The client left Podium's one namespace: nothing is left on this
                    # connection (socket.io's client closes it too), so it closes.
                    await self.close(wait=False, abort=True, reason=self.server.reason.CLIENT_DISCONNECT)
                return
            except ValueError:  # python-socketio's parse: not JSON, or a number of 100+ digits
                why = "The payload must be JSON."
        logger.info("refused a packet from %s: %s", self.sid, why)
        if ack is not None:
            reply = sio.Packet(sio.ACK, data=[error("invalid", why)], namespace="/", id=ack)
            self.write(packet.Packet(packet.MESSAGE, data=reply.encode()))

    def _namespace_connected(self, sio_server: Any, text: str) -> bool:
        """Whether the namespace a CONNECT packet names is connected on this socket already."""
        manager = getattr(sio_server, "manager", None)
        return manager is not None and manager.sid_from_eio_sid(self.sid, _namespace(text)) is not None

    # --- the connection ----------------------------------------------------------------

    async def _websocket_handler(self, ws: Any) -> None:
        """Read packets until the client goes; everything sent is written as it is sent."""
        if self.connected:  # pragma: no cover - an upgrade from polling, which Podium does not offer
            raise OSError("this server speaks websocket only")
        self.connected = True
        self.upgraded = True
        self.transport = ws.transport
        for pkt in self.queue.items:
            self.write(pkt)
        self.queue.items.clear()
        limit = self.server.max_http_buffer_size
        while True:
            try:
                # No timer per read: a late pong closes the socket (_pong_due), and close()
                # aborts the transport then.
                data = await ws.receive()
            except (OSError, asyncio.CancelledError):
                break
            if data is None:
                break  # closed by the client
            if len(data) > limit:
                break
            try:
                await self._frame(data)
            except exceptions.SocketIsClosedError:  # pragma: no cover
                break
            except Exception:  # pragma: no cover - as engine.io: log it, keep the connection
                logger.exception("unknown receive error")
        self.transport = None
        await ws.close()
        await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)


class LeanEngine(engineio.AsyncServer):  # type: ignore[misc]
    """python-engineio's server, making LeanSockets (websocket only)."""

    _async: dict[str, Any]
    start_service_task: bool

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if list(self.transports) != ["websocket"]:
            raise ValueError("LeanEngine speaks websocket only")
        # Each socket times its own pong (LeanSocket._pong_due): the library's service task,
        # which walks every socket with a timer per socket, has nothing left to do.
        self.start_service_task = False
        self.closing_tasks: set[asyncio.Task[None]] = set()
        # Set by the application (server.create_sio): bounds on who may open a socket.
        self.doors: Doors | None = None
        # A socket with this many bytes written and not yet read by its client is dropped.
        self.send_buffer_max = 1 << 20

    def create_queue(self, *args: Any, **kwargs: Any) -> Pending:
        """A socket's queue holds only what is sent before its websocket is up."""
        return Pending()

    async def _handle_connect(self, environ: dict[str, Any], transport: str, jsonp_index: Any = None) -> Any:
        """As engine.io's, with a LeanSocket (and the websocket transport only), behind the
        doors: a socket past a bound is refused with an HTTP error before it opens."""
        doors = self.doors
        address = ""
        if doors is not None:
            address = doors.address(environ["aiohttp.request"])
            refused = doors.admit(address)
            if refused is not None:
                return refused
        sid = self.generate_id()
        s = LeanSocket(self, sid)
        self.sockets[sid] = s
        if doors is not None:
            doors.opened(sid, address)
            asyncio.get_running_loop().call_later(doors.auth_deadline_s, s._sign_in_due)
        pkt = packet.Packet(
            packet.OPEN,
            {
                "sid": sid,
                "upgrades": self._upgrades(sid, transport),
                "pingTimeout": int(self.ping_timeout * 1000),
                "pingInterval": int(self.ping_interval + self.ping_interval_grace_period) * 1000,
                "maxPayload": self.max_http_buffer_size,
            },
        )
        await s.send(pkt)
        ret = await self._trigger_event("connect", sid, environ, run_async=False)
        if ret is not None and ret is not True:
            del self.sockets[sid]
            if doors is not None:
                doors.closed(sid)
            self.logger.warning("Application rejected connection")
            return self._unauthorized(ret or None)
        s.schedule_ping()
        ret = await s.handle_get_request(environ)
        if s.closed and sid in self.sockets:
            # websocket connection ended, so we are done
            del self.sockets[sid]
        if doors is not None:
            doors.closed(sid)  # however it ended (a failed upgrade never reaches close())
        return ret
