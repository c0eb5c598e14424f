"""A stopping worker (SIGTERM, a deploy) answers every event it took on before closing its
sockets, and refuses new ones as retryable: no acknowledged write is lost, none hangs."""

from __future__ import annotations

import asyncio
import signal
import uuid
from pathlib import Path

import aiohttp

from server import appkeys
from server.app import stop_gracefully
from server.store.embedded import EmbeddedRedis
from tests.conftest import Api, audience_token, make_settings, make_world, start_server


async def test_events_in_flight_are_answered_before_the_sockets_close(tmp_path: Path) -> None:
    store = EmbeddedRedis(tmp_path / "own")
    url = store.start()
    running = await start_server(make_settings(url, tmp_path, redis_socket_timeout=3.0))
    stopped = False
    try:
        async with aiohttp.ClientSession() as http:
            world = await make_world(Api(http, running.url, await running.organizer_token()))
            token = await audience_token(http, running, world.event["code"])
        c = await running.client(auth={"participant": token})
        assert (await c.call("session:join", {"session": world.session}))["ok"]
        # The store hangs: the ask now waits inside its handler.
        assert store.process is not None
        store.process.send_signal(signal.SIGSTOP)
        ask = asyncio.ensure_future(
            c.call(
                "qa:ask",
                {"session": world.session, "text": "in flight", "client_id": uuid.uuid4().hex},
                timeout=10,
            )
        )
        await asyncio.sleep(0.3)
        assert running.app[appkeys.GATE].inside["events"] == 1
        stopping = asyncio.ensure_future(stop_gracefully(running.runner))
        await asyncio.sleep(0.3)
        late = await c.call("qa:vote", {"session": world.session, "question": "x", "vote": True}, timeout=5)
        assert late["ok"] is False and late["error"]["code"] == "unavailable", late
        store.process.send_signal(signal.SIGCONT)
        answered = await ask
        assert answered["ok"], answered
        await asyncio.wait_for(stopping, 15)
        stopped = True
        await c.wait_for(lambda c: not c.sio.connected, timeout=5)
    finally:
        if store.process is not None:
            store.process.send_signal(signal.SIGCONT)
        for client in running.clients:
            if client.connected:
                await client.disconnect()
        if not stopped:
            await running.runner.cleanup()
        store.stop()
