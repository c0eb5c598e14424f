"""Reactions over the socket: a tap in, one aggregated tick per session per second out."""

from __future__ import annotations

from typing import Any

import socketio
from aiohttp import web

from server import appkeys
from server.domain import reactions as rx
from server.domain import validate
from server.errors import Conflict, RateLimited, ok
from server.realtime import handlers
from server.realtime import protocol as p
from server.realtime.connections import Conn


async def send(app: web.Application, conn: Conn, data: Any) -> dict[str, Any]:
    """reaction:send {session, emoji}: counted unless the person sent the same one < 1 s ago."""
    data = validate.payload(data, {"session", "emoji"}, {"session", "emoji"})
    session_id = validate.identifier(data["session"], "session")
    if conn.session_id != session_id:
        raise Conflict("Join this session first.")
    emoji = rx.emoji(data["emoji"])
    counted = await app[appkeys.REACTIONS].send(session_id, conn.principal.person, emoji, rx.PER_PERSON_MS)
    if not counted:
        raise RateLimited("One of each reaction per second.", retry_after=1)
    return ok()


class ReactionBroadcaster:
    """Sends each session's reactions as one tick about once a second, from one worker."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def flush_once(self) -> int:
        """Broadcast due ticks; returns how many sessions were sent."""
        gate = self.app[appkeys.SETTINGS].reactions_tick_ms
        sio = self.app[appkeys.SIO]
        ticks = await self.app[appkeys.REACTIONS].take_ticks(gate)
        for tick in ticks:
            await sio.emit(
                p.REACTION_TICK,
                {"session": tick.session_id, "seq": tick.seq, "counts": tick.counts},
                room=p.session_room(tick.session_id),
            )
        return len(ticks)


def register(sio: socketio.AsyncServer, app: web.Application) -> None:
    """Attach the reaction handler."""
    handlers.register(sio, app, p.REACTION_SEND, send)
