"""Live polls: what a poll is, what an answer may be, and what each face sees of them.

A poll belongs to a session and moves draft -> open -> closed (and may open again); its
results are shown to the audience and the hall only when a moderator shows them. Kinds:

- `choice`: one of the options, or several when `multi`; a `quiz` has correct options;
- `rating`: 1 to 5 stars;
- `words`: a word cloud, up to three short words per person;
- `text`: an open answer, moderated like a question: only the answers a moderator approves
  reach the hall and the audience.

An answer is one per person, a set like a question's votes: answering again replaces it while
the poll is open, and the same answer again changes nothing. Results are counts per key (an
option's index, a star, a word) and the number of people who answered, kept in Redis as
answers arrive and logged coalesced, like vote counts.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from typing import Any

from server.domain import validate
from server.errors import Invalid

KINDS = ("choice", "rating", "words", "text")
STATES = ("draft", "open", "closed")
ACTIONS = ("open", "close", "show", "hide", "delete")
MAX_OPTIONS = 10
OPTION_MAX = 120
QUESTION_MAX = 300
WORDS_PER_PERSON = 3
WORD_MAX = 24
TEXT_MAX = 280
TIME_LIMIT_MAX = 3600
CLOUD_MAX = 60  # the most frequent words a face is sent
DEFINITION_FIELDS = frozenset({"kind", "question", "options", "multi", "anonymous", "correct", "time_limit"})


def definition(data: Mapping[str, Any], current: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A poll's definition from a moderator's payload (all of it on create; on edit, the
    fields given over the current ones), checked whole."""
    d: dict[str, Any] = dict(current or {"multi": False, "anonymous": True, "correct": [], "time_limit": 0})
    if current is None or "kind" in data:
        d["kind"] = validate.choice(data.get("kind"), "kind", KINDS)
    if current is None or "question" in data:
        d["question"] = validate.text(data.get("question"), "question", max_len=QUESTION_MAX, multiline=True)
    if "multi" in data:
        d["multi"] = validate.boolean(data["multi"], "multi")
    if "anonymous" in data:
        d["anonymous"] = validate.boolean(data["anonymous"], "anonymous")
    if "time_limit" in data:
        d["time_limit"] = validate.integer(data["time_limit"], "time_limit", lo=0, hi=TIME_LIMIT_MAX)
    if d["kind"] == "choice":
        if current is None or "options" in data:
            options = data.get("options")
            if not isinstance(options, list) or not 2 <= len(options) <= MAX_OPTIONS:
                raise Invalid(f"options must be a list of 2 to {MAX_OPTIONS} answers.", field="options")
            d["options"] = [validate.text(o, "options", max_len=OPTION_MAX) for o in options]
        if "correct" in data:
            correct = data["correct"]
            if not isinstance(correct, list) or len(correct) > len(d["options"]):
                raise Invalid("correct must be a list of option numbers.", field="correct")
            d["correct"] = sorted(
                {validate.integer(i, "correct", lo=0, hi=len(d["options"]) - 1) for i in correct}
            )
        if not d["multi"] and len(d["correct"]) > 1:
            raise Invalid("A one-answer quiz has one correct option.", field="correct")
    else:
        if "options" in data and data["options"] not in ([], None):
            raise Invalid("Only a choice poll has options.", field="options")
        if data.get("correct"):
            raise Invalid("Only a choice poll has correct answers.", field="correct")
        d["options"], d["correct"], d["multi"] = [], [], False
    return d


def fold_word(word: str) -> str:
    """A word as the cloud counts it: NFKC, case folded, inner spaces single."""
    return " ".join(unicodedata.normalize("NFKC", word).casefold().split())


def answer_keys(poll: Mapping[str, Any], value: Any) -> list[str]:
    """What an answer adds to the results: option indexes, a star, or folded words."""
    kind = poll["kind"]
    if kind == "choice":
        picks = value if isinstance(value, list) else None
        n = len(poll["options"])
        if not picks or len(picks) > (n if poll["multi"] else 1):
            raise Invalid(
                "Pick one option." if not poll["multi"] else "Pick one or more options.", field="answer"
            )
        return [str(i) for i in sorted({validate.integer(i, "answer", lo=0, hi=n - 1) for i in picks})]
    if kind == "rating":
        return [str(validate.integer(value, "answer", lo=1, hi=5))]
    if kind == "text":
        return [validate.text(value, "answer", max_len=TEXT_MAX, multiline=True)]
    words = value if isinstance(value, list) else None
    if not words or len(words) > WORDS_PER_PERSON:
        raise Invalid(f"Send one to {WORDS_PER_PERSON} words.", field="answer")
    out: list[str] = []
    for w in words:
        folded = fold_word(validate.text(w, "answer", max_len=WORD_MAX))
        if folded and folded not in out:
            out.append(folded)
    if not out:
        raise Invalid("Send one to three words.", field="answer")
    return out


def poll_from_fields(
    raw: Mapping[str, str],
    counts: Mapping[str, str] | None = None,
    voters: int = 0,
    approved: list[str] | None = None,
) -> dict[str, Any]:
    """A poll from its stored hash (and its results)."""
    return {
        "id": raw["id"],
        "kind": raw["kind"],
        "question": raw["question"],
        "options": json.loads(raw.get("options") or "[]"),
        "multi": raw.get("multi") == "1",
        "anonymous": raw.get("anonymous", "1") == "1",
        "correct": json.loads(raw.get("correct") or "[]"),
        "time_limit": int(raw.get("time_limit") or 0),
        "state": raw["state"],
        "shown": raw.get("shown") == "1",
        "created_at": int(raw.get("created") or 0),
        "opened_at": int(raw.get("opened") or 0) or None,
        "closed_at": int(raw.get("closed") or 0) or None,
        "deadline_ms": int(raw.get("deadline") or 0) or None,
        "results": {"voters": voters, "counts": {str(k): int(v) for k, v in (counts or {}).items()}},
        "approved": sorted(approved or []),  # an open-text poll's answers a moderator let through
    }


def results_view(poll: Mapping[str, Any], staff: bool = True) -> dict[str, Any]:
    """Results as faces get them: a word cloud only its most frequent words; an open-text
    poll, outside the moderators, only the answers they approved."""
    results = poll["results"]
    counts = results["counts"]
    if poll["kind"] == "text" and not staff:
        approved = set(poll.get("approved") or ())
        counts = {k: v for k, v in counts.items() if k in approved}
    if poll["kind"] == "words" and len(counts) > CLOUD_MAX:
        top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:CLOUD_MAX]
        counts = dict(top)
    return {"voters": results["voters"], "counts": counts}


def staff_view(poll: Mapping[str, Any]) -> dict[str, Any]:
    """Moderators, speakers and screens: every poll they may see, with its results live (a
    screen shows them only when `shown`)."""
    return {**{k: v for k, v in poll.items() if k != "results"}, "results": results_view(poll)}


def public_view(poll: Mapping[str, Any]) -> dict[str, Any]:
    """The audience: no correct answers while the poll is open, results only when shown."""
    view = {k: v for k, v in poll.items() if k not in ("results", "correct", "approved")}
    if poll["state"] == "closed" and poll["shown"]:
        view["correct"] = poll["correct"]
    if poll["shown"]:
        view["results"] = results_view(poll, staff=False)
    return view


def stage_view(poll: Mapping[str, Any]) -> dict[str, Any]:
    """Speakers and screens: results live, but of an open-text poll only what was approved."""
    return {**staff_view(poll), "results": results_view(poll, staff=False)}


def answer_label(poll: Mapping[str, Any], key: str) -> str:
    """What a result key stands for: an option's text, a star, a word or an open answer."""
    if poll["kind"] == "choice":
        return str(poll["options"][int(key)]) if key.isdigit() and int(key) < len(poll["options"]) else key
    return key


def export(poll: Mapping[str, Any], local: Any) -> dict[str, Any]:
    """A poll as exports and reports give it: its answers named by their text (an option, a
    star, a word, an open answer), with their counts; `local` formats a time in ms."""
    counts = poll["results"]["counts"]
    if poll["kind"] == "choice":
        answers = [
            {"answer": o, "count": counts.get(str(i), 0), "correct": i in poll["correct"]}
            for i, o in enumerate(poll["options"])
        ]
    else:
        approved = set(poll.get("approved") or ())
        answers = [
            {"answer": k, "count": n, **({"approved": k in approved} if poll["kind"] == "text" else {})}
            for k, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
    return {
        "id": poll["id"], "kind": poll["kind"], "question": poll["question"], "state": poll["state"],
        "multi": poll["multi"], "anonymous": poll["anonymous"], "voters": poll["results"]["voters"],
        "answers": answers, "opened_at": local(poll["opened_at"]), "closed_at": local(poll["closed_at"]),
    }  # fmt: skip


def visible_to_audience(poll: Mapping[str, Any]) -> bool:
    """Drafts stay with the moderators."""
    return bool(poll["state"] != "draft")
