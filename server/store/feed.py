"""The session feed in Redis: a session's state and log position read in one step, its log
read after a position, and the reader's own connection (server/domain/feed.py says what the
log holds; the Lua scripts write it)."""

from __future__ import annotations

import json
from typing import Any

from redis.crc import key_slot

from server.domain import polls, qa
from server.domain.feed import Clock, Entry, Position, SessionState, entry_from_fields, lineup_from, stream_id
from server.domain.presence import counts_from_fields
from server.store import keys, scripts
from server.store.connection import Client, dedicated, fleeting, is_cluster
from server.store.events import event_from, session_from


def _flat(values: Any) -> dict[str, str]:
    if isinstance(values, dict):
        return {str(k): str(v) for k, v in values.items()}
    return {str(k): str(v) for k, v in zip(values[::2], values[1::2], strict=True)}


def state_from(session_id: str, raw: dict[str, Any], event_fields: dict[str, str]) -> SessionState:
    """A session's state from what feed_load.lua read, and its event's fields."""
    fields = _flat(raw["session"])
    session = session_from(fields)
    event = event_from(event_fields)
    duration_ms = (session.ends_at - session.starts_at) * 1000
    clock = Clock(
        state=fields.get("clock_state", "idle"),
        left_ms=int(fields.get("clock_left", duration_ms)),
        deadline_ms=int(fields.get("clock_deadline", 0)),
    )
    questions = [qa.question_from_fields(_flat(q)) for q in (raw["questions"] or [])]
    v, k = raw["at"]
    return SessionState(
        session_id=session_id,
        pos=(int(v), int(k)),
        session=session.public(event.time_zone),
        event=event.public(),
        settings=qa.settings_from_fields(_flat(raw["settings"])),
        questions={q["id"]: q for q in questions},
        screen=fields.get("screen") or None,
        counts={"pending": int(fields.get("qpend", 0)), "declined": int(fields.get("qdecl", 0))},
        status=str(raw["stage"]["status"]),
        lineup=lineup_from(raw["stage"]["lineup"]),
        clock=clock,
        presence=counts_from_fields(_flat(raw["presence"])),
        reactions={e: int(n) for e, n in _flat(raw["reactions"]).items()},
        polls={
            p["id"]: p
            for p in (
                polls.poll_from_fields(
                    _flat(r["poll"]),
                    _flat(r["counts"]),
                    int(r["voters"]),
                    [str(t) for t in (r.get("approved") or [])],
                )
                for r in (raw.get("polls") or [])
            )
        },
    )


def entries_from(rows: Any) -> list[Entry]:
    """Log entries as XRANGE / XREAD give them."""
    return [entry_from_fields(str(entry_id), fields) for entry_id, fields in rows or []]


class FeedStore:
    """Read a session's state and its log; nudge a worker's reader."""

    def __init__(self, client: Client) -> None:
        self.r = fleeting(client)  # reads, and wake-ups: no WAIT for replicas
        self._load = scripts.load(self.r, "feed_load")

    async def load(self, session_id: str) -> SessionState | None:
        """The session's state and the log position it is at, or None if there is no session."""
        script_keys = [
            keys.session(session_id),
            keys.qa_settings(session_id),
            keys.questions(session_id),
            keys.presence_logged(session_id),
            keys.reaction_totals(session_id),
            keys.reactions_unsent(session_id),
            *keys.stage_keys(session_id),
            keys.polls(session_id),
        ]
        raw = await self._load(keys=script_keys)
        if not raw:
            return None
        state = json.loads(raw)
        # The event's own slot, read after: any change to it since is in the log after this
        # position, whole (each edit logs the session's and the event's public fields).
        event_id = _flat(state["session"]).get("event_id", "")
        event = await self.r.hgetall(keys.event(event_id))
        if not event:
            return None  # a session of a deleted event (deleted with it)
        return state_from(session_id, state, event)

    async def since(self, session_id: str, pos: Position, limit: int) -> list[Entry]:
        """Up to `limit` entries after `pos`, oldest first (the log may have been trimmed past
        it: the caller checks that the first one follows `pos`)."""
        rows = await self.r.xrange(keys.log(session_id), min=f"({stream_id(pos)}", max="+", count=limit)
        return entries_from(rows)

    async def wake(self, worker_id: str) -> None:
        """Make a worker's reader start a new read (it has a new set of logs to read)."""
        await self.r.xadd(keys.worker_wake(worker_id), {"w": "1"}, maxlen=1, approximate=False)

    async def forget_worker(self, worker_id: str) -> None:
        """A worker going away removes its wake stream."""
        await self.r.delete(keys.worker_wake(worker_id))


class FeedReader:
    """A worker's own connection for reading logs: a blocking XREAD must never hold a
    connection that request handlers wait for, nor wait behind them.

    On a Cluster an XREAD reads the streams of one slot only (one session's, or a few that
    share a slot): the caller reads each slot on its own (`slot()`), and each read goes to
    the node that serves that slot, on a connection of its own for as long as it waits."""

    def __init__(self, url: str, *, block_ms: int, connect_timeout: float) -> None:
        self.block_ms = block_ms
        self.cluster = is_cluster(url)
        self.r = dedicated(
            url, name="podium-feed", socket_timeout=block_ms / 1000 + 5, connect_timeout=connect_timeout
        )

    @staticmethod
    def slot(session_id: str) -> int:
        """The Cluster slot a session's log is in."""
        return int(key_slot(keys.log(session_id).encode()))

    async def read(self, streams: dict[str, str], count: int) -> list[tuple[str, list[Any]]]:
        """Rows after each stream's id, waiting up to block_ms for the first:
        [(key, [(entry id, fields), ...]), ...]. On a Cluster, the streams of one slot."""
        if self.cluster:
            reply = await self._read_slot(streams, count)
        else:
            reply = await self.r.xread(dict(streams), count=count, block=self.block_ms)
        if not reply:
            return []
        items = reply.items() if isinstance(reply, dict) else reply
        return [(str(key), list(rows)) for key, rows in items]

    async def _read_slot(self, streams: dict[str, str], count: int) -> Any:
        await self.r.initialize()  # (at once if it knows the Cluster's layout already)
        # Sent to the slot's node by name: redis-py would otherwise ask a node which keys an
        # XREAD names (COMMAND GETKEYS) before every read. A slot that moved answers MOVED,
        # which updates the client's map for the next read.
        node = self.r.get_node_from_key(next(iter(streams)))
        names, ids = list(streams), list(streams.values())
        return await self.r.execute_command(
            "XREAD", "COUNT", count, "BLOCK", self.block_ms, "STREAMS", *names, *ids, target_nodes=node
        )

    async def run_id(self) -> str:
        """The store's run id: it changes when the server restarts (its memory may be older).
        "" on a Cluster, whose nodes each have their own (the reader reloads what a node that
        failed served instead)."""
        if self.cluster:
            return ""
        info = await self.r.info("server")
        return str(info.get("run_id", ""))

    async def close(self) -> None:
        """Close the connection."""
        await self.r.aclose()
