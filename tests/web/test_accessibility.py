"""Accessibility (issue 10): every page, in every language, at phone and desktop size, has no
serious or critical axe-core violation (axe-core from npm, injected by Playwright; never
served to visitors)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.conftest import Running, World, moderator, person
from tests.web.conftest import Chromium

pytestmark = pytest.mark.browser

AXE = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "axe-core" / "axe.min.js"
AXE_SOURCE = AXE.read_text(encoding="utf-8") + "\n;true"
SIZES = {"phone": {"width": 360, "height": 640}, "desktop": {"width": 1280, "height": 800}}


async def violations(page: Page) -> list[str]:
    # Evaluated through the DevTools protocol, which the page's CSP (script-src 'self') does
    # not govern: no inline script is added to the page.
    await page.evaluate(AXE_SOURCE)
    found = await page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ["violations"]});
            return r.violations
              .filter((v) => v.impact === "serious" || v.impact === "critical")
              .map((v) => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`
                 + ` - ${v.nodes[0].failureSummary.replace(/\\s+/g, " ").slice(0, 200)}`);
        }"""
    )
    return list(found)


async def a_live_session(server: Running, world: World, http) -> list[Any]:
    """Questions in every state a page shows: approved with votes, one on screen, pending."""
    mod = await moderator(server, world)
    await mod.call("qa:settings", {"session": world.session, "moderation": "pre"})
    ann = await person(server, world, http, "Ann")
    ids = []
    for i, text in enumerate(["第一个问题：如何开始？", "שאלה שנייה", "A third question"]):
        ack = await ann.call("qa:ask", {"session": world.session, "text": text, "client_id": f"a11y{i}"})
        ids.append(ack["question"]["id"])
    for qid in ids[:2]:
        assert (
            await mod.call("qa:moderate", {"session": world.session, "question": qid, "action": "approve"})
        )["ok"]
    await mod.call("qa:moderate", {"session": world.session, "question": ids[0], "action": "screen"})
    await ann.call("qa:vote", {"session": world.session, "question": ids[1], "vote": True})
    # One question translated, one translation made stale by an edit.
    for qid, lang, text in (
        (ids[0], "en", "First question: how to begin?"),
        (ids[1], "en", "Second question"),
    ):
        ack = await mod.call(
            "qa:translate", {"session": world.session, "question": qid, "lang": lang, "text": text}
        )
        assert ack["ok"], ack
    edit = {"session": world.session, "question": ids[1], "action": "edit", "text": "שאלה שנייה, מתוקנת"}
    assert (await mod.call("qa:moderate", edit))["ok"]
    # Polls: one open (answered), one whose results are shown, a draft.
    s = world.session
    made = []
    for kind, question, options in (
        ("choice", "下一届在哪里举办？", ["Nanjing", "תל אביב", "Lagos"]),
        ("rating", "How was the talk?", []),
        ("words", "One word?", []),
    ):
        ack = await mod.call(
            "poll:create", {"session": s, "kind": kind, "question": question, "options": options}
        )
        made.append(ack["poll"])
    for pid in made[:2]:
        await mod.call("poll:state", {"session": s, "poll": pid, "action": "open"})
    await ann.call("poll:answer", {"session": s, "poll": made[0], "answer": [1]})
    await ann.call("poll:answer", {"session": s, "poll": made[1], "answer": 4})
    await mod.call("poll:state", {"session": s, "poll": made[1], "action": "show"})
    return [mod, ann]


@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("lang", ["en", "zh-CN", "he"])
async def test_every_page_has_no_serious_or_critical_axe_violation(
    browser: Chromium, world: World, server: Running, http, lang, size
):
    clients = await a_live_session(server, world, http)
    code, sid = world.event["code"], world.session
    pages = {
        "landing": "/",
        "audience": f"/e/{code}",
        "moderator": f"/m/{sid}#t={world.tokens['moderator']}",
        "moderator, poll lanes": f"/m/{sid}#t={world.tokens['moderator']}",
        "screen": f"/s/{sid}#t={world.tokens['screen']}",
        "studio": f"/studio/{sid}#t={world.tokens['speaker']}",
        "interpreter": f"/i/{sid}#t={world.tokens['interpreter']}",
        "organizer": f"/o#t={await server.organizer_token()}",
    }
    person = await browser.person(viewport=SIZES[size])
    found = {}
    for name, path in pages.items():
        sep = "&" if "?" in path.split("#")[0] else "?"
        base, _, fragment = path.partition("#")
        page = await browser.open(person, f"{base}{sep}lang={lang}" + (f"#{fragment}" if fragment else ""))
        await expect(page.locator("html")).to_have_attribute("lang", lang)
        if name == "moderator, poll lanes":  # the console's other tab: drafts, open, shown
            await page.locator("#view-polls").click()
            await expect(page.locator("#poll-lanes .poll-mod-card")).to_have_count(3)
        await page.wait_for_load_state("networkidle")
        found[name] = await violations(page)
        await page.close()
    for client in clients:
        await client.sio.disconnect()
    bad = {name: v for name, v in found.items() if v}
    assert not bad, bad
