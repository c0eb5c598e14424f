"""Podium's TURN credentials against a real coturn (use-auth-secret): the ones a join hands out
open allocations and relay data, they expire when Podium says, and another secret's are
refused. The browsers' side is in tests/web/test_turn_browser.py."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint

from tests.conftest import Running, World
from tests.conftest import join_session as joined
from tests.turn import TURN_SECRET, Coturn

TTL = 600


@pytest.fixture
def turn_ttl() -> int:
    return TTL


@pytest.fixture
def settings_overrides(coturn: Coturn, turn_ttl: int) -> dict[str, Any]:
    """Podium hands out credentials for this coturn, made with Podium's own secret."""
    return {
        "turn_urls": (coturn.url("udp"), coturn.url("tcp")),
        "turn_secret": TURN_SECRET,
        "turn_ttl_seconds": turn_ttl,
        "ice_transport_policy": "relay",
    }


class Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, Any]] = asyncio.Queue()
        self.closed = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.put_nowait((data, addr))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class Allocation:
    """A relayed address on coturn, held with the given credentials until closed."""

    def __init__(self, turn: Coturn, transport: str, username: str, password: str) -> None:
        self.args = (("127.0.0.1", turn.port), username, password)
        self.transport_name = transport

    async def __aenter__(self) -> Allocation:
        self.transport, self.inbox = await asyncio.wait_for(
            create_turn_endpoint(Inbox, *self.args, transport=self.transport_name), 5
        )
        self.relayed: tuple[str, int] = self.transport.get_extra_info("sockname")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.transport.close()
        await asyncio.wait_for(self.inbox.closed, 5)


def turn_entry(snapshot: dict[str, Any]) -> dict[str, Any]:
    [entry] = [s for s in snapshot["rtc"]["ice_servers"] if s["urls"][0].startswith("turn:")]
    return entry


async def refused(turn: Coturn, transport: str, username: str, password: str) -> int:
    """The error code coturn answers an allocation with these credentials (it must refuse)."""
    with pytest.raises(stun.TransactionFailed) as failed:
        async with Allocation(turn, transport, username, password):
            pass
    return failed.value.response.error_code


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_the_credentials_of_a_join_relay_data_through_coturn(
    server: Running, world: World, coturn: Coturn, transport: str
):
    _, ssnap = await joined(server, world, {"token": world.tokens["speaker"]})
    _, vsnap = await joined(server, world, {"token": world.tokens["screen"]})
    assert ssnap["rtc"]["ice_transport_policy"] == vsnap["rtc"]["ice_transport_policy"] == "relay"
    mine, theirs = turn_entry(ssnap), turn_entry(vsnap)
    assert mine["urls"] == [coturn.url("udp"), coturn.url("tcp")]

    async with (
        Allocation(coturn, transport, mine["username"], mine["credential"]) as a,
        Allocation(coturn, transport, theirs["username"], theirs["credential"]) as b,
    ):
        assert a.relayed[0] == b.relayed[0] == "127.0.0.1"
        # Each side permits the other's relayed address (TURN drops data from strangers)...
        b.transport.sendto(b"let me in", a.relayed)
        await asyncio.sleep(0.2)
        a.transport.sendto(b"the speaker's first packet", b.relayed)
        data, origin = await asyncio.wait_for(b.inbox.received.get(), 5)
        # ...and what arrives came through coturn, from the other's relayed address.
        assert (data, tuple(origin)) == (b"the speaker's first packet", a.relayed)

    # coturn logged both allocations under Podium's usernames: "<expiry>:<person>".
    granted = coturn.allocations()
    assert mine["username"] in granted and theirs["username"] in granted
    for username in (mine["username"], theirs["username"]):
        match = re.fullmatch(r"(\d+):(.+)", username)
        assert match, username
        assert abs(int(match[1]) - (time.time() + TTL)) < 30


@pytest.mark.slow
@pytest.mark.parametrize("turn_ttl", [2])
async def test_turn_credentials_expire_after_the_configured_ttl(
    server: Running, world: World, coturn: Coturn, turn_ttl: int
):
    _, snap = await joined(server, world, {"token": world.tokens["speaker"]})
    entry = turn_entry(snap)
    expiry = int(entry["username"].split(":", 1)[0])
    assert expiry - turn_ttl <= time.time() <= expiry
    async with Allocation(coturn, "udp", entry["username"], entry["credential"]) as held:
        await asyncio.sleep(max(0.0, expiry + 1.2 - time.time()))  # coturn counts whole seconds
        # Expired: no new allocation with them...
        assert await refused(coturn, "udp", entry["username"], entry["credential"]) == 401
        assert entry["username"] in coturn.refusals()

        # ...while a page that joins again (a reload, a reconnect) gets fresh ones that work,
        _, again = await joined(server, world, {"token": world.tokens["screen"]})
        fresh = turn_entry(again)
        assert int(fresh["username"].split(":", 1)[0]) > expiry
        async with Allocation(coturn, "udp", fresh["username"], fresh["credential"]) as new:
            # and an allocation made before they expired carries on (coturn checks them when an
            # allocation is made, not again on its permissions and refreshes): a talk that
            # outlasts its credentials is not cut off.
            new.transport.sendto(b"let me in", held.relayed)
            await asyncio.sleep(0.2)
            held.transport.sendto(b"still here", new.relayed)
            data, _ = await asyncio.wait_for(new.inbox.received.get(), 5)
            assert data == b"still here"


@pytest.mark.parametrize("turn_ttl", [2])
async def test_a_page_open_past_its_credentials_gets_fresh_ones_without_a_reload(
    server: Running, world: World, coturn: Coturn, turn_ttl: int, http
):
    screen, snap = await joined(server, world, {"token": world.tokens["screen"]})
    assert snap["rtc"]["ice_ttl_s"] == turn_ttl, "the page knows when to ask again"
    old = turn_entry(snap)
    await asyncio.sleep(max(0.0, int(old["username"].split(":", 1)[0]) + 1.2 - time.time()))
    assert await refused(coturn, "udp", old["username"], old["credential"]) == 401

    ack = await screen.call("rtc:ice", {"session": world.session})  # what rtc.js sends halfway
    assert ack["ok"] and ack["ice_ttl_s"] == turn_ttl
    [fresh] = [s for s in ack["ice_servers"] if s["urls"][0].startswith("turn:")]
    assert int(fresh["username"].split(":", 1)[0]) > time.time()
    async with Allocation(coturn, "udp", fresh["username"], fresh["credential"]):
        pass  # coturn takes them

    # Only the roles that connect media, only in their session.
    from tests.conftest import audience_token

    phone = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
    await phone.call("session:join", {"session": world.session})
    assert (await phone.call("rtc:ice", {"session": world.session}))["error"]["code"] == "forbidden"
    other = await screen.call("rtc:ice", {"session": world.sessions[1]["id"]})
    assert other["error"]["code"] == "conflict"
    assert (await screen.call("rtc:ice", {"session": world.session, "x": 1}))["error"]["code"] == "invalid"


@pytest.mark.parametrize("coturn_secret", ["not-podiums-secret"])
@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_credentials_made_with_another_secret_are_refused(
    server: Running, world: World, coturn: Coturn, transport: str
):
    _, snap = await joined(server, world, {"token": world.tokens["screen"]})
    entry = turn_entry(snap)
    assert await refused(coturn, transport, entry["username"], entry["credential"]) == 401
    assert entry["username"] in coturn.refusals()
    assert not coturn.allocations()
