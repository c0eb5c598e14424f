"""One place turns every handler's outcome into an ack, so no client ever waits forever.

python-socketio sends no ack at all when a handler raises; this wrapper maps typed
errors to their code, Redis trouble to `unavailable`, and anything else to
`internal` (logged with its traceback). Being where every ack passes, it also counts
them for the metrics: by event, by error code, and how long each took.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import socketio
from aiohttp import web
from prometheus_client import Counter
from redis.exceptions import RedisClusterException, RedisError

from server import appkeys
from server.domain import identity as idn
from server.errors import Invalid, PodiumError, error
from server.logs import bind
from server.realtime.connections import Conn
from server.store.connection import store_trouble

logger = logging.getLogger(__name__)

Handler = Callable[[web.Application, Conn, Any], Awaitable[dict[str, Any]]]

# Per-socket flood limit, refilled continuously (the bucket's size allows short bursts).
BURST = 20.0


@dataclass(frozen=True)
class PersonLimit:
    """At most `limit` of one kind of action per person per `window` seconds, counted in Redis
    (across all their sockets, tabs and workers), besides each socket's own bucket."""

    kind: str
    limit: int
    window: float


def register(
    sio: socketio.AsyncServer,
    app: web.Application,
    name: str,
    fn: Handler,
    *,
    signaling: bool = False,
    per_person: PersonLimit | None = None,
    outcomes: Counter | None = None,
) -> None:
    """Serve event `name` with fn(app, conn, payload), always answering with one ack.

    `signaling` events (WebRTC offers, answers, candidates) draw on their own, larger
    allowance; everything else shares one bucket per socket. `per_person` adds a limit per
    person that opening more sockets does not escape. `outcomes` (a metric labelled by
    outcome) also counts each answer: ok, resumed, or its error code."""
    settings = app[appkeys.SETTINGS]
    metrics = app[appkeys.METRICS]
    metrics.known_event(name)
    guard = app[appkeys.GUARD]
    gate = app[appkeys.GATE]
    rate = settings.socket_events_per_10s / 10.0
    bucket, burst, start = "events", BURST, BURST * 2  # a fresh socket joins and sets up at once
    if signaling:
        rate = settings.rtc_signals_per_10s / 10.0
        bucket, burst = "rtc", float(settings.rtc_signal_burst)
        start = burst

    async def on_event(sid: str, *args: Any) -> dict[str, Any]:
        start = time.perf_counter()
        ack = await answer(sid, *args)
        metrics.answered(name, ack, time.perf_counter() - start, outcomes)
        return ack

    async def answer(sid: str, *args: Any) -> dict[str, Any]:
        conn = app[appkeys.CONNECTIONS].get(sid)
        with bind(conn=sid, session=conn.session_id if conn else None):
            if conn is None:
                return error("unauthorized", "This connection is not signed in; reconnect.")
            # Staff work in quick bursts (approve, screen, next; translate): twice the allowance.
            staff = 2.0 if conn.principal.presence_role in idn.TRANSLATORS else 1.0
            if not conn.take(bucket, rate * staff, burst * staff, start * staff):
                return flooded(conn, name)
            try:
                if len(args) > 1:
                    raise Invalid("Send one payload object.")
                with gate.slot("events"):
                    await guard.require(conn)
                    if per_person is not None:
                        await app[appkeys.RATES].hit(
                            f"{per_person.kind}:{conn.principal.person}",
                            int(per_person.limit * staff),
                            per_person.window,
                        )
                    return await fn(app, conn, args[0] if args else None)
            except PodiumError as exc:
                # Limits say no to floods: at debug, or the flood would flood the log.
                log = logger.debug if exc.code == "rate_limited" else logger.info
                log("%s refused: %s %s", name, exc.code, exc.message)
                return {"ok": False, "error": exc.to_dict()}
            except (RedisError, RedisClusterException, TimeoutError) as exc:
                # Expected under overload (a full pool) or an outage: one line, no traceback.
                logger.warning("%s: store unavailable: %s", name, exc or type(exc).__name__)
                return error("unavailable", store_trouble(exc), retry_after=1)
            except Exception:
                logger.exception("%s failed", name)
                return error("internal", "Something went wrong on our side.")

    sio.on(name, on_event)


def flooded(conn: Conn, name: str) -> dict[str, Any]:
    """The ack of an event past the socket's allowance (logged once per spell of flooding)."""
    if not conn.flooding:
        conn.flooding = True
        logger.info("flood from %s on %s", conn.sid, str(name)[:64])
    return error("rate_limited", "Too many messages; slow down.", retry_after=1)


def register_unknown(sio: socketio.AsyncServer, app: web.Application) -> None:
    """Any event without a handler still gets an ack that says so, and counts against the
    socket's allowance like any other (a flood of made-up events is a flood)."""
    rate = app[appkeys.SETTINGS].socket_events_per_10s / 10.0
    metrics = app[appkeys.METRICS]

    async def on_unknown(event: str, sid: str, *args: Any) -> dict[str, Any]:
        start = time.perf_counter()
        ack = await answer(event, sid)
        # Counted as "unknown" whatever its name: a client's made-up names must not make series.
        metrics.answered("unknown", ack, time.perf_counter() - start)
        return ack

    async def answer(event: str, sid: str) -> dict[str, Any]:
        conn = app[appkeys.CONNECTIONS].get(sid)
        if conn is None:
            return error("unauthorized", "This connection is not signed in; reconnect.")
        if not conn.take("events", rate, BURST, BURST * 2):
            return flooded(conn, "unknown events")
        logger.info("unknown event %r from %s", str(event)[:64], sid)
        return error("invalid", "Unknown event.")

    sio.on("*", on_unknown)
