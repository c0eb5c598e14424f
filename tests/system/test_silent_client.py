"""A phone that vanishes without closing its connection leaves the counts within 30 s."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from tests.conftest import Running, World, audience_token

pytestmark = pytest.mark.slow


async def raw_join(http: aiohttp.ClientSession, server: Running, token: str, session: str):
    """Speak engine.io/socket.io by hand, so the client can then fall silent mid-connection."""
    ws = await http.ws_connect(
        server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket", autoping=False
    )
    opened = await ws.receive_str(timeout=5)
    assert opened.startswith("0"), opened
    await ws.send_str("40" + json.dumps({"participant": token}))
    connected = await ws.receive_str(timeout=5)
    assert connected.startswith("40{"), connected
    await ws.send_str("421" + json.dumps(["session:join", {"session": session}]))
    while True:
        msg = await ws.receive_str(timeout=5)
        if msg.startswith("431"):
            ack = json.loads(msg[3:])[0]
            assert ack["ok"], ack
            return ws
        if msg == "2":
            await ws.send_str("3")


async def test_a_client_that_stops_answering_pings_is_dropped_within_30_s(
    server: Running, world: World, http
):
    watcher = await server.client(
        auth={"participant": await audience_token(http, server, world.event["code"])}
    )
    await watcher.call("session:join", {"session": world.session})
    silent = await raw_join(
        http, server, await audience_token(http, server, world.event["code"]), world.session
    )
    try:
        await watcher.wait_for(lambda c: c.last_count(world.session) == 2, timeout=5)
        went_quiet = time.monotonic()
        # From here the silent client reads nothing and answers no ping, like a phone in a tunnel.
        await watcher.wait_for(lambda c: c.last_count(world.session) == 1, timeout=30)
        elapsed = time.monotonic() - went_quiet
        assert elapsed < 30, elapsed
    finally:
        await silent.close()
        await asyncio.sleep(0)
