"""Reactions in Redis: limited per person, counted per session, flushed as ~1 s ticks."""

from __future__ import annotations

from dataclasses import dataclass

from server.store import keys, scripts
from server.store.connection import Client


@dataclass(frozen=True)
class ReactionTick:
    """What one session's audience sent since the last tick."""

    session_id: str
    seq: int
    counts: dict[str, int]


class ReactionStore:
    """Count reactions and hand out each session's tick to exactly one worker."""

    def __init__(self, client: Client) -> None:
        self.r = client
        self._script = scripts.load(client, "reactions")

    async def send(self, session_id: str, person: str, emoji: str, limit_ms: int) -> bool:
        """Count one reaction; False when the person is over their limit for this emoji."""
        return bool(await self._script(args=[keys.PREFIX, "send", session_id, person, emoji, limit_ms]))

    async def totals(self, session_id: str) -> dict[str, int]:
        """Every reaction the session has had, per emoji."""
        raw = await self.r.hgetall(keys.reaction_totals(session_id))
        return {k: int(v) for k, v in raw.items()}

    async def take_ticks(self, gate_ms: int, limit: int = 200) -> list[ReactionTick]:
        """Sessions whose tick is due, their counts cleared as they are taken."""
        out = []
        for row in await self._script(args=[keys.PREFIX, "flush", gate_ms, limit]):
            session_id, seq, *flat = row
            counts = {str(e): int(n) for e, n in zip(flat[::2], flat[1::2], strict=True)}
            out.append(ReactionTick(str(session_id), int(seq), counts))
        return out
