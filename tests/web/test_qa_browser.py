"""Q&A end to end in a real Chromium: ask, moderate, vote and screen across people; hostile
text; the moderator's keyboard; no re-sorting under the moderator's hand; closing Q&A; the
audience's offline outbox.

Every person is a separate browser context (own cookies and localStorage). The `browser`
fixture (tests/web/conftest.py) also fails a test whose pages reached another host, threw an
uncaught error or tripped the Content-Security-Policy; each test here checks the hosts itself
as well.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Locator, Page, expect

from tests.conftest import World, hostile
from tests.web.conftest import LOCAL_HOST, Chromium

pytestmark = pytest.mark.browser

WAITING = "waiting for the moderator"
SENDING = "sending…"
NOT_PWNED = "typeof window.__pwned"


# Pages --------------------------------------------------------------------------------------


async def audience(browser: Chromium, world: World, name: str | None = None) -> Page:
    """A new person on /e/<code>, on the world's first session, with Q&A loaded."""
    page = await browser.open(await browser.person(), f"/e/{world.event['code']}")
    select = page.locator("#session-select")
    await expect(select).to_be_enabled()
    if await select.input_value() != world.session:
        await select.select_option(world.session)
    await expect(select).to_have_value(world.session)
    await expect(page.locator("#qa-policy")).not_to_have_text("")  # the snapshot arrived
    if name is not None:
        await page.fill("#name", name)
        await page.click("#save-name")
        await expect(page.locator("#name-status")).to_have_text(
            "Saved. Others will see this name next to what you send."
        )
    return page


async def moderator(browser: Chromium, world: World) -> Page:
    page = await browser.open(await browser.person(), f"/m/{world.session}#t={world.tokens['moderator']}")
    await expect(page.locator("#stage")).to_be_visible()
    await expect(page.locator("#settings [name=open]")).to_be_checked()  # the snapshot arrived
    return page


async def hall_screen(browser: Chromium, world: World) -> Page:
    page = await browser.open(await browser.person(), f"/s/{world.session}#t={world.tokens['screen']}")
    await expect(page.locator("#join-code")).to_have_text(world.event["code"])
    return page


async def ask(page: Page, text: str) -> None:
    await page.fill("#question-text", text)
    await page.click("#send")


def lane(mod: Page, name: str) -> Locator:
    """The cards of one lane of the console."""
    return mod.locator(f'.lane[data-lane="{name}"] .mod-card')


def texts(cards: Locator) -> Locator:
    return cards.locator(".question-text")


def reads(page: Page, text: str) -> Locator:
    """A `.question-text` whose text is exactly `text` (for filtering rows and cards)."""
    return page.locator(".question-text").filter(has_text=re.compile(f"^{re.escape(text)}$"))


def card(mod: Page, name: str, text: str) -> Locator:
    """The card in lane `name` whose question reads exactly `text`."""
    return lane(mod, name).filter(has=reads(mod, text))


def question(page: Page, where: str, text: str) -> Locator:
    """An audience page's row for `text` in a list (#mine, #questions, #on-screen)."""
    return page.locator(f"{where} .question").filter(has=reads(page, text))


async def not_pwned(page: Page) -> None:
    assert await page.evaluate(NOT_PWNED) == "undefined", page.url
    injected = await page.evaluate(
        'document.querySelectorAll(\'img[src="x"], svg[onload], a[href^="javascript"], '
        "script:not([type]), [onerror], [onload]').length"
    )
    assert injected == 0, f"question text became elements on {page.url}"


def only_local(browser: Chromium) -> None:
    hosts = {urlsplit(u).hostname for u in browser.urls}
    assert hosts == {LOCAL_HOST}, browser.urls


# 1 -------------------------------------------------------------------------------------------


async def test_a_question_goes_from_the_asker_through_the_moderator_to_everyone_and_the_screen(
    browser: Chromium, world: World
):
    text = "How will the agreement help start-ups?"
    ann = await audience(browser, world, name="Ann")
    bob = await audience(browser, world)
    mod = await moderator(browser, world)
    screen = await hall_screen(browser, world)

    await ask(ann, text)
    mine = question(ann, "#mine", text)
    await expect(mine).to_have_count(1)
    await expect(mine.locator(".tag.state")).to_have_text(WAITING)
    await expect(ann.locator("#question-text")).to_have_value("")

    incoming = card(mod, "incoming", text)
    await expect(incoming).to_have_count(1)
    await expect(incoming).to_contain_text("Ann")
    # Bob learns that something waits (the count), never what it says.
    await expect(bob.locator("#qa-counts")).to_have_text("1 waiting for review · 0 declined")
    await expect(bob.locator("#questions .question")).to_have_count(0)
    assert text not in await bob.evaluate("document.documentElement.textContent")
    assert text not in await screen.evaluate("document.documentElement.textContent")

    await incoming.locator("[data-action=approve]").click()
    queued = card(mod, "queue", text)
    await expect(queued).to_have_count(1)
    await expect(lane(mod, "incoming")).to_have_count(0)

    at_bob = question(bob, "#questions", text)
    await expect(at_bob).to_have_count(1)
    at_ann = question(ann, "#questions", text)
    await expect(at_ann).to_have_class(re.compile(r"\bis-mine\b"))
    await expect(ann.locator("#mine .question")).to_have_count(0)  # approved: it moved to the list
    await expect(at_ann.locator(".vote-count")).to_have_text("0")

    await at_bob.locator(".vote").click()
    await expect(at_bob.locator(".vote")).to_have_attribute("aria-pressed", "true")
    await expect(at_ann.locator(".vote-count")).to_have_text("1", timeout=5_000)  # Bob's vote
    await expect(at_ann.locator(".vote")).to_have_attribute("aria-pressed", "false")
    await expect(queued.locator(".vote-count")).to_have_text("1")

    await queued.locator("[data-action=screen]").click()
    await expect(texts(lane(mod, "screen"))).to_have_text([text])
    await expect(lane(mod, "queue")).to_have_count(0)
    await expect(screen.locator("#screen-question")).to_be_visible()
    await expect(screen.locator("#screen-question-text")).to_have_text(text)
    await expect(screen.locator("#screen-question-name")).to_have_text("Ann")
    await expect(screen.locator("#screen-question-votes")).to_have_text("1 vote")
    for page in (ann, bob):
        pinned = page.locator("#on-screen")
        await expect(pinned).to_be_visible()
        await expect(pinned.locator(".question-text")).to_have_text(text)
    only_local(browser)


# 2 -------------------------------------------------------------------------------------------


async def test_hostile_and_foreign_questions_show_literally_everywhere_and_never_run(
    browser: Chromium, world: World
):
    languages = hostile()["languages"]
    asked = [
        "<script>window.__pwned=1</script>",
        '<img src=x onerror="window.__pwned=1">',
        next(s for s in languages if re.search(r"[\u0590-\u05ff]", s)),  # Hebrew
        next(s for s in languages if re.search(r"[\u4e00-\u9fff]", s)),  # Chinese
    ]
    ann = await audience(browser, world, name='<img src=x onerror="window.__pwned=1">')
    bob = await audience(browser, world)
    mod = await moderator(browser, world)
    screen = await hall_screen(browser, world)

    for text in asked:
        await ask(ann, text)
        await expect(question(ann, "#mine", text)).to_have_count(1)
    await expect(lane(mod, "incoming")).to_have_count(len(asked))
    for text in asked:
        await card(mod, "incoming", text).locator("[data-action=approve]").click()
        await expect(card(mod, "queue", text)).to_have_count(1)

    for page in (ann, bob):
        rows = page.locator("#questions .question-text")
        await expect(rows).to_have_count(len(asked))
        assert sorted(await rows.all_text_contents()) == sorted(asked)
    assert sorted(await texts(lane(mod, "queue")).all_text_contents()) == sorted(asked)
    await expect(lane(mod, "queue").first).to_contain_text('<img src=x onerror="window.__pwned=1">')

    for text in asked:
        current = mod.locator(".mod-card").filter(has=reads(mod, text))
        await current.locator("[data-action=screen]").click()
        await expect(texts(lane(mod, "screen"))).to_have_text([text])
        await expect(screen.locator("#screen-question-text")).to_have_text(text)
        assert await screen.locator("#screen-question-text").text_content() == text
        for page in (ann, bob):
            pinned = page.locator("#on-screen .question-text")
            await expect(pinned).to_have_text(text)
            assert await pinned.text_content() == text
        for page in (ann, bob, mod, screen):
            await not_pwned(page)
    await expect(screen.locator("#screen-question-name")).to_have_text(
        '<img src=x onerror="window.__pwned=1">'
    )
    assert not [u for u in browser.urls if urlsplit(u).path.endswith("/x")], "an <img src=x> was loaded"
    only_local(browser)


# 3 -------------------------------------------------------------------------------------------


async def test_the_moderator_approves_screens_moves_on_and_undoes_from_the_keyboard(
    browser: Chromium, world: World
):
    first, second = "First: what comes after the pilot?", "Second: who pays for the servers?"
    ann = await audience(browser, world)
    mod = await moderator(browser, world)
    for text in (first, second):
        await ask(ann, text)
        await expect(card(mod, "incoming", text)).to_have_count(1)

    await card(mod, "incoming", first).focus()
    await mod.keyboard.press("a")
    await expect(texts(lane(mod, "queue"))).to_have_text([first])
    await expect(texts(lane(mod, "incoming"))).to_have_text([second])
    await card(mod, "incoming", second).locator(".question-text").click()
    await mod.keyboard.press("a")
    await expect(texts(lane(mod, "queue"))).to_have_text([first, second])
    await expect(lane(mod, "incoming")).to_have_count(0)

    await card(mod, "queue", first).focus()
    await mod.keyboard.press("s")
    await expect(texts(lane(mod, "screen"))).to_have_text([first])
    await expect(texts(lane(mod, "queue"))).to_have_text([second])
    await expect(question(ann, "#on-screen", first)).to_have_count(1)

    await mod.keyboard.press("n")  # Next: the one on screen is answered, the queue's top goes up
    await expect(texts(lane(mod, "screen"))).to_have_text([second])
    await expect(texts(lane(mod, "done"))).to_have_text([first])
    await expect(lane(mod, "done")).to_contain_text("answered")
    await expect(lane(mod, "queue")).to_have_count(0)
    await expect(question(ann, "#on-screen", second)).to_have_count(1)

    await mod.keyboard.press("u")  # one key, one undo: Next is taken back whole
    await expect(texts(lane(mod, "screen"))).to_have_text([first])
    await expect(texts(lane(mod, "queue"))).to_have_text([second])
    await expect(lane(mod, "done")).to_have_count(0)
    await expect(question(ann, "#on-screen", first)).to_have_count(1)

    await mod.keyboard.press("u")  # and the screening before it
    await expect(lane(mod, "screen")).to_have_count(0)
    await expect(lane(mod, "queue")).to_have_count(2)
    await expect(mod.locator("#undo")).to_be_enabled()
    only_local(browser)


async def focused_question(mod: Page) -> str | None:
    return await mod.evaluate("document.activeElement?.closest?.('.mod-card')?.dataset.question ?? null")


async def test_focus_stays_in_the_lanes_after_a_keyboard_action(browser: Chromium, world: World):
    ann = await audience(browser, world)
    mod = await moderator(browser, world)
    await ask(ann, "Is the keyboard enough?")
    await card(mod, "incoming", "Is the keyboard enough?").focus()
    await mod.keyboard.press("a")
    await expect(texts(lane(mod, "queue"))).to_have_text(["Is the keyboard enough?"])
    assert await mod.evaluate("document.getElementById('lanes').contains(document.activeElement)")


# 4 -------------------------------------------------------------------------------------------


async def test_the_queue_does_not_move_under_a_focused_card_and_arrivals_wait_behind_a_pill(
    browser: Chromium, world: World
):
    first, second, late = "Older and first", "Younger but popular", "Arrived while reading"
    ann = await audience(browser, world)
    bob = await audience(browser, world)
    mod = await moderator(browser, world)
    for text in (first, second):
        await ask(ann, text)
        await card(mod, "incoming", text).locator("[data-action=approve]").click()
        await expect(card(mod, "queue", text)).to_have_count(1)
    await expect(texts(lane(mod, "queue"))).to_have_text([first, second])

    await mod.locator("#settings [name=post]").check()
    await expect(ann.locator("#qa-policy")).to_have_text(
        "Questions appear at once; moderators may remove any that break the rules."
    )
    held = card(mod, "queue", first)
    await held.focus()
    first_id = await held.get_attribute("data-question")

    # A vote would put the second on top; the moderator is looking, so nothing moves.
    await question(bob, "#questions", second).locator(".vote").click()
    await expect(card(mod, "queue", second).locator(".vote-count")).to_have_text("1")
    await expect(texts(lane(mod, "queue"))).to_have_text([first, second])

    # Post-moderation: a new question is approved at once, but waits behind the pill.
    await ask(ann, late)
    await expect(question(bob, "#questions", late)).to_have_count(1)
    pill = mod.locator("#new-pill")
    await expect(pill).to_be_visible()
    await expect(pill).to_have_text("1 new: show")
    await expect(texts(lane(mod, "queue"))).to_have_text([first, second])
    await expect(mod.locator('.lane[data-lane="queue"] .count')).to_have_text("3")
    assert await focused_question(mod) == first_id, "the focused card lost focus"

    await pill.click()
    await expect(texts(lane(mod, "queue"))).to_have_text([second, first, late])
    await expect(pill).to_be_hidden()
    only_local(browser)


# 5 -------------------------------------------------------------------------------------------


async def test_closing_questions_shows_the_notice_and_reopening_brings_the_composer_back(
    browser: Chromium, world: World
):
    ann = await audience(browser, world)
    mod = await moderator(browser, world)
    await expect(ann.locator("#composer-row")).to_be_visible()
    await expect(ann.locator("#qa-closed")).to_be_hidden()

    await mod.locator("#settings [name=open]").uncheck()
    await expect(ann.locator("#qa-closed")).to_be_visible()
    await expect(ann.locator("#qa-closed")).to_have_text("Questions are closed for this session.")
    await expect(ann.locator("#composer-row")).to_have_attribute("hidden", "")
    await expect(mod.locator("#settings-error")).to_have_text("")

    late = await audience(browser, world)  # someone arriving now sees it closed from the start
    await expect(late.locator("#qa-closed")).to_be_visible()
    await expect(late.locator("#composer-row")).to_have_attribute("hidden", "")

    await mod.locator("#settings [name=open]").check()
    for page in (ann, late):
        await expect(page.locator("#composer-row")).to_be_visible()
        await expect(page.locator("#composer-row")).not_to_have_attribute("hidden", "")
        await expect(page.locator("#qa-closed")).to_be_hidden()
    only_local(browser)


async def test_closing_questions_hides_the_composer(browser: Chromium, world: World):
    ann = await audience(browser, world)
    mod = await moderator(browser, world)
    await mod.locator("#settings [name=open]").uncheck()
    await expect(ann.locator("#qa-closed")).to_be_visible()
    await expect(ann.locator("#composer-row")).to_be_hidden(timeout=2_000)
    await expect(ann.locator("#anonymous")).to_be_hidden(timeout=2_000)


# 6 -------------------------------------------------------------------------------------------


async def outbox(page: Page) -> list[dict]:
    return await page.evaluate(
        "Object.entries(localStorage).filter(([k]) => k.startsWith('podium.outbox.'))"
        ".flatMap(([, v]) => JSON.parse(v))"
    )


async def test_a_question_sent_offline_is_delivered_exactly_once_when_back_online(
    browser: Chromium, world: World
):
    text, after = "Asked in the lift, no signal", "Asked once back online"
    ann = await audience(browser, world)
    mod = await moderator(browser, world)

    await ann.context.set_offline(True)
    await expect(ann.locator("#banner")).to_have_text("Connection lost. Reconnecting…")
    await ask(ann, text)
    await expect(ann.locator("#question-text")).to_have_value("")
    kept = await outbox(ann)
    assert [item["text"] for item in kept] == [text], kept
    await ann.wait_for_timeout(300)
    await expect(lane(mod, "incoming")).to_have_count(0)

    await ann.context.set_offline(False)
    await expect(ann.locator("#banner")).to_be_hidden()
    await expect(question(ann, "#mine", text).locator(".tag.state")).to_have_text(WAITING)
    await expect(card(mod, "incoming", text)).to_have_count(1)
    assert await outbox(ann) == []

    # A later question is the sync point: any second copy of the first would be there by now.
    await ask(ann, after)
    await expect(texts(lane(mod, "incoming"))).to_have_text([text, after])
    await expect(ann.locator("#mine .question-text")).to_have_text([text, after])
    await mod.reload()
    await expect(texts(lane(mod, "incoming"))).to_have_text([text, after])
    only_local(browser)


async def test_a_question_typed_offline_shows_as_sending(browser: Chromium, world: World):
    ann = await audience(browser, world)
    await ann.context.set_offline(True)
    await expect(ann.locator("#banner")).to_have_text("Connection lost. Reconnecting…")
    await ask(ann, "Still here?")
    await expect(question(ann, "#mine", "Still here?").locator(".tag.state")).to_have_text(
        SENDING, timeout=2_000
    )
