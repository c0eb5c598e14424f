"""The SFU mode (rtc.sfu_url set): a live speaker publishes once to the session's Janus
VideoRoom; hall screens, moderators and the remote audience subscribe from it.

Browsers never talk to Janus's API: they send their SDP to Podium over their socket
(`sfu:publish`, `sfu:subscribe`, `sfu:start`, `sfu:stop`), Podium checks who they are and
what they may watch, and asks Janus on their behalf; only the media flows between the
browser and Janus. Each worker holds one Janus session and a handle per publishing or
watching socket; a socket that leaves or closes takes its handles with it, and a worker
that dies takes its Janus session with it (Janus drops it after session_timeout).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import socketio
from aiohttp import web

from server import appkeys
from server.domain import sfu as dom
from server.domain import stage as st
from server.domain import validate
from server.errors import Conflict, Forbidden, Invalid, NotFound, PodiumError, Unavailable, ok
from server.media import janus as jn
from server.realtime import handlers
from server.realtime import protocol as p
from server.realtime.connections import Conn

logger = logging.getLogger(__name__)

WATCH_MAX = 2 * st.MAX_LIVE  # subscriptions one socket may hold at once
# Each publish or subscribe costs Janus a handle and a room lookup: per person (all their
# tabs and workers), far above what reconnecting pages need (a stalled picture is asked
# for again every 5 s at most: 48 a minute for 4 live speakers, per screen of one link).
JANUS_CALLS_PER_MINUTE = 300


@dataclass
class Sfu:
    """One worker's side of the SFU: its Janus session, and which socket holds which handle."""

    janus: jn.Janus
    secret: str
    rooms: set[int] = field(default_factory=set)  # rooms this worker knows exist
    control: int | None = None  # a handle for the room requests (create, allowed, kick...)
    publishing: dict[str, tuple[str, int]] = field(default_factory=dict)  # sid -> (session, handle)
    watching: dict[str, dict[str, int]] = field(default_factory=dict)  # sid -> speaker -> handle
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def keys(self, session_id: str) -> tuple[int, str, str]:
        """The session's room number, secret and pin."""
        return (
            dom.room_id(session_id),
            dom.room_key(self.secret, session_id, "secret"),
            dom.room_key(self.secret, session_id, "pin"),
        )

    async def _control(self, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous room request, on a handle re-made if Janus lost it."""
        for attempt in (1, 2):
            async with self.lock:
                if self.control is None:
                    self.control = await self.janus.attach()
                handle = self.control
            try:
                return await self.janus.request(handle, body)
            except jn.JanusError as exc:
                if attempt == 2 or exc.code not in (jn.NO_SUCH_SESSION, jn.NO_SUCH_HANDLE):
                    raise
                self.control = None
                self.rooms.clear()  # Janus restarted: its rooms went with it
        raise AssertionError("unreachable")

    async def room(self, session_id: str) -> int:
        """The session's room, created on first need (private, not kept across restarts)."""
        room, secret, pin = self.keys(session_id)
        if room in self.rooms:
            return room
        try:
            await self._control(
                {
                    "request": "create",
                    "room": room,
                    "description": f"podium {session_id}",
                    "secret": secret,
                    "pin": pin,
                    "allowed": [],  # publishers need a token Podium added for them
                    "is_private": True,
                    "permanent": False,
                    "publishers": dom.ROOM_PUBLISHERS,
                    "audiocodec": "opus",
                    "videocodec": "vp8",
                    "notify_joining": False,
                }
            )
        except jn.JanusError as exc:
            if exc.code != jn.ROOM_EXISTS:
                raise
        self.rooms.add(room)
        return room

    async def _in_room(self, session_id: str, fn: Any) -> Any:
        """Run fn(room) once, and again with the room re-made if Janus no longer had it."""
        room = await self.room(session_id)
        try:
            return await fn(room)
        except jn.JanusError as exc:
            if exc.code not in (jn.NO_SUCH_ROOM, jn.NO_SUCH_SESSION):
                raise
            self.rooms.discard(room)
            return await fn(await self.room(session_id))

    async def publish(self, sid: str, session_id: str, speaker: str, offer: dict[str, Any]) -> dict[str, Any]:
        """Join the room as this speaker with their offer; Janus's answer."""
        await self.unpublish(sid)
        _room, secret, pin = self.keys(session_id)

        async def join(room: int) -> dict[str, Any]:
            # One feed per speaker: a studio this one replaces (a reload, a reconnect whose
            # old socket has not closed yet, a takeover) leaves the room first.
            await self._kick(room, secret, speaker)
            # A token for this one join: added just before, removed right after.
            token = secrets.token_urlsafe(24)
            allowed = {"request": "allowed", "room": room, "secret": secret, "allowed": [token]}
            await self._control({**allowed, "action": "add"})
            handle = await self.janus.attach()
            self.publishing[sid] = (session_id, handle)
            try:
                body = {
                    "request": "joinandconfigure",
                    "ptype": "publisher",
                    "room": room,
                    "pin": pin,
                    "token": token,
                    "display": speaker,
                    "audio": True,
                    "video": True,
                }
                _data, jsep = await self.janus.message(handle, body, offer)
            except BaseException:
                await self.unpublish(sid)
                raise
            finally:
                await self._control({**allowed, "action": "remove"})
            if not jsep:
                await self.unpublish(sid)
                raise jn.JanusError(0, "no answer to the offer")
            return jsep

        result: dict[str, Any] = await self._in_room(session_id, join)
        return result

    async def unpublish(self, sid: str) -> None:
        """This socket's speaker leaves the room (their subscribers' pictures end)."""
        held = self.publishing.pop(sid, None)
        if held is not None:
            await self.janus.detach(held[1])

    async def subscribe(self, sid: str, session_id: str, speaker: str) -> dict[str, Any]:
        """A subscription to this speaker's feed; Janus's offer for it."""
        await self.unwatch(sid, speaker)
        if len(self.watching.get(sid, {})) >= WATCH_MAX:
            raise Conflict("Watching too many pictures at once.")
        _room, _secret, pin = self.keys(session_id)

        async def join(room: int) -> dict[str, Any]:
            feed = await self._feed(room, speaker)
            handle = await self.janus.attach()
            self.watching.setdefault(sid, {})[speaker] = handle
            try:
                body = {
                    "request": "join",
                    "ptype": "subscriber",
                    "room": room,
                    "pin": pin,
                    "streams": [{"feed": feed}],
                }
                _data, jsep = await self.janus.message(handle, body)
            except BaseException:
                await self.unwatch(sid, speaker)
                raise
            if not jsep:
                await self.unwatch(sid, speaker)
                raise jn.JanusError(0, "no offer for the subscription")
            return jsep

        result: dict[str, Any] = await self._in_room(session_id, join)
        return result

    async def _feed(self, room: int, speaker: str) -> int:
        data = await self._control({"request": "listparticipants", "room": room})
        feeds = [
            int(x["id"])
            for x in data.get("participants", [])
            if x.get("display") == speaker and x.get("publisher")
        ]
        if not feeds:
            raise NotFound("That speaker's picture is not on the stage yet.")
        return feeds[0]  # one at most: a new publish of a speaker kicks the older feed

    async def start(self, sid: str, speaker: str, answer: dict[str, Any]) -> None:
        """The browser's answer to a subscription: the media starts."""
        handle = self.watching.get(sid, {}).get(speaker)
        if handle is None:
            raise NotFound("Subscribe to that speaker first.")
        await self.janus.message(handle, {"request": "start"}, answer)

    async def unwatch(self, sid: str, speaker: str) -> None:
        """One subscription of this socket ends."""
        handle = self.watching.get(sid, {}).pop(speaker, None)
        if handle is not None:
            await self.janus.detach(handle)

    async def forget(self, sid: str) -> None:
        """A socket left its session or closed: everything it held in Janus goes."""
        await self.unpublish(sid)
        for speaker in list(self.watching.get(sid, {})):
            await self.unwatch(sid, speaker)
        self.watching.pop(sid, None)

    async def kick(self, session_id: str, speaker: str) -> None:
        """A speaker leaves the stage: their feed leaves the room, whichever worker holds it."""
        room, secret, _pin = self.keys(session_id)
        if room not in self.rooms:
            await self.room(session_id)
        await self._kick(room, secret, speaker)

    async def _kick(self, room: int, secret: str, speaker: str) -> None:
        data = await self._control({"request": "listparticipants", "room": room})
        for x in data.get("participants", []):
            if x.get("display") == speaker:
                try:
                    await self._control({"request": "kick", "room": room, "secret": secret, "id": x["id"]})
                except jn.JanusError as exc:
                    if exc.code != jn.NO_SUCH_FEED:  # it left meanwhile
                        raise

    async def destroy(self, session_id: str) -> None:
        """The session ended or was deleted: its room goes (it is made again if needed)."""
        room, secret, _pin = self.keys(session_id)
        self.rooms.discard(room)
        try:
            await self._control({"request": "destroy", "room": room, "secret": secret, "permanent": False})
        except jn.JanusError as exc:
            if exc.code != jn.NO_SUCH_ROOM:
                raise


def _unavailable(exc: jn.JanusError) -> PodiumError:
    if exc.code == jn.UNAUTHORIZED:
        return Forbidden("The stage's media server refused this.")
    if exc.code in (jn.NO_SUCH_FEED, jn.NO_SUCH_ROOM):
        return NotFound("That picture is not on the stage now.")
    logger.warning("janus: %s", exc)
    return Unavailable("The stage's media server is unavailable; retrying.", retry_after=2)


def _sfu(app: web.Application) -> Sfu:
    sfu = app.get(appkeys.SFU)
    if sfu is None:
        raise Conflict("This Podium has no SFU: the stage is peer to peer.")
    return sfu


def _jsep(data: Any, kind: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise Invalid("jsep must be an object.", field="jsep")
    validate.payload(data, {"type", "sdp"}, {"type", "sdp"})
    if data["type"] != kind:
        raise Invalid(f"jsep.type must be {kind}.", field="jsep")
    if not isinstance(data["sdp"], str) or not 0 < len(data["sdp"]) <= dom.SDP_MAX:
        raise Invalid("jsep.sdp must be an SDP text.", field="jsep")
    return {"type": kind, "sdp": data["sdp"]}


def _in_session(conn: Conn, data: dict[str, Any]) -> str:
    session_id = validate.identifier(data["session"], "session")
    if conn.session_id != session_id:
        raise Conflict("Join this session first.")
    return session_id


async def publish(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """sfu:publish {session, jsep: offer} -> {jsep: answer}: a live speaker sends to the stage."""
    data = validate.payload(data, {"session", "jsep"}, {"session", "jsep"})
    session_id = _in_session(conn, data)
    offer = _jsep(data["jsep"], "offer")
    sfu = _sfu(app)
    speaker = conn.principal.invite_id or ""
    state = await app[appkeys.LINEUP].state_of(session_id, speaker) if speaker else None
    dom.require_publisher(conn.principal.presence_role, state)
    try:
        answer = await sfu.publish(conn.sid, session_id, speaker, offer)
    except jn.JanusError as exc:
        raise _unavailable(exc) from exc
    return ok(jsep=answer)


async def subscribe(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """sfu:subscribe {session, speaker} -> {jsep: offer}: watch a live speaker."""
    data = validate.payload(data, {"session", "speaker"}, {"session", "speaker"})
    session_id = _in_session(conn, data)
    speaker = validate.identifier(data["speaker"], "speaker")
    sfu = _sfu(app)
    dom.require_subscriber(
        conn.principal.presence_role, await app[appkeys.LINEUP].state_of(session_id, speaker)
    )
    try:
        offer = await sfu.subscribe(conn.sid, session_id, speaker)
    except jn.JanusError as exc:
        raise _unavailable(exc) from exc
    return ok(jsep=offer)


async def start(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """sfu:start {session, speaker, jsep: answer}: the subscription's media starts."""
    data = validate.payload(data, {"session", "speaker", "jsep"}, {"session", "speaker", "jsep"})
    _in_session(conn, data)
    speaker = validate.identifier(data["speaker"], "speaker")
    answer = _jsep(data["jsep"], "answer")
    try:
        await _sfu(app).start(conn.sid, speaker, answer)
    except jn.JanusError as exc:
        raise _unavailable(exc) from exc
    return ok()


async def stop(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """sfu:stop {session, speaker?}: stop watching that speaker, or (no speaker) publishing."""
    data = validate.payload(data, {"session", "speaker"}, {"session"})
    _in_session(conn, data)
    sfu = _sfu(app)
    if validate.present(data, "speaker"):
        await sfu.unwatch(conn.sid, validate.identifier(data["speaker"], "speaker"))
    else:
        await sfu.unpublish(conn.sid)
    return ok()


# --- hooks for the rest of Podium (each a no-op without an SFU) -------------------------------


def snapshot(app: web.Application) -> dict[str, Any]:
    """What a snapshot's `rtc` adds: whether the stage goes through the SFU."""
    return {"sfu": True} if app.get(appkeys.SFU) is not None else {}


async def left(app: web.Application, conn: Conn) -> None:
    """A socket left its session or closed."""
    sfu = app.get(appkeys.SFU)
    if sfu is not None and (conn.sid in sfu.publishing or conn.sid in sfu.watching):
        try:
            await sfu.forget(conn.sid)
        except Exception:
            logger.exception("sfu: releasing %s failed", conn.sid)


async def speaker_moved(app: web.Application, session_id: str, speaker: str, state: str) -> None:
    """A speaker left the stage: their feed is taken out of the room at once."""
    sfu = app.get(appkeys.SFU)
    if sfu is None or state == "live":
        return
    try:
        await sfu.kick(session_id, speaker)
    except jn.JanusError as exc:
        logger.warning("sfu: could not take %s off the stage: %s", speaker, exc)


async def session_over(app: web.Application, session_id: str) -> None:
    """The session ended or was deleted: its room goes."""
    sfu = app.get(appkeys.SFU)
    if sfu is None:
        return
    try:
        await sfu.destroy(session_id)
    except jn.JanusError as exc:
        logger.warning("sfu: could not destroy the room of %s: %s", session_id, exc)


async def context(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the worker's Janus client, when rtc.sfu_url is set."""
    settings = app[appkeys.SETTINGS]
    if not settings.sfu_url:
        yield
        return
    client = jn.Janus(settings.sfu_url, settings.sfu_api_secret)
    await client.start()
    app[appkeys.SFU] = Sfu(janus=client, secret=app[appkeys.AUTH].secret)
    try:
        yield
    finally:
        await client.close()


def register(sio: socketio.AsyncServer, app: web.Application) -> None:
    """Attach the SFU handlers (they answer `conflict` when no SFU is configured)."""
    calls = handlers.PersonLimit("sfu", JANUS_CALLS_PER_MINUTE, 60)
    handlers.register(sio, app, p.SFU_PUBLISH, publish, signaling=True, per_person=calls)
    handlers.register(sio, app, p.SFU_SUBSCRIBE, subscribe, signaling=True, per_person=calls)
    handlers.register(sio, app, p.SFU_START, start, signaling=True)
    handlers.register(sio, app, p.SFU_STOP, stop, signaling=True)
