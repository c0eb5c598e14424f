"""The session feed: one ordered log of changes per session, and what each face sees of it.

Every change to a session's state is an entry in the session's log, appended in the same
atomic step as the change itself (a Redis stream, written by the Lua scripts). An entry's
position is (v, k): a versioned change gets (v, 0), v being the session's version after it;
an unversioned update (presence counts, vote counts, reactions, who of the lineup is
connected) gets (v, k) with k = 1, 2, ... after the last change. Positions are totally
ordered and contiguous: the entry after (v, k) is (v, k + 1) or (v + 1, 0), so a missing one
is always noticed.

Entries carry the absolute state of whatever changed (a question's whole record, the whole
lineup, the clock), never a difference. Merging several entries into one frame therefore
keeps only each thing's latest state, and a frame covering (a, b] can be applied to a state
held at any position p with a <= p < b: whatever changed after p is in it, as of b.

This module is pure: it parses entries, keeps a session's state by applying them, renders
each view (moderators, stage, audience) of a state or of a run of entries, and decides how
often the audience's frames go out.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from server.domain import identity as idn
from server.domain import polls as pl
from server.domain import qa
from server.domain.presence import Counts, counts_from_fields, empty_counts
from server.domain.reactions import EMOJI
from server.domain.stage import MAX_LIVE, ON_STAGE

Position = tuple[int, int]
ZERO: Position = (0, 0)

# Entry kinds (the `t` field of a log entry).
QA = "qa"  # questions changed: their records, the question on screen, the moderation counts
SETTINGS = "settings"  # the Q&A settings
STAGE = "stage"  # the lineup, its order, the session's status
CLOCK = "clock"  # the session clock
INFO = "info"  # the session or its event was edited (public views, made by the editor)
DELETED = "deleted"  # the session was deleted
PRESENCE = "presence"  # coalesced: who is here
VOTES = "votes"  # coalesced: vote counts of the questions whose votes changed
REACTIONS = "rx"  # coalesced: reactions since the last tick, and the totals
ONLINE = "online"  # coalesced: which speakers of the lineup are connected
POLL = "poll"  # a poll changed (created, edited, opened, closed, shown, hidden, deleted)
POLLRES = "pollres"  # coalesced: the results of the polls whose answers changed

# Views: what one kind of face receives. Moderators (and organizers) see everything;
# interpreters every question as moderators do, with the full stage, but not the moderation
# settings' word list; speakers and hall screens the public Q&A with the full stage; the
# audience the public Q&A and who is on stage.
MOD = "mod"
INT = "int"
STAGE_VIEW = "stage"
AUD = "aud"
VIEWS = (MOD, INT, STAGE_VIEW, AUD)
STAFF_QA = frozenset({MOD, INT})  # views that see every question, as moderators do


def view_of(principal: idn.Principal) -> str:
    """The view a caller's sockets receive."""
    role = principal.presence_role
    if role == idn.MODERATOR:
        return MOD
    if role == idn.INTERPRETER:
        return INT
    if role in (idn.SPEAKER, idn.SCREEN):
        return STAGE_VIEW
    return AUD


# --- positions -------------------------------------------------------------------------


def parse_position(value: Any) -> Position:
    """A stream id "v-k" (or a client's [v, k]) as a position; ValueError if malformed."""
    if isinstance(value, str):
        v, _, k = value.partition("-")
        pos = (int(v), int(k))
    elif isinstance(value, (list, tuple)) and len(value) == 2:
        if not all(isinstance(x, int) and not isinstance(x, bool) for x in value):
            raise ValueError("a position is two integers")
        pos = (int(value[0]), int(value[1]))
    else:
        raise ValueError("a position is [v, k]")
    if pos[0] < 0 or pos[1] < 0 or pos[0] > 2**53 or pos[1] > 2**53:
        raise ValueError("position out of range")
    return pos


def stream_id(pos: Position) -> str:
    """The stream id of a position."""
    return f"{pos[0]}-{pos[1]}"


def follows(before: Position, after: Position) -> bool:
    """Whether `after` is the very next position after `before` (nothing between them)."""
    return after in ((before[0], before[1] + 1), (before[0] + 1, 0))


# --- entries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """One change of a session, as read from its log, its data parsed."""

    pos: Position
    kind: str
    data: Any
    urgent: bool = False  # a person acted (a moderator's move): the audience hears it at once


def _flat(values: Any) -> dict[str, str]:
    """A hash as HGETALL gives it ([k1, v1, ...]), or cjson's {} for an empty one."""
    if isinstance(values, dict):
        return {str(k): str(v) for k, v in values.items()}
    return {str(k): str(v) for k, v in zip(values[::2], values[1::2], strict=True)}


def _flat_dict(values: Any) -> dict[str, Any]:
    """A Lua table keyed by strings (cjson encodes an empty one as {})."""
    return dict(values) if isinstance(values, dict) else {}


def _list(values: Any) -> list[Any]:
    """A Lua array (cjson encodes an empty one as {})."""
    return [] if isinstance(values, dict) else list(values)


def lineup_from(rows: Any) -> list[dict[str, Any]]:
    """The lineup as the store writes it: [[speaker, state, label, online, backup_url, lang,
    since_ms], ...] (lang: the language of the speaker's studio; since_ms: when they entered
    their state, Redis time; rows logged before either have none)."""
    return [
        {
            "speaker": str(row[0]),
            "state": str(row[1]),
            "label": str(row[2]),
            "online": str(row[3]) == "1",
            "backup_url": str(row[4]) or None,
            "lang": str(row[5]) if len(row) > 5 else "",
            "since_ms": int(row[6]) if len(row) > 6 else 0,
        }
        for row in _list(rows)
    ]


def parse_data(kind: str, raw: Any) -> Any:
    """An entry's data from its JSON form into the values the rest of this module uses."""
    if kind == QA:
        return {
            "questions": [qa.question_from_fields(_flat(q)) for q in _list(raw["q"])],
            "screen": str(raw.get("screen") or "") or None,
            "counts": {"pending": int(raw["pending"]), "declined": int(raw["declined"])},
        }
    if kind == SETTINGS:
        return qa.settings_from_fields(_flat(raw))
    if kind == STAGE:
        return {"status": str(raw["status"]), "lineup": lineup_from(raw["lineup"])}
    if kind == CLOCK:
        return Clock(str(raw["state"]), int(raw["left"]), int(raw["deadline"]))
    if kind == INFO:
        return {"session": dict(raw["session"]), "event": dict(raw["event"])}
    if kind == PRESENCE:
        return counts_from_fields(_flat(raw))
    if kind == VOTES:
        return {str(q): int(n) for q, n in _flat(raw).items()}
    if kind == REACTIONS:
        return {
            "counts": {str(e): int(n) for e, n in _flat(raw["n"]).items()},
            "totals": {str(e): int(n) for e, n in _flat(raw["total"]).items()},
        }
    if kind == ONLINE:
        return {str(s): str(on) == "1" for s, on in _flat(raw).items()}
    if kind == POLL:
        if "deleted" in raw:
            return {"deleted": str(raw["deleted"])}
        approved = [str(t) for t in _list(raw.get("approved") or [])]
        return {
            "poll": pl.poll_from_fields(
                _flat(raw["poll"]), _flat(raw["counts"]), int(raw["voters"]), approved
            )
        }
    if kind == POLLRES:
        return {
            str(pid): {
                "voters": int(r["voters"]),
                "counts": {k: int(v) for k, v in _flat(r["counts"]).items()},
            }
            for pid, r in _flat_dict(raw).items()
        }
    if kind == DELETED:
        return None
    raise ValueError(f"unknown entry kind {kind!r}")


def entry_from_fields(entry_id: str, fields: Mapping[str, str]) -> Entry:
    """An entry from its stream id and fields {t, d, f}."""
    kind = fields["t"]
    return Entry(
        pos=parse_position(entry_id),
        kind=kind,
        data=parse_data(kind, json.loads(fields.get("d") or "{}")),
        urgent=fields.get("f") == "1",
    )


# --- the clock -------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """The session clock as stored: idle, running towards a deadline, or paused."""

    state: str = "idle"
    left_ms: int = 0  # when idle or paused
    deadline_ms: int = 0  # when running (Redis time)

    def public(self, now_ms: int) -> dict[str, Any]:
        """The wire form at `now_ms` (Redis time); clients correct for their own clock with it."""
        running = self.state == "running"
        return {
            "state": self.state,
            "left_ms": self.deadline_ms - now_ms if running else self.left_ms,
            "deadline_ms": self.deadline_ms if running else None,
            "now_ms": now_ms,
        }


# --- a session's state -----------------------------------------------------------------


def public_stage(status: str, lineup: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The audience's stage: the status and who is on stage now, nothing else."""
    on_stage = [
        {"speaker": s["speaker"], "state": s["state"], "label": s["label"]}
        for s in lineup
        if s["state"] in ON_STAGE
    ]
    return {"status": status, "max_live": MAX_LIVE, "lineup": on_stage}


def full_stage(status: str, lineup: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The stage as moderators, speakers and screens see it: every speaker in running order,
    with their state, label, whether connected and their backup recording."""
    return {"status": status, "max_live": MAX_LIVE, "lineup": [dict(s) for s in lineup]}


def _sorted_questions(questions: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(questions, key=lambda q: (q["created_at"], q["id"]))


@dataclass
class SessionState:
    """A session as its log says it is at `pos`: kept by applying entries in order."""

    session_id: str
    pos: Position
    session: dict[str, Any]  # public view (its event's time zone applied)
    event: dict[str, Any]  # public view
    settings: qa.Settings = field(default_factory=qa.Settings)
    questions: dict[str, dict[str, Any]] = field(default_factory=dict)
    screen: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"pending": 0, "declined": 0})
    status: str = "scheduled"
    lineup: list[dict[str, Any]] = field(default_factory=list)
    clock: Clock = field(default_factory=Clock)
    presence: Counts = field(default_factory=empty_counts)
    reactions: dict[str, int] = field(default_factory=dict)
    deleted: bool = False
    by_author: dict[str, set[str]] = field(default_factory=dict)
    polls: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for q in self.questions.values():
            self.by_author.setdefault(q["author"], set()).add(q["id"])

    @property
    def event_id(self) -> str:
        """The event this session belongs to."""
        return str(self.session["event_id"])

    def apply(self, e: Entry) -> None:
        """Move the state to e.pos by applying e (which must follow the current position)."""
        d = e.data
        if e.kind == QA:
            for q in d["questions"]:
                self.questions[q["id"]] = q
                self.by_author.setdefault(q["author"], set()).add(q["id"])
            self.screen = d["screen"]
            self.counts = d["counts"]
        elif e.kind == SETTINGS:
            self.settings = d
        elif e.kind == STAGE:
            self.status, self.lineup = d["status"], d["lineup"]
        elif e.kind == CLOCK:
            self.clock = d
        elif e.kind == INFO:
            self.session, self.event = d["session"], d["event"]
        elif e.kind == DELETED:
            self.deleted = True
        elif e.kind == PRESENCE:
            self.presence = d
        elif e.kind == VOTES:
            for qid, n in d.items():
                q = self.questions.get(qid)
                if q is not None:
                    self.questions[qid] = {**q, "votes": n}
        elif e.kind == REACTIONS:
            self.reactions = d["totals"]
        elif e.kind == ONLINE:
            self.lineup = [{**s, "online": d.get(s["speaker"], s["online"])} for s in self.lineup]
        elif e.kind == POLL:
            if "deleted" in d:
                self.polls.pop(d["deleted"], None)
            else:
                self.polls[d["poll"]["id"]] = d["poll"]
        elif e.kind == POLLRES:
            for pid, results in d.items():
                if pid in self.polls:
                    self.polls[pid] = {**self.polls[pid], "results": results}
        self.pos = e.pos

    def is_public(self, question_id: str) -> bool:
        """Whether the audience may see this question now."""
        q = self.questions.get(question_id)
        return q is not None and q["state"] in qa.PUBLIC_STATES

    def mine(self, person: str) -> list[dict[str, Any]]:
        """A person's own questions, as their author sees them."""
        ids = self.by_author.get(person, ())
        return [qa.author_view(q, self.screen) for q in _sorted_questions(self.questions[i] for i in ids)]

    def view(self, view: str) -> dict[str, Any]:
        """The shared part of a snapshot for one view (without the clock, which moves, and
        without anything personal)."""
        session = {**self.session, "version": self.pos[0]}
        questions = _sorted_questions(self.questions.values())
        if view in STAFF_QA:
            qa_part: dict[str, Any] = {
                "settings": self.settings.full() if view == MOD else self.settings.public(),
                "questions": [qa.moderator_view(q, self.screen) for q in questions],
            }
        else:
            qa_part = {
                "settings": self.settings.public(),
                "questions": [
                    qa.public_view(q, self.screen) for q in questions if q["state"] in qa.PUBLIC_STATES
                ],
            }
        qa_part.update(screen=self.screen, counts=dict(self.counts))
        stage = (
            full_stage(self.status, self.lineup) if view != AUD else public_stage(self.status, self.lineup)
        )
        ordered = sorted(self.polls.values(), key=lambda p: (p["created_at"], p["id"]))
        if view == MOD:
            polls = [pl.staff_view(p) for p in ordered]
        elif view == STAGE_VIEW:
            polls = [pl.stage_view(p) for p in ordered if pl.visible_to_audience(p)]
        else:
            polls = [pl.public_view(p) for p in ordered if pl.visible_to_audience(p)]
        return {
            "at": list(self.pos),
            "v": self.pos[0],
            "polls": polls,
            "session": session,
            "event": self.event,
            "presence": {"counts": self.presence},
            "qa": qa_part,
            "reactions": {"emoji": list(EMOJI), "totals": dict(self.reactions)},
            "stage": stage,
        }


# --- frames ----------------------------------------------------------------------------


class Batch:
    """Entries merged into one frame for one view: each thing at its latest state.

    `start` is the position the previous frame of this view ended at (the frame's `from`);
    entries are added as they are read, after they were applied to the session's state.
    """

    def __init__(self, view: str, start: Position) -> None:
        self.view = view
        self.start = start
        self.end = start
        self.urgent = False
        self.questions: dict[str, dict[str, Any]] = {}
        self.votes: dict[str, int] = {}
        self.qa: dict[str, Any] = {}
        self.stage: dict[str, Any] | None = None
        self.clock: Clock | None = None
        self.presence: Counts | None = None
        self.reactions: dict[str, int] = {}
        self.reaction_totals: dict[str, int] | None = None
        self.online: dict[str, bool] = {}
        self.polls: dict[str, dict[str, Any]] = {}  # poll id -> its view (or a removal)
        self.poll_results: dict[str, dict[str, Any]] = {}  # poll id -> results (not in polls)
        self.info: dict[str, Any] | None = None
        self.deleted = False
        self.mine: dict[str, dict[str, dict[str, Any]]] = {}  # person -> question id -> view
        self.visible = False  # anything in it for this view

    def add(self, e: Entry, state: SessionState) -> None:
        """Merge one entry (already applied to `state`)."""
        self.end = e.pos
        self.urgent = self.urgent or e.urgent
        d = e.data
        view = self.view
        if e.kind == QA:
            for q in d["questions"]:
                qid = q["id"]
                if view in STAFF_QA:
                    self.questions[qid] = qa.moderator_view(q, d["screen"])
                elif q["state"] in qa.PUBLIC_STATES:
                    self.questions[qid] = qa.public_view(q, d["screen"])
                else:
                    self.questions[qid] = {"id": qid, "removed": True}
                self.votes.pop(qid, None)
                self.mine.setdefault(q["author"], {})[qid] = qa.author_view(q, d["screen"])
            self.qa["screen"] = d["screen"]
            self.qa["counts"] = d["counts"]
        elif e.kind == SETTINGS:
            self.qa["settings"] = d.full() if view == MOD else d.public()
        elif e.kind == STAGE:
            lineup = d["lineup"]
            self.stage = full_stage(d["status"], lineup) if view != AUD else public_stage(d["status"], lineup)
            self.online = {}  # the stage carries who is connected as of now
        elif e.kind == CLOCK:
            self.clock = d
        elif e.kind == INFO:
            self.info = d
        elif e.kind == DELETED:
            self.deleted = True
        elif e.kind == PRESENCE:
            self.presence = d
        elif e.kind == VOTES:
            for qid, n in d.items():
                if view not in STAFF_QA and not state.is_public(qid):
                    continue  # the audience never learns of a question it may not see
                if qid in self.questions and not self.questions[qid].get("removed"):
                    self.questions[qid] = {**self.questions[qid], "votes": n}
                else:
                    self.votes[qid] = n
                for author_qs in self.mine.values():
                    if qid in author_qs:
                        author_qs[qid] = {**author_qs[qid], "votes": n}
        elif e.kind == REACTIONS:
            for emoji, n in d["counts"].items():
                self.reactions[emoji] = self.reactions.get(emoji, 0) + n
            self.reaction_totals = d["totals"]
        elif e.kind == ONLINE:
            if view == AUD:
                return
            self.online.update(d)
        elif e.kind == POLL:
            self._poll(d)
        elif e.kind == POLLRES and not self._poll_results(d, state):
            return
        self.visible = True

    def _poll(self, d: dict[str, Any]) -> None:
        if "deleted" in d:
            self.polls[d["deleted"]] = {"id": d["deleted"], "removed": True}
            self.poll_results.pop(d["deleted"], None)
            return
        p = d["poll"]
        self.poll_results.pop(p["id"], None)
        if self.view == MOD:
            self.polls[p["id"]] = pl.staff_view(p)
        elif self.view == STAGE_VIEW:
            self.polls[p["id"]] = (
                pl.stage_view(p) if pl.visible_to_audience(p) else {"id": p["id"], "removed": True}
            )
        else:
            self.polls[p["id"]] = (
                pl.public_view(p) if pl.visible_to_audience(p) else {"id": p["id"], "removed": True}
            )

    def _poll_results(self, d: dict[str, Any], state: SessionState) -> bool:
        """Results for this view; False when none of them concern it."""
        any_seen = False
        for pid, results in d.items():
            p = state.polls.get(pid)
            if p is None or (not pl.visible_to_audience(p) and self.view != MOD):
                continue
            if self.view not in (MOD, STAGE_VIEW) and not p["shown"]:
                continue  # the audience never sees results a moderator has not shown
            view = pl.results_view({**p, "results": results}, staff=self.view == MOD)
            if pid in self.polls and not self.polls[pid].get("removed"):
                self.polls[pid] = {**self.polls[pid], "results": view}
            else:
                self.poll_results[pid] = view
            any_seen = True
        return any_seen

    def frame(self, session_id: str, now_ms: int) -> dict[str, Any] | None:
        """The frame for this view, or None when nothing in it concerns the view."""
        if not self.visible:
            return None
        out: dict[str, Any] = {
            "session": session_id,
            "from": list(self.start),
            "to": list(self.end),
            "now_ms": now_ms,
        }
        if self.questions or self.qa:
            out["qa"] = {"questions": list(self.questions.values()), **self.qa}
        if self.votes:
            out["votes"] = self.votes
        if self.stage is not None:
            out["stage"] = self.stage
        if self.clock is not None:
            out["clock"] = self.clock.public(now_ms)
        if self.presence is not None:
            out["presence"] = {"counts": self.presence}
        if self.reaction_totals is not None:
            out["reactions"] = {"counts": self.reactions, "totals": self.reaction_totals}
        if self.online:
            out["online"] = self.online
        if self.polls:
            out["polls"] = list(self.polls.values())
        if self.poll_results:
            out["poll_results"] = self.poll_results
        if self.info is not None:
            out["info"] = self.info
        if self.deleted:
            out["deleted"] = True
        return out


def replay(view: str, start: Position, entries: Iterable[Entry], state: SessionState) -> Batch:
    """Entries after `start` merged for one view (a client resuming from `start`)."""
    batch = Batch(view, start)
    for e in entries:
        if e.pos > start:
            batch.add(e, state)
    return batch


# --- pace ------------------------------------------------------------------------------


def audience_tick_ms(audience: int, small_room: int, tick_ms: int, tick_max_ms: int) -> int:
    """How long the audience's changes may gather before they go out as one frame.

    A room of at most `small_room` people gets every change at once; above that the wait
    grows with the crowd: `tick_ms` at ten times that size, up to `tick_max_ms`. A frame's
    cost is per person (one write to each phone), so a crowd gets fewer, fuller frames;
    what a moderator does goes out at once whatever the size (the caller's business).
    """
    if audience <= small_room or tick_ms <= 0:
        return 0
    return min(max(tick_ms, tick_max_ms), max(1, audience * tick_ms // (10 * max(1, small_room))))


def reconnect_spread_ms(audience: int, small_room: int) -> int:
    """Over how long the audience of a room should spread its return after losing its
    connection (a worker restarting or dying sends thousands back at once): nothing for a
    small room, two seconds per thousand people above it, at most twenty."""
    if audience <= small_room:
        return 0
    return min(20_000, audience * 2)
