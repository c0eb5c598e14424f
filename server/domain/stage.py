"""The stage's rules: who moves speakers and talks to them, and what a move, a cue, a health
report, a backstage message, a raised hand and a running order may hold."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.domain import identity as idn
from server.domain import validate
from server.domain.identity import Principal
from server.errors import Forbidden, Invalid

MAX_LIVE = 4  # a panel: speakers live or on their backup recording at once
STATES = ("backstage", "live", "backup", "off")
ON_STAGE = frozenset({"live", "backup"})  # what the audience and the hall see
STATUSES = ("scheduled", "live", "ended")
MAX_LINEUP = 100

CUE_KINDS = ("minutes", "wrap", "text")
CUE_TEXT_MAX = 200
CHAT_MAX = 500
NOTE_MAX = 140
GUEST_LINK_HOURS_AFTER = 6  # a brought-in guest's speaker link outlives the session by this
HEALTH_LIMITS = {"rtt_ms": 60_000, "kbps": 1_000_000, "loss": 100, "fps": 240}


# --- who may --------------------------------------------------------------------------


def require_moderator(who: Principal, what: str) -> None:
    """Only moderators (and organizers) run the stage."""
    if who.presence_role != idn.MODERATOR:
        raise Forbidden(f"Only moderators {what}.")


def require_speaker(who: Principal, what: str) -> str:
    """The caller's speaker id (their link), or Forbidden."""
    if who.role != idn.SPEAKER or not who.invite_id:
        raise Forbidden(f"Only speakers {what}.")
    return who.invite_id


def require_backstage(who: Principal) -> None:
    """The backstage chat is for a session's moderators and speakers."""
    if who.presence_role not in (idn.MODERATOR, idn.SPEAKER):
        raise Forbidden("The backstage chat is for the session's moderators and speakers.")


def require_audience(who: Principal) -> str:
    """The caller's participant id if they are in the audience (who raise hands)."""
    if who.role != idn.AUDIENCE or not who.participant_id:
        raise Forbidden("Only the audience raises hands.")
    return who.participant_id


# --- what it may hold ------------------------------------------------------------------


@dataclass(frozen=True)
class Cue:
    """A private cue to one speaker: "2 minutes", "wrap up", or free text."""

    speaker: str
    kind: str
    text: str = ""
    minutes: int | None = None


def cue(data: Any) -> Cue:
    """A moderator's cue from stage:cue's payload (without its session)."""
    speaker = validate.identifier(data["speaker"], "speaker")
    kind = validate.choice(data["kind"], "kind", CUE_KINDS)
    if kind == "minutes":
        return Cue(speaker, kind, minutes=validate.integer(data.get("minutes"), "minutes", lo=1, hi=120))
    if kind == "text":
        return Cue(speaker, kind, text=validate.text(data.get("text"), "text", max_len=CUE_TEXT_MAX))
    return Cue(speaker, kind)


def health(data: Any) -> dict[str, int]:
    """A speaker's connection report: rtt_ms, and kbps, loss (%) and fps when known."""
    report = {"rtt_ms": validate.integer(data["rtt_ms"], "rtt_ms", lo=0, hi=HEALTH_LIMITS["rtt_ms"])}
    for name in ("kbps", "loss", "fps"):
        if validate.present(data, name):
            report[name] = validate.integer(data[name], name, lo=0, hi=HEALTH_LIMITS[name])
    return report


def chat_text(value: Any) -> str:
    """A backstage message: up to CHAT_MAX characters, line breaks kept."""
    return validate.text(value, "text", max_len=CHAT_MAX, multiline=True)


def hand_note(value: Any) -> str:
    """What a raised hand would like to say (optional)."""
    return validate.optional_text(value, "note", max_len=NOTE_MAX)


def running_order(value: Any) -> list[str]:
    """Every speaker of a lineup, each once (the store checks they are the lineup's)."""
    if not isinstance(value, list) or not 0 < len(value) <= MAX_LINEUP:
        raise Invalid(f"order must be a list of 1 to {MAX_LINEUP} speakers.", field="order")
    speakers = [validate.identifier(s, "order") for s in value]
    if len(set(speakers)) != len(speakers):
        raise Invalid("List each speaker once.", field="order")
    return speakers


def guest_link_hours(session_ends_at: int, now: float) -> float:
    """How long a raised hand's speaker link lives: past the session's end, at least an hour."""
    return max(1.0, (session_ends_at - now) / 3600 + GUEST_LINK_HOURS_AFTER)
