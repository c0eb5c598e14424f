"""A real Chromium (Debian's, never a downloaded one) driven through Playwright's async API.

The `browser` fixture launches one Chromium per test against the `server` fixture's real port.
Each person is a separate browser context (own cookies, own localStorage). Every request and
websocket a page opens is recorded: at teardown the test fails if any went to a host other than
127.0.0.1, if a page threw an uncaught error, or if the Content-Security-Policy blocked something.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from playwright.async_api import Browser, BrowserContext, Page, Playwright, async_playwright, expect

from server import appkeys
from tests.conftest import Running

CHROMIUM = os.environ.get("PODIUM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # A camera and microphone that draw a test pattern and a beep, allowed without a prompt;
    # media may start with sound, as on a hall screen started in kiosk mode.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--auto-select-desktop-capture-source=Entire screen",  # a speaker sharing their slides
    "--autoplay-policy=no-user-gesture-required",
]
LOCAL_HOST = "127.0.0.1"
TIMEOUT_MS = 10_000
CLOSE_TIMEOUT_S = 15

expect.set_options(timeout=TIMEOUT_MS)


@dataclass
class Chromium:
    """One launched browser; `person()` is a fresh context, `open()` a watched tab in it."""

    playwright: Playwright
    browser: Browser
    base: str
    urls: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console: list[tuple[str, str]] = field(default_factory=list)
    contexts: list[BrowserContext] = field(default_factory=list)

    async def person(self, **options: Any) -> BrowserContext:
        """A new browser profile: one person with their own cookies and localStorage (options
        as Playwright's new_context takes them, e.g. timezone_id)."""
        context = await self.browser.new_context(base_url=self.base, **options)
        context.set_default_timeout(TIMEOUT_MS)
        context.on("request", lambda request: self.urls.append(request.url))
        self.contexts.append(context)
        return context

    async def open(
        self,
        context: BrowserContext,
        path: str,
        before: Callable[[Page], Awaitable[None]] | None = None,
    ) -> Page:
        """A new tab of `context` at `path` (relative to the server), with its errors recorded;
        `before` runs on the tab first (e.g. to route its WebSocket)."""
        page = await context.new_page()
        page.on("websocket", lambda ws: self.urls.append(ws.url))
        page.on("pageerror", lambda exc: self.page_errors.append(f"{page.url}: {exc}"))
        page.on("console", lambda msg: self.console.append((msg.type, msg.text)))
        if before is not None:
            await before(page)
        await page.goto(path)
        return page

    def foreign_urls(self) -> list[str]:
        return [u for u in self.urls if urlsplit(u).hostname not in (LOCAL_HOST, None)]

    def csp_violations(self) -> list[str]:
        return [text for kind, text in self.console if "Content Security Policy" in text]

    async def close(self) -> None:
        """Close every context and the browser; a hang becomes a clear failure, not a timeout."""
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT_S):
                for context in self.contexts:
                    await context.close()
                await self.browser.close()
        finally:
            await self.playwright.stop()


async def sockets_gone(server: Running) -> list[str]:
    """Wait until the server has processed every browser socket's disconnect; the leftovers."""
    connections = server.app[appkeys.CONNECTIONS]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + CLOSE_TIMEOUT_S
    while connections and loop.time() < deadline:
        await asyncio.sleep(0.05)
    return [f"{c.principal.role} in {c.session_id}" for c in connections.values()]


@pytest.fixture
async def jarless() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that keeps no cookies: each request sends exactly the Cookie header it is given."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        yield session


@pytest.fixture
def chromium_path() -> str:
    """The Chromium to drive. Missing is a failure, never a skip (and no browser is downloaded).

    A plain fixture on purpose: pytest.fail raises a BaseException, which must not be raised
    inside the event loop that the async fixtures share.
    """
    if not Path(CHROMIUM).is_file() or not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"No Chromium at {CHROMIUM}: install Debian's `chromium` package or set PODIUM_CHROMIUM "
            "to a Chromium executable (browser tests never download one).",
            pytrace=False,
        )
    return CHROMIUM


@pytest.fixture
async def browser(server: Running, chromium_path: str) -> AsyncIterator[Chromium]:
    """Debian's Chromium against the test's Podium, closed (and checked) after the test."""
    playwright = await async_playwright().start()
    try:
        launched = await playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
    except Exception:
        await playwright.stop()
        raise
    chromium = Chromium(playwright=playwright, browser=launched, base=server.url)
    try:
        yield chromium
    finally:
        await chromium.close()
    leftover = await sockets_gone(server)
    assert not leftover, f"the server still holds sockets of closed pages: {leftover}"
    assert not chromium.foreign_urls(), f"pages reached other hosts: {chromium.foreign_urls()}"
    assert not chromium.page_errors, f"uncaught errors in pages: {chromium.page_errors}"
    assert not chromium.csp_violations(), f"the CSP blocked something: {chromium.csp_violations()}"


from tests.web.media import media  # noqa: E402, F401  (the fixture, for every browser test)
