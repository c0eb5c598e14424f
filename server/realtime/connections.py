"""This worker's open sockets and what each is doing (a socket lives on one worker)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from server.domain.identity import Principal


@dataclass
class Conn:
    """One socket: who opened it, from where, and the session it is in."""

    sid: str
    principal: Principal
    ip: str
    session_id: str | None = None
    event_id: str | None = None
    member: str | None = None
    where: str | None = None
    # Token bucket against floods of events from one socket (cheap: no Redis).
    tokens: float = 0.0
    refilled: float = 0.0

    def take(self, rate_per_s: float, burst: float) -> bool:
        """Spend one token; False when the socket sends faster than rate allows."""
        now = time.monotonic()
        self.tokens = min(burst, self.tokens + (now - self.refilled) * rate_per_s)
        self.refilled = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


class Connections(dict[str, Conn]):
    """sid -> Conn for this worker."""

    def in_sessions(self) -> list[Conn]:
        """Sockets that are in a session (and so counted in presence)."""
        return [c for c in self.values() if c.session_id and c.member]
