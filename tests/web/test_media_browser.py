"""The stage's media in real Chromium with a fake camera: a speaker's WebRTC video reaches the
hall screen and the moderator's preview through Podium's signaling; a dropped speaker turns
into a holding slide and the backup recording plays with one click; the remote audience
plays the session's HLS stream; a raised hand becomes a speaker on the same page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Locator, Page, WebSocketRoute, expect

from tests.conftest import Api, World
from tests.web.conftest import Chromium
from tests.web.media import MediaServer
from tests.web.test_qa_browser import ask, audience, card, hall_screen, moderator

pytestmark = pytest.mark.browser

MEDIA_TIMEOUT_MS = 20_000  # ICE on loopback is quick; a loaded CI machine is not

PLAYING = """(v) => !v.paused && v.readyState >= 2 && v.videoWidth > 0 && v.videoHeight > 0"""


async def playing(video: Locator) -> None:
    """The element plays a real picture (a decoded frame of non-zero size)."""
    await expect(video).to_be_visible(timeout=MEDIA_TIMEOUT_MS)
    handle = await video.element_handle(timeout=MEDIA_TIMEOUT_MS)
    assert handle is not None
    page = video.page
    await page.wait_for_function(PLAYING, arg=handle, timeout=MEDIA_TIMEOUT_MS)
    box = await video.bounding_box()
    assert box and box["width"] > 0 and box["height"] > 0


async def advancing(video: Locator) -> None:
    """Its picture moves on: not a frozen frame."""
    first = await video.evaluate("(v) => v.currentTime")
    await video.page.wait_for_function(
        "([v, t]) => v.currentTime > t + 0.3",
        arg=[await video.element_handle(), first],
        timeout=MEDIA_TIMEOUT_MS,
    )


async def speaker_link(org: Api, world: World, label: str) -> dict[str, Any]:
    return await org.ok(
        "POST",
        f"/api/events/{world.event['id']}/invites",
        {"role": "speaker", "session_id": world.session, "label": label},
    )


async def studio(browser: Chromium, world: World, token: str, state: str = "backstage") -> Page:
    page = await browser.open(await browser.person(), f"/studio/{world.session}#t={token}")
    await expect(page.locator("#order li").first).to_be_visible()  # the snapshot arrived
    await expect(page.locator("#tally")).to_have_attribute("data-state", state)
    await playing(page.locator("#preview"))  # the camera check shows the (fake) camera
    return page


async def test_a_live_speaker_is_seen_on_the_hall_screen_and_in_the_moderators_preview(
    browser: Chromium, world: World, org: Api
):
    link = await speaker_link(org, world, "Dr. Amara Okafor")
    screen = await hall_screen(browser, world)
    mod = await moderator(browser, world)
    speaker = await studio(browser, world, link["token"])
    item = mod.locator(f"#lineup li[data-speaker='{link['invite']['id']}']")
    await expect(item).to_have_attribute("data-online", "true")
    await playing(item.locator("video"))  # backstage: the moderator already sees the camera
    await expect(screen.locator(".tile")).to_have_count(0)  # the hall does not

    await item.locator("[data-stage=live]").click()
    await expect(speaker.locator("#tally")).to_have_text("LIVE")
    tile = screen.locator(f".tile[data-speaker='{link['invite']['id']}']")
    await playing(tile.locator("video"))
    await expect(tile).to_have_attribute("data-mode", "video", timeout=MEDIA_TIMEOUT_MS)
    await advancing(tile.locator("video"))
    await expect(screen.locator("#screen-canvas")).to_have_attribute("data-mode", "stage")
    await expect(tile.locator("figcaption")).to_have_text("Dr. Amara Okafor")
    # The speaker reports their connection; the console shows it in plain words.
    await expect(item.locator(".health")).not_to_have_attribute(
        "data-level", "unknown", timeout=MEDIA_TIMEOUT_MS
    )

    await item.locator("[data-stage=backstage]").click()
    await expect(screen.locator(".tile")).to_have_count(0)
    # Nobody on stage in a session not started yet: the holding slide with its start time.
    await expect(screen.locator("#screen-canvas")).to_have_attribute("data-mode", "scheduled")


async def test_a_dropped_speaker_becomes_a_holding_slide_and_the_backup_plays_with_one_click(
    browser: Chromium, world: World, org: Api, media: MediaServer
):
    link = await speaker_link(org, world, "Minister")
    speaker_id = link["invite"]["id"]
    backup = f"{media.url}/backup.webm"
    await org.ok("PATCH", f"/api/invites/{speaker_id}", {"backup_url": backup})
    screen = await hall_screen(browser, world)
    mod = await moderator(browser, world)
    speaker = await studio(browser, world, link["token"])
    item = mod.locator(f"#lineup li[data-speaker='{speaker_id}']")
    await item.locator("[data-stage=live]").click()
    tile = screen.locator(f".tile[data-speaker='{speaker_id}']")
    await playing(tile.locator("video"))

    await speaker.close()  # the speaker's laptop drops off
    await expect(item).to_have_attribute("data-online", "false")
    await expect(item.locator(".health")).to_have_attribute("data-level", "offline")
    await expect(tile).to_have_attribute("data-mode", "holding")
    await expect(tile.locator(".holding-text")).to_be_visible()
    await expect(tile.locator(".holding-text")).to_have_text("Minister will be right back")

    await item.locator("[data-stage=backup]").click()
    await expect(tile).to_have_attribute("data-mode", "video", timeout=MEDIA_TIMEOUT_MS)
    await playing(tile.locator("video"))
    assert await tile.locator("video").evaluate("(v) => v.currentSrc") == backup
    assert "/backup.webm" in media.requests

    # The speaker is back: one click returns the stage to their camera.
    back = await studio(browser, world, link["token"], state="backup")
    await expect(back.locator("#tally")).to_have_text("BACKUP")
    await expect(item).to_have_attribute("data-online", "true")
    await item.locator("[data-stage=live]").click()
    await expect(back.locator("#tally")).to_have_text("LIVE")
    video = await tile.locator("video").element_handle()
    await screen.wait_for_function(  # the camera again, not the recording
        "(v) => v.srcObject !== null && !v.getAttribute('src')", arg=video, timeout=MEDIA_TIMEOUT_MS
    )
    await playing(tile.locator("video"))


async def test_a_cue_covers_the_speakers_screen_until_read_and_the_moderator_sees_the_receipt(
    browser: Chromium, world: World, org: Api
):
    link = await speaker_link(org, world, "Panelist")
    mod = await moderator(browser, world)
    speaker = await studio(browser, world, link["token"])
    item = mod.locator(f"#lineup li[data-speaker='{link['invite']['id']}']")
    await item.locator("[data-cue=minutes]").click()
    await expect(speaker.locator("#cue")).to_be_visible()
    await expect(speaker.locator("#cue-text")).to_have_text("2 minutes left")
    await expect(item.locator(".cue-receipt")).to_have_attribute("data-read", "false")
    await speaker.click("#cue-ok")
    await expect(speaker.locator("#cue")).to_be_hidden()
    await expect(item.locator(".cue-receipt")).to_have_attribute("data-read", "true")

    await item.locator(".cues input").fill("Louder, please")
    await item.locator("[data-cue=text]").click()
    await expect(speaker.locator("#cue-text")).to_have_text("Louder, please")
    await speaker.reload()  # an unread cue survives a reload
    await expect(speaker.locator("#cue-text")).to_have_text("Louder, please")
    await speaker.click("#cue-ok")
    await expect(item.locator(".cue-receipt")).to_have_attribute("data-read", "true")


async def test_backstage_chat_between_a_speaker_and_the_moderator(browser: Chromium, world: World, org: Api):
    link = await speaker_link(org, world, "Keynote")
    mod = await moderator(browser, world)
    speaker = await studio(browser, world, link["token"])
    await speaker.fill("#chat textarea", "Can you hear me?")
    await speaker.press("#chat textarea", "Enter")
    await expect(mod.locator("#chat .chat-list li")).to_have_count(1)
    await expect(mod.locator("#chat .chat-list li p")).to_have_text("Can you hear me?")
    await mod.fill("#chat textarea", "Loud and clear")
    await mod.click("#chat button[type=submit]")
    await expect(speaker.locator("#chat .chat-list li")).to_have_count(2)
    await expect(speaker.locator("#chat .chat-list li").last).to_contain_text("Loud and clear")


async def test_the_remote_audience_plays_the_sessions_hls_stream(
    browser: Chromium, world: World, org: Api, media: MediaServer
):
    stream = f"{media.url}/hls/live.m3u8"
    await org.ok("PATCH", f"/api/sessions/{world.session}", {"stream_url": stream})
    phone = await audience(browser, world)
    video = phone.locator("#stream")
    await playing(video)
    await advancing(video)
    assert "/hls/live.m3u8" in media.requests
    assert any(r.endswith(".ts") for r in media.requests)
    # hls.js came from Podium itself (and, by the browser fixture, nothing from any other host).
    kind = "import('/static/vendor/hls.light.min.mjs').then((m) => typeof m.default.isSupported)"
    assert await phone.evaluate(kind) == "function"
    # In the hall there is no stream to play: the stage is in front of them.
    await phone.click("#where input[value=hall]")
    await expect(video).to_be_hidden()


async def test_a_raised_hand_is_brought_backstage_and_goes_live_without_a_reload(
    browser: Chromium, world: World
):
    screen = await hall_screen(browser, world)
    mod = await moderator(browser, world)
    guest = await audience(browser, world, name="Noa from Haifa")
    await guest.fill("#hand-note", "I run the lab that did this")
    await guest.click("#hand-raise")
    await expect(guest.locator("#hand")).to_have_attribute("data-state", "raised")
    hand = mod.locator("#hands li.hand")
    await expect(hand).to_have_count(1)
    await expect(hand).to_contain_text("I run the lab that did this")
    await guest.evaluate("window.__same_page = true")

    await hand.locator("[data-hand=bring]").click()
    await expect(guest.locator("#studio-root")).to_be_visible()
    await expect(guest.locator("#tally")).to_have_attribute("data-state", "backstage")
    assert await guest.evaluate("window.__same_page") is True  # no reload happened
    await expect(mod.locator("#hands li.hand")).to_have_count(0)
    item = mod.locator("#lineup li.stage-item")
    await expect(item).to_have_count(1)
    await expect(item.locator(".stage-name")).to_have_text("Noa from Haifa")
    await playing(guest.locator("#preview"))
    await item.locator("[data-stage=live]").click()
    await expect(guest.locator("#tally")).to_have_text("LIVE")
    await playing(screen.locator(".tile video"))


async def test_a_revoked_speaker_link_closes_the_studio_at_once(browser: Chromium, world: World, org: Api):
    link = await speaker_link(org, world, "Leaving early")
    speaker = await studio(browser, world, link["token"])
    await org.ok("POST", f"/api/invites/{link['invite']['id']}/revoke")
    await expect(speaker.locator("#signin")).to_be_visible()
    await expect(speaker.locator("#signin")).to_have_text("This link was revoked by the organizer.")
    await expect(speaker.locator("#stage")).to_be_hidden()


async def test_a_studio_opened_elsewhere_steps_back_and_can_take_over_again(
    browser: Chromium, world: World, org: Api
):
    link = await speaker_link(org, world, "Two laptops")
    speaker_id = link["invite"]["id"]
    screen = await hall_screen(browser, world)
    mod = await moderator(browser, world)
    first = await studio(browser, world, link["token"])
    await mod.locator(f"#lineup li[data-speaker='{speaker_id}'] [data-stage=live]").click()
    await playing(screen.locator(".tile video"))
    second = await studio(browser, world, link["token"], state="live")
    await expect(first.locator("#elsewhere")).to_be_visible()
    await expect(second.locator("#elsewhere")).to_be_hidden()
    await playing(screen.locator(".tile video"))  # the stage shows the second laptop now
    await first.click("#take-over")
    await expect(first.locator("#elsewhere")).to_be_hidden()
    await expect(second.locator("#elsewhere")).to_be_visible()
    await expect(mod.locator(f"#lineup li[data-speaker='{speaker_id}']")).to_have_attribute(
        "data-online", "true"
    )
    await playing(screen.locator(".tile video"))


async def test_a_second_hall_screen_can_hide_reactions_and_the_count(browser: Chromium, world: World):
    page = await browser.open(
        await browser.person(),
        f"/s/{world.session}?sound=off&reactions=off&count=off#t={world.tokens['screen']}",
    )
    await expect(page.locator("#join-code")).to_have_text(world.event["code"])
    await expect(page.locator("#floating")).to_be_hidden()
    await expect(page.locator("#live-count")).to_be_hidden()
    await expect(page.locator("#presence")).to_be_hidden()


async def test_the_moderator_reorders_the_running_order_and_the_studio_shows_who_is_next(
    browser: Chromium, world: World, org: Api
):
    first = await speaker_link(org, world, "Ada")
    second = await speaker_link(org, world, "Grace")
    mod = await moderator(browser, world)
    ada = await studio(browser, world, first["token"])
    await studio(browser, world, second["token"])
    await expect(ada.locator("#order li")).to_have_count(2)
    await expect(ada.locator("#now-next")).to_have_text("On stage now: nobody · Next: Ada")
    await mod.locator(f"#lineup li[data-speaker='{first['invite']['id']}'] [data-order=down]").click()
    await expect(ada.locator("#order li").first).to_have_attribute("data-speaker", second["invite"]["id"])
    await expect(ada.locator("#now-next")).to_have_text("On stage now: nobody · Next: Grace")
    await expect(mod.locator("#lineup li.stage-item").first).to_have_attribute(
        "data-speaker", second["invite"]["id"]
    )
    await mod.locator(f"#lineup li[data-speaker='{second['invite']['id']}'] [data-stage=live]").click()
    await expect(ada.locator("#now-next")).to_have_text("On stage now: Grace · Next: Ada")


async def test_the_hall_keeps_the_speakers_picture_through_a_resync(
    browser: Chromium, world: World, org: Api
):
    """A page that missed a versioned broadcast fetches a snapshot; on the same socket that
    must not tear down the media connections (the hall would see a holding slide)."""
    link = await speaker_link(org, world, "Steady")
    drop = {"next_qa_delta": False, "dropped": 0}

    def route(ws: WebSocketRoute) -> None:
        # Between the screen and Podium: lose one frame with a Q&A change (as a socket too slow
        # to read is skipped): the screen sees the gap and resumes.
        server = ws.connect_to_server()
        ws.on_message(server.send)

        def from_server(message: str | bytes) -> None:
            is_qa = (
                isinstance(message, str) and message.startswith('42["session:feed"') and '"qa":' in message
            )
            if drop["next_qa_delta"] and is_qa:
                drop["next_qa_delta"] = False
                drop["dropped"] += 1
                return
            ws.send(message)

        server.on_message(from_server)

    screen = await browser.open(
        await browser.person(),
        f"/s/{world.session}#t={world.tokens['screen']}",
        before=lambda page: page.route_web_socket(lambda url: "/socket.io/" in url, route),
    )
    mod = await moderator(browser, world)
    await studio(browser, world, link["token"])
    await mod.locator(f"#lineup li[data-speaker='{link['invite']['id']}'] [data-stage=live]").click()
    video = screen.locator(".tile video")
    await playing(video)
    stream_id = await video.evaluate("(v) => v.srcObject.id")

    drop["next_qa_delta"] = True
    fan = await audience(browser, world)
    await ask(fan, "Is the picture still there?")
    await card(mod, "incoming", "Is the picture still there?").locator("[data-action=approve]").click()
    await card(mod, "queue", "Is the picture still there?").locator("[data-action=screen]").click()
    # The screen missed the approval, saw the next frame start after it, and resumed.
    await expect(screen.locator("#screen-question-text")).to_have_text("Is the picture still there?")
    assert drop["dropped"] == 1
    assert await video.evaluate("(v) => v.srcObject && v.srcObject.id") == stream_id
    await expect(screen.locator(".tile")).to_have_attribute("data-mode", "video")
    await advancing(video)


async def test_a_live_speaker_shares_their_slides_and_the_hall_keeps_a_picture(
    browser: Chromium, world: World, org: Api
):
    link = await speaker_link(org, world, "Slides")
    screen = await hall_screen(browser, world)
    mod = await moderator(browser, world)
    speaker = await studio(browser, world, link["token"])
    await mod.locator(f"#lineup li[data-speaker='{link['invite']['id']}'] [data-stage=live]").click()
    video = screen.locator(".tile video")
    await playing(video)
    stream_id = await video.evaluate("(v) => v.srcObject.id")
    label = "(v) => v.srcObject.getVideoTracks()[0].label"
    camera = await speaker.locator("#preview").evaluate(label)

    await speaker.click("#share-screen")
    await expect(speaker.locator("#share-screen")).to_have_attribute("aria-pressed", "true")
    assert (await speaker.locator("#preview").evaluate(label)).startswith("screen")
    assert await speaker.locator("#preview").evaluate("(v) => v.srcObject.getAudioTracks().length") == 1
    # Swapped on the same connection: no renegotiation, no gap, the picture moves on.
    assert await video.evaluate("(v) => v.srcObject.id") == stream_id
    await expect(screen.locator(".tile")).to_have_attribute("data-mode", "video")
    await advancing(video)

    await speaker.click("#share-screen")
    await expect(speaker.locator("#share-screen")).to_have_attribute("aria-pressed", "false")
    assert await speaker.locator("#preview").evaluate(label) == camera
    await advancing(video)


async def test_the_running_order_gives_the_start_in_the_events_zone_and_the_speakers(
    browser: Chromium, world: World, org: Api
):
    """The event is in Shanghai (UTC+8); a speaker in São Paulo (UTC-3) sees both times."""
    link = await speaker_link(org, world, "Far away")
    far = await browser.person(timezone_id="America/Sao_Paulo", locale="en-US")
    page = await browser.open(far, f"/studio/{world.session}#t={link['token']}")
    times = page.locator("#start-times")
    # 2026-12-03 09:30 in Shanghai is 2026-12-02 22:30 in São Paulo.
    await expect(times).to_contain_text("Dec 3, 09:30 AM GMT+8 (event time)")
    await expect(times).to_contain_text("Dec 2, 10:30 PM GMT-3 where you are")


async def test_a_speaker_whose_network_drops_is_flagged_on_the_console_within_seconds(
    browser: Chromium, world: World, org: Api
):
    """No clean close: the laptop's network goes away. The console shows the speaker as
    unstable or disconnected long before any socket timeout would tell."""
    link = await speaker_link(org, world, "Hotel wifi")
    mod = await moderator(browser, world)
    speaker = await studio(browser, world, link["token"])
    item = mod.locator(f"#lineup li[data-speaker='{link['invite']['id']}']")
    await expect(item.locator(".health")).to_have_attribute("data-level", "good", timeout=MEDIA_TIMEOUT_MS)
    await speaker.context.set_offline(True)
    await expect(item).to_have_attribute("data-health", re.compile("^(poor|offline)$"), timeout=12_000)
    await expect(speaker.locator("#own-health")).to_have_attribute("data-level", "poor", timeout=12_000)
    await speaker.context.set_offline(False)
    await expect(item).to_have_attribute("data-online", "true", timeout=MEDIA_TIMEOUT_MS * 2)
    await expect(item.locator(".health")).to_have_attribute("data-level", "good", timeout=MEDIA_TIMEOUT_MS)
