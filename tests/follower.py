"""A session's state as a client following the feed holds it: the rules of
web/static/js/live.js, in Python, for tests and benchmarks.

- A join, snapshot or resume in flight holds every frame that arrives meanwhile; its answer
  sets the state and the position, then the held frames are taken in order.
- A frame ending at or before the position is old news: skipped.
- A frame starting after the position means something was missed: the caller resumes from
  the position (never two requests at once).
- A `reset` frame replaces the state, whatever the position.
- Anything else is applied, and the position becomes the frame's end.

The state is kept the way the pages keep it (qa-state.js and the stage views), so a test can
ask what a phone shows now rather than which messages went by.
"""

from __future__ import annotations

import copy
from typing import Any

Position = tuple[int, int]


class Follower:
    """One client's view of one session, kept from a snapshot and the frames after it."""

    def __init__(self) -> None:
        self.session: str | None = None
        self.pos: Position | None = None
        self.syncing = False
        self.held: list[dict[str, Any]] = []
        self.applied: list[dict[str, Any]] = []
        self.state: dict[str, Any] = {}
        self.gaps = 0
        self.stale = 0
        self.resets = 0
        self.snapshots = 0
        self.resumes = 0
        self.regressions = 0  # a frame ending before the position that was applied anyway

    # --- requests ---------------------------------------------------------------------------

    def begin(self, session: str | None = None) -> None:
        """A join (to `session`), snapshot or resume is on its way: hold frames until it answers."""
        if session is not None and session != self.session:
            self.session, self.pos, self.state = session, None, {}
            self.held = []
        self.syncing = True

    def settle(self, ack: Any) -> list[str]:
        """Take the answer of a join, snapshot or resume; then the frames held meanwhile.
        Returns what became of each held frame (see take())."""
        self.syncing = False
        if isinstance(ack, dict) and ack.get("ok"):
            if "at" in ack:
                self._snapshot(ack)
            elif "snapshot" in ack:
                self._snapshot(ack["snapshot"])
            elif "frame" in ack:
                self.resumes += 1
                if ack.get("resumed"):
                    self._personal(ack)
                self._apply_frame(ack["frame"])
        held, self.held = self.held, []
        return [self.take(f) for f in held]

    # --- frames -----------------------------------------------------------------------------

    def take(self, frame: dict[str, Any]) -> str:
        """One `session:feed` frame: "held", "other", "reset", "stale", "gap" or "applied"."""
        if frame.get("session") != self.session:
            return "other"
        if self.syncing or self.pos is None:
            self.held.append(frame)
            return "held"
        if frame.get("reset"):
            self.resets += 1
            self._snapshot({**self.state, **frame["snapshot"]}, counted=False)
            self.pos = (int(frame["to"][0]), int(frame["to"][1]))
            self.applied.append(frame)
            return "reset"
        start, end = tuple(frame["from"]), tuple(frame["to"])
        if end <= self.pos:
            self.stale += 1
            return "stale"
        if start > self.pos:
            self.gaps += 1
            return "gap"
        self._apply_frame(frame)
        return "applied"

    def _snapshot(self, snap: dict[str, Any], counted: bool = True) -> None:
        if counted:
            self.snapshots += 1
        state = copy.deepcopy(snap)
        qa = state.get("qa") or {}
        state["questions"] = {q["id"]: q for q in qa.get("questions", [])}
        state["mine"] = {q["id"]: q for q in qa.get("mine", [])}
        state["voted"] = set(qa.get("voted", [])) or set(self.state.get("voted", set()))
        state.setdefault("reaction_ticks", [])
        self.state = state
        if "at" in snap:
            self.pos = (int(snap["at"][0]), int(snap["at"][1]))

    def _personal(self, ack: dict[str, Any]) -> None:
        for key in ("you", "rtc", "backstage", "staff"):
            if key in ack:
                self.state[key] = ack[key]
        if "voted" in ack:
            self.state["voted"] = set(ack["voted"])

    def _apply_frame(self, f: dict[str, Any]) -> None:
        end = (int(f["to"][0]), int(f["to"][1]))
        if self.pos is not None and end < self.pos:
            self.regressions += 1
        s = self.state
        if "info" in f:
            s["session"], s["event"] = f["info"]["session"], f["info"]["event"]
        qa = f.get("qa")
        if qa:
            part = s.setdefault("qa", {})
            if "settings" in qa:
                part["settings"] = qa["settings"]
            for q in qa.get("questions", []):
                if q.get("removed"):
                    s["questions"].pop(q["id"], None)
                else:
                    s["questions"][q["id"]] = q
                    if q["id"] in s["mine"]:
                        s["mine"][q["id"]] = {**s["mine"][q["id"]], **q, "mine": True}
            if "screen" in qa:
                part["screen"] = qa["screen"]
            if "counts" in qa:
                part["counts"] = qa["counts"]
            for q in s["questions"].values():
                q["on_screen"] = q["id"] == part.get("screen")
        for qid, n in (f.get("votes") or {}).items():
            if qid in s["questions"]:
                s["questions"][qid] = {**s["questions"][qid], "votes": n}
            if qid in s["mine"]:
                s["mine"][qid] = {**s["mine"][qid], "votes": n}
        if "stage" in f:
            s["stage"] = f["stage"]
        if f.get("online") and "stage" in s:
            for row in s["stage"]["lineup"]:
                if row["speaker"] in f["online"]:
                    row["online"] = f["online"][row["speaker"]]
        if "clock" in f:
            s["clock"] = f["clock"]
        if "presence" in f:
            s["presence"] = f["presence"]
        if "reactions" in f:
            s.setdefault("reactions", {})["totals"] = f["reactions"]["totals"]
            s["reaction_ticks"].append(f["reactions"]["counts"])
        for q in f.get("mine", []):
            s["mine"][q["id"]] = q
        if f.get("deleted"):
            s["deleted"] = True
        self.pos = end
        self.applied.append(f)

    # --- what the page shows ------------------------------------------------------------------

    @property
    def questions(self) -> dict[str, dict[str, Any]]:
        """The questions this client can see now, by id."""
        return dict(self.state.get("questions", {}))

    @property
    def mine(self) -> dict[str, dict[str, Any]]:
        """The caller's own questions, by id."""
        return dict(self.state.get("mine", {}))

    def total(self) -> int | None:
        """How many people the page says are here."""
        presence = self.state.get("presence")
        return None if presence is None else int(presence["counts"]["total"])
