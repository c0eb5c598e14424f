"""Each worker's guard against being swamped: at most so many connects, joins and other
events in flight.

A crowd arriving at once (a keynote starting, a worker's clients coming back after it died)
queued everything behind the store's connection pool until it all timed out, and some
connects were never answered. Past the limit a connect or join is refused at once, cheaply,
with `unavailable` and a time to come back (the browser adds its own jitter), while those
already let in finish quickly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from server.errors import Unavailable


class Gate:
    """Counts what is in flight per kind; refuses past each kind's limit, and everything
    once the worker is draining (stopping: what is in flight finishes, nothing new starts)."""

    def __init__(self, limits: dict[str, int]) -> None:
        self.limits = dict(limits)
        self.inside = dict.fromkeys(limits, 0)
        self.refused = dict.fromkeys(limits, 0)
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    async def drain(self, within: float) -> int:
        """Refuse from now on and wait (at most `within` s) for what is in flight; returns how
        many were still in flight at the deadline."""
        self.draining = True
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), within)
        return sum(self.inside.values())

    @contextlib.contextmanager
    def slot(self, kind: str) -> Iterator[None]:
        """Hold one place of `kind` for the block; Unavailable (retryable) when all are taken."""
        if self.draining:
            raise Unavailable("This Podium worker is stopping; trying again shortly.", retry_after=1)
        if self.inside[kind] >= self.limits[kind]:
            self.refused[kind] += 1
            # Come back later the busier it is: one to three seconds (the client adds jitter).
            retry = 1 + min(2, self.refused[kind] // max(1, self.limits[kind]))
            raise Unavailable("Podium is busy; trying again shortly.", retry_after=retry)
        self.inside[kind] += 1
        self._idle.clear()
        try:
            yield
        finally:
            self.inside[kind] -= 1
            if not any(self.inside.values()):
                self._idle.set()
