"""Rate limits held in Redis."""

from __future__ import annotations

import asyncio

import pytest

from server.errors import RateLimited
from server.store.ratelimit import RateLimiter


async def test_the_limit_holds_under_concurrency_and_resets_with_the_window(rclient):
    rl = RateLimiter(rclient)
    results = await asyncio.gather(*(rl.hit("b", 5, 0.5) for _ in range(20)), return_exceptions=True)
    assert sum(r is None for r in results) == 5
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert len(refused) == 15 and refused[0].details["retry_after"] >= 1
    await asyncio.sleep(0.6)
    await rl.hit("b", 5, 0.5)


async def test_buckets_are_independent(rclient):
    rl = RateLimiter(rclient)
    await rl.hit("a", 1, 10)
    await rl.hit("b", 1, 10)
    with pytest.raises(RateLimited):
        await rl.hit("a", 1, 10)
