"""The organizer's picture in Chromium (issue 12): the live dashboard's charts for a running
session with people joining, the report page with its numbers, and no serious or critical
axe-core violation on either, in every language."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.async_api import expect

from server import appkeys
from server.store import keys
from tests.conftest import Running, World, moderator, person
from tests.web.conftest import Chromium
from tests.web.test_accessibility import violations

pytestmark = pytest.mark.browser


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"insight_sample_s": 0.2}


@pytest.mark.parametrize("lang", ["en", "he"])
async def test_the_dashboard_and_the_report_show_a_running_session(
    browser: Chromium, world: World, server: Running, http, lang: str
) -> None:
    mod = await moderator(server, world)
    await mod.call("stage:status", {"session": world.session, "status": "live"})
    crowd = [await person(server, world, http, f"P{i}") for i in range(3)]
    ack = await crowd[0].call("qa:ask", {"session": world.session, "text": "Where next?", "client_id": "b1"})
    await mod.call(
        "qa:moderate", {"session": world.session, "question": ack["question"]["id"], "action": "approve"}
    )
    # This minute's sample again, now that everyone is here (a minute has only one).
    await server.app[appkeys.REDIS].delete(keys.insight_minutes(world.session))
    for _ in range(50):
        samples = await server.app[appkeys.INSIGHT].samples(world.session)
        if samples and samples[-1].remote == 3:
            break
        await asyncio.sleep(0.1)
    context = await browser.person(viewport={"width": 1280, "height": 900})
    page = await browser.open(context, f"/o?lang={lang}#t={world.tokens['organizer']}")
    section = page.locator(f"[data-insight-session='{world.session}']")
    await expect(section).to_be_visible()
    await expect(section.locator(".chart-plot canvas").first).to_be_visible()
    people = section.locator(f"#insight-{world.session}-people")
    await expect(people.locator(".chart-summary")).to_contain_text("3")
    await expect(section.locator(".insight-facts")).to_contain_text("Asia/Shanghai")
    assert await page.evaluate("document.documentElement.dir") == ("rtl" if lang == "he" else "ltr")
    assert await violations(page) == []
    # The numbers as a table, for screen readers (and anyone).
    await people.locator("summary").click()
    await expect(people.locator("tbody tr").first).to_contain_text("3")
    await page.close()

    report = await browser.open(context, f"/o/report/{world.event['id']}?lang={lang}")
    one = report.locator(f"[data-report-session='{world.session}']")
    await expect(one).to_be_visible()
    await expect(one.locator(".facts")).to_contain_text("3")
    await expect(one.locator(".report-questions")).to_contain_text("Where next?")
    await expect(one.locator(".chart-plot canvas").first).to_be_visible()
    assert await violations(report) == []
    for c in crowd:
        await c.disconnect()
    await mod.disconnect()
