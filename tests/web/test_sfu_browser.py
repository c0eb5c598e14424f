"""The stage through an SFU (rtc.sfu_url): a real Janus started for each test, real Chromium
with a fake camera. A live speaker sends one stream to Janus; hall screens, the moderator
and the remote audience all play it from there; nobody without Podium's keys gets in."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect

from tests.conftest import Api, World
from tests.janus import JanusProcess
from tests.web.conftest import Chromium
from tests.web.test_media_browser import MEDIA_TIMEOUT_MS, advancing, playing, speaker_link
from tests.web.test_qa_browser import hall_screen, moderator

pytestmark = pytest.mark.browser

# Every RTCPeerConnection a page makes, for counting what a studio uploads.
COUNT_CONNECTIONS = """
(() => {
  const Original = window.RTCPeerConnection;
  window.__pcs = [];
  window.RTCPeerConnection = function (...args) {
    const pc = new Original(...args);
    window.__pcs.push(pc);
    return pc;
  };
  window.RTCPeerConnection.prototype = Original.prototype;
})();
"""

# The studio's connections that send video now, and what each has sent.
UPLOADS = """async () => {
  const out = [];
  for (const pc of window.__pcs) {
    if (pc.connectionState !== "connected") continue;
    const stats = await pc.getStats();
    let bytes = 0;
    stats.forEach((s) => { if (s.type === "outbound-rtp" && s.kind === "video") bytes += s.bytesSent; });
    if (bytes > 0) out.push(bytes);
  }
  return out;
}"""


@pytest.fixture
def settings_overrides(janus: JanusProcess) -> dict[str, Any]:
    return {"sfu_url": janus.url, "sfu_api_secret": janus.api_secret}


async def counted_studio(browser: Chromium, world: World, token: str) -> Page:
    async def count(page: Page) -> None:
        await page.add_init_script(COUNT_CONNECTIONS)

    page = await browser.open(await browser.person(), f"/studio/{world.session}#t={token}", before=count)
    await expect(page.locator("#order li").first).to_be_visible()
    await playing(page.locator("#preview"))
    return page


async def remote_audience(browser: Chromium, world: World) -> Page:
    page = await browser.open(await browser.person(), f"/e/{world.event['code']}?w=remote")
    await expect(page.locator("#session-select")).to_have_value(world.session)
    await expect(page.locator("#qa-policy")).not_to_have_text("")
    return page


async def test_a_live_speaker_sends_once_and_screens_and_the_remote_audience_play_it_from_the_sfu(
    browser: Chromium, world: World, org: Api
):
    link = await speaker_link(org, world, "Dr. Amara Okafor")
    speaker_id = link["invite"]["id"]
    screens = [await hall_screen(browser, world) for _ in range(2)]
    audience = [await remote_audience(browser, world) for _ in range(5)]
    mod = await moderator(browser, world)
    speaker = await counted_studio(browser, world, link["token"])
    item = mod.locator(f"#lineup li[data-speaker='{speaker_id}']")
    await expect(item).to_have_attribute("data-online", "true")
    await playing(item.locator("video"))  # backstage: the moderator's preview, peer to peer
    for page in audience:
        await expect(page.locator("#sfu-stage video")).to_have_count(0)  # not on stage: nothing

    await item.locator("[data-stage=live]").click()
    await expect(speaker.locator("#tally")).to_have_text("LIVE")
    for screen in screens:
        tile = screen.locator(f".tile[data-speaker='{speaker_id}']")
        await playing(tile.locator("video"))
        await expect(tile).to_have_attribute("data-mode", "video", timeout=MEDIA_TIMEOUT_MS)
        await advancing(tile.locator("video"))
    for page in audience:
        video = page.locator(f"#sfu-stage video[data-speaker='{speaker_id}']")
        await playing(video)
        await advancing(video)
        await expect(page.locator("#stream")).to_be_hidden()  # no third-party stream
    await playing(item.locator("video"))  # live: the moderator watches from the SFU too

    # Eight pictures on other screens, one stream up: the old mesh connections are gone.
    await speaker.wait_for_function(
        f"async () => ({UPLOADS})().then((u) => u.length === 1)", timeout=MEDIA_TIMEOUT_MS, polling=500
    )
    assert len(await speaker.evaluate(UPLOADS)) == 1

    # Off stage: the feed leaves the room; the hall goes back to the join slide.
    await item.locator("[data-stage=backstage]").click()
    for screen in screens:
        await expect(screen.locator(".tile")).to_have_count(0)
    for page in audience:
        await expect(page.locator("#sfu-stage video")).to_have_count(0)


async def janus_post(http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with http.post(url, json={"transaction": "t", **body}) as r:
        reply: dict[str, Any] = await r.json(content_type=None)
        return reply


async def test_nobody_reaches_the_room_without_podiums_keys(
    browser: Chromium, world: World, org: Api, janus: JanusProcess
):
    from server.domain import sfu as dom

    link = await speaker_link(org, world, "Speaker")
    mod = await moderator(browser, world)
    speaker = await counted_studio(browser, world, link["token"])
    item = mod.locator(f"#lineup li[data-speaker='{link['invite']['id']}']")
    await item.locator("[data-stage=live]").click()
    await playing(item.locator("video"))  # the room exists and the speaker publishes
    await expect(speaker.locator("#tally")).to_have_text("LIVE")
    room = dom.room_id(world.session)

    async with aiohttp.ClientSession() as http:
        # Janus's API: no secret, or a forged one, and nothing at all happens.
        for secret in (None, "forged"):
            body = {"janus": "create", **({"apisecret": secret} if secret else {})}
            reply = await janus_post(http, janus.url, body)
            assert reply["janus"] == "error" and reply["error"]["code"] == 403

        # Even someone holding the API secret cannot join the session's room without the pin
        # and, to publish, a token that Podium added for one join.
        secret = {"apisecret": janus.api_secret}
        created = await janus_post(http, janus.url, {"janus": "create", **secret})
        session = created["data"]["id"]
        attached = await janus_post(
            http, f"{janus.url}/{session}", {"janus": "attach", "plugin": "janus.plugin.videoroom", **secret}
        )
        handle = attached["data"]["id"]

        async def join(body: dict[str, Any]) -> dict[str, Any]:
            await janus_post(
                http, f"{janus.url}/{session}/{handle}", {"janus": "message", "body": body, **secret}
            )
            async with http.get(f"{janus.url}/{session}", params={"maxev": "1", **secret}) as r:
                event: dict[str, Any] = await r.json(content_type=None)
            return dict(event["plugindata"]["data"])

        subscribe = {"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": 1}]}
        refused = await join(subscribe)
        assert (refused.get("error_code"), refused.get("error")) == (429, "Missing mandatory element (pin)")
        refused = await join({**subscribe, "pin": "forged"})
        assert refused.get("error_code") == 433, refused  # unauthorized
        publish = {"request": "join", "ptype": "publisher", "room": room, "pin": "forged", "token": "forged"}
        refused = await join(publish)
        assert refused.get("error_code") == 433, refused
        rooms = await janus_post(
            http,
            f"{janus.url}/{session}/{handle}",
            {"janus": "message", "body": {"request": "list"}, **secret},
        )
        assert room not in [r["room"] for r in rooms["plugindata"]["data"]["list"]]  # private


# Resolves once the element has presented `n` new frames (a picture that moves, now).
FRESH_FRAMES = """([v, n]) => new Promise((resolve) => {
  let left = n;
  const next = () => v.requestVideoFrameCallback(() => (--left <= 0 ? resolve(true) : next()));
  next();
})"""


async def fresh_frames(page: Page, selector: str, n: int = 30) -> None:
    """The element at `selector` (looked up again, it may be replaced) shows new frames."""
    await page.wait_for_function(
        f"""async () => {{
            const v = document.querySelector("{selector}");
            if (!v || v.videoWidth === 0) return false;
            return await Promise.race([({FRESH_FRAMES})([v, {n}]),
                                       new Promise((r) => setTimeout(() => r(false), 2000))]);
        }}""",
        timeout=30_000,
        polling=500,
    )


async def test_the_stage_comes_back_after_a_studio_reload_and_a_janus_restart(
    browser: Chromium, world: World, org: Api, janus: JanusProcess
):
    link = await speaker_link(org, world, "Speaker")
    speaker_id = link["invite"]["id"]
    screen = await hall_screen(browser, world)
    audience = await remote_audience(browser, world)
    mod = await moderator(browser, world)
    speaker = await counted_studio(browser, world, link["token"])
    item = mod.locator(f"#lineup li[data-speaker='{speaker_id}']")
    await item.locator("[data-stage=live]").click()
    tile = f".tile[data-speaker='{speaker_id}'] video"
    watched = f"#sfu-stage video[data-speaker='{speaker_id}']"
    await playing(screen.locator(tile))
    await playing(audience.locator(watched))

    await speaker.reload()  # a new socket, a new publication: the old feed is replaced
    await expect(speaker.locator("#tally")).to_have_text("LIVE")
    await fresh_frames(screen, tile)
    await fresh_frames(audience, watched)
    await speaker.wait_for_function(
        f"async () => ({UPLOADS})().then((u) => u.length === 1)", timeout=MEDIA_TIMEOUT_MS, polling=500
    )

    await janus.restart()  # its rooms and sessions are gone: everyone publishes and watches again
    await fresh_frames(screen, tile)
    await fresh_frames(audience, watched)
    await fresh_frames(mod, f"#lineup li[data-speaker='{speaker_id}'] video")
