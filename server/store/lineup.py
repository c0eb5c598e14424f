"""Who is on the stage: each speaker backstage, live, on their backup recording or off, in
arrival order, with whether they are connected; versioned with the session, in Redis."""

from __future__ import annotations

from typing import Any

from server.domain.stage import MAX_LIVE, ON_STAGE
from server.errors import Conflict
from server.store import keys, scripts
from server.store.connection import Client


def _in_order(order: list[str], states: dict[str, str]) -> list[str]:
    """The lineup's speakers in running order (any missing from it last, by id)."""
    return [s for s in order if s in states] + sorted(set(states) - set(order))


class LineupStore:
    """Speakers arrive backstage; only moderators move them."""

    def __init__(self, client: Client) -> None:
        self.r = client
        self._script = scripts.load(client, "lineup")

    async def _run(
        self,
        session_id: str,
        op: str,
        speaker: str = "",
        value: str = "",
        *,
        member: str = "",
        extra: tuple[str, ...] = (),
    ) -> tuple[bool, int]:
        changed, second = await self._script(
            keys=[
                keys.session(session_id),
                keys.lineup(session_id),
                keys.lineup_labels(session_id),
                keys.lineup_members(session_id),
                keys.lineup_order(session_id),
                keys.stage(session_id),
            ],
            args=[op, speaker, value, MAX_LIVE, member, *extra],
        )
        if int(changed) < 0:
            raise Conflict(str(second))
        return bool(int(changed)), int(second)

    async def arrive(self, session_id: str, speaker: str, label: str, member: str) -> tuple[bool, int]:
        """A speaker entered: backstage if new, their place kept if they come back.

        When that changed the lineup, the caller publishes it (read after this returns, so
        with every connection as it is now): the session's pending connection broadcast
        would only repeat it, and is dropped."""
        changed, version = await self._run(session_id, "arrive", speaker, label, member=member)
        if changed:
            await self.r.srem(keys.STAGE_DIRTY, session_id)
        return changed, version

    async def set_state(self, session_id: str, speaker: str, state: str) -> tuple[bool, int]:
        """Move a speaker; at most MAX_LIVE live (or on their backup) at once."""
        return await self._run(session_id, "set", speaker, state)

    async def set_status(self, session_id: str, status: str) -> tuple[bool, int]:
        """The session is scheduled, live or ended."""
        return await self._run(session_id, "status", value=status)

    async def reorder(self, session_id: str, speakers: list[str]) -> tuple[bool, int]:
        """Set the running order: every speaker of the lineup, each once."""
        return await self._run(session_id, "order", extra=tuple(speakers))

    async def touch(self, session_id: str) -> int:
        """A new version for a lineup whose details changed (a backup recording); 0 if the session is gone."""
        try:
            return (await self._run(session_id, "touch"))[1]
        except Conflict:
            return 0

    async def state_of(self, session_id: str, speaker: str) -> str | None:
        """One speaker's state, or None if they never arrived."""
        value = await self.r.hget(keys.lineup(session_id), speaker)
        return str(value) if value else None

    async def take_dirty(self, limit: int = 100) -> list[str]:
        """Sessions where a speaker connected or dropped since the last call (each taken once)."""
        return [str(s) for s in await self.r.spop(keys.STAGE_DIRTY, limit) or []]

    async def mark_dirty(self, session_ids: list[str]) -> None:
        """Give sessions back to take_dirty() (their broadcast failed)."""
        if session_ids:
            await self.r.sadd(keys.STAGE_DIRTY, *session_ids)

    async def stage(self, session_id: str) -> tuple[str, int, list[dict[str, Any]]]:
        """The session's status, the sequence number of its connection state, and every
        speaker in running order: state, label, online."""
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.hmget(keys.stage(session_id), ["status", "online_seq"])
            pipe.zrange(keys.lineup_order(session_id), 0, -1)
            pipe.hgetall(keys.lineup(session_id))
            pipe.hgetall(keys.lineup_labels(session_id))
            pipe.hgetall(keys.lineup_members(session_id))
            pipe.hgetall(keys.presence_members(session_id))
            (status, seq), order, states, labels, members, present = await pipe.execute()
        lineup = [
            {
                "speaker": speaker,
                "state": states[speaker],
                "label": labels.get(speaker, ""),
                "online": int(present.get(members.get(speaker, ""), 0) or 0) > 0,
            }
            for speaker in _in_order(order, states)
        ]
        return str(status or "scheduled"), int(seq or 0), lineup

    async def on_stage(self, session_id: str) -> tuple[str, list[dict[str, Any]]]:
        """The status and the speakers on stage (live or on their backup), in running order:
        what the audience sees, read without the connection state."""
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.hget(keys.stage(session_id), "status")
            pipe.zrange(keys.lineup_order(session_id), 0, -1)
            pipe.hgetall(keys.lineup(session_id))
            pipe.hgetall(keys.lineup_labels(session_id))
            status, order, states, labels = await pipe.execute()
        lineup = [
            {"speaker": s, "state": states[s], "label": labels.get(s, "")}
            for s in _in_order(order, states)
            if states[s] in ON_STAGE
        ]
        return str(status or "scheduled"), lineup

    async def online(self, session_id: str) -> tuple[int, dict[str, bool]]:
        """A new sequence number and whether each speaker of the lineup is connected now."""
        seq = int(await self.r.hincrby(keys.stage(session_id), "online_seq", 1))
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.lineup_members(session_id))
            pipe.hgetall(keys.presence_members(session_id))
            members, present = await pipe.execute()
        return seq, {speaker: int(present.get(m, 0) or 0) > 0 for speaker, m in members.items()}
