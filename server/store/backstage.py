"""What happens behind the stage, in Redis: cues to speakers (with read receipts), the
backstage chat, and the queue of raised hands."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from server.errors import Forbidden, NotFound
from server.store import keys
from server.store.connection import Client
from server.store.events import new_id

KEEP_CUES = 100
KEEP_CHAT = 200
KEEP_S = 7 * 86400  # backstage traffic is kept a week after its last use
RESEND_WINDOW_S = 3600  # a chat message resent with the same client id within this is the same one


def now_ms() -> int:
    """Wall-clock milliseconds."""
    return int(time.time() * 1000)


def _cue_view(cue_id: str, raw: dict[str, str]) -> dict[str, Any]:
    return {
        "id": cue_id,
        "speaker": raw["speaker"],
        "kind": raw["kind"],
        "text": raw.get("text", ""),
        "minutes": int(raw.get("minutes") or 0) or None,
        "by": raw.get("by", ""),
        "at": int(raw["at"]),
        "acked_at": int(raw["acked_at"]) if raw.get("acked_at") else None,
    }


class BackstageStore:
    """Cues, chat and raised hands of each session."""

    def __init__(self, client: Client) -> None:
        self.r = client

    # --- cues ------------------------------------------------------------------------

    async def send_cue(
        self, session_id: str, speaker: str, kind: str, *, text: str, minutes: int | None, by: str
    ) -> dict[str, Any]:
        """A new cue to one speaker; the oldest drop off past KEEP_CUES."""
        cue_id = new_id(8)
        at = now_ms()
        fields: dict[str, str | int] = {"speaker": speaker, "kind": kind, "text": text, "by": by, "at": at}
        if minutes:
            fields["minutes"] = minutes
        key = keys.cue(session_id, cue_id)
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping=fields)
            pipe.expire(key, KEEP_S)
            pipe.zadd(keys.cues(session_id), {cue_id: at})
            pipe.expire(keys.cues(session_id), KEEP_S)
            pipe.zrange(keys.cues(session_id), 0, -KEEP_CUES - 1)
            pipe.zremrangebyrank(keys.cues(session_id), 0, -KEEP_CUES - 1)
            *_, dropped, _ = await pipe.execute()
        if dropped:
            await self.r.delete(*[keys.cue(session_id, c) for c in dropped])
        return _cue_view(cue_id, {k: str(v) for k, v in fields.items()})

    async def ack_cue(self, session_id: str, cue_id: str, speaker: str) -> tuple[bool, dict[str, Any]]:
        """The speaker read the cue: (first time?, the cue). Only its own speaker may."""
        key = keys.cue(session_id, cue_id)
        raw = await self.r.hgetall(key)
        if not raw:
            raise NotFound("No such cue.")
        if raw["speaker"] != speaker:
            raise Forbidden("This cue is for another speaker.")
        first = bool(await self.r.hsetnx(key, "acked_at", now_ms()))
        return first, _cue_view(cue_id, await self.r.hgetall(key))

    async def cues(self, session_id: str, speaker: str | None = None) -> list[dict[str, Any]]:
        """The session's recent cues, oldest first (only one speaker's when given)."""
        ids = await self.r.zrange(keys.cues(session_id), 0, -1)
        if not ids:
            return []
        async with self.r.pipeline(transaction=False) as pipe:
            for cue_id in ids:
                pipe.hgetall(keys.cue(session_id, cue_id))
            rows = await pipe.execute()
        out = [_cue_view(c, raw) for c, raw in zip(ids, rows, strict=True) if raw]
        return [c for c in out if speaker is None or c["speaker"] == speaker]

    # --- chat ------------------------------------------------------------------------

    async def post(
        self, session_id: str, author: str, client_id: str, sender: dict[str, str], text: str
    ) -> tuple[bool, dict[str, Any]]:
        """Add a message; (new?, message). A resend with the same client id is not a second one."""
        message = {"id": secrets.token_urlsafe(8), "from": sender, "text": text, "at": now_ms()}
        sent_key = keys.chat_sent(session_id, author, client_id)
        body = json.dumps(message, ensure_ascii=False)
        if not await self.r.set(sent_key, body, nx=True, ex=RESEND_WINDOW_S):
            previous = await self.r.get(sent_key)
            return False, json.loads(previous) if previous else message
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.lpush(keys.chat(session_id), body)
            pipe.ltrim(keys.chat(session_id), 0, KEEP_CHAT - 1)
            pipe.expire(keys.chat(session_id), KEEP_S)
            await pipe.execute()
        return True, message

    async def chat(self, session_id: str, limit: int = 100) -> list[dict[str, Any]]:
        """The latest messages, oldest first."""
        rows = await self.r.lrange(keys.chat(session_id), 0, limit - 1)
        return [json.loads(row) for row in reversed(rows)]

    # --- raised hands ------------------------------------------------------------------

    async def raise_hand(self, session_id: str, person: str, name: str, note: str) -> bool:
        """Join the queue (or, already in it, keep the place and update the note); True if new."""
        q, notes = keys.hands(session_id), keys.hand_notes(session_id)
        outcomes = keys.hand_outcomes(session_id)
        entry = json.dumps({"name": name, "note": note, "at": now_ms()}, ensure_ascii=False)
        new = await self.r.zscore(q, person) is None
        if new:
            order = await self.r.hincrby(keys.stage(session_id), "hands", 1)
            added = await self.r.zadd(q, {person: order}, nx=True)
            new = bool(added)
        else:
            old = await self.r.hget(notes, person)
            if old:  # keep the time of arrival
                entry = json.dumps({**json.loads(old), "name": name, "note": note}, ensure_ascii=False)
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(notes, person, entry)
            pipe.hdel(outcomes, person)
            for key in (q, notes):
                pipe.expire(key, KEEP_S)
            await pipe.execute()
        return new

    async def lower_hand(self, session_id: str, person: str) -> bool:
        """Leave the queue; True if the hand was up."""
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.zrem(keys.hands(session_id), person)
            pipe.hdel(keys.hand_notes(session_id), person)
            removed, _ = await pipe.execute()
        return bool(removed)

    async def set_outcome(self, session_id: str, person: str, outcome: dict[str, Any]) -> None:
        """What the moderator did with a hand they took down (declined, or brought with a link)."""
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(keys.hand_outcomes(session_id), person, json.dumps(outcome))
            pipe.expire(keys.hand_outcomes(session_id), KEEP_S)
            await pipe.execute()

    async def hands(self, session_id: str) -> list[dict[str, Any]]:
        """The queue in arrival order: person, name, note, at."""
        people = await self.r.zrange(keys.hands(session_id), 0, -1)
        if not people:
            return []
        notes = await self.r.hmget(keys.hand_notes(session_id), people)
        return [
            {"person": person, **json.loads(raw)} for person, raw in zip(people, notes, strict=True) if raw
        ]

    async def hand_people(self, session_ids: list[str]) -> set[tuple[str, str]]:
        """(session, person) of everyone with a raised hand or a moderator's answer to one."""
        async with self.r.pipeline(transaction=False) as pipe:
            for session_id in session_ids:
                pipe.zrange(keys.hands(session_id), 0, -1)
                pipe.hkeys(keys.hand_outcomes(session_id))
            rows = await pipe.execute()
        out: set[tuple[str, str]] = set()
        for i, session_id in enumerate(session_ids):
            out.update((session_id, str(person)) for person in (*rows[2 * i], *rows[2 * i + 1]))
        return out

    async def my_hand(self, session_id: str, person: str) -> dict[str, Any]:
        """This person's hand: {state: none | raised | declined | brought, note?, token?}."""
        async with self.r.pipeline(transaction=False) as pipe:
            queue_my_hand(pipe, session_id, person)
            score, note, outcome = await pipe.execute()
        return hand_from(score, note, outcome)


def queue_my_hand(pipe: Any, session_id: str, person: str) -> None:
    """Queue the three reads of a person's hand on a pipeline (hand_from() reads the replies)."""
    pipe.zscore(keys.hands(session_id), person)
    pipe.hget(keys.hand_notes(session_id), person)
    pipe.hget(keys.hand_outcomes(session_id), person)


def hand_from(score: Any, note: Any, outcome: Any) -> dict[str, Any]:
    """A person's hand from the replies of queue_my_hand()."""
    if score is not None and note:
        return {"state": "raised", "note": json.loads(note)["note"]}
    if outcome:
        return dict(json.loads(outcome))
    return {"state": "none"}
