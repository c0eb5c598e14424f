"""The store fails under a live session: the embedded store killed during a burst (and
started again by `podium serve`), the workers' subscriptions dropped, a store restart after
which a link is revoked and a person banned at once. Nothing acknowledged is lost or applied
twice, every page ends at the store's state, and revoked or banned sockets lose their powers
on every worker within seconds."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from server.store.embedded import EmbeddedRedis
from tests.conftest import Api
from tests.faults.browser import Crowd, Page
from tests.faults.conftest import start_workers
from tests.faults.show import SETTINGS, Person, Show
from tests.system.conftest import Procs, Worker, create_invite, eventually, join_code, organizer_token
from tests.system.test_restart import stop_serve
from tests.system.test_store_supervisor import new_store, start_serve

pytestmark = pytest.mark.slow

OUTAGE_S = 3.0  # how long the store stays down before it is started again (scenario 7)


async def test_the_embedded_store_killed_during_a_burst_comes_back_with_every_acknowledged_write(
    procs: Procs, tmp_path: Path, http: aiohttp.ClientSession, crowd: Crowd
):
    data = tmp_path / "data"
    serve = await start_serve(procs, data, workers=2, **SETTINGS)
    show = await Show.open(http, Api(http, serve.base, serve.token), [serve.base], crowd)
    show.start()
    await show.wait_writes("qa:ask", 12)

    show.burst()
    os.kill(serve.store_pid, signal.SIGKILL)  # amid the burst; `podium serve` starts it again
    killed = time.monotonic()
    serve.store_pid = await new_store(serve, data, procs, 5)
    back = time.monotonic() - killed
    converged = await show.converged_since(killed)
    await show.wait_writes("qa:ask", 12)
    result = await show.finish()

    assert all(p.drops == 0 for p in show.pages), "the store's death dropped a page's connection"
    print(
        f"\n[faults] embedded store kill -9 during a burst: store back in {back:.2f} s, "
        f"converged in {converged:.2f} s; reconnect p50/p99 {crowd.reconnects()}; {result.line()}"
    )
    assert converged < 15
    await crowd.close()
    await stop_serve(serve)


async def subscriptions(store: aioredis.Redis) -> int:
    """How many connections of the store are subscribed (one per listening worker)."""
    return len(await store.client_list(_type="pubsub"))


async def test_a_dropped_subscription_is_made_again_and_broadcasts_reach_every_worker(
    procs: Procs, clean_redis: str, tmp_path: Path, http: aiohttp.ClientSession, crowd: Crowd
):
    w1, w2 = await start_workers(procs, clean_redis, tmp_path)
    urls = [w1.url, w2.url]
    show = await Show.open(http, Api(http, w1.url, await organizer_token(clean_redis)), urls, crowd)
    troll = await join_code(http, w1.url, show.setup.code, name="Troll")
    tabs = [crowd.page(f"troll{i}", {"participant": troll["token"]}, urls, i) for i in range(2)]
    await crowd.enter(tabs, show.session)
    assert {t.url for t in tabs} == set(urls), "a tab on each worker"
    question = await show.ask(Person(tabs[0], troll), "Troll asks, to be banned?")
    show.start()
    await show.wait_writes("qa:ask", 12)
    store = aioredis.Redis.from_url(clean_redis)
    try:
        await eventually(lambda: _count_is(store, 2), 5, "both workers subscribed")
        killed_n = await store.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        killed = time.monotonic()
        converging = show.converging(killed)
    finally:
        await store.aclose()
    assert killed_n == 2, killed_n
    # Each worker says when it listens again (the store lists a subscription earlier: redis-py
    # re-subscribes the dropped connection by itself, but nothing reads it any more).
    for w in (w1, w2):
        await eventually(
            lambda w=w: AGAIN in w.proc.stderr(), 5, "the subscription made again", interval=0.01
        )
    resubscribed = time.monotonic() - killed

    # A broadcast now reaches the sockets of both workers: the ban's own message, not the
    # guard's (which closes the sockets too, within a second, whatever the broadcasts do).
    banned = time.monotonic()
    await show.write(show.moderator, "qa:ban", {"session": show.session, "question": question}, count=False)
    for tab in tabs:
        await eventually(lambda t=tab: t.ended and t.closed, 5, f"{tab.name} closed")
    codes = [[m["code"] for m in t.closed] for t in tabs]
    assert all("forbidden" in c for c in codes), f"the ban's broadcast missed a worker: {codes}"
    closed = max(t.closed_at or 0 for t in tabs) - banned
    # What was broadcast while they were not listening is lost: the staff are told to re-sync.
    staff = [p for p in show.pages if p.name in ("moderator", "director", "screen")]
    for page in staff:
        await eventually(lambda p=page: p.resyncs, 5, f"{page.name} told to re-sync")
    converged = await converging
    await show.wait_writes("qa:ask", 12)
    result = await show.finish()

    for w in (w1, w2):
        async with http.get(f"{w.url}/readyz") as r:
            assert r.status == 200, await r.text()
    print(
        f"\n[faults] CLIENT KILL TYPE pubsub: both subscriptions back in {resubscribed:.2f} s, the ban's "
        f"broadcast closed the tabs on both workers in {closed:.2f} s, the staff's {len(staff)} pages "
        f"told to re-sync, converged in {converged:.2f} s; "
        f"reconnect p50/p99 {crowd.reconnects()}; {result.line()}"
    )


async def _count_is(store: aioredis.Redis, n: int) -> bool:
    return await subscriptions(store) == n


AGAIN = "broadcast channel subscribed again"


async def test_a_broadcast_sent_while_the_subscription_is_down_still_reaches_the_staff(
    procs: Procs, clean_redis: str, tmp_path: Path, http: aiohttp.ClientSession, crowd: Crowd
):
    w1, w2 = await start_workers(procs, clean_redis, tmp_path)
    urls = [w1.url, w2.url]
    api = Api(http, w1.url, await organizer_token(clean_redis))
    show = await Show.open(http, api, urls, crowd, askers=0, watchers=0)
    staff = [show.moderator, show.director]
    assert {p.url for p in staff if p} == set(urls), "a moderator page on each worker"
    person = await join_code(http, w1.url, show.setup.code, name="Hand")
    page = crowd.page("hand", {"participant": person["token"]}, urls)
    await crowd.enter([page], show.session)
    store = aioredis.Redis.from_url(clean_redis)
    try:
        await eventually(lambda: _count_is(store, 2), 5, "both workers subscribed")
        assert await store.execute_command("CLIENT", "KILL", "TYPE", "pubsub") == 2
    finally:
        await store.aclose()
    ack = await page.request("hand:raise", {"session": show.session, "note": "Over here"})
    assert ack["ok"], ack

    def knows(mod: Page) -> bool:
        """The raised hand reached the page: by `hand:queue`, or by a snapshot it re-synced to."""
        queued = [h for event, data in mod.heard if event == "hand:queue" for h in data["hands"]]
        synced = (mod.feed.state.get("backstage") or {}).get("hands", [])
        return any(h["person"] == person["id"] for h in queued + synced)

    for mod in staff:
        assert mod is not None
        await eventually(lambda m=mod: knows(m), 5, f"the hand on {mod.name}'s page ({mod.url})")


@pytest.fixture
def own_store(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A private store the test kills and starts again (same port, password and AOF)."""
    store = EmbeddedRedis(tmp_path / "store")
    store.start()
    try:
        yield store
    finally:
        store.stop()


async def all_ready(http: aiohttp.ClientSession, workers: list[Worker]) -> bool:
    for w in workers:
        try:
            async with http.get(f"{w.url}/readyz", timeout=aiohttp.ClientTimeout(total=1)) as r:
                if r.status != 200:
                    return False
        except (aiohttp.ClientError, TimeoutError):
            return False
    return True


async def revoke(api: Api, invite_id: str) -> float:
    """Revoke a link, trying again while Podium cannot reach its store; when the request
    that did it was sent."""
    deadline = time.monotonic() + 20
    while True:
        sent = time.monotonic()
        status, data = await api.request("POST", f"/api/invites/{invite_id}/revoke")
        if status == 200 and data["ok"]:
            return sent
        assert status == 503 and time.monotonic() < deadline, (status, data)
        await asyncio.sleep(0.1)


class Probes:
    """Pages that keep trying to use their powers, and whether Podium let each try through."""

    def __init__(self) -> None:
        self.tries: list[tuple[Page, float, bool]] = []  # (page, sent at, let through)
        self.stop = asyncio.Event()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, page: Page, event: str, payload: dict[str, Any]) -> None:
        self.tasks.append(asyncio.create_task(self._probe(page, event, payload)))

    async def _probe(self, page: Page, event: str, payload: dict[str, Any]) -> None:
        while not self.stop.is_set() and not page.ended:
            if page.joined:
                sent = time.monotonic()
                ack = await page.request(event, payload)
                # Let through: answered (ok, or past the access check: no such question).
                through = ack["ok"] or ack["error"]["code"] == "not_found"
                self.tries.append((page, sent, through))
            await asyncio.sleep(0.2)

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.gather(*self.tasks)

    def late(self, pages: list[Page], after: float) -> list[str]:
        """Tries of these pages sent after `after` that were let through."""
        return [
            f"{p.name} at +{t - after:.2f} s"
            for p, t, through in self.tries
            if p in pages and through and t > after
        ]


async def test_a_revoke_and_a_ban_right_after_a_store_restart_close_every_socket_on_every_worker(
    own_store: EmbeddedRedis, procs: Procs, tmp_path: Path, http: aiohttp.ClientSession, crowd: Crowd
):
    url = own_store.url
    w1, w2 = await start_workers(procs, url, tmp_path, redis_socket_timeout="1.0")
    urls = [w1.url, w2.url]
    api = Api(http, w1.url, await organizer_token(url))
    show = await Show.open(http, api, urls, crowd)
    link = await create_invite(api, show.setup, "moderator")
    mods = [crowd.page(f"revoked{i}", {"token": link["token"]}, urls, i) for i in range(6)]
    troll = await join_code(http, w1.url, show.setup.code, name="Troll")
    tabs = [crowd.page(f"banned{i}", {"participant": troll["token"]}, urls, i) for i in range(6)]
    await crowd.enter(mods + tabs, show.session)
    assert {p.url for p in mods} == {p.url for p in tabs} == set(urls), "three of each on each worker"
    question = await show.ask(Person(tabs[0], troll), "Troll asks, to be banned?")
    show.start()
    await show.wait_writes("qa:ask", 12)
    probes = Probes()
    for page in mods:
        probe = {"session": show.session, "question": "no-such-question", "action": "approve"}
        probes.start(page, "qa:moderate", probe)
    for page in tabs:
        probes.start(page, "session:snapshot", {})

    assert own_store.process is not None
    own_store.process.kill()
    own_store.process.wait()
    await asyncio.sleep(OUTAGE_S)  # the session goes on: every write is refused, and retried
    own_store.start()
    restarted = time.monotonic()
    converging = show.converging(restarted)
    # At once, before every worker hears broadcasts again: the organizer revokes (clicking
    # again while Podium says it is unavailable), the moderator bans.
    revoked = await revoke(api, link["invite"]["id"])
    banned = time.monotonic()
    await show.write(show.moderator, "qa:ban", {"session": show.session, "question": question}, count=False)
    await eventually(lambda: all_ready(http, [w1, w2]), 20, "/readyz 200 on both workers")
    ready_s = time.monotonic() - restarted

    for page in mods + tabs:
        await eventually(lambda p=page: p.ended, 10, f"{page.name} closed")
    took = {
        "revoked": max((p.closed_at or 0) - revoked for p in mods),
        "banned": max((p.closed_at or 0) - banned for p in tabs),
    }
    await probes.finish()
    late = probes.late(mods, revoked + 2.0) + probes.late(tabs, banned + 2.0)
    assert not late, f"powers used more than 2 s after the revoke or ban: {late}"
    # The link and the person cannot come back.
    again = crowd.page("revoked again", {"token": link["token"]}, urls)
    assert not await again.enter(show.session)
    assert again.refusal and again.refusal["code"] == "unauthorized", again.refusal
    back = crowd.page("banned again", {"participant": troll["token"]}, urls)
    assert not await back.enter(show.session)
    assert back.refusal and back.refusal["code"] == "forbidden", back.refusal

    converged = await converging
    await show.wait_writes("qa:ask", 12)
    result = await show.finish()
    print(
        f"\n[faults] store down {OUTAGE_S:.0f} s, then at once a revoke and a ban (/readyz 200 on both "
        f"workers {ready_s:.2f} s after the restart): 6 revoked sockets closed within {took['revoked']:.2f} s, "
        f"6 banned within {took['banned']:.2f} s (3 of each on each worker); converged in "
        f"{converged:.2f} s after the restart; reconnect p50/p99 {crowd.reconnects()}; {result.line()}"
    )
    assert max(took.values()) < 3.0, f"sockets kept their powers past the 2 s promise: {took}"
