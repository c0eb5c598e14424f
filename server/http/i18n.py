"""The translation layer: every user-visible string comes from web/i18n/<lang>.json.

English is the reference catalog; a missing key in another language falls back to it.
Pages get the catalog as JSON for their scripts, and `dir` for right-to-left scripts.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from aiohttp import web

I18N_DIR = Path(__file__).resolve().parents[2] / "web" / "i18n"
DEFAULT = "en"
RTL = frozenset({"he", "ar", "fa", "ur"})
LANG_COOKIE = "podium_lang"
# Each language named in itself (never translated: a reader finds their own).
AUTONYMS = {"en": "English", "zh-CN": "简体中文", "he": "עברית"}
_VAR = re.compile(r"\{(\w+)\}")
_QUALITY = re.compile(r"^q=([01](?:\.\d{0,3})?)$")


def accepted(header: str) -> list[str]:
    """The language tags of an Accept-Language header, most wanted first (q=0 left out)."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        match = _QUALITY.match(params.strip())
        if params.strip():
            quality = float(match.group(1)) if match else 0.0
        if quality > 0:
            ranked.append((-quality, i, tag))
    return [tag for _, _, tag in sorted(ranked)]


class Catalogs:
    """All catalogs, loaded once at start-up."""

    def __init__(self, directory: Path = I18N_DIR) -> None:
        self.by_lang: dict[str, dict[str, str]] = {}
        for path in sorted(directory.glob("*.json")):
            self.by_lang[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        if DEFAULT not in self.by_lang:
            raise RuntimeError(f"missing reference catalog {directory / 'en.json'}")

    def supported(self, tag: str) -> str | None:
        """The catalog a language tag asks for ("he-IL" -> "he", "zh-cn" -> "zh-CN"), or None."""
        tag = tag.strip()
        if not tag or len(tag) > 35:
            return None
        by_lower = {lang.lower(): lang for lang in self.by_lang}
        if tag.lower() in by_lower:
            return by_lower[tag.lower()]
        base = tag.split("-")[0].lower()
        if base == "zh":  # Chinese without a script or region: Simplified, unless it says Hant/TW/HK
            traditional = any(part in ("hant", "tw", "hk", "mo") for part in tag.lower().split("-")[1:])
            return None if traditional else by_lower.get("zh-cn")
        return by_lower.get(base)

    def negotiate(
        self, request: web.Request, event_languages: tuple[str, ...] = (), remembered: str = LANG_COOKIE
    ) -> str:
        """The page's language: `?lang=`, then the choice remembered in this browser (the
        cookie `remembered`: each kind of page may keep its own), then the browser's
        Accept-Language (only languages the event lists, when the page is an event's), then
        the event's first language, then English."""
        for raw in (request.query.get("lang", ""), request.cookies.get(remembered, "")):
            chosen = self.supported(raw)
            if chosen:
                return chosen
        listed = [lang for lang in (self.supported(t) for t in event_languages) if lang]
        for tag in accepted(request.headers.get("Accept-Language", "")):
            lang = self.supported(tag)
            if lang and (not listed or lang in listed):
                return lang
        return listed[0] if listed else DEFAULT

    def choices(self, event_languages: tuple[str, ...] = ()) -> list[dict[str, str]]:
        """The switcher's languages: the event's first (in its order), then every other one,
        each named in its own language and script."""
        listed = [lang for lang in (self.supported(t) for t in event_languages) if lang]
        order = list(dict.fromkeys([*listed, *sorted(self.by_lang, key=lambda x: (x != DEFAULT, x))]))
        return [
            {"tag": lang, "name": AUTONYMS.get(lang, lang), "dir": self.direction(lang)} for lang in order
        ]

    def catalog(self, lang: str) -> dict[str, str]:
        """The strings of lang, English filling any gaps."""
        merged = dict(self.by_lang[DEFAULT])
        merged.update(self.by_lang.get(lang, {}))
        return merged

    def translate(self, lang: str, key: str, **values: Any) -> str:
        """One string, with {name} placeholders filled in."""
        text = self.by_lang.get(lang, {}).get(key) or self.by_lang[DEFAULT].get(key) or key
        return _VAR.sub(lambda m: str(values.get(m.group(1), m.group(0))), text)

    @staticmethod
    def direction(lang: str) -> str:
        """'rtl' for right-to-left scripts, else 'ltr'."""
        return "rtl" if lang.split("-", maxsplit=1)[0] in RTL else "ltr"
