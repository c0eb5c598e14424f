"""Bringing a store an older Podium wrote to the key layout of this one (keys.SCHEMA_VERSION),
once, when the first worker starts, before any worker uses it.

Layout 1 named a session's keys podium:ses:<id>... and an event's podium:ev:<id>...; layout 2
puts the id in a hash tag (podium:ses:{<id>}..., podium:ev:{<id>}...) so that a Cluster keeps
each on one slot. Each key is renamed (its value and expiry kept); what a running Podium of
layout 1 kept about its own workers and connections (presence, who holds what) is dropped:
those workers are stopped for an upgrade, and the sockets of the new ones count again from
nothing (each session's counts are logged again as its workers hold it). The version key is
written last, so a migration cut short runs again, from where it was, at the next start.

One worker migrates; the others wait for it (a lock that expires if it dies).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time

from redis.asyncio.cluster import RedisCluster

from server.store import keys
from server.store.connection import Client

logger = logging.getLogger(__name__)

LOCK_S = 30  # a migrating worker renews its lock at least this often
WAIT_S = 600.0  # how long another worker waits for a migration before giving up

_OLD_SESSION = re.compile(r"^" + re.escape(keys.PREFIX) + r"ses:([^{}:]+)(:.*)?$")
_OLD_EVENT = re.compile(r"^" + re.escape(keys.PREFIX) + r"ev:([^{}:]+)(:.*)?$")
# Layout 1's bookkeeping of its own workers and sockets: meaningless to layout 2.
_OLD_GONE = re.compile(
    r"^" + re.escape(keys.PREFIX) + r"(conn:.*|worker:[^{}:]+:(conns|wake)|ready:.*"
    r"|presence:dirty|stage:dirty|qa:votes:dirty|rx:dirty)$"
)
_PRESENCE_DIRTY = keys.PREFIX + "presence:dirty"
_STAGE_DIRTY = keys.PREFIX + "stage:dirty"


async def schema(client: Client) -> int:
    """The layout the store holds (1 for a store older than the version key, or a new one)."""
    return int(await client.get(keys.SCHEMA) or 1)


async def migrate(client: Client) -> int:
    """Bring the store to keys.SCHEMA_VERSION (or wait while another worker does); returns
    how many keys were renamed here."""
    deadline = time.monotonic() + WAIT_S
    while await schema(client) < keys.SCHEMA_VERSION:
        token = secrets.token_hex(8)
        if await client.set(keys.MIGRATING, token, nx=True, ex=LOCK_S):
            try:
                return await _migrate(client, token)
            finally:
                if await client.get(keys.MIGRATING) == token:
                    await client.delete(keys.MIGRATING)
        if time.monotonic() > deadline:
            raise RuntimeError("the store is being migrated by another worker for too long")
        await asyncio.sleep(0.2)
    return 0


async def _migrate(client: Client, token: str) -> int:
    version = await schema(client)
    if version >= keys.SCHEMA_VERSION:
        return 0  # another worker finished as this one took the lock
    renamed = await _to_2(client, token)
    await client.set(keys.SCHEMA, keys.SCHEMA_VERSION)
    if renamed:
        logger.warning("store migrated from key layout %d to %d: %d keys renamed", version, 2, renamed)
    return renamed


async def _to_2(client: Client, token: str) -> int:
    """Layout 1 -> 2: hash tags on session and event keys."""
    found = [str(k) async for k in client.scan_iter(match=f"{keys.PREFIX}*", count=1000)]
    dirty: dict[str, set[str]] = {}
    for key in (_PRESENCE_DIRTY, _STAGE_DIRTY):
        if key in found:
            dirty[key] = {str(s) for s in await client.smembers(key)}
    sessions: set[str] = set()
    renamed = 0
    for i, key in enumerate(found):
        if i % 500 == 0:
            await _hold(client, token)
        session, event = _OLD_SESSION.match(key), _OLD_EVENT.match(key)
        if session is not None:
            sessions.add(session.group(1))
            renamed += await _move(
                client, key, f"{keys.PREFIX}ses:{{{session.group(1)}}}{session.group(2) or ''}"
            )
        elif event is not None:
            renamed += await _move(client, key, f"{keys.PREFIX}ev:{{{event.group(1)}}}{event.group(2) or ''}")
        elif _OLD_GONE.match(key):
            await client.delete(key)
    for session_id in sessions:
        await _session_to_2(client, session_id, dirty)
    return renamed


async def _session_to_2(client: Client, session_id: str, dirty: dict[str, set[str]]) -> None:
    """A session's presence starts again from nothing (its counts are logged again: zero
    until the new workers' sockets join), and its lineup gets its speakers' backup recordings
    (layout 1 read them from the invites at every render)."""
    await client.delete(
        keys.presence_counts(session_id),
        keys.presence_members(session_id),
        keys.presence_where(session_id),
    )
    await client.set(keys.presence_dirty(session_id), "1")
    speakers = [str(s) for s in await client.hkeys(keys.lineup(session_id))]
    if speakers or session_id in dirty.get(_STAGE_DIRTY, set()):
        await client.set(keys.online_dirty(session_id), "1")
    for speaker in speakers:
        url = await client.hget(keys.invite(speaker), "backup_url")
        await client.hsetnx(keys.lineup_backups(session_id), speaker, str(url or ""))


async def _move(client: Client, old: str, new: str) -> int:
    """Rename a key, keeping its value and expiry (on a Cluster, where the two names are on
    different slots, by DUMP and RESTORE); 0 if it is gone meanwhile."""
    if not isinstance(client, RedisCluster):
        try:
            await client.rename(old, new)
        except Exception as exc:
            if "no such key" in str(exc).lower():
                return 0
            raise
        return 1
    dumped = await client.dump(old)
    if dumped is None:
        return 0
    ttl = await client.pttl(old)
    await client.restore(new, max(int(ttl), 0), dumped, replace=True)
    await client.delete(old)
    return 1


async def _hold(client: Client, token: str) -> None:
    """Renew the migration lock, which must still be this worker's."""
    if await client.get(keys.MIGRATING) != token:
        raise RuntimeError("lost the store migration's lock (another worker took over)")
    await client.expire(keys.MIGRATING, LOCK_S)
