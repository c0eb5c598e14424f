"""The stage over the socket: the session clock (one per session, on Redis time), the lineup
of speakers and the session's status."""

from __future__ import annotations

from typing import Any

import socketio
from aiohttp import web

from server import appkeys
from server.domain import identity as idn
from server.domain import rtc, validate
from server.domain import stage as st
from server.domain.events import Session
from server.errors import Conflict, ok
from server.realtime import handlers
from server.realtime import protocol as p
from server.realtime.connections import Conn

MAX_ADD_S = 4 * 3600


async def default_duration_ms(app: web.Application, session_id: str) -> int:
    """A clock that was never set counts down the session's scheduled length."""
    session = await app[appkeys.EVENTS].get_session(session_id)
    return (session.ends_at - session.starts_at) * 1000


async def clock_snapshot(app: web.Application, session: Session) -> dict[str, Any]:
    """The clock as every face of the session shows it (from the session already read)."""
    clock = await app[appkeys.CLOCK].apply(session.id, "read", (session.ends_at - session.starts_at) * 1000)
    return clock.public()


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
    before = await app[appkeys.CLOCK].apply(session_id, "read", amount)
    clock = await app[appkeys.CLOCK].apply(session_id, action, amount)
    if clock.version != before.version:
        await app[appkeys.SIO].emit(
            p.STAGE_DELTA,
            {"session": session_id, "v": clock.version, "clock": clock.public()},
            room=p.session_room(session_id),
        )
    return ok(v=clock.version, clock=clock.public())


def _public(status: str, lineup: list[dict[str, Any]]) -> dict[str, Any]:
    """The audience's stage: the status and who is on stage now, nothing else."""
    on_stage = [
        {"speaker": s["speaker"], "state": s["state"], "label": s["label"]}
        for s in lineup
        if s["state"] in st.ON_STAGE
    ]
    return {"status": status, "max_live": st.MAX_LIVE, "lineup": on_stage}


async def stage_view(app: web.Application, session_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stage as the staff, speakers and screens see it, and as the audience sees it.

    Staff: every speaker in running order with state, label, whether connected and their
    backup recording."""
    status, online_seq, lineup = await app[appkeys.LINEUP].stage(session_id)
    backups = await app[appkeys.IDENTITY].backup_urls([s["speaker"] for s in lineup])
    full = {
        "status": status,
        "max_live": st.MAX_LIVE,
        "online_seq": online_seq,
        "lineup": [{**s, "backup_url": backups.get(s["speaker"])} for s in lineup],
    }
    return full, _public(status, lineup)


async def stage_snapshot(app: web.Application, conn: Conn, session_id: str) -> dict[str, Any]:
    """The stage for this caller's role (an audience member's join reads no backups)."""
    if conn.principal.presence_role in rtc.SIGNALING_ROLES:
        return (await stage_view(app, session_id))[0]
    status, lineup = await app[appkeys.LINEUP].on_stage(session_id)
    return _public(status, lineup)


async def publish_lineup(app: web.Application, session_id: str, version: int) -> None:
    """Tell the session the stage changed (versioned with the session), each role its view."""
    full, public = await stage_view(app, session_id)
    sio = app[appkeys.SIO]
    head = {"session": session_id, "v": version}
    await sio.emit(p.STAGE_DELTA, {**head, "stage": full}, room=p.rtc_room(session_id))
    await sio.emit(p.STAGE_DELTA, {**head, "stage": public}, room=p.audience_room(session_id))


async def publish_connections(app: web.Application) -> int:
    """Sessions where a speaker connected or dropped: `stage:online` to the speakers, screens
    and moderators. Not versioned (like presence counts it carries absolute state and its own
    seq), so a flapping connection costs the audience nothing and no one a snapshot."""
    lineup = app[appkeys.LINEUP]
    sessions = await lineup.take_dirty()
    sio = app[appkeys.SIO]
    for i, session_id in enumerate(sessions):
        try:
            seq, online = await lineup.online(session_id)
            message = {"session": session_id, "seq": seq, "online": online}
            await sio.emit(p.STAGE_ONLINE, message, room=p.rtc_room(session_id))
        except Exception:
            # Taken but not told: put them back for the next round, or no one would know.
            await lineup.mark_dirty(sessions[i:])
            raise
    return len(sessions)


async def speaker_arrived(app: web.Application, conn: Conn, session_id: str) -> bool:
    """A speaker's link entered the session: backstage, or back where they were.

    Returns True when that changed the lineup (and so the session's version)."""
    invite_id = conn.principal.invite_id
    if conn.principal.role != idn.SPEAKER or not invite_id or not conn.member:
        return False
    label = (await app[appkeys.IDENTITY].get_invite(invite_id)).label
    changed, version = await app[appkeys.LINEUP].arrive(session_id, invite_id, label, conn.member)
    if changed:
        await publish_lineup(app, session_id, version)
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
        await publish_lineup(app, session_id, version)
    return ok(v=version, changed=changed)


async def set_status(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """stage:status {session, status: scheduled|live|ended} (moderators only)."""
    data = validate.payload(data, {"session", "status"}, {"session", "status"})
    session_id = require_moderator(conn, data, "change the session's status")
    status = validate.choice(data["status"], "status", st.STATUSES)
    changed, version = await app[appkeys.LINEUP].set_status(session_id, status)
    if changed:
        await publish_lineup(app, session_id, version)
    return ok(v=version, changed=changed)


async def set_order(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """stage:order {session, order: [speaker, ...]} (moderators): the running order."""
    data = validate.payload(data, {"session", "order"}, {"session", "order"})
    session_id = require_moderator(conn, data, "set the running order")
    speakers = st.running_order(data["order"])
    changed, version = await app[appkeys.LINEUP].reorder(session_id, speakers)
    if changed:
        await publish_lineup(app, session_id, version)
    return ok(v=version, changed=changed)


def register(sio: socketio.AsyncServer, app: web.Application) -> None:
    """Attach the stage handlers."""
    handlers.register(sio, app, p.STAGE_TIMER, timer)
    handlers.register(sio, app, p.STAGE_SET, set_stage)
    handlers.register(sio, app, p.STAGE_STATUS, set_status)
    handlers.register(sio, app, p.STAGE_ORDER, set_order)
