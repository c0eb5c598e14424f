"""The session clock in Redis: one per session, on Redis's time, versioned with the session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from redis.exceptions import ResponseError

from server.errors import Invalid, NotFound
from server.store import keys, scripts
from server.store.connection import Client


@dataclass(frozen=True)
class Clock:
    """A session clock as read at `now_ms` (Redis time)."""

    version: int
    state: str  # idle | running | paused
    left_ms: int  # may go negative: the session overran
    deadline_ms: int
    now_ms: int

    def public(self) -> dict[str, Any]:
        """The wire form; clients correct for their own clock with now_ms."""
        return {
            "state": self.state,
            "left_ms": self.left_ms,
            "deadline_ms": self.deadline_ms if self.state == "running" else None,
            "now_ms": self.now_ms,
        }


class ClockStore:
    """Start, pause, add time, reset, read."""

    def __init__(self, client: Client) -> None:
        self._script = scripts.load(client, "clock")

    async def apply(self, session_id: str, action: str, amount_ms: int) -> Clock:
        """Apply an action (or 'read'); amount is the duration to start from, or the time to add."""
        try:
            v, state, left, deadline, now = await self._script(
                keys=[keys.session(session_id), keys.log(session_id)], args=[action, amount_ms]
            )
        except ResponseError as exc:
            if "not_found" in str(exc):
                raise NotFound("No such session.") from None
            raise Invalid("Unknown clock action.") from None
        return Clock(int(v), str(state), int(left), int(deadline), int(now))
