"""`podium serve` looks after its embedded Valkey as it does its workers: killed, the store is
back on its port with its data within 2 s; one that keeps dying stops Podium with the reason;
a stop signal in the middle of all this leaves no process behind."""

from __future__ import annotations

import os
import re
import signal
import socket
import time
from pathlib import Path

import aiohttp
import pytest

from server.process import proc_state
from tests.conftest import Api, free_port
from tests.system.conftest import (
    Clients,
    Procs,
    children,
    cmdline,
    create_event,
    eventually,
    join_code,
    listeners,
    wait_gone,
)
from tests.system.test_restart import LINK, Serve, serve_env, stop_serve

pytestmark = pytest.mark.slow


async def start_serve(procs: Procs, data_dir: Path, workers: int = 2, **settings: str) -> Serve:
    """`podium serve --workers N` on its own data dir, with PODIUM_<KEY> settings; waits for
    the organizer link and finds the store's pid."""
    env = serve_env(data_dir)
    env.update({f"PODIUM_{key.upper()}": value for key, value in settings.items()})
    port = free_port()
    proc = procs.start(["serve", "--workers", str(workers), "--port", str(port)], env, "serve")

    def link() -> re.Match[str] | None:
        assert proc.running(), f"serve exited with {proc.popen.returncode}\n{proc.logs()}"
        return LINK.search(proc.stdout())

    found = await eventually(link, 30, "the organizer link on stdout")
    serve = Serve(proc, found.group(1), found.group(2), 0)
    serve.store_pid = store_pid(serve, data_dir)
    assert serve.store_pid, "no embedded store"
    return serve


def store_pid(serve: Serve, data_dir: Path) -> int:
    """The pid of serve's live store (0 if none): the one in its pidfile, if serve's child."""
    try:
        pid = int((data_dir / "redis" / "server.pid").read_text().strip())
    except (OSError, ValueError):
        return 0
    return pid if pid in children(serve.proc.pid) and "valkey" in cmdline(pid) else 0


def store_port(pid: int) -> int:
    """The port a store listens on, from the title Valkey gives its process."""
    found = re.search(r"127\.0\.0\.1:(\d+)", cmdline(pid))
    assert found, cmdline(pid)
    return int(found.group(1))


async def new_store(serve: Serve, data_dir: Path, procs: Procs, timeout: float) -> int:
    """Wait for serve to run a store other than serve.store_pid; track and return its pid."""

    def other() -> int:
        assert serve.proc.running(), f"serve exited with {serve.proc.popen.returncode}\n{serve.proc.logs()}"
        pid = store_pid(serve, data_dir)
        return pid if pid != serve.store_pid else 0

    pid = int(await eventually(other, timeout, "a new store process", interval=0.01))
    procs.track(pid)
    return pid


def port_taken(squatter: socket.socket, port: int) -> bool:
    """Try to listen on port (free once the killed store's threads are all gone)."""
    try:
        squatter.bind(("127.0.0.1", port))
    except OSError:
        return False
    squatter.listen()
    return True


async def ready_everywhere(base: str, tries: int = 20) -> bool:
    """/readyz is 200 on tries fresh connections in a row (SO_REUSEPORT spreads new
    connections over the workers, so every worker answers some of them)."""
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as http:
        for _ in range(tries):
            try:
                async with http.get(f"{base}/readyz", timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status != 200:
                        return False
            except (aiohttp.ClientError, TimeoutError):
                return False
    return True


async def test_a_killed_store_is_back_on_its_port_with_its_data_and_the_workers_ready_again(
    procs: Procs, tmp_path: Path, http: aiohttp.ClientSession, clients: Clients
):
    data = tmp_path / "data"
    serve = await start_serve(procs, data)
    assert len(serve.workers()) == 2
    org = Api(http, serve.base, serve.token)
    setup = await create_event(org, "Store Crash Day")  # written through a worker, then acked
    person = await join_code(http, serve.base, setup.code, name="Noa")
    old, port = serve.store_pid, store_port(serve.store_pid)

    os.kill(old, signal.SIGKILL)
    killed = time.monotonic()
    serve.store_pid = await new_store(serve, data, procs, 2)
    assert store_port(serve.store_pid) == port, "the store moved: the workers hold its old address"
    await eventually(lambda: listeners(port) == 1, 2 - (time.monotonic() - killed), "the store listening")
    back = time.monotonic() - killed
    assert proc_state(old) is None, f"the killed store was not reaped ({proc_state(old)})"
    await eventually(lambda: ready_everywhere(serve.base), 10, "/readyz 200 on every worker")
    ready = time.monotonic() - killed

    # What was written before the kill is there (the AOF), and the pages work again.
    async with http.get(f"{serve.base}/api/codes/{setup.code}") as r:
        view = await r.json()
    assert r.status == 200 and view["ok"] and view["event"]["name"] == "Store Crash Day", view
    aud = await clients.connect(serve.base, {"participant": person["token"]})
    ack = await aud.call("session:join", {"session": setup.session})
    assert ack["ok"] and ack["you"]["name"] == "Noa", ack
    assert (await create_event(org, "After the Crash")).code
    log = serve.proc.stderr()
    assert f"embedded store (pid {old}, port {port}) was killed by SIGKILL" in log, log
    assert f"embedded store is back (pid {serve.store_pid}, port {port})" in log, log
    print(f"\nstore killed: back on its port in {back:.3f} s, /readyz 200 everywhere in {ready:.2f} s")

    await clients.close()
    await stop_serve(serve)


async def test_a_store_that_keeps_dying_is_restarted_with_backoff_then_podium_stops(
    procs: Procs, tmp_path: Path
):
    data = tmp_path / "data"
    serve = await start_serve(
        procs, data, workers=1, store_restarts_max="3", store_backoff_s="0.3", store_backoff_max_s="0.6"
    )
    workers, stores = serve.workers(), [serve.store_pid]
    waits: list[float] = []
    while True:
        os.kill(serve.store_pid, signal.SIGKILL)
        killed = time.monotonic()
        if len(stores) == 4:
            break
        serve.store_pid = await new_store(serve, data, procs, 3)
        waits.append(time.monotonic() - killed)
        stores.append(serve.store_pid)

    code = await serve.proc.wait(20)
    assert code == 1, f"serve exited with {code} (None: still running)\n{serve.proc.logs()}"
    # At once, then after backoff_s, then twice that: the cap.
    assert waits[0] < 1 and 0.3 <= waits[1] < 1.3 and 0.6 <= waits[2] < 1.6, waits
    log = serve.proc.stderr()
    assert "starting the embedded store again in 0.3 s" in log and "again in 0.6 s" in log, log
    assert "the embedded store died 4 times in a row" in log and "stopping Podium" in log, log
    assert not await wait_gone([*workers, *stores], 5), "a worker or a store outlived serve"


async def test_a_stop_signal_while_the_store_waits_to_restart_leaves_nothing_behind(
    procs: Procs, tmp_path: Path
):
    data = tmp_path / "data"
    serve = await start_serve(procs, data, workers=1, store_backoff_s="30", store_backoff_max_s="30")
    workers, stores = serve.workers(), [serve.store_pid]
    os.kill(serve.store_pid, signal.SIGKILL)  # started again at once...
    serve.store_pid = await new_store(serve, data, procs, 2)
    stores.append(serve.store_pid)
    os.kill(serve.store_pid, signal.SIGKILL)  # ...and again only after 30 s
    await eventually(lambda: "again in 30.0 s" in serve.proc.stderr(), 5, "the restart put off")

    serve.proc.popen.send_signal(signal.SIGTERM)  # as a process manager stops a service
    code = await serve.proc.wait(20)
    assert code == 0, f"serve exited with {code}\n{serve.proc.logs()}"
    assert not await wait_gone([*workers, *stores], 5), "a worker or a store outlived serve"
    assert store_pid(serve, data) == 0 and "Podium stopped" in serve.proc.stderr()


async def test_ctrl_c_with_the_store_frozen_stops_everything(procs: Procs, tmp_path: Path):
    data = tmp_path / "data"
    serve = await start_serve(procs, data, workers=1, store_silent_warn_s="0.5")
    workers = serve.workers()
    os.kill(serve.store_pid, signal.SIGSTOP)
    await eventually(lambda: "has not answered" in serve.proc.stderr(), 5, "the silence reported")
    assert "is stopped (SIGSTOP" in serve.proc.stderr()

    serve.proc.signal_group(signal.SIGINT)  # Ctrl-C in a terminal
    code = await serve.proc.wait(20)
    assert code == 0, f"serve exited with {code}\n{serve.proc.logs()}"
    # A stopped server acts on SIGTERM only once resumed: stopping it must resume it.
    assert not await wait_gone([*workers, serve.store_pid], 5), "a worker or the frozen store outlived serve"


async def test_when_another_program_takes_the_port_the_store_moves_and_the_workers_follow(
    procs: Procs, tmp_path: Path, http: aiohttp.ClientSession
):
    data = tmp_path / "data"
    serve = await start_serve(procs, data, store_port_wait_s="0.5")
    org = Api(http, serve.base, serve.token)
    setup = await create_event(org, "Port Squatters")
    workers, old, port = serve.workers(), serve.store_pid, store_port(serve.store_pid)

    squatter = socket.socket()
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    serve.proc.popen.send_signal(signal.SIGSTOP)  # so that the squatter gets the port first
    try:
        os.kill(old, signal.SIGKILL)
        await eventually(lambda: port_taken(squatter, port), 2, "the port", interval=0.01)
        serve.proc.popen.send_signal(signal.SIGCONT)
        serve.store_pid = await new_store(serve, data, procs, 3)
        assert store_port(serve.store_pid) != port
        await eventually(lambda: ready_everywhere(serve.base), 10, "/readyz 200 on every worker")
    finally:
        serve.proc.popen.send_signal(signal.SIGCONT)
        squatter.close()
    assert not await wait_gone(workers, 15), "a worker with the old address is still running"
    assert len(serve.workers()) == 2, "no new workers"
    async with http.get(f"{serve.base}/api/codes/{setup.code}") as r:
        view = await r.json()
    assert r.status == 200 and view["event"]["name"] == "Port Squatters", view
    log = serve.proc.stderr()
    assert f"port {port} of the embedded store is taken by another program" in log, log
    assert "the workers restart with its new address" in log, log
    await stop_serve(serve)
