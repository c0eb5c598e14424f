"""`podium serve` with its own embedded Valkey (no REDIS_URL): everything survives a restart,
and the store never outlives the process that started it."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Api, free_port
from tests.system.conftest import (
    Clients,
    Proc,
    Procs,
    children,
    cmdline,
    create_event,
    create_invite,
    eventually,
    join_code,
    wait_disconnected,
    wait_gone,
)

pytestmark = pytest.mark.slow

LINK = re.compile(r"(http://\S+?)/o#t=(\S+)")


def serve_env(data_dir: Path) -> dict[str, str]:
    """Built from scratch: no REDIS_URL (nor any PODIUM_* setting) may leak in from the caller."""
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR") if k in os.environ}
    env["PODIUM_DATA_DIR"] = str(data_dir)
    return env


class Serve:
    """A running `podium serve` with its embedded store."""

    def __init__(self, proc: Proc, base: str, token: str, store_pid: int) -> None:
        self.proc = proc
        self.base = base
        self.token = token
        self.store_pid = store_pid

    def workers(self) -> list[int]:
        return [pid for pid in children(self.proc.pid) if "worker" in cmdline(pid)]


async def start_serve(procs: Procs, data_dir: Path, port: int, name: str) -> Serve:
    """Start `podium serve`, read the organizer link it prints, and find its store's pid."""
    env = serve_env(data_dir)
    assert "REDIS_URL" not in env
    proc = procs.start(["serve", "--port", str(port)], env, name)

    def link() -> re.Match[str] | None:
        assert proc.running(), f"serve exited with {proc.popen.returncode}\n{proc.logs()}"
        return LINK.search(proc.stdout())

    found = await eventually(link, 30, "the organizer link on stdout")
    base, token = found.group(1), found.group(2)
    assert base == f"http://127.0.0.1:{port}", found.group(0)
    store_pid = int((data_dir / "redis" / "server.pid").read_text().strip())
    procs.track(store_pid)
    assert "valkey" in cmdline(store_pid) or "redis" in cmdline(store_pid), cmdline(store_pid)
    assert store_pid in children(proc.pid), "the embedded store is not serve's own child"
    return Serve(proc, base, token, store_pid)


async def stop_serve(serve: Serve) -> None:
    """SIGINT to serve (as `kill -INT`): exit 0, its workers and its store gone."""
    workers = serve.workers()
    assert workers, "serve runs no worker"
    serve.proc.popen.send_signal(signal.SIGINT)
    code = await serve.proc.wait(20)
    assert code == 0, f"serve exited with {code} (None: still running)\n{serve.proc.logs()}"
    assert not await wait_gone([*workers, serve.store_pid], 5), "workers or store still running"


async def test_restart_keeps_events_sessions_links_and_people(
    procs: Procs, tmp_path: Path, http: aiohttp.ClientSession, clients: Clients
):
    data = tmp_path / "data"
    port = free_port()
    first = await start_serve(procs, data, port, "serve1")
    org = Api(http, first.base, first.token)
    setup = await create_event(org, "Restart Summit")
    mod_link = await create_invite(org, setup, "moderator")
    person = await join_code(http, first.base, setup.code, name="Dana")
    mod = await clients.connect(first.base, {"token": mod_link["token"]})
    assert (await mod.call("session:join", {"session": setup.session}))["ok"]
    aud = await clients.connect(first.base, {"participant": person["token"]})
    assert (await aud.call("session:join", {"session": setup.session}))["ok"]

    await stop_serve(first)
    await wait_disconnected(mod)
    await wait_disconnected(aud)
    assert (data / "redis").is_dir()
    assert any((data / "redis").rglob("*.aof")), "no append-only file under the data dir"

    second = await start_serve(procs, data, port, "serve2")
    assert second.store_pid != first.store_pid
    # The event, by its code, with its session (anyone may look).
    async with http.get(f"{second.base}/api/codes/{setup.code}") as r:
        view = await r.json()
    assert r.status == 200 and view["ok"], view
    assert view["event"]["id"] == setup.event["id"]
    assert view["event"]["name"] == "Restart Summit"
    assert [s["id"] for s in view["sessions"]] == [setup.session]
    # The first run's organizer link still works (the signing secret was kept in the store).
    old_org = Api(http, second.base, first.token)
    assert (await old_org.ok("GET", f"/api/events/{setup.event['id']}"))["event"]["code"] == setup.code
    # The first run left presence cleanly: nobody is counted before anyone reconnects.
    presence = await old_org.ok("GET", f"/api/sessions/{setup.session}/presence")
    assert presence["counts"]["total"] == 0, presence
    # The old moderator link and the old participant credential still work.
    mod = await clients.connect(second.base, {"token": mod_link["token"]})
    ack = await mod.call("session:join", {"session": setup.session})
    assert ack["ok"] and ack["you"]["role"] == "moderator", ack
    aud = await clients.connect(second.base, {"participant": person["token"]})
    ack = await aud.call("session:join", {"session": setup.session})
    assert ack["ok"], ack
    assert ack["you"]["role"] == "audience" and ack["you"]["name"] == "Dana", ack
    await aud.wait_for(lambda c: c.last_count(setup.session) == 2)

    await clients.close()
    await stop_serve(second)


async def test_sigkill_of_serve_takes_its_store_down_and_the_next_start_works(
    procs: Procs, tmp_path: Path, http: aiohttp.ClientSession, clients: Clients
):
    data = tmp_path / "data"
    port = free_port()
    first = await start_serve(procs, data, port, "serve1")
    org = Api(http, first.base, first.token)
    setup = await create_event(org, "Crash Conf")
    person = await join_code(http, first.base, setup.code, name="Eve")
    workers = first.workers()
    assert len(workers) == 1, workers

    first.proc.kill()  # the master only: nothing of serve's own clean-up runs
    assert await first.proc.wait(5) == -signal.SIGKILL
    # PR_SET_PDEATHSIG: the store and the workers got SIGTERM when serve died, so no
    # orphan keeps answering on the shared port with no store behind it.
    assert not await wait_gone([first.store_pid], 10), "the embedded store outlived serve"
    assert not await wait_gone(workers, 10), "a worker outlived serve"

    second = await start_serve(procs, data, port, "serve2")
    async with http.get(f"{second.base}/api/codes/{setup.code}") as r:
        view = await r.json()
    assert r.status == 200 and view["ok"], view
    assert view["event"]["name"] == "Crash Conf"
    assert [s["id"] for s in view["sessions"]] == [setup.session]
    aud = await clients.connect(second.base, {"participant": person["token"]})
    ack = await aud.call("session:join", {"session": setup.session})
    assert ack["ok"] and ack["you"]["name"] == "Eve", ack
    await stop_serve(second)
