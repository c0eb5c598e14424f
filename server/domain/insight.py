"""The organizer's picture of a session: minute samples become a timeline, a report's numbers
and its time-in-session distribution. Pure: the store hands in what it read."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from server.domain.identity import AUDIENCE, PRESENCE_ROLES, WHERE

# Running totals a sample carries (insight.lua, in this order); per minute they are differences.
TALLIES = ("asked", "approved", "answered", "votes", "poll_answers")
MINUTE_MS = 60_000
# Time-in-session buckets, in minutes: [0, 1), [1, 5), ... [60, inf).
DWELL_BUCKETS = (0, 1, 5, 15, 30, 60)
# A session counts as running while its stage is live, or while it was sampled this recently
# and has not ended (a moderator who never sets the status still gets a dashboard).
RECENT_MS = 2 * MINUTE_MS


@dataclass(frozen=True)
class Sample:
    """One minute of a session: who was present (role -> where -> people), the running totals
    and the reaction totals per emoji, as of that minute."""

    at_ms: int
    people: dict[str, dict[str, int]]
    totals: dict[str, int]
    reactions: dict[str, int]

    @property
    def hall(self) -> int:
        return self.people[AUDIENCE]["hall"]

    @property
    def remote(self) -> int:
        return self.people[AUDIENCE]["remote"]


def sample_from_entry(entry_id: str, fields: Mapping[str, str]) -> Sample:
    """A sample from its stream entry (id "<minute ms>-0"); missing fields read as 0."""
    people = {role: {w: _int(fields.get(f"{role}|{w}")) for w in WHERE} for role in PRESENCE_ROLES}
    try:
        raw = json.loads(fields.get("rx") or "{}")
    except ValueError:
        raw = {}
    reactions = {str(k): _int(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    return Sample(
        at_ms=int(entry_id.split("-", maxsplit=1)[0]),
        people=people,
        totals={name: _int(fields.get(name)) for name in TALLIES},
        reactions=reactions,
    )


def _int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


@dataclass(frozen=True)
class Minute:
    """One minute of the timeline: people present then, and what happened since the minute
    before (a minute with no sample before it counts from the previous sample)."""

    at_ms: int
    people: dict[str, dict[str, int]]
    counts: dict[str, int]  # asked, approved, answered, votes, poll_answers, reactions
    reactions: dict[str, int]  # per emoji


def timeline(samples: Sequence[Sample]) -> list[Minute]:
    """Minutes from samples (oldest first): presence as sampled, activity as differences of the
    running totals (never negative: totals only grow)."""
    out: list[Minute] = []
    before = Sample(0, {}, dict.fromkeys(TALLIES, 0), {})
    for s in samples:
        counts = {name: max(0, s.totals[name] - before.totals.get(name, 0)) for name in TALLIES}
        rx = {e: max(0, n - before.reactions.get(e, 0)) for e, n in s.reactions.items()}
        counts["reactions"] = sum(rx.values())
        out.append(Minute(s.at_ms, s.people, counts, {e: n for e, n in rx.items() if n}))
        before = s
    return out


def series(minutes: Sequence[Minute]) -> dict[str, list[int | None]]:
    """Per-minute series for charts, one value per minute from the first to the last sample; a
    minute no worker sampled is None (a gap, not a zero)."""
    names = ("hall", "remote", *TALLIES, "reactions")
    out: dict[str, list[int | None]] = {"t": [], **{n: [] for n in names}}
    if not minutes:
        return out
    by_minute = {m.at_ms: m for m in minutes}
    for at in range(minutes[0].at_ms, minutes[-1].at_ms + MINUTE_MS, MINUTE_MS):
        out["t"].append(at // 1000)
        m = by_minute.get(at)
        out["hall"].append(m.people[AUDIENCE]["hall"] if m else None)
        out["remote"].append(m.people[AUDIENCE]["remote"] if m else None)
        for name in (*TALLIES, "reactions"):
            out[name].append(m.counts[name] if m else None)
    return out


def attendance(samples: Sequence[Sample]) -> dict[str, Any]:
    """Peak and average audience (hall, remote, both) over the sampled minutes, and how many
    minutes in between were not sampled; the peak's minute (ms) is the first it was reached."""
    if not samples:
        zero = {"hall": 0, "remote": 0, "total": 0}
        return {"minutes": 0, "unsampled": 0, "peak": {**zero, "at_ms": None}, "average": dict(zero)}
    best = max(samples, key=lambda s: (s.hall + s.remote, -s.at_ms))
    n = len(samples)
    return {
        "minutes": n,
        # Minutes between the first and the last sample that no worker sampled (no one held
        # the session, or the store was out): gaps in the charts, left out of the averages.
        "unsampled": max(0, (samples[-1].at_ms - samples[0].at_ms) // MINUTE_MS + 1 - n),
        "peak": {
            "total": best.hall + best.remote,
            "hall": max(s.hall for s in samples),
            "remote": max(s.remote for s in samples),
            "at_ms": best.at_ms,
        },
        "average": {
            "total": round(sum(s.hall + s.remote for s in samples) / n, 1),
            "hall": round(sum(s.hall for s in samples) / n, 1),
            "remote": round(sum(s.remote for s in samples) / n, 1),
        },
    }


def stays(
    dwell: Mapping[str, str | int], since: Mapping[str, str | int], now_ms: int, role: str = AUDIENCE
) -> list[int]:
    """Each person's time in the session (ms) in one role: their closed stays plus the one
    going on (until now_ms)."""
    total: dict[str, int] = {}
    prefix = role + "|"
    for member, ms in dwell.items():
        if member.startswith(prefix):
            total[member] = total.get(member, 0) + _int(ms)
    for member, start in since.items():
        if member.startswith(prefix):
            total[member] = total.get(member, 0) + max(0, now_ms - _int(start))
    return sorted(total.values())


def distribution(times_ms: Iterable[int]) -> dict[str, Any]:
    """How many people stayed how long: buckets of DWELL_BUCKETS minutes, with the median and
    the mean (minutes)."""
    values = sorted(times_ms)
    buckets = []
    for i, lo in enumerate(DWELL_BUCKETS):
        hi = DWELL_BUCKETS[i + 1] if i + 1 < len(DWELL_BUCKETS) else None
        n = sum(1 for v in values if v >= lo * MINUTE_MS and (hi is None or v < hi * MINUTE_MS))
        buckets.append({"from_min": lo, "to_min": hi, "people": n})
    median = 0.0
    if values:
        mid = len(values) // 2
        median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
    mean = sum(values) / len(values) if values else 0.0
    return {
        "people": len(values),
        "buckets": buckets,
        "median_min": round(median / MINUTE_MS, 1),
        "mean_min": round(mean / MINUTE_MS, 1),
    }


def running(status: str, last_sample_ms: int | None, now_ms: int) -> bool:
    """Whether the organizer's dashboard shows the session as running now."""
    if status == "live":
        return True
    if status == "ended" or last_sample_ms is None:
        return False
    return now_ms - last_sample_ms <= RECENT_MS


@dataclass
class QuestionFates:
    """How a session's questions ended up: counts per state."""

    by_state: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, questions: Iterable[Mapping[str, Any]]) -> QuestionFates:
        by_state: dict[str, int] = {}
        for q in questions:
            by_state[str(q["state"])] = by_state.get(str(q["state"]), 0) + 1
        return cls(by_state)


CSV_COLUMNS = (
    "minute", *(f"{role}_{where}" for role in PRESENCE_ROLES for where in WHERE),
    "asked", "approved", "answered", "votes", "poll_answers", "reactions",
)  # fmt: skip


def csv_row(minute: Minute, at: str) -> list[str | int]:
    """One minute as report.csv has it (`at`: the minute in the event's zone)."""
    people = [minute.people[role][where] for role in PRESENCE_ROLES for where in WHERE]
    return [at, *people, *(minute.counts[name] for name in (*TALLIES, "reactions"))]
