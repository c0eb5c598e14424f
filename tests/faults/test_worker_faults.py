"""A worker dies (SIGKILL) or is stopped (SIGTERM) in the middle of a live session: its pages
come back on the other worker with what they missed, and no acknowledged write is lost or
applied twice. Stopped, it answers every event it took on first."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import aiohttp
import pytest

from tests.conftest import Api
from tests.faults.browser import Crowd
from tests.faults.conftest import start_workers
from tests.faults.show import Show
from tests.system.conftest import Procs, organizer_token

pytestmark = pytest.mark.slow


async def test_a_worker_killed_mid_session_loses_no_acknowledged_write(
    procs: Procs, clean_redis: str, tmp_path: Path, http: aiohttp.ClientSession, crowd: Crowd
):
    w1, w2 = await start_workers(procs, clean_redis, tmp_path)
    api = Api(http, w1.url, await organizer_token(clean_redis))
    show = await Show.open(http, api, [w1.url, w2.url], crowd)
    show.start()
    await show.wait_writes("qa:ask", 12)  # a session in full swing
    doomed = [p for p in show.pages if p.url == w2.url]
    assert doomed and len(doomed) < len(show.pages)

    show.burst()
    await asyncio.sleep(0.015)  # the worker is busy with the burst
    w2.proc.kill()  # no drain, no goodbye: its sockets just die
    killed = time.monotonic()
    converged = await show.converged_since(killed, back=doomed)
    await show.wait_writes("qa:ask", 12)  # and it carries on
    result = await show.finish()

    assert all(p.drops == 1 and p.url == w1.url for p in doomed), [(p.name, p.drops, p.url) for p in doomed]
    assert all(p.drops == 0 for p in show.pages if p not in doomed)
    print(
        f"\n[faults] SIGKILL one of two workers ({len(doomed)} of {len(show.pages)} pages on it): "
        f"converged in {converged:.2f} s; reconnect p50/p99 {crowd.reconnects()}; {result.line()}; "
        f"asks applied whose answer was lost: {show.ledger.applied_unanswered}"
    )
    assert converged < 15, "the pages of a dead worker are back within seconds"


async def test_a_worker_stopped_mid_session_answers_every_event_it_took_on(
    procs: Procs, clean_redis: str, tmp_path: Path, http: aiohttp.ClientSession, crowd: Crowd
):
    w1, w2 = await start_workers(procs, clean_redis, tmp_path)
    api = Api(http, w1.url, await organizer_token(clean_redis))
    show = await Show.open(http, api, [w1.url, w2.url], crowd)
    show.start()
    await show.wait_writes("qa:ask", 12)
    leaving = [p for p in show.pages if p.url == w2.url]

    show.burst()
    w2.proc.popen.send_signal(signal.SIGTERM)  # amid a burst of asks, a deploy: drain, then close the sockets
    stopped = time.monotonic()
    converged = await show.converged_since(stopped, back=leaving)
    assert await w2.proc.wait(15) == 0, w2.proc.logs()
    await show.wait_writes("qa:ask", 12)
    result = await show.finish()

    assert all(p.drops == 1 and p.url == w1.url for p in leaving), [(p.name, p.drops, p.url) for p in leaving]
    # An ask the stopping worker applied was answered: a retry never finds one made already.
    assert show.ledger.applied_unanswered == 0, "the stopping worker applied an ask and sent no answer"
    print(
        f"\n[faults] SIGTERM one of two workers ({len(leaving)} of {len(show.pages)} pages on it): "
        f"converged in {converged:.2f} s; reconnect p50/p99 {crowd.reconnects()}; {result.line()}"
    )
    assert converged < 15
