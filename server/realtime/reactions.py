"""Reactions over the socket: a tap in, one aggregated tick per session per second logged."""

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


class ReactionLogger:
    """Logs each session's reactions as one tick about once a second, from one worker."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    async def flush_once(self) -> int:
        """Log due ticks; returns how many sessions."""
        return await self.app[appkeys.REACTIONS].log_ticks(self.app[appkeys.SETTINGS].reactions_tick_ms)


def register(sio: socketio.AsyncServer, app: web.Application) -> None:
    """Attach the reaction handler."""
    handlers.register(sio, app, p.REACTION_SEND, send)
