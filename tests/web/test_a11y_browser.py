"""Accessibility in real Chromium, beyond what axe-core checks (issue 10): emoji drawn as
pictures on every device, reactions that stay still for whoever asks for less motion, the
moderator console by keyboard alone, and what the live regions announce."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.conftest import Running, World, person
from tests.conftest import moderator as moderator_client
from tests.web.conftest import Chromium
from tests.web.test_qa_browser import ask, audience, card, hall_screen, moderator

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


# The console by keyboard, and what the live regions say --------------------------------------

# Records every sentence the page's polite live region (#announcer) says.
LISTEN = """() => {
    window.__said = [];
    const region = document.getElementById("announcer");
    new MutationObserver(() => region.textContent && window.__said.push(region.textContent))
        .observe(region, {childList: true, characterData: true, subtree: true});
}"""
# What has focus, whether its ring shows (outline or box-shadow, 2px or more) and the ring's
# contrast with what is behind it (the first ancestor with a background).
FOCUSED = r"""() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    const lum = (c) => {
        const [r, g, b] = c.map((v) => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
        return 0.2126 * r + 0.7152 * g + 0.0722 * b;
    };
    const style = getComputedStyle(el);
    let ring = null;
    if (style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2) ring = rgb(style.outlineColor);
    else if (style.boxShadow !== "none") ring = rgb(style.boxShadow);
    let behind = [255, 255, 255];
    for (let p = el.parentElement; p; p = p.parentElement) {
        const c = rgb(getComputedStyle(p).backgroundColor);
        if (c.length === 3 || c[3] > 0) { behind = c.slice(0, 3); break; }
    }
    const [hi, lo] = ring ? [lum(ring.slice(0, 3)), lum(behind)].sort((a, b) => b - a) : [0, 0];
    return {
        what: el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
            + (el.dataset.action ? `[${el.dataset.action}]` : "") + (el.name ? `[${el.name}]` : ""),
        question: el.closest(".mod-card")?.dataset.question ?? null,
        visible: el.matches(":focus-visible") && ring !== null,
        contrast: ring ? (hi + 0.05) / (lo + 0.05) : 0,
    };
}"""
TAB_LIMIT = 200


async def tab_to(page: Page, done: str, key: str = "Tab") -> list[dict[str, Any]]:
    """Presses Tab (or `key`: Shift+Tab) until the focused element matches `done`; every stop on the way must show
    a focus ring of 3:1 or more, and focus must never fall out of the page (no trap either:
    the walk would never end)."""
    stops = []
    for _ in range(TAB_LIMIT):
        await page.keyboard.press(key)
        stop = await page.evaluate(FOCUSED)
        assert stop is not None, f"focus left the page after {[s['what'] for s in stops]}"
        assert stop["visible"], f"no visible focus on {stop['what']}"
        assert stop["contrast"] >= 3, stop
        stops.append(stop)
        if await page.evaluate("(sel) => document.activeElement.matches(sel)", done):
            return stops
    raise AssertionError(f"{done} not reached by Tab: {[s['what'] for s in stops]}")


async def said(page: Page) -> list[str]:
    return list(await page.evaluate("window.__said"))


@pytest.mark.parametrize("scheme", ["light", "dark"])
async def test_every_control_of_the_console_is_reached_by_tab_in_order_with_a_visible_ring(
    browser: Chromium, world: World, server: Running, http, scheme: str
):
    mod_socket = await moderator_client(server, world)
    await mod_socket.call("qa:settings", {"session": world.session, "moderation": "pre"})
    ann = await person(server, world, http, "Ann")
    await ann.call("qa:ask", {"session": world.session, "text": "Where is the ring?", "client_id": "ring"})
    speaker = await studio(browser, world)  # a speaker in the lineup: its moves and cue field
    mod = await browser.open(
        await browser.person(color_scheme=scheme), f"/m/{world.session}#t={world.tokens['moderator']}"
    )
    await expect(card(mod, "incoming", "Where is the ring?")).to_have_count(1)
    await expect(mod.locator("#lineup .stage-item")).to_have_count(1)
    # From the top to the language switcher at the page's end (no trap: the walk ends), the
    # bar, then the lanes, then the side panel.
    stops = [s["what"] for s in await tab_to(mod, "#lang-switch")]
    order = [
        "button#next",
        "summary",
        "button#view-qa",
        "li",
        "button[approve]",
        "button[screen]",
        "input",
        "textarea[chat]",
    ]
    at = [stops.index(what) for what in order]
    assert at == sorted(at), stops
    await speaker.close()
    for client in (mod_socket, ann):
        await client.sio.disconnect()


async def test_the_stage_panel_keeps_keyboard_focus_through_its_redraws(
    browser: Chromium, world: World, server: Running
):
    speaker = await studio(browser, world)
    mod = await moderator(browser, world)
    item = mod.locator("#lineup .stage-item")
    await expect(item).to_have_attribute("data-state", "backstage")
    speaker_id = await item.get_attribute("data-speaker")
    cue = item.locator(".cues input")
    await cue.focus()
    await mod.keyboard.type("Slide 12 is")
    # Another moderator moves the speaker while this one types the cue.
    mod_socket = await moderator_client(server, world)
    move = {"session": world.session, "speaker": speaker_id, "state": "off"}
    assert (await mod_socket.call("stage:set", move))["ok"]
    await expect(item).to_have_attribute("data-state", "off")
    await expect(cue).to_be_focused()
    await mod.keyboard.type(" out of order")
    await expect(cue).to_have_value("Slide 12 is out of order")
    # A move pressed from the keyboard goes; focus stays with the speaker's moves.
    await tab_to(mod, "#lineup [data-stage=live]", "Shift+Tab")
    await mod.keyboard.press("Enter")
    await expect(item).to_have_attribute("data-state", "live")
    await expect(speaker.locator("#tally")).to_have_text("LIVE")
    assert await mod.evaluate("document.activeElement.closest('.stage-moves') !== null")
    await mod_socket.sio.disconnect()


async def test_the_console_works_by_keyboard_alone_and_announces_arrivals_and_the_screen_not_votes(
    browser: Chromium, world: World, server: Running, http
):
    mod_socket = await moderator_client(server, world)
    await mod_socket.call("qa:settings", {"session": world.session, "moderation": "pre"})
    mod = await moderator(browser, world)
    await mod.evaluate(LISTEN)
    ann = await person(server, world, http, "Ann")
    text = "Can the console be run from the keyboard?"
    asked = await ann.call("qa:ask", {"session": world.session, "text": text, "client_id": "kbd1"})
    qid = asked["question"]["id"]
    await expect(card(mod, "incoming", text)).to_have_count(1)
    await expect(mod.locator("#announcer")).to_have_text("New question from Ann")
    # From the top: Tab to the question's Approve, Enter; focus follows the question.
    await tab_to(mod, f'.mod-card[data-question="{qid}"] [data-action=approve]')
    await mod.keyboard.press("Enter")
    await expect(card(mod, "queue", text)).to_have_count(1)
    await expect(card(mod, "queue", text)).to_be_focused()
    await tab_to(mod, f'.mod-card[data-question="{qid}"] [data-action=screen]')
    await mod.keyboard.press("Space")
    await expect(card(mod, "screen", text)).to_have_count(1)
    await expect(card(mod, "screen", text)).to_be_focused()
    focused = await mod.evaluate(FOCUSED)
    assert focused["visible"] and focused["contrast"] >= 3, focused
    await expect(mod.locator("#announcer")).to_have_text(f"On screen: {text}")

    # Votes change the count on the card, and say nothing.
    voters = [await person(server, world, http, name) for name in ("Bo", "Cy")]
    for voter in voters:
        assert (await voter.call("qa:vote", {"session": world.session, "question": qid, "vote": True}))["ok"]
    await expect(card(mod, "screen", text).locator(".vote-count")).to_have_text("2")
    await mod.wait_for_timeout(1500)  # longer than new arrivals are gathered for
    assert await said(mod) == ["New question from Ann", f"On screen: {text}"]

    # A new question: one sentence, once.
    second = "And by voice?"
    await ann.call("qa:ask", {"session": world.session, "text": second, "client_id": "kbd2"})
    await expect(mod.locator("#announcer")).to_have_text("New question from Ann")
    await mod.wait_for_timeout(1500)
    assert await said(mod) == ["New question from Ann", f"On screen: {text}", "New question from Ann"]

    # Letters typed in a field are text, not shortcuts; outside one, ? opens the list of keys.
    await mod.locator("#chat textarea").focus()
    await mod.keyboard.type("asdn?")
    await expect(mod.locator("#chat textarea")).to_have_value("asdn?")
    await expect(card(mod, "incoming", second)).to_have_count(1)
    await expect(card(mod, "screen", text)).to_have_count(1)
    await expect(mod.locator("#shortcuts")).not_to_have_attribute("open", "")
    await card(mod, "incoming", second).focus()
    await mod.keyboard.press("?")
    await expect(mod.locator("#shortcuts")).to_have_attribute("open", "")
    await expect(mod.locator("#shortcuts dl")).to_contain_text("Move between questions")
    for client in (mod_socket, ann, *voters):
        await client.sio.disconnect()


async def test_the_audience_hears_its_question_approved_answered_and_on_screen_not_votes(
    browser: Chromium, world: World, server: Running, http
):
    mod_socket = await moderator_client(server, world)
    await mod_socket.call("qa:settings", {"session": world.session, "moderation": "pre"})
    phone = await audience(browser, world)
    # Neither the pinned question (its votes) nor the count of people here is read out at
    # every change: only #announcer speaks.
    for changing in ("#on-screen", "#live-count"):
        await expect(phone.locator(changing)).not_to_have_attribute("aria-live", "polite")
    await phone.evaluate(LISTEN)
    text = "Will the slides be shared?"
    await ask(phone, text)
    mine = phone.locator("#mine .question[data-question]")
    await expect(mine).to_have_count(1)
    qid = await mine.get_attribute("data-question")

    async def moderate(action: str) -> None:
        payload = {"session": world.session, "question": qid, "action": action}
        assert (await mod_socket.call("qa:moderate", payload))["ok"]

    await moderate("approve")
    await expect(phone.locator("#announcer")).to_have_text("Your question was approved")
    await moderate("screen")
    await expect(phone.locator("#announcer")).to_have_text(f"On screen: {text}")
    voters = [await person(server, world, http, name) for name in ("Bo", "Cy")]
    for voter in voters:
        assert (await voter.call("qa:vote", {"session": world.session, "question": qid, "vote": True}))["ok"]
    await expect(phone.locator("#on-screen .vote-count")).to_have_text("2")
    await moderate("answer")
    await expect(phone.locator("#announcer")).to_have_text("Your question was marked answered")
    assert await said(phone) == [
        "Your question was approved",
        f"On screen: {text}",
        "Your question was marked answered",
    ]
    for client in (mod_socket, *voters):
        await client.sio.disconnect()
