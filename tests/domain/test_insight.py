"""The organizer's numbers from minute samples (server/domain/insight.py)."""

from __future__ import annotations

from server.domain import insight as ins
from server.domain.identity import AUDIENCE, PRESENCE_ROLES, WHERE


def sample(minute: int, hall: int, remote: int) -> ins.Sample:
    people = {role: dict.fromkeys(WHERE, 0) for role in PRESENCE_ROLES}
    people[AUDIENCE] = {"hall": hall, "remote": remote}
    return ins.Sample(minute * ins.MINUTE_MS, people, dict.fromkeys(ins.TALLIES, 0), {})


def test_minutes_no_worker_sampled_are_counted_as_gaps_and_left_out_of_the_averages() -> None:
    samples = [sample(0, 10, 2), sample(1, 20, 4), sample(4, 30, 0)]
    a = ins.attendance(samples)
    assert a["minutes"] == 3 and a["unsampled"] == 2
    assert a["average"]["total"] == 22.0  # (12 + 24 + 30) / 3: the gaps are unknown, not zero
    assert a["peak"] == {"total": 30, "hall": 30, "remote": 4, "at_ms": 4 * ins.MINUTE_MS}
    s = ins.series(ins.timeline(samples))
    assert s["hall"] == [10, 20, None, None, 30]


def test_no_samples_is_zero_everywhere() -> None:
    a = ins.attendance([])
    assert a["minutes"] == 0 and a["unsampled"] == 0 and a["peak"]["at_ms"] is None
