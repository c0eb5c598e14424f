"""Live presence in Redis: who is in each session, counted per person, safe across workers.

Each worker heartbeats one score in a sorted set; a worker silent for longer than the
TTL is presumed dead (SIGKILL runs no disconnect handler) and any worker's sweeper
removes its connections. Counts are kept incrementally by presence.lua, so reading
them is one HGETALL whatever the crowd.
"""

from __future__ import annotations

from typing import Any

from server.domain.presence import Counts, counts_from_fields
from server.store import keys, scripts
from server.store.connection import Client, fleeting


class PresenceStore:
    """Connections in, exact per-person counts out."""

    def __init__(self, client: Client) -> None:
        self.r = fleeting(client)  # rebuilt by heartbeats and sweeps: no WAIT for replicas
        self._script = scripts.load(self.r, "presence")

    async def _run(self, *args: Any) -> Any:
        return await self._script(args=[keys.PREFIX, *args])

    async def join(self, conn: str, session_id: str, member: str, where: str, worker: str) -> str:
        """Count conn in session_id (leaving any previous one); returns the member's where."""
        return str(await self._run("join", conn, session_id, member, where, worker))

    async def leave(self, conn: str) -> bool:
        """Stop counting conn; True if it was counted."""
        return bool(await self._run("leave", conn))

    async def set_where(self, session_id: str, member: str, where: str) -> bool:
        """Move a present member between hall and remote."""
        return bool(await self._run("where", session_id, member, where))

    async def counts(self, session_id: str) -> tuple[int, Counts]:
        """The session's current (seq, counts)."""
        raw = await self.r.hgetall(keys.presence_counts(session_id))
        seq = int(raw.pop("_seq", 0))
        return seq, counts_from_fields(raw)

    async def heartbeat(self, worker: str, now_ms: int) -> bool:
        """Record that worker is alive; True if it was unknown (new, or reaped meanwhile)."""
        return bool(await self.r.zadd(keys.WORKERS, {worker: now_ms}))

    async def reap_dead_workers(self, now_ms: int, ttl_ms: int) -> dict[str, int]:
        """Remove the connections of every worker silent for ttl_ms; {worker: connections}."""
        cutoff = now_ms - ttl_ms
        dead = await self.r.zrangebyscore(keys.WORKERS, "-inf", cutoff)
        reaped: dict[str, int] = {}
        for worker in dead:
            n = int(await self._run("reap", worker, cutoff))
            if n >= 0:
                reaped[worker] = n
        return reaped

    async def retire(self, worker: str) -> int:
        """A worker shutting down cleanly removes all its connections at once."""
        return int(await self._run("reap", worker, 2**62))

    async def worker_connections(self, worker: str) -> set[str]:
        """The connections Redis believes this worker holds."""
        return set(await self.r.smembers(keys.worker_connections(worker)))

    async def log_counts(self, gate_ms: int, limit: int = 200) -> int:
        """Log the counts of sessions whose counts changed and are due an update (each taken by
        one worker, at most once per gate_ms), and who of the lineup is connected where a
        speaker came or went; returns how many sessions."""
        return int(await self._run("flush", gate_ms, limit))
