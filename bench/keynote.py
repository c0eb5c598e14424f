"""Keynote: N phones in one session while the moderator works, against Podium and two baselines.

The scenario (issue 8): N audience members join one session; in the background 5
questions are asked per second, 200 votes and 100 reactions are sent per second, from random
phones; in the foreground the moderator approves a waiting question and puts it on screen,
once a second. Measured: from the moderator's action to the change showing on each phone
(the question in its list; the question on screen), how many phones it reached, the join,
the frames each phone got and what the rules of the browser made it do (resumes,
snapshots), CPU of every process, memory per connection.

Phones are bench/phones.py: a few processes, each with a share of the phones (a C websocket
client each), following the feed exactly as web/static/js/live.js does. The moderator is a
python-socketio client in this process, following its feed with tests/follower.py.

Baselines, driven by the same phones at the same N: a bare python-socketio room broadcast
and a bare aiohttp websocket loop (bench/baseline_broadcast.py), sent frames of the size
Podium's phones got on average, at the rate they got them. The comparison is CPU per
delivered frame.

    .venv/bin/python -m bench.keynote --clients 500,1000 --seconds 20
    .venv/bin/python -m bench.keynote --clients 50 --seconds 3 --warmup 1 --procs 1   # a smoke run
    .venv/bin/python -m bench.keynote --clients 5000 --storm   # + kill a worker, see them come back
    .venv/bin/python -m bench.keynote --clients 2000 --target podium --metrics on,off --scrape 15

Everything runs on 127.0.0.1 and is stopped at the end (also on Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import multiprocessing
import os
import random
import signal
import sys
import tempfile
import time
from array import array
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from bench.phones import Config, raise_open_files
from bench.presence_join import (
    ROOT,
    Api,
    Podium,
    Server,
    cpu_seconds,
    free_port,
    machine,
    machine_busy,
    pct,
    wait_http,
)
from bench.stage_signal import local_port, owner
from server.process import cmdline
from tests.follower import Follower

SPAWN = multiprocessing.get_context("spawn")


# --- processes --------------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    """Resident memory of a process (kB), 0 if it is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Baseline(Server):
    """bench/baseline_broadcast.py of one kind."""

    def __init__(self, workdir: Path, kind: str) -> None:
        port = free_port()
        args = [sys.executable, "-m", "bench.baseline_broadcast", "--kind", kind, "--port", str(port)]
        super().__init__(f"baseline-{kind}", args, dict(os.environ, PYTHONUNBUFFERED="1"), port, workdir)
        try:
            wait_http(f"{self.url}/healthz", self.proc, timeout=30)
        except BaseException:
            self.stop()
            raise

    def server_pids(self) -> list[int]:
        return [self.proc.pid]


class Fleets:
    """The phone processes, each with its share of the phones."""

    def __init__(self, url: str, session: str, tokens: list[str], procs: int, concurrency: int) -> None:
        ws = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.conns: list[Any] = []
        self.procs: list[Any] = []
        share = math.ceil(len(tokens) / procs)
        for i in range(procs):
            part = tokens[i * share : (i + 1) * share]
            if not part:
                continue
            mine, theirs = SPAWN.Pipe()
            from bench import phones

            proc = SPAWN.Process(
                target=phones.main,
                args=(theirs, Config(url=ws, session=session, tokens=part, connect_concurrency=concurrency)),
                daemon=True,
            )
            proc.start()
            self.conns.append(mine)
            self.procs.append(proc)

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    async def ask(self, command: str, args: Any = None) -> list[Any]:
        loop = asyncio.get_running_loop()

        def one(conn: Any) -> Any:
            conn.send((command, args))
            return conn.recv()

        return list(await asyncio.gather(*(loop.run_in_executor(None, one, c) for c in self.conns)))

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ask("stop"), 15)
        for p in self.procs:
            p.join(5)
            if p.is_alive():
                p.kill()


# --- the moderator ----------------------------------------------------------------------


class Moderator:
    """A python-socketio client with a moderator link, following its feed; acts once a second."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=True, reconnection_delay=0.5)
        self.feed = Follower()
        self.actions: list[tuple[str, str, float]] = []  # (question, approve|screen, monotonic)
        self.ack_ms: list[float] = []
        self.refused: dict[str, int] = defaultdict(int)
        self.session = ""
        self.sio.on("session:feed", self._frame)

    async def _frame(self, frame: Any) -> None:
        if self.feed.take(frame) == "gap":
            await self.call(
                "session:resume", {"session": self.session, "since": list(self.feed.pos or (0, 0))}
            )

    async def call(self, event: str, payload: Any) -> Any:
        sync = event in ("session:join", "session:resume")
        if sync:
            self.feed.begin(payload.get("session") if event == "session:join" else None)
        t0 = time.monotonic()
        try:
            ack = await self.sio.call(event, payload, timeout=10)
        except Exception:
            ack = {"ok": False, "error": {"code": "unavailable"}}
        self.ack_ms.append((time.monotonic() - t0) * 1000)
        if sync:
            self.feed.settle(ack)
        if not ack.get("ok"):
            self.refused[f"{event}:{ack.get('error', {}).get('code')}"] += 1
        return ack

    async def connect(self, url: str, token: str, session: str) -> None:
        self.session = session
        await self.sio.connect(url, transports=["websocket"], auth={"token": token}, wait_timeout=20)

        async def rejoin() -> None:
            await self.call("session:join", {"session": session})

        self.sio.on("connect", rejoin)
        ack = await self.call("session:join", {"session": session})
        if not ack.get("ok"):
            raise RuntimeError(f"the moderator could not join: {ack}")

    async def work(self, every: float, until: float) -> None:
        """Approve the oldest waiting question and put it on screen, once per `every` seconds."""
        loop = asyncio.get_running_loop()
        while loop.time() < until:
            started = loop.time()
            waiting = sorted(
                (q for q in self.feed.questions.values() if q["state"] == "pending"),
                key=lambda q: (q["created_at"], q["id"]),
            )
            if waiting:
                qid = waiting[0]["id"]
                for action in ("approve", "screen"):
                    self.actions.append((qid, action, time.monotonic()))
                    await self.call(
                        "qa:moderate", {"session": self.session, "question": qid, "action": action}
                    )
            await asyncio.sleep(max(0.0, every - (loop.time() - started)))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sio.disconnect(), 5)


# --- one run ----------------------------------------------------------------------------


@dataclass
class Run:
    """What one run measured (see bench/README.md for every field)."""

    target: str
    n: int
    procs: int
    joined: int = 0
    join_p50_ms: float = 0
    join_p99_ms: float = 0
    all_in_s: float = 0
    join_refused: int = 0
    actions: int = 0
    p50_ms: float = 0
    p99_ms: float = 0
    max_ms: float = 0
    reach: float = 0
    frames: int = 0
    frame_bytes: float = 0
    frames_per_phone_s: float = 0
    resumes: int = 0
    snapshots: int = 0
    gaps: int = 0
    stale: int = 0
    regressions: int = 0
    seconds: float = 0
    server_cpu_s: float = 0
    store_cpu_s: float = 0
    loadgen_cpu_s: float = 0
    loadgen_max_proc_cpu: float = 0
    loadgen_lag_ms: float = 0
    machine_busy: float = 0  # share of all cores busy over the phase (kernel included)
    us_per_frame: float = 0
    idle_cpu_pct: float = 0  # server CPU with N connected and nothing happening (pings, loops)
    us_per_frame_net: float = 0  # per frame, less the idle rate over the phase
    kb_per_conn: float = 0
    mod_ack_p99_ms: float = 0
    background_sent: dict[str, int] = field(default_factory=dict)
    background_refused: dict[str, int] = field(default_factory=dict)
    background_ack_p99_ms: dict[str, float] = field(default_factory=dict)
    background_ack_ms: dict[str, list[float]] = field(default_factory=dict)  # kind: p50, p95, p99
    ack_all_ms: list[float] = field(default_factory=list)  # every kind: p50, p95, p99, max
    metrics: str = "on"  # Podium's metrics.enabled ("on" as shipped, or "off")
    scrapes: int = 0  # GET /metrics during the run (--scrape)
    scrape_ms_max: float = 0
    scrape_bytes: int = 0
    storm: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def floats(raw: bytes) -> list[float]:
    a = array("d")
    a.frombytes(raw)
    return list(a)


def latencies(
    reports: list[dict[str, Any]], actions: list[tuple[str, str, float]], n: int
) -> tuple[list[float], float]:
    """Action -> phone latencies (ms) of every (action, phone) pair seen, and the reach."""
    seen: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in reports:
        for qid, raw in r["shown"].items():
            seen[(qid, "approve")].extend(floats(raw))
        for qid, raw in r["screen"].items():
            seen[(qid, "screen")].extend(floats(raw))
    out: list[float] = []
    reached = 0
    for qid, kind, t in actions:
        times = seen.get((qid, kind), [])
        reached += len(times)
        out.extend((x - t) * 1000 for x in times)
    return out, (reached / (len(actions) * n) if actions else 0.0)


async def mint(api: Api, code: str, n: int) -> list[str]:
    tokens: list[str] = []
    gate = asyncio.Semaphore(32)

    async def one() -> None:
        async with gate:
            tokens.append(await api.audience_token(code))

    await asyncio.gather(*(one() for _ in range(n)))
    return tokens


async def scrape(url: str, every: float, run: Run, http: aiohttp.ClientSession) -> None:
    """GET /metrics every `every` seconds, as Prometheus would, until cancelled."""
    while True:
        t = time.monotonic()
        async with http.get(f"{url}/metrics") as r:
            body = await r.read()
            if r.status != 200:
                raise RuntimeError(f"GET /metrics: {r.status}")
        run.scrapes += 1
        run.scrape_ms_max = max(run.scrape_ms_max, (time.monotonic() - t) * 1000)
        run.scrape_bytes = len(body)
        await asyncio.sleep(max(0.0, every - (time.monotonic() - t)))


async def podium_run(
    args: argparse.Namespace, n: int, workdir: Path, http: aiohttp.ClientSession, metrics: str = "on"
) -> Run:
    env = {"PODIUM_LOG_LEVEL": args.log_level, "PODIUM_JOIN_PER_MINUTE_PER_IP": "100000000"}
    env.update(item.split("=", 1) for item in args.podium_env)
    if metrics == "off":
        env["PODIUM_METRICS_ENABLED"] = "false"
    podium = Podium(workdir, args.workers, None, args.log_level, 500, source=args.podium_dir, extra_env=env)
    target = "podium" if metrics == "on" else "podium, metrics off"
    run = Run(target=target, n=n, procs=args.procs or procs_for(n), metrics=metrics)
    fleets: Fleets | None = None
    mod = Moderator()
    scraper: asyncio.Future[None] | None = None
    try:
        api = Api(podium, http)
        event = await api.new_event("Keynote")
        session = await api.sessions(event["id"], "Opening keynote")()
        invite = await api.post(
            f"/api/events/{event['id']}/invites", {"role": "moderator", "session_id": session}
        )
        t = time.monotonic()
        tokens = await mint(api, event["code"], n)
        print(f"  podium N={n}: minted {n} identities in {time.monotonic() - t:.1f} s", flush=True)
        rss_before = sum(rss_kb(p) for p in podium.workers)
        fleets = Fleets(podium.url, session, tokens, run.procs, args.connect_concurrency)
        joined = await fleets.ask("join")
        await mod.connect(podium.url, invite["token"], session)
        await asyncio.sleep(1.0)
        rss_after = sum(rss_kb(p) for p in podium.workers)
        if args.scrape and metrics == "on":
            scraper = asyncio.ensure_future(scrape(podium.url, args.scrape, run, http))
        await measure(args, run, podium, fleets, mod, joined, rss_before, rss_after)
        if scraper is not None:
            scraper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scraper
        if args.storm:
            await storm(args, run, podium, fleets, mod)
        return run
    finally:
        if scraper is not None:
            scraper.cancel()
        await mod.close()
        if fleets is not None:
            await fleets.stop()
        podium.stop()


def procs_for(n: int) -> int:
    """Phone processes: about 2,500 phones each (a process's loop stays far from saturation)."""
    return max(1, min(8, math.ceil(n / 2500)))


async def measure(
    args: argparse.Namespace,
    run: Run,
    server: Any,
    fleets: Fleets,
    mod: Moderator | None,
    joined: list[dict[str, Any]],
    rss_before: int,
    rss_after: int,
    broadcast: Any = None,
) -> None:
    """Warm-up, then the measured phase; fills run."""
    run.joined = sum(j["joined"] for j in joined)
    run.all_in_s = max(j["seconds"] for j in joined)
    join_reports = await fleets.ask("report")
    join_ms = [x for r in join_reports for x in floats(r["join_ms"])]
    run.join_p50_ms, run.join_p99_ms = pct(join_ms, 50), pct(join_ms, 99)
    run.join_refused = sum(r["counters"]["join_refused"] for r in join_reports)
    run.kb_per_conn = (rss_after - rss_before) / max(1, run.joined)
    loop = asyncio.get_running_loop()
    share = len(fleets.conns)
    pids = server.server_pids()
    idle0, t_idle = sum(cpu_seconds(p) for p in pids), time.monotonic()
    await asyncio.sleep(args.idle)
    idle_rate = (sum(cpu_seconds(p) for p in pids) - idle0) / (time.monotonic() - t_idle)
    run.idle_cpu_pct = idle_rate * 100
    if mod is not None:
        await fleets.ask("load", (args.asks / share, args.votes / share, args.reactions / share))
        warm = asyncio.ensure_future(mod.work(1.0 / args.actions, loop.time() + args.warmup))
        await warm
    else:
        await asyncio.sleep(args.warmup / 2)
    await fleets.ask("mark")
    store_pids = list(getattr(server, "store_pids", []))
    cpu0 = sum(cpu_seconds(p) for p in pids)
    store0 = sum(cpu_seconds(p) for p in store_pids)
    gen0 = {p: cpu_seconds(p) for p in [*fleets.pids, os.getpid()]}
    busy0 = machine_busy()
    t0 = time.monotonic()
    if mod is not None:
        mod.actions.clear()
        mod.ack_ms.clear()
        await mod.work(1.0 / args.actions, loop.time() + args.seconds)
    else:
        await broadcast(args.seconds)
    run.seconds = time.monotonic() - t0
    run.machine_busy = (machine_busy() - busy0) / run.seconds / (os.cpu_count() or 1)
    run.server_cpu_s = sum(cpu_seconds(p) for p in pids) - cpu0
    run.store_cpu_s = sum(cpu_seconds(p) for p in store_pids) - store0
    gen = {p: cpu_seconds(p) - c for p, c in gen0.items()}
    run.loadgen_cpu_s = sum(gen.values())
    run.loadgen_max_proc_cpu = max(gen.values()) / run.seconds
    await asyncio.sleep(args.grace)  # the last actions' frames are on their way
    reports = await fleets.ask("report")
    actions = mod.actions if mod is not None else broadcast.actions
    lat, run.reach = latencies(reports, actions, run.joined)
    run.actions = len(actions)
    run.p50_ms, run.p99_ms, run.max_ms = pct(lat, 50), pct(lat, 99), max(lat or [0])
    c = [r["counters"] for r in reports]
    run.frames = sum(x["frames"] for x in c)
    run.frame_bytes = sum(x["frame_bytes"] for x in c) / max(1, run.frames)
    run.frames_per_phone_s = run.frames / max(1, run.joined) / run.seconds
    run.resumes = sum(x["resumes"] for x in c)
    run.snapshots = sum(x["resume_snapshots"] for x in c)
    run.gaps = sum(x["gaps"] for x in c)
    run.stale = sum(x["stale"] for x in c)
    run.regressions = sum(x["regressions"] for x in c)
    run.loadgen_lag_ms = max(r["lag_max_ms"] for r in reports)
    # Frames written during the grace period are not in the CPU window: count the window only.
    window_frames = run.frames * run.seconds / (run.seconds + args.grace) if mod is None else run.frames
    run.us_per_frame = run.server_cpu_s / max(1, window_frames) * 1e6
    run.us_per_frame_net = max(0.0, run.server_cpu_s - idle_rate * run.seconds) / max(1, window_frames) * 1e6
    if mod is not None:
        run.mod_ack_p99_ms = pct(mod.ack_ms, 99)
        sent: dict[str, int] = defaultdict(int)
        refused: dict[str, int] = defaultdict(int)
        acks: dict[str, list[float]] = defaultdict(list)
        for r in reports:
            for k, v in r["counters"]["sent"].items():
                sent[k] += v
            for k, v in r["counters"]["refused"].items():
                refused[k] += v
            for k, raw in r["ack_ms"].items():
                acks[k].extend(floats(raw))
        run.background_sent = dict(sent)
        run.background_refused = dict(refused) | {f"moderator {k}": v for k, v in mod.refused.items()}
        run.background_ack_p99_ms = {k: round(pct(v, 99), 1) for k, v in acks.items()}
        run.background_ack_ms = {k: [round(pct(v, q), 1) for q in (50, 95, 99)] for k, v in acks.items()}
        every = [x for v in acks.values() for x in v]
        run.ack_all_ms = [round(pct(every, q), 1) for q in (50, 95, 99)] + [round(max(every or [0]), 1)]
    if run.loadgen_max_proc_cpu > 0.8:
        run.notes.append(
            f"a phone process used {run.loadgen_max_proc_cpu:.0%} of a core: it may have been the bottleneck"
        )


class Broadcaster:
    """For the baselines: frames of Podium's size, at Podium's rate, each one a new question on
    screen (so the same phones measure the same latency)."""

    def __init__(self, url: str, size: int, per_second: float) -> None:
        self.sio = socketio.AsyncClient()
        self.url = url
        self.size = size
        self.per_second = per_second
        self.actions: list[tuple[str, str, float]] = []
        self.v = 0

    async def connect(self) -> None:
        await self.sio.connect(self.url, transports=["websocket"], wait_timeout=20)

    async def __call__(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        self.actions.clear()
        while loop.time() < until:
            t = loop.time()
            self.v += 1
            qid = f"b{self.v}"
            qa = {"screen": qid, "questions": [], "counts": {"pending": 0, "declined": 0}}
            frame: dict[str, Any] = {
                "session": "s",
                "from": [self.v - 1, 0],
                "to": [self.v, 0],
                "now_ms": 0,
                "qa": qa,
            }
            pad = self.size - len(json.dumps(frame)) - 30
            if pad > 0:
                frame["pad"] = "x" * pad
            self.actions.append((qid, "screen", time.monotonic()))
            await self.sio.call("bench:broadcast", {"frame": frame}, timeout=60)
            await asyncio.sleep(max(0.0, 1 / self.per_second - (loop.time() - t)))

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.sio.disconnect(), 5)


async def baseline_run(args: argparse.Namespace, kind: str, n: int, workdir: Path, podium: Run) -> Run:
    server = Baseline(workdir, kind)
    run = Run(
        target=f"bare {'python-socketio' if kind == 'sio' else 'aiohttp loop'}", n=n, procs=podium.procs
    )
    fleets: Fleets | None = None
    caster = Broadcaster(server.url, int(podium.frame_bytes) or 300, max(0.2, podium.frames_per_phone_s))
    try:
        rss_before = rss_kb(server.proc.pid)
        fleets = Fleets(server.url, "s", [""] * n, run.procs, args.connect_concurrency)
        joined = await fleets.ask("join")
        await asyncio.sleep(1.0)
        rss_after = rss_kb(server.proc.pid)
        await caster.connect()
        await measure(args, run, server, fleets, None, joined, rss_before, rss_after, broadcast=caster)
        return run
    finally:
        await caster.close()
        if fleets is not None:
            await fleets.stop()
        server.stop()


# --- the storm --------------------------------------------------------------------------


async def storm(args: argparse.Namespace, run: Run, podium: Podium, fleets: Fleets, mod: Moderator) -> None:
    """Kill one of two workers (SIGKILL): its phones come back (spread as the server said),
    to the other worker and to the one the supervisor starts again. Measured: until 99% are
    back with the current state, and the moderator's acks meanwhile."""
    await fleets.ask("mark")
    loop = asyncio.get_running_loop()
    workers = [p for p in podium.descendants() if " worker" in cmdline(p)]
    # The worker the moderator is not on: the moderator carries on while a room comes back.
    port = local_port(mod.sio)
    held = owner(podium.port, port, workers) if port is not None else None
    victim = random.choice([w for w in workers if w != held] or workers)
    mod.ack_ms.clear()
    working = asyncio.ensure_future(mod.work(1.0 / args.actions, loop.time() + args.storm_seconds))
    killed = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    lost = back = 0
    took: float | None = None
    while time.monotonic() - killed < args.storm_seconds:
        await asyncio.sleep(0.5)
        reports = await fleets.ask("report")
        pairs = [b for r in reports for b in r["back"]]
        lost = len(pairs)
        back = sum(1 for lost_at, back_at in pairs if back_at is not None and back_at >= lost_at)
        if lost and back >= 0.99 * lost and took is None:
            took = time.monotonic() - killed
    await working
    c = [r["counters"] for r in await fleets.ask("report")]
    moderator_acks = list(mod.ack_ms)
    # Back with the current state: after the storm, one more action reaches every phone.
    await fleets.ask("mark")
    mod.actions.clear()
    await mod.work(1.0, loop.time() + 1.0)
    await asyncio.sleep(args.grace)
    _lat, final_reach = latencies(await fleets.ask("report"), mod.actions, run.joined)
    run.storm = {
        "lost": lost,
        "back": back,
        "99% back after s": round(took, 1) if took is not None else None,
        "reach of an action after it": round(final_reach, 5),
        "moderator ack p99 ms": round(pct(moderator_acks, 99), 1),
        "moderator ack max ms": round(max(moderator_acks or [0]), 1),
        "moderator refused": dict(mod.refused),
        "resumes": sum(x["resumes"] for x in c),
        "snapshots on resume": sum(x["resume_snapshots"] for x in c),
        "joins refused (retried)": sum(x["join_refused"] for x in c),
        "connects refused (retried)": sum(x["connect_refused"] for x in c),
        "regressions": sum(x["regressions"] for x in c),
    }


# --- report -----------------------------------------------------------------------------

COLUMNS = [
    ("N", lambda r: f"{r.n:,}"),
    ("server", lambda r: r.target),
    ("joined", lambda r: f"{r.joined:,}"),
    ("join p50/p99 ms", lambda r: f"{r.join_p50_ms:.0f} / {r.join_p99_ms:.0f}"),
    ("all in s", lambda r: f"{r.all_in_s:.1f}"),
    ("action → phone p50/p99/max ms", lambda r: f"{r.p50_ms:.0f} / {r.p99_ms:.0f} / {r.max_ms:.0f}"),
    ("reach", lambda r: f"{r.reach:.2%}"),
    ("frames/phone/s", lambda r: f"{r.frames_per_phone_s:.2f}"),
    ("bytes/frame", lambda r: f"{r.frame_bytes:.0f}"),
    ("resumes / snapshots", lambda r: f"{r.resumes} / {r.snapshots}"),
    ("server CPU s", lambda r: f"{r.server_cpu_s:.1f}"),
    ("Redis CPU s", lambda r: f"{r.store_cpu_s:.1f}"),
    ("µs/frame", lambda r: f"{r.us_per_frame:.1f}"),
    ("idle CPU %", lambda r: f"{r.idle_cpu_pct:.0f}"),
    ("µs/frame net of idle", lambda r: f"{r.us_per_frame_net:.1f}"),
    ("KB/conn", lambda r: f"{r.kb_per_conn:.1f}"),
    ("loadgen CPU s (max proc)", lambda r: f"{r.loadgen_cpu_s:.1f} ({r.loadgen_max_proc_cpu:.0%})"),
    ("machine busy", lambda r: f"{r.machine_busy:.0%}"),
]


def table(runs: list[Run]) -> str:
    head = "| " + " | ".join(name for name, _ in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    rows = ["| " + " | ".join(f(r) for _, f in COLUMNS) + " |" for r in runs]
    return "\n".join([head, rule, *rows])


def metrics_table(runs: list[Run]) -> str:
    """Podium with metrics on (scraped) and off: acks, CPU, latency."""
    rows = [
        "| N | metrics | acks p50 / p95 / p99 / max ms | moderator ack p99 ms | action → phone p99 ms "
        "| server CPU s | µs/frame | scrapes (max ms, bytes) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        if r.target.startswith("podium"):
            acks = " / ".join(f"{x:.0f}" for x in r.ack_all_ms)
            scraped = f"{r.scrapes} ({r.scrape_ms_max:.0f}, {r.scrape_bytes:,})" if r.scrapes else "–"
            rows.append(
                f"| {r.n:,} | {r.metrics} | {acks} | {r.mod_ack_p99_ms:.0f} | {r.p99_ms:.0f} "
                f"| {r.server_cpu_s:.1f} | {r.us_per_frame:.1f} | {scraped} |"
            )
    return "\n".join(rows)


def headline(runs: list[Run], p99_ms: float) -> str:
    good = [
        r.n
        for r in runs
        if r.target == "podium" and r.p99_ms <= p99_ms and r.reach >= 0.99999 and r.joined == r.n
    ]
    return (
        f"largest N with action → phone p99 ≤ {p99_ms:.0f} ms and reach 100%: {max(good) if good else 'none'}"
    )


def ratios(runs: list[Run]) -> list[str]:
    out = []
    by_n: dict[int, dict[str, Run]] = defaultdict(dict)
    for r in runs:
        by_n[r.n][r.target] = r
    for n, group in sorted(by_n.items()):
        pod = group.get("podium")
        if pod is None:
            continue
        for name, other in group.items():
            if other is not pod and other.us_per_frame:
                ratio = pod.us_per_frame / other.us_per_frame
                net = pod.us_per_frame_net / max(0.001, other.us_per_frame_net)
                out.append(
                    f"N={n:,}: Podium {pod.us_per_frame:.1f} µs/frame = {ratio:.2f}× {name} "
                    f"({other.us_per_frame:.1f}); frames per CPU-second {1e6 / pod.us_per_frame:,.0f} "
                    f"vs {1e6 / other.us_per_frame:,.0f}; net of idle {pod.us_per_frame_net:.1f} vs "
                    f"{other.us_per_frame_net:.1f} µs = {net:.2f}×"
                )
    return out


# --- main -------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clients", default="500,1000", help="comma-separated N")
    p.add_argument(
        "--target", default="podium,sio,ws", help="podium, sio (bare python-socketio), ws (bare aiohttp)"
    )
    p.add_argument("--seconds", type=float, default=20.0, help="measured per run")
    p.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds of load first")
    p.add_argument("--grace", type=float, default=3.0, help="seconds after the phase for the last frames")
    p.add_argument("--idle", type=float, default=5.0, help="seconds of idle server CPU measured first")
    p.add_argument("--asks", type=float, default=5.0, help="questions asked per second")
    p.add_argument("--votes", type=float, default=200.0, help="votes per second")
    p.add_argument("--reactions", type=float, default=100.0, help="reactions per second")
    p.add_argument("--actions", type=float, default=1.0, help="moderator approve+screen per second")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--procs", type=int, default=0, help="phone processes (0: one per 2,500 phones)")
    p.add_argument("--connect-concurrency", type=int, default=100, help="joins in flight per phone process")
    p.add_argument("--storm", action="store_true", help="after the Podium run, SIGKILL a worker")
    p.add_argument("--storm-seconds", type=float, default=40.0)
    p.add_argument("--p99-ms", type=float, default=500.0, help="the headline's bound")
    p.add_argument("--log-level", default="WARNING")
    p.add_argument("--podium-dir", type=Path, default=ROOT, help="run Podium from this checkout")
    p.add_argument(
        "--podium-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for Podium, e.g. PODIUM_EVENT_LOOP=asyncio (repeatable)",
    )
    p.add_argument(
        "--metrics",
        default="on",
        help="Podium runs per N with metrics.enabled on or off, in this order (e.g. on,off,on,off)",
    )
    p.add_argument("--scrape", type=float, default=0.0, help="GET /metrics every S seconds (0: never)")
    p.add_argument("--json", type=Path, help="write every number here")
    return p.parse_args(argv)


async def run_all(args: argparse.Namespace) -> list[Run]:
    runs: list[Run] = []
    targets = [t.strip() for t in args.target.split(",") if t.strip()]
    async with aiohttp.ClientSession() as http:
        for n in [int(x) for x in args.clients.split(",")]:
            with tempfile.TemporaryDirectory(prefix="podium-keynote-") as tmp:
                pod = None
                for metrics in [m.strip() for m in args.metrics.split(",")] if "podium" in targets else []:
                    workdir = Path(tmp) / f"podium-{len(runs)}"
                    workdir.mkdir()
                    run = await podium_run(args, n, workdir, http, metrics)
                    runs.append(run)
                    print(table([run]), flush=True)
                    if run.storm:
                        print("  storm:", json.dumps(run.storm, ensure_ascii=False), flush=True)
                    pod = pod or run
                ref = pod or Run(
                    target="podium",
                    n=n,
                    procs=args.procs or procs_for(n),
                    frame_bytes=400,
                    frames_per_phone_s=4,
                )
                for kind in ("sio", "ws"):
                    if kind in targets:
                        runs.append(await baseline_run(args, kind, n, Path(tmp), ref))
                        print(table([runs[-1]]), flush=True)
    return runs


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raise_open_files()
    info = machine(args.podium_dir)
    print("keynote:", " ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    started = time.time()
    runs = asyncio.run(run_all(args))
    print()
    print(table(runs))
    print()
    print(headline(runs, args.p99_ms))
    for line in ratios(runs):
        print(line)
    if any(r.metrics == "off" for r in runs):
        print()
        print(metrics_table(runs))
    for r in runs:
        for note in r.notes:
            print(f"note ({r.target}, N={r.n}): {note}")
        if r.background_sent:
            print(
                f"background ({r.target}, N={r.n}): sent {r.background_sent}, "
                f"refused {r.background_refused}, "
                f"ack p99 ms {r.background_ack_p99_ms}, moderator ack p99 {r.mod_ack_p99_ms:.0f} ms, "
                f"gaps {r.gaps}, stale {r.stale}, regressions {r.regressions}, join refusals {r.join_refused}"
            )
    print(f"took {time.time() - started:.0f} s")
    if args.json:
        record = {
            "machine": info,
            "args": {k: str(v) for k, v in vars(args).items()},
            "runs": [asdict(r) for r in runs],
        }
        args.json.write_text(json.dumps(record, indent=2, ensure_ascii=False))
    failed = [r for r in runs if r.joined < r.n or r.regressions]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
