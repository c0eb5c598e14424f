"""The organizer's picture of sessions in Redis: a sample per running session per minute
(insight.lua), each person's time in the session (kept by presence.lua), the running totals
(kept by qa.lua; the polls' script adds its own field to the same hash)."""

from __future__ import annotations

from typing import Any

from server.domain.insight import Sample, sample_from_entry
from server.store import keys, scripts
from server.store.connection import Client, fleeting


class InsightStore:
    """Take samples (any worker, as often as it likes: one per minute lands), read them back."""

    def __init__(self, client: Client, *, retention_s: int, max_samples: int) -> None:
        self.r = fleeting(client)  # a lost sample is a gap in a chart, not a lost record: no WAIT
        self._sample = scripts.load(self.r, "insight")
        self.retention_s = retention_s
        self.max_samples = max_samples

    async def sample(self, session_ids: list[str]) -> int:
        """Sample each session for this minute unless a worker did already (or it ended);
        returns how many samples this call wrote."""
        if not session_ids:
            return 0
        calls: list[scripts.Call] = [
            (keys.insight_keys(s), [self.retention_s, self.max_samples]) for s in session_ids
        ]
        replies = await scripts.run_many(self.r, self._sample, calls)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return sum(int(r) for r in replies)

    async def samples(self, session_id: str, since_ms: int | None = None) -> list[Sample]:
        """The session's samples, oldest first (from since_ms on, when given)."""
        start = "-" if since_ms is None else f"{since_ms}-0"
        entries = await self.r.xrange(keys.insight_minutes(session_id), min=start, max="+")
        return [sample_from_entry(str(entry_id), fields) for entry_id, fields in entries]

    async def last_sample_ms(self, session_ids: list[str]) -> dict[str, int | None]:
        """When each session was last sampled (ms), None if never."""
        if not session_ids:
            return {}
        async with self.r.pipeline(transaction=False) as pipe:
            for s in session_ids:
                pipe.xrevrange(keys.insight_minutes(s), max="+", min="-", count=1)
            rows = await pipe.execute()
        return {
            s: int(str(row[0][0]).split("-")[0]) if row else None
            for s, row in zip(session_ids, rows, strict=True)
        }

    async def stays(self, session_id: str) -> tuple[dict[str, str], dict[str, str], int]:
        """(closed stays: member -> ms, stays going on: member -> since ms, the store's now ms)."""
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.insight_dwell(session_id))
            pipe.hgetall(keys.insight_since(session_id))
            pipe.time()
            dwell, since, (sec, usec) = await pipe.execute()
        return dwell, since, int(sec) * 1000 + int(usec) // 1000

    async def tally(self, session_id: str) -> dict[str, int]:
        """The session's running totals now."""
        raw = await self.r.hgetall(keys.insight_tally(session_id))
        return {k: int(v) for k, v in raw.items()}

    async def statuses(self, session_ids: list[str]) -> dict[str, str]:
        """Each session's stage status (scheduled | live | ended)."""
        if not session_ids:
            return {}
        async with self.r.pipeline(transaction=False) as pipe:
            for s in session_ids:
                pipe.hget(keys.stage(s), "status")
            rows = await pipe.execute()
        return {s: str(row or "scheduled") for s, row in zip(session_ids, rows, strict=True)}

    async def memory(self, session_id: str) -> dict[str, Any]:
        """Bytes each insight key of a session takes (MEMORY USAGE), for operators."""
        out: dict[str, Any] = {}
        for key in (
            keys.insight_minutes(session_id),
            keys.insight_tally(session_id),
            keys.insight_since(session_id),
            keys.insight_dwell(session_id),
        ):
            out[key] = await self.r.memory_usage(key, samples=0)
        return out
