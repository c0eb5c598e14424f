"""A hall screen and a console never lose a live speaker's picture (issue 11, the bug first):
reloaded ten times each while a speaker is live, the picture is back every time within 3 s;
a speaker's offer that overtakes the page's join reply is kept (no second offer needed); an
offer lost on the way is asked for again and comes."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from playwright.async_api import Page, WebSocketRoute, expect

from tests.conftest import Api, World
from tests.web.conftest import Chromium
from tests.web.test_media_browser import PLAYING, playing, speaker_link, studio
from tests.web.test_qa_browser import moderator

pytestmark = pytest.mark.browser

BACK_WITHIN_S = 3.0


async def live_speaker(browser: Chromium, world: World, org: Api) -> tuple[str, Page]:
    """A speaker live on stage with a (fake) camera, put there from a console that then closes."""
    link = await speaker_link(org, world, "Dr. Amara Okafor")
    mod = await moderator(browser, world)
    speaker = await studio(browser, world, link["token"])
    sid = link["invite"]["id"]
    await mod.locator(f"#lineup li[data-speaker='{sid}'] [data-stage=live]").click()
    await expect(speaker.locator("#tally")).to_have_text("LIVE")
    await mod.close()
    return sid, speaker


async def picture_back(page: Page, selector: str, started: float) -> float:
    """Seconds from `started` until the video at `selector` plays a real picture."""
    await page.wait_for_function(
        f"() => {{ const v = document.querySelector({selector!r}); return v && ({PLAYING})(v); }}",
        timeout=20_000,
    )
    return time.monotonic() - started


async def test_reloading_the_hall_screen_and_the_console_ten_times_keeps_the_picture(
    browser: Chromium, world: World, org: Api
):
    sid, _speaker = await live_speaker(browser, world, org)
    screen = await browser.open(await browser.person(), f"/s/{world.session}#t={world.tokens['screen']}")
    console = await browser.open(await browser.person(), f"/m/{world.session}#t={world.tokens['moderator']}")
    tile = f".tile[data-speaker='{sid}'] video"
    preview = f"#lineup li[data-speaker='{sid}'] video"
    await playing(screen.locator(tile))
    await playing(console.locator(preview))
    took: dict[str, list[float]] = {"screen": [], "console": []}
    for _ in range(10):
        for name, page, selector in (("screen", screen, tile), ("console", console, preview)):
            started = time.monotonic()
            await page.reload()
            took[name].append(await picture_back(page, selector, started))
    for name, times in took.items():
        slow = [round(t, 2) for t in times if t > BACK_WITHIN_S]
        assert not slow, f"the {name}'s picture came back late: {slow} (all: {times})"


def signals(page_log: list[str], kind: str) -> list[str]:
    """The rtc:signal packets of one kind the page sent (socket.io: 42<ack id>["rtc:signal",...])."""
    return [m for m in page_log if re.match(r'42\d*\["rtc:signal"', m) and f'"kind":"{kind}"' in m]


async def test_an_offer_that_overtakes_the_join_reply_is_kept(browser: Chromium, world: World, org: Api):
    sid, _speaker = await live_speaker(browser, world, org)
    sent: list[str] = []
    loop = asyncio.get_running_loop()

    def route(ws: WebSocketRoute) -> None:
        # The join's reply is held back a second while the speaker's offer goes through: the
        # order the race takes on a busy server (the offer is relayed while the join runs).
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            if isinstance(message, str):
                sent.append(message)
            server.send(message)

        held: list[str | bytes] = []
        state = {"holding": False, "done": False}

        def release() -> None:
            state["holding"], state["done"] = False, True
            for m in held:
                ws.send(m)
            held.clear()

        def from_server(message: str | bytes) -> None:
            text = message if isinstance(message, str) else ""
            if not state["done"] and text.startswith("43") and '"rtc":' in text:
                state["holding"] = True
                loop.call_later(1.0, release)
            if state["holding"] and not text.startswith('42["rtc:'):
                held.append(message)
                return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    screen = await browser.open(
        await browser.person(),
        f"/s/{world.session}#t={world.tokens['screen']}",
        before=lambda page: page.route_web_socket(lambda url: "/socket.io/" in url, route),
    )
    tile = screen.locator(f".tile[data-speaker='{sid}'] video")
    await playing(tile)
    assert signals(sent, "answer"), "the screen answered the early offer"
    assert not signals(sent, "request"), "the early offer was enough: no second one asked for"


async def test_a_lost_offer_is_asked_for_again(browser: Chromium, world: World, org: Api):
    sid, _speaker = await live_speaker(browser, world, org)
    sent: list[str] = []
    dropped = {"offers": 0}

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            if isinstance(message, str):
                sent.append(message)
            server.send(message)

        def from_server(message: str | bytes) -> None:
            # The speaker's first offer is lost on the way (a venue network blip).
            if isinstance(message, str) and '"kind":"offer"' in message and not dropped["offers"]:
                dropped["offers"] += 1
                return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    started = time.monotonic()
    screen = await browser.open(
        await browser.person(),
        f"/s/{world.session}#t={world.tokens['screen']}",
        before=lambda page: page.route_web_socket(lambda url: "/socket.io/" in url, route),
    )
    took = await picture_back(screen, f".tile[data-speaker='{sid}'] video", started)
    assert dropped["offers"] == 1
    assert len(signals(sent, "request")) >= 1, "the screen asked for a new offer"
    assert took < 10, took
