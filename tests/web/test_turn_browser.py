"""A speaker's camera reaches the hall screen only through a real coturn: Podium configured with
`rtc.ice_transport_policy = "relay"`, so the browsers may use no other path (as behind a
firewall that lets nothing through but the TURN server). With Podium's TURN credentials the
picture plays and the selected candidate pair is a relay one, over UDP or over TCP; with
credentials coturn does not accept it never plays."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page, expect

from tests.conftest import Api, World
from tests.turn import TURN_SECRET, Coturn
from tests.web.conftest import Chromium
from tests.web.test_media_browser import MEDIA_TIMEOUT_MS, advancing, playing, speaker_link

pytestmark = pytest.mark.browser

TTL = 900
NEVER_MS = 10_000  # how long a picture that must not come is given to come anyway

# Keeps every RTCPeerConnection a page makes, so the test can read its stats (test-only).
RECORD_PEER_CONNECTIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  window.podiumPcs = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) {
      super(...args);
      window.podiumPcs.push(this);
    }
  };
})();
"""

# Per connected RTCPeerConnection: its policy, the selected pair's two candidates, and the
# types of every candidate this side gathered.
SELECTED_PAIRS = """
async () => {
  const out = [];
  for (const pc of window.podiumPcs) {
    if (pc.connectionState !== "connected") continue;
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    if (!pair) stats.forEach((s) => { if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") pair = s; });
    const local = pair && stats.get(pair.localCandidateId);
    const remote = pair && stats.get(pair.remoteCandidateId);
    const gathered = [];
    stats.forEach((s) => { if (s.type === "local-candidate") gathered.push(s.candidateType); });
    out.push({
      policy: pc.getConfiguration().iceTransportPolicy,
      nominated: !!pair?.nominated,
      local: local?.candidateType, remote: remote?.candidateType,
      relayProtocol: local?.relayProtocol, url: local?.url, address: local?.address,
      bytes: (pair?.bytesReceived || 0) + (pair?.bytesSent || 0),
      gathered,
    });
  }
  return out;
}
"""

ANY_PICTURE = """() => [...document.querySelectorAll(".tile video")].some(
  (v) => !v.paused && v.readyState >= 2 && v.videoWidth > 0)"""


@pytest.fixture
def turn_transport() -> str:
    return "udp"


@pytest.fixture
def settings_overrides(coturn: Coturn, turn_transport: str) -> dict[str, Any]:
    """Podium on this coturn, media through it and nowhere else."""
    return {
        "turn_urls": (coturn.url(turn_transport),),
        "turn_secret": TURN_SECRET,
        "turn_ttl_seconds": TTL,
        "ice_transport_policy": "relay",
    }


async def recorded(browser: Chromium, path: str) -> Page:
    """A page of a new person whose RTCPeerConnections the test can inspect."""
    context = await browser.person()
    await context.add_init_script(RECORD_PEER_CONNECTIONS)
    return await browser.open(context, path)


async def stage(browser: Chromium, world: World, org: Api) -> tuple[Page, Page, Page, str]:
    """A hall screen, a moderator and a speaker backstage (camera on): (screen, mod, speaker, id)."""
    link = await speaker_link(org, world, "Remote speaker")
    speaker_id = link["invite"]["id"]
    screen = await recorded(browser, f"/s/{world.session}#t={world.tokens['screen']}")
    await expect(screen.locator("#join-code")).to_have_text(world.event["code"])
    mod = await recorded(browser, f"/m/{world.session}#t={world.tokens['moderator']}")
    await expect(mod.locator("#settings [name=open]")).to_be_checked()
    speaker = await recorded(browser, f"/studio/{world.session}#t={link['token']}")
    await expect(speaker.locator("#tally")).to_have_attribute("data-state", "backstage")
    await playing(speaker.locator("#preview"))  # the fake camera runs
    await expect(mod.locator(f"#lineup li[data-speaker='{speaker_id}']")).to_have_attribute(
        "data-online", "true"
    )
    return screen, mod, speaker, speaker_id


@pytest.mark.parametrize("turn_transport", ["udp", "tcp"])
async def test_with_relay_only_the_hall_sees_the_speaker_through_coturn(
    browser: Chromium, world: World, org: Api, coturn: Coturn, turn_transport: str
):
    screen, mod, speaker, speaker_id = await stage(browser, world, org)
    item = mod.locator(f"#lineup li[data-speaker='{speaker_id}']")
    await playing(item.locator("video"))  # the moderator's preview, backstage

    started = time.monotonic()
    await item.locator("[data-stage=live]").click()
    tile = screen.locator(f".tile[data-speaker='{speaker_id}']")
    await playing(tile.locator("video"))
    first_frame_s = time.monotonic() - started
    await advancing(tile.locator("video"))

    for page, who in ((screen, "screen"), (mod, "moderator"), (speaker, "speaker")):
        pairs = await page.evaluate(SELECTED_PAIRS)
        assert pairs, f"the {who} has no connected peer connection"
        for pair in pairs:
            assert pair["policy"] == "relay", (who, pair)
            assert pair["nominated"] and pair["bytes"] > 0, (who, pair)
            # Both ends of the path are coturn's relayed addresses, reached over this transport.
            assert pair["local"] == pair["remote"] == "relay", (who, pair)
            assert pair["relayProtocol"] == turn_transport, (who, pair)
            assert pair["address"] == "127.0.0.1", (who, pair)
            assert set(pair["gathered"]) == {"relay"}, (who, pair)
    # Within the media timeout, through a relay (measured here: well under a second).
    assert first_frame_s < MEDIA_TIMEOUT_MS / 1000

    # coturn granted the allocations, under Podium's usernames "<expiry>:<person>".
    granted = set(coturn.allocations())
    assert len({u.split(":", 1)[1] for u in granted}) >= 3, granted  # speaker, screen, moderator
    for username in granted:
        match = re.fullmatch(r"(\d+):(.+)", username)
        assert match, username
        assert abs(int(match[1]) - (time.time() + TTL)) < 60, username


@pytest.mark.parametrize("coturn_secret", ["not-podiums-secret"])
async def test_with_relay_only_and_credentials_coturn_refuses_the_picture_never_comes(
    browser: Chromium, world: World, org: Api, coturn: Coturn
):
    screen, mod, speaker, speaker_id = await stage(browser, world, org)
    item = mod.locator(f"#lineup li[data-speaker='{speaker_id}']")
    await item.locator("[data-stage=live]").click()
    await expect(speaker.locator("#tally")).to_have_text("LIVE")
    await expect(screen.locator(f".tile[data-speaker='{speaker_id}']")).to_be_visible()

    with pytest.raises(PlaywrightError, match="Timeout"):
        await screen.wait_for_function(ANY_PICTURE, timeout=NEVER_MS)
    for page in (screen, mod, speaker):
        assert await page.evaluate(SELECTED_PAIRS) == []  # nothing connected, anywhere
        assert await page.evaluate("() => window.podiumPcs.length") > 0  # though they tried
    # coturn saw Podium's usernames and refused every one.
    assert coturn.refusals()
    assert not coturn.allocations()
