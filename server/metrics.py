"""A worker's Prometheus metrics: what it holds, answers, writes and waits for.

One `Metrics` per app (no module-level registry). Under `podium serve` the workers share
one port, so a scrape reaches whichever worker the kernel picks: every worker writes its
values to files in PROMETHEUS_MULTIPROC_DIR (made fresh by `serve` for each run), and the
one that answers a scrape reads and sums all of them (prometheus-client's multiprocess
mode). Counters and histograms of a worker that died stay in the sums; its gauges go
(`serve` marks it dead). A lone worker without that directory serves its own values.

Label values are bounded: event names are those with a handler (anything else is
"unknown"), error codes the fixed list, roles, views and Redis commands Podium's own.
docs/operations.md, "Metrics (Prometheus)", says what each metric means.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import time
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from server import __version__
from server.domain import identity as idn
from server.domain.feed import VIEWS
from server.errors import CODES
from server.store import scripts

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds. Acks: a join is a few ms, an overloaded store seconds; the client gives up at 10 s.
ACK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
REDIS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
SWEEP_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0)

LAG_EVERY_S = 0.5  # how often the event loop's scheduling delay is measured
SAMPLE_EVERY = 10  # process basics every this many lag measurements (5 s)

UNKNOWN = "unknown"
# python-socketio's disconnect reasons, as label values (anything else is "other").
DISCONNECT_REASONS = {
    "client disconnect": "client",
    "server disconnect": "server",
    "ping timeout": "ping_timeout",
    "transport close": "transport_close",
    "transport error": "transport_error",
}

Deafness = Callable[[], Mapping[str, float | None]]


def multiprocess_dir() -> str | None:
    """The directory the workers share their values in, when `podium serve` made one."""
    path = os.environ.get(MULTIPROC_ENV)
    return path if path and os.path.isdir(path) else None


class Metrics:
    """The instruments of one worker, and its exposition."""

    def __init__(self, enabled: bool = True) -> None:
        # Off (metrics.enabled = false): the instruments exist but nothing is recorded.
        self.enabled = enabled
        self.multiproc_dir = multiprocess_dir() if enabled else None
        r = self.registry = CollectorRegistry(auto_describe=True)

        self.connections = Gauge(
            "podium_connections",
            "Open sockets signed in, by role.",
            ["role"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self._roles = {role: self.connections.labels(role) for role in idn.ROLES}
        self.disconnects = Counter("podium_disconnects", "Sockets closed, by reason.", ["reason"], registry=r)
        self.joins = Counter(
            "podium_joins", "session:join answers, by outcome (ok, resumed or the error code).",
            ["outcome"], registry=r,
        )  # fmt: skip
        self.events = Counter(
            "podium_socket_events", "Socket events answered, by event.", ["event"], registry=r
        )
        self.refused = Counter(
            "podium_socket_events_refused",
            "Socket events answered with an error, by event and error code.",
            ["event", "code"],
            registry=r,
        )
        self.ack_seconds = Histogram(
            "podium_ack_seconds",
            "From an event's arrival at its handler to its ack, by event.",
            ["event"],
            buckets=ACK_BUCKETS,
            registry=r,
        )
        self._events: dict[str, tuple[Any, Any]] = {}
        self.known_event(UNKNOWN)

        self.feed_frames = Counter(
            "podium_feed_frames", "Session feed frames made (each encoded once), by view.", ["view"],
            registry=r,
        )  # fmt: skip
        self.feed_deliveries = Counter(
            "podium_feed_deliveries", "Session feed frames written to sockets, by view.", ["view"], registry=r
        )
        self.feed_skipped = Counter(
            "podium_feed_skipped",
            "Session feed frames not written to a socket that was not reading, by view.",
            ["view"],
            registry=r,
        )
        self._views = {
            v: (self.feed_frames.labels(v), self.feed_deliveries.labels(v), self.feed_skipped.labels(v))
            for v in VIEWS
        }
        self.emits = Counter(
            "podium_socketio_emits",
            "Socket.IO emits (staff rooms, signaling), by scope: local (to a socket of this worker) "
            "or published (through Redis to every worker).",
            ["scope"],
            registry=r,
        )
        self.emits_local = self.emits.labels("local")
        self.emits_published = self.emits.labels("published")

        self.redis_seconds = Histogram(
            "podium_redis_command_seconds",
            "Round trips to the store (retries included), by command, script or pipeline.",
            ["command"],
            buckets=REDIS_BUCKETS,
            registry=r,
        )
        self.redis_errors = Counter(
            "podium_redis_errors", "Store round trips that failed, by command and error.",
            ["command", "error"], registry=r,
        )  # fmt: skip
        self.store_reachable = Gauge(
            "podium_store_reachable",
            "1 when this worker's last presence heartbeat reached the store, else 0.",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.deaf_seconds = Gauge(
            "podium_deaf_seconds",
            "How long this worker has not heard the broadcast channel or read the session logs "
            "(0: it hears; as /readyz), by part.",
            ["part"],
            registry=r,
            multiprocess_mode="liveall",
        )

        self.loop_lag = Histogram(
            "podium_event_loop_lag_seconds",
            f"How late the event loop ran a timer due every {LAG_EVERY_S} s.",
            buckets=LAG_BUCKETS,
            registry=r,
        )
        self.loop_lag_max = Gauge(
            "podium_event_loop_lag_max_seconds",
            "The worst event loop lag of this worker in the last 5 s.",
            registry=r,
            multiprocess_mode="liveall",
        )
        self.sweep_seconds = Histogram(
            "podium_presence_sweep_seconds",
            "Presence sweeps for dead workers, and how long each took.",
            buckets=SWEEP_BUCKETS,
            registry=r,
        )
        self.sweep_errors = Counter(
            "podium_presence_sweep_errors", "Presence sweeps that failed.", registry=r
        )
        self.reaped = Counter(
            "podium_presence_reaped_connections",
            "Connections of dead workers removed from presence by sweeps.",
            registry=r,
        )

        info = Gauge(
            "podium_build_info", "Podium's version.", ["version"], registry=r, multiprocess_mode="max"
        )
        info.labels(__version__).set(1)
        self.cpu = Counter("process_cpu_seconds", "CPU time of the workers (user and system).", registry=r)
        self.rss = Gauge(
            "process_resident_memory_bytes", "Resident memory of a worker.", registry=r,
            multiprocess_mode="liveall",
        )  # fmt: skip
        self.open_fds = Gauge(
            "process_open_fds", "Open file descriptors of a worker.", registry=r, multiprocess_mode="liveall"
        )
        self.max_fds = Gauge(
            "process_max_fds", "A worker's open-file limit.", registry=r, multiprocess_mode="liveall"
        )
        start = Gauge(
            "process_start_time_seconds", "When a worker started (Unix time).", registry=r,
            multiprocess_mode="liveall",
        )  # fmt: skip
        start.set(time.time())
        self._cpu_seen = 0.0
        self.sample_process()

    # --- socket events -------------------------------------------------------------------

    def known_event(self, name: str) -> None:
        """Count `name` under its own label (called for each event given a handler)."""
        self._events[name] = (self.events.labels(name), self.ack_seconds.labels(name))

    def answered(self, event: str, ack: Any, seconds: float, outcomes: Counter | None = None) -> None:
        """An event was answered with `ack` after `seconds`."""
        if not self.enabled:
            return
        pair = self._events.get(event)
        if pair is None:
            event, pair = UNKNOWN, self._events[UNKNOWN]
        count, latency = pair
        count.inc()
        latency.observe(seconds)
        if isinstance(ack, dict) and ack.get("ok"):
            outcome = "resumed" if ack.get("resumed") else "ok"
        else:
            error = ack.get("error") if isinstance(ack, dict) else None
            code = error.get("code") if isinstance(error, dict) else None
            outcome = code if code in CODES else "internal"
            self.refused.labels(event, outcome).inc()
        if outcomes is not None:
            outcomes.labels(outcome).inc()

    def connected(self, role: str) -> None:
        """A socket signed in (count it until `disconnected`)."""
        if not self.enabled:
            return
        self._roles.get(role, self.connections.labels(UNKNOWN)).inc()

    def disconnected(self, role: str, reason: Any) -> None:
        """A counted socket closed."""
        if not self.enabled:
            return
        self._roles.get(role, self.connections.labels(UNKNOWN)).dec()
        self.disconnects.labels(DISCONNECT_REASONS.get(str(reason), "other")).inc()

    # --- the feed ------------------------------------------------------------------------

    def feed_written(self, view: str, written: int, skipped: int) -> None:
        """A view's frame was made and written to `written` sockets (`skipped` not reading)."""
        if not self.enabled:
            return
        frames, deliveries, lagging = self._views[view]
        frames.inc()
        if written:
            deliveries.inc(written)
        if skipped:
            lagging.inc(skipped)

    # --- the store -----------------------------------------------------------------------

    def redis_call(self, args: tuple[Any, ...], seconds: float, exc: BaseException | None) -> None:
        """A round trip to the store (server/store/connection.py calls this for each)."""
        if not self.enabled:
            return
        command = _command_label(args)
        if exc is None:
            self.redis_seconds.labels(command).observe(seconds)
        else:
            self.redis_errors.labels(command, type(exc).__name__).inc()

    # --- the worker ----------------------------------------------------------------------

    def sample_process(self) -> None:
        """CPU, memory and file descriptors of this process, read now."""
        cpu = time.process_time()
        if cpu > self._cpu_seen:
            self.cpu.inc(cpu - self._cpu_seen)
            self._cpu_seen = cpu
        with contextlib.suppress(OSError, ValueError, IndexError):
            with open("/proc/self/statm", "rb") as fh:
                self.rss.set(int(fh.read().split()[1]) * resource.getpagesize())
            self.open_fds.set(len(os.listdir("/proc/self/fd")))
        self.max_fds.set(resource.getrlimit(resource.RLIMIT_NOFILE)[0])

    def sample_deafness(self, deafness: Deafness) -> None:
        """How long each part has been deaf (0 when it hears)."""
        now = time.monotonic()
        for part, since in deafness().items():
            self.deaf_seconds.labels(part).set(0.0 if since is None else round(now - since, 1))

    async def watch(self, deafness: Deafness) -> None:
        """Measure the event loop's lag every LAG_EVERY_S, and sample the worker's state
        (deafness at the same pace, process basics every SAMPLE_EVERY), until cancelled."""
        loop = asyncio.get_running_loop()
        worst, n = 0.0, 0
        while True:
            due = loop.time() + LAG_EVERY_S
            await asyncio.sleep(LAG_EVERY_S)
            lag = max(0.0, loop.time() - due)
            self.loop_lag.observe(lag)
            worst = max(worst, lag)
            self.sample_deafness(deafness)
            n += 1
            if n % SAMPLE_EVERY == 0:
                self.loop_lag_max.set(worst)
                worst = 0.0
                self.sample_process()

    # --- exposition ----------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The text format: every worker's values summed, or this worker's alone."""
        if self.multiproc_dir is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=self.multiproc_dir)  # type: ignore[no-untyped-call]
        return generate_latest(registry)


def _command_label(args: tuple[Any, ...]) -> str:
    """A command's name; a script's name for EVALSHA (Podium's scripts are a fixed set); a
    pipeline's first command after "PIPELINE"."""
    if not args:
        return UNKNOWN
    command = str(args[0]).upper()
    if command == "PIPELINE":
        return f"PIPELINE {_command_label(args[1:])}" if len(args) > 1 else command
    if command in ("EVALSHA", "EVALSHA_RO") and len(args) > 1:
        return "script:" + scripts.name_of(str(args[1]))
    return command
