"""Which language a page opens in, the switcher on every page, and what it remembers (issue 10).

Order: `?lang=`, then the choice remembered for that kind of page, then the browser's
Accept-Language among the event's languages, then the event's first language, then English.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from playwright.async_api import expect

from server.http.i18n import Catalogs, accepted
from tests.conftest import Api, Running, World
from tests.web.conftest import Chromium
from tests.web.test_pages import config_of

PAGES = ["/e/{code}", "/s/{session}", "/studio/{session}", "/m/{session}"]
HTML_OPEN = re.compile(r'<html lang="([^"]+)" dir="(ltr|rtl)">')


def test_accept_language_is_read_by_quality_then_order():
    assert accepted("he-IL,he;q=0.9,en;q=0.8") == ["he-IL", "he", "en"]
    assert accepted("en;q=0.5, zh-CN, fr;q=0") == ["zh-CN", "en"]
    assert accepted("*, ;q=1, de;q=nonsense") == []
    assert accepted("") == []


@pytest.mark.parametrize(
    ("tag", "lang"),
    [
        ("he", "he"),
        ("he-IL", "he"),
        ("zh", "zh-CN"),
        ("zh-cn", "zh-CN"),
        ("zh-Hans-CN", "zh-CN"),
        ("zh-TW", None),
        ("zh-Hant", None),
        ("en-GB", "en"),
        ("fr", None),
        ("x" * 100, None),
    ],
)
def test_a_tag_finds_its_catalog(tag, lang):
    assert Catalogs().supported(tag) == lang


async def page_lang(http: aiohttp.ClientSession, url: str, **headers: str) -> tuple[str, str, str]:
    async with http.get(url, headers=headers) as r:
        assert r.status == 200, url
        text = await r.text()
    match = HTML_OPEN.search(text)
    assert match, text[:200]
    assert config_of(text)["lang"] == match.group(1)
    return match.group(1), match.group(2), text


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("", "zh-CN"),  # nothing said: the event's first language
        ("en-US,en;q=0.9", "en"),
        ("he-IL,he;q=0.9,en;q=0.8", "he"),
        ("fr-FR,fr;q=0.9", "zh-CN"),  # none of the event's: its first
        ("fr,en;q=0.2", "en"),
    ],
)
@pytest.mark.parametrize("path", PAGES)
async def test_an_event_page_follows_the_browser_among_the_events_languages(
    server: Running, world: World, jarless: aiohttp.ClientSession, accept, expected, path
):
    url = server.url + path.format(code=world.event["code"], session=world.session)
    lang, direction, _ = await page_lang(jarless, url, **({"Accept-Language": accept} if accept else {}))
    assert (lang, direction) == (expected, "rtl" if expected == "he" else "ltr")


async def test_an_event_in_chinese_only_opens_in_chinese_for_a_phone_set_to_english(
    server: Running, org: Api, jarless: aiohttp.ClientSession
):
    event = (
        await org.ok(
            "POST", "/api/events", {"name": "南京", "time_zone": "Asia/Shanghai", "languages": ["zh-CN"]}
        )
    )["event"]
    url = f"{server.url}/e/{event['code']}"
    assert (await page_lang(jarless, url, **{"Accept-Language": "en-US,en;q=0.9"}))[0] == "zh-CN"
    # ...until the person chooses: then their choice wins, and is remembered.
    assert (await page_lang(jarless, url + "?lang=en", **{"Accept-Language": "en-US"}))[0] == "en"
    assert (await page_lang(jarless, url, Cookie="podium_lang=en"))[0] == "en"


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """One browser's cookies (kept for 127.0.0.1 too)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def test_a_choice_is_remembered_per_browser_and_per_kind_of_page(
    server: Running, world: World, http: aiohttp.ClientSession
):
    code, session = world.event["code"], world.session
    english = {"Accept-Language": "en"}
    assert (await page_lang(http, f"{server.url}/e/{code}?lang=he", **english))[:2] == ("he", "rtl")
    assert (await page_lang(http, f"{server.url}/e/{code}", **english))[0] == "he", "remembered"
    assert (await page_lang(http, f"{server.url}/m/{session}", **english))[0] == "he", (
        "the same for a console"
    )
    # A hall screen and a studio keep their own.
    assert (await page_lang(http, f"{server.url}/s/{session}?lang=zh-CN", **english))[0] == "zh-CN"
    assert (await page_lang(http, f"{server.url}/s/{session}", **english))[0] == "zh-CN"
    assert (await page_lang(http, f"{server.url}/studio/{session}", **english))[0] == "en"
    assert (await page_lang(http, f"{server.url}/studio/{session}?lang=en", **english))[0] == "en"
    assert (await page_lang(http, f"{server.url}/s/{session}", **english))[0] == "zh-CN"
    assert (await page_lang(http, f"{server.url}/e/{code}", **english))[0] == "he"
    # An unknown choice changes nothing and is not remembered.
    assert (await page_lang(http, f"{server.url}/e/{code}?lang=xx", **english))[0] == "he"


async def test_the_lang_cookie_is_lax_httponly_and_lasts_a_year(
    server: Running, world: World, jarless: aiohttp.ClientSession
):
    async with jarless.get(f"{server.url}/s/{world.session}?lang=he") as r:
        cookie = r.cookies["podium_lang_screen"]
    assert cookie.value == "he" and cookie["samesite"] == "Lax" and cookie["httponly"]
    assert int(cookie["max-age"]) == 365 * 86400
    async with jarless.get(f"{server.url}/s/{world.session}?lang=bogus") as r:
        assert "podium_lang_screen" not in r.cookies


@pytest.mark.parametrize("path", ["/", "/o", *PAGES])
async def test_every_page_has_the_switcher_with_the_events_languages_first(
    server: Running, world: World, jarless: aiohttp.ClientSession, path
):
    url = server.url + path.format(code=world.event["code"], session=world.session)
    lang, _, page = await page_lang(jarless, url, **{"Accept-Language": "he"})
    options = re.findall(
        r'<option value="([^"]+)" lang="\1" dir="(ltr|rtl)"( selected)?>([^<]+)</option>', page
    )
    tags = [tag for tag, *_ in options]
    if path in ("/", "/o"):  # no event: every catalog, English first
        assert tags[0] == "en" and set(tags) == {"en", "zh-CN", "he"}
    else:
        assert tags == ["zh-CN", "en", "he"]  # as the event lists them
    assert [tag for tag, _, selected, _ in options if selected] == [lang]
    assert {tag: name for tag, _, _, name in options} == {"en": "English", "zh-CN": "简体中文", "he": "עברית"}
    assert '<label for="lang-switch">' in page


@pytest.mark.browser
async def test_the_switcher_changes_the_language_at_once_and_keeps_the_link(browser: Chromium, world: World):
    person = await browser.person(locale="en-US")
    studio = await browser.open(person, f"/studio/{world.session}#t={world.tokens['speaker']}")
    await expect(studio.locator("html")).to_have_attribute("lang", "en")
    await expect(studio.locator(".lang-switch-go")).to_be_hidden()
    await expect(studio.locator("#stage")).to_be_visible()
    await studio.select_option("#lang-switch", "he")
    await expect(studio.locator("html")).to_have_attribute("dir", "rtl")
    assert studio.url.endswith("?lang=he"), studio.url
    await expect(studio.locator("#stage")).to_be_visible()  # still signed in
    await expect(studio.locator("#signin")).to_be_hidden()
    await studio.goto(browser.base + f"/studio/{world.session}")
    await expect(studio.locator("html")).to_have_attribute("lang", "he")  # remembered
    await expect(studio.locator("#lang-switch")).to_have_value("he")


def visible_text(page: str) -> str:
    """What a page's HTML shows (its scripts' JSON blocks and tags left out)."""
    page = re.sub(r"<script\b.*?</script>", " ", page, flags=re.S)
    page = re.sub(r"<option\b.*?</option>", " ", page, flags=re.S)  # autonyms: "English" is one
    page = re.sub(r"<[^>]+>", " ", page)
    return re.sub(r"\s+", " ", page)


ENGLISH = Catalogs().catalog("en")
# English strings that may stand in any language (names, codes, units).
SAME_EVERYWHERE = {"Podium", "QR", "CSV"}


@pytest.mark.parametrize("lang", ["zh-CN", "he"])
@pytest.mark.parametrize("path", ["/", "/o", *PAGES])
async def test_a_page_in_chinese_or_hebrew_shows_no_english_string_of_the_catalog(
    server: Running, world: World, jarless: aiohttp.ClientSession, lang, path
):
    url = server.url + path.format(code=world.event["code"], session=world.session) + f"?lang={lang}"
    shown_lang, direction, page = await page_lang(jarless, url)
    assert (shown_lang, direction) == (lang, "rtl" if lang == "he" else "ltr")
    text = visible_text(page)
    translated = Catalogs().catalog(lang)
    leaks = [
        english
        for key, english in ENGLISH.items()
        if "{" not in english
        and english not in SAME_EVERYWHERE
        and re.search(r"[A-Za-z]{3}", english)
        and translated[key] != english
        and re.search(rf"(?<![A-Za-z]){re.escape(english)}(?![A-Za-z])", text)
    ]
    assert not leaks, f"English on a {lang} page: {leaks}"


@pytest.mark.browser
async def test_a_refusal_is_shown_in_the_pages_language_by_its_code(browser: Chromium, world: World):
    he = Catalogs().catalog("he")
    person = await browser.person(locale="en-US")
    page = await browser.open(person, f"/e/{world.event['code']}?lang=he")
    error_text = "(e) => import('/static/js/i18n.js').then((m) => m.errorText(e))"
    refused = {"code": "rate_limited", "message": "Too many requests; try again in 3 s.", "retry_after": 3}
    assert await page.evaluate(error_text, refused) == he["error.rate_limited"].replace("{s}", "3")
    invalid = {"code": "invalid", "message": "text is too long (at most 280 characters).", "field": "text"}
    assert await page.evaluate(error_text, invalid) == he["error.invalid.text"]
    other = {"code": "invalid", "message": "Unknown field: x.", "field": "x"}
    assert await page.evaluate(error_text, other) == he["error.invalid"]
    english = await browser.open(person, f"/e/{world.event['code']}?lang=en")
    assert await english.evaluate(error_text, invalid) == invalid["message"], (
        "English pages show the exact message"
    )


@pytest.mark.browser
async def test_names_are_listed_as_each_language_lists_them(browser: Chromium, world: World):
    person = await browser.person()
    as_list = "(names) => import('/static/js/i18n.js').then((m) => m.formatList(names))"
    expected = {"en": "Ann, Bo, and Cy", "zh-CN": "Ann、Bo和Cy", "he": None}  # he: below
    for lang, listed in expected.items():
        page = await browser.open(person, f"/e/{world.event['code']}?lang={lang}")
        got = await page.evaluate(as_list, ["Ann", "Bo", "Cy"])
        if lang == "he":  # the exact marks vary with ICU: the Hebrew conjunction is there
            assert "Ann" in got and "ו" in got and "Cy" in got, got
        else:
            assert got == listed, (lang, got)
        await page.close()
