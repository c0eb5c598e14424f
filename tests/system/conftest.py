"""Helpers for system tests: real `podium` processes on real ports, real sockets, real Valkey.

Every process a test starts goes through the `procs` fixture, which stops it at the end
(SIGTERM, then SIGKILL of its whole process group and of any pid registered with it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from server.process import alive, children, cmdline
from server.store import keys
from tests.conftest import Api, Connected, free_port

__all__ = ["alive", "children", "cmdline"]  # the /proc helpers, shared with server and bench

REPO = Path(__file__).resolve().parents[2]
SECRET = "system-test-secret-not-for-production"

# Environment variables a test controls itself: never inherit them from the caller.
_CONTROLLED = ("REDIS_URL", "PORT", "HOST", "WEB_CONCURRENCY")


# --- processes ----------------------------------------------------------------------


def listeners(port: int) -> int:
    """How many sockets listen on 127.0.0.1:port (one per worker sharing it)."""
    want = f"0100007F:{port:04X}"
    n = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == want and fields[3] == "0A":  # 0A: LISTEN
            n += 1
    return n


async def wait_gone(pids: list[int], timeout: float) -> list[int]:
    """Wait until none of pids runs; returns those still running at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if alive(pid)]
        if not left or time.monotonic() >= deadline:
            return left
        await asyncio.sleep(0.05)


def base_env(**extra: str) -> dict[str, str]:
    """The caller's environment without anything that configures Podium, plus extra."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in _CONTROLLED and not k.startswith("PODIUM_") and not k.startswith("PYTEST")
    }
    env.update(extra)
    return env


class Proc:
    """One `python -m server ...` process in its own process group, output kept in files."""

    def __init__(self, args: list[str], env: dict[str, str], logdir: Path, name: str) -> None:
        logdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.out_path = logdir / f"{name}.out"
        self.err_path = logdir / f"{name}.err"
        with open(self.out_path, "ab") as out, open(self.err_path, "ab") as err:
            self.popen = subprocess.Popen(
                [sys.executable, "-m", "server", *args],
                env=env,
                cwd=REPO,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own group: the test can signal it like a terminal
            )
        self.pid = self.popen.pid
        self.pgid = self.pid

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def logs(self, lines: int = 40) -> str:
        tail = self.stderr().splitlines()[-lines:]
        return f"--- {self.name} (pid {self.pid}) stderr, last {len(tail)} lines ---\n" + "\n".join(tail)

    def running(self) -> bool:
        return self.popen.poll() is None

    async def wait(self, timeout: float) -> int | None:
        """The exit code, or None if it is still running after timeout (without blocking the loop)."""
        deadline = time.monotonic() + timeout
        while self.popen.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.popen.poll()

    def signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)

    def kill(self) -> None:
        """SIGKILL this process only (its children are left to whatever they do about it)."""
        with contextlib.suppress(ProcessLookupError):
            self.popen.send_signal(signal.SIGKILL)


class Procs:
    """Every process a test started; stop_all() leaves none behind."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.started: list[Proc] = []
        self.extra_pids: list[tuple[int, bytes]] = []

    def start(self, args: list[str], env: dict[str, str], name: str) -> Proc:
        proc = Proc(args, env, self.logdir, f"{len(self.started):02d}-{name}")
        self.started.append(proc)
        return proc

    def track(self, pid: int) -> None:
        """Also kill pid at the end (only if it still runs the same program)."""
        self.extra_pids.append((pid, cmdline(pid)))

    def logs(self) -> str:
        return "\n".join(p.logs() for p in self.started)

    def stop_all(self) -> None:
        for proc in self.started:
            if proc.running():
                proc.popen.terminate()
        deadline = time.monotonic() + 5
        for proc in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
        for proc in self.started:
            proc.signal_group(signal.SIGKILL)  # leftovers of its group, even orphaned workers
            proc.popen.wait()
        for pid, cmd in self.extra_pids:
            if alive(pid) and cmdline(pid) == cmd:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Procs]:
    """Start processes through this; all of them are stopped (kill -9 if need be) afterwards."""
    registry = Procs(tmp_path / "logs")
    try:
        yield registry
    finally:
        registry.stop_all()


async def wait_healthy(base: str, procs: list[Proc], timeout: float = 20) -> None:
    """Wait until GET base/healthz answers 200; fail early if one of procs exits."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            dead = [p for p in procs if not p.running()]
            assert not dead, "exited during start-up:\n" + "\n".join(p.logs() for p in dead)
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                async with http.get(f"{base}/healthz", timeout=aiohttp.ClientTimeout(total=1)) as r:
                    if r.status == 200:
                        return
            assert time.monotonic() < deadline, f"{base} not healthy in {timeout}s\n" + "\n".join(
                p.logs() for p in procs
            )
            await asyncio.sleep(0.05)


# --- workers ------------------------------------------------------------------------


@dataclass
class Worker:
    """A `podium worker` process on its own port."""

    proc: Proc
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def worker_env(redis_url: str, port: int, data_dir: Path, secret: str = SECRET) -> dict[str, str]:
    return base_env(
        REDIS_URL=redis_url,
        PORT=str(port),
        HOST="127.0.0.1",
        PODIUM_SECRET=secret,
        PODIUM_DATA_DIR=str(data_dir),
    )


async def start_workers(procs: Procs, redis_url: str, data_dir: Path, n: int) -> list[Worker]:
    """n worker processes on n different ports sharing one store, all healthy."""
    workers = []
    for i in range(n):
        port = free_port()
        proc = procs.start(["worker"], worker_env(redis_url, port, data_dir), f"worker{i + 1}")
        workers.append(Worker(proc, port))
    for w in workers:
        await wait_healthy(w.url, [w.proc])
    return workers


async def organizer_token(redis_url: str, secret: str = SECRET) -> str:
    """A start-up organizer token minted straight in the store, as `podium link` does."""
    from server.auth import Auth
    from server.store.connection import connect
    from server.store.identity import IdentityStore

    client = connect(redis_url)
    try:
        return await Auth(IdentityStore(client), secret).root_organizer_link_token(1)
    finally:
        await client.aclose()


# --- HTTP and sockets ---------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    # No cookies: joining by code with a participant cookie would reuse that person, and
    # every join here must make a new one (tests pass identities as tokens explicitly).
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


@dataclass
class Setup:
    """An event with one session, as created through the API."""

    event: dict[str, Any]
    session: str

    @property
    def code(self) -> str:
        return str(self.event["code"])


async def create_event(org: Api, name: str = "Systems Day") -> Setup:
    body = {"name": name, "time_zone": "Europe/Berlin", "languages": ["en"]}
    data = await org.ok("POST", "/api/events", body)
    event = data["event"]
    s = await org.ok(
        "POST",
        f"/api/events/{event['id']}/sessions",
        {"title": "Keynote", "starts_at": "2026-12-03T09:30", "ends_at": "2026-12-03T10:30"},
    )
    return Setup(event=event, session=str(s["session"]["id"]))


async def create_invite(org: Api, setup: Setup, role: str = "moderator") -> dict[str, Any]:
    """{"invite": {...}, "token": ..., "url": ...}"""
    return await org.ok(
        "POST", f"/api/events/{setup.event['id']}/invites", {"role": role, "session_id": setup.session}
    )


async def join_code(
    http: aiohttp.ClientSession, base: str, code: str, name: str | None = None
) -> dict[str, Any]:
    """POST /api/codes/{code}/join: a fresh audience identity {id, name, token}."""
    body = {} if name is None else {"name": name}
    async with http.post(f"{base}/api/codes/{code}/join", json=body) as r:
        data = await r.json()
        assert r.status == 200 and data["ok"], (r.status, data)
        return dict(data["participant"])


class Clients:
    """socket.io clients that are disconnected at the end of the test."""

    def __init__(self) -> None:
        self.all: list[socketio.AsyncClient] = []

    async def connect(self, url: str, auth: dict[str, Any]) -> Connected:
        sio = socketio.AsyncClient(reconnection=False)
        box = Connected(sio)
        box.listen()
        self.all.append(sio)
        await sio.connect(url, transports=["websocket"], auth=auth, wait_timeout=5)
        return box

    async def refused(self, url: str, auth: dict[str, Any]) -> dict[str, Any]:
        """Try to connect; the refusal's data {code, message} (fails if it connected)."""
        sio = socketio.AsyncClient(reconnection=False)
        errors: list[Any] = []
        sio.on("connect_error", lambda data=None: errors.append(data))
        self.all.append(sio)
        with pytest.raises(socketio.exceptions.ConnectionError):
            await sio.connect(url, transports=["websocket"], auth=auth, wait_timeout=5)
        assert errors, "the server refused without saying why"
        return dict(errors[0]["data"])

    async def close(self) -> None:
        for sio in self.all:
            if sio.connected:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(sio.disconnect(), 5)


@pytest.fixture
async def clients() -> AsyncIterator[Clients]:
    box = Clients()
    try:
        yield box
    finally:
        await box.close()


def counts(client: Connected, session_id: str) -> dict[str, Any] | None:
    """The presence counts client's page shows for session_id now (from its feed)."""
    if client.feed.session != session_id or "presence" not in client.state:
        return None
    return dict(client.state["presence"]["counts"])


def total(client: Connected, session_id: str) -> int | None:
    c = counts(client, session_id)
    return None if c is None else int(c["total"])


async def conn_worker(store: Any, session_id: str, sid: str) -> str:
    """The worker id Redis records for a socket (its session join counted it)."""
    info = await store.hget(keys.presence_conns(session_id), sid)
    assert info, f"connection {sid} is not in presence"
    return str(info).split("|", 1)[0]


async def wait_disconnected(client: Connected, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while client.sio.connected:
        assert time.monotonic() < deadline, f"still connected after {timeout}s; got {client.received[-5:]}"
        await asyncio.sleep(0.05)


async def eventually(check: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
    """Await check() (sync or async) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(interval)
