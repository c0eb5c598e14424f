"""Each worker's presence duties: heartbeat, sweep dead workers, broadcast coalesced counts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from server import appkeys
from server.realtime import protocol as p

logger = logging.getLogger(__name__)

RECONCILE_SECONDS = 30.0


def now_ms() -> int:
    """Wall-clock milliseconds (worker clocks are assumed NTP-synced to well under the TTL)."""
    return int(time.time() * 1000)


class PresenceService:
    """Runs the loops that keep presence exact when workers come, go, or die."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.settings = app[appkeys.SETTINGS]
        self.store = app[appkeys.PRESENCE_STORE]
        self.worker = app[appkeys.WORKER_ID]
        self._stop = asyncio.Event()

    async def heartbeat_once(self) -> None:
        """Prove this worker is alive; if it had been presumed dead, count its sockets again."""
        if await self.store.heartbeat(self.worker, now_ms()):
            conns = self.app[appkeys.CONNECTIONS].in_sessions()
            if conns:
                logger.warning("re-registering %d connections after being presumed dead", len(conns))
            for conn in conns:
                assert conn.session_id and conn.member and conn.where
                await self.store.join(conn.sid, conn.session_id, conn.member, conn.where, self.worker)

    async def sweep_once(self) -> None:
        """Drop the connections of workers that stopped heartbeating (e.g. SIGKILL)."""
        reaped = await self.store.reap_dead_workers(now_ms(), int(self.settings.worker_ttl_seconds * 1000))
        for worker, n in reaped.items():
            logger.warning("worker %s presumed dead; removed %d connections", worker, n)

    async def reconcile_once(self) -> None:
        """Remove connections Redis holds for this worker that it no longer has."""
        local = self.app[appkeys.CONNECTIONS]
        for conn in await self.store.worker_connections(self.worker):
            if conn not in local:
                await self.store.leave(conn)

    async def flush_once(self) -> int:
        """Broadcast the counts of sessions that changed and are due; returns how many."""
        updates = await self.store.take_updates(self.settings.presence_broadcast_ms)
        sio = self.app[appkeys.SIO]
        for u in updates:
            await sio.emit(
                p.PRESENCE_COUNTS,
                {"session": u.session_id, "seq": u.seq, "counts": u.counts},
                room=p.session_room(u.session_id),
            )
        return len(updates)

    async def _every(self, seconds: float, step: str) -> None:
        fn = getattr(self, step)
        while not self._stop.is_set():
            try:
                await fn()
            except Exception:
                logger.exception("presence %s failed; retrying", step)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)

    async def run(self) -> AsyncIterator[None]:
        """cleanup_ctx: start the loops, and on shutdown leave presence cleanly.

        The loops stop on an event rather than by cancellation alone: a cancel that
        lands inside a Redis call can be absorbed by the client library, and a loop
        that never sees it would hold shutdown forever.
        """
        s = self.settings
        self._stop.clear()
        await self.heartbeat_once()
        tasks = [
            asyncio.create_task(self._every(s.heartbeat_seconds, "heartbeat_once")),
            asyncio.create_task(self._every(s.sweep_seconds, "sweep_once")),
            asyncio.create_task(self._every(RECONCILE_SECONDS, "reconcile_once")),
            asyncio.create_task(self._every(min(0.1, s.presence_broadcast_ms / 2000), "flush_once")),
        ]
        yield
        self._stop.set()
        _done, pending = await asyncio.wait(tasks, timeout=s.redis_socket_timeout + 1)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1)
        try:
            n = await self.store.retire(self.worker)
            logger.info("left presence with %d connections", n)
        except Exception:
            logger.exception("could not retire from presence; the sweeper will")
