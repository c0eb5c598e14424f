"""The embedded Valkey: a real server process, AOF on, data kept across restarts."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from server.process import alive, proc_state
from server.store.embedded import EmbeddedRedis, StoreFailed, StoreSupervisor


def test_data_survives_a_restart_on_the_same_directory(tmp_path):
    first = EmbeddedRedis(tmp_path)
    url = first.start()
    try:
        client = redis.Redis.from_url(url, decode_responses=True)
        client.set("podium:test", "kept")
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("bind")["bind"].startswith("127.0.0.1")
        client.close()
    finally:
        first.stop()
    second = EmbeddedRedis(tmp_path)
    url2 = second.start()
    try:
        assert url2 != url, "a new password and port each start"
        client = redis.Redis.from_url(url2)
        assert client.get("podium:test") == b"kept"
        client.close()
    finally:
        second.stop()


def test_it_refuses_clients_without_the_password(tmp_path):
    server = EmbeddedRedis(tmp_path)
    server.start()
    try:
        client = redis.Redis(port=server.port, retry=Retry(NoBackoff(), 0))  # refused once is enough
        try:
            client.ping()
            raise AssertionError("answered without a password")
        except redis.AuthenticationError:
            pass
        finally:
            client.close()
    finally:
        server.stop()


def test_a_stale_server_left_by_a_killed_podium_is_stopped_first(tmp_path):
    stale = EmbeddedRedis(tmp_path)
    stale.start()
    proc, stale.process = stale.process, None  # forgotten, as by a Podium killed with SIGKILL
    assert proc is not None
    fresh = EmbeddedRedis(tmp_path)
    fresh.start()
    try:
        assert proc.wait(timeout=5) == 0, "the stale server was shut down cleanly"
        client = redis.Redis.from_url(fresh.url)
        assert client.ping()
        client.close()
    finally:
        fresh.stop()


# --- damaged data -------------------------------------------------------------------


def _incr_aof(store: EmbeddedRedis) -> Path:
    (found,) = (store.dir / "appendonlydir").glob("*.incr.aof")
    return found


def _filled(tmp_path: Path, n: int = 200) -> EmbeddedRedis:
    """A server with n keys written and flushed by a clean stop."""
    store = EmbeddedRedis(tmp_path)
    client = redis.Redis.from_url(store.start())
    for i in range(n):
        client.set(f"podium:test:{i}", "x" * 50)
    client.close()
    store.stop()
    return store


def test_a_damaged_aof_is_refused_with_the_servers_reason_and_left_as_it_was(tmp_path):
    _filled(tmp_path)
    aof = _incr_aof(EmbeddedRedis(tmp_path))
    data = bytearray(aof.read_bytes())
    data[data.index(b"*3\r\n", len(data) // 2)] = ord("!")  # a command's header, mid-file
    aof.write_bytes(bytes(data))
    before = {p.name: p.read_bytes() for p in aof.parent.iterdir()}

    store = EmbeddedRedis(tmp_path)
    try:
        with pytest.raises(StoreFailed) as failed:
            store.start(timeout=5)
    finally:
        store.stop()
    message = str(failed.value)
    assert "Bad file format reading the append only file" in message, message
    assert "valkey-check-aof" in message and str(store.dir) in message, message
    assert store.process is None
    # Nothing repaired, nothing deleted: that is a person's call (a repair drops data).
    assert {p.name: p.read_bytes() for p in aof.parent.iterdir()} == before
    # One attempt: trying other ports cannot help a refused file.
    assert store.log_path.read_text().count("Valkey is starting") == 2


def test_an_aof_cut_mid_command_loads_all_but_that_command_and_says_so(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="server.store.embedded")
    _filled(tmp_path, n=200)
    aof = _incr_aof(EmbeddedRedis(tmp_path))
    aof.write_bytes(aof.read_bytes()[:-5])  # as a kill in the middle of a write leaves it

    store = EmbeddedRedis(tmp_path)
    client = redis.Redis.from_url(store.start())
    try:
        assert client.dbsize() == 199, "all but the cut command"
    finally:
        client.close()
        store.stop()
    assert "partial command" in caplog.text and "Truncating the AOF" in caplog.text, caplog.text


# --- supervision --------------------------------------------------------------------


def _run(supervisor: StoreSupervisor, until: Callable[[], object], timeout: float, what: str) -> None:
    """Drive the supervisor as `podium serve` does until until() holds."""
    deadline = time.monotonic() + timeout
    while not until():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        supervisor.check()
        time.sleep(supervisor.poll_s)


def _serving(supervisor: StoreSupervisor, old_pid: int) -> bool:
    proc = supervisor.store.process
    return supervisor.state == "up" and proc is not None and proc.pid != old_pid


@pytest.fixture
def supervised(tmp_path: Path) -> Iterator[Callable[..., StoreSupervisor]]:
    made: list[StoreSupervisor] = []

    def make(**policy: Any) -> StoreSupervisor:
        store = EmbeddedRedis(tmp_path)
        store.start()
        made.append(StoreSupervisor(store, **policy))
        return made[-1]

    yield make
    for supervisor in made:
        supervisor.store.stop()


def test_a_killed_store_is_reaped_and_back_on_its_port_with_its_data(supervised, caplog):
    caplog.set_level(logging.INFO, logger="server.store.embedded")
    supervisor = supervised()
    store = supervisor.store
    url = store.url
    client = redis.Redis.from_url(url)
    client.set("podium:test", "kept")
    assert store.process is not None
    old = store.process.pid

    os.kill(old, signal.SIGKILL)
    killed = time.monotonic()
    _run(supervisor, lambda: _serving(supervisor, old), 2, "the store back")
    took = time.monotonic() - killed

    assert proc_state(old) is None, "the dead server was not reaped"
    assert store.url == url, "same port, same password"
    assert client.get("podium:test") == b"kept"  # the same client reconnects: same address
    client.close()
    assert took < 2, took
    assert "was killed by SIGKILL" in caplog.text and "embedded store is back" in caplog.text, caplog.text


def test_a_frozen_store_is_reported_then_killed_and_started_again(supervised, caplog):
    supervisor = supervised(silent_warn_s=0.5, silent_kill_s=2.0, probe_every_s=0.2)
    store = supervisor.store
    with redis.Redis.from_url(store.url) as client:
        client.set("podium:test", "kept")
    assert store.process is not None
    old = store.process.pid
    os.kill(old, signal.SIGSTOP)
    stopped = time.monotonic()

    _run(supervisor, lambda: "has not answered" in caplog.text, 3, "a warning about the silence")
    assert "is stopped (SIGSTOP" in caplog.text, caplog.text
    assert alive(old), "killed before silent_kill_s"
    _run(supervisor, lambda: _serving(supervisor, old), 5, "the store started again")
    assert time.monotonic() - stopped >= 2.0
    assert proc_state(old) is None
    assert "without an answer" in caplog.text, caplog.text
    client = redis.Redis.from_url(store.url)
    assert client.get("podium:test") == b"kept"
    client.close()


def test_with_silent_kill_off_a_frozen_store_is_left_alone(supervised, caplog):
    supervisor = supervised(silent_warn_s=0.3, silent_kill_s=0, probe_every_s=0.1)
    store = supervisor.store
    assert store.process is not None
    pid = store.process.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        _run(supervisor, lambda: "left alone" in caplog.text, 3, "a warning about the silence")
        deadline = time.monotonic() + 1
        while time.monotonic() < deadline:
            supervisor.check()
            time.sleep(0.1)
        assert store.process is not None and store.process.pid == pid and alive(pid)
    finally:
        os.kill(pid, signal.SIGCONT)
    _run(supervisor, lambda: "answers again" in caplog.text, 3, "the store answering again")


def test_quick_deaths_are_restarted_with_backoff_until_it_gives_up(supervised, caplog):
    supervisor = supervised(restarts_max=3, backoff_s=0.2, backoff_max_s=0.4, stable_s=60)
    starts: list[float] = []
    with pytest.raises(StoreFailed) as failed:
        for _ in range(5):
            proc = supervisor.store.process
            assert proc is not None
            os.kill(proc.pid, signal.SIGKILL)
            dead = time.monotonic()
            _run(supervisor, lambda pid=proc.pid: _serving(supervisor, pid), 3, "a restart")
            starts.append(time.monotonic() - dead)
    assert len(starts) == 3, starts
    # At once, then after backoff_s, then twice that (capped at backoff_max_s).
    assert starts[0] < 0.5 and 0.2 <= starts[1] < 0.7 and 0.4 <= starts[2] < 0.9, starts
    assert "died 4 times in a row" in str(failed.value), failed.value
    assert supervisor.store.process is None


def test_a_taken_port_is_waited_for_then_the_store_moves(supervised, caplog):
    supervisor = supervised(port_wait_s=1.0)
    store = supervisor.store
    with redis.Redis.from_url(store.url) as client:
        client.set("podium:test", "kept")
    port = store.port
    assert store.process is not None
    old = store.process.pid
    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as any server binds
    try:
        os.kill(old, signal.SIGKILL)
        deadline = time.monotonic() + 2
        while True:  # take the port as soon as the kernel frees it
            try:
                squatter.bind(("127.0.0.1", port))
                break
            except OSError:
                assert time.monotonic() < deadline, "the port never came free"
                time.sleep(0.001)
        squatter.listen()
        _run(supervisor, lambda: "is taken by another program" in caplog.text, 2, "the port noticed")
        assert store.process is None and store.port == port, "started elsewhere before port_wait_s"
        _run(supervisor, lambda: _serving(supervisor, old), 3, "the store on another port")
    finally:
        squatter.close()
    assert store.port != port
    assert "moves to port" in caplog.text, caplog.text
    client = redis.Redis.from_url(store.url)
    assert client.get("podium:test") == b"kept"
    client.close()
