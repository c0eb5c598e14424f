"""The stage's media, peer to peer (mesh) against the SFU (Janus): what a live speaker uploads,
and how long a hall screen waits for the first frame after the moderator puts them live.

    python -m bench.stage_media                                   # 4 screens, 3 moderators, both modes
    python -m bench.stage_media --screens 2 --moderators 1 --seconds 5 --modes sfu
    python -m bench.stage_media --runs 3 --json /tmp/stage-media.json --markdown

Everything runs on 127.0.0.1 and is started and stopped here: an embedded Valkey, one Podium
worker in this process (as the tests run it), for the SFU mode a Janus of its own
(tests/janus.py: Debian's `janus`, VideoRoom, an API secret), and Debian's Chromium with a
fake camera (its test pattern, 640x480 at 30 fps) through Playwright. One browser holds every
page, each in its own profile: the speaker's studio, --screens hall screens and --moderators
moderator consoles.

One run of one mode:
1. The pages open and wait backstage (the moderators already see the speaker's preview).
2. **Go-live to first frame**: a moderator's page notes Date.now() and clicks "live"; each
   screen notes Date.now() when its tile's <video> first has a decoded frame (checked every
   10 ms in the page). Reported: the median and the slowest screen.
3. After --warmup seconds (the encoders ramp up), **the speaker's upload** over --seconds:
   the bytes of every outbound-rtp video stream of every connected RTCPeerConnection the
   studio made (getStats, the same numbers the studio's health report uses), in kbps, and
   how many streams that is.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
from playwright.async_api import Page, async_playwright, expect

from server.store.embedded import EmbeddedRedis
from tests.conftest import Api, make_settings, make_world, start_server, stop_server
from tests.janus import missing, start_janus
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS

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

FIRST_FRAME = """
(() => {
  window.__firstFrame = null;
  const timer = setInterval(() => {
    const v = document.querySelector(".tile video");
    if (v && v.readyState >= 2 && v.videoWidth > 0) {
      window.__firstFrame = Date.now();
      clearInterval(timer);
    }
  }, 10);
})();
"""

UPLOAD = """async () => {
  let bytes = 0, streams = 0;
  for (const pc of window.__pcs) {
    if (pc.connectionState !== "connected") continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video" && s.bytesSent > 0) {
        bytes += s.bytesSent;
        streams += 1;
      }
    });
  }
  return { bytes, streams, at: performance.now() };
}"""

GO_LIVE = """(li) => { const t = Date.now(); li.querySelector("[data-stage=live]").click(); return t; }"""


@dataclass
class Result:
    mode: str
    run: int
    screens: int
    moderators: int
    first_frame_ms: list[int]
    upload_kbps: int
    upload_streams: int


async def one_run(args: argparse.Namespace, mode: str, run: int, redis_url: str, tmp: Path) -> Result:
    overrides: dict[str, Any] = {"log_level": "WARNING"}
    janus = None
    if mode == "sfu":
        janus = await start_janus(tmp / f"janus-{run}")
        overrides |= {"sfu_url": janus.url, "sfu_api_secret": janus.api_secret}
    server = await start_server(make_settings(redis_url, tmp, **overrides))
    playwright = await async_playwright().start()
    browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        async with aiohttp.ClientSession() as http:
            org = Api(http, server.url, await server.organizer_token())
            world = await make_world(org)
            link = await org.ok(
                "POST",
                f"/api/events/{world.event['id']}/invites",
                {"role": "speaker", "session_id": world.session, "label": "Speaker"},
            )
        speaker_id = link["invite"]["id"]

        async def page(path: str, script: str | None = None) -> Page:
            context = await browser.new_context(base_url=server.url)
            context.set_default_timeout(30_000)
            p = await context.new_page()
            if script:
                await p.add_init_script(script)
            await p.goto(path)
            return p

        screens = [
            await page(f"/s/{world.session}#t={world.tokens['screen']}", FIRST_FRAME)
            for _ in range(args.screens)
        ]
        mods = [
            await page(f"/m/{world.session}#t={world.tokens['moderator']}") for _ in range(args.moderators)
        ]
        studio = await page(f"/studio/{world.session}#t={link['token']}", COUNT_CONNECTIONS)
        item = f"#lineup li[data-speaker='{speaker_id}']"
        for m in mods:  # backstage: every moderator sees the preview
            await expect(m.locator(f"{item} video")).to_be_visible(timeout=30_000)
            await m.wait_for_function(
                f"() => document.querySelector(`{item} video`)?.videoWidth > 0", timeout=30_000
            )
        await asyncio.sleep(1)
        started = int(await mods[0].locator(item).evaluate(GO_LIVE))
        firsts = []
        for s in screens:
            await s.wait_for_function("() => window.__firstFrame !== null", timeout=60_000, polling=50)
            firsts.append(int(await s.evaluate("() => window.__firstFrame")) - started)
        for m in mods:
            await m.wait_for_function(
                f"() => document.querySelector(`{item} video`)?.videoWidth > 0", timeout=30_000
            )
        await asyncio.sleep(args.warmup)
        a = await studio.evaluate(UPLOAD)
        await asyncio.sleep(args.seconds)
        b = await studio.evaluate(UPLOAD)
        kbps = round((b["bytes"] - a["bytes"]) * 8 / (b["at"] - a["at"]))  # bytes/ms -> kbit/s
        return Result(mode, run, args.screens, args.moderators, firsts, kbps, int(b["streams"]))
    finally:
        await browser.close()
        await playwright.stop()
        await stop_server(server)
        if janus is not None:
            await janus.stop()


def markdown(results: list[Result]) -> str:
    lines = [
        "| mode | run | screens + moderators | speaker upload (kbps) | streams up "
        "| first frame p50 (ms) | slowest screen (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.mode} | {r.run} | {r.screens} + {r.moderators} | {r.upload_kbps} | {r.upload_streams} | "
            f"{round(statistics.median(r.first_frame_ms))} | {max(r.first_frame_ms)} |"
        )
    return "\n".join(lines)


async def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--screens", type=int, default=4)
    parser.add_argument("--moderators", type=int, default=3)
    parser.add_argument("--modes", default="mesh,sfu")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=8.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if "sfu" in modes and missing():
        print(missing(), file=sys.stderr)
        return 1
    results = []
    with tempfile.TemporaryDirectory(prefix="podium-stage-media-") as folder:
        tmp = Path(folder)
        store = EmbeddedRedis(tmp / "valkey")
        redis_url = store.start()
        try:
            for run in range(1, args.runs + 1):
                for mode in modes:  # interleaved, so both see the same machine
                    r = await one_run(args, mode, run, redis_url, tmp)
                    print(
                        f"{mode} run {run}: upload {r.upload_kbps} kbps in {r.upload_streams} streams; "
                        f"first frame {r.first_frame_ms} ms",
                        flush=True,
                    )
                    results.append(r)
        finally:
            store.stop()
    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "command": " ".join(["python -m bench.stage_media", *sys.argv[1:]]),
    }
    if args.markdown:
        print(f"\n{meta['date']}, {meta['machine']}\n`{meta['command']}`\n")
        print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps({"meta": meta, "results": [asdict(r) for r in results]}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
