"""Questions and answers: the lifecycle, the per-session settings, and who sees what."""

from __future__ import annotations

import hashlib
import hmac
import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from server.domain import validate
from server.errors import Invalid

PENDING = "pending"  # waiting for a moderator (pre-moderation, or held by the word list)
APPROVED = "approved"  # in the queue, visible, votable
ANSWERED = "answered"
DECLINED = "declined"  # kept, restorable, never shown to the audience
ARCHIVED = "archived"
WITHDRAWN = "withdrawn"  # by its author
MERGED = "merged"  # a duplicate, its votes united into another

STATES = (PENDING, APPROVED, ANSWERED, DECLINED, ARCHIVED, WITHDRAWN, MERGED)
PUBLIC_STATES = frozenset({APPROVED, ANSWERED})  # what the audience may see

ACTIONS = (
    "approve",
    "decline",
    "hold",
    "edit",
    "merge",
    "screen",
    "unscreen",
    "answer",
    "archive",
    "restore",
)

MAX_WORDS = 200
WORD_MAX_LEN = 40
CLIENT_ID_MAX = 64


@dataclass(frozen=True)
class Settings:
    """A session's Q&A rules, changed by its moderators."""

    moderation: str = "pre"  # "pre": a moderator approves first; "post": shown at once
    open: bool = True
    anonymous: bool = True
    max_length: int = 300
    slow_seconds: int = 0
    words: tuple[str, ...] = field(default_factory=tuple)

    def public(self) -> dict[str, Any]:
        """What the audience needs to know (the word list stays with the moderators)."""
        return {
            "moderation": self.moderation,
            "open": self.open,
            "anonymous": self.anonymous,
            "max_length": self.max_length,
            "slow_seconds": self.slow_seconds,
        }

    def full(self) -> dict[str, Any]:
        """The moderators' view."""
        return {**self.public(), "words": list(self.words)}


SETTINGS_FIELDS = frozenset({"moderation", "open", "anonymous", "max_length", "slow_seconds", "words"})


def update_settings(current: Settings, data: Any) -> Settings:
    """Settings with a moderator's changes applied."""
    data = validate.payload(data, SETTINGS_FIELDS | {"session"})
    changes: dict[str, Any] = {}
    if "moderation" in data:
        changes["moderation"] = validate.choice(data["moderation"], "moderation", ("pre", "post"))
    if "open" in data:
        changes["open"] = validate.boolean(data["open"], "open")
    if "anonymous" in data:
        changes["anonymous"] = validate.boolean(data["anonymous"], "anonymous")
    if "max_length" in data:
        changes["max_length"] = validate.integer(data["max_length"], "max_length", lo=20, hi=2000)
    if "slow_seconds" in data:
        changes["slow_seconds"] = validate.integer(data["slow_seconds"], "slow_seconds", lo=0, hi=3600)
    if "words" in data:
        words = data["words"]
        if not isinstance(words, list) or len(words) > MAX_WORDS:
            raise Invalid(f"words must be a list of at most {MAX_WORDS} words.", field="words")
        cleaned: list[str] = []
        for word in words:
            w = fold(validate.text(word, "words", max_len=WORD_MAX_LEN))
            if w not in cleaned:
                cleaned.append(w)
        changes["words"] = tuple(cleaned)
    return replace(current, **changes)


def fold(text: str) -> str:
    """Text compared case- and accent-insensitively (for the word list)."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def held_by_words(text: str, words: tuple[str, ...]) -> str | None:
    """The first listed word the question contains, if any."""
    folded = fold(text)
    for word in words:
        if word and word in folded:
            return word
    return None


def question_text(value: Any, settings: Settings) -> str:
    """A question's text, normalized and within the session's length limit."""
    return validate.text(value, "text", max_len=settings.max_length, multiline=True)


def client_id(value: Any) -> str:
    """The id a client made for its question, so a retry finds the first one."""
    return validate.identifier(value, "client_id", max_len=CLIENT_ID_MAX)


def pseudonym(secret: str, session_id: str, person: str) -> str:
    """A stable alias per person and session ("Guest 4821") that reveals nothing of them."""
    digest = hmac.new(secret.encode(), f"{session_id}:{person}".encode(), hashlib.sha256).digest()
    return f"Guest {int.from_bytes(digest[:4], 'big') % 9000 + 1000}"


def question_from_fields(raw: Mapping[str, str]) -> dict[str, Any]:
    """A question from its stored hash (all values strings)."""
    return {
        "id": raw["id"],
        "text": raw["text"],
        "name": raw["name"],
        "anon": raw["anon"] == "1",
        "author": raw["author"],
        "alias": raw["alias"],
        "state": raw["state"],
        "held": raw["held"],
        "votes": int(raw["votes"]),
        "edited": raw["edited"] == "1",
        "created_at": int(raw["created"]),
        "updated_at": int(raw["updated"]),
        "answered_at": int(raw["answered"]) or None,
        "merged_into": raw["merged_into"],
        "lang": raw.get("lang", ""),
        "translations": translations_from(raw.get("tr")),
    }


def translations_from(raw: str | None) -> dict[str, dict[str, Any]]:
    """A question's translations as stored (JSON {lang: {text, at, stale}}); {} for none."""
    if not raw:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):  # cjson writes an empty table as {} and never a list
        return {}
    return {
        str(tag): {"text": str(t["text"]), "at": int(t["at"]), "stale": bool(t.get("stale"))}
        for tag, t in data.items()
    }


def settings_fields(s: Settings) -> dict[str, str]:
    """Settings as stored in the session's qa hash."""
    return {
        "moderation": s.moderation,
        "open": "1" if s.open else "0",
        "anonymous": "1" if s.anonymous else "0",
        "max_length": str(s.max_length),
        "slow_seconds": str(s.slow_seconds),
        "words": json.dumps(list(s.words), ensure_ascii=False),
    }


def settings_from_fields(raw: Mapping[str, str]) -> Settings:
    """Settings from the stored hash (defaults for what was never set)."""
    d = Settings()
    return Settings(
        moderation=raw.get("moderation", d.moderation),
        open=raw.get("open", "1") == "1",
        anonymous=raw.get("anonymous", "1") == "1",
        max_length=int(raw.get("max_length", d.max_length)),
        slow_seconds=int(raw.get("slow_seconds", d.slow_seconds)),
        words=tuple(json.loads(raw.get("words", "[]"))),
    )


def public_view(q: Mapping[str, Any], on_screen: str | None) -> dict[str, Any]:
    """A question as the audience sees it: no author id, no name if anonymous."""
    return {
        "id": q["id"],
        "text": q["text"],
        "name": "" if q["anon"] else q["name"],
        "anonymous": q["anon"],
        "state": q["state"],
        "votes": q["votes"],
        "edited": q["edited"],
        "created_at": q["created_at"],
        "answered_at": q["answered_at"],
        "on_screen": q["id"] == on_screen,
        "lang": q["lang"],
        # What was translated from the text as it reads now (an edit makes the old ones stale).
        "translations": {tag: t["text"] for tag, t in q["translations"].items() if not t["stale"]},
    }


def author_view(q: Mapping[str, Any], on_screen: str | None) -> dict[str, Any]:
    """A question as its author sees it. A muted author's question looks merely pending."""
    view = public_view(q, on_screen)
    view["name"] = q["name"]
    view["mine"] = True
    if q["held"] == "muted":
        view["state"] = PENDING
    return view


def moderator_view(q: Mapping[str, Any], on_screen: str | None) -> dict[str, Any]:
    """A question as moderators see it: the name (unless anonymous) and a stable alias."""
    view = public_view(q, on_screen)
    view.update(
        {
            "name": "" if q["anon"] else q["name"],
            "alias": q["alias"],
            "held": q["held"],
            "merged_into": q["merged_into"] or None,
            "updated_at": q["updated_at"],
            "translations": {
                tag: {"text": t["text"], "at": t["at"], "stale": t["stale"]}
                for tag, t in q["translations"].items()
            },
        }
    )
    return view


# --- languages and translations --------------------------------------------------------

TRANSLATION_MAX = 2000  # a translation may run longer than its question (Chinese to English)


def question_language(value: Any, languages: tuple[str, ...]) -> str:
    """A question's language as a moderator or an interpreter sets it: one of the event's."""
    if value == "" or not isinstance(value, str) or value not in languages:
        raise Invalid(f"lang must be one of the event's languages: {', '.join(languages)}.", field="lang")
    return value


def translation_text(value: Any) -> str:
    """A translation's text; "" takes the translation away."""
    if value == "":
        return ""
    return validate.text(value, "text", max_len=TRANSLATION_MAX, multiline=True)
