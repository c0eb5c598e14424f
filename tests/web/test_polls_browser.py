"""Polls end to end in real Chromium: a moderator prepares a poll and opens it with one key,
phones vote with one tap and may change their mind, the hall screen shows the question and
then the results when the moderator shows them, the speaker's monitor follows live; a word
cloud from several phones; every page in the three languages."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.conftest import World
from tests.web.conftest import Chromium
from tests.web.test_qa_browser import hall_screen, moderator
from tests.web.test_screen_canvas import shot

pytestmark = pytest.mark.browser


async def phone(browser: Chromium, world: World, lang: str = "en") -> Page:
    page = await browser.open(await browser.person(), f"/e/{world.event['code']}?lang={lang}")
    await expect(page.locator("#session-select")).to_have_value(world.session)
    await expect(page.locator("#qa-policy")).not_to_have_text("")
    return page


async def prepare(mod: Page, kind: str, question: str, options: str = "") -> None:
    await mod.locator("#poll-new > summary").click()
    form = mod.locator("#poll-form")
    await form.locator("[name=kind]").select_option(kind)
    await form.locator("[name=question]").fill(question)
    if options:
        await form.locator("[name=options]").fill(options)
    await form.locator("button[type=submit]").click()
    await expect(mod.locator("#polls .poll-item", has_text=question)).to_be_visible()


async def test_a_poll_from_the_console_to_phones_and_the_hall_screen(browser: Chromium, world: World):
    mod = await moderator(browser, world)
    screen = await hall_screen(browser, world)
    studio = await browser.open(
        await browser.person(), f"/studio/{world.session}?lang=en#t={world.tokens['speaker']}"
    )
    phones = [await phone(browser, world, lang) for lang in ("en", "zh-CN", "he")]
    await prepare(mod, "choice", "Which city hosts next year?", "Nanjing\nTel Aviv\n*Lagos")
    item = mod.locator("#polls .poll-item", has_text="Which city hosts next year?")
    await expect(item.locator(".tag").first).to_have_text("Draft")
    for p in phones:
        await expect(p.locator("#polls")).to_be_hidden()  # a draft stays with the moderators

    await mod.locator("body").click()  # focus off any field: P is the console's key
    await mod.keyboard.press("p")
    await expect(item.locator(".tag").first).to_have_text("Open")
    await expect(screen.locator("#screen-canvas")).to_have_attribute("data-mode", "poll")
    await expect(screen.locator("#screen-poll-question")).to_have_text("Which city hosts next year?")
    await expect(screen.locator("#screen-poll-options li")).to_have_text(["Nanjing", "Tel Aviv", "Lagos"])

    # One tap each; the first phone changes its mind.
    for p, pick in zip(phones, ("Nanjing", "Lagos", "Lagos"), strict=True):
        card = p.locator("#polls .poll-card")
        await expect(card.locator(".poll-question")).to_have_text("Which city hosts next year?")
        await card.locator(f"button[aria-label='{pick}']").click()
        await expect(card.locator(f"button[aria-label='{pick}']")).to_have_attribute("aria-pressed", "true")
        await expect(card.locator(".poll-confirm")).to_be_visible()
    first = phones[0].locator("#polls .poll-card")
    await first.locator("button[aria-label='Tel Aviv']").click()
    await expect(first.locator("button[aria-label='Tel Aviv']")).to_have_attribute("aria-pressed", "true")
    await expect(first.locator("button[aria-label='Nanjing']")).to_have_attribute("aria-pressed", "false")

    # The console and the speaker's monitor see the results live; the hall and phones do not yet.
    await expect(item.locator(".poll-voters")).to_have_text("3 answers")
    await expect(item.locator(".poll-bar", has_text="Lagos").locator(".poll-count")).to_have_text("2 · 67%")
    await expect(studio.locator("#monitor-poll-results .poll-bar", has_text="Lagos")).to_contain_text(
        "2 · 67%"
    )
    await expect(screen.locator("#screen-poll-results .poll-bar")).to_have_count(0)
    await expect(phones[1].locator("#polls .poll-results")).to_have_count(0)

    await item.locator("[data-poll-action=close]").click()
    await item.locator("[data-poll-action=show]").click()
    bars = screen.locator("#screen-poll-results .poll-bar")
    await expect(bars).to_have_count(3)
    await expect(bars.filter(has_text="Lagos").locator(".poll-count")).to_have_text("2 · 67%")
    await expect(bars.filter(has_text="Lagos")).to_have_class("poll-bar is-correct")
    await expect(
        phones[2].locator("#polls .poll-bar", has_text="Tel Aviv").locator(".poll-count")
    ).to_have_text("1 · 33%")
    await expect(phones[1].locator("#polls .poll-results")).to_be_visible()
    await expect(phones[2].locator("html")).to_have_attribute("dir", "rtl")
    for name, page in (("screen", screen), ("console", mod), ("phone-he", phones[2]), ("studio", studio)):
        await shot(page, f"poll-{name}")
    # The quiz's leaderboard: on the console, and on the hall's thank-you slide at the end.
    await mod.locator("#poll-board-button").click()
    await expect(mod.locator("#poll-board .leader")).to_have_count(2)
    await mod.locator("#session-status").select_option("ended")
    await expect(screen.locator("#screen-canvas")).to_have_attribute("data-mode", "poll")  # still shown
    await item.locator("[data-poll-action=hide]").click()
    await expect(screen.locator("#screen-canvas")).to_have_attribute("data-mode", "ended")
    await expect(screen.locator("#slide-board .leader")).to_have_count(2)
    await expect(screen.locator("#slide-board .leader-score").first).to_contain_text("1 right")
    await shot(screen, "poll-leaderboard")
    # A reloaded phone still knows what it chose.
    await phones[1].reload()
    lagos = phones[1].locator("#polls button[aria-label='Lagos']")
    await expect(lagos).to_have_attribute("aria-pressed", "true")  # its choice, from poll:mine
    await expect(lagos).to_be_disabled()  # closed
    await expect(phones[1].locator("#polls .poll-card")).to_contain_text("此投票已结束。")  # a Chinese phone


async def test_a_word_cloud_from_several_phones(browser: Chromium, world: World):
    mod = await moderator(browser, world)
    screen = await hall_screen(browser, world)
    await prepare(mod, "words", "One word for today?")
    item = mod.locator("#polls .poll-item", has_text="One word for today?")
    await item.locator("[data-poll-action=open]").click()
    await item.locator("[data-poll-action=show]").click()
    for words in (["Inspiring", "water"], ["inspiring"], ["合作"]):
        p = await phone(browser, world)
        inputs = p.locator("#polls .poll-words input")
        for i, w in enumerate(words):
            await inputs.nth(i).fill(w)
        await p.locator("#polls .poll-words button[type=submit]").click()
        await expect(p.locator("#polls .poll-confirm")).to_be_visible()
    cloud = screen.locator("#screen-poll-results .cloud li")
    await expect(cloud).to_have_count(3)
    await expect(cloud.first).to_have_text("inspiring")
    await expect(cloud.first).to_have_attribute("data-count", "2")
    await shot(screen, "poll-cloud")


async def test_open_answers_reach_the_hall_only_when_let_through(browser: Chromium, world: World):
    mod = await moderator(browser, world)
    screen = await hall_screen(browser, world)
    await prepare(mod, "text", "What should the fund pay for first?")
    item = mod.locator("#polls .poll-item", has_text="What should the fund pay for first?")
    await item.locator("[data-poll-action=open]").click()
    await item.locator("[data-poll-action=show]").click()
    for text in ("Clean water for schools", "<img src=x onerror=window.__pwned=1>"):
        p = await phone(browser, world)
        await p.locator("#polls .poll-open-text textarea").fill(text)
        await p.locator("#polls .poll-open-text button[type=submit]").click()
        await expect(p.locator("#polls .poll-confirm")).to_be_visible()
    answers = item.locator(".poll-text")
    await expect(answers).to_have_count(2)
    await expect(screen.locator("#screen-poll-results .poll-text-list li")).to_have_count(0)
    await answers.filter(has_text="Clean water").locator("[data-text-action=approve]").click()
    await expect(screen.locator("#screen-poll-results .poll-text-list li")).to_have_text(
        ["Clean water for schools"]
    )
    await expect(answers.filter(has_text="Clean water")).to_have_attribute("data-approved", "true")
    assert await screen.evaluate("typeof window.__pwned") == "undefined"
    assert await mod.evaluate("typeof window.__pwned") == "undefined"
