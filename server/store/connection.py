"""Connecting to Redis/Valkey with timeouts, health checks and retries with jittered backoff.

REDIS_URL names one server (redis://, rediss://, unix://) or the Sentinels that know which
server is the primary (redis+sentinel://host:26379,host:26379/mymaster, or python-socketio's
form .../0/mymaster); every connection then goes to the current primary and follows a failover.

Replication is asynchronous: a primary that dies takes with it the writes its replicas had not
received yet. With wait_replicas > 0 a client acknowledges a write only once that many replicas
hold it: each write (a command, a script, a pipeline) is followed on its own connection by WAIT
(which counts that connection's writes only), and a short count raises NotReplicated, which
callers answer as the retryable `unavailable`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

# A redis.asyncio.Redis made with decode_responses=True. redis-py's annotations assume
# bytes replies whatever the option, so the stores treat replies as the str they are.
Client = Any

SENTINEL_SCHEMES = ("redis+sentinel", "valkey+sentinel")
SENTINEL_PORT = 26379

# Commands that change no data: everything else a durable client sends is followed by WAIT.
# (A write missing here would only cost a WAIT; a read missing here costs one too, so keep it
# in step with what the stores read.)
READS = frozenset(
    {
        "GET", "MGET", "STRLEN", "GETRANGE", "EXISTS", "TYPE", "TTL", "PTTL", "SCAN", "DBSIZE",
        "HGET", "HMGET", "HGETALL", "HKEYS", "HVALS", "HLEN", "HEXISTS", "HSCAN", "HSTRLEN",
        "SMEMBERS", "SISMEMBER", "SMISMEMBER", "SCARD", "SRANDMEMBER", "SSCAN", "SINTER", "SUNION",
        "ZRANGE", "ZREVRANGE", "ZRANGEBYSCORE", "ZREVRANGEBYSCORE", "ZSCORE", "ZMSCORE", "ZCARD",
        "ZCOUNT", "ZRANK", "ZREVRANK", "ZSCAN",
        "LRANGE", "LLEN", "LINDEX", "XRANGE", "XREVRANGE", "XLEN", "XREAD",
        "EVALSHA_RO", "EVAL_RO", "SCRIPT LOAD", "SCRIPT EXISTS",
        "PING", "ECHO", "INFO", "TIME", "ROLE", "WAIT", "PUBLISH", "CLIENT SETNAME", "CLIENT ID",
    }
)  # fmt: skip


class NotReplicated(RedisError):
    """A write reached the primary but not enough replicas in time. It was not acknowledged:
    it may or may not survive a failover, and the caller retries it (Podium's writes are
    idempotent: ids, sets, absolute values)."""


@dataclass(frozen=True)
class SentinelUrl:
    """What a redis+sentinel:// URL says: where the Sentinels are and which primary to ask for."""

    scheme: str
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    userinfo: str = field(default="", repr=False)  # user:password of the primary and replicas

    @property
    def url(self) -> str:
        """The form python-socketio parses (redis+sentinel://[user:pw@]h:p,h:p/db/service)."""
        auth = f"{self.userinfo}@" if self.userinfo else ""
        hosts = ",".join(f"{host}:{port}" for host, port in self.sentinels)
        return f"{self.scheme}://{auth}{hosts}/{self.db}/{self.service}"

    def credentials(self) -> dict[str, Any]:
        """username/password for the data nodes, read as python-socketio reads them (verbatim:
        both clients must agree, so a password must not need %-escaping)."""
        parts = urlsplit(self.url)
        return {k: v for k, v in (("username", parts.username), ("password", parts.password)) if v}

    def sentinel(self, timeout: float) -> Sentinel:
        """A Sentinel client (each lookup asks them in turn until one knows the primary)."""
        return Sentinel(  # type: ignore[no-untyped-call]
            list(self.sentinels),
            sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
        )


def parse_sentinel_url(url: str) -> SentinelUrl | None:
    """None for a URL that names no Sentinels; ValueError for one that names them badly.

    Accepted: redis+sentinel://[user:pw@]host[:port],host[:port]/mymaster and python-socketio's
    redis+sentinel://[user:pw@]host:port,host:port/db/mymaster (valkey+sentinel:// alike).
    A lone number after the hosts is refused: python-socketio would read it as the database
    and ask the Sentinels for a primary named after its channel."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in SENTINEL_SCHEMES:
        return None
    userinfo, _, hosts = parts.netloc.rpartition("@")
    sentinels = []
    for item in hosts.split(","):
        host, colon, port = item.strip().rpartition(":")
        if not colon:
            host, port = item.strip(), str(SENTINEL_PORT)
        if not host or not port.isdigit() or "[" in host:
            raise ValueError(f"REDIS_URL: {item.strip()!r} is not a Sentinel's host:port")
        sentinels.append((host, int(port)))
    segments = [s for s in parts.path.split("/") if s]
    if len(segments) == 2 and segments[0].isdigit() and not segments[1].isdigit():
        db, service = int(segments[0]), segments[1]
    elif len(segments) == 1 and not segments[0].isdigit():
        db, service = 0, segments[0]
    else:
        raise ValueError(
            "REDIS_URL: name the primary after the Sentinels, as in "
            "redis+sentinel://host:26379,host:26379/mymaster (or .../0/mymaster)"
        )
    if parts.query or parts.fragment:
        raise ValueError("REDIS_URL: a redis+sentinel:// URL takes no ?options")
    return SentinelUrl(scheme, tuple(sentinels), service, db, userinfo)


def normalize_url(url: str) -> str:
    """A Sentinel URL in the one form both Podium and python-socketio read; others unchanged."""
    target = parse_sentinel_url(url)
    return target.url if target else url


def _waits(commands: Any) -> bool:
    return any(str(args[0]).upper() not in READS for args, _options in commands)


class DurablePipeline(Pipeline):
    """A pipeline whose writes are followed by WAIT on the connection that made them."""

    replicas = 0
    wait_timeout_ms = 0

    async def _execute_pipeline(self, connection: Any, commands: Any, raise_on_error: bool) -> Any:
        if not self.replicas or not _waits(commands):
            return await super()._execute_pipeline(connection, commands, raise_on_error)
        # WAIT rides in the same round trip, after the writes it vouches for.
        wait: Any = (("WAIT", self.replicas, self.wait_timeout_ms), {})
        replies = await super()._execute_pipeline(connection, [*commands, wait], False)
        acked = replies.pop()
        if raise_on_error:
            self.raise_first_error(commands, replies)
        if not any(isinstance(reply, Exception) for reply in replies):
            self._check(acked)  # else the command's own error (READONLY, NOREPLICAS...) stands
        return replies

    async def _execute_transaction(self, connection: Any, commands: Any, raise_on_error: bool) -> Any:
        replies = await super()._execute_transaction(connection, commands, raise_on_error)
        if self.replicas and _waits(commands):
            # WAIT inside MULTI would not block: it goes after EXEC, on the same connection.
            await connection.send_command("WAIT", self.replicas, self.wait_timeout_ms)
            self._check(await connection.read_response())
        return replies

    def _check(self, acked: Any) -> None:
        if isinstance(acked, Exception):
            raise acked
        if int(acked) < self.replicas:
            raise NotReplicated(
                f"the write reached {acked} of {self.replicas} replicas in {self.wait_timeout_ms} ms"
            )


class DurableRedis(aioredis.Redis):
    """A client that, with `replicas` > 0, acknowledges no write before that many replicas hold
    it (see the module's docstring). Reads, and clients with replicas = 0, are plain redis-py."""

    replicas = 0
    wait_timeout_ms = 500

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        """Run a command; a write, with WAIT after it in the same round trip."""
        if not self.replicas or str(args[0]).upper() in READS:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        async with self.pipeline(transaction=False) as pipe:
            pipe.execute_command(*args, **options)
            (reply,) = await pipe.execute(raise_on_error=False)
        if isinstance(reply, Exception):
            raise reply  # as is (a pipeline would have rewritten its message), e.g. NOSCRIPT
        return reply

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> DurablePipeline:
        """A pipeline (or MULTI/EXEC transaction) whose writes are waited for like the client's."""
        pipe = DurablePipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.replicas, pipe.wait_timeout_ms = self.replicas, self.wait_timeout_ms
        return pipe

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        """Close the connections, and those to the Sentinels when this client made them."""
        owner = close_connection_pool or (close_connection_pool is None and self.auto_close_connection_pool)
        await super().aclose(close_connection_pool)
        if owner and isinstance(self.connection_pool, SentinelConnectionPool):
            await self.connection_pool.sentinel_manager.aclose()


class BlockingSentinelPool(SentinelConnectionPool, aioredis.BlockingConnectionPool):
    """Connections to whichever server the Sentinels call the primary, at most max_connections
    of them; a burst waits for a free one (up to `timeout`) instead of failing."""


def fleeting(client: Client) -> Client:
    """The same pool without WAIT, for state that need not outlive its primary: it is rebuilt
    (presence by heartbeats and sweeps), only paces something (rate limits, gates), or is
    logged again from replicated state (coalesced counts, wake-ups)."""
    if not isinstance(client, DurableRedis) or not client.replicas:
        return client
    return DurableRedis(connection_pool=client.connection_pool)  # a view: it does not own the pool


def connect(
    url: str,
    *,
    socket_timeout: float = 5.0,
    health_check_interval: int = 15,
    max_connections: int = 64,
    wait_replicas: int = 0,
    wait_timeout_ms: int = 500,
) -> Client:
    """A client on a pool of at most max_connections; a burst waits for a free connection
    (up to socket_timeout) instead of failing. Retried commands must be idempotent (ours
    are: sets, and Lua scripts keyed by ids). With wait_replicas, writes wait for replicas."""
    options: dict[str, Any] = {
        "max_connections": max_connections,
        "timeout": socket_timeout,
        "decode_responses": True,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        "health_check_interval": health_check_interval,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.05, cap=1.0), retries=3),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
        "client_name": "podium",
    }
    client: Any
    target = parse_sentinel_url(url)
    if target is None:
        client = DurableRedis.from_pool(aioredis.BlockingConnectionPool.from_url(url, **options))
    else:
        client = target.sentinel(socket_timeout).master_for(
            target.service,
            redis_class=DurableRedis,
            connection_pool_class=BlockingSentinelPool,
            db=target.db,
            **target.credentials(),
            **options,
        )  # the client owns the pool and closes it, and the Sentinel clients with it
    client.replicas, client.wait_timeout_ms = wait_replicas, wait_timeout_ms
    return client


def dedicated(url: str, *, name: str, socket_timeout: float | None, connect_timeout: float = 5.0) -> Client:
    """A client on one connection of its own, for a loop that must neither wait behind
    request traffic nor hold a connection requests wait for (the feed's blocking reads,
    presence heartbeats and sweeps). It reconnects by itself after a failure (to the new
    primary, after a failover). Its writes never WAIT: what such loops write is rebuilt."""
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        "client_name": name,
    }
    target = parse_sentinel_url(url)
    if target is None:
        return DurableRedis.from_url(url, single_connection_client=True, **options)
    sentinel = target.sentinel(connect_timeout)
    pool = SentinelConnectionPool(  # type: ignore[no-untyped-call]
        target.service, sentinel, db=target.db, **target.credentials(), **options
    )
    client = DurableRedis(connection_pool=pool, single_connection_client=True)
    client.auto_close_connection_pool = True  # as from_url's: closing the client closes its pool
    return client
