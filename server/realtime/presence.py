"""Each worker's presence duties: heartbeat, sweep dead workers, log coalesced counts."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web

from server import appkeys
from server.realtime.ticker import Ticker
from server.store.connection import dedicated
from server.store.presence import PresenceStore

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
        # The heartbeat has a connection of its own and the sweeps share the background one:
        # a burst of requests that drains the pool must not make a live worker look dead,
        # nor keep the dead ones' connections counted.
        self.metrics = app[appkeys.METRICS]
        self.beat = dedicated(
            self.settings.redis_url,
            name="podium-heartbeat",
            socket_timeout=self.settings.redis_socket_timeout,
            observer=self.metrics.redis_call if self.metrics.enabled else None,
        )
        pending = app[appkeys.PENDING]  # what any of them changes, the flush logs
        self.beat_store = PresenceStore(self.beat, pending)
        self.sweep_store = PresenceStore(app[appkeys.BACKGROUND], pending)

    async def heartbeat_once(self) -> None:
        """Prove this worker is alive; if it had been presumed dead, count its sockets again."""
        try:
            presumed_dead = await self.beat_store.heartbeat(self.worker, now_ms())
        except Exception:
            self.metrics.store_reachable.set(0)
            raise
        self.metrics.store_reachable.set(1)
        if presumed_dead:
            conns = self.app[appkeys.CONNECTIONS].in_sessions()
            if conns:
                logger.warning("re-registering %d connections after being presumed dead", len(conns))
            for conn in conns:
                assert conn.session_id and conn.member and conn.where
                await self.store.join(conn.sid, conn.session_id, conn.member, conn.where, self.worker)

    async def sweep_once(self) -> None:
        """Drop the connections of workers that stopped heartbeating (e.g. SIGKILL)."""
        start = time.perf_counter()
        try:
            reaped = await self.sweep_store.reap_dead_workers(
                now_ms(), int(self.settings.worker_ttl_seconds * 1000)
            )
        except Exception:
            self.metrics.sweep_errors.inc()
            raise
        self.metrics.sweep_seconds.observe(time.perf_counter() - start)
        self.metrics.reaped.inc(sum(reaped.values()))
        for worker, n in reaped.items():
            logger.warning("worker %s presumed dead; removed %d connections", worker, n)

    async def reconcile_once(self) -> None:
        """Remove connections Redis holds for this worker that it no longer has."""
        local = self.app[appkeys.CONNECTIONS]
        for conn, session_id in (await self.sweep_store.worker_connections(self.worker)).items():
            if conn not in local:
                await self.sweep_store.leave(conn, session_id, self.worker)

    async def flush_once(self) -> int:
        """Log the counts of sessions that changed and are due, and who of the lineup is
        connected where a speaker came or went; returns how many sessions."""
        return await self.store.log_counts(self.settings.presence_broadcast_ms)

    async def run(self) -> AsyncIterator[None]:
        """cleanup_ctx: start the loops, and on shutdown leave presence cleanly."""
        s = self.settings
        await self.heartbeat_once()
        ticker = Ticker()
        ticker.every(s.heartbeat_seconds, "presence heartbeat", self.heartbeat_once)
        ticker.every(s.sweep_seconds, "presence sweep", self.sweep_once)
        ticker.every(RECONCILE_SECONDS, "presence reconcile", self.reconcile_once)
        ticker.every(min(0.1, s.presence_broadcast_ms / 2000), "presence flush", self.flush_once)
        yield
        await ticker.stop(grace=s.redis_socket_timeout + 1)
        try:
            n = await self.store.retire(self.worker)
            logger.info("left presence with %d connections", n)
        except Exception:
            logger.exception("could not retire from presence; the sweeper will")
        await self.beat.aclose()
