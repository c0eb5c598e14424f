"""Questions in Redis: every change runs in qa.lua, atomic with the session's version."""

from __future__ import annotations

from typing import Any

from server.domain.qa import Settings, question_from_fields, settings_fields, settings_from_fields
from server.errors import Conflict, Forbidden, Invalid, NotFound, PodiumError, RateLimited
from server.store import keys, scripts
from server.store.connection import Client, fleeting
from server.store.pending import VOTES, Pending, flush

_ERRORS: dict[str, type[PodiumError]] = {
    "not_found": NotFound,
    "conflict": Conflict,
    "forbidden": Forbidden,
    "invalid": Invalid,
}


def check(reply: list[Any]) -> list[Any]:
    """A script's reply, {'ok', ...} -> its values; {'err', code, message} -> the typed error
    (qa.lua and polls.lua answer so)."""
    if reply[0] == "err":
        code, message = str(reply[1]), str(reply[2])
        if code == "rate_limited":
            retry = int(message)
            raise RateLimited(f"Slow mode: you can ask again in {retry} s.", retry_after=retry)
        raise _ERRORS[code](message)
    return reply[1:]


class QAStore:
    """Ask, vote, moderate, withdraw; read a session's questions and settings."""

    def __init__(self, client: Client, pending: Pending | None = None) -> None:
        self.r = client
        self._qa = scripts.load(client, "qa")
        # Counts logged again from the (waited for) votes if a failover loses one: no WAIT.
        self._flusher = fleeting(client)
        self._flush = scripts.load(self._flusher, "votes_flush")
        self.pending = pending if pending is not None else Pending()

    async def _run(self, op: str, session_id: str, *args: Any) -> list[Any]:
        script_keys = [
            keys.session(session_id),
            keys.log(session_id),
            keys.questions(session_id),
            keys.qa_settings(session_id),
            keys.qa_muted(session_id),
            keys.votes_dirty(session_id),
            keys.insight_tally(session_id),
        ]
        return check(await self._qa(keys=script_keys, args=[op, *args]))

    async def settings(self, session_id: str) -> Settings:
        """The session's Q&A settings (defaults for what was never set)."""
        raw = await self.r.hgetall(keys.qa_settings(session_id))
        return settings_from_fields(raw)

    async def save_settings(self, session_id: str, settings: Settings) -> int:
        """Store settings; returns the session's new version."""
        flat: list[Any] = []
        for name, value in settings_fields(settings).items():
            flat += [name, value]
        (version, _) = await self._run("settings", session_id, *flat)
        return int(version)

    async def ask(
        self,
        session_id: str,
        *,
        question_id: str,
        client_id: str,
        person: str,
        name: str,
        anonymous: bool,
        alias: str,
        text: str,
        now_ms: int,
        held: str,
        slow_ms: int,
        lang: str = "",
    ) -> tuple[str, bool, int]:
        """Store a question once per (person, client_id); returns (id, created, version)."""
        qid, created, version = await self._run(
            "ask", session_id, question_id, client_id, person, name, "1" if anonymous else "0",
            alias, text, now_ms, held, slow_ms, lang,
        )  # fmt: skip
        return str(qid), bool(int(created)), int(version)

    async def vote(self, session_id: str, question_id: str, person: str, on: bool) -> tuple[str, int, bool]:
        """Add or take back a vote (a set: repeats change nothing); (question, votes, changed)."""
        qid, votes, changed = await self._run("vote", session_id, question_id, person, "1" if on else "0")
        if int(changed):
            self.pending.mark(VOTES, session_id)
        return str(qid), int(votes), bool(int(changed))

    async def moderate(
        self, session_id: str, question_id: str, action: str, now_ms: int, arg: str = ""
    ) -> tuple[int, bool]:
        """Apply a moderator's action; (version, changed). Repeating an action changes nothing."""
        version, changed = await self._run("moderate", session_id, question_id, action, now_ms, arg)
        if action == "merge" and int(changed):
            self.pending.mark(VOTES, session_id)  # the votes were united
        return int(version), bool(int(changed))

    async def translate(
        self, session_id: str, question_id: str, lang: str, text: str, now_ms: int
    ) -> tuple[int, bool]:
        """Attach (or, with text "", take away) a question's translation into lang; (version,
        changed). The same text again changes nothing; it also makes a stale one current."""
        version, changed = await self._run("translate", session_id, question_id, lang, text, now_ms)
        return int(version), bool(int(changed))

    async def set_language(
        self, session_id: str, question_id: str, lang: str, now_ms: int
    ) -> tuple[int, bool]:
        """Say what language a question is in; (version, changed)."""
        version, changed = await self._run("language", session_id, question_id, lang, now_ms)
        return int(version), bool(int(changed))

    async def withdraw(self, session_id: str, question_id: str, person: str, now_ms: int) -> tuple[int, bool]:
        """The author takes their question back; (version, changed)."""
        version, changed = await self._run("withdraw", session_id, question_id, person, now_ms)
        return int(version), bool(int(changed))

    async def mute(self, session_id: str, person: str, on: bool) -> int:
        """Mute (or unmute) a person in a session; returns how many of their votes were removed."""
        reply = await self._run("mute", session_id, person, "1" if on else "0")
        removed = int(reply[1]) if on else 0
        if removed:
            self.pending.mark(VOTES, session_id)
        return removed

    async def is_muted(self, session_id: str, person: str) -> bool:
        """Whether a person is muted in this session."""
        return bool(await self.r.sismember(keys.qa_muted(session_id), person))

    async def get(self, session_id: str, question_id: str) -> dict[str, Any]:
        """One question, or NotFound."""
        raw = await self.r.hgetall(keys.question(session_id, question_id))
        if not raw:
            raise NotFound("No such question.")
        return question_from_fields(raw)

    async def get_with_screen(self, session_id: str, question_id: str) -> tuple[dict[str, Any], str | None]:
        """One question (or NotFound) and the id of the one on screen, in one round trip."""
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.hgetall(keys.question(session_id, question_id))
            pipe.hget(keys.session(session_id), "screen")
            raw, screen = await pipe.execute()
        if not raw:
            raise NotFound("No such question.")
        return question_from_fields(raw), screen or None

    async def many(self, session_id: str, question_ids: list[str]) -> list[dict[str, Any]]:
        """Several questions (missing ones are skipped)."""
        if not question_ids:
            return []
        async with self.r.pipeline(transaction=False) as pipe:
            for qid in question_ids:
                pipe.hgetall(keys.question(session_id, qid))
            rows = await pipe.execute()
        return [question_from_fields(raw) for raw in rows if raw]

    async def all(self, session_id: str) -> list[dict[str, Any]]:
        """Every question of a session, oldest first."""
        return await self.many(session_id, await self.r.zrange(keys.questions(session_id), 0, -1))

    async def screen(self, session_id: str) -> str | None:
        """The id of the question on screen now."""
        return await self.r.hget(keys.session(session_id), "screen") or None

    async def voted(self, session_id: str, person: str) -> list[str]:
        """The questions of a session this person has voted for."""
        return sorted(await self.r.smembers(keys.voted(session_id, person)))

    async def log_vote_counts(self, gate_ms: int, limit: int = 200) -> int:
        """Log the changed vote counts of the sessions where this worker changed votes, once
        due (each session at most once per gate_ms, whichever worker logs it); returns how
        many sessions."""
        return await flush(
            self.pending,
            kind=VOTES,
            client=self._flusher,
            script=self._flush,
            calls=lambda s: (
                [keys.session(s), keys.log(s), keys.votes_dirty(s), keys.votes_gate(s)],
                [gate_ms],
            ),
            limit=limit,
        )
