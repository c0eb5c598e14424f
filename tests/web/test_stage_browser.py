"""The stage in real Chromium: the session clock and reactions, across the faces of a session."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.conftest import World
from tests.web.conftest import Chromium
from tests.web.test_qa_browser import audience, hall_screen, moderator

pytestmark = pytest.mark.browser


async def test_the_moderator_runs_the_clock_and_the_speaker_sees_it(browser: Chromium, world: World):
    mod = await moderator(browser, world)
    studio = await browser.open(
        await browser.person(), f"/studio/{world.session}#t={world.tokens['speaker']}"
    )
    await expect(studio.locator("#clock")).to_have_text("15:00")  # the session's length, not started
    await mod.click("[data-clock=start]")
    await expect(studio.locator("#clock")).to_have_text("14:59", timeout=3000)
    await expect(studio.locator("#clock")).to_have_attribute("data-state", "running")
    await mod.click("[data-clock=pause]")
    await expect(studio.locator("#clock")).to_have_attribute("data-state", "paused")
    await mod.click("[data-clock=reset]")
    await expect(studio.locator("#clock")).to_have_text("15:00")
    await mod.click("[data-clock=add][data-seconds='300']")
    await expect(studio.locator("#clock")).to_have_text("20:00")
    await expect(mod.locator("#clock")).to_have_text("20:00")


async def test_reactions_from_phones_float_on_the_hall_screen(browser: Chromium, world: World):
    screen = await hall_screen(browser, world)
    phone = await audience(browser, world)
    await expect(phone.locator(".reaction")).to_have_count(5)
    await phone.click(".reaction[data-emoji='👏']")
    await expect(phone.locator(".reaction[data-emoji='👏']")).to_be_disabled()  # a short cooldown
    await expect(screen.locator("#floating .float").first).to_have_attribute("data-emoji", "👏", timeout=3000)


async def test_the_moderator_puts_a_speaker_live_and_the_studio_tally_says_so(
    browser: Chromium, world: World
):
    studio = await browser.open(
        await browser.person(), f"/studio/{world.session}#t={world.tokens['speaker']}"
    )
    await expect(studio.locator("#tally")).to_have_text("BACKSTAGE")
    await expect(studio.locator("#tally")).to_have_attribute("data-state", "backstage")
    mod = await moderator(browser, world)
    await expect(mod.locator("#lineup li[data-state=backstage]")).to_have_count(1)
    await mod.click("#lineup [data-stage=live]")
    await expect(studio.locator("#tally")).to_have_text("LIVE")
    await expect(studio.locator("#tally")).to_have_attribute("data-state", "live")
    await studio.reload()  # a reconnect: the speaker is still live, without the moderator
    await expect(studio.locator("#tally")).to_have_text("LIVE")
    await mod.click("#lineup [data-stage=off]")
    await expect(studio.locator("#tally")).to_have_text("OFF")


async def test_the_console_works_on_a_phone(browser: Chromium, world: World):
    """The on-site moderator walking the hall holds a phone: no sideways scrolling, every action reachable."""
    from tests.web.test_qa_browser import ask

    phone = await browser.person()
    mod = await browser.open(phone, f"/m/{world.session}#t={world.tokens['moderator']}")
    await mod.set_viewport_size({"width": 390, "height": 844})
    await expect(mod.locator("#settings [name=open]")).to_be_checked()
    ann = await audience(browser, world)
    await ask(ann, "Asked from the back row")
    approve = mod.locator('.lane[data-lane="incoming"] .mod-card [data-action=approve]')
    await approve.scroll_into_view_if_needed()
    await approve.click()
    await expect(mod.locator('.lane[data-lane="queue"] .mod-card')).to_have_count(1)
    overflow = await mod.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0, f"the console scrolls sideways by {overflow}px on a phone"
