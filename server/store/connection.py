"""Connecting to Redis/Valkey with timeouts, health checks and retries with jittered backoff."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# A redis.asyncio.Redis made with decode_responses=True. redis-py's annotations assume
# bytes replies whatever the option, so the stores treat replies as the str they are.
Client = Any


def connect(
    url: str,
    *,
    socket_timeout: float = 5.0,
    health_check_interval: int = 15,
    max_connections: int = 64,
) -> Client:
    """A client on a pool of at most max_connections; a burst waits for a free connection
    (up to socket_timeout) instead of failing. Retried commands must be idempotent (ours
    are: sets, and Lua scripts keyed by ids)."""
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=max_connections,
        timeout=socket_timeout,
        decode_responses=True,
        socket_timeout=socket_timeout,
        socket_connect_timeout=socket_timeout,
        health_check_interval=health_check_interval,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=3),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        client_name="podium",
    )
    return aioredis.Redis.from_pool(pool)  # the client owns the pool and closes it


def dedicated(url: str, *, name: str, socket_timeout: float | None, connect_timeout: float = 5.0) -> Client:
    """A client on one connection of its own, for a loop that must neither wait behind
    request traffic nor hold a connection requests wait for (the feed's blocking reads,
    presence heartbeats and sweeps). It reconnects by itself after a failure."""
    return aioredis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=socket_timeout,
        socket_connect_timeout=connect_timeout,
        single_connection_client=True,
        client_name=name,
    )
