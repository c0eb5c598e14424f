"""The pages in a real Chromium: live counts, tabs and reloads, invite links, hostile text,
the organizer's desk end to end, and no request ever leaving 127.0.0.1.

Every person is a separate browser context (own cookies and localStorage). The `browser`
fixture (tests/web/conftest.py) also fails a test whose pages reached another host, threw an
uncaught error or tripped the Content-Security-Policy.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, expect

from server import appkeys
from tests.conftest import Api, Running, World, hostile
from tests.web.conftest import LOCAL_HOST, Chromium

pytestmark = pytest.mark.browser

NOT_PWNED = "typeof window.__pwned"


async def count_is(page: Page, n: int) -> None:
    """The page's headline count reads n (`#live-count[data-count]`)."""
    await expect(page.locator("#live-count")).to_have_attribute("data-count", str(n))


async def table_total_is(page: Page, n: int) -> None:
    await expect(page.locator("#presence")).to_have_attribute("data-total", str(n))


async def cell(page: Page, role: str, where: str) -> str:
    return await page.locator(f'#presence tr[data-role="{role}"] td[data-where="{where}"]').inner_text()


async def on_session(page: Page, session_id: str) -> None:
    """Put an audience page on session_id (the 'current' session depends on today's date)."""
    select = page.locator("#session-select")
    await expect(select).to_be_enabled()
    if await select.input_value() != session_id:
        await select.select_option(session_id)
    await expect(select).to_have_value(session_id)


async def pid_cookie(page: Page) -> dict:
    cookies = [c for c in await page.context.cookies() if c["name"] == "podium_pid"]
    assert len(cookies) == 1, cookies
    return dict(cookies[0])


async def person_id(server: Running, page: Page) -> str:
    """The participant id inside the browser's signed cookie (the value itself is re-signed on save)."""
    return str(server.app[appkeys.AUTH].participant_id((await pid_cookie(page))["value"]))


# 1 -------------------------------------------------------------------------------------------


async def test_two_people_see_the_count_rise_to_two_and_fall_to_one_when_one_leaves(
    browser: Chromium, world: World, server: Running
):
    code = world.event["code"]
    ann = await browser.open(await browser.person(), f"/e/{code}")
    bob = await browser.open(await browser.person(), f"/e/{code}")
    for page in (ann, bob):
        await count_is(page, 2)
        await table_total_is(page, 2)
        await expect(page.locator("#live-count")).to_have_text("2 here")
    assert await person_id(server, ann) != await person_id(server, bob), "two people, two ids"

    await bob.close()
    await count_is(ann, 1)
    await table_total_is(ann, 1)
    assert await cell(ann, "audience", "remote") == "1"


# 2 -------------------------------------------------------------------------------------------


async def test_tabs_and_reloads_of_one_browser_stay_one_person(
    browser: Chromium, world: World, server: Running
):
    code = world.event["code"]
    me = await browser.person()
    first = await browser.open(me, f"/e/{code}")
    await count_is(first, 1)
    cookie = await pid_cookie(first)
    me_id = await person_id(server, first)
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"

    await first.fill("#name", "Ann")
    await first.click("#save-name")
    await expect(first.locator("#name-status")).to_have_text(
        "Saved. Others will see this name next to what you send."
    )

    second = await browser.open(me, f"/e/{code}")
    await count_is(second, 1)
    await expect(second.locator("#name")).to_have_value("Ann")

    # Someone else arriving is the sync point: two people in all, whatever the tabs.
    other = await browser.open(await browser.person(), f"/e/{code}")
    for page in (first, second, other):
        await count_is(page, 2)

    await first.reload()
    await count_is(first, 2)
    await expect(first.locator("#name")).to_have_value("Ann")
    await second.reload()
    await count_is(second, 2)
    await count_is(other, 2)
    assert await person_id(server, second) == me_id, "a reload must not make a new person"
    assert await first.evaluate("document.cookie") == "", "the participant cookie must be HttpOnly"

    await first.close()
    await second.close()
    await count_is(other, 1)


# 3 -------------------------------------------------------------------------------------------


async def test_moderator_and_hall_screen_pages_count_everyone_and_keep_their_link(
    browser: Chromium, world: World, server: Running
):
    code, sid = world.event["code"], world.session
    audience = await browser.open(await browser.person(), f"/e/{code}")
    await on_session(audience, sid)
    mod = await browser.open(await browser.person(), f"/m/{sid}#t={world.tokens['moderator']}")
    screen = await browser.open(await browser.person(), f"/s/{sid}#t={world.tokens['screen']}")

    for page in (mod, screen, audience):
        await count_is(page, 3)
        await table_total_is(page, 3)
    for page in (mod, screen):
        await expect(page.locator("#stage")).to_be_visible()
        await expect(page.locator("#signin")).to_be_hidden()
        await expect(page.locator("#event-name")).to_have_text(world.event["name"])
        await expect(page.locator("#session-title")).to_have_text(world.sessions[0]["title"])
    assert await cell(mod, "moderator", "hall") == "1"
    assert await cell(mod, "screen", "hall") == "1"
    assert await cell(mod, "audience", "remote") == "1"

    await expect(screen.locator("#join-code")).to_have_text(code)
    await expect(screen.locator("#join-url")).to_have_text(f"{urlsplit(server.url).netloc}/e/{code}")
    assert await screen.get_attribute("#join-qr", "src") == f"/e/{code}/qr.svg?w=hall"
    await screen.wait_for_function(
        "() => { const img = document.querySelector('#join-qr');"
        " return img.complete && img.naturalWidth > 0; }"
    )

    for page, role in ((mod, "moderator"), (screen, "screen")):
        assert await page.evaluate("location.hash") == "", "the token must leave the address bar"
        assert "#t=" not in page.url
        assert await page.evaluate(f"localStorage.getItem('podium.token.{role}')") == world.tokens[role]

    await mod.reload()
    await screen.reload()
    for page in (mod, screen):
        await expect(page.locator("#stage")).to_be_visible()
        await expect(page.locator("#session-title")).to_have_text(world.sessions[0]["title"])
        await count_is(page, 3)
    await expect(screen.locator("#join-code")).to_have_text(code)
    await count_is(audience, 3)


# 4 -------------------------------------------------------------------------------------------

EVENT_NAME = '<img src=x onerror="window.__pwned=1">'
SESSION_TITLE = "<script>window.__pwned=1</script>"


async def no_markup_ran(page: Page) -> None:
    assert await page.evaluate(NOT_PWNED) == "undefined", page.url
    injected = await page.evaluate(
        'document.querySelectorAll(\'img[src="x"], svg[onload], a[href^="javascript"], '
        'script:not([type]), textarea:not(#question-text):not([name="words"]):not([name="chat"])'
        ":not(#poll-form textarea)').length"
    )
    assert injected == 0, f"user text became elements on {page.url}"


async def test_hostile_names_and_titles_are_shown_as_text_and_never_run(
    browser: Chromium, server: Running, org: Api
):
    markup = hostile()["markup"]
    titles = [SESSION_TITLE, *(m for m in markup if m != SESSION_TITLE)]
    created = await org.ok("POST", "/api/events", {"name": EVENT_NAME, "time_zone": "Asia/Shanghai"})
    event = created["event"]
    sessions = []
    for i, title in enumerate(titles):  # far in the future, in order: the first is "current"
        s = await org.ok(
            "POST",
            f"/api/events/{event['id']}/sessions",
            {
                "title": title,
                "starts_at": f"2099-01-01T{9 + i:02d}:00",
                "ends_at": f"2099-01-01T{9 + i:02d}:30",
            },
        )
        sessions.append(s["session"])
    first = sessions[0]["id"]
    scoped = await org.ok(
        "POST",
        f"/api/events/{event['id']}/invites",
        {"role": "moderator", "session_id": first, "label": markup[2]},
    )
    whole = await org.ok("POST", f"/api/events/{event['id']}/invites", {"role": "moderator"})

    audience = await browser.open(await browser.person(), f"/e/{event['code']}")
    await count_is(audience, 1)
    await expect(audience.locator(".event-name")).to_have_text(EVENT_NAME)
    await expect(audience.locator("#session-title")).to_have_text(SESSION_TITLE)
    assert await audience.title() == f"{EVENT_NAME} · Podium"
    assert await audience.locator("#session-select option").all_text_contents() == titles
    await no_markup_ran(audience)

    mod = await browser.open(await browser.person(), f"/m/{first}#t={scoped['token']}")
    await count_is(mod, 2)
    await expect(mod.locator("#event-name")).to_have_text(EVENT_NAME)
    await expect(mod.locator("#session-title")).to_have_text(SESSION_TITLE)
    await no_markup_ran(mod)

    picker = await browser.open(await browser.person(), f"/m#t={whole['token']}")
    await expect(picker.locator("#picker")).to_be_visible()
    await expect(picker.locator("#sessions li a")).to_have_text(titles)
    await no_markup_ran(picker)

    desk = await browser.open(await browser.person(), f"/o#t={await server.organizer_token()}")
    button = desk.locator(f'#events button[data-event="{event["id"]}"]')
    await expect(button).to_have_text(EVENT_NAME)
    await button.click()
    await expect(desk.locator("#event-card h2")).to_have_text(EVENT_NAME)
    await expect(desk.locator("#edit-event input[name=name]")).to_have_value(EVENT_NAME)
    rows = desk.locator("form.session-row[data-session] input[name=title]")
    await expect(rows).to_have_count(len(titles))
    assert [await rows.nth(i).input_value() for i in range(len(titles))] == titles
    await expect(desk.locator(f'#invites li[data-invite="{scoped["invite"]["id"]}"]')).to_contain_text(
        markup[2]
    )
    await no_markup_ran(desk)

    assert not [u for u in browser.urls if urlsplit(u).path.endswith("/x")], "an <img src=x> was loaded"


# 5 -------------------------------------------------------------------------------------------


async def test_organizer_creates_an_event_session_and_moderator_link_then_revokes_it(
    browser: Chromium, server: Running
):
    desk = await browser.open(await browser.person(), f"/o#t={await server.organizer_token()}")
    assert await desk.evaluate("location.hash") == ""
    await expect(desk.locator("#whoami")).to_have_text(
        "Signed in with the start-up link: you can create events."
    )
    await expect(desk.locator("#events")).to_contain_text("No events yet.")

    form = desk.locator("#new-event")
    await form.locator("input[name=name]").fill("Launch Night")
    await form.locator("input[name=time_zone]").fill("Asia/Shanghai")
    await form.locator("button[type=submit]").click()
    await expect(form.locator(".error")).to_have_text("")
    await expect(desk.locator("#events button[data-event]")).to_have_text(["Launch Night"])
    card = desk.locator("#event-card")
    await expect(card.locator("h2")).to_have_text("Launch Night")
    await expect(card).to_contain_text("Sessions (times in Asia/Shanghai)")
    code = (await desk.locator("#events .code-chip").inner_text()).strip()
    await expect(card.locator(f'a[href="{server.url}/e/{code}"]')).to_be_visible()

    add = desk.locator("#new-session")
    await add.locator("input[name=title]").fill("Keynote")
    await add.locator("input[name=starts_at]").fill("2026-12-03T09:30")
    await add.locator("input[name=ends_at]").fill("2026-12-03T10:15")
    await add.locator("button[type=submit]").click()
    row = desk.locator("form.session-row[data-session]")
    await expect(row).to_have_count(1)
    await expect(row.locator("input[name=title]")).to_have_value("Keynote")
    await expect(row.locator("input[name=starts_at]")).to_have_value("2026-12-03T09:30")
    await expect(row.locator("input[name=ends_at]")).to_have_value("2026-12-03T10:15")
    session_id = await row.get_attribute("data-session")
    assert session_id

    invite = desk.locator("#new-invite")
    await invite.locator("select[name=role]").select_option("moderator")
    await invite.locator("select[name=session_id]").select_option(session_id)
    await invite.locator("input[name=label]").fill("Mia on the floor")
    await invite.locator("button[type=submit]").click()
    link = desk.locator("#new-link .link-output")
    await expect(link).to_be_visible()
    url = await link.input_value()
    assert url.startswith(f"{server.url}/m/{session_id}#t="), url
    rows = desk.locator("#invites li[data-invite]")
    await expect(rows).to_have_count(1)
    await expect(rows).to_contain_text("Mia on the floor")

    mod = await browser.open(await browser.person(), url)
    await expect(mod.locator("#session-title")).to_have_text("Keynote")
    await expect(mod.locator("#event-name")).to_have_text("Launch Night")
    await count_is(mod, 1)
    assert await mod.evaluate("location.hash") == ""

    await rows.locator("button.danger").click()
    await expect(rows).to_contain_text("revoked")
    await expect(rows.locator("button")).to_have_count(0)

    await expect(mod.locator("#signin")).to_be_visible()
    await expect(mod.locator("#signin")).to_have_text("This link was revoked by the organizer.")
    await expect(mod.locator("#stage")).to_be_hidden()
    assert await mod.evaluate("localStorage.getItem('podium.token.moderator')") is None

    await mod.reload()
    await expect(mod.locator("#signin")).to_have_text(
        "Open the private link you were given to use this page."
    )
    await mod.goto(url)  # the revoked link itself, opened again
    await expect(mod.locator("#signin")).to_be_visible()
    await expect(mod.locator("#stage")).to_be_hidden()


# 6 -------------------------------------------------------------------------------------------


async def test_garbage_revoked_or_missing_tokens_show_the_signin_message(
    browser: Chromium, world: World, org: Api, server: Running
):
    sid = world.session
    person = await browser.person()
    for path in (f"/m/{sid}#t=garbage", f"/s/{sid}#t=garbage", f"/studio/{sid}#t=garbage", "/o#t=garbage"):
        page = await browser.open(person, path)
        signin = page.locator("#signin")
        await expect(signin).to_be_visible()
        await expect(signin).not_to_have_text("")
        if not path.startswith("/o"):
            await expect(page.locator("#stage")).to_be_hidden()
        assert await page.evaluate("location.hash") == ""
        await page.close()

    bare = await browser.open(person, f"/m/{sid}")
    await expect(bare.locator("#signin")).to_have_text(
        "Open the private link you were given to use this page."
    )
    assert await bare.evaluate("Object.keys(localStorage).filter(k => k.startsWith('podium.token'))") == []

    invites = (await org.ok("GET", f"/api/events/{world.event['id']}"))["invites"]
    moderator = next(i for i in invites if i["role"] == "moderator")
    await org.ok("POST", f"/api/invites/{moderator['id']}/revoke")
    revoked = await browser.open(await browser.person(), f"/m/{sid}#t={world.tokens['moderator']}")
    await expect(revoked.locator("#signin")).to_be_visible()
    await expect(revoked.locator("#signin")).not_to_have_text("")
    await expect(revoked.locator("#stage")).to_be_hidden()
    # The same page still works with a good link (nothing was left broken).
    await revoked.goto(f"/s/{sid}#t={world.tokens['screen']}")
    await expect(revoked.locator("#join-code")).to_have_text(world.event["code"])


# 7 -------------------------------------------------------------------------------------------


async def test_no_page_requests_anything_from_another_host(browser: Chromium, world: World, server: Running):
    code, sid = world.event["code"], world.session
    visitor = await browser.person()
    landing = await browser.open(visitor, "/")
    await landing.fill("#code", f"{code[:3].lower()}-{code[3:].lower()}")
    await landing.click("button[type=submit]")
    await landing.wait_for_url(f"{server.url}/e/{code}")
    await count_is(landing, 1)
    qr = await browser.open(visitor, f"/e/{code}/qr.svg?w=hall")
    assert await qr.evaluate("document.documentElement.tagName") == "svg"

    pages = {
        "organizer": f"/o#t={await server.organizer_token()}",
        "moderator": f"/m/{sid}#t={world.tokens['moderator']}",
        "screen": f"/s/{sid}#t={world.tokens['screen']}",
        "studio": f"/studio/{sid}#t={world.tokens['speaker']}",
    }
    for name, path in pages.items():
        page = await browser.open(await browser.person(), path)
        if name == "organizer":
            await expect(page.locator("#events-card")).to_be_visible()
        else:
            await expect(page.locator("#stage")).to_be_visible()
            await expect(page.locator("#live-count")).to_have_attribute("data-count", re.compile(r"^\d+$"))
    await expect(page.locator("#tally")).to_have_text("BACKSTAGE")

    hosts = {urlsplit(u).hostname for u in browser.urls}
    schemes = {urlsplit(u).scheme for u in browser.urls}
    assert hosts == {LOCAL_HOST}, browser.urls
    assert "ws" in schemes, "the live connection (a websocket) was not recorded"
    assert any(u.endswith("/static/vendor/socket.io.esm.min.js") for u in browser.urls)
