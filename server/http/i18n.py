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
_VAR = re.compile(r"\{(\w+)\}")


class Catalogs:
    """All catalogs, loaded once at start-up."""

    def __init__(self, directory: Path = I18N_DIR) -> None:
        self.by_lang: dict[str, dict[str, str]] = {}
        for path in sorted(directory.glob("*.json")):
            self.by_lang[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        if DEFAULT not in self.by_lang:
            raise RuntimeError(f"missing reference catalog {directory / 'en.json'}")

    def negotiate(self, request: web.Request) -> str:
        """?lang=, then the podium_lang cookie, then Accept-Language, then English."""
        wanted = [request.query.get("lang", ""), request.cookies.get("podium_lang", "")]
        for part in request.headers.get("Accept-Language", "").split(","):
            wanted.append(part.split(";")[0].strip())
        for raw in wanted:
            tag = raw.strip()
            if not tag:
                continue
            if tag in self.by_lang:
                return tag
            base = tag.split("-")[0].lower()
            if base in self.by_lang:
                return base
        return DEFAULT

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
