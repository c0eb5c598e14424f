"""A Socket.IO client written by hand over an aiohttp websocket: it sends any text (or binary)
frame a test makes, answers the server's pings, and keeps every ack the server sends by id,
so a test can see an ack that never came, or one that came twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from typing import Any

import aiohttp
from socketio import packet

ACK_PREFIX = "43"  # an Engine.IO message holding a Socket.IO ack


class RawSocket:
    """One websocket to Podium, signed in and (after `join`) in a session."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.acks: dict[int, list[Any]] = defaultdict(list)
        self.received: list[str] = []  # every other text frame, in order
        self.sent: list[str | bytes] = []  # every frame sent, in order
        self.next_id = 1
        self._arrived = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, http: aiohttp.ClientSession, url: str, auth: dict[str, Any]) -> RawSocket:
        """Open the websocket and connect to the default namespace with `auth`."""
        ws = await http.ws_connect(f"{url}/socket.io/?EIO=4&transport=websocket", autoping=True)
        opened = await ws.receive_str(timeout=5)
        assert opened.startswith("0{"), opened
        sock = cls(ws)
        await sock.send("40" + json.dumps(auth))
        await sock.wait_for(lambda s: any(f.startswith(("40", "44")) for f in s.received))
        assert any(f.startswith("40{") for f in sock.received), sock.received
        return sock

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = msg.data
            if data == "2":
                await self.ws.send_str("3")
            elif data.startswith(ACK_PREFIX):
                pkt = packet.Packet(encoded_packet=data[1:])
                self.acks[pkt.id].append(pkt.data[0] if pkt.data else None)
            else:
                self.received.append(data)
            self._arrived.set()
        self._arrived.set()

    @property
    def closed(self) -> bool:
        return self.ws.closed or self._reader.done()

    async def send(self, frame: str | bytes) -> None:
        """Send one websocket message as it is."""
        self.sent.append(frame)
        if isinstance(frame, bytes):
            await self.ws.send_bytes(frame)
        else:
            await self.ws.send_str(frame)

    def take_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    async def call(
        self, event: str, payload: Any = None, *, raw: str | None = None, timeout: float = 5
    ) -> Any:
        """Emit an event asking for an ack and return the ack. `raw` is the payload's JSON as
        written (deeper than json.dumps would go, or not JSON at all)."""
        ack_id = self.take_id()
        body = raw if raw is not None else json.dumps(payload)
        await self.send(f"42{ack_id}[{json.dumps(event)},{body}]")
        return await self.ack(ack_id, timeout)

    async def ack(self, ack_id: int, timeout: float = 5) -> Any:
        """The first ack for ack_id (fails the test if none comes in time)."""
        await self.wait_for(lambda s: s.acks.get(ack_id), timeout)
        return self.acks[ack_id][0]

    async def wait_for(self, predicate: Any, timeout: float = 5) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self):
            remaining = deadline - loop.time()
            if remaining <= 0 or self.closed:
                raise AssertionError(
                    f"timed out (closed: {self.closed}); last frames: {self.received[-3:]}; "
                    f"last sent: {self.sent[-6:]}"
                )
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), min(remaining, 0.25))

    async def close(self) -> None:
        await self.ws.close()
        await self._reader
