"""Who is on the stage: each speaker backstage, live or off, in Redis, versioned with the session."""

from __future__ import annotations

from server.errors import Conflict
from server.store import keys, scripts
from server.store.connection import Client

MAX_LIVE = 4  # a panel


class LineupStore:
    """Speakers arrive backstage; only moderators move them."""

    def __init__(self, client: Client) -> None:
        self.r = client
        self._script = scripts.load(client, "lineup")

    async def _run(self, session_id: str, op: str, speaker: str, value: str) -> tuple[bool, int]:
        changed, second = await self._script(
            keys=[keys.session(session_id), keys.lineup(session_id), keys.lineup_labels(session_id)],
            args=[op, speaker, value, MAX_LIVE],
        )
        if int(changed) < 0:
            raise Conflict(str(second))
        return bool(int(changed)), int(second)

    async def arrive(self, session_id: str, speaker: str, label: str) -> tuple[bool, int]:
        """A speaker entered: backstage if new, their place kept if they come back."""
        return await self._run(session_id, "arrive", speaker, label)

    async def set_state(self, session_id: str, speaker: str, state: str) -> tuple[bool, int]:
        """Move a speaker; at most MAX_LIVE live at once."""
        return await self._run(session_id, "set", speaker, state)

    async def lineup(self, session_id: str) -> list[dict[str, str]]:
        """Every speaker of the session with their state and label."""
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.lineup(session_id))
            pipe.hgetall(keys.lineup_labels(session_id))
            states, labels = await pipe.execute()
        return [
            {"speaker": speaker, "state": state, "label": labels.get(speaker, "")}
            for speaker, state in sorted(states.items())
        ]
