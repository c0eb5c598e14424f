"""Live polls in Redis: every change runs in polls.lua, atomic with the session's version;
answers change the results at once and reach the log coalesced (polls_flush.lua)."""

from __future__ import annotations

import json
from typing import Any

from server.domain.polls import poll_from_fields
from server.errors import NotFound
from server.store import keys, scripts
from server.store.connection import Client, fleeting
from server.store.events import new_id
from server.store.pending import POLLS, Pending, flush
from server.store.qa import check


def _flat(d: dict[str, Any]) -> list[str]:
    return [
        d["kind"], d["question"], json.dumps(d["options"], ensure_ascii=False),
        "1" if d["multi"] else "0", "1" if d["anonymous"] else "0", json.dumps(d["correct"]),
        str(d["time_limit"]),
    ]  # fmt: skip


class PollStore:
    """Create, edit, open, close, show, hide and delete polls; answer them."""

    def __init__(self, client: Client, pending: Pending | None = None) -> None:
        self.r = client
        self._polls = scripts.load(client, "polls")
        self._flusher = fleeting(client)
        self._flush = scripts.load(self._flusher, "polls_flush")
        self.pending = pending if pending is not None else Pending()

    async def _run(self, op: str, session_id: str, *args: Any) -> list[Any]:
        script_keys = [
            keys.session(session_id),
            keys.log(session_id),
            keys.polls(session_id),
            keys.polls_dirty(session_id),
            keys.insight_tally(session_id),
        ]
        return check(await self._polls(keys=script_keys, args=[op, *args]))

    async def create(self, session_id: str, definition: dict[str, Any]) -> tuple[str, int]:
        """A new draft; (its id, the session's version)."""
        poll_id = new_id(9)
        (version,) = await self._run("create", session_id, poll_id, *_flat(definition))
        return poll_id, int(version)

    async def edit(self, session_id: str, poll_id: str, definition: dict[str, Any]) -> int:
        """A draft's new definition; the session's version."""
        version, _changed = await self._run("edit", session_id, poll_id, *_flat(definition))
        return int(version)

    async def act(self, session_id: str, poll_id: str, action: str) -> tuple[int, bool]:
        """open | close | show | hide | delete; (version, changed). Repeats change nothing."""
        version, changed = await self._run("state", session_id, poll_id, action)
        return int(version), bool(int(changed))

    async def approve(self, session_id: str, poll_id: str, text: str, on: bool) -> tuple[int, bool]:
        """Let an open answer through to the hall and the audience (or take it back)."""
        version, changed = await self._run("approve", session_id, poll_id, text, "1" if on else "0")
        return int(version), bool(int(changed))

    async def answer(
        self, session_id: str, poll_id: str, person: str, answer_keys: list[str]
    ) -> tuple[bool, int]:
        """A person's answer, replacing theirs; (changed, how many have answered)."""
        changed, voters = await self._run(
            "answer", session_id, poll_id, person, json.dumps(answer_keys, ensure_ascii=False)
        )
        if int(changed):
            self.pending.mark(POLLS, session_id)
        return bool(int(changed)), int(voters)

    async def get(self, session_id: str, poll_id: str) -> dict[str, str]:
        """A poll's stored fields, or NotFound."""
        raw = await self.r.hgetall(keys.poll(session_id, poll_id))
        if not raw:
            raise NotFound("No such poll.")
        return dict(raw)

    async def all(self, session_id: str) -> list[dict[str, Any]]:
        """Every poll of a session with its results now, oldest first (for the export)."""
        return await self._with_results(session_id, await self.r.zrange(keys.polls(session_id), 0, -1))

    async def one(self, session_id: str, poll_id: str) -> dict[str, Any] | None:
        """One poll with its results now (None if it is gone)."""
        found = await self._with_results(session_id, [poll_id])
        return found[0] if found else None

    async def _with_results(self, session_id: str, ids: list[str]) -> list[dict[str, Any]]:
        async with self.r.pipeline(transaction=False) as pipe:
            for poll_id in ids:
                pipe.hgetall(keys.poll(session_id, poll_id))
                pipe.hgetall(f"{keys.poll(session_id, poll_id)}:t")
                pipe.hlen(keys.poll_answers(session_id, poll_id))
                pipe.smembers(f"{keys.poll(session_id, poll_id)}:approved")
            rows = await pipe.execute() if ids else []
        out = []
        for i in range(0, len(rows), 4):
            if rows[i]:
                out.append(poll_from_fields(rows[i], rows[i + 1], int(rows[i + 2]), list(rows[i + 3])))
        return out

    async def responses(self, session_id: str, poll_id: str) -> dict[str, list[str]]:
        """Who answered what: person -> result keys (for a named poll's export)."""
        raw = await self.r.hgetall(keys.poll_answers(session_id, poll_id))
        return {str(person): json.loads(answer) for person, answer in raw.items()}

    async def quiz_scores(self, session_id: str) -> dict[str, tuple[int, int]]:
        """Every player of the session's quizzes: person -> (right answers, total ms taken)."""
        polls = [p for p in await self.all(session_id) if p["correct"]]
        if not polls:
            return {}
        async with self.r.pipeline(transaction=False) as pipe:
            for p in polls:
                pipe.hgetall(f"{keys.poll(session_id, p['id'])}:ok")
            rows = await pipe.execute()
        scores: dict[str, tuple[int, int]] = {}
        for row in rows:
            for person, ms in row.items():
                right, total = scores.get(person, (0, 0))
                scores[person] = (right + 1, total + int(ms))
        return scores

    async def mine(self, session_id: str, person: str) -> dict[str, list[str]]:
        """A person's answers to the session's polls: poll id -> result keys."""
        ids = await self.r.zrange(keys.polls(session_id), 0, -1)
        if not ids:
            return {}
        async with self.r.pipeline(transaction=False) as pipe:
            for poll_id in ids:
                pipe.hget(keys.poll_answers(session_id, poll_id), person)
            rows = await pipe.execute()
        return {str(i): json.loads(a) for i, a in zip(ids, rows, strict=True) if a}

    async def log_results(self, gate_ms: int, limit: int = 200) -> int:
        """Log the changed results of the sessions where this worker took answers, once due."""
        return await flush(
            self.pending,
            kind=POLLS,
            client=self._flusher,
            script=self._flush,
            calls=lambda s: (
                [keys.session(s), keys.log(s), keys.polls_dirty(s), keys.polls_gate(s)],
                [gate_ms],
            ),
            limit=limit,
        )
