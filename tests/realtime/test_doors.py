"""The doors (issue 9): sockets per address and not yet signed in are bounded per worker,
a socket that never signs in is closed, a client that stops reading is dropped, and the
client's address is read through trusted proxies only."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from server import appkeys
from server.realtime.doors import client_address, networks
from tests.conftest import Running, World, audience_token
from tests.fuzz.raw import RawSocket

WS = "/socket.io/?EIO=4&transport=websocket"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"connections_per_address": 6, "unauthenticated": 4, "auth_deadline_s": 1.5}


async def open_bare(
    http: aiohttp.ClientSession, server: Running, **headers: str
) -> aiohttp.ClientWebSocketResponse:
    """An Engine.IO websocket that has not signed in (no Socket.IO connect yet)."""
    ws = await http.ws_connect(server.url + WS, headers=headers)
    opened = await ws.receive_str(timeout=5)
    assert opened.startswith("0{"), opened
    return ws


async def refused(
    http: aiohttp.ClientSession, server: Running, **headers: str
) -> tuple[int, dict[str, Any], str]:
    async with http.get(
        server.url + WS,
        headers={"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", **headers},
    ) as r:  # fmt: skip
        return r.status, json.loads(await r.read()), r.headers.get("Retry-After", "")


async def until(check: Any, timeout: float = 5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_sockets_not_signed_in_are_bounded_and_refused_with_a_clear_error(
    server: Running, http: aiohttp.ClientSession, world: World
):
    doors = server.app[appkeys.DOORS]
    bare = [await open_bare(http, server) for _ in range(4)]
    status, body, retry = await refused(http, server)
    assert status == 503 and body["error"]["code"] == "unavailable" and retry == "2", (status, body)
    assert len(doors.unsigned) == 4, "the refused socket holds nothing"
    # One signs in: room for another.
    token = await audience_token(http, server, world.event["code"])
    await bare[0].send_str("40" + json.dumps({"participant": token}))
    assert (await bare[0].receive_str(timeout=5)).startswith("40{")
    await until(lambda: len(doors.unsigned) == 3)
    bare.append(await open_bare(http, server))
    for ws in bare:
        await ws.close()
    await until(lambda: not doors.by_address and not doors.unsigned)


async def test_sockets_from_one_address_are_bounded_and_closing_one_opens_the_door(
    server: Running, http: aiohttp.ClientSession, world: World
):
    doors = server.app[appkeys.DOORS]
    signed = []
    for _ in range(6):
        token = await audience_token(http, server, world.event["code"])
        signed.append(await RawSocket.open(http, server.url, {"participant": token}))
    status, body, retry = await refused(http, server)
    assert status == 429 and body["error"]["code"] == "rate_limited" and retry == "10", (status, body)
    assert "Too many connections" in body["error"]["message"]
    assert doors.by_address["127.0.0.1"] == 6
    await signed[0].close()
    await until(lambda: doors.by_address["127.0.0.1"] == 5)
    signed[0] = await RawSocket.open(
        http, server.url, {"participant": await audience_token(http, server, world.event["code"])}
    )
    for sock in signed:
        assert (await sock.call("session:join", {"session": world.session}))["ok"]
        await sock.close()
    await until(lambda: not doors.by_address)


async def test_a_socket_that_never_signs_in_is_closed_at_its_deadline(
    server: Running, http: aiohttp.ClientSession, world: World
):
    loop = asyncio.get_running_loop()
    ws = await open_bare(http, server)
    started = loop.time()
    token = await audience_token(http, server, world.event["code"])
    signed = await RawSocket.open(http, server.url, {"participant": token})
    msg = await ws.receive(timeout=5)
    while msg.type == aiohttp.WSMsgType.TEXT:  # an Engine.IO close ("1") comes first
        assert msg.data in ("1", "2"), msg
        msg = await ws.receive(timeout=5)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING)
    assert 1.4 <= loop.time() - started < 4
    await asyncio.sleep(0.5)
    assert (await signed.call("session:join", {"session": world.session}))["ok"], "signed in: kept"
    await signed.close()


async def test_a_refused_connect_may_be_retried_on_the_same_socket_within_the_deadline(
    server: Running, http: aiohttp.ClientSession, world: World
):
    ws = await open_bare(http, server)
    await ws.send_str('40{"participant":"forged"}')
    assert (await ws.receive_str(timeout=5)).startswith("44")
    token = await audience_token(http, server, world.event["code"])
    await ws.send_str("40" + json.dumps({"participant": token}))
    assert (await ws.receive_str(timeout=5)).startswith("40{")
    await asyncio.sleep(2)  # past the deadline: signed in, so kept
    assert not ws.closed
    await ws.close()


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "expected"),
    [
        ("203.0.113.9", None, (), "203.0.113.9"),
        ("203.0.113.9", "198.51.100.1", (), "203.0.113.9"),  # no proxy trusted: header ignored
        ("10.0.0.2", "198.51.100.1", ("10.0.0.0/8",), "198.51.100.1"),
        ("10.0.0.2", "6.6.6.6, 198.51.100.1, 10.0.0.7", ("10.0.0.0/8",), "198.51.100.1"),  # spoofed left
        ("203.0.113.9", "198.51.100.1", ("10.0.0.0/8",), "203.0.113.9"),  # not from the proxy
        ("10.0.0.2", "not-an-ip, 198.51.100.1", ("10.0.0.0/8",), "198.51.100.1"),
        ("10.0.0.2", "198.51.100.1, garbage", ("10.0.0.0/8",), "10.0.0.2"),
        ("::1", "2001:db8::5", ("::1",), "2001:db8::5"),
        ("10.0.0.2", "10.0.0.3", ("10.0.0.0/8",), "10.0.0.3"),
    ],
)
def test_the_clients_address_is_read_through_trusted_proxies_only(peer, header, trusted, expected):
    assert client_address(peer, header, networks(trusted)) == expected


class TestSlowReaders:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"send_buffer_bytes": 128 * 1024, "socket_events_per_10s": 1_000_000}

    async def test_a_client_that_stops_reading_is_dropped_and_its_buffer_freed(
        self, server: Running, http: aiohttp.ClientSession, world: World
    ):
        token = await audience_token(http, server, world.event["code"])
        sock = await RawSocket.open(http, server.url, {"participant": token})
        assert (await sock.call("session:join", {"session": world.session}))["ok"]
        other = await RawSocket.open(
            http, server.url, {"participant": await audience_token(http, server, world.event["code"])}
        )
        conns = server.app[appkeys.CONNECTIONS]
        sio = server.app[appkeys.SIO]
        assert len(conns) == 2
        # Stop reading (the kernel's buffers fill, then the worker's), and keep asking.
        sock._reader.cancel()
        sock.ws._response.connection.transport.pause_reading()  # type: ignore[union-attr]
        peak = 0
        for i in range(20_000):
            if len(conns) < 2:
                break
            try:
                await sock.ws.send_str(f'42{1000 + i}["session:snapshot",{{}}]')
            except aiohttp.ClientConnectionResetError:
                break  # dropped by the worker
            for s in sio.eio.sockets.values():
                if s.transport is not None:
                    peak = max(peak, s.transport.get_write_buffer_size())
            if i % 50 == 0:
                await asyncio.sleep(0)
        await until(lambda: len(conns) == 1, timeout=10)
        assert peak <= 128 * 1024 + 64 * 1024, f"buffered {peak} bytes for a client that does not read"
        assert (await other.call("session:join", {"session": world.session}))["ok"], "others unaffected"
        await other.close()
