"""Store topologies for tests, made of real Valkey processes on free loopback ports: a primary
with replicas watched by Sentinels, and a Cluster of primaries. The binary is the one Podium embeds
(server.store.embedded.find_binary()); Sentinels are the same binary with --sentinel.

A test starts a topology, does harm to it (SIGKILL a primary), waits for it to heal, and stops
every process it started, also when the test fails:

    async with SentinelSet(tmp_path / "stores") as stores:
        url = stores.url              # redis+sentinel://:password@127.0.0.1:p1,.../0/mymaster
        old = stores.kill_primary()
        new = await stores.wait_failover(old)
        await stores.revive(old)      # back, as a replica of the new primary
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from server.store.embedded import find_binary
from tests.conftest import free_port


@dataclass
class Node:
    """One Valkey process: a data node (primary or replica) or a Sentinel."""

    name: str
    port: int
    dir: Path
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    password: str | None = field(default=None, repr=False)

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [find_binary(), *self.args],
            cwd=self.dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a terminal's Ctrl-C reaches pytest, whose teardown stops it
        )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no last word to anyone (a machine that lost power)."""
        if self.running():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 5.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def client(self, timeout: float = 0.5) -> redis.Redis:
        """A short-lived synchronous client (close it)."""
        return redis.Redis(
            port=self.port, password=self.password, socket_timeout=timeout, decode_responses=True
        )

    def ask(self, *command: Any) -> Any:
        """One command, or None if the node does not answer."""
        client = self.client()
        try:
            return client.execute_command(*command)
        except redis.RedisError:
            return None
        finally:
            client.close()

    def log(self, lines: int = 30) -> str:
        path = self.dir / "valkey.log"
        tail = path.read_text(errors="replace").splitlines()[-lines:] if path.exists() else []
        return f"--- {self.name} (port {self.port}) ---\n" + "\n".join(tail)


async def until(what: str, check: Any, timeout: float, every: float = 0.05) -> Any:
    """Poll check() (a function or a coroutine function; the loop runs between polls) until
    it returns something truthy; return it. AssertionError naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(every)


class SentinelSet:
    """A Valkey primary, `replicas` replicas and `sentinels` Sentinels (quorum: a majority)
    on loopback, with a password, no persistence (a revived node resyncs from the primary),
    and timings short enough for a test: a primary silent for down_after_ms is down."""

    def __init__(
        self,
        root: Path,
        *,
        replicas: int = 1,
        sentinels: int = 3,
        service: str = "mymaster",
        down_after_ms: int = 1000,
        failover_timeout_ms: int = 2000,
        min_replicas: int = 0,
    ) -> None:
        self.root = root
        self.service = service
        self.password = secrets.token_urlsafe(16)
        self.down_after_ms = down_after_ms
        self.failover_timeout_ms = failover_timeout_ms
        self.min_replicas = min_replicas
        self.data = [self._data_node(f"valkey-{i}") for i in range(1 + replicas)]
        self.sentinels = [self._sentinel_node(f"sentinel-{i}") for i in range(sentinels)]

    # --- layout ---------------------------------------------------------------------------

    def _data_node(self, name: str) -> Node:
        port = free_port()
        args = [
            "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "no",
            "--dir", ".", "--logfile", "valkey.log", "--save", "", "--appendonly", "no",
            "--requirepass", self.password, "--masterauth", self.password,
            # A replica that lost its primary resyncs at once (the default waits 5 s for others).
            "--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0",
            # The server-side half of "no acknowledged write lost" (docs/operations.md).
            "--min-replicas-to-write", str(self.min_replicas), "--min-replicas-max-lag", "10",
        ]  # fmt: skip
        return Node(name, port, self.root / name, args, password=self.password)

    def _sentinel_node(self, name: str) -> Node:
        port = free_port()
        conf = self.root / name / "sentinel.conf"  # the Sentinel rewrites it as it learns
        return Node(name, port, self.root / name, [str(conf), "--sentinel"])

    def _sentinel_conf(self, node: Node, primary: Node) -> str:
        quorum = len(self.sentinels) // 2 + 1
        s = self.service
        return "\n".join(
            [
                f"port {node.port}",
                "bind 127.0.0.1",
                "daemonize no",
                f"dir {node.dir}",
                "logfile valkey.log",
                f"sentinel monitor {s} 127.0.0.1 {primary.port} {quorum}",
                f"sentinel auth-pass {s} {self.password}",
                f"sentinel down-after-milliseconds {s} {self.down_after_ms}",
                f"sentinel failover-timeout {s} {self.failover_timeout_ms}",
                f"sentinel parallel-syncs {s} 1",
                "",
            ]
        )

    @property
    def url(self) -> str:
        """REDIS_URL for Podium (the simple form; Podium's settings rewrite it for socketio)."""
        hosts = ",".join(f"127.0.0.1:{n.port}" for n in self.sentinels)
        return f"redis+sentinel://:{self.password}@{hosts}/{self.service}"

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self, timeout: float = 20.0) -> None:
        """Start everything and wait until the replicas are in sync and every Sentinel knows
        the primary, each replica and each other Sentinel (so a failover can be voted)."""
        primary, *replicas = self.data
        primary.start()
        for replica in replicas:
            replica.args += ["--replicaof", "127.0.0.1", str(primary.port)]
            replica.start()
        await until("the replicas to sync", lambda: self._in_sync(primary, len(replicas)), timeout)
        for node in self.sentinels:
            node.dir.mkdir(parents=True, exist_ok=True)
            (node.dir / "sentinel.conf").write_text(self._sentinel_conf(node, primary))
            node.start()
        await until("the Sentinels to know each other", lambda: self._watched(primary), timeout)

    def _in_sync(self, primary: Node, replicas: int) -> bool:
        return len(self._online(primary)) >= replicas

    def _online(self, primary: Node) -> set[int]:
        """The ports of the replicas in sync with primary."""
        info = primary.ask("INFO", "replication") or {}
        rows = [v for k, v in info.items() if k.startswith("slave") and isinstance(v, dict)]
        return {int(r["port"]) for r in rows if r.get("state") == "online"}

    def _watched(self, primary: Node) -> bool:
        for node in self.sentinels:
            state = self._master_state(node)
            if state is None or int(state.get("port", 0)) != primary.port:
                return False
            if int(state["num-slaves"]) < len(self.data) - 1:
                return False
            if int(state["num-other-sentinels"]) < len(self.sentinels) - 1:
                return False
        return True

    def _master_state(self, sentinel: Node) -> dict[str, Any] | None:
        reply = sentinel.ask("SENTINEL", "MASTER", self.service)
        if not reply:
            return None
        return dict(zip(reply[::2], reply[1::2], strict=True)) if isinstance(reply, list) else dict(reply)

    def stop(self) -> None:
        """Stop every process this set started (Sentinels first: no failover on the way out)."""
        for node in [*self.sentinels, *self.data]:
            node.stop()

    async def __aenter__(self) -> SentinelSet:
        try:
            await self.start()
        except BaseException:
            self.stop()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- faults ---------------------------------------------------------------------------

    def primary(self) -> Node:
        """The data node the Sentinels name as primary now."""
        for sentinel in self.sentinels:
            addr = sentinel.ask("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
            if addr:
                return next(n for n in self.data if n.port == int(addr[1]))
        raise AssertionError("no Sentinel names a primary")

    def kill_primary(self) -> Node:
        """SIGKILL the current primary; returns it."""
        node = self.primary()
        node.kill()
        return node

    async def wait_failover(self, old: Node, timeout: float = 20.0) -> Node:
        """Wait until every Sentinel names another primary and that node says it is one."""

        def promoted() -> Node | None:
            ports = set()
            for sentinel in self.sentinels:
                addr = sentinel.ask("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.service)
                ports.add(int(addr[1]) if addr else 0)
            if len(ports) != 1 or old.port in ports or 0 in ports:
                return None
            node = next(n for n in self.data if n.port in ports)
            role = node.ask("ROLE")
            return node if role and role[0] == "master" else None

        return await until("the Sentinels to promote a replica", promoted, timeout)

    async def revive(self, node: Node, timeout: float = 20.0) -> None:
        """Start a dead data node again as a replica of the current primary, as a careful
        operator does (started as it was, it would call itself a primary until the Sentinels
        turn it, some 8 s later), and wait until it is in sync."""
        primary = self.primary()
        with contextlib.suppress(ValueError):
            i = node.args.index("--replicaof")
            del node.args[i : i + 3]
        node.args += ["--replicaof", "127.0.0.1", str(primary.port)]
        node.start()
        await until(
            f"{node.name} to sync from {primary.name}", lambda: node.port in self._online(primary), timeout
        )

    def logs(self) -> str:
        """The tail of every node's log, for a failing test's report."""
        return "\n".join(node.log() for node in [*self.data, *self.sentinels])


class ClusterSet:
    """A Valkey Cluster of `primaries` primaries (no replicas) on loopback, the 16384 slots
    split evenly between them in order, joined with CLUSTER MEET; no persistence, no password.

        with ClusterSet(tmp_path / "cluster") as cluster:
            url = cluster.url                     # redis+cluster://127.0.0.1:p1,...
            cluster.node_of("podium:ses:{abc}")   # the primary that serves a key
    """

    SLOTS = 16384

    def __init__(self, root: Path, *, primaries: int = 3, node_timeout_ms: int = 2000) -> None:
        self.root = root
        self.nodes = []
        self.bus_ports: dict[str, int] = {}
        for i in range(primaries):
            port, bus = free_port(), free_port()
            args = [
                "--port", str(port), "--bind", "127.0.0.1", "--daemonize", "no",
                "--dir", ".", "--logfile", "valkey.log", "--save", "", "--appendonly", "no",
                "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                "--cluster-port", str(bus), "--cluster-node-timeout", str(node_timeout_ms),
            ]  # fmt: skip
            self.nodes.append(Node(f"cluster-{i}", port, root / f"cluster-{i}", args))
            self.bus_ports[f"cluster-{i}"] = bus
        step = self.SLOTS // primaries
        self.ranges = [
            (i * step, self.SLOTS - 1 if i == primaries - 1 else (i + 1) * step - 1) for i in range(primaries)
        ]

    @property
    def url(self) -> str:
        """REDIS_URL for Podium: every node (one would do: the client learns the others)."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes)

    def start(self, timeout: float = 20.0) -> None:
        """Start the nodes, give each its slots, introduce them, and wait until every node
        says the Cluster is ok and knows every other."""
        for node in self.nodes:
            node.start()
        self._wait("every node to answer", lambda: all(n.ask("PING") for n in self.nodes), timeout)
        for node, (low, high) in zip(self.nodes, self.ranges, strict=True):
            node.ask("CLUSTER", "ADDSLOTSRANGE", low, high)
        first, *others = self.nodes
        for node in others:
            first.ask("CLUSTER", "MEET", "127.0.0.1", node.port, self.bus_ports[node.name])
        self._wait("the Cluster to be ok", self._ok, timeout)

    def _ok(self) -> bool:
        for node in self.nodes:
            info = node.ask("CLUSTER", "INFO")
            if not info:
                return False
            if isinstance(info, str):
                info = dict(line.split(":", 1) for line in info.split() if ":" in line)
            if info.get("cluster_state") != "ok" or int(info.get("cluster_known_nodes", 0)) != len(
                self.nodes
            ):
                return False
        return True

    @staticmethod
    def _wait(what: str, check: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout} s waiting for {what}")
            time.sleep(0.05)

    def slot(self, key: str) -> int:
        """The slot of a key."""
        return int(self.nodes[0].ask("CLUSTER", "KEYSLOT", key))

    def node_of(self, key: str) -> Node:
        """The primary that serves key's slot."""
        slot = self.slot(key)
        return next(n for n, (lo, hi) in zip(self.nodes, self.ranges, strict=True) if lo <= slot <= hi)

    def keys_by_node(self, match: str = "*") -> dict[str, list[str]]:
        """Every key each primary holds (that matches)."""
        out = {}
        for node in self.nodes:
            client = node.client(timeout=2)
            try:
                out[node.name] = sorted(str(k) for k in client.scan_iter(match=match, count=1000))
            finally:
                client.close()
        return out

    def flush(self) -> None:
        """Empty every node."""
        for node in self.nodes:
            node.ask("FLUSHALL")

    def stop(self) -> None:
        """Stop every node this set started."""
        for node in self.nodes:
            node.stop()

    def logs(self) -> str:
        """The tail of every node's log, for a failing test's report."""
        return "\n".join(node.log() for node in self.nodes)

    def __enter__(self) -> ClusterSet:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
