"""Presence counts: the shape every face of a session shows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypedDict

from server.domain.identity import PRESENCE_ROLES, WHERE


class RoleCounts(TypedDict):
    hall: int
    remote: int


class Counts(TypedDict):
    """People here now, per role and place; `total` counts each person once per role."""

    audience: RoleCounts
    speaker: RoleCounts
    moderator: RoleCounts
    screen: RoleCounts
    interpreter: RoleCounts
    total: int


def member(role: str, person: str) -> str:
    """The presence key of one person in one role."""
    return f"{role}|{person}"


def empty_counts() -> Counts:
    """No one here."""
    return counts_from_fields({})


def counts_from_fields(fields: Mapping[str, str | int]) -> Counts:
    """Counts from the store's "role|where" -> n fields (unknown fields are ignored)."""
    table: dict[str, RoleCounts] = {role: {"hall": 0, "remote": 0} for role in PRESENCE_ROLES}
    total = 0
    for key, value in fields.items():
        role, _, where = key.partition("|")
        if role in table and where in WHERE:
            n = max(0, int(value))
            table[role][where] = n  # type: ignore[literal-required]
            total += n
    return Counts(
        audience=table["audience"],
        speaker=table["speaker"],
        moderator=table["moderator"],
        screen=table["screen"],
        interpreter=table["interpreter"],
        total=total,
    )
