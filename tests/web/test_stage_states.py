"""Stage states a producer expects, in real Chromium: a backup recording that ends falls back
to the holding slide and the console and studio say so; a reloaded screen joins a recording
where the hall is; invited speakers show in the lineup before they arrive; "Go live" waits for
a connection; the console's stage panel has room; the organizer page fits a phone and keeps
the role and session after making a link."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.conftest import Api, World
from tests.web.conftest import Chromium
from tests.web.media import MediaServer, make_webm
from tests.web.test_media_browser import MEDIA_TIMEOUT_MS, playing, speaker_link, studio
from tests.web.test_qa_browser import hall_screen, moderator

pytestmark = pytest.mark.browser


async def test_a_recording_that_ends_falls_back_to_the_holding_slide_and_everyone_says_so(
    browser: Chromium, world: World, org: Api, media: MediaServer, tmp_path: Path
):
    make_webm(
        tmp_path / "short.webm", seconds=8
    )  # served from tmp_path; long enough for a slow second screen
    link = await speaker_link(org, world, "Minister")
    sid = link["invite"]["id"]
    await org.ok("PATCH", f"/api/invites/{sid}", {"backup_url": f"{media.url}/short.webm"})
    screen = await hall_screen(browser, world)
    mod = await moderator(browser, world)
    speaker = await studio(browser, world, link["token"])
    item = mod.locator(f"#lineup li[data-speaker='{sid}']")
    await item.locator("[data-stage=backup]").click()
    tile = screen.locator(f".tile[data-speaker='{sid}']")
    await expect(tile).to_have_attribute("data-mode", "video", timeout=MEDIA_TIMEOUT_MS)
    await expect(item.locator(".stage-state")).to_have_text("Backup")
    await expect(speaker.locator("#hold")).to_have_text("Your recording is playing in the hall.")

    # A second projector switched on two seconds in joins where the hall is, not at 0.
    await screen.wait_for_timeout(1500)
    second = await hall_screen(browser, world)
    late = second.locator(f".tile[data-speaker='{sid}'] video")
    await playing(late)
    assert await late.evaluate("(v) => v.currentTime") > 1.0

    # The end: the holding slide, never the last frame; the console and the studio say so.
    await expect(tile).to_have_attribute("data-mode", "holding", timeout=MEDIA_TIMEOUT_MS)
    await expect(tile.locator(".holding-text")).to_have_text("Minister will be right back")
    await expect(item.locator(".stage-state")).to_have_text("Recording ended · holding slide")
    await expect(speaker.locator("#hold")).to_have_text(
        "Your recording has ended: the hall shows the holding slide until the moderator brings you back."
    )
    # Reloaded after the end, a screen stays on the holding slide.
    await second.reload()
    again = second.locator(f".tile[data-speaker='{sid}']")
    await expect(again).to_have_attribute("data-mode", "holding", timeout=MEDIA_TIMEOUT_MS)


async def test_the_lineup_shows_who_is_missing_and_go_live_waits_for_a_connection(
    browser: Chromium, world: World, org: Api
):
    arriving = await speaker_link(org, world, "Dr. Amara Okafor — University of Lagos")
    await speaker_link(org, world, "Prof. Li Wei")
    mod = await moderator(browser, world)
    invited = mod.locator("#lineup .stage-invited")
    await expect(invited).to_have_count(3)  # the world's own speaker link too
    await expect(
        mod.locator("#lineup .stage-invited", has_text="Prof. Li Wei").locator(".stage-state")
    ).to_have_text("Invited, not arrived")
    speaker = await studio(browser, world, arriving["token"])
    item = mod.locator(f"#lineup li[data-speaker='{arriving['invite']['id']}']")
    await expect(item).to_have_attribute("data-online", "true")
    await expect(invited).to_have_count(2)
    # A link made (then revoked) while the console is open shows (and goes) without a reload.
    late = await speaker_link(org, world, "Late addition")
    await expect(invited).to_have_count(3)
    await expect(mod.locator("#lineup .stage-invited", has_text="Late addition")).to_be_visible()
    await org.ok("POST", f"/api/invites/{late['invite']['id']}/revoke")
    await expect(invited).to_have_count(2)
    await expect(item.locator("[data-stage=live]")).to_be_enabled()

    # Room to breathe at 1280x800: the moves on one row, the cue box whole.
    moves = await item.locator(".stage-moves button").all()
    tops = {round((await b.bounding_box())["y"]) for b in moves}  # type: ignore[index]
    assert len(tops) == 1, f"the moves wrap onto {len(tops)} rows"
    cue = await item.locator(".cues input").bounding_box()
    card = await item.bounding_box()
    assert cue and card and cue["width"] >= 150
    assert cue["x"] >= card["x"] and cue["x"] + cue["width"] <= card["x"] + card["width"] + 1

    await speaker.close()
    await expect(item).to_have_attribute("data-online", "false")
    await expect(item.locator("[data-stage=live]")).to_be_disabled()
    assert (
        await item.locator("[data-stage=live]").get_attribute("title") == "Not connected: they cannot go live"
    )


async def test_the_organizer_page_fits_a_phone_and_keeps_the_role_after_a_link(
    browser: Chromium, world: World, server
):
    ctx = await browser.person(viewport={"width": 360, "height": 640})
    page = await browser.open(ctx, f"/o?lang=en#t={await server.organizer_token()}")
    await page.locator("#events li", has_text="Innovation Day").locator("button, a").first.click()
    form = page.locator("#new-invite")
    await expect(form).to_be_visible()
    await form.locator("[name=role]").select_option("screen")
    await form.locator("[name=session_id]").select_option(world.session)
    await form.locator("[name=label]").fill("Projector left")
    await form.locator("button[type=submit]").click()
    await expect(page.locator("#new-link input")).to_be_visible()
    await expect(page.locator("#new-invite [name=role]")).to_have_value("screen")
    await expect(page.locator("#new-invite [name=session_id]")).to_have_value(world.session)
    width = await page.evaluate("() => document.documentElement.scrollWidth")
    wide = await page.evaluate(
        """() => [...document.querySelectorAll('body *')]
          .filter((el) => el.getBoundingClientRect().right > 361)
          .slice(0, 3).map((el) => { const chain = []; for (let e = el; e && e !== document.body; e = e.parentElement) chain.push(`${e.tagName}.${e.className}:${Math.round(e.getBoundingClientRect().width)}`); return chain.join(" < "); })"""
    )
    assert width <= 360, f"the organizer page is {width} px wide on a 360 px phone: {wide}"


async def test_a_cue_covers_the_studio_opaquely(browser: Chromium, world: World):
    mod = await moderator(browser, world)
    page = await browser.open(
        await browser.person(), f"/studio/{world.session}?lang=en#t={world.tokens['speaker']}"
    )
    await expect(page.locator("#tally")).to_be_visible()
    item = mod.locator("#lineup li.stage-item[data-speaker]")
    await item.locator("[data-cue=wrap]").click()
    overlay = page.locator("#cue")
    await expect(overlay).to_be_visible()
    background = await overlay.evaluate("(el) => getComputedStyle(el).backgroundColor")
    assert background.startswith("rgb("), f"the cue overlay lets the page show through: {background}"
    box = await overlay.bounding_box()
    size = page.viewport_size
    assert box and size and box["width"] >= size["width"] and box["height"] >= size["height"]
