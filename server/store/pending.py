"""What one worker owes the store: the sessions whose coalesced updates it has yet to log, and
the sessions it has told the store it holds connections in.

Presence counts, who of a lineup is connected, vote counts, poll results and reactions change Redis at once
but reach a session's log at most a few times a second, as one update (docs/protocol.md). The
script that changes them sets a flag in the session (on the session's own slot); the worker
that ran it notes the session here, and its flush loop runs the session's flush script soon
after, which logs the update if the flag is still set and no worker logged one within the
gate. Nothing global is touched on the way, so a change stays on its session's shard.

A worker that dies between a change and its flush leaves the flag set: any worker that holds
the session notes it again within RECHECK_S (`recheck`), and the next change to it does too.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from server.store import scripts
from server.store.connection import Client

PRESENCE = "presence"
ONLINE = "online"
VOTES = "votes"
REACTIONS = "reactions"
POLLS = "polls"
KINDS = (PRESENCE, ONLINE, VOTES, REACTIONS, POLLS)

RECHECK_S = 5.0  # how often a worker notes every session it holds, in case a flag was left


class Pending:
    """Per worker, in memory: session ids by kind of update, each with when it is due."""

    def __init__(self) -> None:
        self._due: dict[str, dict[str, float]] = {kind: {} for kind in KINDS}
        self._registered: set[tuple[str, str]] = set()

    def mark(self, kind: str, session_id: str) -> None:
        """The session has an update of this kind to log, due now."""
        self._due[kind][session_id] = 0.0

    def recheck(self, session_ids: Iterable[str]) -> None:
        """Note these sessions for every kind (a flush of a session with no flag is cheap)."""
        for kind in KINDS:
            due = self._due[kind]
            for session_id in session_ids:
                due.setdefault(session_id, 0.0)

    def take(self, kind: str, limit: int) -> list[str]:
        """Up to `limit` sessions whose update of this kind is due, taken out: a change while
        they are being flushed notes them again."""
        now = time.monotonic()
        due = self._due[kind]
        taken = [s for s, at in due.items() if at <= now][:limit]
        for session_id in taken:
            del due[session_id]
        return taken

    def later(self, kind: str, session_id: str, ms: int) -> None:
        """Put a taken session back, due in `ms` (unless a change made it due sooner)."""
        at = time.monotonic() + ms / 1000
        due = self._due[kind]
        due[session_id] = min(due.get(session_id, at), at)

    def waiting(self, kind: str) -> int:
        """How many sessions have an update of this kind to log."""
        return len(self._due[kind])

    def registered(self, worker_id: str, session_id: str) -> bool:
        """Whether the store knows this worker has connections in this session."""
        return (worker_id, session_id) in self._registered

    def register(self, worker_id: str, session_id: str) -> None:
        """The store knows it now (keys.worker_sessions)."""
        self._registered.add((worker_id, session_id))

    def forget_worker(self, worker_id: str) -> None:
        """The store forgot this worker (presumed dead and swept): register again."""
        self._registered = {pair for pair in self._registered if pair[0] != worker_id}


async def flush(
    pending: Pending,
    *,
    kind: str,
    client: Client,
    script: Any,
    calls: Callable[[str], scripts.Call],
    limit: int,
) -> int:
    """Run a flush script for up to `limit` sessions due an update of `kind`, in one pipeline
    (each script returns 1 if it logged one, 0 if there was nothing to log, or -ms while the
    session's gate is closed); returns how many were logged. A session whose gate was closed
    comes back when it opens; one that failed, at once."""
    sessions = pending.take(kind, limit)
    if not sessions:
        return 0
    try:
        replies = await scripts.run_many(client, script, [calls(s) for s in sessions])
    except BaseException:
        for session_id in sessions:
            pending.later(kind, session_id, 0)
        raise
    logged = 0
    failed: Exception | None = None
    for session_id, reply in zip(sessions, replies, strict=True):
        if isinstance(reply, Exception):
            failed = failed or reply
            pending.later(kind, session_id, 0)
        elif int(reply) > 0:
            logged += 1
        elif int(reply) < 0:
            pending.later(kind, session_id, -int(reply))
    if failed is not None:
        raise failed
    return logged
