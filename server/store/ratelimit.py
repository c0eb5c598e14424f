"""Rate limits kept in Redis, so they hold across workers and reconnects."""

from __future__ import annotations

import math

from server.errors import RateLimited
from server.store import keys, scripts
from server.store.connection import Client, fleeting


class RateLimiter:
    """Fixed-window counters: `limit` actions per `window` seconds per bucket."""

    def __init__(self, client: Client) -> None:
        self._script = scripts.load(fleeting(client), "ratelimit")  # paces only: no WAIT

    async def hit(self, bucket: str, limit: int, window: float) -> None:
        """Count one action; raise RateLimited (with retry_after seconds) past the limit."""
        allowed, ttl_ms = await self._script(keys=[keys.rate(bucket)], args=[limit, int(window * 1000)])
        if not allowed:
            retry = max(1, math.ceil(int(ttl_ms) / 1000))
            raise RateLimited(f"Too many requests; try again in {retry} s.", retry_after=retry)
