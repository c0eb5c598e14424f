"""Polls end to end in real Chromium: a moderator prepares a poll and opens it with one key,
phones vote with one tap and may change their mind, the hall screen shows the question and
then the results when the moderator shows them, the speaker's monitor follows live; a word
cloud from several phones; every page in the three languages."""

from __future__ import annotations

import re

import aiohttp
import pytest
from playwright.async_api import Locator, Page, expect

from server import appkeys
from tests.conftest import OwnStore, Running, World, person
from tests.conftest import moderator as moderator_socket
from tests.web.conftest import Chromium
from tests.web.test_qa_browser import hall_screen, moderator
from tests.web.test_screen_canvas import shot

pytestmark = pytest.mark.browser


async def phone(browser: Chromium, world: World, lang: str = "en") -> Page:
    page = await browser.open(await browser.person(), f"/e/{world.event['code']}?lang={lang}")
    await expect(page.locator("#session-select")).to_have_value(world.session)
    await expect(page.locator("#qa-policy")).not_to_have_text("")
    return page


def poll_card(mod: Page, question: str, lane: str = "") -> Locator:
    """The console's card of the poll asking `question` (in lane `lane`: draft, open, closed)."""
    where = f'[data-poll-lane="{lane}"]' if lane else "#poll-lanes"
    return mod.locator(f"{where} .poll-mod-card", has_text=question)


async def poll_lanes(mod: Page) -> None:
    """The console's poll lanes in view (its tab)."""
    if await mod.locator("#view-polls").get_attribute("aria-selected") != "true":
        await mod.locator("#view-polls").click()
    await expect(mod.locator("#poll-lanes")).to_be_visible()
    await expect(mod.locator("#lanes")).to_be_hidden()


async def prepare(mod: Page, kind: str, question: str, options: str = "") -> None:
    await poll_lanes(mod)
    if await mod.locator("#poll-new").get_attribute("open") is None:
        await mod.locator("#poll-new > summary").click()
    form = mod.locator("#poll-form")
    await form.locator("[name=kind]").select_option(kind)
    await form.locator("[name=question]").fill(question)
    if options:
        await form.locator("[name=options]").fill(options)
    await form.locator("button[type=submit]").click()
    await expect(poll_card(mod, question, "draft")).to_be_visible()


async def test_a_poll_from_the_console_to_phones_and_the_hall_screen(browser: Chromium, world: World):
    mod = await moderator(browser, world)
    screen = await hall_screen(browser, world)
    studio = await browser.open(
        await browser.person(), f"/studio/{world.session}?lang=en#t={world.tokens['speaker']}"
    )
    phones = [await phone(browser, world, lang) for lang in ("en", "zh-CN", "he")]
    await prepare(mod, "choice", "Which city hosts next year?", "Nanjing\nTel Aviv\n*Lagos")
    item = poll_card(mod, "Which city hosts next year?")
    await expect(item).to_have_attribute("data-state", "draft")
    for p in phones:
        await expect(p.locator("#polls")).to_be_hidden()  # a draft stays with the moderators

    await mod.evaluate("document.activeElement.blur()")  # focus off any field: P is the console's key
    await mod.keyboard.press("p")
    await expect(poll_card(mod, "Which city hosts next year?", "open")).to_have_count(1)
    await expect(item.locator(".poll-shown")).to_have_text("Results hidden")
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
    item = poll_card(mod, "One word for today?")
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
    item = poll_card(mod, "What should the fund pay for first?")
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
    # More answers arriving leave the ones there in place (the moderator's pointer is on them).
    pointed = await answers.filter(has_text="<img").locator("button").element_handle()
    await mod.evaluate("(b) => { b.dataset.marked = 'yes'; }", pointed)
    for text in ("Teachers", "Teachers"):
        p = await phone(browser, world)
        await p.locator("#polls .poll-open-text textarea").fill(text)
        await p.locator("#polls .poll-open-text button[type=submit]").click()
        await expect(p.locator("#polls .poll-confirm")).to_be_visible()
    await expect(answers.filter(has_text="Teachers")).to_contain_text("×2")
    assert await mod.evaluate("(b) => b.isConnected && b.dataset.marked === 'yes'", pointed)
    await expect(answers.last).to_contain_text("Teachers")
    assert await screen.evaluate("typeof window.__pwned") == "undefined"
    assert await mod.evaluate("typeof window.__pwned") == "undefined"


TABLET = {"width": 768, "height": 1024}
HEBREW_S = """() => document.activeElement.dispatchEvent(
    new KeyboardEvent("keydown", {key: "ד", code: "KeyS", bubbles: true}))"""


async def test_poll_lanes_run_by_keys_with_live_bars_right_to_left_on_a_tablet(
    browser: Chromium, world: World, server: Running, http: aiohttp.ClientSession
):
    mod = await browser.open(
        await browser.person(viewport=TABLET), f"/m/{world.session}?lang=he#t={world.tokens['moderator']}"
    )
    await expect(mod.locator("html")).to_have_attribute("dir", "rtl")
    await expect(mod.locator("#settings [name=open]")).to_be_checked()  # the snapshot arrived
    await expect(mod.locator("#lanes")).to_be_visible()  # the questions first
    # 2: the poll lanes, 1: the questions again (the tabs follow, and keep the keyboard's place).
    await mod.keyboard.press("2")
    await expect(mod.locator("#view-polls")).to_have_attribute("aria-selected", "true")
    await expect(mod.locator("#view-polls")).to_be_focused()
    await expect(mod.locator("#lanes")).to_be_hidden()
    await prepare(mod, "choice", "באיזו עיר בשנה הבאה?", "נאנג'ינג\nלאגוס")
    await prepare(mod, "rating", "איך הייתה ההרצאה?")
    drafts = mod.locator('[data-poll-lane="draft"] .poll-mod-card')
    await expect(drafts).to_have_count(2)
    await expect(mod.locator('[data-poll-lane="open"] .lane-empty')).to_be_visible()
    # Right to left: Drafts at the right, Open at its left; nothing wider than the tablet.
    draft_box = await mod.locator('[data-poll-lane="draft"]').bounding_box()
    open_box = await mod.locator('[data-poll-lane="open"]').bounding_box()
    assert draft_box and open_box and draft_box["x"] > open_box["x"], (draft_box, open_box)
    assert await mod.evaluate("document.documentElement.scrollWidth <= innerWidth")

    # P: the top draft moves to Open; the other waits its turn.
    await mod.evaluate("document.activeElement.blur()")
    await mod.keyboard.press("p")
    card = poll_card(mod, "באיזו עיר בשנה הבאה?", "open")
    await expect(card).to_have_count(1)
    await expect(drafts).to_have_text([re.compile(re.escape("איך הייתה ההרצאה?"))])
    await expect(mod.locator("#view-polls-count")).to_have_text("פתוחים: 1 · תשובות: 0")
    await expect(card.locator(".poll-shown")).to_have_attribute("data-shown", "false")

    # Answers from a phone and another person: live bars on the card, drawn in place (they
    # glide) while the card keeps the keyboard's focus.
    await card.focus()
    lagos = card.locator(".poll-bar", has_text="לאגוס")
    await lagos.evaluate("(el) => { window.__bar = el; }")
    phone = await browser.open(
        await browser.person(viewport={"width": 360, "height": 740}), f"/e/{world.event['code']}?lang=he"
    )
    await phone.locator("#polls button[aria-label='לאגוס']").click()
    await expect(lagos.locator(".poll-count")).to_have_text("1 · 100%")
    bo = await person(server, world, http, "Bo")
    poll_id = await card.get_attribute("data-poll")
    answer = {"session": world.session, "poll": poll_id, "answer": [0]}
    assert (await bo.call("poll:answer", answer))["ok"]
    await expect(card.locator(".poll-voters")).to_have_text("תשובות: 2")
    await expect(lagos.locator(".poll-count")).to_have_text("1 · 50%")
    assert await lagos.evaluate("(el) => el === window.__bar"), "the bar was drawn anew"
    await expect(card).to_be_focused()
    await expect(mod.locator("#view-polls-count")).to_have_text("פתוחים: 1 · תשובות: 2")

    # S shows the results (the phone sees them), C closes: the card moves to Closed, focus with
    # it; S again hides them.
    await mod.keyboard.press("s")
    await expect(card.locator(".poll-shown")).to_have_attribute("data-shown", "true")
    await expect(phone.locator("#polls .poll-bar", has_text="לאגוס")).to_contain_text("1 · 50%")
    await expect(card).to_be_focused()
    await mod.keyboard.press("c")
    closed = poll_card(mod, "באיזו עיר בשנה הבאה?", "closed")
    await expect(closed).to_have_count(1)
    await expect(closed).to_be_focused()
    await expect(mod.locator("#view-polls-count")).to_have_text("")
    await shot(mod, "poll-lanes-he-tablet")
    # S again, on a Hebrew keyboard layout (the S key types "ד"): the key's place counts.
    await mod.evaluate(HEBREW_S)
    await expect(closed.locator(".poll-shown")).to_have_attribute("data-shown", "false")
    await expect(closed).to_be_focused()
    await expect(phone.locator("#polls .poll-results")).to_have_count(0)

    # The keys are listed; 1 brings the questions back.
    await mod.keyboard.press("?")
    await expect(mod.locator("#shortcuts dl")).to_contain_text("סגירת הסקר שבפוקוס")
    await mod.keyboard.press("1")
    await expect(mod.locator("#lanes")).to_be_visible()
    await expect(mod.locator("#poll-lanes")).to_be_hidden()
    # Held as a phone, the lanes stand one under another, nothing wider than the screen.
    await mod.set_viewport_size({"width": 360, "height": 740})
    await mod.keyboard.press("2")
    draft_box = await mod.locator('[data-poll-lane="draft"]').bounding_box()
    open_box = await mod.locator('[data-poll-lane="open"]').bounding_box()
    assert draft_box and open_box and open_box["y"] >= draft_box["y"] + draft_box["height"]
    assert await mod.evaluate("document.documentElement.scrollWidth <= innerWidth")
    await bo.sio.disconnect()


async def test_a_draft_is_edited_in_the_form_it_was_written_in(browser: Chromium, world: World):
    mod = await moderator(browser, world)
    await prepare(mod, "choice", "Which city next year?", "Nanjing\nTel Aviv")
    draft = poll_card(mod, "Which city next year?", "draft")
    await draft.locator("[data-poll-action=edit]").click()
    form = mod.locator("#poll-form")
    await expect(form.locator("[name=question]")).to_be_focused()
    await expect(form.locator("[name=options]")).to_have_value("Nanjing\nTel Aviv")
    await expect(form.locator("button[type=submit]")).to_have_text("Save changes")
    # A quiz now: a third city, the right one marked; a time limit.
    await form.locator("[name=question]").fill("Which city hosts next year?")
    await form.locator("[name=options]").fill("Nanjing\n* Tel Aviv\nLagos")
    await form.locator("[name=time_limit]").fill("30")
    await form.locator("button[type=submit]").click()
    edited = poll_card(mod, "Which city hosts next year?", "draft")
    await expect(edited.locator(".poll-draft-options li")).to_have_count(3)
    await expect(edited.locator(".poll-draft-options li").nth(1)).to_contain_text("Tel Aviv")
    await expect(edited.locator(".poll-draft-options li").nth(1).locator(".tag")).to_be_visible()
    await expect(mod.locator("#poll-lanes .poll-mod-card")).to_have_count(1)  # changed, not added
    await expect(mod.locator("#mod-status")).to_have_text("Draft updated.")
    await expect(form).to_be_hidden()
    # The marks taken away again: no longer a quiz. Cancel leaves a draft as it was.
    await edited.locator("[data-poll-action=edit]").click()
    await form.locator("[name=options]").fill("Nanjing\nTel Aviv\nLagos")
    await form.locator("button[type=submit]").click()
    await expect(edited.locator(".poll-draft-options .tag")).to_have_count(0)
    await edited.locator("[data-poll-action=edit]").click()
    await form.locator("[name=question]").fill("Not this")
    await mod.locator("#poll-edit-cancel").click()
    await expect(form).to_be_hidden()
    await expect(poll_card(mod, "Which city hosts next year?", "draft")).to_be_visible()
    await expect(form.locator("button[type=submit]")).to_have_text("Save as draft")


async def test_a_phone_typing_keeps_its_words_and_place_while_results_stream_in(
    browser: Chromium, world: World
):
    mod = await moderator(browser, world)
    await prepare(mod, "words", "One word for the keynote?")
    item = poll_card(mod, "One word for the keynote?")
    await item.locator("[data-poll-action=open]").click()
    await item.locator("[data-poll-action=show]").click()
    typist, other = await phone(browser, world), await phone(browser, world)
    first = typist.locator("#polls .poll-words input").first
    await first.click()
    await first.press_sequentially("insp")
    for word in ("water", "light", "bridge"):
        others = other.locator("#polls .poll-words input")
        await others.first.fill(word)
        await other.locator("#polls .poll-words button[type=submit]").click()
        await expect(typist.locator("#polls .cloud li", has_text=word)).to_have_count(1)
        await expect(typist.locator("#polls .cloud li")).to_have_count(1)  # a changed answer: one word
    await expect(first).to_be_focused()
    await expect(first).to_have_value("insp")
    await first.press_sequentially("iring")
    await typist.locator("#polls .poll-words button[type=submit]").click()
    await expect(typist.locator("#polls .poll-confirm")).to_be_visible()
    await expect(typist.locator("#polls .cloud li", has_text="inspiring")).to_have_count(1)


async def test_what_another_moderator_does_to_a_poll_is_said_aloud_and_ones_own_is_not(
    browser: Chromium, world: World
):
    mod = await moderator(browser, world)
    colleague = await moderator(browser, world)
    await prepare(mod, "rating", "How was the keynote?")
    await poll_lanes(colleague)
    await expect(poll_card(colleague, "How was the keynote?", "draft")).to_be_visible()
    await poll_card(mod, "How was the keynote?").locator("[data-poll-action=open]").click()
    await expect(colleague.locator("#announcer")).to_have_text("Poll open: How was the keynote?")
    await expect(mod.locator("#mod-status")).to_have_text("Poll open.")
    await poll_card(colleague, "How was the keynote?").locator("[data-poll-action=show]").click()
    await expect(mod.locator("#announcer")).to_have_text("Results shown in the hall: How was the keynote?")
    await expect(poll_card(colleague, "How was the keynote?").locator(".poll-shown")).to_have_attribute(
        "data-shown", "true"
    )
    await colleague.wait_for_timeout(200)  # past the announcer's own short delay
    await expect(colleague.locator("#announcer")).to_have_text("Poll open: How was the keynote?")


async def test_an_answer_refused_while_the_store_hangs_is_sent_again_and_counted_once(
    browser: Chromium, own: OwnStore
):
    world, server = own.world, own.server
    mod = await moderator_socket(server, world)
    ack = await mod.call("poll:create", {"session": world.session, "kind": "choice", "question": "Tea or coffee?",
                                         "options": ["Tea", "Coffee"]})  # fmt: skip
    poll = ack["poll"]
    assert (await mod.call("poll:state", {"session": world.session, "poll": poll, "action": "open"}))["ok"]
    page = await browser.open(await browser.person(), f"{server.url}/e/{world.event['code']}")
    choice = page.locator("#polls .poll-choices button", has_text="Coffee")
    await expect(choice).to_be_enabled()
    own.freeze()
    try:
        await choice.click()
        # The store does not answer within its timeout: Podium says so, the page sends again.
        await expect(page.locator("#polls .poll-card .error")).to_have_text(
            "Your answer did not get through yet: sending it again…", timeout=8000
        )
    finally:
        own.thaw()
    await expect(page.locator("#polls .poll-confirm")).to_be_visible(timeout=15000)
    await expect(page.locator("#polls .poll-card .error")).to_have_count(0)
    await expect(choice).to_have_attribute("aria-pressed", "true")
    store = server.app[appkeys.POLLS]
    assert await store.responses(world.session, poll) != {}
    assert len(await store.responses(world.session, poll)) == 1
    await page.close()
