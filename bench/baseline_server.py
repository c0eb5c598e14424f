"""The naive presence server the benchmark compares Podium against.

One process, python-socketio on aiohttp, websocket only, no Redis, no auth. On `join`
a socket enters the session's room, the room's new size is broadcast to the whole room
at once (one broadcast per join, no coalescing, sockets not people), and the join is
acked with a snapshot. A disconnect broadcasts the smaller size the same way. The wire
shapes mirror Podium's: each broadcast is a `session:feed` frame {session, from, to, now_ms,
presence: {counts: {total}}} covering one position of the session's own count ([0, k-1] to
[0, k] for its k-th broadcast), and the join's ack carries {at, presence: {counts}} with the
position of the broadcast that counted the joiner; so the same load generator drives both.

    python -m bench.baseline_server --port 8090
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import time
from collections.abc import Callable
from typing import Any

import socketio
from aiohttp import web

EVENT = "session:feed"


def room_of(session: str) -> str:
    return f"s:{session}"


def socketio_server() -> socketio.AsyncServer:
    """The naive servers' socket.io: aiohttp, websocket only, Podium's ping settings, no logs."""
    return socketio.AsyncServer(
        async_mode="aiohttp",
        transports=["websocket"],
        cors_allowed_origins="*",
        ping_interval=20,
        ping_timeout=20,
        logger=False,
        engineio_logger=False,
    )


def app_with(sio: socketio.AsyncServer) -> web.Application:
    """An aiohttp app serving sio and GET /healthz (what the bench waits for)."""

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app = web.Application()
    sio.attach(app)
    app.router.add_get("/healthz", healthz)
    return app


def create_app() -> web.Application:
    sio = socketio_server()
    joined: dict[str, str] = {}  # sid -> session
    seqs: dict[str, int] = {}  # session -> broadcasts so far (its position is [0, seq])

    def size(session: str) -> int:
        members = sio.manager.rooms.get("/", {}).get(room_of(session))
        return len(members) if members else 0

    async def broadcast(session: str) -> dict[str, Any]:
        seq = seqs[session] = seqs.get(session, 0) + 1
        frame = {
            "session": session,
            "from": [0, seq - 1],
            "to": [0, seq],
            "now_ms": int(time.time() * 1000),
            "presence": {"counts": {"total": size(session)}},
        }
        await sio.emit(EVENT, frame, room=room_of(session))
        return frame

    async def join(sid: str, data: Any = None) -> dict[str, Any]:
        session = str((data or {}).get("session", "")) if isinstance(data, dict) else ""
        if not session:
            return {"ok": False, "error": {"code": "invalid", "message": "session is required"}}
        previous = joined.get(sid)
        if previous and previous != session:
            await sio.leave_room(sid, room_of(previous))
            await broadcast(previous)
        joined[sid] = session
        await sio.enter_room(sid, room_of(session))
        frame = await broadcast(session)
        return {"ok": True, "at": frame["to"], "v": 0, "presence": frame["presence"]}

    async def disconnect(sid: str, *_reason: Any) -> None:
        session = joined.pop(sid, None)
        if session:
            await sio.leave_room(sid, room_of(session))
            await broadcast(session)

    sio.on("join", join)
    sio.on("session:join", join)
    sio.on("disconnect", disconnect)
    return app_with(sio)


async def serve(app: web.Application, host: str, port: int, name: str = "baseline") -> None:
    """Serve app on host:port until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=2)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
        print(f"{name} listening on http://{host}:{port}", flush=True)
        await stop.wait()
    finally:
        await runner.cleanup()


def run(doc: str | None, port: int, create: Callable[[], web.Application], name: str) -> None:
    """A naive server's command line: --host, --port (default `port`)."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=port)
    args = parser.parse_args()
    asyncio.run(serve(create(), args.host, args.port, name))


def main() -> None:
    run(__doc__, 8090, create_app, "baseline")


if __name__ == "__main__":
    main()
