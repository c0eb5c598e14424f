"""WebRTC signaling over the socket: relayed only between speakers and the screens and
moderators of the same session; the media flows between the browsers."""

from __future__ import annotations

import time
from typing import Any

import socketio
from aiohttp import web

from server import appkeys
from server.domain import rtc, validate
from server.errors import Conflict, Forbidden, NotFound, ok
from server.realtime import handlers, sfu
from server.realtime import protocol as p
from server.realtime.connections import Conn


def _role(conn: Conn) -> str | None:
    role = conn.principal.presence_role
    return role if role in rtc.SIGNALING_ROLES else None


async def entered(app: web.Application, conn: Conn, session_id: str) -> None:
    """A speaker, screen or moderator socket joined a session: make it reachable."""
    role = _role(conn)
    if role is None:
        return
    speaker = conn.principal.invite_id or "" if role == "speaker" else ""
    await app[appkeys.RTC].enter(session_id, conn.sid, role, speaker)
    sio = app[appkeys.SIO]
    await sio.enter_room(conn.sid, p.rtc_room(session_id))
    await sio.emit(
        p.RTC_PEER,
        {"session": session_id, "peer": conn.sid, "role": role, "speaker": speaker or None, "present": True},
        room=p.rtc_room(session_id),
        skip_sid=conn.sid,
    )


async def left(app: web.Application, conn: Conn, session_id: str) -> None:
    """It left the session or closed: its peers drop their connections to it."""
    if _role(conn) is None:
        return
    await app[appkeys.RTC].leave(session_id, conn.sid)
    sio = app[appkeys.SIO]
    await sio.leave_room(conn.sid, p.rtc_room(session_id))
    await sio.emit(
        p.RTC_PEER,
        {"session": session_id, "peer": conn.sid, "present": False},
        room=p.rtc_room(session_id),
    )


def _ice(app: web.Application, conn: Conn) -> list[dict[str, Any]]:
    s = app[appkeys.SETTINGS]
    return rtc.ice_servers(
        s.stun_urls,
        s.turn_urls,
        turn_secret=s.turn_secret,
        user=conn.principal.person,
        now=int(time.time()),
        ttl=s.turn_ttl_seconds,
    )


async def rtc_snapshot(app: web.Application, conn: Conn, session_id: str) -> dict[str, Any] | None:
    """For signaling roles: ICE servers and the peers they may connect to."""
    role = _role(conn)
    if role is None:
        return None
    s = app[appkeys.SETTINGS]
    servers = _ice(app, conn)
    peers = [
        {"peer": sid, "role": r, "speaker": speaker or None}
        for sid, (r, speaker) in (await app[appkeys.RTC].peers(session_id)).items()
        if sid != conn.sid and (role, r) in rtc.ALLOWED
    ]
    return {
        "ice_servers": servers,
        "ice_transport_policy": s.ice_transport_policy,
        "ice_ttl_s": s.turn_ttl_seconds,
        "peers": peers,
        "you": conn.sid,
        **sfu.snapshot(app),
    }


async def ice(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """rtc:ice {session}: fresh ICE servers (new TURN credentials), for a page open longer than
    its credentials last (a kiosk switched on in the morning, a studio left open all day)."""
    data = validate.payload(data, {"session"}, {"session"})
    if conn.session_id != validate.identifier(data["session"], "session"):
        raise Conflict("Join this session first.")
    if _role(conn) is None:
        raise Forbidden("Only speakers, hall screens and moderators connect media.")
    return ok(ice_servers=_ice(app, conn), ice_ttl_s=app[appkeys.SETTINGS].turn_ttl_seconds)


async def signal(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """rtc:signal {session, to, kind, data}: relayed to `to` if the two may connect."""
    data = validate.payload(data, {"session", "to", "kind", "data"}, {"session", "to", "kind"})
    session_id = validate.identifier(data["session"], "session")
    if conn.session_id != session_id:
        raise Conflict("Join this session first.")
    role = _role(conn)
    if role is None:
        raise Forbidden("Only speakers, hall screens and moderators connect media.")
    target = validate.identifier(data["to"], "to")
    kind = validate.choice(data["kind"], "kind", rtc.KINDS)
    payload = rtc.signal_data(kind, data.get("data"))
    peer = await app[appkeys.RTC].peer(session_id, target)
    if peer is None:
        raise NotFound("That peer is not in this session.")
    rtc.require_pair(role, peer[0], kind)
    speaker = conn.principal.invite_id if role == "speaker" else None
    await app[appkeys.SIO].emit(
        p.RTC_SIGNAL,
        {
            "session": session_id,
            "from": conn.sid,
            "role": role,
            "speaker": speaker,
            "kind": kind,
            "data": payload,
        },
        to=target,
    )
    return ok()


def register(sio: socketio.AsyncServer, app: web.Application) -> None:
    """Attach the signaling handler."""
    handlers.register(sio, app, p.RTC_SIGNAL, signal, signaling=True)
    handlers.register(sio, app, p.RTC_ICE, ice)
