"""The naive signaling relay the stage benchmark compares Podium against.

One process, python-socketio on aiohttp, websocket only, no Redis, no auth, no checks.
`rtc:signal` {session, to, kind, data} is forwarded to the socket `to` as Podium forwards it
({session, from, role, speaker, kind, data}, role and speaker null) and acked {"ok": true},
whether or not `to` exists or may be reached. `session:join` is acked with the caller's
socket id and changes nothing else. So the same load generator drives both, and what Podium
adds (role checks, the Redis lookup of the peer, pub/sub between workers) is the difference.

    python -m bench.baseline_relay --port 8091
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bench.baseline_server import app_with, run, socketio_server

SIGNAL = "rtc:signal"


def create_app() -> web.Application:
    sio = socketio_server()

    async def join(sid: str, _data: Any = None) -> dict[str, Any]:
        return {"ok": True, "rtc": {"you": sid, "peers": []}}

    async def relay(sid: str, data: Any = None) -> dict[str, Any]:
        if not isinstance(data, dict) or not isinstance(data.get("to"), str):
            return {"ok": False, "error": {"code": "invalid", "message": "to is required"}}
        frame = {
            "session": data.get("session"),
            "from": sid,
            "role": None,
            "speaker": None,
            "kind": data.get("kind"),
            "data": data.get("data"),
        }
        await sio.emit(SIGNAL, frame, to=data["to"])
        return {"ok": True}

    sio.on("session:join", join)
    sio.on(SIGNAL, relay)
    return app_with(sio)


def main() -> None:
    run(__doc__, 8091, create_app, "baseline relay")


if __name__ == "__main__":
    main()
