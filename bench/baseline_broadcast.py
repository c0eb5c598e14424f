"""The baselines of the keynote benchmark: a room broadcast with nothing around it.

`--kind sio`: a bare python-socketio server (aiohttp, websocket only, no Redis, no auth,
per-message deflate off as in Podium): `session:join` puts the socket in one room and acks
an empty snapshot; `bench:broadcast {frame}` emits `session:feed` with that frame to the
room (socket.io's own room emit) and acks when it is done.

`--kind ws`: a bare aiohttp websocket loop (deflate off) that speaks just enough Engine.IO
and Socket.IO for the same phones: the open packet, CONNECT, acks; a broadcast encodes
the event once and awaits `send_str` for each socket in turn. No pings, no rooms, no
tasks: the floor a Python server can reach for one frame to many sockets.

Both answer GET /healthz. `python -m bench.baseline_broadcast --kind sio --port P`.
"""

from __future__ import annotations

import argparse
import gc
import json
from typing import Any

import orjson
import socketio
from aiohttp import web
from engineio.async_drivers import aiohttp as eio_aiohttp

EMPTY = {"ok": True, "at": [0, 0], "v": 0, "qa": {"questions": [], "screen": None}, "hints": {"spread_ms": 0}}


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


class PlainWebSocket(eio_aiohttp.WebSocket):  # type: ignore[misc]
    """engine.io's aiohttp websocket without per-message deflate (as Podium runs it)."""

    async def __call__(self, environ: dict[str, Any]) -> web.WebSocketResponse:
        self._sock = web.WebSocketResponse(max_msg_size=self.server.max_http_buffer_size, compress=False)
        await self._sock.prepare(environ["aiohttp.request"])
        self.environ = environ
        await self.handler(self)
        return self._sock


def sio_app() -> web.Application:
    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        transports=["websocket"],
        cors_allowed_origins="*",
        ping_interval=10,
        ping_timeout=10,
    )
    sio.eio._async = {**sio.eio._async, "websocket": PlainWebSocket}

    @sio.on("session:join")
    async def join(sid: str, _data: Any) -> dict[str, Any]:
        await sio.enter_room(sid, "s")
        return EMPTY

    @sio.on("bench:broadcast")
    async def broadcast(_sid: str, data: Any) -> dict[str, Any]:
        await sio.emit("session:feed", data["frame"], room="s")
        return {"ok": True}

    app = web.Application()
    sio.attach(app)
    app.router.add_get("/healthz", healthz)
    return app


def ws_app() -> web.Application:
    sockets: set[web.WebSocketResponse] = set()
    room: set[web.WebSocketResponse] = set()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False)
        await ws.prepare(request)
        sockets.add(ws)
        sid = str(id(ws))
        hello = {"sid": sid, "upgrades": [], "pingInterval": 25000, "pingTimeout": 20000, "maxPayload": 65536}
        await ws.send_str("0" + json.dumps(hello))
        try:
            async for msg in ws:
                data = msg.data
                if not isinstance(data, str):
                    continue
                if data.startswith("40"):
                    await ws.send_str("40" + json.dumps({"sid": sid}))
                elif data.startswith("42"):
                    i = 2
                    while data[i].isdigit():
                        i += 1
                    ack_id = data[2:i]
                    event, payload = orjson.loads(data[i:])
                    if event == "session:join":
                        room.add(ws)
                        reply: Any = EMPTY
                    elif event == "bench:broadcast":
                        message = '42["session:feed",' + orjson.dumps(payload["frame"]).decode() + "]"
                        for member in list(room):
                            if not member.closed:
                                await member.send_str(message)
                        reply = {"ok": True}
                    else:
                        reply = {"ok": False, "error": {"code": "invalid", "message": "Unknown event."}}
                    if ack_id:
                        await ws.send_str(f"43{ack_id}" + orjson.dumps([reply]).decode())
                elif data == "3":
                    pass
        finally:
            sockets.discard(ws)
            room.discard(ws)
        return ws

    app = web.Application()
    app.router.add_get("/socket.io/", handler)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", choices=("sio", "ws"), required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    from bench.phones import raise_open_files

    raise_open_files()
    app = sio_app() if args.kind == "sio" else ws_app()
    gc.collect()
    gc.freeze()
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
