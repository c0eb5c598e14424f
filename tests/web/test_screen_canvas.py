"""The hall screen as a broadcast canvas, checked in Chromium at 1920x1080 and 1280x720: it
fills the display at 16:9, a live speaker is full bleed with a lower third, the question is a
band beneath their face, the QR code is scannable from the middle of the hall (at least 12%
of the canvas height), nothing operational shows, and the session's status drives the
slides (scheduled: the start time; between talks: the running order and who is next;
ended: thank you and the next session). Screenshots go to PODIUM_SHOTS if set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.conftest import Api, World
from tests.web.conftest import Chromium
from tests.web.test_media_browser import playing, speaker_link, studio
from tests.web.test_qa_browser import moderator

pytestmark = pytest.mark.browser

SIZES = {"1080p": (1920, 1080), "720p": (1280, 720)}


async def box(page: Page, selector: str) -> dict[str, float]:
    b = await page.locator(selector).first.bounding_box()
    assert b is not None, f"{selector} is not laid out"
    return b


async def shot(page: Page, name: str) -> None:
    folder = os.environ.get("PODIUM_SHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(folder) / f"{name}.png"))


def inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["x"] >= outer["x"] - 1
        and inner["y"] >= outer["y"] - 1
        and inner["x"] + inner["width"] <= outer["x"] + outer["width"] + 1
        and inner["y"] + inner["height"] <= outer["y"] + outer["height"] + 1
    )


def overlap(a: dict[str, float], b: dict[str, float]) -> float:
    w = min(a["x"] + a["width"], b["x"] + b["width"]) - max(a["x"], b["x"])
    h = min(a["y"] + a["height"], b["y"] + b["height"]) - max(a["y"], b["y"])
    return max(0.0, w) * max(0.0, h)


@pytest.mark.parametrize("size", list(SIZES))
async def test_the_hall_screen_is_a_broadcast_canvas(browser: Chromium, world: World, org: Api, size: str):
    width, height = SIZES[size]
    link = await speaker_link(org, world, "Dr. Amara Okafor — University of Lagos")
    screen_ctx = await browser.person(viewport={"width": width, "height": height})
    screen = await browser.open(screen_ctx, f"/s/{world.session}?lang=en#t={world.tokens['screen']}")
    canvas = screen.locator("#screen-canvas")

    # Scheduled: a holding slide with the start time in the event's zone, and who opens.
    await expect(canvas).to_have_attribute("data-mode", "scheduled")
    await expect(screen.locator("#slide-when")).to_have_text("Starts at 09:30 AM GMT+8")
    c = await box(screen, "#screen-canvas")
    assert abs(c["width"] - width) <= 1 and abs(c["height"] - height) <= 1, "the canvas fills the display"
    assert abs(c["x"]) <= 1 and abs(c["y"]) <= 1, c
    for hidden in ("#presence", ".topbar", "#live-count"):
        assert not await screen.locator(hidden).is_visible(), f"{hidden} is operational: not in the hall"
    await shot(screen, f"screen-scheduled-{size}")

    mod = await moderator(browser, world)
    await studio(browser, world, link["token"])
    await expect(screen.locator("#slide-next")).to_have_text("Next: Dr. Amara Okafor at 09:30 AM GMT+8")
    await expect(screen.locator("#order li")).to_have_text(["Dr. Amara Okafor"])

    # Live, between talks: the big QR, the running order, who is next.
    await mod.locator("#session-status").select_option("live")
    await expect(canvas).to_have_attribute("data-mode", "join")
    await expect(screen.locator("#slide-next")).to_have_text("Next: Dr. Amara Okafor")
    qr = await box(screen, "#join-qr")
    assert qr["height"] >= 0.4 * height, qr
    await shot(screen, f"screen-join-{size}")

    # A speaker live: full bleed, the lower third; a question as a band below the face.
    item = mod.locator(f"#lineup li[data-speaker='{link['invite']['id']}']")
    await item.locator("[data-stage=live]").click()
    tile = screen.locator(".tile")
    await playing(tile.locator("video"))
    await expect(canvas).to_have_attribute("data-mode", "stage")
    t = await box(screen, ".tile")
    assert t["width"] >= width - 1 and t["height"] >= height - 1, "one speaker fills the canvas"
    await expect(tile.locator(".lower-name")).to_have_text("Dr. Amara Okafor")
    await expect(tile.locator(".lower-role")).to_have_text("University of Lagos")
    qr = await box(screen, "#join-qr")
    assert qr["height"] >= 0.12 * height, f"the QR is {qr['height']} px of {height}: too small to scan"
    code = await box(screen, "#join-code")
    assert code["height"] >= 0.035 * height, code
    await expect(screen.locator("#bug-title")).to_have_text("Opening greeting")
    await expect(screen.locator("#bug-clock")).to_contain_text("GMT+8")

    fan = await browser.open(await browser.person(), f"/e/{world.event['code']}?lang=en")
    await expect(fan.locator("#qa-policy")).not_to_have_text("")
    await fan.fill("#question-text", "How will the agreement help start-ups in Lagos and Nanjing?")
    await fan.click("#send")
    card = mod.locator(".mod-card", has_text="start-ups in Lagos")
    await card.locator("[data-action=screen]").click()
    band = screen.locator("#screen-question")
    await expect(band).to_be_visible()
    b = await box(screen, "#screen-question")
    lower = await box(screen, ".tile figcaption")
    assert overlap(b, lower) == 0, "the band leaves the lower third readable"
    assert b["y"] >= 0.6 * height, "the band sits in the lower part, beneath the face"
    assert overlap(b, qr) == 0, "the QR stays scannable"
    assert inside(b, c) and inside(qr, c)
    assert await screen.locator("#screen-canvas .error, #screen-canvas [role=alert]").count() == 0
    await shot(screen, f"screen-stage-question-{size}")

    # Ended: thank you.
    await item.locator("[data-stage=off]").click()
    await card.locator("[data-action=unscreen]").click()
    await mod.locator("#session-status").select_option("ended")
    await expect(canvas).to_have_attribute("data-mode", "ended")
    await expect(screen.locator("#slide-thanks")).to_be_visible()
    await expect(screen.locator("#slide-next")).to_have_text(
        "Next: Science without borders at 09:45 AM GMT+8"
    )
    await shot(screen, f"screen-ended-{size}")


@pytest.mark.parametrize("viewport", [(1280, 720), (1024, 768), (1920, 1200)])
async def test_the_canvas_is_centred_and_letterboxed_in_any_direction_and_shape(
    browser: Chromium, world: World, viewport: tuple[int, int]
):
    width, height = viewport
    for lang in ("he", "zh-CN"):
        ctx = await browser.person(viewport={"width": width, "height": height})
        screen = await browser.open(ctx, f"/s/{world.session}?lang={lang}#t={world.tokens['screen']}")
        await expect(screen.locator("html")).to_have_attribute("lang", lang)
        await expect(screen.locator("#screen-canvas")).to_have_attribute("data-mode", "scheduled")
        c = await box(screen, "#screen-canvas")
        k = min(width / 1920, height / 1080)
        assert abs(c["width"] - 1920 * k) <= 1 and abs(c["height"] - 1080 * k) <= 1, c
        assert (
            abs(c["x"] - (width - c["width"]) / 2) <= 1 and abs(c["y"] - (height - c["height"]) / 2) <= 1
        ), c
        await shot(screen, f"screen-{lang}-{width}x{height}")
        await ctx.close()
