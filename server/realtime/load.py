"""Each worker's guard against being swamped: at most so many connects and joins in flight.

A crowd arriving at once (a keynote starting, a worker's clients coming back after it died)
queued everything behind the store's connection pool until it all timed out, and some
connects were never answered. Past the limit a connect or join is refused at once, cheaply,
with `unavailable` and a time to come back (the browser adds its own jitter), while those
already let in finish quickly."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from server.errors import Unavailable


class Gate:
    """Counts what is in flight per kind; refuses past each kind's limit."""

    def __init__(self, limits: dict[str, int]) -> None:
        self.limits = dict(limits)
        self.inside = dict.fromkeys(limits, 0)
        self.refused = dict.fromkeys(limits, 0)

    @contextlib.contextmanager
    def slot(self, kind: str) -> Iterator[None]:
        """Hold one place of `kind` for the block; Unavailable (retryable) when all are taken."""
        if self.inside[kind] >= self.limits[kind]:
            self.refused[kind] += 1
            # Come back later the busier it is: one to three seconds (the client adds jitter).
            retry = 1 + min(2, self.refused[kind] // max(1, self.limits[kind]))
            raise Unavailable("Podium is busy; trying again shortly.", retry_after=retry)
        self.inside[kind] += 1
        try:
            yield
        finally:
            self.inside[kind] -= 1
