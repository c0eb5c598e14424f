"""The stage over the socket: the session clock (one per session, on Redis time), the lineup
of speakers and the session's status. Every change is logged with the session's version by
its Lua script; the session feed takes it to every face."""

from __future__ import annotations

from typing import Any

import socketio
from aiohttp import web

from server import appkeys
from server.domain import identity as idn
from server.domain import stage as st
from server.domain import validate
from server.errors import Conflict, ok
from server.realtime import handlers, sfu, webhooks
from server.realtime import protocol as p
from server.realtime.connections import Conn

MAX_ADD_S = 4 * 3600


async def default_duration_ms(app: web.Application, session_id: str) -> int:
    """A clock that was never set counts down the session's scheduled length."""
    session = await app[appkeys.EVENTS].get_session(session_id)
    return (session.ends_at - session.starts_at) * 1000


async def timer(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """stage:timer {session, action: start|pause|add|reset, seconds?} (moderators)."""
    data = validate.payload(data, {"session", "action", "seconds"}, {"session", "action"})
    session_id = require_moderator(conn, data, "run the clock")
    action = validate.choice(data["action"], "action", ("start", "pause", "add", "reset"))
    amount = await default_duration_ms(app, session_id)
    if action == "add":
        amount = validate.integer(data.get("seconds"), "seconds", lo=-MAX_ADD_S, hi=MAX_ADD_S) * 1000
    elif "seconds" in data:
        amount = validate.integer(data["seconds"], "seconds", lo=1, hi=7 * 86400) * 1000
    clock = await app[appkeys.CLOCK].apply(session_id, action, amount)
    return ok(v=clock.version, clock=clock.public())


async def speaker_arrived(app: web.Application, conn: Conn, session_id: str, lang: str = "") -> bool:
    """A speaker's link entered the session: backstage, or back where they were; `lang` is the
    language their studio shows (questions are translated into it for them).

    Returns True when that changed the lineup (and so the session's version)."""
    invite_id = conn.principal.invite_id
    if conn.principal.role != idn.SPEAKER or not invite_id or not conn.member:
        return False
    invite = await app[appkeys.IDENTITY].get_invite(invite_id)
    changed, _version = await app[appkeys.LINEUP].arrive(
        session_id, invite_id, invite.label, conn.member, backup=invite.backup_url, lang=lang
    )
    return changed


def joined(conn: Conn, data: Any) -> str:
    """The payload's session, which must be the one this socket is in."""
    session_id = validate.identifier(data["session"], "session")
    if conn.session_id != session_id:
        raise Conflict("Join this session first.")
    return session_id


def require_moderator(conn: Conn, data: Any, what: str) -> str:
    """The session of a moderator's stage command (joined, and a moderator)."""
    session_id = joined(conn, data)
    st.require_moderator(conn.principal, what)
    return session_id


async def set_stage(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """stage:set {session, speaker, state: backstage|live|backup|off} (moderators only)."""
    data = validate.payload(data, {"session", "speaker", "state"}, {"session", "speaker", "state"})
    session_id = require_moderator(conn, data, "move speakers")
    speaker = validate.identifier(data["speaker"], "speaker")
    state = validate.choice(data["state"], "state", st.STATES)
    if state == "backup" and not (await app[appkeys.IDENTITY].backup_urls([speaker])):
        raise Conflict("This speaker has no backup recording: the organizer can attach one to their link.")
    changed, version = await app[appkeys.LINEUP].set_state(session_id, speaker, state)
    if changed:
        await sfu.speaker_moved(app, session_id, speaker, state)
    return ok(v=version, changed=changed)


async def set_status(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """stage:status {session, status: scheduled|live|ended} (moderators only)."""
    data = validate.payload(data, {"session", "status"}, {"session", "status"})
    session_id = require_moderator(conn, data, "change the session's status")
    status = validate.choice(data["status"], "status", st.STATUSES)
    changed, version = await app[appkeys.LINEUP].set_status(session_id, status)
    if changed and status == "ended":
        await sfu.session_over(app, session_id)
    if changed and status in ("live", "ended") and conn.event_id:
        await webhooks.session_status(app, str(conn.event_id), session_id, status)
    return ok(v=version, changed=changed)


async def set_order(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """stage:order {session, order: [speaker, ...]} (moderators): the running order."""
    data = validate.payload(data, {"session", "order"}, {"session", "order"})
    session_id = require_moderator(conn, data, "set the running order")
    speakers = st.running_order(data["order"])
    changed, version = await app[appkeys.LINEUP].reorder(session_id, speakers)
    return ok(v=version, changed=changed)


def register(sio: socketio.AsyncServer, app: web.Application) -> None:
    """Attach the stage handlers."""
    handlers.register(sio, app, p.STAGE_TIMER, timer)
    handlers.register(sio, app, p.STAGE_SET, set_stage)
    handlers.register(sio, app, p.STAGE_STATUS, set_status)
    handlers.register(sio, app, p.STAGE_ORDER, set_order)
