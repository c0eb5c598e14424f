"""Reactions: the small fixed set of emoji the audience can send to the stage."""

from __future__ import annotations

from typing import Any

from server.domain import validate

# Applause, laughter, love, surprise, thanks: readable from the back of a hall.
EMOJI = ("👏", "😂", "❤️", "😮", "🙏")
PER_PERSON_MS = 1000  # one of each emoji per person per second


def emoji(value: Any) -> str:
    """One of the fixed set."""
    return validate.choice(value, "emoji", EMOJI)
