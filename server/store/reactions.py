"""Reactions in Redis: limited per person, counted per session, logged as ~1 s ticks."""

from __future__ import annotations

from server.store import keys, scripts
from server.store.connection import Client, fleeting


class ReactionStore:
    """Count reactions and hand out each session's tick to exactly one worker."""

    def __init__(self, client: Client) -> None:
        self.r = fleeting(client)  # a reaction is a moment, not a record: no WAIT for replicas
        self._script = scripts.load(self.r, "reactions")

    async def send(self, session_id: str, person: str, emoji: str, limit_ms: int) -> bool:
        """Count one reaction; False when the person is over their limit for this emoji."""
        return bool(await self._script(args=[keys.PREFIX, "send", session_id, person, emoji, limit_ms]))

    async def totals(self, session_id: str) -> dict[str, int]:
        """Every reaction the session has had, per emoji."""
        raw = await self.r.hgetall(keys.reaction_totals(session_id))
        return {k: int(v) for k, v in raw.items()}

    async def log_ticks(self, gate_ms: int, limit: int = 200) -> int:
        """Log each due session's tick (what was sent since the last one, and the totals),
        its counts cleared as they are taken; returns how many sessions."""
        return int(await self._script(args=[keys.PREFIX, "flush", gate_ms, limit]))
