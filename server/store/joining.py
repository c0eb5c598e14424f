"""A join in one round trip: its admission (the person's join rate, a ban from the event, the
presence count, in presence.lua) and everything the joiner's own snapshot needs, pipelined."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from redis.exceptions import NoScriptError

from server.errors import Forbidden, RateLimited
from server.store import keys, scripts
from server.store.backstage import hand_from, queue_my_hand
from server.store.connection import Client, fleeting


@dataclass(frozen=True)
class Admission:
    """A join let in: where the person is counted, the session's log position when it was
    admitted, and what is the joiner's own."""

    where: str
    position: tuple[int, int] | None
    name: str = ""
    voted: list[str] = field(default_factory=list)
    hand: dict[str, Any] | None = None


class JoinStore:
    """Admit a socket into a session and read what its snapshot needs, in one round trip."""

    def __init__(self, client: Client) -> None:
        self.r = fleeting(client)  # presence and reads: no WAIT for replicas
        self._presence = scripts.load(self.r, "presence")

    async def _pipeline(
        self, session_id: str, args: list[Any], participant: str | None, hand: bool
    ) -> list[Any]:
        # EVALSHA by hand: a pipeline given a Script object asks SCRIPT EXISTS first, one more
        # round trip for every join.
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.evalsha(self._presence.sha, 0, *args)
            pipe.hmget(keys.session(session_id), ["v", "lk"])
            if participant:
                pipe.hget(keys.participant(participant), "name")
                pipe.smembers(keys.voted(session_id, participant))
            if hand and participant:
                queue_my_hand(pipe, session_id, participant)
            return list(await pipe.execute(raise_on_error=False))

    async def admit(
        self,
        *,
        conn: str,
        session_id: str,
        event_id: str,
        member: str,
        where: str,
        worker: str,
        person: str,
        participant: str | None,
        address: str,
        hand: bool,
        limit: int,
        window_ms: int,
    ) -> Admission:
        """Count conn in the session unless the person joins too often (RateLimited) or is
        banned from the event (Forbidden); a refused join changes nothing else."""
        args = [keys.PREFIX, "admit", conn, session_id, member, where, worker, keys.rate(f"join:{person}"),
                limit, window_ms, event_id, participant or "", address]  # fmt: skip
        replies = await self._pipeline(session_id, args, participant, hand)
        if isinstance(replies[0], NoScriptError):  # the store restarted: its script cache is empty
            await self.r.script_load(self._presence.script)
            replies = await self._pipeline(session_id, args, participant, hand)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        verdict = replies[0]
        if verdict[0] == "rate_limited":
            retry = max(1, math.ceil(int(verdict[1]) / 1000))
            raise RateLimited(f"Too many requests; try again in {retry} s.", retry_after=retry)
        if verdict[0] == "banned":
            raise Forbidden("You were removed from this event by its moderators.")
        v, k = replies[1]
        admission = Admission(where=str(verdict[1]), position=None if v is None else (int(v), int(k or 0)))
        if not participant:
            return admission
        return Admission(
            where=admission.where,
            position=admission.position,
            name=str(replies[2] or ""),
            voted=sorted(replies[3]),
            hand=hand_from(*replies[4:7]) if hand else None,
        )
