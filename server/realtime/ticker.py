"""Background loops that stop promptly and never hold a shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisClusterException, RedisError

logger = logging.getLogger(__name__)

Step = Callable[[], Awaitable[object]]


class Ticker:
    """Runs each step every so many seconds until stopped.

    Loops stop on an event rather than by cancellation alone: a cancel that lands inside
    a Redis call can be absorbed by the client library, and a loop that never sees it
    would hold shutdown forever. A failing step is logged and tried again next time.
    """

    def __init__(self) -> None:
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    def every(self, seconds: float, name: str, step: Step) -> None:
        """Start running step every `seconds`."""
        self._tasks.append(asyncio.create_task(self._loop(seconds, name, step), name=name))

    async def _loop(self, seconds: float, name: str, step: Step) -> None:
        failing = False  # store trouble is logged once per spell, in one line
        while not self._stop.is_set():
            try:
                await step()
                if failing:
                    logger.warning("%s works again", name)
                failing = False
            except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
                if not failing:
                    logger.warning("%s failed: %s; retrying", name, exc or type(exc).__name__)
                failing = True
            except Exception:
                logger.exception("%s failed; retrying", name)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), seconds)

    async def stop(self, grace: float) -> None:
        """Stop every loop, waiting at most `grace` seconds before cancelling."""
        self._stop.set()
        if not self._tasks:
            return
        _done, pending = await asyncio.wait(self._tasks, timeout=grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1)
        self._tasks.clear()
