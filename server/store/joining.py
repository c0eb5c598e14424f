"""A join in two round trips: its admission (the person's join rate, a ban from the event), then
the presence count (presence.lua) with everything the joiner's own snapshot needs, pipelined.

The rate, the ban and the count are keys of different owners (a person, the event, the
session), on different shards of a Cluster: they are read and written in two steps, the
second only once the first let the person in. A ban that lands between the two is caught by
the access sweep (server/realtime/guard.py) within seconds."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from redis.exceptions import NoScriptError

from server.errors import Forbidden, RateLimited
from server.store import keys, scripts
from server.store.backstage import hand_from, queue_my_hand
from server.store.connection import Client, fleeting
from server.store.pending import Pending
from server.store.presence import PresenceStore


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
    """Admit a socket into a session and read what its snapshot needs."""

    def __init__(self, client: Client, pending: Pending | None = None) -> None:
        self.r = fleeting(client)  # presence and reads: no WAIT for replicas
        self.presence = PresenceStore(self.r, pending)
        self._rate = scripts.load(self.r, "ratelimit")

    async def _check(
        self, *, person: str, limit: int, window_ms: int, event_id: str, participant: str | None, address: str
    ) -> list[Any]:
        async with self.r.pipeline(transaction=False) as pipe:
            # EVALSHA by hand: a pipeline given a Script object asks SCRIPT EXISTS first (and
            # a Cluster pipeline has no evalsha(); its execute_command routes it by its KEYS).
            pipe.execute_command("EVALSHA", self._rate.sha, 1, keys.rate(f"join:{person}"), limit, window_ms)
            if participant:
                pipe.sismember(keys.banned(event_id), participant)
                pipe.hget(keys.banned_addresses(event_id), address)
                pipe.hget(keys.participant(participant), "created_at")
            return list(await pipe.execute(raise_on_error=False))

    async def _count(
        self, *, session_id: str, presence_args: list[Any], worker: str, participant: str | None, hand: bool,
        address: str,
    ) -> list[Any]:  # fmt: skip
        async with self.r.pipeline(transaction=False) as pipe:
            presence = keys.presence_keys(session_id, worker)
            pipe.execute_command(
                "EVALSHA", self.presence.script.sha, len(presence), *presence, *presence_args
            )
            pipe.hmget(keys.session(session_id), ["v", "lk"])
            if participant:
                pipe.hget(keys.participant(participant), "name")
                pipe.smembers(keys.voted(session_id, participant))
                if hand:
                    queue_my_hand(pipe, session_id, participant)
                pipe.hset(keys.participant(participant), "addr", address)
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
        previous: str | None = None,
    ) -> Admission:
        """Count conn in the session (and out of `previous`, the session it was in) unless the
        person joins too often (RateLimited) or is banned from the event (Forbidden); a
        refused join changes nothing else."""
        check = partial(
            self._check, person=person, limit=limit, window_ms=window_ms, event_id=event_id,
            participant=participant, address=address,
        )  # fmt: skip
        checks = await check()
        if isinstance(checks[0], NoScriptError):
            await self.r.script_load(self._rate.script)  # the store restarted: its cache is empty
            checks = await check()
        for reply in checks:
            if isinstance(reply, Exception):
                raise reply
        allowed, ttl = checks[0]
        if not int(allowed):
            retry = max(1, math.ceil(int(ttl) / 1000))
            raise RateLimited(f"Too many requests; try again in {retry} s.", retry_after=retry)
        if participant:
            by_id, since, first = checks[1:4]
            # A new identity made after its address was banned is the banned person again;
            # people already known behind that address (a hall's shared one) keep their place.
            if by_id or (since is not None and int(first or 0) >= int(since)):
                raise Forbidden("You were removed from this event by its moderators.")

        await self.presence.register(worker, session_id)
        args = ["join", conn, member, where, worker]
        count = partial(
            self._count, session_id=session_id, presence_args=args, worker=worker,
            participant=participant, hand=hand, address=address,
        )  # fmt: skip
        replies = await count()
        if isinstance(replies[0], NoScriptError):
            await self.r.script_load(self.presence.script.script)
            replies = await count()
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        counted = list(replies[0])
        self.presence.noted(session_id, counted)
        if previous and previous != session_id:
            await self.presence.leave(conn, previous, worker)
        v, k = replies[1]
        admission = Admission(where=str(counted[0]), position=None if v is None else (int(v), int(k or 0)))
        if not participant:
            return admission
        return Admission(
            where=admission.where,
            position=admission.position,
            name=str(replies[2] or ""),
            voted=sorted(replies[3]),
            hand=hand_from(*replies[4:7]) if hand else None,
        )
