"""This worker's open sockets and what each is doing (a socket lives on one worker)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from server.domain.identity import Principal


@dataclass
class Conn:
    """One socket: who opened it, from where, and the session it is in."""

    sid: str
    principal: Principal
    ip: str
    # The socket's own connection: the session feed writes its frames here directly.
    transport: asyncio.Transport | None = field(default=None, repr=False)
    feed: str | None = None  # the session whose feed this socket receives
    session_id: str | None = None
    event_id: str | None = None
    member: str | None = None
    where: str | None = None
    # Token buckets against floods of events from one socket (cheap: no Redis): one for
    # everything, one for WebRTC signaling, which comes in bursts.
    buckets: dict[str, list[float]] = field(default_factory=dict)
    flooding: bool = False  # past a bucket since the last accepted event (logged once)
    counted: bool = False  # in the metrics' open connections (until it closes)

    def take(self, bucket: str, rate_per_s: float, burst: float, start: float | None = None) -> bool:
        """Spend one token of `bucket`; False when the socket sends faster than rate allows.

        A new bucket holds `start` tokens (default: burst), which may exceed burst: a fresh
        connection joins, snapshots and sets itself up in one go."""
        now = time.monotonic()
        tokens, refilled = self.buckets.get(bucket) or (burst if start is None else start, now)
        if tokens < burst:
            tokens = min(burst, tokens + (now - refilled) * rate_per_s)
        if tokens < 1:
            self.buckets[bucket] = [tokens, now]
            return False
        self.buckets[bucket] = [tokens - 1, now]
        self.flooding = False
        return True


class Connections(dict[str, Conn]):
    """sid -> Conn for this worker."""

    def in_sessions(self) -> list[Conn]:
        """Sockets that are in a session (and so counted in presence)."""
        return [c for c in self.values() if c.session_id and c.member]
