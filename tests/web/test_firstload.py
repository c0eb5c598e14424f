"""The audience page's first load (issue 10): what goes over the wire, not how fast.

Over HTTP: text (pages, scripts, styles, source maps) comes gzipped when Accept-Encoding
allows it and as it is otherwise, each form with its own ETag and `Vary: Accept-Encoding`.
In Chromium: a phone's first visit to a live session costs at most 150 KB as received
(headers included), and hls.js is fetched only for a stream the person is shown.
Timings under a throttled network are bench/firstload.py's (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import gzip
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from playwright.async_api import expect

from server.http.assets import accepts_gzip
from tests.conftest import Api, Running, World, moderator, person
from tests.web.conftest import Chromium
from tests.web.transfer import QUESTIONS_SHOWN, Transfers

WEB = Path(__file__).resolve().parents[2] / "web"
BUDGET = 150_000  # bytes received for the first load: HTML, CSS, JS, catalog, icon (not video, not hls.js)
TEXT = {
    "/static/js/live.js": WEB / "static/js/live.js",
    "/static/css/podium.css": WEB / "static/css/podium.css",
    "/static/vendor/socket.io.esm.min.js": WEB / "node_modules/socket.io-client/dist/socket.io.esm.min.js",
    "/static/vendor/socket.io.esm.min.js.map": WEB
    / "node_modules/socket.io-client/dist/socket.io.esm.min.js.map",
    "/static/vendor/hls.light.min.mjs": WEB / "node_modules/hls.js/dist/hls.light.min.mjs",
}


@pytest.mark.parametrize(
    ("header", "gzipped"),
    [
        ("gzip, deflate, br, zstd", True),  # Chromium
        ("gzip", True),
        ("GZIP;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("br;q=1, *;q=0.1", True),
        ("identity", False),
        ("", False),
        ("gzip;q=0", False),
        ("gzip;q=0.000, *", False),  # named and refused: `*` does not bring it back
        ("*;q=0", False),
        ("br, zstd", False),
        ("gzip;q=nonsense", False),
    ],
)
def test_accept_encoding_is_read_with_its_qualities(header, gzipped):
    assert accepts_gzip(header) is gzipped


@pytest.fixture
async def raw() -> AsyncIterator[aiohttp.ClientSession]:
    """A client that sends exactly the Accept-Encoding it is given and decodes nothing."""
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


@pytest.mark.parametrize("path", [*TEXT, "/e/{code}", "/"])
async def test_text_comes_gzipped_when_the_browser_accepts_it_and_plain_when_not(
    server: Running, world: World, raw: aiohttp.ClientSession, path: str
):
    url = server.url + path.format(code=world.event["code"])
    async with raw.get(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"}) as r:
        assert r.status == 200
        assert r.headers["Content-Encoding"] == "gzip"
        assert r.headers["Vary"] == "Accept-Encoding"
        packed = await r.read()
        zipped_tag = r.headers.get("ETag")
    body = gzip.decompress(packed)
    assert len(packed) < len(body) / 2, "text compresses to well under half"
    for refusal in ("identity", "gzip;q=0", "br"):
        async with raw.get(url, headers={"Accept-Encoding": refusal}) as r:
            assert r.status == 200
            assert "Content-Encoding" not in r.headers, refusal
            assert r.headers["Vary"] == "Accept-Encoding", "a cache must keep the two apart"
            plain = await r.read()
            plain_tag = r.headers.get("ETag")
    if path in TEXT:
        assert body == plain == TEXT[path].read_bytes()
        assert zipped_tag and plain_tag and zipped_tag != plain_tag, "each form has its own ETag"
    else:  # a page, made for this request
        assert plain.decode().startswith("<!doctype html>") and body.decode().startswith("<!doctype html>")
        assert "private" in r.headers["Cache-Control"] and "no-cache" in r.headers["Cache-Control"]


async def test_a_file_the_browser_has_is_not_sent_again(server: Running, raw: aiohttp.ClientSession):
    url = server.url + "/static/js/live.js"
    for encoding in ("gzip", "identity"):
        async with raw.get(url, headers={"Accept-Encoding": encoding}) as r:
            tag = r.headers["ETag"]
            assert r.headers["Cache-Control"] == "no-cache", "unversioned URLs: checked before each use"
        for held in (tag, f"W/{tag}", f'"other", {tag}'):
            async with raw.get(url, headers={"Accept-Encoding": encoding, "If-None-Match": held}) as r:
                assert r.status == 304, (encoding, held)
                assert await r.read() == b""
                assert r.headers["ETag"] == tag and r.headers["Vary"] == "Accept-Encoding"
    # The other form's tag does not match: a cache that holds the gzipped one gets plain text anew.
    async with raw.get(url, headers={"Accept-Encoding": "gzip"}) as r:
        zipped_tag = r.headers["ETag"]
    async with raw.get(url, headers={"Accept-Encoding": "identity", "If-None-Match": zipped_tag}) as r:
        assert r.status == 200


async def test_an_edited_file_is_served_as_it_is_now(server: Running, raw: aiohttp.ClientSession, tmp_path):
    from server import appkeys

    assets = server.app[appkeys.ASSETS]
    path = tmp_path / "x.js"
    path.write_text("export const a = 1;\n" * 40)
    first = await assets.get(path)
    path.write_text("export const b = 2;\n" * 41)
    second = await assets.get(path)
    assert second.body == path.read_bytes() and second.digest != first.digest
    assert second.gzipped is not None and gzip.decompress(second.gzipped) == second.body


async def test_the_audience_page_preloads_every_module_it_imports_and_no_other(
    server: Running, world: World, http: aiohttp.ClientSession
):
    async with http.get(f"{server.url}/e/{world.event['code']}") as r:
        page = await r.text()
    preloaded = set(re.findall(r'<link rel="modulepreload" href="([^"]+)">', page))
    assert preloaded == {
        "/static/js/announce.js",
        "/static/js/audience.js",
        "/static/js/audience-stage.js",
        "/static/js/dom.js",
        "/static/js/emoji.js",
        "/static/js/i18n.js",
        "/static/js/live.js",
        "/static/js/polls-audience.js",
        "/static/js/polls-view.js",
        "/static/js/presence.js",
        "/static/js/protocol.js",
        "/static/js/qa-audience.js",
        "/static/js/qa-state.js",
        "/static/js/translations.js",
        "/static/vendor/socket.io.esm.min.js",
    }, "studio.js and hls.js are imported on demand only"


# --- in Chromium ---------------------------------------------------------------------


async def live_session(server: Running, world: World, http: aiohttp.ClientSession, questions: int) -> None:
    """A session in full swing: questions asked and approved, one on screen, reactions (the
    sockets that made it leave: the browser fixture wants none left at the end)."""
    mod = await moderator(server, world)
    ids = []
    clients = [mod]
    for i in range(questions):
        phone = await person(server, world, http, name=f"Phone {i}")
        clients.append(phone)
        ack = await phone.call(
            "qa:ask",
            {"session": world.session, "text": f"Question number {i} from the hall?", "client_id": f"c{i}"},
        )
        assert ack["ok"], ack
        ids.append(ack["question"]["id"])
        assert (await phone.call("reaction:send", {"session": world.session, "emoji": "👏"}))["ok"]
    for qid in ids:
        assert (
            await mod.call("qa:moderate", {"session": world.session, "question": qid, "action": "approve"})
        )["ok"]
    assert (
        await mod.call("qa:moderate", {"session": world.session, "question": ids[0], "action": "screen"})
    )["ok"]
    for c in clients:
        await c.disconnect()


async def first_visit(browser: Chromium, path: str) -> Transfers:
    """A new phone opens `path`: every byte until the questions show and the network is quiet."""
    page = await browser.open(await browser.person(), "about:blank")
    await page.add_init_script(QUESTIONS_SHOWN)
    transfers = await Transfers.watch(page)
    await page.goto(path)
    await page.wait_for_function("() => window.__questionsShownAt !== undefined")
    await expect(page.locator("#questions li").first).to_be_visible()
    seen = -1
    while len(transfers.resources) != seen:
        seen = len(transfers.resources)
        await asyncio.sleep(1.0)
    return transfers


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["en", "he"])  # Hebrew: the largest catalog
async def test_a_phones_first_load_is_at_most_150_kb_and_fetches_no_hlsjs(
    browser: Chromium, server: Running, world: World, http: aiohttp.ClientSession, lang: str
):
    await live_session(server, world, http, questions=8)
    transfers = await first_visit(browser, f"/e/{world.event['code']}?lang={lang}")
    loaded = transfers.loaded()
    assert all(r.finished and r.status == 200 for r in loaded), [(r.url, r.status) for r in loaded]
    assert {r.url.split("/")[-1] for r in loaded} >= {"podium.css", "audience.js", "socket.io.esm.min.js"}
    text = [r for r in loaded if r.mime in ("text/html", "text/css", "text/javascript") and r.decoded > 1000]
    assert text and all(r.encoding == "gzip" for r in text), [(r.url, r.encoding) for r in text]
    assert transfers.total() <= BUDGET, [(r.url, r.transferred) for r in loaded]
    assert not transfers.fetched_hls()


@pytest.mark.browser
async def test_hlsjs_is_not_fetched_in_the_hall_even_when_the_session_has_a_stream(
    browser: Chromium, server: Running, world: World, http: aiohttp.ClientSession, org: Api
):
    await org.ok("PATCH", f"/api/sessions/{world.session}", {"stream_url": "https://video.invalid/live.m3u8"})
    await live_session(server, world, http, questions=1)
    transfers = await first_visit(browser, f"/e/{world.event['code']}?w=hall")
    assert not transfers.fetched_hls(), "the hall sees the stage, not the stream"
    assert transfers.total() <= BUDGET
