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
from server.store.lineup import MAX_LIVE

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


STAGE_STATES = ("backstage", "live", "off")


async def stage_snapshot(app: web.Application, session_id: str) -> dict[str, Any]:
    """The lineup: every speaker who arrived, backstage, live or off."""
    return {"lineup": await app[appkeys.LINEUP].lineup(session_id), "max_live": MAX_LIVE}


async def publish_lineup(app: web.Application, session_id: str, version: int) -> None:
    """Tell the session the lineup changed (versioned with the session)."""
    await app[appkeys.SIO].emit(
        p.STAGE_DELTA,
        {"session": session_id, "v": version, "stage": await stage_snapshot(app, session_id)},
        room=p.session_room(session_id),
    )


async def speaker_arrived(app: web.Application, conn: Conn, session_id: str) -> bool:
    """A speaker's link entered the session: backstage, or back where they were.

    Returns True when that changed the lineup (and so the session's version)."""
    invite_id = conn.principal.invite_id
    if conn.principal.role != idn.SPEAKER or not invite_id:
        return False
    label = (await app[appkeys.IDENTITY].get_invite(invite_id)).label
    changed, version = await app[appkeys.LINEUP].arrive(session_id, invite_id, label)
    if changed:
        await publish_lineup(app, session_id, version)
    return changed


async def set_stage(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """stage:set {session, speaker, state: backstage|live|off} (moderators only)."""
    data = validate.payload(data, {"session", "speaker", "state"}, {"session", "speaker", "state"})
    session_id = validate.identifier(data["session"], "session")
    if conn.session_id != session_id:
        raise Conflict("Join this session first.")
    if conn.principal.presence_role != idn.MODERATOR:
        raise Forbidden("Only moderators move speakers.")
    speaker = validate.identifier(data["speaker"], "speaker")
    state = validate.choice(data["state"], "state", STAGE_STATES)
    changed, version = await app[appkeys.LINEUP].set_state(session_id, speaker, state)
    if changed:
        await publish_lineup(app, session_id, version)
    return ok(v=version, changed=changed)


def register(sio: socketio.AsyncServer, app: web.Application) -> None:
    """Attach the stage handlers."""
    handlers.register(sio, app, p.STAGE_TIMER, timer)
    handlers.register(sio, app, p.STAGE_SET, set_stage)
