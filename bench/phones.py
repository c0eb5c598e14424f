"""Many audience phones in one process, cheap enough that thousands fit beside the server.

Each phone is one websocket (picows, a C websocket client) speaking just enough Engine.IO v4
and Socket.IO v5 to be Podium's browser page: the open packet, CONNECT with the participant
token, pings answered, events with acks, and `session:feed` frames followed by the rules of
web/static/js/live.js (tests/follower.py is the same rules, whole):

- frames that arrive while a join or resume is on its way are held, then taken in order;
- a frame ending at or before the position is skipped; one starting after it is a gap, and
  the phone resumes from its position (never two requests at once);
- a `reset` frame is taken whole;
- a dropped connection comes back like the browser: spread over the server's
  `hints.spread_ms` when it gave one, else socket.io-client's backoff (0.5 s, x2 to 10 s,
  +-50 %); then it joins again with the position it holds (`since`); a retryable refusal
  (`unavailable`, `rate_limited`) is retried after `retry_after` with jitter.

A phone does not keep the whole state a page would (that is the browser's work, not the
server's); it keeps what the measurements need: when each question first showed approved
and when each went on screen.

The process is driven by its parent (bench/keynote.py) over a multiprocessing pipe:
`join` (connect and join its share of phones), `load` (send asks, votes and reactions at
given rates from random phones), `mark` (forget what was seen: measuring starts),
`report`, `stop`; for bench/poll.py, `watch` (follow one poll's results, or some
questions' votes, as each page shows them) and `answer` (every phone answers once within a
burst, some change their answer once).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import math
import os
import random
import resource
import time
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import orjson
from picows import WSListener, WSMsgType, WSTransport, ws_connect

FEED = b'42["session:feed",'
RETRYABLE = ("unavailable", "rate_limited")
EMOJI = ("👏", "😂", "❤️", "😮", "🙏")


def raise_open_files() -> None:
    """As many sockets as the system lets one process have."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def tally_of(results: dict[str, Any] | None) -> dict[str, int] | None:
    """A poll's results as one flat dict: `voters` and the count of each answer key."""
    if results is None:
        return None
    return {"voters": int(results["voters"]), **{str(k): int(v) for k, v in results["counts"].items()}}


@dataclass
class Config:
    """What a fleet of phones needs to know."""

    url: str  # ws://127.0.0.1:PORT/socket.io/?EIO=4&transport=websocket
    session: str
    tokens: list[str]  # one participant token per phone ("" for a server without auth)
    where: str = "remote"
    connect_concurrency: int = 100


@dataclass
class Counters:
    frames: int = 0
    frame_bytes: int = 0
    applied: int = 0
    stale: int = 0
    gaps: int = 0
    resumes: int = 0
    resume_snapshots: int = 0
    snapshots: int = 0
    resets: int = 0
    regressions: int = 0
    joins: int = 0
    join_refused: int = 0
    join_failed: int = 0
    connect_refused: int = 0
    disconnects: int = 0
    reconnects: int = 0
    sent: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    refused: dict[str, int] = field(default_factory=lambda: defaultdict(int))


class Phone(WSListener):  # type: ignore[misc]
    """One audience member's page."""

    def __init__(self, fleet: Fleet, index: int) -> None:
        self.fleet = fleet
        self.index = index
        self.transport: WSTransport | None = None
        self.connected = False  # socket.io CONNECT done
        self.joined = False
        self.pos: list[int] | None = None
        self.syncing = False
        self.held: list[dict[str, Any]] = []
        self.acks: dict[int, asyncio.Future[Any]] = {}
        self.next_id = 0
        self.spread_ms = 0
        self.voted: set[str] = set()
        self.closing = False  # we closed it on purpose
        self.ready = asyncio.get_running_loop().create_future()
        self.back_at: float | None = None  # when a reconnect finished (monotonic)
        self.lost_at: float | None = None
        self.shown: set[str] = set()  # questions this page has shown approved
        self.screened: set[str] = set()  # questions this page has shown on screen
        # What this page shows of the watched poll's results, or the watched questions'
        # votes (bench/poll.py): None until it shows any; when it last changed; how many
        # frames carried it; when it first showed the poll closed with results.
        self.tally: dict[str, int] | None = None
        self.tally_at = 0.0
        self.tally_frames = 0
        self.poll_state = ""
        self.final_at = 0.0

    # --- the wire -------------------------------------------------------------------------

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        self.connected = self.joined = False
        for fut in self.acks.values():
            if not fut.done():
                fut.set_result({"ok": False, "error": {"code": "unavailable", "message": "disconnected"}})
        self.acks.clear()
        if not self.ready.done():
            self.ready.set_result(False)
        if not self.closing and not self.fleet.stopping:
            self.fleet.counters.disconnects += 1
            self.lost_at = time.monotonic()
            self.fleet.spawn(self.come_back())

    def on_ws_frame(self, transport: WSTransport, frame: Any) -> None:
        if frame.msg_type != WSMsgType.TEXT:
            return
        data = frame.get_payload_as_bytes()
        kind = data[:1]
        if kind == b"2":  # engine.io ping
            transport.send(WSMsgType.TEXT, b"3")
        elif kind == b"4":
            sub = data[1:2]
            if sub == b"2":
                if data.startswith(FEED):
                    fleet = self.fleet
                    fleet.counters.frames += 1
                    fleet.counters.frame_bytes += len(data)
                    self.take(orjson.loads(data[len(FEED) : -1]), time.monotonic())
            elif sub == b"3":
                i = 2
                while data[i : i + 1].isdigit():
                    i += 1
                fut = self.acks.pop(int(data[2:i]), None)
                if fut is not None and not fut.done():
                    fut.set_result(orjson.loads(data[i:])[0])
            elif sub == b"0":
                self.connected = True
                if not self.ready.done():
                    self.ready.set_result(True)
            elif sub == b"4":  # CONNECT refused
                info = orjson.loads(data[2:]) if len(data) > 2 else {}
                self.fleet.counters.connect_refused += 1
                if info.get("data", info).get("code") in RETRYABLE:
                    wait = float(info.get("data", info).get("retry_after", 1)) * (1 + random.random())
                    self.fleet.spawn(self.connect_later(wait))
                elif not self.ready.done():
                    self.ready.set_result(False)
        elif kind == b"0":  # engine.io open: sign in
            self.send_connect()

    def send_connect(self) -> None:
        token = self.fleet.config.tokens[self.index]
        auth = {"participant": token} if token else {}
        if self.transport is not None:
            self.transport.send(WSMsgType.TEXT, b"40" + orjson.dumps(auth))

    async def connect_later(self, wait: float) -> None:
        await asyncio.sleep(wait)
        if not self.connected and self.transport is not None and not self.transport.is_disconnected:
            self.send_connect()

    def request(self, event: str, payload: Any, timeout: float = 8.0) -> asyncio.Future[Any]:
        """Send an event with an ack; the future always resolves (unavailable on a timeout)."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Any] = loop.create_future()
        if self.transport is None or not self.connected:
            fut.set_result({"ok": False, "error": {"code": "unavailable", "message": "not connected"}})
            return fut
        self.next_id += 1
        ack_id = self.next_id
        self.acks[ack_id] = fut
        self.transport.send(WSMsgType.TEXT, b"42" + str(ack_id).encode() + orjson.dumps([event, payload]))

        def expire() -> None:
            if not fut.done():
                self.acks.pop(ack_id, None)
                fut.set_result({"ok": False, "error": {"code": "unavailable", "message": "timed out"}})

        loop.call_later(timeout, expire)
        return fut

    # --- the session --------------------------------------------------------------------------

    async def open(self) -> bool:
        """Connect (websocket, engine.io, socket.io CONNECT); False if refused for good."""
        self.ready = asyncio.get_running_loop().create_future()
        self.closing = False
        try:
            await ws_connect(lambda: self, self.fleet.config.url, websocket_handshake_timeout=20)
        except Exception:
            return False
        try:
            return bool(await asyncio.wait_for(asyncio.shield(self.ready), 30))
        except TimeoutError:
            return False

    async def join(self) -> bool:
        """session:join (with the position held, after a reconnect), retried as live.js does."""
        fleet = self.fleet
        payload: dict[str, Any] = {"session": fleet.config.session, "where": fleet.config.where}
        if self.pos is not None:
            payload["since"] = self.pos
        self.syncing = True
        started = time.monotonic()
        ack = await self.request("session:join", payload)
        attempt = 1
        while not ack.get("ok") and ack.get("error", {}).get("code") in RETRYABLE and attempt <= 6:
            fleet.counters.join_refused += 1
            base = float(ack["error"].get("retry_after", 1))
            await asyncio.sleep(base + random.random() * min(attempt, 4))
            if not self.connected:
                self.syncing = False
                return False
            ack = await self.request("session:join", payload)
            attempt += 1
        if not ack.get("ok"):
            fleet.counters.join_failed += 1
            self.syncing = False
            return False
        fleet.join_ms.append((time.monotonic() - started) * 1000)
        fleet.counters.joins += 1
        if ack.get("resumed"):
            fleet.counters.resumes += 1
            self.apply(ack["frame"], time.monotonic())
        else:
            self.settle(ack)
        self.spread_ms = int((ack.get("hints") or {}).get("spread_ms", 0))
        self.joined = True
        self.release()
        return True

    async def come_back(self) -> None:
        """A lost connection, as the browser handles it."""
        attempt = 0
        while not self.fleet.stopping:
            if attempt == 0 and self.spread_ms > 0:
                await asyncio.sleep(random.random() * self.spread_ms / 1000)
            else:
                await asyncio.sleep(min(10.0, 0.5 * 2**attempt) * (0.5 + random.random()))
            attempt += 1
            if await self.open() and await self.join():
                self.fleet.counters.reconnects += 1
                self.back_at = time.monotonic()
                return

    def settle(self, snap: dict[str, Any]) -> None:
        self.fleet.counters.snapshots += 1
        self.pos = list(snap["at"])
        now = time.monotonic()
        self.see_questions(snap.get("qa") or {}, now)
        if self.fleet.watch_poll:
            self.see_polls(snap.get("polls") or [], {}, now, whole=True)

    def release(self) -> None:
        self.syncing = False
        held, self.held = self.held, []
        for frame in held:
            self.take(frame, time.monotonic())

    def take(self, frame: dict[str, Any], now: float) -> None:
        if self.syncing or self.pos is None:
            self.held.append(frame)
            return
        counters = self.fleet.counters
        if frame.get("reset"):
            counters.resets += 1
            self.pos = list(frame["to"])
            self.see_questions(frame["snapshot"].get("qa") or {}, now)
            if self.fleet.watch_poll:
                self.see_polls(frame["snapshot"].get("polls") or [], {}, now, whole=True)
            return
        if frame["to"] <= self.pos:
            counters.stale += 1
            return
        if frame["from"] > self.pos:
            counters.gaps += 1
            self.fleet.spawn(self.resume())
            return
        self.apply(frame, now)

    def apply(self, frame: dict[str, Any], now: float) -> None:
        if frame["to"] < self.pos:  # type: ignore[operator]
            self.fleet.counters.regressions += 1
        self.fleet.counters.applied += 1
        qa = frame.get("qa")
        if qa:
            self.see_questions(qa, now)
        fleet = self.fleet
        if fleet.watch_votes and "votes" in frame:
            self.see_votes(frame["votes"], now)
        if fleet.watch_poll and ("polls" in frame or "poll_results" in frame):
            self.see_polls(frame.get("polls") or [], frame.get("poll_results") or {}, now)
        self.pos = frame["to"]

    def see_questions(self, qa: dict[str, Any], now: float) -> None:
        """Note the first time this page showed a question approved, and on screen."""
        fleet = self.fleet
        screen = qa.get("screen")
        if screen and screen not in self.screened:
            self.screened.add(screen)
            fleet.screen_seen[screen].append(now)
        for q in qa.get("questions", ()):
            qid = q["id"]
            if "text" in q and qid not in self.shown:
                self.shown.add(qid)
                fleet.shown[qid].append(now)
                fleet.approved.add(qid)
        if fleet.watch_votes:
            votes = {q["id"]: q["votes"] for q in qa.get("questions", ()) if "votes" in q}
            if votes:
                self.see_votes(votes, now)

    def see_votes(self, votes: dict[str, int], now: float) -> None:
        """The watched questions' vote counts as this page shows them (qa-state.js)."""
        mine = {qid: n for qid, n in votes.items() if qid in self.fleet.watch_votes}
        if mine:
            self.tally_frames += 1
            self.show_tally({**(self.tally or {}), **mine}, now)

    def see_polls(
        self, polls: list[dict[str, Any]], results: dict[str, Any], now: float, whole: bool = False
    ) -> None:
        """The watched poll as live.js mirrors it: a poll in `polls` replaces the page's copy
        (results included, or none), `poll_results` replaces its results; a snapshot
        (`whole`) replaces every poll."""
        watched = self.fleet.watch_poll
        found = False
        for p in polls:
            if p["id"] != watched:
                continue
            found = True
            if p.get("removed"):
                self.poll_state = ""
                self.show_tally(None, now)
                continue
            self.poll_state = p["state"]
            if "results" in p:
                self.tally_frames += 1
            self.show_tally(tally_of(p.get("results")), now)
        if whole and not found:
            self.poll_state = ""
            self.show_tally(None, now)
        if watched in results and self.poll_state:
            self.tally_frames += 1
            self.show_tally(tally_of(results[watched]), now)
        if self.poll_state == "closed" and self.tally is not None and not self.final_at:
            self.final_at = now

    def show_tally(self, tally: dict[str, int] | None, now: float) -> None:
        if tally != self.tally:
            self.tally = tally
            self.tally_at = now

    async def resume(self) -> None:
        if self.syncing or not self.joined:
            return
        self.syncing = True
        counters = self.fleet.counters
        counters.resumes += 1
        ack = await self.request("session:resume", {"session": self.fleet.config.session, "since": self.pos})
        if ack.get("ok") and "frame" in ack:
            self.apply(ack["frame"], time.monotonic())
        elif ack.get("ok") and "snapshot" in ack:
            counters.resume_snapshots += 1
            self.settle(ack["snapshot"])
        self.release()

    def close(self) -> None:
        self.closing = True
        if self.transport is not None and not self.transport.is_disconnected:
            self.transport.disconnect()


class Fleet:
    """This process's phones and what they saw."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.counters = Counters()
        self.phones = [Phone(self, i) for i in range(len(config.tokens))]
        self.join_ms: array[float] = array("d")
        self.shown: dict[str, array[float]] = defaultdict(lambda: array("d"))
        self.screen_seen: dict[str, array[float]] = defaultdict(lambda: array("d"))
        self.approved: set[str] = set()
        self.stopping = False
        self.tasks: set[asyncio.Task[Any]] = set()
        self.load_task: asyncio.Task[None] | None = None
        self.ack_ms: dict[str, array[float]] = defaultdict(lambda: array("d"))
        self.lag_max_ms = 0.0
        self.watch_poll = ""  # the poll whose results the phones keep (bench/poll.py)
        self.watch_votes: frozenset[str] = frozenset()  # the questions whose votes they keep

    def spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def join_all(self) -> dict[str, Any]:
        gate = asyncio.Semaphore(self.config.connect_concurrency)
        started = time.monotonic()

        async def one(phone: Phone) -> None:
            async with gate:
                if await phone.open():
                    await phone.join()

        await asyncio.gather(*(one(p) for p in self.phones))
        return {"joined": sum(p.joined for p in self.phones), "seconds": time.monotonic() - started}

    def mark(self) -> None:
        """Measuring starts now: forget what was seen so far (not what is known)."""
        self.counters = Counters()
        self.join_ms = array("d")
        self.shown.clear()
        self.screen_seen.clear()
        self.ack_ms.clear()
        self.lag_max_ms = 0.0
        for p in self.phones:
            p.tally_frames = 0

    def watch(self, poll: str, questions: list[str]) -> None:
        """Keep what each page shows of this poll's results (or these questions' votes), from
        now on; forget what was kept of anything watched before."""
        self.watch_poll = poll
        self.watch_votes = frozenset(questions)
        for p in self.phones:
            p.tally, p.tally_at, p.tally_frames, p.poll_state, p.final_at = None, 0.0, 0, "", 0.0

    def check(self, expected: dict[str, int]) -> dict[str, Any]:
        """How many joined phones show `expected` now (and, for a poll, show it closed)."""
        joined = [p for p in self.phones if p.joined]
        return {
            "phones": len(joined),
            "match": sum(p.tally == expected for p in joined),
            "final": sum(p.tally == expected and p.final_at > 0 for p in joined),
        }

    def tallies(self) -> list[tuple[Any, float, int, float]]:
        """Per joined phone: what it shows, when that last changed, how many frames carried the
        watched thing since `mark`, when it first showed the poll closed with results."""
        return [(p.tally, p.tally_at, p.tally_frames, p.final_at) for p in self.phones if p.joined]

    async def answer_burst(self, plan: dict[str, Any]) -> dict[str, Any]:
        """Every joined phone answers once at a random moment of the burst; a share of them
        change their answer once, later in the burst, after the first answer's ack.

        plan: kind ("poll": poll:answer with an option; "vote": qa:vote for a question, its
        "change" a vote for a second one), poll, choices (option numbers or question ids),
        weights, start (a CLOCK_MONOTONIC time, the same in every process), burst (s),
        change (the share that changes), timeout (s, per ack)."""
        kind, choices, weights = plan["kind"], list(plan["choices"]), list(plan["weights"])
        session = self.config.session
        event = "poll:answer" if kind == "poll" else "qa:vote"
        ack_ms = array("d")
        refused: dict[str, int] = defaultdict(int)
        accepted: dict[str, int] = defaultdict(int)
        messages: dict[str, int] = defaultdict(int)
        out = {"sent": 0, "ok": 0, "timeouts": 0, "voters": 0, "first_sent": math.inf, "last_ack": 0.0}
        rng = random.Random(f"{plan.get('seed', 0)}:{os.getpid()}")

        async def send(phone: Phone, choice: Any) -> dict[str, Any]:
            if kind == "poll":
                payload = {"session": session, "poll": plan["poll"], "answer": [choice]}
            else:
                payload = {"session": session, "question": choice, "vote": True}
            t0 = time.monotonic()
            out["first_sent"] = min(out["first_sent"], t0)
            out["sent"] += 1
            ack = await phone.request(event, payload, timeout=plan["timeout"])
            t1 = time.monotonic()
            ack_ms.append((t1 - t0) * 1000)
            if ack.get("ok"):
                out["ok"] += 1
                out["last_ack"] = max(out["last_ack"], t1)
            else:
                code = ack.get("error", {}).get("code")
                refused[str(code)] += 1
                messages[f"{code}: {ack.get('error', {}).get('message')}"] += 1
                if (ack.get("error") or {}).get("message") == "timed out":
                    out["timeouts"] += 1  # applied or not: the phone cannot know
            return dict(ack)

        async def one(phone: Phone) -> None:
            start = plan["start"] + rng.random() * plan["burst"]
            await asyncio.sleep(max(0.0, start - time.monotonic()))
            first = rng.choices(choices, weights)[0]
            held: list[Any] = []
            if (await send(phone, first)).get("ok"):
                held.append(first)
            if rng.random() < plan["change"]:
                others = [(c, w) for c, w in zip(choices, weights, strict=True) if c != first]
                second = rng.choices([c for c, _ in others], [w for _, w in others])[0]
                later = start + rng.random() * (plan["start"] + plan["burst"] - start)
                await asyncio.sleep(max(0.0, later - time.monotonic()))
                if (await send(phone, second)).get("ok"):
                    held = [second] if kind == "poll" else [*held, second]
            for c in held:
                accepted[str(c)] += 1
            out["voters"] += bool(held)

        await asyncio.gather(*(one(p) for p in self.phones if p.joined))
        return out | {
            "refused": dict(refused),
            "messages": dict(messages),
            "accepted": dict(accepted),
            "ack_ms": ack_ms.tobytes(),
        }

    def start_load(self, asks: float, votes: float, reactions: float) -> None:
        self.load_task = asyncio.ensure_future(self._load(asks, votes, reactions))

    async def _load(self, asks: float, votes: float, reactions: float) -> None:
        """Asks, votes and reactions from random phones, each kind at its rate (Poisson)."""
        loop = asyncio.get_running_loop()
        rates = {"qa:ask": asks, "qa:vote": votes, "reaction:send": reactions}
        total = sum(rates.values())
        if total <= 0:
            return
        kinds, weights = list(rates), [rates[k] / total for k in rates]
        n = 0
        due = loop.time()
        while not self.stopping:
            # A Poisson process on an absolute timeline: a loop that was held up catches up,
            # so the rates asked for are the rates sent.
            due += random.expovariate(total)
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            joined = [p for p in random.sample(self.phones, min(8, len(self.phones))) if p.joined]
            if not joined:
                continue
            phone = joined[0]
            kind = random.choices(kinds, weights)[0]
            session = self.config.session
            if kind == "qa:ask":
                n += 1
                payload: dict[str, Any] = {
                    "session": session,
                    "text": f"Question {os.getpid()}-{n}: how will this help start-ups in our region?",
                    "client_id": f"b{os.getpid()}x{n}",
                }
            elif kind == "qa:vote":
                candidates = [q for q in random.sample(sorted(self.approved), min(5, len(self.approved)))]
                if not candidates:
                    continue
                qid = candidates[0]
                on = qid not in phone.voted
                (phone.voted.add if on else phone.voted.discard)(qid)
                payload = {"session": session, "question": qid, "vote": on}
            else:
                payload = {"session": session, "emoji": random.choice(EMOJI)}
            self.counters.sent[kind] += 1
            self.spawn(self._timed(phone, kind, payload, loop.time()))

    async def _timed(self, phone: Phone, kind: str, payload: dict[str, Any], t0: float) -> None:
        ack = await phone.request(kind, payload)
        self.ack_ms[kind].append((asyncio.get_running_loop().time() - t0) * 1000)
        if not ack.get("ok"):
            self.counters.refused[f"{kind}:{ack.get('error', {}).get('code')}"] += 1

    async def watch_lag(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping:
            t = loop.time()
            await asyncio.sleep(0.02)
            self.lag_max_ms = max(self.lag_max_ms, (loop.time() - t - 0.02) * 1000)

    def report(self) -> dict[str, Any]:
        c = self.counters
        phones = self.phones
        return {
            "pid": os.getpid(),
            "counters": {k: (dict(v) if isinstance(v, dict) else v) for k, v in c.__dict__.items()},
            "joined": sum(p.joined for p in phones),
            "phones": len(phones),
            "join_ms": self.join_ms.tobytes(),
            "shown": {q: a.tobytes() for q, a in self.shown.items()},
            "screen": {q: a.tobytes() for q, a in self.screen_seen.items()},
            "ack_ms": {k: a.tobytes() for k, a in self.ack_ms.items()},
            "lag_max_ms": self.lag_max_ms,
            "positions": [p.pos for p in phones if p.joined],
            "back": [(p.lost_at, p.back_at) for p in phones if p.lost_at is not None],
        }

    async def stop(self) -> None:
        self.stopping = True
        if self.load_task is not None:
            self.load_task.cancel()
        for p in self.phones:
            p.close()
        await asyncio.sleep(0.2)
        for task in list(self.tasks):
            task.cancel()


async def serve(conn: Any, config: Config) -> None:
    fleet = Fleet(config)
    loop = asyncio.get_running_loop()
    lag = asyncio.ensure_future(fleet.watch_lag())
    try:
        while True:
            command, args = await loop.run_in_executor(None, conn.recv)
            if command == "join":
                result = await fleet.join_all()
                # The phones' long-lived objects out of the collector's way: a full collection
                # over thousands of phones would stall this process, and read as server latency.
                gc.collect()
                gc.freeze()
                conn.send(result)
            elif command == "load":
                fleet.start_load(*args)
                conn.send(True)
            elif command == "mark":
                fleet.mark()
                conn.send(True)
            elif command == "report":
                conn.send(fleet.report())
            elif command == "watch":
                fleet.watch(*args)
                conn.send(True)
            elif command == "answer":
                conn.send(await fleet.answer_burst(args))
            elif command == "check":
                conn.send(fleet.check(args))
            elif command == "tallies":
                conn.send(fleet.tallies())
            elif command == "stop":
                await fleet.stop()
                conn.send(True)
                return
    finally:
        lag.cancel()


def main(conn: Any, config: Config) -> None:
    """The child process: run the fleet until told to stop."""
    raise_open_files()
    gc.freeze()
    with contextlib.suppress(ImportError):
        import uvloop

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(serve(conn, config))
