"""create_app(settings): builds one worker's aiohttp application with everything hung off it."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
from collections.abc import AsyncIterator

from aiohttp import web

from server import appkeys
from server.auth import Auth
from server.http import api, health, insight, pages
from server.http import metrics as metrics_http
from server.http.i18n import Catalogs
from server.metrics import Metrics
from server.realtime import guard, sfu
from server.realtime.connections import Connections
from server.realtime.feed import FeedHub
from server.realtime.load import Gate
from server.realtime.polls import ResultLogger
from server.realtime.presence import PresenceService
from server.realtime.qa import VoteLogger
from server.realtime.reactions import ReactionLogger
from server.realtime.server import close_all, create_sio, start_manager, stop_manager
from server.realtime.session import resync_after_deafness
from server.realtime.ticker import Ticker
from server.realtime.webhooks import Webhooks
from server.settings import Settings
from server.store.backstage import BackstageStore
from server.store.clock import ClockStore
from server.store.connection import connect, dedicated
from server.store.events import EventStore
from server.store.feed import FeedStore
from server.store.identity import IdentityStore
from server.store.insight import InsightStore
from server.store.joining import JoinStore
from server.store.lineup import LineupStore
from server.store.migrate import migrate
from server.store.pending import RECHECK_S, Pending
from server.store.polls import PollStore
from server.store.presence import PresenceStore
from server.store.qa import QAStore
from server.store.ratelimit import RateLimiter
from server.store.reactions import ReactionStore
from server.store.rtc import RtcStore

logger = logging.getLogger(__name__)

DRAIN_S = 3.0  # how long a stopping worker waits for the events in flight


async def _store(app: web.Application) -> AsyncIterator[None]:
    """Redis pool, the stores on it, and the signing secret every worker shares."""
    settings = app[appkeys.SETTINGS]
    metrics = app[appkeys.METRICS]
    observer = metrics.redis_call if metrics.enabled else None
    client = connect(
        settings.redis_url,
        socket_timeout=settings.redis_socket_timeout,
        health_check_interval=settings.redis_health_check_interval,
        wait_replicas=settings.redis_wait_replicas,
        wait_timeout_ms=settings.redis_wait_timeout_ms,
        observer=observer,
    )
    await client.ping()
    await migrate(client)
    app[appkeys.REDIS] = client
    app[appkeys.EVENTS] = EventStore(client)
    identity = IdentityStore(client)
    app[appkeys.IDENTITY] = identity
    pending = app[appkeys.PENDING] = Pending()
    app[appkeys.PRESENCE_STORE] = PresenceStore(client, pending)
    app[appkeys.RATES] = RateLimiter(client)
    app[appkeys.QA] = QAStore(client, pending)
    app[appkeys.POLLS] = PollStore(client, pending)
    app[appkeys.REACTIONS] = ReactionStore(client, pending)
    app[appkeys.CLOCK] = ClockStore(client)
    app[appkeys.LINEUP] = LineupStore(client)
    app[appkeys.RTC] = RtcStore(client)
    app[appkeys.BACKSTAGE] = BackstageStore(client)
    app[appkeys.FEED] = FeedStore(client)
    app[appkeys.JOINS] = JoinStore(client, pending)
    app[appkeys.INSIGHT] = InsightStore(
        client,
        retention_s=settings.insight_retention_days * 86400,
        max_samples=settings.insight_max_samples,
    )
    app[appkeys.WEBHOOKS] = Webhooks(app)
    secret = settings.secret or await identity.secret()
    app[appkeys.AUTH] = Auth(identity, secret, settings.organizer_token)
    background = dedicated(
        settings.redis_url,
        name="podium-background",
        socket_timeout=settings.redis_socket_timeout,
        observer=observer,
    )
    app[appkeys.BACKGROUND] = background
    app[appkeys.GUARD].sweeper = IdentityStore(background)
    yield
    await background.aclose()
    await client.aclose()


async def _realtime(app: web.Application) -> AsyncIterator[None]:
    """The feed reader, the broadcast channel and the presence loops; on the way out, leave
    presence and close sockets."""
    sio = app[appkeys.SIO]
    sio.manager.on_recovered = lambda: resync_after_deafness(app)
    start_manager(sio)
    hub = app[appkeys.HUB]
    await hub.start()
    presence = PresenceService(app)
    # Coalesced updates: each loop polls often; a gate in Redis sets the real pace.
    ticks = Ticker()
    ticks.every(
        min(0.1, app[appkeys.SETTINGS].votes_broadcast_ms / 2000), "votes", VoteLogger(app).flush_once
    )
    ticks.every(0.1, "reactions", ReactionLogger(app).flush_once)
    ticks.every(
        min(0.1, app[appkeys.SETTINGS].votes_broadcast_ms / 2000),
        "poll results",
        ResultLogger(app).flush_once,
    )
    ticks.every(guard.SWEEP_S, "access sweep", app[appkeys.GUARD].sweep_once)
    ticks.every(RECHECK_S, "pending recheck", lambda: _recheck(app))
    # One sample per running session per minute, whichever worker comes first (insight.lua).
    ticks.every(
        app[appkeys.SETTINGS].insight_sample_s,
        "insight samples",
        lambda: app[appkeys.INSIGHT].sample(list(hub.sessions)),
    )
    async for _ in presence.run():
        yield
    await ticks.stop(grace=2)
    await hub.stop()
    await stop_manager(sio)


async def _metrics(app: web.Application) -> AsyncIterator[None]:
    """Measure the event loop's lag and sample the worker's state for the metrics."""
    sio, hub = app[appkeys.SIO], app[appkeys.HUB]

    def deafness() -> dict[str, float | None]:
        return {"broadcasts": getattr(sio.manager, "deaf_since", None), "feed": hub.deaf_since}

    task = asyncio.create_task(app[appkeys.METRICS].watch(deafness), name="metrics watch")
    yield
    task.cancel()
    await asyncio.wait({task}, timeout=1)


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    """The webhook delivery loops (server/realtime/webhooks.py)."""
    async for _ in app[appkeys.WEBHOOKS].run():
        yield


async def _recheck(app: web.Application) -> None:
    """Note every session this worker holds for its coalesced updates, in case a worker that
    changed one died before logging it (server/store/pending.py)."""
    app[appkeys.PENDING].recheck(list(app[appkeys.HUB].sessions))


async def _on_shutdown(app: web.Application) -> None:
    await close_all(app[appkeys.SIO])
    chores = app[appkeys.CHORES].copy()
    for task in chores:
        task.cancel()
    if chores:
        await asyncio.wait(chores, timeout=1)


async def stop_gracefully(runner: web.AppRunner) -> None:
    """Stop a worker without losing an answer (SIGTERM, a deploy): stop listening, let the
    events in flight finish and be answered while new ones are refused as retryable, then
    close the sockets (their clients reconnect to another worker and send again what was
    refused), then clean up.

    aiohttp's own shutdown stops reading every connection first, so events sent meanwhile
    would get no answer at all: the draining happens before it."""
    for site in list(runner.sites):
        await site.stop()  # no new connections; the open ones keep reading
    app = runner.app
    if app is not None and appkeys.GATE in app:
        left = await app[appkeys.GATE].drain(DRAIN_S)
        if left:
            logger.warning("stopping with %d events still in flight", left)
        await asyncio.sleep(0.1)  # the last acks are written after their handlers return
        await close_all(app[appkeys.SIO])
    await runner.cleanup()


def create_app(settings: Settings) -> web.Application:
    """One worker's application. settings.redis_url must point at a running server."""
    if not settings.redis_url:
        raise ValueError("create_app needs settings.redis_url (the CLI starts an embedded server)")
    app = web.Application(
        client_max_size=settings.max_payload_bytes,
        middlewares=[pages.security_headers, api.errors_middleware],
    )
    app[appkeys.SETTINGS] = settings
    app[appkeys.WORKER_ID] = secrets.token_hex(8)
    app[appkeys.METRICS] = Metrics(enabled=settings.metrics_enabled)
    app[appkeys.CONNECTIONS] = Connections()
    app[appkeys.CHORES] = set()
    app[appkeys.CATALOGS] = Catalogs()
    app[appkeys.HUB] = FeedHub(app)
    app[appkeys.GUARD] = guard.Guard(app)
    app[appkeys.GATE] = Gate(
        {
            "connect": settings.connects_in_flight,
            "join": settings.joins_in_flight,
            "events": settings.events_in_flight,
        }
    )
    sio = create_sio(app)
    sio.attach(app)
    app[appkeys.SIO] = sio
    health.setup(app)
    if settings.metrics_enabled:
        metrics_http.setup(app)
    api.setup(app)
    insight.setup(app)
    pages.setup(app)
    app.cleanup_ctx.append(_store)
    app.cleanup_ctx.append(_realtime)
    if settings.metrics_enabled:
        app.cleanup_ctx.append(_metrics)
    app.cleanup_ctx.append(_webhooks)
    app.cleanup_ctx.append(sfu.context)
    app.on_shutdown.append(_on_shutdown)
    # Objects made at start-up live for the whole run: keep the collector off them.
    gc.collect()
    gc.freeze()
    return app
