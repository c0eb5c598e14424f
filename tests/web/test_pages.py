"""The pages over plain HTTP (no browser): status, security headers, language, the config block,
the participant cookie, the QR code, vendored scripts, and nothing loaded from another host."""

from __future__ import annotations

import html
import json
import re
from http.cookies import SimpleCookie
from pathlib import Path

import aiohttp
import pytest
from markupsafe import escape

from server import appkeys
from server.http.pages import SHOWN_EMOJI, twemoji_file
from tests.conftest import Api, Running, World

WEB = Path(__file__).resolve().parents[2] / "web"
EN = json.loads((WEB / "i18n" / "en.json").read_text(encoding="utf-8"))

PAGES = [
    "/",
    "/e/{code}",
    "/e/{code}?w=hall",
    "/o",
    "/m",
    "/m/{session}",
    "/s",
    "/s/{session}",
    "/studio",
    "/studio/{session}",
]
CONFIG_BLOCK = re.compile(r'<script type="application/json" id="podium-config">(.*?)</script>', re.S)
HTML_OPEN = '<html lang="en" dir="ltr">'


def page_url(server: Running, world: World, path: str) -> str:
    return server.url + path.format(code=world.event["code"], session=world.session)


def csp_directives(header: str) -> dict[str, list[str]]:
    out = {}
    for part in header.split(";"):
        words = part.split()
        if words:
            out[words[0]] = words[1:]
    return out


def assert_secure_headers(headers) -> None:
    csp = headers.get("Content-Security-Policy", "")
    assert "script-src 'self'" in csp, csp
    directives = csp_directives(csp)
    assert directives["script-src"] == ["'self'"], "no inline or outside scripts may run"
    assert directives["object-src"] == ["'none'"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert headers.get("X-Content-Type-Options") == "nosniff"


def config_of(page: str) -> dict:
    blocks = CONFIG_BLOCK.findall(page)
    assert len(blocks) == 1, "exactly one podium-config block"
    return json.loads(blocks[0])


def set_cookies(response: aiohttp.ClientResponse) -> SimpleCookie:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.getall("Set-Cookie", []):
        jar.load(header)
    return jar


# --- status and headers --------------------------------------------------------------


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_answers_200_in_english_with_the_security_headers(
    server: Running, world: World, http: aiohttp.ClientSession, path: str
):
    async with http.get(page_url(server, world, path), headers={"Accept-Language": "en-US,en;q=0.9"}) as r:
        assert r.status == 200, path
        assert r.content_type == "text/html"
        assert r.charset == "utf-8"
        assert_secure_headers(r.headers)
        assert r.headers.get("Referrer-Policy") == "no-referrer"
        page = await r.text()
    assert page.startswith("<!doctype html>")
    assert HTML_OPEN in page
    config = config_of(page)
    assert config["lang"] == "en"
    if "{session}" in path:
        assert config["session_id"] == world.session


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("/e/{code}/qr.svg?w=hall", "image/svg+xml"),
        ("/static/js/audience.js", "javascript"),
        ("/static/css/podium.css", "text/css"),
        ("/static/vendor/socket.io.esm.min.js", "javascript"),
        ("/static/favicon.svg", "image/svg+xml"),
    ],
)
async def test_assets_are_served_with_their_type_and_nosniff(
    server: Running, world: World, http: aiohttp.ClientSession, path: str, kind: str
):
    async with http.get(page_url(server, world, path), headers={"Accept-Language": "en-US,en;q=0.9"}) as r:
        assert r.status == 200, path
        assert kind in r.content_type, r.content_type
        assert_secure_headers(r.headers)


async def test_an_unknown_code_gives_404_with_the_landing_form(server: Running, http: aiohttp.ClientSession):
    for path in ("/e/NOPE99", "/e/x", "/e/%3Cscript%3E"):
        async with http.get(server.url + path) as r:
            assert r.status == 404, path
            assert_secure_headers(r.headers)
            page = await r.text()
        assert '<form class="card stack" action="/go" method="get">' in page
        assert 'name="code"' in page
        assert html.escape(EN["landing.unknown_code"]) in page
        assert HTML_OPEN in page


@pytest.mark.parametrize("code", ["", "x", "NOPE99", "<script>alert(1)</script>", "A" * 41])
async def test_go_with_a_bad_code_gives_404_and_the_translated_error(
    server: Running, world: World, http: aiohttp.ClientSession, code: str
):
    async with http.get(server.url + "/go", params={"code": code}, allow_redirects=False) as r:
        assert r.status == 404
        page = await r.text()
    assert f'<p class="error" role="alert">{html.escape(EN["landing.unknown_code"])}</p>' in page
    assert "<script>alert(1)</script>" not in page
    assert '<form class="card stack" action="/go" method="get">' in page


async def test_go_with_a_typed_code_redirects_to_the_canonical_audience_page(
    server: Running, world: World, http: aiohttp.ClientSession
):
    code = world.event["code"]
    typed = f" {code[:3].lower()}-{code[3:].lower()} "
    async with http.get(server.url + "/go", params={"code": typed}, allow_redirects=False) as r:
        assert r.status == 303
        assert r.headers["Location"] == f"/e/{code}"


# --- language ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ("?lang=fr", {}),
        ("", {"Accept-Language": "fr-FR,fr;q=0.9"}),
        ("", {"Cookie": "podium_lang=fr"}),
        ("?lang=zz-Nope", {"Accept-Language": "*"}),
    ],
)
async def test_a_language_without_a_catalog_falls_back_to_english_left_to_right(
    server: Running, world: World, jarless: aiohttp.ClientSession, query: str, headers: dict[str, str]
):
    # French has no catalog (zh-CN and he do), so a page of no event asked for in French is
    # served in English, `dir="ltr"` (an event's page falls back to the event's first
    # language instead: test_languages.py).
    async with jarless.get(f"{server.url}/{query}", headers=headers) as r:
        assert r.status == 200
        page = await r.text()
    assert HTML_OPEN in page
    assert config_of(page)["lang"] == "en"
    assert f'<label for="code">{EN["landing.code_label"]}</label>' in page


async def test_the_pages_hand_their_script_the_whole_english_catalog(
    server: Running, world: World, http: aiohttp.ClientSession
):
    async with http.get(f"{server.url}/m/{world.session}", headers={"Accept-Language": "en"}) as r:
        page = await r.text()
    block = re.search(r'<script type="application/json" id="podium-strings">(.*?)</script>', page, re.S)
    assert block
    assert json.loads(block.group(1)) == EN


# --- user text in the page -----------------------------------------------------------

BREAKOUT_NAME = "</script><script>window.__pwned=1</script>"
BREAKOUT_TITLE = "<!--<script>window.__pwned=1</script>"


async def test_the_config_block_cannot_be_broken_out_of_by_an_event_name(
    server: Running, org: Api, http: aiohttp.ClientSession
):
    event = (await org.ok("POST", "/api/events", {"name": BREAKOUT_NAME, "time_zone": "Asia/Shanghai"}))[
        "event"
    ]
    await org.ok(
        "POST",
        f"/api/events/{event['id']}/sessions",
        {"title": BREAKOUT_TITLE, "starts_at": "2099-01-01T09:00", "ends_at": "2099-01-01T10:00"},
    )
    async with http.get(f"{server.url}/e/{event['code']}") as r:
        assert r.status == 200
        page = await r.text()
    assert "</script><script>window.__pwned" not in page
    assert "<script>window.__pwned" not in page
    assert "<!--<script>" not in page
    assert page.count("</script>") == 3, "only the two JSON blocks and the module script close"
    config = config_of(page)
    assert config["event"]["name"] == BREAKOUT_NAME
    assert [s["title"] for s in config["sessions"]] == [BREAKOUT_TITLE]
    escaped = html.escape(BREAKOUT_NAME, quote=False)
    assert f"<title>{escaped} · Podium</title>" in page
    assert f'<h1 class="event-name" dir="auto">{escaped}</h1>' in page


async def test_the_name_a_person_saved_is_escaped_in_the_name_field(
    server: Running, world: World, jarless: aiohttp.ClientSession
):
    hostile_name = '"><script>window.__pwned=1</script>'
    code = world.event["code"]
    async with jarless.post(f"{server.url}/api/codes/{code}/join", json={"name": hostile_name}) as r:
        data = await r.json()
        assert data["ok"], data
        token = data["participant"]["token"]
    async with jarless.get(f"{server.url}/e/{code}", headers={"Cookie": f"podium_pid={token}"}) as r:
        page = await r.text()
    assert "<script>window.__pwned" not in page
    assert f'value="{escape(hostile_name)}"' in page, "Jinja's escaping, quotes included"
    assert config_of(page)["name"] == hostile_name


# --- the participant cookie ----------------------------------------------------------


async def test_the_audience_page_sets_a_lasting_httponly_lax_cookie_once(
    server: Running, world: World, jarless: aiohttp.ClientSession
):
    url = f"{server.url}/e/{world.event['code']}"
    async with jarless.get(url) as r:
        assert r.status == 200
        headers = r.headers.getall("Set-Cookie", [])
        jar = set_cookies(r)
    assert len(headers) == 1, headers
    assert "podium_pid" in jar
    morsel = jar["podium_pid"]
    assert morsel.value
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"
    assert morsel["path"] == "/"
    assert int(morsel["max-age"]) == 30 * 86400
    assert not morsel["secure"], "tests run over plain http; secure_cookies is off by default"

    cookie = {"Cookie": f"podium_pid={morsel.value}"}
    async with jarless.get(url, headers=cookie) as r:
        assert r.status == 200
        assert r.headers.getall("Set-Cookie", []) == [], "a known browser gets no new cookie"


async def test_a_cookie_past_half_its_life_is_renewed_for_the_same_person(
    server: Running, world: World, jarless: aiohttp.ClientSession
):
    auth = server.app[appkeys.AUTH]
    pid = auth.new_participant_id()
    aging = auth.participant_token(pid, 10)  # 10 of the 30 days left
    async with jarless.get(
        f"{server.url}/e/{world.event['code']}", headers={"Cookie": f"podium_pid={aging}"}
    ) as r:
        assert r.status == 200
        renewed = set_cookies(r)
    assert "podium_pid" in renewed, "a cookie past half its life is re-issued"
    assert renewed["podium_pid"].value != aging
    assert auth.participant_id(renewed["podium_pid"].value) == pid, "renewing keeps the same person"
    assert int(renewed["podium_pid"]["max-age"]) == 30 * 86400


async def test_a_forged_cookie_is_replaced_by_a_fresh_one(
    server: Running, world: World, jarless: aiohttp.ClientSession
):
    url = f"{server.url}/e/{world.event['code']}"
    async with jarless.get(url, headers={"Cookie": "podium_pid=eyJwIjoiYWRtaW4ifQ.forged"}) as r:
        assert r.status == 200
        jar = set_cookies(r)
    assert "podium_pid" in jar
    assert jar["podium_pid"].value != "eyJwIjoiYWRtaW4ifQ.forged"


async def test_pages_other_than_the_audience_page_set_no_cookie(
    server: Running, world: World, jarless: aiohttp.ClientSession
):
    for path in PAGES:
        if path.startswith("/e/"):
            continue
        async with jarless.get(page_url(server, world, path)) as r:
            assert r.headers.getall("Set-Cookie", []) == [], path


# --- QR code and vendored scripts ----------------------------------------------------


@pytest.mark.parametrize("query", ["", "?w=hall", "?w=remote", "?w=<script>"])
async def test_the_qr_code_is_an_svg_titled_with_the_code(
    server: Running, world: World, http: aiohttp.ClientSession, query: str
):
    code = world.event["code"]
    async with http.get(f"{server.url}/e/{code.lower()}/qr.svg{query}") as r:
        assert r.status == 200
        assert r.content_type == "image/svg+xml"
        body = await r.text()
    assert body.lstrip().startswith("<svg")
    assert 'xmlns="http://www.w3.org/2000/svg"' in body
    assert f"<title>{code}</title>" in body
    assert "<script" not in body
    assert body.rstrip().endswith("</svg>")


async def test_the_qr_code_of_an_unknown_code_is_404(server: Running, http: aiohttp.ClientSession):
    for path in ("/e/NOPE99/qr.svg", "/e/x/qr.svg"):
        async with http.get(server.url + path) as r:
            assert r.status == 404, (path, r.status)
            assert r.headers.get("X-Content-Type-Options") == "nosniff"
            assert "script-src 'self'" in r.headers.get("Content-Security-Policy", "")


async def test_the_socketio_client_is_served_and_nothing_else_from_vendor(
    server: Running, http: aiohttp.ClientSession
):
    async with http.get(server.url + "/static/vendor/socket.io.esm.min.js") as r:
        assert r.status == 200
        assert "javascript" in r.content_type
        assert r.headers.get("X-Content-Type-Options") == "nosniff"
        script = await r.text()
    assert "export" in script
    async with http.get(server.url + "/static/vendor/socket.io.esm.min.js.map") as r:
        assert r.status == 200
    for name in ("anything-else", "socket.io.js", "..%2Fpackage.json", "..%2F..%2Fserver%2Fsettings.py"):
        async with http.get(f"{server.url}/static/vendor/{name}") as r:
            assert r.status == 404, name


@pytest.mark.parametrize("emoji", SHOWN_EMOJI)
async def test_each_emoji_a_page_shows_is_served_as_a_long_cached_svg(
    server: Running, http: aiohttp.ClientSession, emoji: str
):
    async with http.get(f"{server.url}/static/vendor/emoji/{twemoji_file(emoji)}") as r:
        assert r.status == 200, emoji
        assert r.content_type == "image/svg+xml"
        assert r.headers.get("X-Content-Type-Options") == "nosniff"
        assert int(r.headers["Cache-Control"].rpartition("max-age=")[2]) >= 86400
        body = await r.text()
    assert body.startswith("<svg") and "<script" not in body


async def test_only_the_emoji_podium_shows_are_served_and_no_listing(
    server: Running, http: aiohttp.ClientSession
):
    assert twemoji_file("❤️") == "2764.svg" and twemoji_file("👏") == "1f44f.svg"
    unknown = ("1f4a9.svg", "1f44f", "1F44F.svg", "2764-fe0f.svg", "..%2F1f44f.svg", "..%2F..%2Fpackage.json")
    for name in unknown:
        async with http.get(f"{server.url}/static/vendor/emoji/{name}") as r:
            assert r.status == 404, name
    for path in ("/static/vendor/emoji/", "/static/vendor/emoji", "/static/vendor/"):
        async with http.get(server.url + path) as r:
            assert r.status in (403, 404), (path, r.status)


async def test_static_files_cannot_be_escaped_from(server: Running, http: aiohttp.ClientSession):
    for path in (
        "/static/../i18n/en.json",
        "/static/%2e%2e/i18n/en.json",
        "/static/js/../../templates/base.html",
    ):
        async with http.get(server.url + path) as r:
            assert r.status in (403, 404), (path, r.status)


# --- nothing from another host -------------------------------------------------------

OUTSIDE = re.compile(
    r"""(?:src|href|action|srcset|poster|data)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//""", re.I
)
CSS_OUTSIDE = re.compile(r"""(?:url\(\s*["']?\s*(?:https?:)?//|@import)""", re.I)


async def test_no_page_or_template_points_at_another_host(
    server: Running, world: World, http: aiohttp.ClientSession
):
    for template in sorted((WEB / "templates").glob("*.html")):
        text = template.read_text(encoding="utf-8")
        assert "http://" not in text and "https://" not in text, template.name
        assert not OUTSIDE.search(text), template.name
    css = (WEB / "static" / "css" / "podium.css").read_text(encoding="utf-8")
    assert not CSS_OUTSIDE.search(css), "the stylesheet loads something from elsewhere"
    for path in [*PAGES, "/e/NOPE99", "/go?code=x"]:
        async with http.get(page_url(server, world, path)) as r:
            page = await r.text()
        assert not OUTSIDE.search(page), (path, OUTSIDE.search(page))
        # Podium's own public address may appear (the screen prints it under the QR).
        urls = [u for u in re.findall(r"https?://[^\s\"'<>]+", page) if not u.startswith(server.url)]
        assert not urls, (path, urls)


async def test_hlsjs_is_served_from_npm_as_a_javascript_module(server: Running, http: aiohttp.ClientSession):
    async with http.get(server.url + "/static/vendor/hls.light.min.mjs") as r:
        assert r.status == 200
        assert r.content_type == "text/javascript"
        assert r.headers.get("X-Content-Type-Options") == "nosniff"
        assert "isMSESupported" in await r.text()


async def test_only_the_audience_page_may_fetch_streams_and_only_from_their_origins(
    server: Running, http: aiohttp.ClientSession, world: World, org: Api
):
    async with http.get(f"{server.url}/e/{world.event['code']}") as r:
        assert csp_directives(r.headers["Content-Security-Policy"])["connect-src"] == ["'self'", "https:"]
    await org.ok(
        "PATCH", f"/api/sessions/{world.session}", {"stream_url": "http://10.0.0.5:8088/hall/live.m3u8"}
    )
    async with http.get(f"{server.url}/e/{world.event['code']}") as r:
        directives = csp_directives(r.headers["Content-Security-Policy"])
        assert directives["connect-src"] == ["'self'", "https:", "http://10.0.0.5:8088"]
        assert directives["script-src"] == ["'self'"]
    for page in ("/", f"/s/{world.session}", f"/studio/{world.session}", f"/m/{world.session}", "/o"):
        async with http.get(server.url + page) as r:
            assert csp_directives(r.headers["Content-Security-Policy"])["connect-src"] == ["'self'"], page
