"""Translated questions end to end in real Chromium: a Chinese question asked on a Hebrew
phone, an interpreter working the desk in Chinese, an English studio that reads the English
first, a Chinese hall screen that shows both, the console that marks what the speaker still
lacks, and the export that carries it all."""

from __future__ import annotations

import pytest
from playwright.async_api import Page, expect

from tests.conftest import World
from tests.web.conftest import Chromium

pytestmark = pytest.mark.browser

ZH = "请问这项协议将如何帮助初创企业？"
EN = "How will the agreement help start-ups?"
HE = "כיצד ההסכם יעזור לחברות הזנק?"


async def role_page(browser: Chromium, path: str, token: str, lang: str) -> Page:
    page = await browser.open(await browser.person(), f"{path}?lang={lang}#t={token}")
    await expect(page.locator("#stage")).to_be_visible()
    await expect(page.locator("html")).to_have_attribute("lang", lang)
    return page


async def test_an_interpreter_translates_and_every_face_reads_its_own_language(
    browser: Chromium, world: World, jarless
):
    s = world.session
    phone = await browser.open(await browser.person(), f"/e/{world.event['code']}?lang=he")
    await expect(phone.locator("html")).to_have_attribute("dir", "rtl")
    await expect(phone.locator("#session-select")).to_have_value(s)
    await expect(phone.locator("#qa-policy")).not_to_have_text("")
    console = await role_page(browser, f"/m/{s}", world.tokens["moderator"], "en")
    studio = await role_page(browser, f"/studio/{s}", world.tokens["speaker"], "en")
    screen = await role_page(browser, f"/s/{s}", world.tokens["screen"], "zh-CN")
    desk = await role_page(browser, f"/i/{s}", world.tokens["interpreter"], "zh-CN")
    await expect(desk.locator("#desk-targets")).to_contain_text("英语")  # the English studio arrived

    await phone.fill("#question-text", ZH)
    await phone.click("#send")
    card = console.locator(".mod-card", has_text=ZH)
    await expect(card.locator(".tag-lang")).to_have_text("Chinese (China)")
    await card.locator("[data-action=approve]").click()
    card = console.locator(".lane[data-lane=queue] .mod-card", has_text=ZH)
    # The speaker reads English and nobody translated it yet: the console says so.
    await expect(card.locator(".tag-warn")).to_have_text("Needs English")
    await card.locator("[data-action=screen]").click()
    await expect(studio.locator("#monitor-now")).to_have_text(ZH)
    await expect(studio.locator("#monitor-now-original")).to_have_text("The translation is on its way…")

    # The desk, in Chinese: the question waits for its English.
    dcard = desk.locator(".lane[data-lane=screen] .desk-card", has_text=ZH)
    await expect(dcard.locator(".tag-warn")).to_contain_text("英语")
    qid = await dcard.get_attribute("data-question")
    area = desk.locator(f"#tr-{qid}-en")
    await area.fill(EN)
    await area.press("Control+Enter")
    await expect(desk.locator("#desk-status")).to_have_text("译文已保存。")

    # The English studio: English first, the Chinese beneath, each in its own language.
    await expect(studio.locator("#monitor-now")).to_have_text(EN)
    await expect(studio.locator("#monitor-now")).to_have_attribute("lang", "en")
    await expect(studio.locator("#monitor-now-original")).to_have_text(ZH)
    await expect(studio.locator("#monitor-now-original")).to_have_attribute("lang", "zh-CN")
    # The Chinese hall screen: the original and the speaker's English together.
    await expect(screen.locator("#screen-question-text")).to_have_text(ZH)
    await expect(screen.locator("#screen-question-text")).to_have_attribute("lang", "zh-CN")
    await expect(screen.locator("#screen-question-translation")).to_have_text(EN)
    await expect(screen.locator("#screen-question-translation")).to_have_attribute("lang", "en")
    await expect(screen.locator("#screen-question-translation")).to_be_visible()
    # The console no longer flags it.
    card = console.locator(".lane[data-lane=screen] .mod-card", has_text=ZH)
    await expect(card.locator(".tag-warn")).to_have_count(0)
    await expect(card.locator(".question-translation")).to_contain_text(EN)

    # The Hebrew phone has no Hebrew yet: the original only; then the desk adds it.
    pinned = phone.locator("#on-screen")
    await expect(pinned.locator(".question-text")).to_have_text(ZH)
    await expect(pinned.locator(".question-translation")).to_have_count(0)
    area = desk.locator(f"#tr-{qid}-he")
    await area.fill(HE)
    await (
        desk.locator(f".desk-card[data-question='{qid}'] .desk-translation", has=area)
        .get_by_role("button", name="保存")
        .click()
    )
    await expect(pinned.locator(".question-translation span[lang=he]")).to_have_text(HE)
    await expect(pinned.locator(".question-text")).to_have_attribute("lang", "zh-CN")

    # The export carries the original and both translations.
    async with jarless.get(
        f"{browser.base}/api/sessions/{s}/qa.json",
        headers={"Authorization": f"Bearer {world.tokens['moderator']}"},
    ) as r:
        data = await r.json()
    (row,) = [q for q in data["questions"] if q["id"] == qid]
    assert row["language"] == "zh-CN" and row["text"] == ZH
    assert {k: v["text"] for k, v in row["translations"].items()} == {"en": EN, "he": HE}


async def test_the_desk_corrects_a_language_and_keeps_a_draft_through_updates(
    browser: Chromium, world: World
):
    s = world.session
    phone = await browser.open(await browser.person(), f"/e/{world.event['code']}?lang=en")
    await expect(phone.locator("#qa-policy")).not_to_have_text("")
    desk = await role_page(browser, f"/i/{s}", world.tokens["interpreter"], "he")
    await expect(desk.locator("html")).to_have_attribute("dir", "rtl")
    await phone.fill("#question-text", "Ma nishma, ma koreh?")
    await phone.click("#send")
    dcard = desk.locator(".desk-card", has_text="Ma nishma")
    qid = await dcard.get_attribute("data-question")
    # A draft typed into the Chinese box survives other questions arriving.
    await desk.locator(f"#tr-{qid}-zh-CN").fill("你好吗")
    await phone.fill("#question-text", "Second question, meanwhile")
    await phone.click("#send")
    await expect(desk.locator(".desk-card", has_text="Second question")).to_be_visible()
    await expect(desk.locator(f"#tr-{qid}-zh-CN")).to_have_value("你好吗")
    # It is Hebrew in Latin letters: the interpreter says so; the Hebrew box goes.
    await dcard.locator("select").focus()  # as a click on it does
    await dcard.locator("select").select_option("he")
    await expect(desk.locator("#desk-status")).to_have_text("שפת המקור תוקנה.")
    await expect(desk.locator(f"#tr-{qid}-he")).to_have_count(0)
    await expect(desk.locator(f"#tr-{qid}-en")).to_be_visible()
    await expect(desk.locator(f"#tr-{qid}-zh-CN")).to_have_value("你好吗")
