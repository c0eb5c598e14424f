"""The stage's signaling: relay latency of `rtc:signal`, an ICE burst, and how fast a drop is seen.

    python -m bench.stage_signal                          # 4 speakers, 10 viewers, 20/s per pair
    python -m bench.stage_signal --rate 5,20 --markdown --json /tmp/stage.json
    python -m bench.stage_signal --speakers 2 --viewers 6 --moderators 1 --seconds 5 --drops 10
    python -m bench.stage_signal --target baseline         # only the naive relay
    python -m bench.stage_signal --podium-dir /tmp/podium-head   # another checkout, this venv

Everything runs on 127.0.0.1 and is started and stopped here (see bench/README.md):

1. **Podium as shipped** (`python -m server serve --workers 2`, embedded Valkey):
   * *ICE burst*: S speakers' studios open at once towards V viewers (hall screens and
     moderators), as the web client does: one offer per viewer, then --burst-candidates
     candidates per viewer over --burst-ms; each viewer answers every offer the same way.
     Counted: signals refused (`rate_limited`), and candidates that arrived.
   * *Speaker drops*: a moderator and an audience member watch, following the session feed
     as the pages do; a live speaker's client disconnects cleanly; measured is the time from
     the disconnect call until the moderator's lineup says the speaker is offline (a
     `session:feed` frame's `online` part) and until `rtc:peer` `present: false`, then the
     speaker reconnects and joins (time until it is online again). Counted: every event and
     feed part the audience member and the moderator got during the drops and returns, and
     their feed gaps. --drops times (needs the session feed, a332d7a on).
2. **Signaling relay**: every speaker sends `rtc:signal` candidates to every viewer at --rate
   per pair for --seconds (after an unreported --warmup), against Podium and against
   bench/baseline_relay.py (one process, no checks, no Redis). Podium runs as shipped when a
   speaker's socket then stays within its signaling allowance (rate x viewers per second;
   60/s as shipped), else with that allowance lifted (--relay-limits). Measured: send -> the
   viewer's handler runs, and send -> ack, split by whether the two sockets are on the same
   worker; lost, duplicated and reordered signals; CPU of servers, Valkey and this process;
   store commands per signal.

Sockets are placed on workers on purpose: each client finds the worker that accepted its
TCP connection (/proc/net/tcp and the workers' fds) and reconnects until it has the one it
was assigned (speakers, screens and moderators alternate between the workers).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import tomllib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import socketio

from bench.presence_join import (
    ROOT,
    Api,
    Baseline,
    LagMonitor,
    Podium,
    Server,
    bounded,
    cpu_total,
    fmt,
    machine,
    machine_busy,
    pct,
    position,
    redis_stats,
    tabulate,
)
from tests.follower import Follower

SIGNAL = "rtc:signal"
JOIN = "session:join"
SNAPSHOT = "session:snapshot"
RESUME = "session:resume"
FEED = "session:feed"  # {session, from: [v, k], to: [v, k], now_ms, stage?, online?, presence?, ...}
FRAME_KEYS = frozenset({"session", "from", "to", "now_ms"})  # every frame has them; the rest are parts
STAGE_SET = "stage:set"
RTC_PEER = "rtc:peer"
UNLIMITED = "10000000"  # per 10 s, and a bucket that size: never empty at these rates
# rtc:signal's own allowance (since 8b75e77); before, it drew on the socket's general bucket.
RTC_ENV = {"PODIUM_RTC_SIGNALS_PER_10S": UNLIMITED, "PODIUM_RTC_SIGNAL_BURST": UNLIMITED}
FLOOD_ENV = {"PODIUM_LIMITS_SOCKET_EVENTS_PER_10S": UNLIMITED}
FLOOD_BURST = 20.0  # server/realtime/handlers.py BURST: the general bucket, per socket


@dataclass
class Allowance:
    """What one speaker socket may send of `rtc:signal` as the checkout ships (moderators twice)."""

    per_s: float  # sustained
    burst: float
    own: bool  # rtc:signal has its own bucket (8b75e77 on); else the general flood limit

    @property
    def lifted_env(self) -> dict[str, str]:
        return RTC_ENV if self.own else FLOOD_ENV


def allowance(source: Path) -> Allowance:
    """The signaling allowance in source's config/default.toml."""
    with (source / "config" / "default.toml").open("rb") as fh:
        limits = tomllib.load(fh).get("limits", {})
    if "rtc_signals_per_10s" in limits:
        return Allowance(limits["rtc_signals_per_10s"] / 10, float(limits["rtc_signal_burst"]), True)
    return Allowance(limits.get("socket_events_per_10s", 50) / 10, FLOOD_BURST, False)


# --- which worker holds a socket ---------------------------------------------------------------


def local_port(client: socketio.AsyncClient) -> int | None:
    """The client's own TCP port of its websocket (None if it has none)."""
    ws = getattr(client.eio, "ws", None)
    name = ws.get_extra_info("sockname") if ws is not None else None
    return int(name[1]) if name else None


def owner(server_port: int, client_port: int, pids: list[int]) -> int | None:
    """The process among pids holding the accepted end of 127.0.0.1:client_port -> server_port."""
    inode = None
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                f = line.split()
                if (
                    int(f[1].rsplit(":", 1)[1], 16) == server_port
                    and int(f[2].rsplit(":", 1)[1], 16) == client_port
                ):
                    inode = f[9]
    if inode is None:
        return None
    want = f"socket:[{inode}]"
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == want:
                        return pid
    return None


# --- what a browser sends ---------------------------------------------------------------------


def candidate(seq: int, s: int, v: int) -> str:
    """A host candidate as Chrome writes it; the foundation carries the sequence number."""
    return (
        f"candidate:{seq} 1 udp 2122260223 192.168.{s}.{v + 10} {50000 + seq % 10000} typ host "
        f"generation 0 ufrag Pq7{s}{v} network-id 1 network-cost 10"
    )


def seq_of(line: str) -> int:
    return int(line[10 : line.index(" ")])  # "candidate:<seq> ..."


def ice_candidate(i: int, tag: str) -> str:
    """The i-th candidate of one gathering: host (mDNS), host tcp, srflx, relay, in turn."""
    ufrag = f"u{tag}"
    kind = i % 4
    port = 50000 + 7 * i
    if kind == 0:
        return (
            f"candidate:{1000 + i} 1 udp 2122260223 {tag}-{i:04d}-4c2e-9b1f-2f6e3a7d9c10.local {port} "
            f"typ host generation 0 ufrag {ufrag} network-id 1 network-cost 10"
        )
    if kind == 1:
        return (
            f"candidate:{1000 + i} 1 tcp 1518280447 {tag}-{i:04d}-4c2e-9b1f-2f6e3a7d9c10.local 9 "
            f"typ host tcptype active generation 0 ufrag {ufrag} network-id 1 network-cost 10"
        )
    if kind == 2:
        return (
            f"candidate:{1000 + i} 1 udp 1686052607 203.0.113.{i % 250 + 1} {port} typ srflx "
            f"raddr 0.0.0.0 rport 0 generation 0 ufrag {ufrag} network-id 1 network-cost 10"
        )
    return (
        f"candidate:{1000 + i} 1 udp 41885439 198.51.100.{i % 250 + 1} {port} typ relay "
        f"raddr 203.0.113.{i % 250 + 1} rport {port} generation 0 ufrag {ufrag} network-id 1 network-cost 10"
    )


def cand_type(line: str) -> str:
    """host, tcp (a host tcp candidate), srflx or relay."""
    return "tcp" if " tcp " in line else line.split(" typ ", 1)[-1].split(" ", 1)[0]


def fake_sdp(kind: str, tag: str) -> str:
    """An offer or answer the size and shape of Chrome's (audio + video, BUNDLE, ~5 KB)."""
    lines = [
        "v=0",
        f"o=- {abs(hash(tag)) % 10**18} 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "a=extmap-allow-mixed",
        "a=msid-semantic: WMS stream",
    ]
    role = "actpass" if kind == "offer" else "active"
    for mid, (media, codecs) in enumerate(
        (
            ("audio", [(111, "opus/48000/2"), (63, "red/48000/2"), (9, "G722/8000"), (0, "PCMU/8000")]),
            (
                "video",
                [(96, "VP8/90000"), (97, "rtx/90000"), (98, "VP9/90000"), (99, "rtx/90000")]
                + [(100 + k, "H264/90000") for k in range(8)]
                + [(45, "AV1/90000"), (46, "rtx/90000"), (114, "red/90000"), (116, "ulpfec/90000")],
            ),
        )
    ):
        pts = " ".join(str(pt) for pt, _ in codecs)
        lines += [
            f"m={media} 9 UDP/TLS/RTP/SAVPF {pts}",
            "c=IN IP4 0.0.0.0",
            "a=rtcp:9 IN IP4 0.0.0.0",
            f"a=ice-ufrag:u{tag}",
            "a=ice-pwd:3sKq0Vf8b2LxYc1Wm9Tn4RzA",
            "a=ice-options:trickle",
            "a=fingerprint:sha-256 " + ":".join(f"{(mid * 37 + k * 11) % 256:02X}" for k in range(32)),
            f"a=setup:{role}",
            f"a=mid:{mid}",
            "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
            "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
            "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
            "a=sendonly" if kind == "offer" else "a=recvonly",
            f"a=msid:stream {media}-track",
            "a=rtcp-mux",
            "a=rtcp-rsize",
        ]
        for pt, name in codecs:
            lines.append(f"a=rtpmap:{pt} {name}")
            if media == "video" and "rtx" not in name:
                lines += [f"a=rtcp-fb:{pt} goog-remb", f"a=rtcp-fb:{pt} transport-cc"]
                lines += [f"a=rtcp-fb:{pt} ccm fir", f"a=rtcp-fb:{pt} nack", f"a=rtcp-fb:{pt} nack pli"]
            if "H264" in name:
                lines.append(
                    f"a=fmtp:{pt} level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
                )
        lines += [f"a=ssrc:{1000 + mid} cname:podiumbench", f"a=ssrc:{1000 + mid} msid:stream {media}-track"]
    return "\r\n".join(lines) + "\r\n"


# --- targets and peers ----------------------------------------------------------------------------


@dataclass
class Target:
    """A server the scenarios run against, and how to get sessions and credentials from it."""

    name: str
    server: Server
    workers: list[int]  # pids that accept sockets
    store_pids: list[int]
    redis_url: str | None
    new_session: Callable[[], Awaitable[str]]
    auth: Callable[[str, int], dict[str, str] | None]  # (role, index) -> socket.io auth (audience too)
    speaker_ids: list[str]  # the speakers' invite ids (Podium) by index
    limits: str = ""  # Podium's signaling allowance: shipped or lifted


async def podium_target(
    podium: Podium, http: aiohttp.ClientSession, args: argparse.Namespace, limits: str
) -> Target:
    api = Api(podium, http)
    event = await api.new_event("Stage bench")
    post = api.post
    # One link per speaker, per hall screen and per moderator, for the whole event.
    tokens: dict[str, list[str]] = {"speaker": [], "screen": [], "moderator": [], "audience": []}
    speaker_ids: list[str] = []
    wanted = {"speaker": args.speakers, "screen": args.screens, "moderator": max(1, args.moderators)}
    for role, count in wanted.items():
        for i in range(count):
            body = {"role": role, "label": f"{role.capitalize()} {i + 1}", "hours": 24}
            data = await post(f"/api/events/{event['id']}/invites", body)
            tokens[role].append(str(data["token"]))
            if role == "speaker":
                speaker_ids.append(str(data["invite"]["id"]))
    # One audience member, as a phone gets in: the event's code.
    tokens["audience"].append(await api.audience_token(event["code"]))
    return Target(
        name="podium",
        server=podium,
        workers=podium.workers,
        store_pids=podium.store_pids,
        redis_url=podium.redis_url,
        new_session=api.sessions(event["id"], "Panel"),
        auth=lambda role, i: {"participant" if role == "audience" else "token": tokens[role][i]},
        speaker_ids=speaker_ids,
        limits=limits,
    )


def baseline_target(server: Baseline, args: argparse.Namespace) -> Target:
    counter = iter(range(1, 1_000_000))

    async def new_session() -> str:
        return f"bench-{next(counter)}"

    return Target(
        name="baseline",
        server=server,
        workers=server.server_pids(),
        store_pids=[],
        redis_url=None,
        new_session=new_session,
        auth=lambda _role, _i: None,
        speaker_ids=[f"speaker-{i}" for i in range(args.speakers)],
    )


@dataclass
class Peer:
    """One socket of the scenario: its role, the worker it should be on and the one it got."""

    role: str  # speaker | screen | moderator
    index: int  # within its role
    want: int | None  # worker pid to land on (None: any)
    client: socketio.AsyncClient | None = None
    sid: str = ""
    worker: int | None = None
    tries: int = 0  # connections it took to land on `want`
    join_retries: int = 0  # joins answered rate_limited (the per-person join limit)

    @property
    def name(self) -> str:
        return f"{self.role}{self.index + 1}"


Handlers = dict[str, Callable[..., Any]]


def counting(counts: Counter[str], handlers: Handlers) -> Handlers:
    """handlers, each also counting its event in counts, and a catch-all counting every other
    event the socket gets."""

    def wrap(event: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def handler(*args: Any) -> Any:
            counts[event] += 1
            return fn(*args)

        return handler

    def other(event: str, *_args: Any) -> None:
        counts[event] += 1

    return {**{event: wrap(event, fn) for event, fn in handlers.items()}, "*": other}


async def place(target: Target, peer: Peer, handlers: Handlers, within: float, attempts: int = 16) -> None:
    """Connect peer, reconnecting until it is on the worker it wants (or attempts run out)."""
    for attempt in range(1, attempts + 1):
        client = socketio.AsyncClient(reconnection=False)
        for event, fn in handlers.items():
            client.on(event, fn)
        await client.connect(
            target.server.url,
            transports=["websocket"],
            auth=target.auth(peer.role, peer.index),
            wait_timeout=within,
        )
        port = local_port(client)
        worker = owner(target.server.port, port, target.workers) if port else None
        if peer.want is None or worker == peer.want or attempt == attempts:
            peer.client, peer.worker, peer.tries = client, worker, attempt
            peer.sid = str(client.get_sid("/"))
            return
        await client.disconnect()


async def join(peer: Peer, session: str, within: float, feed: Feed | None = None) -> dict[str, Any]:
    """session:join, waiting out the per-person join limit if it answers rate_limited; a
    followed feed holds the frames that arrive meanwhile and takes the answer."""
    assert peer.client is not None
    deadline = time.perf_counter() + within
    if feed is not None:
        feed.begin(session)
    ack: Any = None
    try:
        while True:
            ack = await peer.client.call(JOIN, {"session": session}, timeout=within)
            if isinstance(ack, dict) and ack.get("ok"):
                return ack
            code = ack.get("error", {}).get("code") if isinstance(ack, dict) else None
            if code != "rate_limited" or time.perf_counter() > deadline:
                raise RuntimeError(f"{peer.name} could not join: {ack}")
            peer.join_retries += 1
            await asyncio.sleep(float(ack["error"].get("retry_after", 1)))
    finally:
        if feed is not None:
            feed.settle(ack, "join")


async def close(peers: list[Peer]) -> None:
    async def one(p: Peer) -> None:
        if p.client is not None and p.client.connected:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(p.client.disconnect(), 5)

    await asyncio.gather(*(one(p) for p in peers))


def cast(target: Target, args: argparse.Namespace) -> tuple[list[Peer], list[Peer]]:
    """Speakers, and viewers (screens then moderators), each role spread over the workers."""
    w = target.workers

    def spread(role: str, n: int, start: int = 0) -> list[Peer]:
        return [Peer(role, i, w[(i + start) % len(w)] if w else None) for i in range(n)]

    speakers = spread("speaker", args.speakers)
    viewers = spread("screen", args.screens) + spread("moderator", args.moderators, start=1)
    return speakers, viewers


async def open_all(target: Target, peers: list[Peer], handlers: Callable[[Peer], Handlers], t: float) -> None:
    gate = asyncio.Semaphore(8)

    async def one(p: Peer) -> None:
        async with gate:
            await place(target, p, handlers(p), t)

    await asyncio.gather(*(one(p) for p in peers))


def placement(peers: list[Peer], workers: list[int]) -> str:
    """speaker1@w1 screen1@w2 ... (w1, w2: the workers in start order)."""
    names = {pid: f"w{i + 1}" for i, pid in enumerate(workers)}
    return " ".join(f"{p.name}@{names.get(p.worker or -1, '?')}" for p in peers)


class Feed:
    """One client following its session's feed as web/static/js/live.js does (the rules are
    tests/follower.py's, which keeps the state a page shows): frames that arrive while a join,
    snapshot or resume is on its way wait for its answer; a frame ending at or before the
    position is stale; one starting after it (the client missed some) is followed by
    `session:resume` from the position, never two at once. `changed(via, frame)` is called
    whenever the state may have changed: after a frame was applied (`frame`), or an answer
    taken (`via`: join, snapshot, resume). Counted: frames, frames with each part, frames with
    a stage or online part, stage parts equal to the stage shown before, gaps, stale frames,
    resumes, and answers whose position was before the one the client held."""

    def __init__(
        self, peer: Peer, within: float, changed: Callable[[str, dict[str, Any] | None], None] | None = None
    ) -> None:
        self.peer = peer
        self.within = within
        self.changed = changed
        self.follower = Follower()
        self.frames = self.stage_frames = self.stage_unchanged = self.behind = 0
        self.parts: Counter[str] = Counter()
        self._resuming: asyncio.Task[None] | None = None

    @property
    def followed(self) -> bool:
        """The server answered with a position (a Podium with the session feed)."""
        return self.follower.pos is not None

    def begin(self, session: str | None = None) -> None:
        self.follower.begin(session)

    def settle(self, ack: Any, via: str) -> None:
        """The answer of a join, snapshot or resume, then the frames held meanwhile."""
        held = self.follower.pos
        at = ack.get("at") if isinstance(ack, dict) else None
        if at is None and isinstance(ack, dict) and isinstance(ack.get("snapshot"), dict):
            at = ack["snapshot"].get("at")
        if held is not None and at is not None and position(at) < held:
            self.behind += 1
        outcomes = self.follower.settle(ack)
        if self.changed is not None:
            self.changed(via, None)
        if "gap" in outcomes:
            self._resuming = None
            self._resume()

    def on_frame(self, frame: Any) -> None:
        if not isinstance(frame, dict):
            return
        self.frames += 1
        self.parts.update(k for k in frame if k not in FRAME_KEYS)
        if "stage" in frame or "online" in frame:
            self.stage_frames += 1
        same = "stage" in frame and frame["stage"] == self.follower.state.get("stage")
        outcome = self.follower.take(frame)
        if outcome in ("applied", "reset"):
            if same and outcome == "applied":
                self.stage_unchanged += 1
            if self.changed is not None:
                self.changed("feed", frame)
        elif outcome == "gap":
            self._resume()

    def _resume(self) -> None:
        if self._resuming is not None and not self._resuming.done():
            return  # its answer covers what this one would ask
        since = list(self.follower.pos or (0, 0))
        self.follower.begin()  # from now on frames wait for the answer
        self._resuming = asyncio.ensure_future(self._run_resume(since))

    async def _run_resume(self, since: list[int]) -> None:
        f = self.follower
        ack: Any = None
        try:
            assert self.peer.client is not None
            ack = await self.peer.client.call(
                RESUME, {"session": f.session, "since": since}, timeout=self.within
            )
        except Exception as exc:
            print(f"  ({self.peer.name}: session:resume failed: {type(exc).__name__})", file=sys.stderr)
        finally:
            self.settle(ack, "resume")

    def tally(self) -> Counter[str]:
        """Everything counted so far, by name (subtract an earlier tally for a phase's)."""
        f = self.follower
        out = Counter(
            frames=self.frames,
            gaps=f.gaps,
            stale=f.stale,
            resumes=f.resumes,
            stage_frames=self.stage_frames,
            stage_unchanged=self.stage_unchanged,
            behind=self.behind,
        )
        out.update({f"part {k}": n for k, n in self.parts.items()})
        return out


# --- 1. relay latency -----------------------------------------------------------------------------


def summary(values_ms: list[float]) -> dict[str, float]:
    return {
        "n": len(values_ms),
        "p50": pct(values_ms, 50),
        "p95": pct(values_ms, 95),
        "p99": pct(values_ms, 99),
        "max": max(values_ms, default=float("nan")),
    }


class Relay:
    """Every signal of one phase: when it was sent, acked and received, per (speaker, viewer)."""

    def __init__(self, speakers: list[Peer], viewers: list[Peer]) -> None:
        self.nv = len(viewers)
        pairs = len(speakers) * self.nv
        self.speaker_of = {p.sid: i for i, p in enumerate(speakers)}
        self.same = [s.worker == v.worker for s in speakers for v in viewers]
        self.sent: list[list[float]] = [[] for _ in range(pairs)]
        self.acks: list[dict[int, tuple[float, str]]] = [{} for _ in range(pairs)]
        self.recv: list[dict[int, float]] = [{} for _ in range(pairs)]
        self.top = [-1] * pairs
        self.n_sent = self.n_acked = self.n_ok = self.n_recv = 0
        self.dups = self.reordered = self.stray = 0
        self.send_lag = 0.0
        self.last = time.perf_counter()

    def ack(self, pair: int, seq: int, answer: Any = None) -> None:
        now = time.perf_counter()
        ok = isinstance(answer, dict) and answer.get("ok")
        code = "ok" if ok else str((answer or {}).get("error", {}).get("code", "malformed"))
        self.acks[pair][seq] = (now, code)
        self.n_acked += 1
        self.n_ok += bool(ok)
        self.last = now

    def on_signal(self, v: int, msg: Any) -> None:
        now = time.perf_counter()
        self.last = now
        try:
            s = self.speaker_of[msg["from"]]
            seq = seq_of(msg["data"]["candidate"])
        except (KeyError, TypeError, ValueError):
            self.stray += 1
            return
        pair = s * self.nv + v
        if seq in self.recv[pair]:
            self.dups += 1
            return
        self.recv[pair][seq] = now
        self.n_recv += 1
        if seq < self.top[pair]:
            self.reordered += 1  # overtaken by a later signal of the same pair
        self.top[pair] = max(self.top[pair], seq)

    async def speak(
        self, s: int, peer: Peer, viewers: list[Peer], session: str, rate: float, t0: float, end: float
    ) -> None:
        """Speaker s sends one candidate to each viewer at `rate` per pair, evenly spread."""
        assert peer.client is not None
        emit = peer.client.emit
        interval = 1.0 / (rate * self.nv)
        offset = interval * s / max(1, len(self.speaker_of))
        k = 0
        while True:
            due = t0 + offset + k * interval
            if due >= end:
                return
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)  # behind schedule: still let the receivers run
            self.send_lag = max(self.send_lag, time.perf_counter() - due)
            v, seq = k % self.nv, k // self.nv
            pair = s * self.nv + v
            data = {"candidate": candidate(seq, s, v), "sdpMid": "0", "sdpMLineIndex": 0}
            payload = {"session": session, "to": viewers[v].sid, "kind": "candidate", "data": data}
            self.sent[pair].append(time.perf_counter())
            self.n_sent += 1
            await emit(SIGNAL, payload, callback=partial(self.ack, pair, seq))
            k += 1

    async def drain(self, quiet: float, within: float) -> bool:
        """Wait until every signal is acked and every ok one delivered (False: quiet/timeout)."""
        deadline = time.perf_counter() + within
        while time.perf_counter() < deadline:
            if self.n_acked >= self.n_sent and self.n_recv >= self.n_ok:
                return True
            if time.perf_counter() - self.last > quiet:
                return False
            await asyncio.sleep(0.01)
        return False


@dataclass
class RelayResult:
    target: str
    rate: float  # signals per second per (speaker, viewer) pair
    speakers: int
    viewers: int
    seconds: float
    load_1m: float = 0.0
    pairs_same: int = 0  # speaker and viewer on the same worker
    pairs_cross: int = 0
    placement: str = ""
    sent: int = 0
    acked_ok: int = 0
    refused: dict[str, int] = field(default_factory=dict)  # ack error code -> count
    no_ack: int = 0
    delivered: int = 0
    lost: int = 0  # acked ok, never delivered
    duplicates: int = 0
    reordered: int = 0  # delivered after a later signal of the same pair
    stray: int = 0  # rtc:signal frames that were not ours
    relay_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # all / same / cross
    ack_ms: dict[str, dict[str, float]] = field(default_factory=dict)
    send_lag_ms: float = 0.0  # worst lateness of a send against its schedule
    loadgen_lag_ms: float = 0.0
    server_cpu_s: float = 0.0
    store_cpu_s: float | None = None
    loadgen_cpu_s: float = 0.0
    other_cpu_s: float = 0.0
    phase_s: float = 0.0
    server_us_per_signal: float = 0.0
    store_cmds_per_signal: float | None = None
    store_calls: dict[str, int] = field(default_factory=dict)
    idle_server_cpu_pct: float = 0.0  # workers' CPU with everyone joined and nothing sent
    server_us_per_signal_net: float = 0.0  # server CPU above idle, per signal
    # The moderators' feeds while the speakers arrived (None: the Podium has no session feed):
    feed_gaps: int | None = None  # frames starting after the moderator's position (it resumed)
    feed_stale: int | None = None  # frames ending at or before it
    feed_resumes: int | None = None
    store_clients_before: int | None = None  # connected to Valkey before the measured phase
    store_clients_after: int | None = None
    store_new_connections: int | None = None  # connections Valkey accepted during the phase
    limits: str = ""  # Podium's signaling allowance in this run: shipped or lifted
    errors: list[str] = field(default_factory=list)


async def store_clients(url: str | None) -> tuple[int, int] | None:
    """(connected_clients, total_connections_received) of the store, None without one."""
    if not url:
        return None
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(url, socket_timeout=5, decode_responses=True)
    try:
        clients, stats = await client.info("clients"), await client.info("stats")
        return int(clients["connected_clients"]), int(stats["total_connections_received"])
    except Exception as exc:
        print(f"  (could not read the store's clients: {exc})", file=sys.stderr)
        return None
    finally:
        await client.aclose()


async def relay_phase(
    speakers: list[Peer],
    viewers: list[Peer],
    session: str,
    rate: float,
    seconds: float,
    box: dict[str, Relay],
) -> Relay:
    relay = box["now"] = Relay(speakers, viewers)
    t0 = time.perf_counter() + 0.05
    await asyncio.gather(
        *(relay.speak(s, p, viewers, session, rate, t0, t0 + seconds) for s, p in enumerate(speakers))
    )
    return relay


async def relay_run(target: Target, rate: float, args: argparse.Namespace) -> RelayResult:
    res = RelayResult(target.name, rate, args.speakers, len_viewers(args), args.seconds, os.getloadavg()[0])
    res.limits = target.limits
    session = await target.new_session()
    speakers, viewers = cast(target, args)
    box: dict[str, Relay] = {}
    feeds = {id(p): Feed(p, args.timeout) for p in viewers if p.role == "moderator"}

    def handlers(p: Peer) -> Handlers:
        if p.role == "speaker":
            return {}
        v = next(i for i, q in enumerate(viewers) if q is p)
        out: Handlers = {SIGNAL: lambda msg: box["now"].on_signal(v, msg)}
        if id(p) in feeds:
            out[FEED] = feeds[id(p)].on_frame
        return out

    lag = LagMonitor()
    try:
        await open_all(target, speakers + viewers, handlers, args.timeout)
        for p in viewers + speakers:  # the screens are up before the speakers arrive
            await join(p, session, args.timeout, feeds.get(id(p)))
        res.placement = placement(speakers + viewers, target.workers)
        await asyncio.sleep(0.5)  # the joins' own broadcasts settle
        if feeds and all(f.followed for f in feeds.values()):
            tally = sum((f.tally() for f in feeds.values()), Counter())
            res.feed_gaps, res.feed_stale, res.feed_resumes = tally["gaps"], tally["stale"], tally["resumes"]
        if args.warmup > 0:
            warm = await relay_phase(speakers, viewers, session, rate, args.warmup, box)
            await warm.drain(quiet=2, within=args.timeout)
            await asyncio.sleep(0.3)

        c0, w0 = cpu_total(target.workers), time.perf_counter()
        await asyncio.sleep(1.0)
        idle = (cpu_total(target.workers) - c0) / (time.perf_counter() - w0)
        res.idle_server_cpu_pct = 100 * idle

        conns0 = await store_clients(target.redis_url)
        cmds0, _, calls0 = await redis_stats(target.redis_url)
        cpu0, store0 = cpu_total(target.workers), cpu_total(target.store_pids)
        self0 = os.times()
        busy0 = machine_busy()
        lag.start()
        t0 = time.perf_counter()
        relay = await relay_phase(speakers, viewers, session, rate, args.seconds, box)
        if not await relay.drain(quiet=3, within=args.timeout):
            res.errors.append("not every signal was acked and delivered (quiet for 3 s)")
        res.phase_s = time.perf_counter() - t0
        res.loadgen_lag_ms = await lag.stop()
        res.server_cpu_s = cpu_total(target.workers) - cpu0
        if target.store_pids:
            res.store_cpu_s = cpu_total(target.store_pids) - store0
        self1 = os.times()
        res.loadgen_cpu_s = (self1.user + self1.system) - (self0.user + self0.system)
        ours = res.server_cpu_s + (res.store_cpu_s or 0) + res.loadgen_cpu_s
        res.other_cpu_s = machine_busy() - busy0 - ours
        cmds1, _, calls1 = await redis_stats(target.redis_url)
        conns1 = await store_clients(target.redis_url)
        if conns0 and conns1:
            res.store_clients_before, res.store_clients_after = conns0[0], conns1[0]
            res.store_new_connections = conns1[1] - conns0[1] - 2  # less our own two INFO clients
        delta = {k: v - calls0.get(k, 0) for k, v in calls1.items() if v > calls0.get(k, 0)}
        res.store_calls = dict(sorted(delta.items(), key=lambda kv: -kv[1]))

        # --- tally ---
        res.pairs_same, res.pairs_cross = sum(relay.same), len(relay.same) - sum(relay.same)
        res.sent, res.acked_ok, res.no_ack = relay.n_sent, relay.n_ok, relay.n_sent - relay.n_acked
        res.delivered, res.duplicates, res.reordered, res.stray = (
            relay.n_recv,
            relay.dups,
            relay.reordered,
            relay.stray,
        )
        refused: Counter[str] = Counter()
        lat: dict[str, list[float]] = {"all": [], "same": [], "cross": []}
        ack: dict[str, list[float]] = {"all": [], "same": [], "cross": []}
        for pair, sent in enumerate(relay.sent):
            where = "same" if relay.same[pair] else "cross"
            for seq, (t, code) in relay.acks[pair].items():
                if code != "ok":
                    refused[code] += 1
                    continue
                ack_ms = (t - sent[seq]) * 1000
                ack["all"].append(ack_ms)
                ack[where].append(ack_ms)
                if seq not in relay.recv[pair]:
                    res.lost += 1
            for seq, t in relay.recv[pair].items():
                ms = (t - sent[seq]) * 1000
                lat["all"].append(ms)
                lat[where].append(ms)
        res.refused = dict(refused)
        res.relay_ms = {k: summary(v) for k, v in lat.items()}
        res.ack_ms = {k: summary(v) for k, v in ack.items()}
        res.send_lag_ms = relay.send_lag * 1000
        if res.sent:
            res.server_us_per_signal = res.server_cpu_s / res.sent * 1e6
            res.server_us_per_signal_net = (res.server_cpu_s - idle * res.phase_s) / res.sent * 1e6
        if cmds0 is not None and cmds1 is not None and res.sent:
            res.store_cmds_per_signal = (cmds1 - cmds0) / res.sent
        for what, n in (("lost", res.lost), ("duplicated", res.duplicates), ("without an ack", res.no_ack)):
            if n:
                res.errors.append(f"{n} signals {what}")
        if refused:
            res.errors.append(f"refused: {dict(refused)}")
        return res
    finally:
        with contextlib.suppress(Exception):
            await lag.stop()
        await close(speakers + viewers)


def len_viewers(args: argparse.Namespace) -> int:
    return int(args.screens + args.moderators)


# --- 2. an ICE burst at the shipped limits --------------------------------------------------


@dataclass
class Direction:
    name: str = ""  # speaker → viewer, or back
    pairs: int = 0
    signals: int = 0
    ok: int = 0
    refused: dict[str, int] = field(default_factory=dict)
    descriptions_refused: int = 0  # offers (speaker -> viewer) or answers (viewer -> speaker)
    candidates_sent: int = 0
    candidates_delivered: int = 0
    pairs_all: int = 0  # pairs that got every candidate
    pairs_none: int = 0  # pairs that got no candidate at all
    median_per_pair: float = 0.0
    delivered_by_type: dict[str, int] = field(default_factory=dict)  # host, tcp, srflx, relay
    sent_by_type: dict[str, int] = field(default_factory=dict)


@dataclass
class BurstResult:
    speakers: int
    viewers: int
    candidates: int  # per pair and direction
    spread_ms: int
    load_1m: float = 0.0
    placement: str = ""
    to_viewers: Direction = field(default_factory=Direction)
    to_speakers: Direction = field(default_factory=Direction)
    errors: list[str] = field(default_factory=list)


async def burst_run(target: Target, args: argparse.Namespace) -> BurstResult:
    """All speakers' studios open at once: offer + K candidates to every viewer, who answer."""
    k, spread = args.burst_candidates, args.burst_ms / 1000
    res = BurstResult(args.speakers, len_viewers(args), k, args.burst_ms, os.getloadavg()[0])
    session = await target.new_session()
    speakers, viewers = cast(target, args)
    index = {id(p): i for i, p in enumerate(speakers + viewers)}
    by_sid: dict[str, Peer] = {}
    acks: Counter[tuple[str, str]] = Counter()  # (direction, code)
    desc_refused: Counter[str] = Counter()
    got: Counter[tuple[str, str]] = Counter()  # (from sid, to sid) -> candidates delivered
    by_type: Counter[tuple[str, str]] = Counter()  # (direction, candidate type) delivered
    sent_by_type: Counter[tuple[str, str]] = Counter()
    candidates_sent: Counter[str] = Counter()
    answered: set[tuple[str, str]] = set()  # (viewer sid, speaker sid)
    pending: set[asyncio.Task[None]] = set()
    last = [time.perf_counter()]

    async def send(peer: Peer, to: str, kind: str, data: dict[str, Any], direction: str) -> None:
        assert peer.client is not None
        payload = {"session": session, "to": to, "kind": kind, "data": data}
        ack = await peer.client.call(SIGNAL, payload, timeout=args.timeout)
        last[0] = time.perf_counter()
        code = "ok" if isinstance(ack, dict) and ack.get("ok") else str(ack.get("error", {}).get("code"))
        acks[(direction, code)] += 1
        if kind in ("offer", "answer") and code != "ok":
            desc_refused[direction] += 1

    async def gather_and_send(peer: Peer, peers: list[Peer], kind: str, direction: str) -> None:
        """One description to each peer at once, then K candidates each, spread over the burst."""
        start = time.perf_counter()
        sends = [
            send(peer, q.sid, kind, {"type": kind, "sdp": fake_sdp(kind, f"{peer.sid}{q.sid}")}, direction)
            for q in peers
        ]
        calls = [asyncio.create_task(c) for c in sends]
        for i in range(k):
            await asyncio.sleep(max(0.0, start + (i + 1) * spread / k - time.perf_counter()))
            for q in peers:
                line = ice_candidate(i, f"{index[id(peer)]:02d}{index[id(q)]:02d}")
                candidates_sent[direction] += 1
                sent_by_type[(direction, cand_type(line))] += 1
                data = {"candidate": line, "sdpMid": "0", "sdpMLineIndex": 0}
                calls.append(asyncio.create_task(send(peer, q.sid, "candidate", data, direction)))
        await asyncio.gather(*calls)

    def handlers(p: Peer) -> Handlers:
        def on_signal(msg: Any) -> None:
            last[0] = time.perf_counter()
            if not isinstance(msg, dict):
                return
            if msg.get("kind") == "candidate":
                got[(str(msg.get("from")), p.sid)] += 1
                line = str((msg.get("data") or {}).get("candidate", ""))
                by_type[("to_speakers" if p.role == "speaker" else "to_viewers", cand_type(line))] += 1
            elif msg.get("kind") == "offer" and p.role != "speaker":
                speaker = by_sid.get(str(msg.get("from")))
                if speaker is not None:  # the viewer answers, and trickles its own candidates
                    answered.add((p.sid, speaker.sid))
                    task = asyncio.create_task(gather_and_send(p, [speaker], "answer", "to_speakers"))
                    pending.add(task)
                    task.add_done_callback(pending.discard)

        return {SIGNAL: on_signal}

    try:
        await open_all(target, speakers + viewers, handlers, args.timeout)
        for p in viewers + speakers:
            await join(p, session, args.timeout)
            by_sid[p.sid] = p
        res.placement = placement(speakers + viewers, target.workers)
        # A second for the joins to settle (before 8b75e77 signals drew on the bucket the
        # join had used: a second refills it).
        await asyncio.sleep(1.0)
        await asyncio.gather(*(gather_and_send(s, viewers, "offer", "to_viewers") for s in speakers))
        deadline = time.perf_counter() + args.timeout
        while time.perf_counter() < deadline:
            if not pending and time.perf_counter() - last[0] > 1.0:
                break  # every answer sent and nothing arrived for a second
            await asyncio.sleep(0.05)
        for name, senders, receivers in (
            ("to_viewers", speakers, viewers),
            ("to_speakers", viewers, speakers),
        ):
            d = Direction("speaker → viewer" if name == "to_viewers" else "viewer → speaker")
            d.ok = acks[(name, "ok")]
            d.refused = {code: n for (dn, code), n in acks.items() if dn == name and code != "ok"}
            d.signals = d.ok + sum(d.refused.values())
            d.descriptions_refused = desc_refused[name]
            d.candidates_sent = candidates_sent[name]
            # A viewer answers (and trickles back) only the offers that reached it.
            pairs = [(a.sid, b.sid) for a in senders for b in receivers]
            if name == "to_speakers":
                pairs = [pair for pair in pairs if pair in answered]
            per_pair = [got[pair] for pair in pairs]
            d.pairs = len(pairs)
            d.candidates_delivered = sum(per_pair)
            d.pairs_all = sum(n >= k for n in per_pair)
            d.pairs_none = sum(n == 0 for n in per_pair)
            d.median_per_pair = float(statistics.median(per_pair)) if per_pair else 0.0
            d.delivered_by_type = {t: by_type[(name, t)] for (dn, t) in sorted(sent_by_type) if dn == name}
            d.sent_by_type = {t: n for (dn, t), n in sorted(sent_by_type.items()) if dn == name}
            setattr(res, name, d)
        return res
    finally:
        for task in list(pending):
            task.cancel()
        await close(speakers + viewers)


# --- 3. speaker drops ------------------------------------------------------------------------------


@dataclass
class DropResult:
    drops: int
    load_1m: float = 0.0
    moderator_worker: str = ""
    notice_ms: list[float] = field(default_factory=list)  # disconnect() -> the moderator hears: offline
    peer_ms: list[float] = field(default_factory=list)  # disconnect() -> rtc:peer present: false
    back_ms: list[float] = field(default_factory=list)  # session:join sent -> the moderator hears: online
    disconnect_call_ms: list[float] = field(default_factory=list)  # how long disconnect() took
    same_worker: list[bool] = field(default_factory=list)  # dropped speaker was on the moderator's worker
    back_same_worker: list[bool] = field(default_factory=list)  # returning speaker landed there
    # What told the moderator of the drop (of the return) -> count: a frame's `online` part
    # ("feed online"), a whole stage ("feed stage"), a `reset` frame, or the answer to a join,
    # snapshot or resume.
    notice_via: dict[str, int] = field(default_factory=dict)
    back_via: dict[str, int] = field(default_factory=dict)
    state_after: list[str] = field(default_factory=list)  # the speaker's state in a snapshot, once back
    online_after: list[bool] = field(default_factory=list)  # and whether that snapshot had it online
    missed: int = 0  # drops the moderator never saw within the timeout
    join_retries: int = 0
    # Every event the moderator and the audience member got during the drops and returns.
    moderator_events: dict[str, int] = field(default_factory=dict)
    audience_events: dict[str, int] = field(default_factory=dict)
    # Their session:feed frames over the same time (Feed.tally): frames; gaps (a frame starting
    # after the position: the page resumed), stale, resumes; stage_frames (with a stage or an
    # online part); stage_unchanged (a stage part equal to the stage shown before); behind
    # (a snapshot whose position was before the one held); "part <name>": frames with that part.
    moderator_feed: dict[str, int] = field(default_factory=dict)
    audience_feed: dict[str, int] = field(default_factory=dict)
    version_moved: int | None = None  # the session's version after the drops less before
    log_from: list[int] | None = None  # the moderator's snapshot's position before the drops
    log_to: list[int] | None = None  # and after
    skipped: str = ""  # why the scenario did not run (a Podium without the session feed)
    errors: list[str] = field(default_factory=list)

    def per_flap(self, who: str, what: str = "stage_frames") -> float:
        """Feed frames (of a kind) per drop-and-return, at the moderator or the audience member."""
        got = self.audience_feed if who == "audience" else self.moderator_feed
        return got.get(what, 0) / self.drops if self.drops else float("nan")


def told(frame: dict[str, Any], speaker: str) -> str:
    """Which part of a frame said where `speaker` is."""
    if frame.get("reset"):
        return "feed reset"
    if speaker in (frame.get("online") or {}):
        return "feed online"
    return "feed stage" if "stage" in frame else "feed"


class Watch:
    """The moderator's view of one speaker, as its console shows it: the speaker's row in the
    stage the moderator holds by following the feed (Feed: a whole `stage` part sets the
    lineup, an `online` part who of it is connected, a snapshot both); when the row's `online`
    turns, the time and what told; `rtc:peer` departures."""

    def __init__(self, speaker: str, moderator: Peer, within: float) -> None:
        self.speaker = speaker
        self.feed = Feed(moderator, within, self.changed)
        self.online: bool | None = None
        self.state = ""
        self.offline = asyncio.Event()
        self.back = asyncio.Event()
        self.at = 0.0
        self.via = ""
        self.peer_gone: dict[str, float] = {}

    def changed(self, via: str, frame: dict[str, Any] | None) -> None:
        now = time.perf_counter()
        stage = self.feed.follower.state.get("stage") or {}
        row = next((r for r in stage.get("lineup", []) if r.get("speaker") == self.speaker), None)
        if row is None:
            return
        self.state = str(row.get("state"))
        online = bool(row.get("online"))
        if online == self.online:
            return
        self.online = online
        event = self.back if online else self.offline
        if not event.is_set():
            self.at, self.via = now, told(frame, self.speaker) if frame is not None else via
            event.set()

    def on_peer(self, msg: Any) -> None:
        if isinstance(msg, dict) and msg.get("present") is False:
            self.peer_gone.setdefault(str(msg.get("peer")), time.perf_counter())


def lineup_row(snapshot: dict[str, Any], speaker: str) -> dict[str, Any]:
    """The speaker's row in a snapshot's stage ({} if not in its lineup)."""
    lineup = (snapshot.get("stage") or {}).get("lineup", [])
    return next((r for r in lineup if r.get("speaker") == speaker), {})


def version_of(ack: Any) -> int | None:
    return int(ack["v"]) if isinstance(ack, dict) and "v" in ack else None


async def drop_run(target: Target, args: argparse.Namespace) -> DropResult:
    res = DropResult(args.drops, os.getloadavg()[0])
    session = await target.new_session()
    w = target.workers
    within = args.timeout
    moderator = Peer("moderator", 0, w[0] if w else None)
    audience = Peer("audience", 0, w[-1] if w else None)
    speaker = Peer("speaker", 0, None)
    watch = Watch(target.speaker_ids[0], moderator, within)
    aud_feed = Feed(audience, within)
    res.moderator_worker = "w1"
    mod_got: Counter[str] = Counter()
    aud_got: Counter[str] = Counter()

    async def snapshot() -> dict[str, Any]:
        """The moderator's session:snapshot, taken by its feed as a console takes it."""
        assert moderator.client is not None
        watch.feed.begin()
        snap: Any = None
        try:
            snap = await moderator.client.call(SNAPSHOT, {}, timeout=within)
        finally:
            watch.feed.settle(snap, "snapshot")
        if not (isinstance(snap, dict) and snap.get("ok")):
            raise RuntimeError(f"session:snapshot refused: {snap}")
        return dict(snap)

    try:
        mod_handlers = {FEED: watch.feed.on_frame, RTC_PEER: watch.on_peer}
        await place(target, moderator, counting(mod_got, mod_handlers), within)
        await join(moderator, session, within, watch.feed)
        if not watch.feed.followed:
            res.skipped = "this Podium has no session feed (a commit before a332d7a)"
            return res
        await place(target, audience, counting(aud_got, {FEED: aud_feed.on_frame}), within)
        await join(audience, session, within, aud_feed)

        async def arrive(i: int) -> float:
            """Speaker (re)connects, on the moderator's worker for even i, else the other."""
            speaker.want = w[i % len(w)] if w else None
            await place(target, speaker, {}, within)
            watch.back.clear()
            t = time.perf_counter()
            await join(speaker, session, within)
            if not await bounded(watch.back.wait(), within):
                raise RuntimeError("the moderator never heard the speaker is online")
            return watch.at - t

        await arrive(0)
        assert moderator.client is not None
        ack = await moderator.client.call(
            STAGE_SET, {"session": session, "speaker": watch.speaker, "state": "live"}, timeout=within
        )
        if not (isinstance(ack, dict) and ack.get("ok")):
            raise RuntimeError(f"stage:set live refused: {ack}")
        await asyncio.sleep(args.drop_gap)
        snap0 = await snapshot()
        mod0, aud0 = Counter(mod_got), Counter(aud_got)
        feeds0 = (watch.feed.tally(), aud_feed.tally())
        notice_via: Counter[str] = Counter()
        back_via: Counter[str] = Counter()
        for i in range(args.drops):
            # The return's frames are in; the random part keeps the drop out of step with
            # the workers' 100 ms flush loops (a fixed gap measures one phase of them).
            await asyncio.sleep(args.drop_gap + random.uniform(0, 0.2))
            assert speaker.client is not None
            res.same_worker.append(speaker.worker == moderator.worker)
            old = speaker.sid
            watch.offline.clear()
            t0 = time.perf_counter()
            await speaker.client.disconnect()
            res.disconnect_call_ms.append((time.perf_counter() - t0) * 1000)
            if await bounded(watch.offline.wait(), within):
                res.notice_ms.append((watch.at - t0) * 1000)
                notice_via[watch.via] += 1
            else:
                res.missed += 1
                res.errors.append(f"drop {i + 1}: the moderator never heard the speaker is offline")
            # Random too: a return at a fixed time after the notice, itself sent by a flush,
            # would always meet the flush loop in the same phase.
            await asyncio.sleep(0.05 + random.uniform(0, 0.1))
            if old in watch.peer_gone:
                res.peer_ms.append((watch.peer_gone[old] - t0) * 1000)
            res.back_ms.append(await arrive(i + 1) * 1000)
            back_via[watch.via] += 1
            res.back_same_worker.append(speaker.worker == moderator.worker)
            # What a console that reloads now would show (its position must not be before the
            # frames that said the speaker is back: Feed counts that as `behind`).
            row = lineup_row(await snapshot(), watch.speaker)
            res.state_after.append(str(row.get("state")))
            res.online_after.append(bool(row.get("online")))
        res.join_retries = speaker.join_retries
        await asyncio.sleep(args.drop_gap)
        snap1 = await snapshot()
        v0, v1 = version_of(snap0), version_of(snap1)
        res.version_moved = v1 - v0 if v0 is not None and v1 is not None else None
        res.log_from, res.log_to = snap0.get("at"), snap1.get("at")
        aud_got.subtract(aud0)
        mod_got.subtract(mod0)
        res.audience_events = {k: n for k, n in sorted(aud_got.items()) if n > 0}
        res.moderator_events = {k: n for k, n in sorted(mod_got.items()) if n > 0}
        for name, feed, before in (("moderator", watch.feed, feeds0[0]), ("audience", aud_feed, feeds0[1])):
            now = feed.tally()
            setattr(res, f"{name}_feed", {k: now[k] - before.get(k, 0) for k in sorted(now)})
        res.notice_via, res.back_via = dict(notice_via), dict(back_via)
        if res.moderator_feed.get("behind"):
            res.errors.append(f"{res.moderator_feed['behind']} snapshots were behind the position held")
        if any(s != "live" for s in res.state_after):
            res.errors.append(f"states after a reconnect: {Counter(res.state_after)}")
        if not all(res.online_after):
            res.errors.append(f"offline in the snapshot after {res.online_after.count(False)} returns")
        return res
    finally:
        await close([moderator, audience, speaker])


# --- report --------------------------------------------------------------------------------------


def trio(d: dict[str, float] | None, digits: int = 1) -> str:
    if not d or not d.get("n"):
        return "-"
    return f"{fmt(d['p50'], digits)} / {fmt(d['p95'], digits)} / {fmt(d['max'], digits)}"


Columns = list[tuple[str, Callable[[Any], str]]]

RELAY_COLUMNS: Columns = [
    ("server", lambda r: r.target + (" (allowance lifted)" if r.limits == "lifted" else "")),
    ("rate/pair", lambda r: f"{r.rate:g}/s"),
    ("signals/s", lambda r: f"{r.rate * r.speakers * r.viewers:g}"),
    ("load", lambda r: fmt(r.load_1m)),
    ("pairs same/cross", lambda r: f"{r.pairs_same}/{r.pairs_cross}"),
    ("sent", lambda r: str(r.sent)),
    ("relay p50 ms", lambda r: fmt(r.relay_ms["all"]["p50"])),
    ("p95", lambda r: fmt(r.relay_ms["all"]["p95"])),
    ("p99", lambda r: fmt(r.relay_ms["all"]["p99"])),
    ("max", lambda r: fmt(r.relay_ms["all"]["max"])),
    ("same worker p50/p95/max", lambda r: trio(r.relay_ms.get("same"))),
    ("cross worker p50/p95/max", lambda r: trio(r.relay_ms.get("cross"))),
    ("ack p50/p95/max", lambda r: trio(r.ack_ms.get("all"))),
    ("lost", lambda r: str(r.lost)),
    ("dup", lambda r: str(r.duplicates)),
    ("reordered", lambda r: str(r.reordered)),
    ("refused", lambda r: str(sum(r.refused.values()))),
    ("server CPU s", lambda r: fmt(r.server_cpu_s, 2)),
    ("µs/signal", lambda r: fmt(r.server_us_per_signal, 0)),
    ("net of idle", lambda r: fmt(r.server_us_per_signal_net, 0)),
    ("Valkey CPU s", lambda r: fmt(r.store_cpu_s, 2)),
    ("loadgen CPU s", lambda r: fmt(r.loadgen_cpu_s, 2)),
    ("send lag ms", lambda r: fmt(r.send_lag_ms, 0)),
    ("loop lag ms", lambda r: fmt(r.loadgen_lag_ms, 0)),
    ("other CPU s / phase s", lambda r: f"{fmt(r.other_cpu_s, 2)} / {fmt(r.phase_s, 1)}"),
    ("store cmds/signal", lambda r: fmt(r.store_cmds_per_signal, 2)),
]


def burst_columns(k: int) -> Columns:
    return [
        ("direction", lambda d: d.name),
        ("pairs", lambda d: str(d.pairs)),
        ("signals", lambda d: str(d.signals)),
        ("ok", lambda d: str(d.ok)),
        ("refused", lambda d: ", ".join(f"{n} {code}" for code, n in d.refused.items()) or "0"),
        ("offers/answers refused", lambda d: str(d.descriptions_refused)),
        ("candidates sent", lambda d: str(d.candidates_sent)),
        ("delivered", lambda d: str(d.candidates_delivered)),
        (f"pairs with all {k}", lambda d: str(d.pairs_all)),
        ("pairs with none", lambda d: str(d.pairs_none)),
        ("median per pair", lambda d: fmt(float(d.median_per_pair), 1)),
        (
            "delivered by type (delivered/sent)",
            lambda d: ", ".join(f"{t} {n}/{d.sent_by_type[t]}" for t, n in d.delivered_by_type.items()),
        ),
    ]


@dataclass
class Timing:
    """One drop measure over the drops, and whether the speaker was on the moderator's worker."""

    name: str
    values: list[float]
    same: list[bool]

    def where(self, same: bool) -> list[float]:
        return [v for v, s in zip(self.values, self.same, strict=False) if s == same]


TIMING_COLUMNS: Columns = [
    ("measure", lambda t: t.name),
    ("n", lambda t: str(len(t.values))),
    ("p50 ms", lambda t: fmt(pct(t.values, 50))),
    ("p95 ms", lambda t: fmt(pct(t.values, 95))),
    ("max ms", lambda t: fmt(max(t.values, default=float("nan")))),
    ("speaker on moderator's worker p50", lambda t: fmt(pct(t.where(True), 50))),
    ("other worker p50", lambda t: fmt(pct(t.where(False), 50))),
]


def drop_timings(res: DropResult) -> list[Timing]:
    told = "/".join(sorted(res.notice_via)) or "feed online"
    back = "/".join(sorted(res.back_via)) or "feed online"
    return [
        Timing(f"disconnect() → offline ({told})", res.notice_ms, res.same_worker),
        Timing("disconnect() → rtc:peer present: false", res.peer_ms, res.same_worker),
        Timing(f"join (after a reconnect) → online ({back})", res.back_ms, res.back_same_worker),
        Timing("disconnect() call itself", res.disconnect_call_ms, res.same_worker),
    ]


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.stage_signal",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--speakers", type=int, default=4, help="speaker sockets (default 4)")
    parser.add_argument("--viewers", type=int, default=10, help="hall screens + moderators (default 10)")
    parser.add_argument("--moderators", type=int, default=2, help="how many viewers are moderators (2)")
    parser.add_argument(
        "--rate", default="20", help="relay: signals per second per pair, comma-separated (20; 0: no relay)"
    )
    parser.add_argument("--seconds", type=float, default=10, help="measured relay seconds per run (10)")
    parser.add_argument("--warmup", type=float, default=2, help="unreported relay seconds first (2)")
    parser.add_argument(
        "--relay-limits",
        choices=("auto", "shipped", "lifted"),
        default="auto",
        help="Podium's signaling allowance in the relay runs: as shipped, lifted, or (auto) as "
        "shipped where a speaker's rate x viewers fits its sustained allowance, else lifted",
    )
    parser.add_argument("--drops", type=int, default=20, help="speaker drops to time (default 20; 0: none)")
    parser.add_argument("--drop-gap", type=float, default=0.3, help="seconds between a return and a drop")
    parser.add_argument(
        "--burst-candidates", type=int, default=8, help="ICE burst: candidates per pair (8; 0: no burst)"
    )
    parser.add_argument("--burst-ms", type=int, default=500, help="ICE burst: gathering time (500 ms)")
    parser.add_argument("--target", choices=("both", "podium", "baseline"), default="both")
    parser.add_argument("--workers", type=int, default=2, help="Podium worker processes (default 2)")
    parser.add_argument(
        "--podium-dir", type=Path, default=ROOT, help="run Podium from this checkout (default: this one)"
    )
    parser.add_argument("--log-level", default="INFO", help="Podium's log level (default INFO, as shipped)")
    parser.add_argument("--timeout", type=float, default=30, help="bound on every wait, seconds (30)")
    parser.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args(argv)
    try:
        rates = [float(x) for x in str(args.rate).split(",") if x.strip()]
    except ValueError:
        parser.error("--rate needs comma-separated numbers")
    args.rates = [r for r in rates if r != 0]
    args.screens = args.viewers - args.moderators
    if any(r < 0 for r in rates):
        parser.error("--rate needs positive numbers (or 0: no relay)")
    if args.speakers < 1 or args.screens < 0 or args.moderators < 0 or args.viewers < 1:
        parser.error("need at least one speaker and one viewer, and --moderators <= --viewers")
    if args.drops and args.moderators < 1 and args.target != "baseline":
        print("(the drop scenario uses a moderator of its own)", file=sys.stderr)
    return args


@dataclass
class Report:
    allowance: Allowance | None = None
    relay_limits: dict[str, str] = field(default_factory=dict)  # rate -> shipped | lifted (Podium)
    relay: list[RelayResult] = field(default_factory=list)
    burst: BurstResult | None = None
    drops: DropResult | None = None


def relay_limits(rate: float, args: argparse.Namespace, allow: Allowance) -> str:
    """shipped, or lifted when a speaker sending `rate` to each viewer exceeds the allowance."""
    if args.relay_limits != "auto":
        return str(args.relay_limits)
    return "shipped" if rate * len_viewers(args) <= allow.per_s else "lifted"


@contextlib.asynccontextmanager
async def podium_up(
    limits: str,
    allow: Allowance,
    workdir: Path,
    http: aiohttp.ClientSession,
    args: argparse.Namespace,
    servers: list[Server],
) -> AsyncIterator[Target]:
    """A Podium with its signaling allowance as shipped or lifted, for the `async with` block
    (in `servers` meanwhile, which main() stops whatever happens)."""
    env = allow.lifted_env if limits == "lifted" else {}
    (workdir / limits).mkdir(parents=True, exist_ok=True)
    podium = Podium(workdir / limits, args.workers, None, args.log_level, 500, args.podium_dir, env)
    servers.append(podium)
    try:
        settings = " ".join(f"{k}={v}" for k, v in env.items()) or "as shipped"
        print(f"podium ({settings}) on {podium.url}: workers {podium.workers}", flush=True)
        yield await podium_target(podium, http, args, limits)
    finally:
        podium.stop()
        servers.remove(podium)


async def relay_runs(
    targets: list[Target], rates: list[float], args: argparse.Namespace, report: Report
) -> None:
    for rate in rates:
        for target in targets:
            print(
                f"  relay {rate:g}/s per pair, {target.name} {target.limits} "
                f"(load {os.getloadavg()[0]:.2f}) ...",
                flush=True,
            )
            res = await relay_run(target, rate, args)
            print(f"    {res.placement}", flush=True)
            if res.store_calls:
                top = ", ".join(f"{k} {v}" for k, v in list(res.store_calls.items())[:10])
                print(f"    store calls: {top}", flush=True)
            for err in res.errors:
                print(f"    ! {err}", flush=True)
            report.relay.append(res)
            await asyncio.sleep(0.5)


async def run_all(args: argparse.Namespace, workdir: Path, servers: list[Server], report: Report) -> None:
    podium_too = args.target in ("both", "podium")
    allow = report.allowance = allowance(args.podium_dir)
    plan = {rate: relay_limits(rate, args, allow) for rate in args.rates} if podium_too else {}
    report.relay_limits = {f"{rate:g}": limits for rate, limits in plan.items()}
    for rate, limits in plan.items():
        per_socket = rate * len_viewers(args)
        print(
            f"relay {rate:g}/s per pair: a speaker sends {per_socket:g} signals/s (allowance "
            f"{allow.per_s:g}/s, burst {allow.burst:g}): Podium {limits}",
            flush=True,
        )
    async with aiohttp.ClientSession() as http:
        base: list[Target] = []
        if args.target in ("both", "baseline"):
            relay = Baseline(workdir, "bench.baseline_relay", "baseline-relay")
            servers.append(relay)
            print(f"baseline relay on {relay.url}: pid {relay.proc.pid}", flush=True)
            base.append(baseline_target(relay, args))
        shipped_rates = [r for r, limits in plan.items() if limits == "shipped"]
        if podium_too and (args.drops or args.burst_candidates or shipped_rates):
            async with podium_up("shipped", allow, workdir, http, args, servers) as target:
                if args.burst_candidates:
                    print(f"  ICE burst (load {os.getloadavg()[0]:.2f}) ...", flush=True)
                    report.burst = await burst_run(target, args)
                    print(f"    {report.burst.placement}", flush=True)
                if args.drops:
                    print(f"  {args.drops} speaker drops (load {os.getloadavg()[0]:.2f}) ...", flush=True)
                    report.drops = await drop_run(target, args)
                    if report.drops.skipped:
                        print(f"    not run: {report.drops.skipped}", flush=True)
                    for err in report.drops.errors:
                        print(f"    ! {err}", flush=True)
                await relay_runs([target, *base], shipped_rates, args, report)
        lifted_rates = [r for r, limits in plan.items() if limits == "lifted"]
        if lifted_rates:
            async with podium_up("lifted", allow, workdir, http, args, servers) as target:
                await relay_runs([target, *base], lifted_rates, args, report)
        if not podium_too:
            await relay_runs(base, args.rates, args, report)


def print_report(report: Report, args: argparse.Namespace) -> None:
    if report.burst:
        b = report.burst
        a = report.allowance
        limit = f"; rtc:signal allowance {a.per_s:g}/s, burst {a.burst:g} per socket" if a else ""
        print(
            f"ICE burst at the shipped limits: {b.speakers} speakers x {b.viewers} viewers, offer/answer "
            f"+ {b.candidates} candidates per pair over {b.spread_ms} ms (load {b.load_1m:.2f}{limit})"
        )
        print(tabulate(burst_columns(b.candidates), (b.to_viewers, b.to_speakers), args.markdown))
        print()
    if report.drops and report.drops.skipped:
        print(f"Speaker drops: not run: {report.drops.skipped}\n")
    elif report.drops:
        d = report.drops
        print(
            f"Speaker drops ({len(d.notice_ms)} heard of {d.drops}; missed {d.missed}; load {d.load_1m:.2f}):"
        )
        print(tabulate(TIMING_COLUMNS, drop_timings(d), args.markdown))
        for who, events, feed in (
            ("audience member", d.audience_events, d.audience_feed),
            ("moderator", d.moderator_events, d.moderator_feed),
        ):
            parts = {k[5:]: n for k, n in feed.items() if k.startswith("part ") and n}
            print(
                f"during the {d.drops} drops and returns the {who} got {events or 'nothing'}; "
                f"session:feed frames with a part: {parts or 'none'}; "
                f"{fmt(d.per_flap(who.split()[0]), 2)} frames with a stage or online part and "
                f"{fmt(d.per_flap(who.split()[0], 'frames'), 2)} frames in all per drop-and-return; "
                f"{feed.get('stage_unchanged', 0)} stage parts equal to the stage shown; "
                f"gaps {feed.get('gaps', 0)}, stale {feed.get('stale', 0)}, resumes {feed.get('resumes', 0)}"
            )
        print(
            f"session version moved by {fmt(d.version_moved)} (log position {d.log_from} -> {d.log_to}); "
            f"snapshots behind the moderator's position {d.moderator_feed.get('behind', 0)}; "
            f"state in the snapshot after each return "
            f"{dict(Counter(d.state_after))}, online {d.online_after.count(True)}/{len(d.online_after)}; "
            f"join retries {d.join_retries}"
        )
        print()
    if report.relay:
        r0 = report.relay[0]
        print(
            f"Signaling relay: {r0.speakers} speakers -> {r0.viewers} viewers "
            f"({args.screens} screens, {args.moderators} moderators), {r0.seconds:g} s per run"
        )
        print(tabulate(RELAY_COLUMNS, report.relay, args.markdown))
        for r in report.relay:
            if r.target == "podium":
                print(
                    f"podium {r.rate:g}/s ({r.limits}): idle worker CPU {r.idle_server_cpu_pct:.1f} %; "
                    f"feed gaps at the moderators while the speakers arrived: {fmt(r.feed_gaps)} "
                    f"(stale {fmt(r.feed_stale)}, resumes {fmt(r.feed_resumes)}); "
                    f"Valkey clients {r.store_clients_before} -> "
                    f"{r.store_clients_after} ({r.store_new_connections} new in the phase); store calls: "
                    + ", ".join(f"{k} {v}" for k, v in list(r.store_calls.items())[:6])
                )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.podium_dir = args.podium_dir.resolve()
    if not (args.podium_dir / "server" / "__main__.py").exists():
        print(f"{args.podium_dir} holds no Podium (server/__main__.py)", file=sys.stderr)
        return 2
    random.seed(1)
    info = machine(args.podium_dir)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="podium-stage-bench-"))
    servers: list[Server] = []
    report = Report()
    started = time.monotonic()
    try:
        asyncio.run(run_all(args, workdir, servers, report))
    finally:
        for server in servers:
            server.stop()
        info["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        print()
        print_report(report, args)
        print(f"\ntook {time.monotonic() - started:.0f} s; load after: {info['load_after']}")
        if args.json:
            payload = {
                "machine": info,
                "argv": sys.argv,
                "allowance": asdict(report.allowance) if report.allowance else None,
                "relay_limits": report.relay_limits,
                "burst": asdict(report.burst) if report.burst else None,
                "drops": asdict(report.drops) if report.drops else None,
                "relay": [asdict(r) for r in report.relay],
            }
            args.json.write_text(json.dumps(payload, indent=2))
        if os.environ.get("BENCH_KEEP_LOGS"):
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    failed = any(r.errors for r in report.relay) or (report.drops is not None and report.drops.errors != [])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
