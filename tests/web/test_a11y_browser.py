"""Accessibility in real Chromium, beyond what axe-core checks (issue 10): emoji drawn as
pictures on every device, reactions that stay still for whoever asks for less motion, the
moderator console by keyboard alone, and what the live regions announce."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.conftest import World
from tests.web.conftest import Chromium
from tests.web.test_qa_browser import audience, hall_screen

pytestmark = pytest.mark.browser

REACTIONS = 5
# Every emoji picture under `root` has loaded (a broken or missing file has naturalWidth 0).
PICTURES_LOADED = """([root, n]) => {
    const imgs = [...document.querySelectorAll(`${root} img.emoji`)];
    return imgs.length >= n && imgs.every((i) => i.complete && i.naturalWidth > 0);
}"""
# Text nodes that hold an emoji (outside the pages' JSON <script>s): what a kiosk without a
# colour emoji font would draw as an empty box.
EMOJI_AS_TEXT = r"""() => {
    const pictograph = /\p{Extended_Pictographic}/u;
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const found = [];
    while (walker.nextNode()) {
        const node = walker.currentNode;
        if (pictograph.test(node.data) && !node.parentElement.closest("script")) found.push(node.data.trim());
    }
    return found;
}"""


async def studio(browser: Chromium, world: World, **options: Any) -> Page:
    page = await browser.open(
        await browser.person(**options), f"/studio/{world.session}#t={world.tokens['speaker']}"
    )
    await expect(page.locator("#meter .meter-row")).to_have_count(REACTIONS)
    return page


async def test_emoji_are_pictures_that_load_on_the_phone_the_screen_and_the_studio(
    browser: Chromium, world: World
):
    screen = await hall_screen(browser, world)
    speaker = await studio(browser, world)
    phone = await audience(browser, world)
    await expect(phone.locator("#reactions .reaction")).to_have_count(REACTIONS)
    clap = phone.get_by_role("button", name="Send applause")
    await expect(clap).to_have_attribute("data-emoji", "👏")
    await phone.wait_for_function(PICTURES_LOADED, arg=["#reactions", REACTIONS])
    await speaker.wait_for_function(PICTURES_LOADED, arg=["#meter", REACTIONS])
    names = await speaker.locator("#meter img.emoji").evaluate_all("(imgs) => imgs.map((i) => i.alt)")
    assert names == ["applause", "laughter", "love", "surprise", "thanks"]

    await clap.click()
    await expect(screen.locator("#floating .float img.emoji").first).to_be_attached()
    await screen.wait_for_function(PICTURES_LOADED, arg=["#floating", 1])
    await screen.wait_for_function(PICTURES_LOADED, arg=["#sound", 1])  # the sound button's 🔇
    for page in (phone, screen, speaker):
        assert await page.evaluate(EMOJI_AS_TEXT) == [], page.url


@pytest.mark.parametrize("motion", ["reduce", "no-preference"])
async def test_reactions_float_only_for_those_who_have_not_asked_for_less_motion(
    browser: Chromium, world: World, motion: str
):
    screen = await browser.open(
        await browser.person(reduced_motion=motion), f"/s/{world.session}#t={world.tokens['screen']}"
    )
    await expect(screen.locator("#join-code")).to_have_text(world.event["code"])
    speaker = await studio(browser, world, reduced_motion=motion)
    phone = await audience(browser, world)
    await phone.get_by_role("button", name="Send applause").click()
    await phone.get_by_role("button", name="Send thanks").click()

    glide = await speaker.locator(".meter-fill").first.evaluate(
        "(el) => getComputedStyle(el).transitionDuration"
    )
    assert glide == ("0s" if motion == "reduce" else "0.25s")
    floats = screen.locator("#floating .float")
    totals = screen.locator("#reaction-totals")
    if motion == "reduce":
        # The calm version: the session's counts change in place; nothing moves, nothing glides.
        await expect(totals.locator("li[data-emoji='👏']")).to_have_text("1")
        await expect(totals.locator("li[data-emoji='🙏']")).to_have_text("1")
        await expect(speaker.locator("#meter [data-emoji='👏'] .meter-fill")).not_to_have_attribute(
            "style", "inline-size: 0%;"
        )
        assert await floats.count() == 0
        for page in (screen, speaker):
            assert await page.evaluate("document.getAnimations().length") == 0, page.url
    else:
        await expect(floats.first).to_be_attached()
        assert await screen.evaluate("document.getAnimations().length") > 0
        await expect(totals).to_be_hidden()
        await expect(floats).to_have_count(0, timeout=8000)  # each one goes when it has risen
