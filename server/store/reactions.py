"""Reactions in Redis: limited per person, counted per session, logged as ~1 s ticks."""

from __future__ import annotations

from server.store import keys, scripts
from server.store.connection import Client, fleeting
from server.store.pending import REACTIONS, Pending, flush


class ReactionStore:
    """Count reactions and hand out each session's tick to exactly one worker."""

    def __init__(self, client: Client, pending: Pending | None = None) -> None:
        self.r = fleeting(client)  # a reaction is a moment, not a record: no WAIT for replicas
        self._script = scripts.load(self.r, "reactions")
        self.pending = pending if pending is not None else Pending()

    async def send(self, session_id: str, person: str, emoji: str, limit_ms: int) -> bool:
        """Count one reaction; False when the person is over their limit for this emoji."""
        script_keys = [
            keys.reactions_unsent(session_id),
            keys.reaction_totals(session_id),
            keys.reaction_limit(session_id, person, emoji),
        ]
        counted = bool(await self._script(keys=script_keys, args=["send", emoji, limit_ms]))
        if counted:
            self.pending.mark(REACTIONS, session_id)
        return counted

    async def totals(self, session_id: str) -> dict[str, int]:
        """Every reaction the session has had, per emoji."""
        raw = await self.r.hgetall(keys.reaction_totals(session_id))
        return {k: int(v) for k, v in raw.items()}

    async def log_ticks(self, gate_ms: int, limit: int = 200) -> int:
        """Log the tick of each session where this worker counted reactions, once due (what was
        sent since the last one, and the totals; at most once per gate_ms, whichever worker
        logs it), its counts cleared as they are taken; returns how many sessions."""
        return await flush(
            self.pending,
            kind=REACTIONS,
            client=self.r,
            script=self._script,
            calls=lambda s: (
                [
                    keys.session(s),
                    keys.log(s),
                    keys.reactions_unsent(s),
                    keys.reaction_totals(s),
                    keys.reactions_gate(s),
                ],
                ["flush", gate_ms],
            ),
            limit=limit,
        )
