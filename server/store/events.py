"""Events and sessions in Redis. Each session change bumps its version and is logged in the
session's feed in the same step (update_versioned.lua)."""

from __future__ import annotations

import json
import secrets
from dataclasses import replace

from server.domain.events import Event, Session, new_code
from server.errors import Conflict, NotFound
from server.store import keys, scripts
from server.store.connection import Client

PURGE_BATCH = 500  # keys a purge reads per SCAN step and unlinks per call


def new_id(nbytes: int = 16) -> str:
    """A random, URL-safe id (128 bits by default) that begins with a letter or a digit: one
    that began with "-" would be quoted as a formula in a CSV export, and no longer match."""
    while True:
        candidate = secrets.token_urlsafe(nbytes)
        if candidate[0].isalnum():
            return candidate


def _event_fields(event: Event) -> dict[str, str | int]:
    return {
        "id": event.id,
        "name": event.name,
        "code": event.code,
        "time_zone": event.time_zone,
        "languages": json.dumps(list(event.languages)),
        "created_at": event.created_at,
    }


def event_from(raw: dict[str, str]) -> Event:
    """An event from its stored hash."""
    return Event(
        id=raw["id"],
        name=raw["name"],
        code=raw["code"],
        time_zone=raw["time_zone"],
        languages=tuple(json.loads(raw["languages"])),
        created_at=int(raw["created_at"]),
    )


def _session_fields(session: Session) -> dict[str, str | int]:
    return {
        "id": session.id,
        "event_id": session.event_id,
        "title": session.title,
        "starts_at": session.starts_at,
        "ends_at": session.ends_at,
        "stream_url": session.stream_url,
    }


def session_from(raw: dict[str, str]) -> Session:
    """A session from its stored hash."""
    return Session(
        id=raw["id"],
        event_id=raw["event_id"],
        title=raw["title"],
        starts_at=int(raw["starts_at"]),
        ends_at=int(raw["ends_at"]),
        stream_url=raw.get("stream_url", ""),
        version=int(raw.get("v", 0)),
    )


def _info(session: Session, event: Event) -> list[str]:
    """The log entry of an edit: what every face shows of the session and its event."""
    data = {"session": session.public(event.time_zone), "event": event.public()}
    return ["info", json.dumps(data, ensure_ascii=False)]


def _end_keys(session_id: str) -> list[str]:
    """session_end.lua's KEYS: the session, its log, then what goes with it."""
    return [keys.session(session_id), keys.log(session_id), *keys.session_keys(session_id)]


class EventStore:
    """Create, read, change and delete events and their sessions."""

    def __init__(self, client: Client) -> None:
        self.r = client
        self._update = scripts.load(client, "update_versioned")
        self._end = scripts.load(client, "session_end")

    async def claim_code(self, code: str, event_id: str) -> bool:
        """Reserve a join code for event_id; False if another event holds it."""
        if await self.r.set(keys.code(code), event_id, nx=True):
            return True
        return bool(await self.r.get(keys.code(code)) == event_id)

    async def fresh_code(self, event_id: str) -> str:
        """A random join code no other event holds, already reserved."""
        for _ in range(50):
            code = new_code()
            if await self.claim_code(code, event_id):
                return code
        raise Conflict("Could not find a free join code; try again.")

    async def create_event(self, event: Event) -> Event:
        """Store a new event; its code must be free (it is claimed here if not yet)."""
        if not await self.claim_code(event.code, event.id):
            raise Conflict(f"The code {event.code} is taken by another event.", field="code")
        # The event, then the index that lists it (different slots: two steps, in this order).
        await self.r.hset(keys.event(event.id), mapping=_event_fields(event))
        await self.r.zadd(keys.EVENTS, {event.id: event.created_at})
        return event

    async def get_event(self, event_id: str) -> Event:
        """The event, or NotFound."""
        raw = await self.r.hgetall(keys.event(event_id))
        if not raw:
            raise NotFound("No such event.")
        return event_from(raw)

    async def event_by_code(self, code: str) -> Event:
        """The event a join code leads to, or NotFound."""
        event_id = await self.r.get(keys.code(code))
        if not event_id:
            raise NotFound("No event has this code. Check the code and try again.")
        return await self.get_event(event_id)

    async def list_events(self) -> list[Event]:
        """Every event, oldest first."""
        ids = await self.r.zrange(keys.EVENTS, 0, -1)
        if not ids:
            return []
        async with self.r.pipeline(transaction=False) as pipe:
            for event_id in ids:
                pipe.hgetall(keys.event(event_id))
            rows = await pipe.execute()
        return [event_from(raw) for raw in rows if raw]

    async def update_event(self, old: Event, new: Event) -> Event:
        """Store an event's changes; a new code is claimed first and the old one released."""
        if new.code != old.code and not await self.claim_code(new.code, new.id):
            raise Conflict(f"The code {new.code} is taken by another event.", field="code")
        await self.r.hset(keys.event(new.id), mapping=_event_fields(new))
        if new.code != old.code:
            await self.r.delete(keys.code(old.code))
        return new

    async def delete_event(self, event: Event) -> tuple[list[str], list[str]]:
        """Delete an event with its sessions and invites; returns (session ids, invite ids)."""
        session_ids = await self.r.zrange(keys.event_sessions(event.id), 0, -1)
        invite_ids = await self.r.zrange(keys.event_invites(event.id), 0, -1)
        for session_id in session_ids:
            await self._end(keys=_end_keys(session_id))
        # Keys of many owners (slots): one by one, the index that lists the event first.
        await self.r.zrem(keys.EVENTS, event.id)
        async with self.r.pipeline(transaction=False) as pipe:
            for invite_id in invite_ids:
                pipe.delete(keys.invite(invite_id))
            pipe.delete(keys.code(event.code))
            await pipe.execute()
        async with self.r.pipeline(transaction=True) as pipe:  # the event's own slot
            pipe.delete(keys.event_sessions(event.id), keys.event_invites(event.id), keys.event(event.id))
            await pipe.execute()
        return session_ids, invite_ids

    async def purge_session(self, session_id: str) -> int:
        """Remove what a deleted session left behind: its questions, votes, polls and their
        answers, presence, reactions, settings (session_end.lua removes the keys it can name;
        these are named by ids it does not know). All but the log, which expires by itself
        once its readers were told. Returns how many keys went."""
        return await self._purge(keys.session_pattern(session_id), keep=keys.log(session_id))

    async def purge_event(self, event_id: str) -> int:
        """Remove what a deleted event left behind: its webhook and its deliveries, its bans."""
        return await self._purge(keys.event_pattern(event_id))

    async def _purge(self, pattern: str, keep: str = "") -> int:
        gone = 0
        batch: list[str] = []
        async for key in self.r.scan_iter(match=pattern, count=PURGE_BATCH):
            if key != keep:
                batch.append(key)
            if len(batch) >= PURGE_BATCH:
                gone += await self.r.unlink(*batch)
                batch = []
        if batch:
            gone += await self.r.unlink(*batch)
        return gone

    async def create_session(self, session: Session) -> Session:
        """Store a new session of an existing event, at version 1."""
        # The session, then the event's index of it (different slots: two steps, in this order).
        fields = {**_session_fields(session), "v": 1, "lk": 0, "qpend": 0, "qdecl": 0}
        await self.r.hset(keys.session(session.id), mapping=fields)
        await self.r.zadd(keys.event_sessions(session.event_id), {session.id: session.starts_at})
        return replace(session, version=1)

    async def get_session(self, session_id: str) -> Session:
        """The session, or NotFound."""
        raw = await self.r.hgetall(keys.session(session_id))
        if not raw:
            raise NotFound("No such session.")
        return session_from(raw)

    async def list_sessions(self, event_id: str) -> list[Session]:
        """An event's sessions in order of their start."""
        ids = await self.r.zrange(keys.event_sessions(event_id), 0, -1)
        if not ids:
            return []
        async with self.r.pipeline(transaction=False) as pipe:
            for session_id in ids:
                pipe.hgetall(keys.session(session_id))
            rows = await pipe.execute()
        return [session_from(raw) for raw in rows if raw]

    async def session_ids(self, event_id: str) -> list[str]:
        """The ids of an event's sessions."""
        return [str(s) for s in await self.r.zrange(keys.event_sessions(event_id), 0, -1)]

    async def update_session(self, session: Session, event: Event) -> Session:
        """Store a session's changes, bump its version and log its new public view, in one step."""
        flat: list[str | int] = []
        for field, value in _session_fields(session).items():
            flat += [field, value]
        version = int(
            await self._update(
                keys=[keys.session(session.id), keys.log(session.id)], args=[*_info(session, event), *flat]
            )
        )
        if not version:
            raise NotFound("No such session.")
        await self.r.zadd(keys.event_sessions(session.event_id), {session.id: session.starts_at})
        return replace(session, version=version)

    async def log_info(self, session: Session, event: Event) -> int:
        """Log a session's public view again (its event changed); the new version, 0 if gone."""
        return int(
            await self._update(
                keys=[keys.session(session.id), keys.log(session.id)], args=_info(session, event)
            )
        )

    async def delete_session(self, session: Session) -> None:
        """Delete a session (its invites are revoked by the caller); its log says so last."""
        await self._end(keys=_end_keys(session.id))
        await self.r.zrem(keys.event_sessions(session.event_id), session.id)
