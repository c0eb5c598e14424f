"""Connecting, joining a session, snapshots, resuming, and the hall/remote switch."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import socketio
from aiohttp import web

from server import appkeys
from server.auth import PARTICIPANT_COOKIE, address_hash
from server.domain import feed as fd
from server.domain import identity as idn
from server.domain import presence as pres
from server.domain import validate
from server.domain.feed import Position
from server.errors import Conflict, Forbidden, Invalid, NotFound, PodiumError, Unauthorized, ok
from server.logs import bind
from server.realtime import handlers, rtc
from server.realtime import protocol as p
from server.realtime.backstage import backstage_snapshot
from server.realtime.connections import Conn
from server.realtime.feed import LocalSession
from server.realtime.stage import speaker_arrived
from server.store import keys

logger = logging.getLogger(__name__)

# A client further behind than this many log entries gets a snapshot instead (it is smaller).
RESUME_FROM_LOG = 500


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
        conn = Conn(sid=sid, principal=principal, ip=client_ip(request), transport=request.transport)
        app[appkeys.CONNECTIONS][sid] = conn
        if principal.invite_id:
            await app[appkeys.SIO].enter_room(sid, p.invite_room(principal.invite_id))
        if principal.participant_id:
            await app[appkeys.SIO].enter_room(sid, p.person_room(principal.participant_id))
            secret = app[appkeys.AUTH].secret
            conn.first_seen = await app[appkeys.IDENTITY].record_address(
                principal.participant_id, address_hash(secret, client_ip(request))
            )
        logger.info("connected as %s", principal.role)


async def on_disconnect(app: web.Application, sid: str, *_reason: Any) -> None:
    """A socket closed: it leaves presence (its worker's sweeper covers a crash instead)."""
    conn = app[appkeys.CONNECTIONS].pop(sid, None)
    if conn is None:
        return
    app[appkeys.HUB].unregister(conn)
    if conn.session_id is None:
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


async def require_not_banned(app: web.Application, event_id: str, pid: str, conn: Conn) -> None:
    """Refuse a person banned from the event (by id, or a new identity from their address)."""
    address = address_hash(app[appkeys.AUTH].secret, conn.ip)
    if await app[appkeys.IDENTITY].is_banned(event_id, pid, address, conn.first_seen):
        raise Forbidden("You were removed from this event by its moderators.")


def _rooms(conn: Conn, session_id: str) -> list[str]:
    """The socket.io rooms of a session a socket is in: only staff traffic still uses rooms
    (everything the session's state says reaches sockets through the feed)."""
    role = conn.principal.presence_role
    rooms = []
    if role == idn.MODERATOR:
        rooms.append(p.moderators_room(session_id))
    if role in (idn.MODERATOR, idn.SPEAKER):
        rooms.append(p.backstage_room(session_id))
    return rooms


async def _personal(app: web.Application, conn: Conn, ls: LocalSession) -> dict[str, Any]:
    """What a snapshot adds for this caller alone: who they are, their votes and hand, and for
    the staff the backstage, the links and the media peers."""
    who = conn.principal
    session_id = ls.id
    you: dict[str, Any] = {
        "role": who.role,
        "name": "",
        "where": conn.where,
        "speaker": who.invite_id if who.role == idn.SPEAKER else None,
    }
    out: dict[str, Any] = {"you": you}
    pid = who.participant_id
    async with app[appkeys.REDIS].pipeline(transaction=False) as pipe:
        # Where the session's log is now: the snapshot waits until this worker has applied
        # it, so it shows every change made before it was asked for.
        pipe.hmget(keys.session(session_id), ["v", "lk"])
        if pid:
            pipe.hget(keys.participant(pid), "name")
            pipe.smembers(keys.voted(session_id, pid))
        replies = await pipe.execute()
    v, k = replies[0]
    if pid:
        you["name"] = str(replies[1] or "")
        out["voted"] = sorted(replies[2])
    if who.role == idn.AUDIENCE and pid:
        you["hand"] = await app[appkeys.BACKSTAGE].my_hand(session_id, pid)
    spread = 0
    if fd.view_of(who) == fd.AUD:
        spread = fd.reconnect_spread_ms(ls.audience(), app[appkeys.SETTINGS].feed_small_room)
    out["hints"] = {"spread_ms": spread}
    backstage = await backstage_snapshot(app, conn, session_id)
    if backstage is not None:
        out["backstage"] = backstage
    media = await rtc.rtc_snapshot(app, conn, session_id)
    if media is not None:
        out["rtc"] = media
    if who.presence_role == idn.MODERATOR:
        # Staff only: the links that reach this session (labels, roles, expiry; never tokens).
        invites = await app[appkeys.IDENTITY].list_invites(ls.state.event_id)
        out["staff"] = {
            "invites": [i.public() for i in invites if i.session_id in ("", session_id) and not i.revoked]
        }
    if v is not None:
        await app[appkeys.HUB].caught_up(ls, (int(v), int(k or 0)))
    return out


def _with(snapshot: dict[str, Any], personal: dict[str, Any]) -> dict[str, Any]:
    voted = personal.pop("voted", None)
    if voted is not None:
        snapshot["qa"] = {**snapshot["qa"], "voted": voted}
    return {**snapshot, **personal}


async def _leave_session(app: web.Application, conn: Conn) -> None:
    """Take a socket out of the session it is in (rooms, feed, presence, media peers)."""
    if not conn.session_id:
        return
    sio = app[appkeys.SIO]
    for room in _rooms(conn, conn.session_id):
        await sio.leave_room(conn.sid, room)
    app[appkeys.HUB].unregister(conn)
    await app[appkeys.PRESENCE_STORE].leave(conn.sid)
    await rtc.left(app, conn, conn.session_id)
    conn.session_id = conn.event_id = conn.member = conn.where = None


async def join(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """session:join {session, where?, since?} -> the session's snapshot (or, with `since` and a
    log that reaches back, what changed since then); leaves any previous session."""
    data = validate.payload(data, {"session", "where", "since"}, required={"session"})
    session_id = validate.identifier(data["session"], "session")
    since = _position(data["since"]) if data.get("since") is not None else None
    who = conn.principal
    where = who.default_where()
    if data.get("where") is not None:
        where = validate.choice(data["where"], "where", idn.WHERE)
    if who.role == idn.SCREEN:
        where = "hall"  # a hall screen is in the hall, whatever it says
    await app[appkeys.RATES].hit(f"join:{who.person}", 30, 10)
    hub = app[appkeys.HUB]
    ls = await hub.attach(session_id)
    if ls is None:
        raise NotFound("No such session.")
    event_id = ls.state.event_id
    idn.require_session_access(who, event_id, session_id)
    if who.role == idn.AUDIENCE and who.participant_id:
        await require_not_banned(app, event_id, who.participant_id, conn)

    if conn.session_id:
        await _leave_session(app, conn)
    sio = app[appkeys.SIO]
    for room in _rooms(conn, session_id):
        await sio.enter_room(conn.sid, room)
    # A speaker is their link, whichever browsers opened it: one person on stage, online
    # while any of them is connected.
    person = f"i:{who.invite_id}" if who.role == idn.SPEAKER and who.invite_id else who.person
    member = pres.member(who.presence_role, person)
    where = await app[appkeys.PRESENCE_STORE].join(
        conn.sid, session_id, member, where, app[appkeys.WORKER_ID]
    )
    conn.session_id, conn.event_id, conn.member, conn.where = session_id, event_id, member, where
    await speaker_arrived(app, conn, session_id)
    await rtc.entered(app, conn, session_id)
    if who.role == idn.SPEAKER and who.invite_id:
        # The same speaker's studio open elsewhere steps back: this one is the studio now.
        await sio.emit(
            p.STAGE_TAKEOVER,
            {"session": session_id, "peer": conn.sid},
            room=p.invite_room(who.invite_id),
            skip_sid=conn.sid,
        )
    personal = await _personal(app, conn, ls)
    if since is not None:
        frame = await _catch_up(app, ls, conn, since)
        if frame is not None:
            hub.register(ls, conn)
            with bind(conn=conn.sid, session=session_id):
                logger.info("joined as %s (%s), resumed from %s", who.presence_role, where, since)
            return ok(resumed=True, frame=frame, **personal)
    # The snapshot and the registration in one step: every entry after it reaches the socket.
    snapshot = _with(hub.snapshot(ls, conn), personal)
    hub.register(ls, conn)
    with bind(conn=conn.sid, session=session_id):
        logger.info("joined as %s (%s)", who.presence_role, where)
    return ok(**snapshot)


def _position(value: Any) -> Position:
    try:
        if not isinstance(value, list):
            raise ValueError("a position is a list")
        return fd.parse_position(value)
    except ValueError:
        raise Invalid("since must be a position [v, k] of two whole numbers.", field="since") from None


async def _catch_up(
    app: web.Application, ls: LocalSession, conn: Conn, since: Position
) -> dict[str, Any] | None:
    """What conn missed after `since` as one frame, from this worker's entries or the log;
    None when neither reaches back that far (the caller sends a snapshot instead)."""
    hub = app[appkeys.HUB]
    frame = hub.replay(ls, conn, since)
    if frame is not None:
        return frame
    entries = await app[appkeys.FEED].since(ls.id, since, RESUME_FROM_LOG)
    if not entries or not fd.follows(since, entries[0].pos) or len(entries) >= RESUME_FROM_LOG:
        return None
    return hub.replay_entries(ls, conn, since, entries)


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
    await _leave_session(app, conn)
    conn.principal = principal
    assert principal.invite_id
    await app[appkeys.SIO].enter_room(conn.sid, p.invite_room(principal.invite_id))
    with bind(conn=conn.sid, session=session_id):
        logger.info("upgraded from the audience to speaker %s", principal.invite_id)
    return await join(app, conn, {"session": session_id, "where": where})


async def leave(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """session:leave {} -> leaves the current session (stays connected)."""
    validate.payload(data if data is not None else {}, set())
    await _leave_session(app, conn)
    return ok()


def _joined(app: web.Application, conn: Conn) -> LocalSession:
    ls = app[appkeys.HUB].sessions.get(conn.session_id or "")
    if not conn.session_id or ls is None or conn.feed != ls.id:
        raise Conflict("Join a session first.")
    if ls.state.deleted:
        raise NotFound("This session was deleted.")
    return ls


async def fresh_snapshot(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """session:snapshot {} -> the current session's state again."""
    validate.payload(data if data is not None else {}, set())
    ls = _joined(app, conn)
    personal = await _personal(app, conn, ls)
    return ok(**_with(app[appkeys.HUB].snapshot(ls, conn), personal))


async def resume(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """session:resume {session, since: [v, k]} -> {frame} with what changed after `since`, or
    {snapshot} when the log no longer reaches back that far."""
    data = validate.payload(data, {"session", "since"}, {"session", "since"})
    session_id = validate.identifier(data["session"], "session")
    since = _position(data["since"])
    if conn.session_id != session_id:
        raise Conflict("Join this session first.")
    ls = _joined(app, conn)
    frame = await _catch_up(app, ls, conn, since)
    if frame is not None:
        return ok(frame=frame)
    personal = await _personal(app, conn, ls)
    return ok(snapshot=_with(app[appkeys.HUB].snapshot(ls, conn), personal))


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
    handlers.register(sio, app, p.SESSION_RESUME, resume)
    handlers.register(sio, app, p.PRESENCE_WHERE, set_where)
    handlers.register(sio, app, p.SESSION_UPGRADE, upgrade)
