"""The language a question is written in, told from its script.

A question is tagged with one of its event's languages when it is asked. Scripts tell
Chinese, Japanese, Korean, Hebrew, Arabic, Cyrillic, Greek, Thai and Devanagari apart from
Latin; which Latin-script language is meant is the event's to say (its first one). The
guess is a guess: a moderator or an interpreter corrects it with one click
(`qa:language`).

Mixed text is weighed by words: a Chinese question that names "GPT-4" is Chinese, an
English one that quotes 深度学习 is English. Latin words that look like names or code
(capitalized, or with digits) count half, since they stand in sentences of any language:
"איך React Server Components משתלבים עם Next.js?" is Hebrew.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

# Script -> the language subtags written in it (the first is the default when the event
# has none of them).
SCRIPT_LANGUAGES: dict[str, tuple[str, ...]] = {
    "Hani": ("zh", "ja"),
    "Kana": ("ja",),
    "Hang": ("ko",),
    "Hebr": ("he", "yi"),
    "Arab": ("ar", "fa", "ur"),
    "Cyrl": ("ru", "uk", "bg", "sr", "be", "kk", "mk"),
    "Grek": ("el",),
    "Thai": ("th",),
    "Deva": ("hi", "mr", "ne"),
}
HAN_CHARS_PER_WORD = 1.5  # a Chinese word is one or two characters


def _script(ch: str) -> str | None:
    """The script of one letter, or None for what is not a letter of a known script."""
    o = ord(ch)
    if 0x4E00 <= o <= 0x9FFF or 0x3400 <= o <= 0x4DBF or 0xF900 <= o <= 0xFAFF or 0x20000 <= o <= 0x2FA1F:
        return "Hani"
    if 0x3040 <= o <= 0x30FF or 0x31F0 <= o <= 0x31FF:
        return "Kana"
    if 0xAC00 <= o <= 0xD7AF or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F:
        return "Hang"
    if 0x0590 <= o <= 0x05FF or 0xFB1D <= o <= 0xFB4F:
        return "Hebr"
    if 0x0600 <= o <= 0x06FF or 0x0750 <= o <= 0x077F or 0xFB50 <= o <= 0xFDFF or 0xFE70 <= o <= 0xFEFF:
        return "Arab"
    if 0x0400 <= o <= 0x052F:
        return "Cyrl"
    if 0x0370 <= o <= 0x03FF or 0x1F00 <= o <= 0x1FFF:
        return "Grek"
    if 0x0E00 <= o <= 0x0E7F:
        return "Thai"
    if 0x0900 <= o <= 0x097F:
        return "Deva"
    if ch.isalpha() and unicodedata.name(ch, "").startswith("LATIN"):
        return "Latn"
    return None


def _weights(text: str) -> dict[str, float]:
    """How much of the text each script carries, in words."""
    weights: dict[str, float] = {}
    word: list[str] = []
    script: str | None = None

    def close() -> None:
        if not word or script is None:
            return
        if script == "Latn":
            w = "".join(word)
            # Names and code (React, GPT-4, Next.js) stand in any language's sentences.
            weight = 0.5 if w[:1].isupper() or any(c.isdigit() for c in w) else 1.0
        elif script == "Hani":
            weight = len(word) / HAN_CHARS_PER_WORD
        else:
            weight = 1.0
        weights[script] = weights.get(script, 0.0) + weight

    for ch in text:
        s = _script(ch)
        if s is not None and s == script:
            word.append(ch)
            continue
        if s is None and script == "Latn" and (ch.isdigit() or ch in "-_'\u2019") and word:
            word.append(ch)  # GPT-4, don't: still the same word
            continue
        close()
        word, script = ([ch], s) if s is not None else ([], None)
    close()
    if "Kana" in weights:  # Japanese mixes kanji and kana: the kana say which it is
        weights["Kana"] += weights.pop("Hani", 0.0)
    return weights


def script_of(text: str) -> str | None:
    """The script that carries the text, or None when it has no letters (emoji, digits).
    On a tie, the script that is not Latin wins (its writer switched keyboards for it)."""
    weights = _weights(text)
    if not weights:
        return None
    return max(weights, key=lambda s: (weights[s], s != "Latn"))


def primary(tag: str) -> str:
    """A language tag's primary subtag: zh-CN -> zh."""
    return tag.split("-", 1)[0].lower()


def written_in(tag: str) -> str:
    """The script a language is usually written in (Latin unless listed)."""
    sub = primary(tag)
    for script, languages in SCRIPT_LANGUAGES.items():
        if sub in languages:
            return "Kana" if sub == "ja" else script
    return "Latn"


def detect(text: str, languages: Sequence[str]) -> str:
    """The event language the text is most likely in: the first of `languages` written in the
    text's script; failing that, the script's usual language ("" for Latin text, or text with
    no letters, when the event has no Latin-script language to offer)."""
    script = script_of(text)
    if script is None:
        return ""
    for tag in languages:
        if written_in(tag) == script:
            return tag
    if script == "Hani":  # kanji alone, at an event in Japanese and not Chinese
        for tag in languages:
            if written_in(tag) == "Kana":
                return tag
    if script == "Latn":
        return ""
    return SCRIPT_LANGUAGES[script][0]
