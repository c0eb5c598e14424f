"""Which sockets of a session may signal, and in which role (across workers, in Redis)."""

from __future__ import annotations

from server.store import keys
from server.store.connection import Client, fleeting

TTL = 24 * 3600


class RtcStore:
    """Socket id -> role and speaker of the signaling sockets of each session."""

    def __init__(self, client: Client) -> None:
        self.r = fleeting(client)  # sockets re-enter on reconnect: no WAIT for replicas

    async def enter(self, session_id: str, sid: str, role: str, speaker: str) -> None:
        """A speaker, screen or moderator socket is in the session."""
        key = keys.rtc_peers(session_id)
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.hset(key, sid, f"{role}|{speaker}")
            pipe.expire(key, TTL)
            await pipe.execute()

    async def leave(self, session_id: str, sid: str) -> None:
        """It left (or closed)."""
        await self.r.hdel(keys.rtc_peers(session_id), sid)

    async def peer(self, session_id: str, sid: str) -> tuple[str, str] | None:
        """(role, speaker) of a socket in this session, or None."""
        value = await self.r.hget(keys.rtc_peers(session_id), sid)
        if not value:
            return None
        role, _, speaker = str(value).partition("|")
        return role, speaker

    async def peers(self, session_id: str) -> dict[str, tuple[str, str]]:
        """Every signaling socket of the session."""
        raw = await self.r.hgetall(keys.rtc_peers(session_id))
        out = {}
        for sid, value in raw.items():
            role, _, speaker = str(value).partition("|")
            out[str(sid)] = (role, speaker)
        return out
