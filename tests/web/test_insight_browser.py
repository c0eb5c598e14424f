"""The organizer's picture in Chromium (issue 12): the live dashboard's charts for a running
session with people joining, the report page with its numbers, and no serious or critical
axe-core violation on either, in every language."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import expect

from server import appkeys
from server.store import keys
from tests.conftest import Running, World, free_port, moderator, person
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
    # This minute's sample again, now that everyone is here (a minute has only one), after one
    # of the minute before (so the charts have a line, with a direction).
    r = server.app[appkeys.REDIS]
    minute = int((await r.time())[0]) // 60 * 60_000
    async with r.pipeline(transaction=True) as pipe:
        pipe.delete(keys.insight_minutes(world.session))
        pipe.xadd(
            keys.insight_minutes(world.session), {"audience|remote": 1, "rx": "{}"}, id=f"{minute - 60_000}-0"
        )
        await pipe.execute()
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
    # Time runs in the reading direction: the earlier minute is to the right in Hebrew.
    plot = people.locator(".chart-plot")
    earlier, later, *why = await plot.evaluate(
        "(el) => { const u = el.uplot; const t = u.data[0]; return [u.valToPos(t[0], 'x'), u.valToPos(t[t.length - 1], 'x'), u.scales.x.dir, t.length]; }"
    )
    assert (earlier > later) if lang == "he" else (earlier < later), (earlier, later, why)
    assert await violations(page) == []
    # The numbers as a table, for screen readers (and anyone).
    await people.locator("summary").click()
    await expect(people.locator("tbody tr").last).to_contain_text("3")
    await page.close()

    report = await browser.open(context, f"/o/report/{world.event['id']}?lang={lang}")
    one = report.locator(f"[data-report-session='{world.session}']")
    await expect(one).to_be_visible()
    await expect(one.locator(".facts")).to_contain_text("3")
    await expect(one.locator(".report-questions")).to_contain_text("Where next?")
    await expect(one.locator(".chart-plot canvas").first).to_be_visible()
    assert await violations(report) == []
    await report.close()

    # The report on a phone: nothing wider than the screen, the charts drawn to fit.
    small = await browser.open(context, f"/o/report/{world.event['id']}?lang={lang}")
    await small.set_viewport_size({"width": 360, "height": 740})
    one = small.locator(f"[data-report-session='{world.session}']")
    await expect(one.locator(".chart-plot canvas").first).to_be_visible()
    await small.wait_for_function("document.documentElement.scrollWidth <= 360")
    assert await small.evaluate("document.documentElement.scrollWidth") <= 360
    widths = await one.locator(".chart-plot canvas").evaluate_all(
        "(cs) => cs.map((c) => c.getBoundingClientRect().right - c.getBoundingClientRect().left)"
    )
    assert widths and all(0 < w <= 360 for w in widths), widths
    boxes = await one.locator(".chart-plot canvas").evaluate_all(
        "(cs) => cs.map((c) => [c.getBoundingClientRect().left, c.getBoundingClientRect().right])"
    )
    assert all(left >= 0 and right <= 360 for left, right in boxes), boxes
    for c in crowd:
        await c.disconnect()
    await mod.disconnect()


class TestWebhookPanel:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"webhooks_allow_private": True, "webhooks_timeout_s": 0.5, "webhooks_backoff_s": ("0.1",)}

    async def test_an_organizer_sets_a_webhook_sends_a_test_and_sees_it_delivered(
        self, browser: Chromium, world: World, server: Running
    ) -> None:
        got: list[dict[str, Any]] = []

        async def hook(request: web.Request) -> web.Response:
            got.append({"headers": dict(request.headers), "body": await request.json()})
            return web.Response(status=204)

        port = free_port()
        receiver = web.Application()
        receiver.router.add_post("/hook", hook)
        runner = web.AppRunner(receiver, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            context = await browser.person(viewport={"width": 1280, "height": 900})
            page = await browser.open(context, f"/o?lang=he#t={world.tokens['organizer']}")
            panel = page.locator("#webhook")
            await panel.locator("#webhook-url").fill(f"http://127.0.0.1:{port}/hook")
            await panel.locator("#webhook-form button[type=submit]").click()
            secret = panel.locator(".new-link input")
            await expect(secret).to_have_value(re.compile(r"^whsec_"))
            await panel.locator("#webhook-test").click()
            await expect(panel.locator(".webhook-status")).not_to_be_empty()
            row = panel.locator("#webhook-deliveries tbody tr").first
            await expect(row).to_contain_text("webhook.test")
            await expect(row).to_contain_text("204")
            assert [g["body"]["type"] for g in got] == ["webhook.test"]
            assert got[0]["headers"]["X-Podium-Signature"].startswith("t=")
            assert await violations(page) == []
        finally:
            await runner.cleanup()
