"""Webhooks in Redis: each event's address and secret, the outbox every worker delivers from,
and the recent deliveries the organizer sees.

The outbox is one stream with one consumer group: a worker reads new entries with XREADGROUP,
so each is given to one worker; an entry stays pending until it was delivered or given up.
A failed attempt leaves it pending: any worker that finds it idle past its wait (XPENDING's
IDLE) takes it with XCLAIM's min-idle-time, which only one of them can win, and tries again.
A worker that dies mid-attempt leaves it pending too: it is tried again by another one."""

from __future__ import annotations

import json
import secrets
from typing import Any

from redis.exceptions import ResponseError

from server.domain import webhooks as wh
from server.store import keys, scripts
from server.store.connection import Client

OUTBOX_MAX = 100_000  # entries the outbox keeps at most (a receiver down for a day, a big day)


def new_secret() -> str:
    """A fresh signing secret."""
    return wh.SECRET_PREFIX + secrets.token_urlsafe(32)


class WebhookStore:
    """An event's webhook, its outbox entries and its recent deliveries."""

    def __init__(self, client: Client) -> None:
        self.r = client
        self._record = scripts.load(client, "webhook_record")

    # --- configuration -----------------------------------------------------------------

    async def get(self, event_id: str) -> dict[str, str]:
        """The event's webhook {url, secret, updated_at}, or {} if it has none."""
        return dict(await self.r.hgetall(keys.webhook(event_id)))

    async def set_url(self, event_id: str, url: str, now: int) -> str | None:
        """Set the address; returns the new secret if the webhook had none (shown once)."""
        fresh = new_secret()
        async with self.r.pipeline(transaction=True) as pipe:
            pipe.hsetnx(keys.webhook(event_id), "secret", fresh)
            pipe.hset(keys.webhook(event_id), mapping={"url": url, "updated_at": now})
            created, _ = await pipe.execute()
        return fresh if created else None

    async def rotate(self, event_id: str, now: int) -> str | None:
        """A new secret (the old one stops signing at once), or None without a webhook."""
        if not await self.r.hexists(keys.webhook(event_id), "url"):
            return None
        fresh = new_secret()
        await self.r.hset(keys.webhook(event_id), mapping={"secret": fresh, "updated_at": now})
        return fresh

    async def remove(self, event_id: str) -> None:
        """No webhook any more (deliveries pending are dropped when their turn comes)."""
        await self.r.delete(
            keys.webhook(event_id), keys.webhook_deliveries(event_id), keys.webhook_recent(event_id)
        )

    # --- the outbox ----------------------------------------------------------------------

    async def target(self, event_id: str) -> tuple[str, str]:
        """(the webhook's url or "", the event's time zone or "")."""
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.hget(keys.webhook(event_id), "url")
            pipe.hget(keys.event(event_id), "time_zone")
            url, zone = await pipe.execute()
        return str(url or ""), str(zone or "")

    async def enqueue(self, delivery_id: str, event_id: str, kind: str, body: str) -> str:
        """Put a delivery in the outbox; its stream id."""
        return str(
            await self.r.xadd(
                keys.WEBHOOK_OUTBOX,
                {"id": delivery_id, "event": event_id, "type": kind, "body": body},
                maxlen=OUTBOX_MAX,
                approximate=True,
            )
        )

    async def ensure_group(self) -> None:
        """The outbox and its consumer group exist (made by the first worker)."""
        try:
            await self.r.xgroup_create(keys.WEBHOOK_OUTBOX, keys.WEBHOOK_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def read_new(self, consumer: str, count: int, block_ms: int) -> list[tuple[str, dict[str, str]]]:
        """New deliveries given to this worker (blocking up to block_ms)."""
        try:
            reply = await self.r.xreadgroup(
                keys.WEBHOOK_GROUP, consumer, {keys.WEBHOOK_OUTBOX: ">"}, count=count, block=block_ms
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            await self.ensure_group()  # the store lost it (a restart without persistence)
            return []
        return [(str(i), dict(f)) for _stream, entries in reply or [] for i, f in entries]

    async def idle(self, min_idle_ms: int, count: int = 100) -> list[tuple[str, int, int]]:
        """Pending deliveries idle at least min_idle_ms: (stream id, idle ms, times tried)."""
        try:
            rows = await self.r.xpending_range(
                keys.WEBHOOK_OUTBOX, keys.WEBHOOK_GROUP, min="-", max="+", count=count, idle=min_idle_ms
            )
        except ResponseError as exc:
            if "NOGROUP" not in str(exc):
                raise
            return []  # nothing was ever queued (or the store lost it: the reader makes it again)
        return [
            (str(r["message_id"]), int(r["time_since_delivered"]), int(r["times_delivered"])) for r in rows
        ]

    async def claim(self, consumer: str, stream_id: str, min_idle_ms: int) -> dict[str, str] | None:
        """Take a pending delivery if it is still idle that long (one worker wins); its fields,
        or None (another worker took it, or it is gone)."""
        claimed = await self.r.xclaim(
            keys.WEBHOOK_OUTBOX, keys.WEBHOOK_GROUP, consumer, min_idle_ms, [stream_id]
        )
        for entry_id, fields in claimed or []:
            if fields:
                return dict(fields)
            await self.done(str(entry_id))  # trimmed away meanwhile: nothing left to send
        return None

    async def done(self, stream_id: str) -> None:
        """The delivery was made or given up: out of the outbox."""
        async with self.r.pipeline(transaction=False) as pipe:
            pipe.xack(keys.WEBHOOK_OUTBOX, keys.WEBHOOK_GROUP, stream_id)
            pipe.xdel(keys.WEBHOOK_OUTBOX, stream_id)
            await pipe.execute()

    # --- what the organizer sees -----------------------------------------------------------

    async def record(self, event_id: str, delivery: dict[str, Any], made_ms: int, keep: int) -> None:
        """Record a delivery's latest state among the event's recent ones."""
        await self._record(
            keys=[keys.webhook_deliveries(event_id), keys.webhook_recent(event_id)],
            args=[delivery["id"], json.dumps(delivery, ensure_ascii=False), made_ms, keep],
        )

    async def recent(self, event_id: str) -> list[dict[str, Any]]:
        """The event's recent deliveries, newest first."""
        ids = await self.r.zrevrange(keys.webhook_recent(event_id), 0, -1)
        if not ids:
            return []
        rows = await self.r.hmget(keys.webhook_deliveries(event_id), ids)
        return [json.loads(r) for r in rows if r]
