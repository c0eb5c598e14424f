"""The session feed in a real Chromium: what the browser's live.js sends and keeps when frames
are lost on the way and when the phone goes through a tunnel."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import Page, WebSocket, WebSocketRoute, expect

from tests.conftest import World
from tests.web.conftest import Chromium
from tests.web.test_qa_browser import ask, card, moderator, question

pytestmark = pytest.mark.browser


def events(frames: list[str], name: str) -> list[Any]:
    """The payloads of socket.io events `name` among raw engine.io frames ("42<id>[name, x]")."""
    out = []
    for f in frames:
        if not f.startswith("42"):
            continue
        i = 2
        while i < len(f) and f[i].isdigit():
            i += 1
        data = json.loads(f[i:])
        if data and data[0] == name:
            out.append(data[1] if len(data) > 1 else None)
    return out


def acks(frames: list[str]) -> list[Any]:
    out = []
    for f in frames:
        if f.startswith("43"):
            i = 2
            while f[i].isdigit():
                i += 1
            out.append(json.loads(f[i:])[0])
    return out


async def watched(browser: Chromium, world: World) -> tuple[Page, list[str], list[str]]:
    """An audience page whose websocket traffic (sent, received) is recorded."""
    sent: list[str] = []
    received: list[str] = []

    async def record(page: Page) -> None:
        def on_socket(ws: WebSocket) -> None:
            ws.on("framesent", lambda payload: sent.append(payload if isinstance(payload, str) else ""))
            ws.on(
                "framereceived", lambda payload: received.append(payload if isinstance(payload, str) else "")
            )

        page.on("websocket", on_socket)

    page = await browser.open(await browser.person(), f"/e/{world.event['code']}", before=record)
    await expect(page.locator("#qa-policy")).not_to_have_text("")  # the snapshot arrived
    return page, sent, received


async def test_a_phone_back_from_a_tunnel_asks_only_for_what_it_missed(browser: Chromium, world: World):
    mod = await moderator(browser, world)
    phone, sent, received = await watched(browser, world)
    asker, _, _ = await watched(browser, world)
    await ask(asker, "Asked while the phone was in a tunnel")
    await phone.context.set_offline(True)
    await expect(phone.locator("#banner")).to_have_text("Connection lost. Reconnecting…")
    await (
        card(mod, "incoming", "Asked while the phone was in a tunnel")
        .locator("[data-action=approve]")
        .click()
    )
    before = len(sent)
    await phone.context.set_offline(False)
    await expect(question(phone, "#questions", "Asked while the phone was in a tunnel")).to_have_count(1)
    await expect(phone.locator("#banner")).to_be_hidden()
    joins = events(sent[before:], "session:join")
    assert joins and all("since" in j for j in joins), joins
    resumed = [a for a in acks(received) if a.get("resumed")]
    assert resumed, "the rejoin was answered with what changed, not a snapshot"
    assert "qa" not in resumed[-1] and "frame" in resumed[-1]
    assert not events(sent, "session:snapshot")


async def test_a_frame_lost_on_the_way_makes_the_page_resume_not_fetch_a_snapshot(
    browser: Chromium, world: World
):
    drop = {"armed": False, "dropped": 0}
    sent: list[str] = []

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            if isinstance(message, str):
                sent.append(message)
            server.send(message)

        def from_server(message: str | bytes) -> None:
            if (
                drop["armed"]
                and isinstance(message, str)
                and message.startswith('42["session:feed"')
                and '"qa"' in message
            ):
                drop["armed"] = False
                drop["dropped"] += 1
                return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    mod = await moderator(browser, world)
    phone = await browser.open(
        await browser.person(),
        f"/e/{world.event['code']}",
        before=lambda page: page.route_web_socket(lambda url: "/socket.io/" in url, route),
    )
    await expect(phone.locator("#qa-policy")).not_to_have_text("")
    asker = await browser.open(await browser.person(), f"/e/{world.event['code']}")
    await expect(asker.locator("#qa-policy")).not_to_have_text("")
    await ask(asker, "First one")
    await ask(asker, "Second one")
    drop["armed"] = True
    await card(mod, "incoming", "First one").locator("[data-action=approve]").click()
    await expect(card(mod, "queue", "First one")).to_have_count(1)
    await card(mod, "incoming", "Second one").locator("[data-action=approve]").click()
    # The first approval never reached the phone; the next frame started after its position.
    await expect(question(phone, "#questions", "First one")).to_have_count(1)
    await expect(question(phone, "#questions", "Second one")).to_have_count(1)
    assert drop["dropped"] == 1
    assert len(events(sent, "session:resume")) == 1
    assert not events(sent, "session:snapshot")
