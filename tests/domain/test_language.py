"""Telling a question's language from its script, among the event's languages."""

from __future__ import annotations

import pytest

from server.domain.language import detect, script_of

EVENT = ("zh-CN", "en", "he")


@pytest.mark.parametrize(
    ("text", "languages", "expected"),
    [
        ("请问这项协议将如何帮助初创企业？", EVENT, "zh-CN"),
        ("How will the agreement help start-ups?", EVENT, "en"),
        ("מה הצעד הבא בשיתוף הפעולה בין ישראל לסין?", EVENT, "he"),
        # Names and code in Latin letters stand in sentences of any language.
        ("请问GPT-4的上下文长度是多少？", EVENT, "zh-CN"),
        ("איך React Server Components משתלבים עם Next.js?", EVENT, "he"),
        # A quoted term in another script does not make the sentence that language.
        ("What does 深度学习 mean for your lab?", EVENT, "en"),
        ("Is שלום the right word here, or something else?", EVENT, "en"),
        # The event's own tag is used (zh-TW for a Taiwanese event, en-GB...).
        ("你好嗎？", ("zh-TW", "en"), "zh-TW"),
        ("Hello there", ("fr", "en-GB"), "fr"),  # Latin: the event's first Latin language
        # Scripts the event does not list still say what they are.
        ("Что вы думаете об этом?", EVENT, "ru"),
        ("こんにちは、元気ですか", EVENT, "ja"),
        ("東京の天気はどうですか", EVENT, "ja"),  # kanji with kana: Japanese
        ("東京", ("ja", "en"), "ja"),  # kanji alone at a Japanese event
        ("안녕하세요", EVENT, "ko"),
        ("مرحبا كيف حالك", EVENT, "ar"),
        # Nobody can tell.
        ("👏👏👏", EVENT, ""),
        ("12345 ???", EVENT, ""),
        ("Hello there", ("zh-CN", "he"), ""),  # Latin text, and no Latin language to offer
        ("", EVENT, ""),
    ],
)
def test_detect(text: str, languages: tuple[str, ...], expected: str) -> None:
    assert detect(text, languages) == expected


def test_a_tie_goes_to_the_script_that_is_not_latin() -> None:
    assert script_of("שלום hello") == "Hebr"
