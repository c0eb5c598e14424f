"""Connecting to Redis/Valkey with timeouts, health checks and retries with jittered backoff.

REDIS_URL names one server (redis://, rediss://, unix://), the Sentinels that know which
server is the primary (redis+sentinel://host:26379,host:26379/mymaster, or python-socketio's
form .../0/mymaster; every connection then goes to the current primary and follows a
failover), or nodes of a Redis/Valkey Cluster (redis+cluster://host:6379,host:6379, any
of its nodes: the client learns the rest and which node serves which slot, and follows
failovers and moved slots; rediss+cluster:// for TLS). Every key names its owner in a hash
tag (server/store/keys.py), so one session's keys are on one node.

Replication is asynchronous: a primary that dies takes with it the writes its replicas had not
received yet. With wait_replicas > 0 a client acknowledges a write only once that many replicas
hold it: each write (a command, a script, a pipeline) is followed on its own connection by WAIT
(which counts that connection's writes only), and a short count raises NotReplicated, which
callers answer as the retryable `unavailable`.

Every round trip of a client made here (a command, a script, a pipeline) can be reported to
an `observer` (the worker's metrics): set `client.observer`; `fleeting` views keep it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.client import Pipeline
from redis.asyncio.cluster import ClusterNode, ClusterPipeline, RedisCluster
from redis.asyncio.retry import Retry
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import MaxConnectionsError, RedisClusterException, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

# A redis.asyncio.Redis made with decode_responses=True. redis-py's annotations assume
# bytes replies whatever the option, so the stores treat replies as the str they are.
Client = Any

SENTINEL_SCHEMES = ("redis+sentinel", "valkey+sentinel")
SENTINEL_PORT = 26379
CLUSTER_SCHEMES = ("redis+cluster", "valkey+cluster", "rediss+cluster", "valkeys+cluster")
CLUSTER_PORT = 6379

# Told of each round trip: its command (args; a pipeline's first command, "PIPELINE" in front),
# how long it took, and the exception it raised (None when it answered).
Observer = Callable[[tuple[Any, ...], float, BaseException | None], None]


async def _observed(observer: Observer | None, args: tuple[Any, ...], call: Awaitable[Any]) -> Any:
    """Await call, telling observer how it went (a cancelled call is not reported)."""
    if observer is None:
        return await call
    start = time.perf_counter()
    try:
        reply = await call
    except Exception as exc:
        observer(args, time.perf_counter() - start, exc)
        raise
    observer(args, time.perf_counter() - start, None)
    return reply


def _pipeline_args(commands: Any) -> tuple[Any, ...]:
    """("PIPELINE", first command's args...) of a pipeline's queued commands."""
    for item in commands or ():
        args = getattr(item, "args", None) or item[0]  # a Cluster's PipelineCommand, or (args, options)
        return ("PIPELINE", *args)
    return ("PIPELINE",)


# What a store in trouble raises: redis-py's errors, and its Cluster client's own (a slot no
# node serves, during a failover, is not a RedisError).
STORE_ERRORS: tuple[type[Exception], ...] = (RedisError, RedisClusterException)

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


def _host_list(hosts: str, default_port: int, whose: str) -> list[tuple[str, int]]:
    """A URL's hosts, `h1:p1,h2,h3:p3`, as (host, port) pairs; default_port where none is given."""
    out = []
    for item in hosts.split(","):
        host, colon, port = item.strip().rpartition(":")
        if not colon:
            host, port = item.strip(), str(default_port)
        if not host or not port.isdigit() or "[" in host:
            raise ValueError(f"REDIS_URL: {item.strip()!r} is not {whose} host:port")
        out.append((host, int(port)))
    return out


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
    sentinels = _host_list(hosts, SENTINEL_PORT, "a Sentinel's")
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


@dataclass(frozen=True)
class ClusterUrl:
    """What a redis+cluster:// URL says: some nodes of the Cluster (the client asks them for
    the others), whether to use TLS, and the user and password of every node."""

    nodes: tuple[tuple[str, int], ...]
    tls: bool = False
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)

    def options(self) -> dict[str, Any]:
        """RedisCluster's arguments for these nodes."""
        out: dict[str, Any] = {"startup_nodes": [ClusterNode(host, port) for host, port in self.nodes]}
        if self.tls:
            out["ssl"] = True
        out.update({k: v for k, v in (("username", self.username), ("password", self.password)) if v})
        return out


def parse_cluster_url(url: str) -> ClusterUrl | None:
    """None for a URL that names no Cluster; ValueError for one that names it badly.

    Accepted: redis+cluster://[user:pw@]host[:port],host[:port][/] (valkey+cluster:// alike,
    rediss+cluster:// and valkeys+cluster:// with TLS). A Cluster has one database: no /db."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in CLUSTER_SCHEMES:
        return None
    userinfo, _, hosts = parts.netloc.rpartition("@")
    nodes = _host_list(hosts, CLUSTER_PORT, "a Cluster node's")
    if parts.path.strip("/") not in ("", "0") or parts.query or parts.fragment:
        raise ValueError(
            "REDIS_URL: a redis+cluster:// URL names nodes only, as in redis+cluster://host:6379,host:6379"
        )
    user, _, password = userinfo.partition(":")
    return ClusterUrl(tuple(nodes), scheme.startswith(("rediss", "valkeys")), user or None, password or None)


def is_cluster(url: str) -> bool:
    """Whether REDIS_URL names a Redis/Valkey Cluster."""
    return urlsplit(url).scheme.lower() in CLUSTER_SCHEMES


_IN_TURN: ContextVar[bool] = ContextVar("podium_cluster_in_turn", default=False)


class BoundedCluster(RedisCluster):
    """A Cluster client whose calls (a command, a script, a pipeline) wait for one of
    max_connections turns, up to wait_s, as the one-server pool waits for a free connection:
    redis-py's Cluster pools refuse a call past their size at once (MaxConnectionsError),
    which a burst of joins would hit. A call uses at most one connection per node, so no
    node's pool is ever full. Also: the client learns the Cluster's layout before its first
    call (many first calls at once can otherwise break each other's connections)."""

    def __init__(self, *, max_connections: int, wait_s: float | None, **kwargs: Any) -> None:
        super().__init__(max_connections=max_connections, **kwargs)
        self._turns = asyncio.Semaphore(max_connections)
        self._first = asyncio.Lock()
        self._wait_s = wait_s
        self.observer: Observer | None = None

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold one of the client's turns (a call made while holding one takes no other)."""
        if _IN_TURN.get():
            yield
            return
        if self._initialize:
            async with self._first:
                await self.initialize()
        try:
            async with asyncio.timeout(self._wait_s):
                await self._turns.acquire()
        except TimeoutError:
            raise RedisConnectionError(f"no free connection to the Cluster within {self._wait_s} s") from None
        token = _IN_TURN.set(True)
        try:
            yield
        finally:
            _IN_TURN.reset(token)
            self._turns.release()

    async def execute_command(self, *args: Any, **kwargs: Any) -> Any:
        """Run a command in a turn."""
        return await _observed(self.observer, args, self._execute_in_turn(*args, **kwargs))

    async def _execute_in_turn(self, *args: Any, **kwargs: Any) -> Any:
        async with self.turn():
            return await super().execute_command(*args, **kwargs)

    def pipeline(self, transaction: Any = None, shard_hint: Any = None) -> ClusterPipeline:
        """A pipeline that runs in one turn."""
        if shard_hint:
            raise RedisClusterException("shard_hint is deprecated in cluster mode")
        return BoundedPipeline(self, transaction)  # type: ignore[abstract]


class BoundedPipeline(ClusterPipeline):
    """A Cluster pipeline that waits for its client's turn."""

    async def execute(self, raise_on_error: bool = True, allow_redirections: bool = True) -> list[Any]:
        """Run the pipeline in one of the client's turns."""
        client = self.cluster_client
        assert isinstance(client, BoundedCluster)
        queued = getattr(self._execution_strategy, "_command_queue", ())
        call = self._execute_in_turn(client, raise_on_error, allow_redirections)
        return await _observed(client.observer, _pipeline_args(queued), call)  # type: ignore[no-any-return]

    async def _execute_in_turn(
        self, client: BoundedCluster, raise_on_error: bool, redirect: bool
    ) -> list[Any]:
        async with client.turn():
            return await super().execute(raise_on_error, redirect)


def _cluster(target: ClusterUrl, options: dict[str, Any], *, max_connections: int) -> RedisCluster:
    """A Cluster client: at most max_connections calls at once, a burst waiting (up to the
    socket timeout) for a turn."""
    kept = {k: v for k, v in options.items() if k not in ("max_connections", "timeout")}
    wait_s = options.get("timeout", options.get("socket_timeout"))
    return BoundedCluster(**target.options(), **kept, max_connections=max_connections, wait_s=wait_s)


def normalize_url(url: str) -> str:
    """A Sentinel URL in the one form both Podium and python-socketio read; a Cluster URL
    checked (ValueError if bad); others unchanged."""
    parse_cluster_url(url)
    target = parse_sentinel_url(url)
    return target.url if target else url


def _waits(commands: Any) -> bool:
    return any(str(args[0]).upper() not in READS for args, _options in commands)


class DurablePipeline(Pipeline):
    """A pipeline whose writes are followed by WAIT on the connection that made them."""

    replicas = 0
    wait_timeout_ms = 0
    observer: Observer | None = None

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        """Run the queued commands in one round trip (told to the client's observer)."""
        args = _pipeline_args(self.command_stack)
        return await _observed(self.observer, args, super().execute(raise_on_error))  # type: ignore[no-any-return]

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
    observer: Observer | None = None

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        """Run a command; a write, with WAIT after it in the same round trip."""
        return await _observed(self.observer, args, self._execute(*args, **options))

    async def _execute(self, *args: Any, **options: Any) -> Any:
        if not self.replicas or str(args[0]).upper() in READS:
            return await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        async with self.pipeline(transaction=False) as pipe:
            pipe.observer = None  # the command is observed as itself, not as a pipeline
            pipe.execute_command(*args, **options)
            (reply,) = await pipe.execute(raise_on_error=False)
        if isinstance(reply, Exception):
            raise reply  # as is (a pipeline would have rewritten its message), e.g. NOSCRIPT
        return reply

    def pipeline(self, transaction: bool = True, shard_hint: str | None = None) -> DurablePipeline:
        """A pipeline (or MULTI/EXEC transaction) whose writes are waited for like the client's."""
        pipe = DurablePipeline(self.connection_pool, self.response_callbacks, transaction, shard_hint)
        pipe.replicas, pipe.wait_timeout_ms = self.replicas, self.wait_timeout_ms
        pipe.observer = self.observer
        return pipe

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        """Close the connections, and those to the Sentinels when this client made them."""
        owner = close_connection_pool or (close_connection_pool is None and self.auto_close_connection_pool)
        try:
            await super().aclose(close_connection_pool)
        finally:  # also when closing failed (a primary gone mid-failover)
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
    view = DurableRedis(connection_pool=client.connection_pool)  # a view: it does not own the pool
    view.observer = client.observer
    return view


def connect(
    url: str,
    *,
    socket_timeout: float = 5.0,
    health_check_interval: int = 15,
    max_connections: int = 64,
    wait_replicas: int = 0,
    wait_timeout_ms: int = 500,
    observer: Observer | None = None,
) -> Client:
    """A client on a pool of at most max_connections; a burst waits for a free connection
    (up to socket_timeout) instead of failing. Retried commands must be idempotent (ours
    are: sets, and Lua scripts keyed by ids). With wait_replicas, writes wait for replicas.
    observer is told of every round trip."""
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
    cluster = parse_cluster_url(url)
    if cluster is not None:
        if wait_replicas:
            raise ValueError("redis.wait_replicas is not supported on a Cluster (docs/operations.md)")
        client = _cluster(cluster, options, max_connections=max_connections)
        client.observer = observer
        return client
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
    client.observer = observer
    return client


def dedicated(
    url: str,
    *,
    name: str,
    socket_timeout: float | None,
    connect_timeout: float = 5.0,
    observer: Observer | None = None,
) -> Client:
    """A client on one connection of its own, for a loop that must neither wait behind
    request traffic nor hold a connection requests wait for (the feed's blocking reads,
    presence heartbeats and sweeps). It reconnects by itself after a failure (to the new
    primary, after a failover). Its writes never WAIT: what such loops write is rebuilt.
    observer is told of every round trip (leave it out for blocking reads: their time is
    the wait, not the store's)."""
    client = _dedicated(url, name=name, socket_timeout=socket_timeout, connect_timeout=connect_timeout)
    client.observer = observer
    return client


def _dedicated(url: str, *, name: str, socket_timeout: float | None, connect_timeout: float) -> Client:
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": connect_timeout,
        "client_name": name,
    }
    cluster = parse_cluster_url(url)
    if cluster is not None:
        # A client of its own, with a connection of its own to each node it talks to (more
        # than one to a node only while several of its calls wait there at once: the feed's
        # reads, one per slot it reads).
        return _cluster(cluster, options, max_connections=1000)
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


def store_trouble(exc: BaseException) -> str:
    """What to tell a caller whose request failed on the store: that Podium is busy, when no
    connection was free in time (a burst: retried, it gets through), or that the store cannot
    be reached (an outage)."""
    busy = isinstance(exc, MaxConnectionsError) or any(
        marker in str(exc) for marker in ("No connection available", "no free connection")
    )
    if busy:
        return "Podium is busy; trying again shortly."
    return "Podium cannot reach its store; try again shortly."
