"""Connecting, joining a session, snapshots and the hall/remote switch."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import socketio
from aiohttp import web

from server import appkeys
from server.auth import PARTICIPANT_COOKIE, address_hash
from server.domain import identity as idn
from server.domain import presence as pres
from server.domain import reactions as rx
from server.domain import validate
from server.domain.events import Event, Session
from server.errors import Conflict, Forbidden, PodiumError, Unauthorized, ok
from server.logs import bind
from server.realtime import handlers, rtc
from server.realtime import protocol as p
from server.realtime.backstage import backstage_snapshot
from server.realtime.connections import Conn
from server.realtime.qa import qa_snapshot
from server.realtime.stage import clock_snapshot, speaker_arrived, stage_snapshot

logger = logging.getLogger(__name__)


def client_ip(request: web.BaseRequest) -> str:
    """The peer's address (behind a proxy, aiohttp's forwarded-header handling applies)."""
    return request.remote or "-"


async def on_connect(app: web.Application, sid: str, environ: dict[str, Any], auth: Any) -> None:
    """Authenticate a new socket: Origin allow-list, then an invite token or participant cookie."""
    settings = app[appkeys.SETTINGS]
    request: web.BaseRequest = environ["aiohttp.request"]
    with bind(conn=sid):
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") not in settings.origins:
            logger.info("refused socket from origin %r", origin[:200])
            message = "This page is not allowed to connect to Podium."
            raise socketio.exceptions.ConnectionRefusedError(
                message, {"code": "forbidden", "message": message}
            )
        if auth is not None and not isinstance(auth, dict):
            auth = {}
        auth = auth or {}
        participant = auth.get("participant") or request.cookies.get(PARTICIPANT_COOKIE)
        try:
            principal = await app[appkeys.AUTH].principal(auth.get("token"), participant)
        except PodiumError as exc:
            logger.info("refused socket: %s", exc.message)
            raise socketio.exceptions.ConnectionRefusedError(exc.message, exc.to_dict()) from None
        app[appkeys.CONNECTIONS][sid] = Conn(sid=sid, principal=principal, ip=client_ip(request))
        if principal.invite_id:
            await app[appkeys.SIO].enter_room(sid, p.invite_room(principal.invite_id))
        if principal.participant_id:
            await app[appkeys.SIO].enter_room(sid, p.person_room(principal.participant_id))
            secret = app[appkeys.AUTH].secret
            await app[appkeys.IDENTITY].record_address(
                principal.participant_id, address_hash(secret, client_ip(request))
            )
        logger.info("connected as %s", principal.role)


async def on_disconnect(app: web.Application, sid: str, *_reason: Any) -> None:
    """A socket closed: it leaves presence (its worker's sweeper covers a crash instead)."""
    conn = app[appkeys.CONNECTIONS].pop(sid, None)
    if conn is None or conn.session_id is None:
        return
    with bind(conn=sid, session=conn.session_id):
        try:
            await app[appkeys.PRESENCE_STORE].leave(sid)
        except Exception:
            # The reconciler retries this; the client is gone either way.
            logger.exception("presence leave failed")
        try:
            await rtc.left(app, conn, conn.session_id)
        except Exception:
            logger.exception("signaling leave failed")


async def require_not_banned(app: web.Application, event_id: str, pid: str, ip: str) -> None:
    """Refuse a person banned from the event (by id, or a new identity from their address)."""
    identity = app[appkeys.IDENTITY]
    first_seen, _ = await identity.participant_info(pid)
    if await identity.is_banned(event_id, pid, address_hash(app[appkeys.AUTH].secret, ip), first_seen):
        raise Forbidden("You were removed from this event by its moderators.")


def _rooms(conn: Conn, session_id: str, event_id: str) -> list[str]:
    rooms = [p.session_room(session_id), p.event_room(event_id)]
    role = conn.principal.presence_role
    if role == idn.MODERATOR:
        rooms.append(p.moderators_room(session_id))
    else:
        rooms.append(p.public_room(session_id))
    if role in (idn.MODERATOR, idn.SPEAKER):
        rooms.append(p.backstage_room(session_id))
    if role == idn.AUDIENCE:
        rooms.append(p.audience_room(session_id))
    return rooms


async def _load(app: web.Application, session_id: str) -> tuple[Session, Event]:
    events = app[appkeys.EVENTS]
    session = await events.get_session(session_id)
    return session, await events.get_event(session.event_id)


async def snapshot(app: web.Application, conn: Conn, session: Session, event: Event) -> dict[str, Any]:
    """The state of a session as this caller may see it (filtered by role)."""
    seq, counts = await app[appkeys.PRESENCE_STORE].counts(session.id)
    who = conn.principal
    name = ""
    if who.participant_id:
        name = await app[appkeys.IDENTITY].participant_name(who.participant_id)
    snap: dict[str, Any] = {
        "v": session.version,
        "session": session.public(event.time_zone),
        "event": event.public(),
        "you": {
            "role": who.role,
            "name": name,
            "where": conn.where,
            "speaker": who.invite_id if who.role == idn.SPEAKER else None,
        },
        "presence": {"seq": seq, "counts": counts},
    }
    snap["qa"] = await qa_snapshot(app, conn, session.id)
    totals = await app[appkeys.REACTIONS].totals(session.id)
    snap["reactions"] = {"emoji": list(rx.EMOJI), "totals": totals}
    snap["clock"] = await clock_snapshot(app, session)
    snap["stage"] = await stage_snapshot(app, conn, session.id)
    backstage = await backstage_snapshot(app, conn, session.id)
    if backstage is not None:
        snap["backstage"] = backstage
    if who.role == idn.AUDIENCE and who.participant_id:
        snap["you"]["hand"] = await app[appkeys.BACKSTAGE].my_hand(session.id, who.participant_id)
    media = await rtc.rtc_snapshot(app, conn, session.id)
    if media is not None:
        snap["rtc"] = media
    if who.presence_role == idn.MODERATOR:
        # Staff only: the links that reach this session (labels, roles, expiry; never tokens).
        invites = await app[appkeys.IDENTITY].list_invites(event.id)
        snap["staff"] = {
            "invites": [i.public() for i in invites if i.session_id in ("", session.id) and not i.revoked]
        }
    return snap


async def join(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """session:join {session, where?} -> the session's snapshot; leaves any previous session."""
    data = validate.payload(data, {"session", "where"}, required={"session"})
    session_id = validate.identifier(data["session"], "session")
    who = conn.principal
    where = who.default_where()
    if data.get("where") is not None:
        where = validate.choice(data["where"], "where", idn.WHERE)
    if who.role == idn.SCREEN:
        where = "hall"  # a hall screen is in the hall, whatever it says
    await app[appkeys.RATES].hit(f"join:{who.person}", 30, 10)
    session, event = await _load(app, session_id)
    idn.require_session_access(who, event.id, session.id)
    if who.role == idn.AUDIENCE and who.participant_id:
        await require_not_banned(app, event.id, who.participant_id, conn.ip)

    sio = app[appkeys.SIO]
    if conn.session_id and conn.session_id != session.id:
        for room in _rooms(conn, conn.session_id, conn.event_id or ""):
            await sio.leave_room(conn.sid, room)
        await rtc.left(app, conn, conn.session_id)
    for room in _rooms(conn, session.id, event.id):
        await sio.enter_room(conn.sid, room)
    # A speaker is their link, whichever browsers opened it: one person on stage, online
    # while any of them is connected.
    person = f"i:{who.invite_id}" if who.role == idn.SPEAKER and who.invite_id else who.person
    member = pres.member(who.presence_role, person)
    where = await app[appkeys.PRESENCE_STORE].join(
        conn.sid, session.id, member, where, app[appkeys.WORKER_ID]
    )
    conn.session_id, conn.event_id, conn.member, conn.where = session.id, event.id, member, where
    if await speaker_arrived(app, conn, session.id):
        session = await app[appkeys.EVENTS].get_session(session.id)  # their arrival moved the version
    await rtc.entered(app, conn, session.id)
    if who.role == idn.SPEAKER and who.invite_id:
        # The same speaker's studio open elsewhere steps back: this one is the studio now.
        await sio.emit(
            p.STAGE_TAKEOVER,
            {"session": session.id, "peer": conn.sid},
            room=p.invite_room(who.invite_id),
            skip_sid=conn.sid,
        )
    with bind(conn=conn.sid, session=session.id):
        logger.info("joined as %s (%s)", who.presence_role, where)
    return ok(**await snapshot(app, conn, session, event))


async def upgrade(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """session:upgrade {token}: an audience member brought backstage becomes this session's
    speaker on the same connection (no reload); answers with the new snapshot."""
    data = validate.payload(data, {"token"}, {"token"})
    if not conn.session_id:
        raise Conflict("Join a session first.")
    who = conn.principal
    if who.role != idn.AUDIENCE:
        raise Forbidden("Only an audience member is brought on stage this way.")
    try:
        principal = await app[appkeys.AUTH].invite_principal(data["token"], person=who.participant_id)
    except Unauthorized:
        raise Forbidden("This link is not a speaker's link for this session.") from None
    if principal.role != idn.SPEAKER or principal.session_id != conn.session_id:
        raise Forbidden("This link is not a speaker's link for this session.")
    session_id, where = conn.session_id, conn.where
    await leave(app, conn, {})
    conn.principal = principal
    assert principal.invite_id
    await app[appkeys.SIO].enter_room(conn.sid, p.invite_room(principal.invite_id))
    with bind(conn=conn.sid, session=session_id):
        logger.info("upgraded from the audience to speaker %s", principal.invite_id)
    return await join(app, conn, {"session": session_id, "where": where})


async def leave(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """session:leave {} -> leaves the current session (stays connected)."""
    validate.payload(data if data is not None else {}, set())
    if conn.session_id:
        sio = app[appkeys.SIO]
        for room in _rooms(conn, conn.session_id, conn.event_id or ""):
            await sio.leave_room(conn.sid, room)
        await app[appkeys.PRESENCE_STORE].leave(conn.sid)
        await rtc.left(app, conn, conn.session_id)
    conn.session_id = conn.event_id = conn.member = conn.where = None
    return ok()


async def fresh_snapshot(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """session:snapshot {} -> the current session's state again (after a version gap)."""
    validate.payload(data if data is not None else {}, set())
    if not conn.session_id:
        raise Conflict("Join a session first.")
    session, event = await _load(app, conn.session_id)
    return ok(**await snapshot(app, conn, session, event))


async def set_where(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """presence:where {where} -> counts this person in the hall or remote."""
    data = validate.payload(data, {"where"}, required={"where"})
    where = validate.choice(data["where"], "where", idn.WHERE)
    if not conn.session_id or not conn.member:
        raise Conflict("Join a session first.")
    if conn.principal.role == idn.SCREEN:
        raise Forbidden("A hall screen is always in the hall.")
    await app[appkeys.PRESENCE_STORE].set_where(conn.session_id, conn.member, where)
    for other in app[appkeys.CONNECTIONS].values():  # this person's other tabs on this worker
        if other.member == conn.member and other.session_id == conn.session_id:
            other.where = where
    return ok(where=where)


def register(sio: socketio.AsyncServer, app: web.Application) -> None:
    """Attach the connection and session handlers."""

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await on_connect(app, sid, environ, auth)

    async def disconnect(sid: str, *reason: Any) -> None:
        with contextlib.suppress(Exception):
            await on_disconnect(app, sid, *reason)

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    handlers.register(sio, app, p.SESSION_JOIN, join)
    handlers.register(sio, app, p.SESSION_LEAVE, leave)
    handlers.register(sio, app, p.SESSION_SNAPSHOT, fresh_snapshot)
    handlers.register(sio, app, p.PRESENCE_WHERE, set_where)
    handlers.register(sio, app, p.SESSION_UPGRADE, upgrade)
