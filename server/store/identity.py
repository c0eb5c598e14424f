"""Invite links, audience participants and the signing secret, in Redis."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from server.errors import NotFound
from server.store import keys
from server.store.connection import Client

ROOT_EVENT = ""  # an invite with no event: the start-up organizer, over every event


@dataclass(frozen=True)
class Invite:
    """A private link that grants one role in one event (or one session of it)."""

    id: str
    role: str
    event_id: str  # ROOT_EVENT for the start-up organizer
    session_id: str  # "" for the whole event
    label: str
    created_at: int
    expires_at: int
    revoked: bool
    backup_url: str = ""  # a speaker's recorded talk, played if their connection fails

    def public(self) -> dict[str, Any]:
        """The organizer's view (without the token, which is shown only once)."""
        return {
            "id": self.id,
            "role": self.role,
            "event_id": self.event_id or None,
            "session_id": self.session_id or None,
            "label": self.label,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked": self.revoked,
            "backup_url": self.backup_url or None,
        }


@dataclass(frozen=True)
class InviteState:
    """What an open socket's powers depend on: the grant, its expiry, its revocation."""

    role: str
    event_id: str
    session_id: str
    expires_at: int
    revoked: bool


def _invite_from(raw: dict[str, str]) -> Invite:
    return Invite(
        id=raw["id"],
        role=raw["role"],
        event_id=raw.get("event_id", ""),
        session_id=raw.get("session_id", ""),
        label=raw.get("label", ""),
        created_at=int(raw["created_at"]),
        expires_at=int(raw["expires_at"]),
        revoked=raw.get("revoked") == "1",
        backup_url=raw.get("backup_url", ""),
    )


class IdentityStore:
    """Invites, participants and the secret every worker signs with."""

    def __init__(self, client: Client) -> None:
        self.r = client

    async def secret(self) -> str:
        """The shared signing secret, made once and kept (every worker gets the same)."""
        await self.r.set(keys.SECRET, secrets.token_urlsafe(48), nx=True)
        value = await self.r.get(keys.SECRET)
        assert value
        return str(value)

    async def create_invite(self, invite: Invite) -> Invite:
        """Store a new invite; it lives a day past its expiry, for the organizer's list."""
        fields = {
            "id": invite.id,
            "role": invite.role,
            "event_id": invite.event_id,
            "session_id": invite.session_id,
            "label": invite.label,
            "created_at": invite.created_at,
            "expires_at": invite.expires_at,
            "revoked": "1" if invite.revoked else "0",
        }
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hset(keys.invite(invite.id), mapping=fields)
            pipe.expireat(keys.invite(invite.id), invite.expires_at + 86400)
            await pipe.execute()
        if invite.event_id:  # the event's index of it, on the event's slot: after the invite
            await self.r.zadd(keys.event_invites(invite.event_id), {invite.id: invite.created_at})
        return invite

    async def get_invite(self, invite_id: str) -> Invite:
        """The invite, or NotFound."""
        raw = await self.r.hgetall(keys.invite(invite_id))
        if not raw:
            raise NotFound("No such invite.")
        return _invite_from(raw)

    async def list_invites(self, event_id: str) -> list[Invite]:
        """An event's invites, oldest first (expired ones drop out a day after expiry)."""
        ids = await self.r.zrange(keys.event_invites(event_id), 0, -1)
        if not ids:
            return []
        async with self.r.pipeline(transaction=False) as pipe:
            for invite_id in ids:
                pipe.hgetall(keys.invite(invite_id))
            rows = await pipe.execute()
        gone = [i for i, raw in zip(ids, rows, strict=True) if not raw]
        if gone:
            await self.r.zrem(keys.event_invites(event_id), *gone)
        return [_invite_from(raw) for raw in rows if raw]

    async def revoke_invite(self, invite_id: str) -> None:
        """Mark an invite revoked: its token stops working at the next check."""
        if not await self.r.exists(keys.invite(invite_id)):
            raise NotFound("No such invite.")
        await self.r.hset(keys.invite(invite_id), "revoked", "1")

    async def invite_states(self, invite_ids: list[str]) -> dict[str, InviteState | None]:
        """Whether each invite still grants what it granted (None: it no longer exists), in
        one round trip: what open sockets are checked against."""
        async with self.r.pipeline(transaction=False) as pipe:
            for invite_id in invite_ids:
                pipe.hmget(
                    keys.invite(invite_id), ["role", "event_id", "session_id", "expires_at", "revoked"]
                )
            rows = await pipe.execute()
        out: dict[str, InviteState | None] = {}
        for invite_id, (role, event_id, session_id, expires_at, revoked) in zip(
            invite_ids, rows, strict=True
        ):
            out[invite_id] = (
                None
                if role is None
                else InviteState(role, event_id or "", session_id or "", int(expires_at or 0), revoked == "1")
            )
        return out

    async def set_backup_url(self, invite_id: str, url: str) -> None:
        """Attach (or with "" remove) a speaker's backup recording."""
        if not await self.r.exists(keys.invite(invite_id)):
            raise NotFound("No such invite.")
        await self.r.hset(keys.invite(invite_id), "backup_url", url)

    async def backup_urls(self, invite_ids: list[str]) -> dict[str, str]:
        """The backup recordings of these speakers (those that have one)."""
        if not invite_ids:
            return {}
        async with self.r.pipeline(transaction=False) as pipe:
            for invite_id in invite_ids:
                pipe.hget(keys.invite(invite_id), "backup_url")
            rows = await pipe.execute()
        return {i: str(url) for i, url in zip(invite_ids, rows, strict=True) if url}

    async def touch_participant(self, participant_id: str, now: int, name: str | None = None) -> str:
        """Record an audience member (and their display name); returns the name."""
        key = keys.participant(participant_id)
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hsetnx(key, "created_at", now)
            if name is not None:
                pipe.hset(key, "name", name)
            pipe.hget(key, "name")
            pipe.expire(key, 400 * 86400)
            result = await pipe.execute()
        return str(result[-2] or "")

    async def record_address(self, participant_id: str, address: str) -> int:
        """Remember a keyed hash of the address a participant last came from (for bans);
        returns when they were first seen (0 if unknown)."""
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.hset(keys.participant(participant_id), "addr", address)
            pipe.hget(keys.participant(participant_id), "created_at")
            _, created = await pipe.execute()
        return int(created or 0)

    async def participant_info(self, participant_id: str) -> tuple[int, str]:
        """(first seen, address hash) of a participant; (0, "") if unknown."""
        created, addr = await self.r.hmget(keys.participant(participant_id), ["created_at", "addr"])
        return int(created or 0), str(addr or "")

    async def ban(self, event_id: str, participant_id: str, address: str, now: int) -> None:
        """Ban a person from an event: their id, and new identities from their address."""
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.sadd(keys.banned(event_id), participant_id)
            if address:
                pipe.hset(keys.banned_addresses(event_id), address, now)
            await pipe.execute()

    async def is_banned(self, event_id: str, participant_id: str, address: str, first_seen: int) -> bool:
        """Banned by id; or a new identity (made after the ban) from a banned address.

        Identities that existed before the ban keep their place even behind the same
        address: a hall shares one public address, and a ban must not empty the hall.
        """
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.sismember(keys.banned(event_id), participant_id)
            pipe.hget(keys.banned_addresses(event_id), address or "-")
            by_id, since = await pipe.execute()
        if by_id:
            return True
        return bool(since) and first_seen >= int(since)

    async def ban_counts(self, event_ids: list[str]) -> list[int]:
        """How many people each event has banned (bans only grow: a change means a new one)."""
        async with self.r.pipeline(transaction=False) as pipe:
            for event_id in event_ids:
                pipe.scard(keys.banned(event_id))
            return [int(n) for n in await pipe.execute()]

    async def banned_ids(self, event_id: str) -> set[str]:
        """The participant ids banned from an event."""
        return {str(m) for m in await self.r.smembers(keys.banned(event_id))}

    async def participant_name(self, participant_id: str) -> str:
        """An audience member's display name ("" when they gave none)."""
        return str(await self.r.hget(keys.participant(participant_id), "name") or "")

    async def participant_names(self, participant_ids: list[str]) -> list[str]:
        """Several audience members' display names at once, in order ("" for none given)."""
        if not participant_ids:
            return []
        async with self.r.pipeline(transaction=False) as pipe:
            for participant_id in participant_ids:
                pipe.hget(keys.participant(participant_id), "name")
            names = await pipe.execute()
        return [str(name or "") for name in names]
