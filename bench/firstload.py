"""The audience page's first load on a slow phone network: bytes on the wire and time to questions.

    python -m bench.firstload                                  # this checkout, 3 loads per mode
    python -m bench.firstload --baseline-dir /tmp/podium-before --markdown
    python -m bench.firstload --down-kbps 400 --up-kbps 400 --latency-ms 2000   # DevTools "Slow 3G"
    python -m bench.firstload --lang en,he                     # the page in English, then Hebrew

Starts Podium (`python -m server serve --workers 1`, embedded Valkey, on 127.0.0.1) and makes
a live event through the API and real socket.io clients: a session running now, --questions
questions asked by as many phones and approved, one on screen, votes, reactions, the clock
running. Then, for every load, a fresh Chromium profile (empty cache, no cookies) opens
/e/<code>?lang=<each --lang> in a tab throttled by Chromium itself (CDP `Network.emulateNetworkConditions`:
--down-kbps, --up-kbps, --latency-ms added per request; 400 kbit/s both ways and 400 ms by
default). Measured per resource: `encodedDataLength` at `Network.loadingFinished` (what came
over the wire, headers included, compressed as sent) and the decoded body; the total; the
time from navigation to the question list being shown (performance.now(), set by a
MutationObserver on #questions); the WebSocket's bytes after it (the join's snapshot);
whether hls.js was fetched.

Each load is done twice: as Chromium asks (Accept-Encoding: gzip, deflate, br, zstd) and
with `Accept-Encoding: identity` (nothing compressed): the second is the uncompressed
baseline of the same server in the same run. With --baseline-dir, another checkout (e.g. a
`git archive` of the commit before a change; its web/node_modules is linked to this one's)
is measured the same way first. Exit status 1 when a load did not show its questions.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from playwright.async_api import Browser, async_playwright

from bench.presence_join import ROOT, Api, Podium, machine, render
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.web.transfer import QUESTIONS_SHOWN, Transfers

BUDGET = 150_000  # bytes: the audience page's first load, hls.js and video aside (issue 10)
MODES = {"as Chromium asks": None, "identity (uncompressed)": "identity"}
QUESTIONS = [
    "How do you keep the hall and the people at home in the same conversation?",
    "What happens to the questions after the session?",
    "Can a speaker join from a phone?",
    "Which of today's results surprised you most?",
    "How much did the pilot cost, and who paid for it?",
    "Will the slides be shared?",
    "What would you do differently next time?",
    "Is there a version of this for schools?",
]


@dataclass
class Load:
    server: str
    lang: str
    mode: str
    total: int  # bytes on the wire, every HTTP resource
    questions_ms: float  # navigation start -> the question list shown
    load_ms: float  # navigation start -> the load event
    ws_received: int  # the socket's frames after the page loaded (the join's snapshot...)
    hls: bool
    resources: list[dict[str, Any]] = field(default_factory=list)


async def demo_event(podium: Podium, http: aiohttp.ClientSession, questions: int) -> dict[str, Any]:
    """An event with a session running now and a live Q&A: the page a phone opens mid-session."""
    api = Api(podium, http)
    event = (await api.post("/api/events", {"name": "Innovation Day", "time_zone": "UTC"}))["event"]
    start = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() - 1800))
    end = time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() + 3 * 3600))
    body = {"title": "Science without borders", "starts_at": start, "ends_at": end}
    session = (await api.post(f"/api/events/{event['id']}/sessions", body))["session"]["id"]
    invite = {"role": "moderator", "session_id": session}
    mod_token = (await api.post(f"/api/events/{event['id']}/invites", invite))["token"]
    clients: list[socketio.AsyncClient] = []

    async def joined(auth: dict[str, str]) -> socketio.AsyncClient:
        sio = socketio.AsyncClient(reconnection=False)
        clients.append(sio)
        await sio.connect(podium.url, transports=["websocket"], auth=auth, wait_timeout=10)
        ack = await sio.call("session:join", {"session": session}, timeout=10)
        assert ack["ok"], ack
        return sio

    async def ok(sio: socketio.AsyncClient, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        ack = await sio.call(name, {"session": session, **payload}, timeout=10)
        if not ack["ok"]:
            raise RuntimeError(f"{name} {payload}: {ack}")
        return dict(ack)

    try:
        mod = await joined({"token": mod_token})
        phones = [
            await joined({"participant": await api.audience_token(event["code"])}) for _ in range(questions)
        ]
        ids = []
        for i, phone in enumerate(phones):
            text = QUESTIONS[i % len(QUESTIONS)] + ("" if i < len(QUESTIONS) else f" ({i})")
            ack = await ok(phone, "qa:ask", {"text": text, "client_id": f"q{i}"})
            ids.append(ack["question"]["id"])
        for qid in ids:
            await ok(mod, "qa:moderate", {"question": qid, "action": "approve"})
        for i, phone in enumerate(phones):
            await ok(phone, "qa:vote", {"question": ids[(i + 1) % len(ids)], "vote": True})
            await ok(phone, "reaction:send", {"emoji": "👏"})
        await ok(mod, "qa:moderate", {"question": ids[0], "action": "screen"})
        await ok(mod, "stage:status", {"status": "live"})
        await ok(mod, "stage:timer", {"action": "start"})
    finally:
        for sio in clients:
            await sio.disconnect()
    return {"event": event, "session": session}


async def first_load(browser: Browser, url: str, args: argparse.Namespace, encoding: str | None) -> Load:
    """One first visit: a new profile, the tab throttled, until the questions show and the
    network has been quiet for --quiet seconds."""
    headers = {"Accept-Encoding": encoding} if encoding else {}
    context = await browser.new_context(locale="en-US", extra_http_headers=headers)
    try:
        page = await context.new_page()
        await page.add_init_script(QUESTIONS_SHOWN)
        transfers = await Transfers.watch(page)
        await transfers.throttle(args.down_kbps, args.up_kbps, args.latency_ms)
        await page.goto(url, wait_until="load", timeout=args.timeout * 1000)
        await page.wait_for_function(
            "() => window.__questionsShownAt !== undefined", timeout=args.timeout * 1000
        )
        seen = -1
        while len(transfers.resources) != seen:  # nothing more asked for within --quiet
            seen = len(transfers.resources)
            await asyncio.sleep(args.quiet)
        shown = await page.evaluate("window.__questionsShownAt")
        load = await page.evaluate("performance.getEntriesByType('navigation')[0].loadEventEnd")
        resources = [
            {
                "path": r.url.split("://", 1)[1].split("/", 1)[1].split("#")[0][:60],
                "status": r.status,
                "encoding": r.encoding or "-",
                "transferred": r.transferred,
                "decoded": r.decoded,
            }
            for r in transfers.loaded()
        ]
        return Load(
            server="",
            lang="",
            mode="",
            total=transfers.total(),
            questions_ms=float(shown),
            load_ms=float(load),
            ws_received=transfers.ws_received,
            hls=transfers.fetched_hls(),
            resources=resources,
        )
    finally:
        await context.close()


async def measure(podium: Podium, label: str, args: argparse.Namespace) -> list[Load]:
    async with aiohttp.ClientSession() as http:
        demo = await demo_event(podium, http, args.questions)
    loads: list[Load] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=args.chromium, args=CHROMIUM_ARGS)
        try:
            for lang in args.lang.split(","):
                url = f"{podium.url}/e/{demo['event']['code']}?lang={lang}"
                for mode, encoding in MODES.items():
                    for _ in range(args.repeat):
                        load = await first_load(browser, url, args, encoding)
                        load.server, load.lang, load.mode = label, lang, mode
                        loads.append(load)
                        print(
                            f"  {label}, {lang}, {mode}: {load.total:,} B, "
                            f"questions at {load.questions_ms:,.0f} ms",
                            flush=True,
                        )
        finally:
            await browser.close()
    return loads


def median_load(loads: list[Load]) -> Load:
    return sorted(loads, key=lambda x: x.questions_ms)[len(loads) // 2]


def report(loads: list[Load], markdown: bool) -> str:
    groups: dict[tuple[str, str, str], list[Load]] = {}
    for load in loads:
        groups.setdefault((load.server, load.lang, load.mode), []).append(load)
    rows = [
        [
            "server",
            "page",
            "Accept-Encoding",
            "loads",
            "bytes on the wire",
            "questions shown ms (median, min–max)",
            "load event ms (median)",
            "socket bytes in",
            "hls.js fetched",
            f"≤ {BUDGET:,} B",
        ]
    ]
    for (server, lang, mode), group in groups.items():
        q = [x.questions_ms for x in group]
        rows.append(
            [
                server,
                lang,
                mode,
                str(len(group)),
                f"{statistics.median(x.total for x in group):,.0f}",
                f"{statistics.median(q):,.0f} ({min(q):,.0f}–{max(q):,.0f})",
                f"{statistics.median(x.load_ms for x in group):,.0f}",
                f"{statistics.median(x.ws_received for x in group):,.0f}",
                "yes" if any(x.hls for x in group) else "no",
                "yes" if max(x.total for x in group) <= BUDGET else "NO",
            ]
        )
    out = [render(rows, markdown), ""]
    for (server, lang, mode), group in groups.items():
        one = median_load(group)
        out.append(f"{server}, {lang}, {mode} (the median load), per resource:")
        per = [["resource", "status", "Content-Encoding", "on the wire B", "decoded body B"]]
        per += [
            [r["path"] or "/", str(r["status"]), r["encoding"], f"{r['transferred']:,}", f"{r['decoded']:,}"]
            for r in one.resources
        ]
        per.append(["total", "", "", f"{one.total:,}", f"{sum(r['decoded'] for r in one.resources):,}"])
        out += [render(per, markdown), ""]
    return "\n".join(out)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--down-kbps", type=float, default=400.0, help="download, kbit/s (default 400)")
    p.add_argument("--up-kbps", type=float, default=400.0, help="upload, kbit/s (default 400)")
    p.add_argument("--latency-ms", type=float, default=400.0, help="added per request (default 400)")
    p.add_argument("--questions", type=int, default=12, help="approved questions in the session (12)")
    p.add_argument("--lang", default="en", help="the page's languages, comma-separated (en)")
    p.add_argument("--repeat", type=int, default=3, help="loads per server and mode (3)")
    p.add_argument("--quiet", type=float, default=2.0, help="s without a new request that end a load")
    p.add_argument("--timeout", type=float, default=120.0, help="bound on a load, s")
    p.add_argument("--baseline-dir", type=Path, help="another checkout, measured first as 'before'")
    p.add_argument("--chromium", default=CHROMIUM)
    p.add_argument("--markdown", action="store_true")
    p.add_argument("--json", type=Path)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    info = machine(ROOT)
    info["network"] = (
        f"CDP Network.emulateNetworkConditions: {args.down_kbps:g} kbit/s down, "
        f"{args.up_kbps:g} kbit/s up, {args.latency_ms:g} ms latency"
    )
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="podium-firstload-"))
    targets: list[tuple[str, Path]] = []
    if args.baseline_dir:
        before = args.baseline_dir.resolve()
        modules = before / "web" / "node_modules"
        if not modules.exists():
            modules.symlink_to(ROOT / "web" / "node_modules")
        targets.append(("before", before))
    targets.append(("this checkout" if not args.baseline_dir else "after", ROOT))
    loads: list[Load] = []
    try:
        for label, source in targets:
            (workdir / label).mkdir()
            podium = Podium(workdir / label, 1, None, "WARNING", 500, source)
            try:
                print(f"{label} ({source}) on {podium.url}", flush=True)
                loads += asyncio.run(measure(podium, label, args))
            finally:
                podium.stop()
    finally:
        if loads:
            print()
            print(report(loads, args.markdown))
        if args.json:
            payload = {"machine": info, "argv": sys.argv, "loads": [asdict(x) for x in loads]}
            args.json.write_text(json.dumps(payload, indent=2))
        if os.environ.get("BENCH_KEEP_LOGS"):
            print(f"logs kept in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    wanted = len(targets) * len(args.lang.split(",")) * len(MODES) * args.repeat
    return 0 if len(loads) == wanted else 1


if __name__ == "__main__":
    sys.exit(main())
