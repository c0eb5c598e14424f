"""Each worker's half of the session feed.

A worker reads the change logs of the sessions its sockets are in (one blocking XREAD on its
own connection), keeps each session's state by applying the entries in log order, and writes
every change to its sockets in that order: one frame per view, encoded once and written to
each socket of the view as is, with no per-recipient work beyond the write. The audience's
frames of a big room gather for a short tick (a moderator's action sends them at once);
moderators, speakers and screens get each read at once.

Why not socket.io's rooms and the Redis manager: a room emit schedules work per recipient,
and pub/sub is at-most-once and unordered across publishers, so a change could overtake
another or be lost while a worker's subscription was down. The log is ordered, and a worker
whose reading was interrupted continues from the last entry it applied.

On a Redis Cluster one XREAD reads the logs of one slot only (a session's keys are on its
own slot): the worker reads each slot it has sessions in with a task of its own, which blocks
on that slot's node, and starts and stops them as sessions come and go (`_cluster_loop`).

A joining socket gets a snapshot rendered from the state this worker holds (no store reads
for what everyone shares) and is registered in the same synchronous step, so it receives
every entry after the snapshot's position. A client that missed frames resumes from its
position: from the entries this worker still holds, else from the log, else a snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from server import appkeys
from server.domain import feed as fd
from server.domain.feed import Batch, Entry, Position, SessionState
from server.realtime import protocol as p
from server.realtime.connections import Conn
from server.store import keys
from server.store.connection import STORE_ERRORS
from server.store.feed import FeedReader

logger = logging.getLogger(__name__)

RING = 1000  # entries each session keeps in memory for resumes
IDLE_SECONDS = 60.0  # a session nobody here is in is forgotten after this
READ_COUNT = 1000  # entries per stream per read


def ws_text_frame(payload: bytes) -> bytes:
    """A complete, unmasked websocket text frame (server to client) around payload."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + payload


_EVENT_PREFIX = b'42["' + p.SESSION_FEED.encode() + b'",'


def encode_event(frame: dict[str, Any]) -> bytes:
    """A `session:feed` event as engine.io and socket.io frame it, in a websocket frame."""
    return ws_text_frame(_EVENT_PREFIX + orjson.dumps(frame) + b"]")


@dataclass(eq=False)
class LocalSession:
    """A session this worker has sockets in: its state, its sockets by view, what is pending."""

    id: str
    state: SessionState
    members: dict[str, dict[str, Conn]] = field(default_factory=lambda: {v: {} for v in fd.VIEWS})
    persons: dict[str, set[str]] = field(default_factory=dict)  # participant -> sids here
    batches: dict[str, Batch] = field(default_factory=dict)
    ring: deque[Entry] = field(default_factory=lambda: deque(maxlen=RING))
    ring_base: Position = fd.ZERO  # the ring holds every entry after this position
    last_flush: float = 0.0  # the audience's last frame (monotonic)
    timer: asyncio.TimerHandle | None = None
    idle_since: float | None = None
    reloading: bool = False
    snapshots: dict[str, tuple[Position, dict[str, Any]]] = field(default_factory=dict)
    lagging: dict[str, Conn] = field(default_factory=dict)  # skipped while they could not keep up
    waiters: list[tuple[Position, asyncio.Future[None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.ring_base = self.state.pos
        for view in fd.VIEWS:
            self.batches[view] = Batch(view, self.state.pos)

    @property
    def empty(self) -> bool:
        return not any(self.members.values())

    def audience(self) -> int:
        counts = self.state.presence["audience"]
        return int(counts["hall"]) + int(counts["remote"])


class FeedHub:
    """The sessions this worker holds sockets for, their states and their readers."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.settings = app[appkeys.SETTINGS]
        self.metrics = app[appkeys.METRICS]
        self.sessions: dict[str, LocalSession] = {}
        self._loading: dict[str, asyncio.Future[LocalSession | None]] = {}
        self._wake_key = ""
        self._wake_id = "0-0"
        self._reader: FeedReader | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._run_id = ""
        self.deaf_since: float | None = None  # the reader cannot read the store (for /readyz)
        self._changed = asyncio.Event()  # on a Cluster: the sessions to read changed
        self._failing: set[int] = set()  # on a Cluster: the slots whose reads fail
        self._last_nudge = self._last_janitor = time.monotonic()  # _housekeeping's clocks
        self.clock_offset_ms = 0  # Redis time minus this machine's
        self.frames_written = 0
        self.frames_skipped = 0

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the reader's connection and start reading."""
        s = self.settings
        self._wake_key = keys.worker_wake(self.app[appkeys.WORKER_ID])
        self._reader = FeedReader(
            s.redis_url, block_ms=s.feed_block_ms, connect_timeout=s.redis_socket_timeout
        )
        with contextlib.suppress(*STORE_ERRORS, OSError):
            self._run_id = await self._reader.run_id()
            await self._measure_clock()
        loop = self._cluster_loop() if self._reader.cluster else self._read_loop()
        self._task = asyncio.create_task(loop, name="feed reader")

    async def stop(self) -> None:
        """Stop reading (bounded: a cancel absorbed inside the client must not hold shutdown)."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=2)
        for ls in self.sessions.values():
            if ls.timer is not None:
                ls.timer.cancel()
        if self._reader is not None:
            with contextlib.suppress(Exception):
                await self._reader.close()
        with contextlib.suppress(Exception):
            await self.app[appkeys.FEED].forget_worker(self.app[appkeys.WORKER_ID])

    def now_ms(self) -> int:
        """Redis time, as well as this worker knows it."""
        return int(time.time() * 1000) + self.clock_offset_ms

    async def _measure_clock(self) -> None:
        assert self._reader is not None
        before = time.time()
        seconds, micros = await self._reader.r.time()
        after = time.time()
        self.clock_offset_ms = int(seconds * 1000 + micros // 1000 - (before + after) * 500)

    # --- sockets in and out ------------------------------------------------------------

    async def attach(self, session_id: str) -> LocalSession | None:
        """The session's local state, loaded (one store read) if this worker had none; None
        if there is no such session."""
        ls = self.sessions.get(session_id)
        if ls is not None and not ls.state.deleted:
            if ls.empty:
                ls.idle_since = time.monotonic()  # not forgotten before the caller registers
            return ls
        if ls is not None:
            return None
        pending = self._loading.get(session_id)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[LocalSession | None] = asyncio.get_running_loop().create_future()
        self._loading[session_id] = future
        try:
            state = await self.app[appkeys.FEED].load(session_id)
            ls = None if state is None else LocalSession(session_id, state)
            if ls is not None:
                ls.idle_since = time.monotonic()  # until a socket registers
                self.sessions[session_id] = ls
                await self._wake()
            future.set_result(ls)
            return ls
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it
            raise
        finally:
            del self._loading[session_id]

    def register(self, ls: LocalSession, conn: Conn) -> None:
        """From now on conn receives the session's frames (call in the same step as the
        snapshot it was given, so that nothing falls between them)."""
        view = fd.view_of(conn.principal)
        members = ls.members[view]
        if not members:
            # Nobody here had this view: its frames start at the state as it is now.
            ls.batches[view] = Batch(view, ls.state.pos)
        members[conn.sid] = conn
        pid = conn.principal.participant_id
        if pid:
            ls.persons.setdefault(pid, set()).add(conn.sid)
        ls.idle_since = None
        conn.feed = ls.id

    def unregister(self, conn: Conn) -> None:
        """conn receives no more of its session's frames."""
        ls = self.sessions.get(conn.feed or "")
        conn.feed = None
        if ls is None:
            return
        for members in ls.members.values():
            members.pop(conn.sid, None)
        pid = conn.principal.participant_id
        if pid and pid in ls.persons:
            ls.persons[pid].discard(conn.sid)
            if not ls.persons[pid]:
                del ls.persons[pid]
        if ls.empty:
            ls.idle_since = time.monotonic()

    async def caught_up(self, ls: LocalSession, pos: Position, wait_s: float = 2.0) -> None:
        """Wait until this worker has applied the session's log up to `pos` (a position read
        from the store), so that what it renders includes every change made before; after
        `wait_s`, go on with what it has."""
        if ls.state.pos >= pos:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        ls.waiters.append((pos, future))
        try:
            await asyncio.wait_for(asyncio.shield(future), wait_s)
        except TimeoutError:
            logger.warning("feed of %s is behind the store (%s < %s)", ls.id, ls.state.pos, pos)
        finally:
            ls.waiters = [(p, f) for p, f in ls.waiters if f is not future]

    # --- what a socket is given ----------------------------------------------------------

    def snapshot(self, ls: LocalSession, conn: Conn) -> dict[str, Any]:
        """The session as conn's view shows it now (the shared part rendered once per view and
        position), with the clock and the caller's own questions."""
        view = fd.view_of(conn.principal)
        cached = ls.snapshots.get(view)
        if cached is None or cached[0] != ls.state.pos:
            cached = (ls.state.pos, ls.state.view(view))
            ls.snapshots[view] = cached
        snap = dict(cached[1])
        snap["clock"] = ls.state.clock.public(self.now_ms())
        pid = conn.principal.participant_id
        if pid:
            snap["qa"] = {**snap["qa"], "mine": ls.state.mine(pid)}
        return snap

    def replay(self, ls: LocalSession, conn: Conn, since: Position) -> dict[str, Any] | None:
        """What conn missed after `since`, from the entries held here, as one frame; None when
        they do not reach back that far."""
        view = fd.view_of(conn.principal)
        if since >= ls.state.pos:
            return {"session": ls.id, "from": list(since), "to": list(since), "now_ms": self.now_ms()}
        if since < ls.ring_base:
            return None
        return self._replay_frame(ls, conn, view, since, list(ls.ring))

    def replay_entries(
        self, ls: LocalSession, conn: Conn, since: Position, entries: list[Entry]
    ) -> dict[str, Any]:
        """A frame of entries read from the log after `since` (they must follow it)."""
        return self._replay_frame(ls, conn, fd.view_of(conn.principal), since, entries)

    def _replay_frame(
        self, ls: LocalSession, conn: Conn, view: str, since: Position, entries: list[Entry]
    ) -> dict[str, Any]:
        batch = fd.replay(view, since, entries, ls.state)
        frame = batch.frame(ls.id, self.now_ms()) or {
            "session": ls.id,
            "from": list(since),
            "to": list(batch.end),
            "now_ms": self.now_ms(),
        }
        pid = conn.principal.participant_id
        if pid and pid in batch.mine:
            frame["mine"] = list(batch.mine[pid].values())
        return frame

    # --- reading -----------------------------------------------------------------------

    async def _read_loop(self) -> None:
        reader = self._reader
        assert reader is not None
        backoff = 0.05
        self._last_janitor = self._last_nudge = time.monotonic()
        while not self._stopping:
            streams = {self._wake_key: self._wake_id}
            for session_id, ls in self.sessions.items():
                if not ls.reloading:
                    streams[keys.log(session_id)] = fd.stream_id(ls.state.pos)
            try:
                rows = await reader.read(streams, READ_COUNT)
                if self.deaf_since is not None:
                    await self._recovered()
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.deaf_since is None:
                    self.deaf_since = time.monotonic()
                    logger.warning("feed reader cannot read the store: %s", exc)
                await asyncio.sleep(backoff)
                backoff = min(1.0, backoff * 2)
                continue
            for key, entries in rows:
                if key == self._wake_key:
                    if entries:
                        self._wake_id = str(entries[-1][0])
                    continue
                local = self.sessions.get(keys.session_of_log(key))
                if local is not None and not local.reloading:
                    self._take(local, entries)
            self._housekeeping()

    def _housekeeping(self) -> None:
        """Between reads: nudge lagging sockets twice a second, forget idle sessions every 5 s."""
        now = time.monotonic()
        if now - self._last_nudge > 0.5:
            self._last_nudge = now
            self._nudge_lagging()
        if now - self._last_janitor > 5:
            self._last_janitor = now
            self._forget_idle(now)

    async def _wake(self) -> None:
        """Make the reader read a new set of logs."""
        assert self._reader is not None
        if self._reader.cluster:
            self._changed.set()
        else:
            await self.app[appkeys.FEED].wake(self.app[appkeys.WORKER_ID])

    async def _cluster_loop(self) -> None:
        """Keep one reading task per slot that has sessions here (not reloading), each
        reading those sessions' logs; start, stop or restart them as sessions come and go (a
        task blocked on a read it no longer wants is cancelled: its connection is closed)."""
        assert self._reader is not None
        reader = self._reader
        groups: dict[int, tuple[frozenset[str], asyncio.Task[None]]] = {}
        self._last_janitor = self._last_nudge = time.monotonic()
        try:
            while not self._stopping:
                self._changed.clear()
                by_slot: dict[int, set[str]] = {}
                for session_id, ls in self.sessions.items():
                    if not ls.reloading:
                        by_slot.setdefault(reader.slot(session_id), set()).add(session_id)
                wanted = {slot: frozenset(members) for slot, members in by_slot.items()}
                for slot, (members, task) in list(groups.items()):
                    if wanted.get(slot) != members or task.done():
                        task.cancel()
                        del groups[slot]
                for slot, members in wanted.items():
                    if slot not in groups:
                        task = asyncio.create_task(self._read_slot(slot, members), name=f"feed reader {slot}")
                        groups[slot] = (members, task)
                self._housekeeping()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), 0.5)
        finally:
            tasks = {task for _members, task in groups.values()}
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks, timeout=2)

    async def _read_slot(self, slot: int, members: frozenset[str]) -> None:
        """Read the logs of these sessions (all in one slot) until cancelled."""
        assert self._reader is not None
        backoff = 0.05
        try:
            while not self._stopping:
                streams = {}
                for session_id in members:
                    ls = self.sessions.get(session_id)
                    if ls is not None and not ls.reloading:
                        streams[keys.log(session_id)] = fd.stream_id(ls.state.pos)
                if not streams:
                    return
                try:
                    rows = await self._reader.read(streams, READ_COUNT)
                    if slot in self._failing:
                        self._slot_recovered(slot, members)
                    backoff = 0.05
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    self._slot_failed(slot, exc)
                    await asyncio.sleep(backoff)
                    backoff = min(1.0, backoff * 2)
                    continue
                for key, entries in rows:
                    local = self.sessions.get(keys.session_of_log(key))
                    if local is not None and not local.reloading:
                        self._take(local, entries)
        finally:
            self._failing.discard(slot)
            if not self._failing:
                self.deaf_since = None

    def _slot_failed(self, slot: int, exc: Exception) -> None:
        if not self._failing and self.deaf_since is None:
            self.deaf_since = time.monotonic()
            logger.warning("feed reader cannot read the store: %s", exc)
        self._failing.add(slot)

    def _slot_recovered(self, slot: int, members: frozenset[str]) -> None:
        """A slot's node answers again; it may be another node (a failover) that did not get
        the last writes of the one that failed: reload what this worker holds of the slot."""
        self._failing.discard(slot)
        if not self._failing and self.deaf_since is not None:
            logger.warning(
                "feed reader reads the store again after %.1f s", time.monotonic() - self.deaf_since
            )
            self.deaf_since = None
        for session_id in members:
            ls = self.sessions.get(session_id)
            if ls is not None:
                self._schedule_reload(ls)

    async def _recovered(self) -> None:
        """The store answers again: if it is not the same server run (a restart, a failover),
        what it holds may differ from what this worker applied; reload every session."""
        assert self._reader is not None
        run_id = await self._reader.run_id()
        down = time.monotonic() - (self.deaf_since or time.monotonic())
        self.deaf_since = None
        logger.warning("feed reader reads the store again after %.1f s", down)
        if run_id != self._run_id:
            logger.warning("the store restarted: reloading %d sessions", len(self.sessions))
            self._run_id = run_id
            for ls in list(self.sessions.values()):
                self._schedule_reload(ls)

    def _take(self, ls: LocalSession, rows: list[Any]) -> None:
        """Apply a session's new entries in order and send what each view should see."""
        state = ls.state
        for entry_id, fields in rows:
            try:
                pos = fd.parse_position(str(entry_id))
                if pos <= state.pos:
                    continue
                if not fd.follows(state.pos, pos):
                    # The log no longer holds what followed our position (trimmed while we
                    # were away, or the store lost it): start again from the store's state.
                    logger.warning("feed of %s jumped from %s to %s; reloading", ls.id, state.pos, pos)
                    self._schedule_reload(ls)
                    break
                entry = fd.entry_from_fields(str(entry_id), fields)
            except (ValueError, KeyError, TypeError):
                logger.exception("unreadable entry %s in the feed of %s; reloading", entry_id, ls.id)
                self._schedule_reload(ls)
                break
            state.apply(entry)
            if len(ls.ring) == ls.ring.maxlen:
                ls.ring_base = ls.ring[0].pos
            ls.ring.append(entry)
            for view, members in ls.members.items():
                if members:
                    ls.batches[view].add(entry, state)
        if ls.waiters:
            for pos, future in ls.waiters:
                if pos <= state.pos and not future.done():
                    future.set_result(None)
        self._send(ls)

    def _send(self, ls: LocalSession) -> None:
        """Send what is pending: the staff's and the stage's views now, the audience's when its
        tick is due."""
        for view in (fd.MOD, fd.INT, fd.STAGE_VIEW):
            if ls.members[view]:
                self._flush(ls, view)
        if not ls.members[fd.AUD]:
            return
        batch = ls.batches[fd.AUD]
        if not batch.visible:
            return
        s = self.settings
        tick = (
            fd.audience_tick_ms(ls.audience(), s.feed_small_room, s.feed_tick_ms, s.feed_tick_max_ms) / 1000
        )
        now = time.monotonic()
        due = ls.last_flush + tick
        if batch.urgent and tick > 0:
            # A moderator's action goes out within feed.urgent_ms, not at the next tick; the
            # short wait lets the next click of a quick sequence (approve, then screen) ride
            # in the same frame: in a big room every frame is a write to every phone.
            due = min(due, now + s.feed_urgent_ms / 1000)
        if tick == 0 or now >= due:
            self._flush_audience(ls)
            return
        loop = asyncio.get_running_loop()
        when = loop.time() + (due - now)
        if ls.timer is not None and ls.timer.when() > when:
            ls.timer.cancel()
            ls.timer = None
        if ls.timer is None:
            ls.timer = loop.call_at(when, self._flush_audience, ls)

    def _flush_audience(self, ls: LocalSession) -> None:
        if ls.timer is not None:
            ls.timer.cancel()
            ls.timer = None
        ls.last_flush = time.monotonic()
        self._flush(ls, fd.AUD)

    def _flush(self, ls: LocalSession, view: str) -> None:
        """Write a view's pending frame to its sockets, encoded once (and once more for each
        author whose own question is in it)."""
        batch = ls.batches[view]
        frame = batch.frame(ls.id, self.now_ms())
        if frame is None:
            return  # nothing this view sees: the next frame still starts where the last ended
        ls.batches[view] = Batch(view, batch.end)
        members = ls.members[view]
        data = encode_event(frame)
        own: dict[str, bytes] = {}
        for pid, questions in batch.mine.items():
            for sid in ls.persons.get(pid, ()):
                if sid in members:
                    own[sid] = encode_event({**frame, "mine": list(questions.values())})
        written = skipped = 0
        slow = self.settings.feed_slow_bytes
        for sid, conn in members.items():
            transport = conn.transport
            if transport is None or transport.is_closing():
                continue
            if transport.get_write_buffer_size() > slow:
                skipped += 1  # told once it has caught up (nudge_lagging), it resumes
                ls.lagging[sid] = conn
                continue
            transport.write(own.get(sid, data) if own else data)
            written += 1
        self.frames_written += written
        self.frames_skipped += skipped
        self.metrics.feed_written(view, written, skipped)

    # --- reloading and forgetting ------------------------------------------------------

    def _schedule_reload(self, ls: LocalSession) -> None:
        if not ls.reloading:
            ls.reloading = True
            task = asyncio.create_task(self._reload(ls), name=f"feed reload {ls.id}")
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def _reload(self, ls: LocalSession) -> None:
        """Read the session's state again and give every socket of it the whole of it (a
        `reset` frame: replace, do not merge), then read its log from there."""
        delay = 0.05
        while not self._stopping:
            try:
                state = await self.app[appkeys.FEED].load(ls.id)
                break
            except STORE_ERRORS:
                await asyncio.sleep(delay)
                delay = min(1.0, delay * 2)
        else:
            return
        if state is None:
            state = ls.state
            state.deleted = True
        ls.state = state
        ls.ring.clear()
        ls.ring_base = state.pos
        ls.snapshots.clear()
        for pos, future in ls.waiters:
            if pos <= state.pos and not future.done():
                future.set_result(None)
        if ls.timer is not None:
            ls.timer.cancel()
            ls.timer = None
        now = self.now_ms()
        for view, members in ls.members.items():
            ls.batches[view] = Batch(view, state.pos)
            if not members:
                continue
            shared = state.view(view)
            shared["clock"] = state.clock.public(now)
            base = {"session": ls.id, "from": [0, 0], "to": list(state.pos), "now_ms": now, "reset": True}
            if state.deleted:
                base["deleted"] = True
            written = 0
            for conn in members.values():
                snap = shared
                pid = conn.principal.participant_id
                if pid:
                    snap = {**shared, "qa": {**shared["qa"], "mine": state.mine(pid)}}
                if conn.transport is not None and not conn.transport.is_closing():
                    conn.transport.write(encode_event({**base, "snapshot": snap}))
                    written += 1
            self.metrics.feed_written(view, written, 0)
        ls.reloading = False
        with contextlib.suppress(*STORE_ERRORS):
            await self._wake()

    def _nudge_lagging(self) -> None:
        """A socket skipped while its peer was not reading learns it once it has caught up: an
        empty frame at the session's position, which starts after anything it holds, so its
        page resumes. (Without it, a quiet session would leave it stale until the next change.)"""
        for ls in self.sessions.values():
            if not ls.lagging:
                continue
            nudge = None
            for sid, conn in list(ls.lagging.items()):
                transport = conn.transport
                if transport is None or transport.is_closing() or conn.feed != ls.id:
                    del ls.lagging[sid]
                elif transport.get_write_buffer_size() <= self.settings.feed_slow_bytes // 4:
                    if nudge is None:
                        pos = list(ls.state.pos)
                        nudge = encode_event(
                            {"session": ls.id, "from": pos, "to": pos, "now_ms": self.now_ms()}
                        )
                    transport.write(nudge)
                    del ls.lagging[sid]

    def _forget_idle(self, now: float) -> None:
        for session_id, ls in list(self.sessions.items()):
            if ls.empty and ls.idle_since is not None and now - ls.idle_since > IDLE_SECONDS:
                if ls.timer is not None:
                    ls.timer.cancel()
                del self.sessions[session_id]
