"""Which language a page opens in, the switcher on every page, and what it remembers (issue 10).

Order: `?lang=`, then the choice remembered for that kind of page, then the browser's
Accept-Language among the event's languages, then the event's first language, then English.
Then what pages show in Chinese and Hebrew: the server's HTML, and what the scripts render on
every page of a live session (no English catalog value, no Latin word nobody typed, no key a
catalog lacks).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Page, expect

from server.domain.reactions import EMOJI
from server.http.i18n import Catalogs, accepted
from tests.conftest import Api, Connected, Running, World, join_session, moderator, person
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
SAME_EVERYWHERE = {"Podium", "QR", "CSV", "Webhook"}


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


# --- what the scripts write, on every page of a live session ------------------------------

# The rendered page's words: visible text nodes, and the labels, titles and placeholders of
# visible elements (the language switcher's autonyms left out).
SHOWN_TEXT = """() => {
  const skip = (el) => el.closest('.lang-switch, script, style, template, [translate="no"]');
  const shown = (el) => el.checkVisibility({ visibilityProperty: true });
  const parts = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (el && !skip(el) && shown(el) && n.textContent.trim()) parts.push(n.textContent.trim());
  }
  for (const el of document.body.querySelectorAll("[aria-label], [title], [placeholder], [alt]")) {
    if (skip(el) || !shown(el)) continue;
    for (const name of ["aria-label", "title", "placeholder", "alt"]) {
      if (el.hasAttribute(name)) parts.push(el.getAttribute(name));
    }
  }
  return parts;
}"""
MISSING = "() => [...(window.podiumMissingStrings ?? [])]"
PLACEHOLDER = re.compile(r"\{\w+\}")
# Beyond the catalog: any word in Latin letters on a Chinese or Hebrew page, once what people
# typed is taken out, is English from somewhere (a server's message, a script's literal).
LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
# Names, abbreviations and unit symbols that the catalogs keep in Latin letters on purpose.
LATIN_ANYWHERE = {*SAME_EVERYWHERE, "GMT", "UTC", "JSON", "https", "VPN", "Wi", "Fi", "ms", "kb"}
CODE_LIKE = re.compile(r"\b(?=[A-Z0-9]*[0-9])[A-Z0-9]{6,12}\b")  # an event code, or the example one


def english_pattern(english: str) -> re.Pattern[str] | None:
    """A catalog value as it may appear on a page, its placeholders filled with anything;
    None for a value that is only placeholders and punctuation (nothing of English to see)."""
    pieces = PLACEHOLDER.split(english)
    if not re.search(r"[A-Za-z]{3}", "".join(pieces)):
        return None
    body = r".{1,80}?".join(re.escape(p) for p in pieces)
    return re.compile(rf"(?<![A-Za-z]){body}(?![A-Za-z])")


@dataclass
class LiveSession:
    """A session in full swing, made through real sockets, and what people typed into it."""

    world: World
    links: dict[str, str]  # a speaker's label or "event moderator" -> token; "... id" -> an invite's id
    moderator: Connected
    typed: list[str]  # names, questions, notes, chat: text no catalog can translate


async def live_session(
    server: Running, world: World, org: Api, http: aiohttp.ClientSession, clients: list[Connected]
) -> LiveSession:
    """A session in full swing, made through the API and real sockets (each one is added to
    `clients`, for the caller to close whatever happens)."""
    s = world.session
    event_id = world.event["id"]
    mod = await moderator(server, world)
    clients.append(mod)
    typed = [
        *(x["title"] for x in world.sessions),
        *(v for v in world.event.values() if isinstance(v, str) and v),  # name, code, zone...
        "Ξξ?",  # what the phone in the browser asks
        "Φφ",  # and says with its hand
        "en, zh-CN, he",  # the organizer's example of an event's languages
        server.url.removeprefix("http://"),
        "http://",
    ]

    async def ok(c: Connected, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        ack = await c.call(name, {"session": s, **payload})
        assert ack["ok"], (name, ack)
        return ack

    # The questions: two approved (one on screen), one waiting; votes and reactions.
    ids = []
    for name, text in (("Ana", "Ωμέγα;"), ("Bo", "Ляля?"), ("Cy", "Σίγμα!")):
        phone = await person(server, world, http, name=name)
        clients.append(phone)
        typed += [name, text]
        ids.append((await ok(phone, "qa:ask", {"text": text, "client_id": name}))["question"]["id"])
        await ok(phone, "reaction:send", {"emoji": EMOJI[len(ids) - 1]})
    for qid in ids[:2]:
        await ok(mod, "qa:moderate", {"question": qid, "action": "approve"})
    await ok(clients[1], "qa:vote", {"question": ids[1], "vote": True})
    await ok(mod, "qa:moderate", {"question": ids[0], "action": "screen"})
    await ok(clients[2], "hand:raise", {"note": "Ψ ψ"})
    typed.append("Ψ ψ")
    # The stage: one speaker live, one backstage (the studio's) with a cue waiting, one whose
    # link will be revoked; the session live, the clock running, backstage chat.
    links: dict[str, str] = {}
    for label in ("Zoë Ng", "Yaël Oz", "Kim Lu"):
        inv = await org.ok(
            "POST", f"/api/events/{event_id}/invites", {"role": "speaker", "session_id": s, "label": label}
        )
        links[label] = inv["token"]
        typed.append(label)
        if label == "Zoë Ng":
            live, _ = await join_session(server, world, {"token": inv["token"]})
            clients.append(live)
            await ok(mod, "stage:set", {"speaker": inv["invite"]["id"], "state": "live"})
            await ok(live, "chat:send", {"text": "Ωω", "client_id": "c1"})
        elif label == "Kim Lu":  # a link the organizer will revoke
            links["revoked id"] = inv["invite"]["id"]
        else:  # arrives once (so a cue can wait for her), then opens her studio in the browser
            backstage_id = inv["invite"]["id"]
            arrived, _ = await join_session(server, world, {"token": inv["token"]})
    await ok(mod, "stage:status", {"status": "live"})
    await ok(mod, "stage:timer", {"action": "start"})
    await ok(mod, "chat:send", {"text": "Δδ", "client_id": "c2"})
    await ok(mod, "stage:cue", {"speaker": backstage_id, "kind": "minutes", "minutes": 2})
    await arrived.disconnect()
    typed += ["Ωω", "Δδ"]
    inv = await org.ok("POST", f"/api/events/{event_id}/invites", {"role": "moderator"})
    links["event moderator"] = inv["token"]  # a link for the whole event: the session picker
    links["backstage id"] = backstage_id
    return LiveSession(world, links, mod, typed)


async def page_words(
    browser: Chromium, path: str, ready: Callable[[Page], Awaitable[None]]
) -> tuple[str, list[str]]:
    """Open `path` in a new browser profile, let its scripts render the live state, and
    return the words it shows and the catalog keys its scripts missed."""
    # An English browser (what the page shows is the choice's, not the browser's), in UTC: the
    # event's zone differs (the phone's own time is shown too), and Intl names UTC the same in
    # every language, whatever zone the machine running the test is in.
    page = await browser.open(await browser.person(locale="en-US", timezone_id="UTC"), path)
    try:
        await ready(page)
        await page.wait_for_timeout(1500)  # the clock ticks, late frames land
        return "\n".join(await page.evaluate(SHOWN_TEXT)), await page.evaluate(MISSING)
    finally:
        await page.close()


def english_left(text: str, lang: str) -> list[str]:
    """English catalog values (not the same in `lang`) that appear in `text`."""
    translated = Catalogs().catalog(lang)
    found = []
    for key, english in ENGLISH.items():
        if english in SAME_EVERYWHERE or translated.get(key) == english:
            continue
        pattern = english_pattern(english)
        if pattern is not None and pattern.search(text):
            found.append(f"{key}: {english!r}")
    return found


@pytest.mark.browser
@pytest.mark.parametrize("lang", ["zh-CN", "he"])
async def test_what_scripts_write_is_in_the_pages_language_on_every_page_of_a_live_session(
    browser: Chromium, server: Running, world: World, org: Api, jarless: aiohttp.ClientSession, lang: str
):
    clients: list[Connected] = []
    try:
        await check_every_page(browser, await live_session(server, world, org, jarless, clients), org, lang)
    finally:
        for c in clients:
            await c.disconnect()


async def check_every_page(browser: Chromium, live: LiveSession, org: Api, lang: str) -> None:
    world = live.world
    s, code, tokens = world.session, world.event["code"], world.tokens

    async def visible(page: Page, selector: str) -> None:
        await expect(page.locator(selector).first).to_be_visible()

    async def phone(page: Page) -> None:
        """A phone at home that asks (its question waits for the moderator) and raises its hand."""
        await visible(page, "#questions li")
        await page.fill("#question-text", "Ξξ?")
        await page.click("#send")
        await expect(page.locator("#mine li")).to_have_count(1)
        await page.fill("#hand-note", "Φφ")
        await page.click("#hand-raise")
        await expect(page.locator("#hand")).to_have_attribute("data-state", "raised")

    async def on_stage(page: Page) -> None:
        """A speaker's studio, with a cue waiting, put live by the moderator."""
        await visible(page, "#cue-text")
        ack = await live.moderator.call(
            "stage:set", {"session": s, "speaker": live.links["backstage id"], "state": "live"}
        )
        assert ack["ok"], ack
        await expect(page.locator("#tally")).to_have_attribute("data-state", "live")

    async def banned(page: Page) -> None:
        """A phone whose question gets its author removed from the event: the page says why."""
        await visible(page, "#questions li")
        await page.fill("#question-text", "Ξξ?")
        await page.click("#send")
        await visible(page, "#mine li[data-question]")
        question = await page.locator("#mine li[data-question]").first.get_attribute("data-question")
        ack = await live.moderator.call("qa:ban", {"session": s, "question": question})
        assert ack["ok"], ack
        await visible(page, "#banner")

    async def revoked(page: Page) -> None:
        """A studio whose link the organizer revokes while it is open."""
        await visible(page, "#order li")
        await org.ok("POST", f"/api/invites/{live.links['revoked id']}/revoke")
        await visible(page, "#signin")

    async def poll_lanes(page: Page) -> None:
        """The console's poll lanes: a quiz draft, an open poll counting down, a named rating
        closed with its results shown, an open-answer poll closed and hidden."""
        await visible(page, "#lanes .lane")
        polls = (
            ("choice", "Ωμέγα ή άλφα;", ["Ωμέγα", "Άλφα"], {"correct": [0], "time_limit": 90}, []),
            ("choice", "Βήτα ή γάμμα;", ["Βήτα", "Γάμμα"], {"time_limit": 90}, ["open"]),
            ("rating", "Δέλτα;", [], {"anonymous": False}, ["open", "close", "show"]),
            ("text", "Έψιλον;", [], {}, ["open", "close"]),
        )
        for kind, question, options, extra, actions in polls:
            live.typed += [question, *options]
            payload = {"session": s, "kind": kind, "question": question, "options": options, **extra}
            ack = await live.moderator.call("poll:create", payload)
            assert ack["ok"], ack
            for action in actions:
                move = {"session": s, "poll": ack["poll"], "action": action}
                assert (await live.moderator.call("poll:state", move))["ok"]
        await page.keyboard.press("2")
        await expect(page.locator("#poll-lanes .poll-mod-card")).to_have_count(len(polls))

    pages: dict[str, tuple[str, Callable[[Page], Awaitable[None]]]] = {
        "landing": (f"/?lang={lang}", lambda p: visible(p, "form")),
        "audience": (f"/e/{code}?lang={lang}", phone),
        "moderator": (f"/m/{s}?lang={lang}#t={tokens['moderator']}", lambda p: visible(p, "#hands li.hand")),
        "studio": (f"/studio/{s}?lang={lang}#t={live.links['Yaël Oz']}", on_stage),
        "hall screen": (f"/s/{s}?lang={lang}#t={tokens['screen']}", lambda p: visible(p, "#join-code")),
        "organizer": (f"/o?lang={lang}#t={tokens['organizer']}", lambda p: visible(p, "#invites li")),
        "organizer, start-up link": (f"/o?lang={lang}#t={org.token}", lambda p: visible(p, "#events li")),
        "invite, session picker": (
            f"/m?lang={lang}#t={live.links['event moderator']}",
            lambda p: visible(p, "#sessions li"),
        ),
        "invite, no link": (f"/studio/{s}?lang={lang}", lambda p: visible(p, "#signin")),
        "audience, removed": (f"/e/{code}?lang={lang}", banned),
        "studio, link revoked": (f"/studio/{s}?lang={lang}#t={live.links['Kim Lu']}", revoked),
        "moderator, poll lanes": (f"/m/{s}?lang={lang}#t={tokens['moderator']}", poll_lanes),
    }
    problems = {}
    for name, (path, ready) in pages.items():
        text, missing = await page_words(browser, path, ready)
        for typed in sorted(live.typed, key=len, reverse=True):
            text = text.replace(typed, " ")
        left = english_left(text, lang)
        latin = sorted(set(LATIN_WORD.findall(CODE_LIKE.sub(" ", text))) - LATIN_ANYWHERE)
        if left or missing or latin:
            problems[name] = {"english": left, "missing keys": missing, "latin words": latin}
    assert not problems, f"{lang}: {problems}"


@pytest.mark.browser
async def test_a_key_the_catalog_lacks_is_shown_as_itself_and_recorded(browser: Chromium, world: World):
    page = await browser.open(await browser.person(), f"/e/{world.event['code']}?lang=he")
    translate = "(key) => import('/static/js/i18n.js').then((m) => m.t(key))"
    assert await page.evaluate(translate, "qa.no_such_key") == "qa.no_such_key"
    assert await page.evaluate(translate, "qa.title") == Catalogs().catalog("he")["qa.title"]
    assert await page.evaluate(MISSING) == ["qa.no_such_key"]
