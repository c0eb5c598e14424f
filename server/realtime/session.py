"""Connecting, joining a session, snapshots, resuming, and the hall/remote switch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import socketio
from aiohttp import web
from redis.exceptions import RedisClusterException, RedisError

from server import appkeys
from server.auth import PARTICIPANT_COOKIE, address_hash
from server.domain import feed as fd
from server.domain import identity as idn
from server.domain import presence as pres
from server.domain import validate
from server.domain.feed import Position
from server.errors import Conflict, Forbidden, Invalid, NotFound, PodiumError, Unauthorized, Unavailable, ok
from server.logs import bind
from server.realtime import doors, handlers, rtc, sfu
from server.realtime import protocol as p
from server.realtime.backstage import backstage_snapshot
from server.realtime.connections import Conn
from server.realtime.feed import LocalSession
from server.realtime.stage import speaker_arrived
from server.store import keys
from server.store.backstage import hand_from, queue_my_hand
from server.store.connection import store_trouble
from server.store.identity import Invite

logger = logging.getLogger(__name__)

# A client further behind than this many log entries gets a snapshot instead (it is smaller).
RESUME_FROM_LOG = 500
# Joins per person (all their tabs, every worker) in a window, kept in Redis.
JOINS_PER_WINDOW = 30
JOIN_WINDOW_MS = 10_000


def client_ip(request: web.BaseRequest) -> str:
    """The client's address (behind a trusted proxy, from X-Forwarded-For: doors.py)."""
    return doors.client_ip(request)


def _refuse(exc: PodiumError) -> socketio.exceptions.ConnectionRefusedError:
    return socketio.exceptions.ConnectionRefusedError(exc.message, exc.to_dict())


async def on_connect(app: web.Application, sid: str, environ: dict[str, Any], auth: Any) -> None:
    """Authenticate a new socket: Origin allow-list, then an invite token or participant cookie.

    Every connect ends in CONNECT or CONNECT_ERROR within a bounded time: when the worker is
    swamped it refuses at once, and store trouble (an outage, a pool that ran dry) refuses
    after `connect_timeout_s`, both as `unavailable` with a time to come back."""
    settings = app[appkeys.SETTINGS]
    request: web.BaseRequest = environ["aiohttp.request"]
    with bind(conn=sid):
        origin = request.headers.get("Origin")
        if origin is not None and origin.rstrip("/") not in settings.origins:
            logger.info("refused socket from origin %r", origin[:200])
            raise _refuse(Forbidden("This page is not allowed to connect to Podium."))
        if auth is not None and not isinstance(auth, dict):
            auth = {}
        auth = auth or {}
        participant = auth.get("participant") or request.cookies.get(PARTICIPANT_COOKIE)
        try:
            with app[appkeys.GATE].slot("connect"):
                principal = await asyncio.wait_for(
                    app[appkeys.AUTH].principal(auth.get("token"), participant), settings.connect_timeout_s
                )
                conn = Conn(sid=sid, principal=principal, ip=client_ip(request), transport=request.transport)
                app[appkeys.CONNECTIONS][sid] = conn
                if principal.invite_id:
                    await app[appkeys.SIO].enter_room(sid, p.invite_room(principal.invite_id))
                if principal.participant_id:
                    await app[appkeys.SIO].enter_room(sid, p.person_room(principal.participant_id))
        except PodiumError as exc:
            logger.info("refused socket: %s", exc.message)
            raise _refuse(exc) from None
        except (RedisError, RedisClusterException, TimeoutError, OSError) as exc:
            app[appkeys.CONNECTIONS].pop(sid, None)
            logger.warning("refused socket: store unavailable: %s", exc or type(exc).__name__)
            raise _refuse(Unavailable(store_trouble(exc), retry_after=2)) from None
        except Exception:
            # python-socketio answers nothing at all when this handler raises anything else.
            app[appkeys.CONNECTIONS].pop(sid, None)
            logger.exception("connect failed")
            raise _refuse(PodiumError("Something went wrong on our side.")) from None
        # python-socketio keeps the WSGI environ (every header, copied) for the connection's
        # whole life; nothing reads it after this handler: keep only what it needs here.
        environ.clear()
        environ["aiohttp.request"] = request
        if app[appkeys.CONNECTIONS].get(sid) is conn:  # (not closed meanwhile)
            conn.counted = True
            app[appkeys.METRICS].connected(principal.role)
        logger.info("connected as %s", principal.role)


async def on_disconnect(app: web.Application, sid: str, *reason: Any) -> None:
    """A socket closed: it leaves presence (its worker's sweeper covers a crash instead)."""
    conn = app[appkeys.CONNECTIONS].pop(sid, None)
    if conn is None:
        return
    if conn.counted:
        app[appkeys.METRICS].disconnected(conn.principal.role, reason[0] if reason else None)
    app[appkeys.HUB].unregister(conn)
    if conn.session_id is None:
        return
    with bind(conn=sid, session=conn.session_id):
        try:
            await app[appkeys.PRESENCE_STORE].leave(sid, conn.session_id, app[appkeys.WORKER_ID])
        except Exception:
            # The reconciler retries this; the client is gone either way.
            logger.exception("presence leave failed")
        try:
            await rtc.left(app, conn, conn.session_id)
        except Exception:
            logger.exception("signaling leave failed")
        await sfu.left(app, conn)


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


def _you(conn: Conn, name: str, hand: dict[str, Any] | None) -> dict[str, Any]:
    who = conn.principal
    you: dict[str, Any] = {
        "role": who.role,
        "name": name,
        "where": conn.where,
        "speaker": who.invite_id if who.role == idn.SPEAKER else None,
    }
    if hand is not None:
        you["hand"] = hand
    return you


def _hints(app: web.Application, conn: Conn, ls: LocalSession) -> dict[str, Any]:
    spread = 0
    if fd.view_of(conn.principal) == fd.AUD:
        spread = fd.reconnect_spread_ms(ls.audience(), app[appkeys.SETTINGS].feed_small_room)
    return {"spread_ms": spread}


async def _staff(app: web.Application, conn: Conn, ls: LocalSession) -> dict[str, Any]:
    """What a snapshot adds for the staff: the backstage, the media peers, the links."""
    out: dict[str, Any] = {}
    backstage = await backstage_snapshot(app, conn, ls.id)
    if backstage is not None:
        out["backstage"] = backstage
    media = await rtc.rtc_snapshot(app, conn, ls.id)
    if media is not None:
        out["rtc"] = media
    if conn.principal.presence_role == idn.MODERATOR:
        out["staff"] = {"invites": await session_invites(app, ls.state.event_id, ls.id)}
    return out


async def session_invites(app: web.Application, event_id: str, session_id: str) -> list[dict[str, Any]]:
    """Staff only: the links that reach a session (labels, roles, expiry; never tokens)."""
    return _reaching(await app[appkeys.IDENTITY].list_invites(event_id), session_id)


def _reaching(invites: list[Invite], session_id: str) -> list[dict[str, Any]]:
    return [i.public() for i in invites if i.session_id in ("", session_id) and not i.revoked]


async def tell_moderators_of_invites(app: web.Application, event_id: str, session_id: str) -> None:
    """After a link was made, revoked or changed: the moderators of the sessions it reaches get
    their list anew (`staff:invites`), so "invited, not arrived" is right without a reload. A
    broadcast a deaf worker missed is made good by the snapshot its resync fetches."""
    sessions = [session_id] if session_id else await app[appkeys.EVENTS].session_ids(event_id)
    invites = await app[appkeys.IDENTITY].list_invites(event_id)  # once, for every session
    sio = app[appkeys.SIO]
    for sid in sessions:
        message = {"session": sid, "invites": _reaching(invites, sid)}
        await sio.emit(p.STAFF_INVITES, message, room=p.moderators_room(sid))


async def _position_now(app: web.Application, session_id: str) -> Position | None:
    v, k = await app[appkeys.REDIS].hmget(keys.session(session_id), ["v", "lk"])
    return None if v is None else (int(v), int(k or 0))


async def _personal(app: web.Application, conn: Conn, ls: LocalSession) -> dict[str, Any]:
    """What a snapshot adds for this caller alone (who they are, their votes and hand, and for
    the staff the backstage, the links and the media peers); returns once this worker has
    applied the session's log as far as the store has it now, so that a snapshot rendered
    next shows every change made before it was asked for."""
    who = conn.principal
    pid = who.participant_id
    async with app[appkeys.REDIS].pipeline(transaction=False) as pipe:
        pipe.hmget(keys.session(ls.id), ["v", "lk"])
        if pid:
            pipe.hget(keys.participant(pid), "name")
            pipe.smembers(keys.voted(ls.id, pid))
        if pid and who.role == idn.AUDIENCE:
            queue_my_hand(pipe, ls.id, pid)
        replies = await pipe.execute()
    v, k = replies[0]
    hand = hand_from(*replies[3:6]) if pid and who.role == idn.AUDIENCE else None
    out: dict[str, Any] = {"you": _you(conn, str(replies[1] or "") if pid else "", hand)}
    if pid:
        out["voted"] = sorted(replies[2])
    out["hints"] = _hints(app, conn, ls)
    out.update(await _staff(app, conn, ls))
    if v is not None:
        await app[appkeys.HUB].caught_up(ls, (int(v), int(k or 0)))
    return out


def _with(snapshot: dict[str, Any], personal: dict[str, Any]) -> dict[str, Any]:
    voted = personal.pop("voted", None)
    if voted is not None:
        snapshot["qa"] = {**snapshot["qa"], "voted": voted}
    return {**snapshot, **personal}


async def _leave_session(app: web.Application, conn: Conn, *, presence: bool = True) -> None:
    """Take a socket out of the session it is in (rooms, feed, presence, media peers)."""
    if not conn.session_id:
        return
    sio = app[appkeys.SIO]
    for room in _rooms(conn, conn.session_id):
        await sio.leave_room(conn.sid, room)
    app[appkeys.HUB].unregister(conn)
    if presence:
        await app[appkeys.PRESENCE_STORE].leave(conn.sid, conn.session_id, app[appkeys.WORKER_ID])
    await rtc.left(app, conn, conn.session_id)
    await sfu.left(app, conn)
    conn.session_id = conn.event_id = conn.member = conn.where = None


async def join(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """session:join {session, where?, since?} -> the session's snapshot (or, with `since` and a
    log that reaches back, what changed since then); leaves any previous session.

    An audience member's join is two round trips to the store (admitted; then counted with
    their own parts read, in one pipeline); the shared state comes from this worker's copy."""
    data = validate.payload(data, {"session", "where", "since", "lang"}, required={"session"})
    session_id = validate.identifier(data["session"], "session")
    since = _position(data["since"]) if validate.present(data, "since") else None
    who = conn.principal
    where = who.default_where()
    if validate.present(data, "where"):
        where = validate.choice(data["where"], "where", idn.WHERE)
    if who.role == idn.SCREEN:
        where = "hall"  # a hall screen is in the hall, whatever it says
    lang = ""
    if validate.present(data, "lang"):
        lang = validate.language_tag(data["lang"], "lang")
    with app[appkeys.GATE].slot("join"):
        return await _join(app, conn, session_id, where, since, lang=lang)


async def _join(
    app: web.Application, conn: Conn, session_id: str, where: str, since: Position | None, *, lang: str
) -> dict[str, Any]:
    who = conn.principal
    hub = app[appkeys.HUB]
    ls = await hub.attach(session_id)
    if ls is None:
        raise NotFound("No such session.")
    event_id = ls.state.event_id
    idn.require_session_access(who, event_id, session_id)

    # A speaker is their link, whichever browsers opened it: one person on stage, online
    # while any of them is connected.
    person = f"i:{who.invite_id}" if who.role == idn.SPEAKER and who.invite_id else who.person
    member = pres.member(who.presence_role, person)
    admission = await app[appkeys.JOINS].admit(
        conn=conn.sid,
        session_id=session_id,
        event_id=event_id,
        member=member,
        where=where,
        worker=app[appkeys.WORKER_ID],
        person=who.person,
        participant=who.participant_id,
        address=address_hash(app[appkeys.AUTH].secret, conn.ip),
        hand=who.role == idn.AUDIENCE,
        limit=JOINS_PER_WINDOW,
        window_ms=JOIN_WINDOW_MS,
        previous=conn.session_id,
    )
    if conn.session_id:
        # Counted in the new session already (presence moved it); out of the old one's rest.
        await _leave_session(app, conn, presence=False)
    sio = app[appkeys.SIO]
    for room in _rooms(conn, session_id):
        await sio.enter_room(conn.sid, room)
    conn.session_id, conn.event_id, conn.member, conn.where = session_id, event_id, member, admission.where
    position = admission.position
    personal: dict[str, Any] = {
        "you": _you(conn, admission.name, admission.hand),
        "hints": _hints(app, conn, ls),
    }
    if who.participant_id:
        personal["voted"] = admission.voted
    if fd.view_of(who) != fd.AUD:
        if await speaker_arrived(app, conn, session_id, lang) or who.role == idn.SPEAKER:
            position = await _position_now(app, session_id)  # their arrival is in the log
        await rtc.entered(app, conn, session_id)
        if who.role == idn.SPEAKER and who.invite_id:
            # The same speaker's studio open elsewhere steps back: this one is the studio now.
            await sio.emit(
                p.STAGE_TAKEOVER,
                {"session": session_id, "peer": conn.sid},
                room=p.invite_room(who.invite_id),
                skip_sid=conn.sid,
            )
        personal.update(await _staff(app, conn, ls))
    if position is not None:
        await hub.caught_up(ls, position)  # the snapshot shows every change made before
    if since is not None:
        frame = await _catch_up(app, ls, conn, since)
        if frame is not None:
            hub.register(ls, conn)
            with bind(conn=conn.sid, session=session_id):
                logger.info("joined as %s (%s), resumed from %s", who.presence_role, conn.where, since)
            return ok(resumed=True, frame=frame, **personal)
    # The snapshot and the registration in one step: every entry after it reaches the socket.
    snapshot = _with(hub.snapshot(ls, conn), personal)
    hub.register(ls, conn)
    with bind(conn=conn.sid, session=session_id):
        logger.info("joined as %s (%s)", who.presence_role, conn.where)
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


async def resync_after_deafness(app: web.Application) -> None:
    """This worker heard no broadcast for a while (a store outage, a dropped subscription):
    what was sent meanwhile is lost. The session's own state is safe (the feed reads the log
    from where it was); what comes only by broadcast is not: the staff's backstage, cues,
    hands and media peers, and an audience member's own hand. Those sockets are told to fetch
    a snapshot; the rest of the audience is not disturbed."""
    conns = app[appkeys.CONNECTIONS].in_sessions()
    audience_sessions = sorted(
        {c.session_id for c in conns if c.principal.role == idn.AUDIENCE and c.session_id}
    )
    hands = await app[appkeys.BACKSTAGE].hand_people(audience_sessions) if audience_sessions else set()
    due = [
        c
        for c in conns
        if c.principal.role != idn.AUDIENCE or (c.session_id, c.principal.participant_id) in hands
    ]
    logger.warning("re-syncing %d sockets after missed broadcasts", len(due))
    sio = app[appkeys.SIO]
    for conn in due:
        with contextlib.suppress(Exception):
            await sio.emit(p.SESSION_RESYNC, {"session": conn.session_id}, to=conn.sid)


def register(sio: socketio.AsyncServer, app: web.Application) -> None:
    """Attach the connection and session handlers."""

    async def connect(sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        await on_connect(app, sid, environ, auth)

    async def disconnect(sid: str, *reason: Any) -> None:
        with contextlib.suppress(Exception):
            await on_disconnect(app, sid, *reason)

    sio.on("connect", connect)
    sio.on("disconnect", disconnect)
    handlers.register(sio, app, p.SESSION_JOIN, join, outcomes=app[appkeys.METRICS].joins)
    handlers.register(sio, app, p.SESSION_LEAVE, leave)
    handlers.register(sio, app, p.SESSION_SNAPSHOT, fresh_snapshot)
    handlers.register(sio, app, p.SESSION_RESUME, resume)
    handlers.register(sio, app, p.PRESENCE_WHERE, set_where)
    handlers.register(sio, app, p.SESSION_UPGRADE, upgrade)
