"""Live presence in Redis: who is in each session, counted per person, safe across workers.

Each worker heartbeats one score in a sorted set; a worker silent for longer than the
TTL is presumed dead (SIGKILL runs no disconnect handler) and any worker's sweeper
removes its connections: the store keeps, per worker, the sessions it has connections in
(written before the first is counted), and per session each worker's connections. Counts
are kept incrementally by presence.lua, so reading them is one HGETALL whatever the crowd.
Every change touches one session's keys only (its slot, on a Cluster).
"""

from __future__ import annotations

from typing import Any

from server.domain.presence import Counts, counts_from_fields
from server.store import keys, scripts
from server.store.connection import Client, fleeting
from server.store.pending import ONLINE, PRESENCE, Pending, flush


class PresenceStore:
    """Connections in, exact per-person counts out."""

    def __init__(self, client: Client, pending: Pending | None = None) -> None:
        self.r = fleeting(client)  # rebuilt by heartbeats and sweeps: no WAIT for replicas
        self.script = scripts.load(self.r, "presence")
        self.pending = pending if pending is not None else Pending()

    def noted(self, session_id: str, reply: list[Any]) -> None:
        """Note what a join, leave or reap changed (its reply's last two flags) for the flush."""
        if int(reply[-2]):
            self.pending.mark(PRESENCE, session_id)
        if int(reply[-1]):
            self.pending.mark(ONLINE, session_id)

    async def register(self, worker: str, session_id: str) -> None:
        """Tell the store that worker has connections in session_id (once per worker and
        session), before the first is counted: its sweep must find them if it dies."""
        if not self.pending.registered(worker, session_id):
            await self.r.sadd(keys.worker_sessions(worker), session_id)
            self.pending.register(worker, session_id)

    async def _member_op(self, session_id: str, worker: str, *args: Any) -> list[Any]:
        reply = await self.script(keys=keys.presence_keys(session_id, worker), args=list(args))
        return list(reply)

    async def join(
        self, conn: str, session_id: str, member: str, where: str, worker: str, *, previous: str | None = None
    ) -> str:
        """Count conn in session_id (leaving `previous`, the session it was counted in, if
        another); returns the member's where."""
        await self.register(worker, session_id)
        reply = await self._member_op(session_id, worker, "join", conn, member, where, worker)
        self.noted(session_id, reply)
        if previous and previous != session_id:
            await self.leave(conn, previous, worker)
        return str(reply[0])

    async def leave(self, conn: str, session_id: str, worker: str) -> bool:
        """Stop counting conn in session_id; True if it was counted."""
        reply = await self._member_op(session_id, worker, "leave", conn)
        self.noted(session_id, reply)
        return bool(int(reply[0]))

    async def set_where(self, session_id: str, member: str, where: str) -> bool:
        """Move a present member between hall and remote."""
        present, changed = await self._member_op(session_id, "", "where", member, where)
        if int(changed):
            self.pending.mark(PRESENCE, session_id)
        return bool(int(present))

    async def counts(self, session_id: str) -> tuple[int, Counts]:
        """The session's current (seq, counts)."""
        raw = await self.r.hgetall(keys.presence_counts(session_id))
        seq = int(raw.pop("_seq", 0))
        return seq, counts_from_fields(raw)

    async def heartbeat(self, worker: str, now_ms: int) -> bool:
        """Record that worker is alive; True if it was unknown (new, or reaped meanwhile)."""
        unknown = bool(await self.r.zadd(keys.WORKERS, {worker: now_ms}))
        if unknown:
            self.pending.forget_worker(worker)  # a sweep removed what it had registered
        return unknown

    async def _reap(self, worker: str) -> int:
        """Remove every connection of worker, session by session, then the worker."""
        removed = 0
        for session_id in await self.r.smembers(keys.worker_sessions(worker)):
            reply = await self._member_op(str(session_id), worker, "reap")
            self.noted(str(session_id), reply)
            removed += int(reply[0])
        await self.r.delete(keys.worker_sessions(worker))
        # Last: a worker that was not dead after all learns it at its next heartbeat (the
        # score is new to the set) and counts its connections again.
        await self.r.zrem(keys.WORKERS, worker)
        return removed

    async def reap_dead_workers(self, now_ms: int, ttl_ms: int) -> dict[str, int]:
        """Remove the connections of every worker silent for ttl_ms; {worker: connections}."""
        cutoff = now_ms - ttl_ms
        reaped: dict[str, int] = {}
        for worker in await self.r.zrangebyscore(keys.WORKERS, "-inf", cutoff):
            seen = await self.r.zscore(keys.WORKERS, worker)
            if seen is None or float(seen) > cutoff:
                continue  # it came back, or another sweeper took it
            reaped[str(worker)] = await self._reap(str(worker))
        return reaped

    async def retire(self, worker: str) -> int:
        """A worker shutting down cleanly removes all its connections at once."""
        return await self._reap(worker)

    async def worker_connections(self, worker: str) -> dict[str, str]:
        """The connections Redis believes this worker holds: {socket id: session id}."""
        sessions = [str(s) for s in await self.r.smembers(keys.worker_sessions(worker))]
        if not sessions:
            return {}
        async with self.r.pipeline(transaction=False) as pipe:
            for session_id in sessions:
                pipe.smembers(keys.presence_worker(session_id, worker))
            rows = await pipe.execute()
        return {
            str(conn): session_id for session_id, conns in zip(sessions, rows, strict=True) for conn in conns
        }

    async def log_counts(self, gate_ms: int, limit: int = 200) -> int:
        """Log the counts of the sessions whose counts this worker changed, once due (each
        session at most once per gate_ms, whichever worker logs it), and who of the lineup is
        connected where a speaker came or went; returns how many sessions."""
        logged = await flush(
            self.pending,
            kind=PRESENCE,
            client=self.r,
            script=self.script,
            calls=lambda s: (
                [
                    keys.session(s),
                    keys.log(s),
                    keys.presence_counts(s),
                    keys.presence_logged(s),
                    keys.presence_gate(s),
                    keys.presence_dirty(s),
                ],
                ["flush", gate_ms],
            ),
            limit=limit,
        )
        return logged + await flush(
            self.pending,
            kind=ONLINE,
            client=self.r,
            script=self.script,
            calls=lambda s: (
                [
                    keys.session(s),
                    keys.log(s),
                    keys.lineup_members(s),
                    keys.presence_members(s),
                    keys.online_dirty(s),
                ],
                ["online"],
            ),
            limit=limit,
        )
