"""The stage over the socket. First part: the session clock (one per session, Redis time)."""

from __future__ import annotations

from typing import Any

import socketio
from aiohttp import web

from server import appkeys
from server.domain import identity as idn
from server.domain import validate
from server.errors import Conflict, Forbidden, ok
from server.realtime import handlers
from server.realtime import protocol as p
from server.realtime.connections import Conn

MAX_ADD_S = 4 * 3600


async def default_duration_ms(app: web.Application, session_id: str) -> int:
    """A clock that was never set counts down the session's scheduled length."""
    session = await app[appkeys.EVENTS].get_session(session_id)
    return (session.ends_at - session.starts_at) * 1000


async def clock_snapshot(app: web.Application, session_id: str) -> dict[str, Any]:
    """The clock as every face of the session shows it."""
    clock = await app[appkeys.CLOCK].apply(session_id, "read", await default_duration_ms(app, session_id))
    return clock.public()


async def timer(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """stage:timer {session, action: start|pause|add|reset, seconds?} (moderators)."""
    data = validate.payload(data, {"session", "action", "seconds"}, {"session", "action"})
    session_id = validate.identifier(data["session"], "session")
    if conn.session_id != session_id:
        raise Conflict("Join this session first.")
    if conn.principal.presence_role != idn.MODERATOR:
        raise Forbidden("Only moderators run the clock.")
    action = validate.choice(data["action"], "action", ("start", "pause", "add", "reset"))
    amount = await default_duration_ms(app, session_id)
    if action == "add":
        amount = validate.integer(data.get("seconds"), "seconds", lo=-MAX_ADD_S, hi=MAX_ADD_S) * 1000
    elif "seconds" in data:
        amount = validate.integer(data["seconds"], "seconds", lo=1, hi=7 * 86400) * 1000
    before = await app[appkeys.CLOCK].apply(session_id, "read", amount)
    clock = await app[appkeys.CLOCK].apply(session_id, action, amount)
    if clock.version != before.version:
        await app[appkeys.SIO].emit(
            p.STAGE_DELTA,
            {"session": session_id, "v": clock.version, "clock": clock.public()},
            room=p.session_room(session_id),
        )
    return ok(v=clock.version, clock=clock.public())


def register(sio: socketio.AsyncServer, app: web.Application) -> None:
    """Attach the stage handlers."""
    handlers.register(sio, app, p.STAGE_TIMER, timer)
