"""Everything shared hangs off the aiohttp app under these typed keys (no module globals)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import socketio
from aiohttp import web

from server.auth import Auth
from server.http.assets import Assets
from server.http.i18n import Catalogs
from server.metrics import Metrics
from server.realtime.connections import Connections
from server.settings import Settings
from server.store.backstage import BackstageStore
from server.store.clock import ClockStore
from server.store.connection import Client
from server.store.events import EventStore
from server.store.feed import FeedStore
from server.store.identity import IdentityStore
from server.store.insight import InsightStore
from server.store.joining import JoinStore
from server.store.lineup import LineupStore
from server.store.pending import Pending
from server.store.polls import PollStore
from server.store.presence import PresenceStore
from server.store.qa import QAStore
from server.store.ratelimit import RateLimiter
from server.store.reactions import ReactionStore
from server.store.rtc import RtcStore

if TYPE_CHECKING:
    from server.http.metrics import Gatekeeper
    from server.realtime.doors import Doors
    from server.realtime.feed import FeedHub
    from server.realtime.guard import Guard
    from server.realtime.load import Gate
    from server.realtime.sfu import Sfu
    from server.realtime.webhooks import Webhooks

SETTINGS = web.AppKey("settings", Settings)
REDIS: web.AppKey[Client] = web.AppKey("redis")
SIO = web.AppKey("sio", socketio.AsyncServer)
AUTH = web.AppKey("auth", Auth)
EVENTS = web.AppKey("events", EventStore)
IDENTITY = web.AppKey("identity", IdentityStore)
PRESENCE_STORE = web.AppKey("presence_store", PresenceStore)
RATES = web.AppKey("rates", RateLimiter)
QA = web.AppKey("qa", QAStore)
POLLS = web.AppKey("polls", PollStore)
REACTIONS = web.AppKey("reactions", ReactionStore)
CLOCK = web.AppKey("clock", ClockStore)
LINEUP = web.AppKey("lineup", LineupStore)
RTC = web.AppKey("rtc", RtcStore)
BACKSTAGE = web.AppKey("backstage", BackstageStore)
FEED = web.AppKey("feed", FeedStore)
HUB: web.AppKey[FeedHub] = web.AppKey("hub")
JOINS = web.AppKey("joins", JoinStore)
INSIGHT = web.AppKey("insight", InsightStore)  # the organizer's minute samples
# Webhooks: `await app[WEBHOOKS].emit(event_id, kind, data)` (server/realtime/webhooks.py).
WEBHOOKS: web.AppKey[Webhooks] = web.AppKey("webhooks")
# The sessions whose coalesced updates this worker owes the log (server/store/pending.py).
PENDING = web.AppKey("pending", Pending)
GATE: web.AppKey[Gate] = web.AppKey("gate")
DOORS: web.AppKey[Doors] = web.AppKey("doors")  # who may open a socket on this worker
GUARD: web.AppKey[Guard] = web.AppKey("guard")
# A connection of the worker's own for its background loops (sweeps, flushes): they never
# wait behind request traffic, nor requests behind them.
BACKGROUND: web.AppKey[Client] = web.AppKey("background")
CONNECTIONS = web.AppKey("connections", Connections)
# Work a request starts and does not wait for (the purge of a deleted session's keys);
# cancelled at shutdown.
CHORES: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("chores")
ASSETS = web.AppKey("assets", Assets)  # web/static and the vendor files, as sent
CATALOGS = web.AppKey("catalogs", Catalogs)
WORKER_ID = web.AppKey("worker_id", str)
METRICS = web.AppKey("metrics", Metrics)  # this worker's Prometheus instruments (server/metrics.py)
METRICS_GATE: web.AppKey[Gatekeeper] = web.AppKey("metrics_gate")  # who may read GET /metrics
# The SFU client (server/realtime/sfu.py), only when rtc.sfu_url is set.
SFU: web.AppKey[Sfu] = web.AppKey("sfu")
# The presence loops (server.realtime.presence.PresenceService) are owned by their
# cleanup context and need no key.
