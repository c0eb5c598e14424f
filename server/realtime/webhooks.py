"""Webhooks out of Podium: `emit` puts a delivery in the outbox (never waits for a receiver);
each worker's loops deliver from it, signed with the event's secret, and try a failed one
again after each wait of `webhooks.backoff_s` (server/store/webhooks.py says how one worker
gets each). The polls call `await app[appkeys.WEBHOOKS].emit(event_id, "poll.closed", {...})`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from redis.exceptions import RedisClusterException, RedisError

from server import appkeys
from server.domain import events as ev
from server.domain import webhooks as wh
from server.realtime.ticker import Ticker
from server.store.connection import dedicated
from server.store.events import new_id
from server.store.webhooks import WebhookStore

logger = logging.getLogger(__name__)

READ_BLOCK_MS = 1000
IN_FLIGHT = 16  # attempts one worker makes at once (a slow receiver holds one each)


class Refused(Exception):
    """The webhook's address is not one Podium may connect to."""


class GuardedResolver(AbstractResolver):
    """Resolves a webhook's host and refuses it if any address it names is private: checked
    where the connection is made, so a name that changes what it resolves to (DNS rebinding)
    cannot slip past a check made earlier."""

    def __init__(self, allow_private: bool) -> None:
        self._inner = ThreadedResolver()
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        for item in found:
            if not wh.address_allowed(item["host"], self.allow_private):
                raise Refused(f"{host} resolves to a private address")
        return found

    async def close(self) -> None:
        await self._inner.close()


class Webhooks:
    """One worker's webhooks: emit, and the loops that deliver (app[appkeys.WEBHOOKS])."""

    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.settings = app[appkeys.SETTINGS]
        self.store = WebhookStore(app[appkeys.REDIS])
        self.worker = app[appkeys.WORKER_ID]
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._attempts: set[asyncio.Task[None]] = set()
        self._http: aiohttp.ClientSession | None = None

    async def emit(self, event_id: str, kind: str, data: dict[str, Any]) -> str | None:
        """Queue a delivery of `kind` for the event's webhook, if it has one; its id. Never
        raises: a webhook must not fail the action that caused it (the failure is logged)."""
        try:
            url, zone = await self.store.target(event_id)
            if not url:
                return None
            delivery_id = new_id()
            created = ev.local_iso(int(time.time()), zone or "UTC")
            await self.store.enqueue(
                delivery_id, event_id, kind, wh.body(delivery_id, kind, event_id, created, data)
            )
            return delivery_id
        except (RedisError, RedisClusterException, OSError, ValueError):
            logger.exception("webhook %s for event %s not queued", kind, event_id)
            return None

    # --- delivering ------------------------------------------------------------------------

    async def run(self) -> AsyncIterator[None]:
        """The delivery loops, for the app's cleanup context."""
        connector = aiohttp.TCPConnector(resolver=GuardedResolver(self.settings.webhooks_allow_private))
        self._http = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.settings.webhooks_timeout_s),
            headers={"User-Agent": "Podium-Webhooks/1"},
        )
        reader = dedicated(self.settings.redis_url, name="podium-webhooks", socket_timeout=None)
        self._reader = WebhookStore(reader)
        stop = asyncio.Event()
        ticks = Ticker()
        ticks.every(min(1.0, self.settings.webhook_backoff[0] / 2), "webhook retries", self.retry_once)
        consumer = asyncio.create_task(self._consume(stop), name="webhook outbox")
        try:
            yield
        finally:
            stop.set()
            # Not waited for: it may be blocked in a read for up to READ_BLOCK_MS. Whatever it
            # read and did not start stays pending in the group: another worker takes it.
            consumer.cancel()
            await ticks.stop(grace=2)
            await asyncio.wait([consumer], timeout=1)
            for task in list(self._attempts):
                task.cancel()  # left pending in the outbox: another worker tries it again
            if self._attempts:
                await asyncio.wait(self._attempts, timeout=1)
            await self._http.close()
            await reader.aclose()

    async def _consume(self, stop: asyncio.Event) -> None:
        failing = False
        while not stop.is_set():
            try:
                await self._reader.ensure_group()
                while not stop.is_set():
                    for stream_id, fields in await self._reader.read_new(
                        self.worker, IN_FLIGHT, READ_BLOCK_MS
                    ):
                        await self._start(stream_id, fields, 1)
                    failing = False
            except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
                if not failing:
                    logger.warning("webhook outbox unreadable: %s; retrying", exc or type(exc).__name__)
                failing = True
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)

    async def retry_once(self) -> int:
        """Take the deliveries whose wait is over (each by one worker) and try them again;
        returns how many this worker took."""
        backoff, timeout = self.settings.webhook_backoff, self.settings.webhooks_timeout_s
        shortest = min(wh.due_after_ms(n, backoff, timeout) for n in range(1, len(backoff) + 1))
        taken = 0
        for stream_id, idle, made in await self.store.idle(shortest):
            due = wh.due_after_ms(made, backoff, timeout)
            if idle < due:
                continue
            fields = await self.store.claim(self.worker, stream_id, due)
            if fields is None:
                continue
            taken += 1
            await self._start(stream_id, fields, made + 1)
        return taken

    async def _start(self, stream_id: str, fields: dict[str, str], attempt: int) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._attempt(stream_id, fields, attempt))
        self._attempts.add(task)
        task.add_done_callback(self._attempts.discard)
        task.add_done_callback(lambda _t: self._slots.release())

    async def _attempt(self, stream_id: str, fields: dict[str, str], attempt: int) -> None:
        try:
            await self._deliver(stream_id, fields, attempt)
        except (RedisError, RedisClusterException, OSError) as exc:
            logger.warning("webhook delivery %s: store trouble (%s); it stays pending", stream_id, exc)
        except Exception:
            logger.exception("webhook delivery %s failed", stream_id)

    async def _deliver(self, stream_id: str, fields: dict[str, str], attempt: int) -> None:
        event_id, kind, delivery_id = fields.get("event", ""), fields.get("type", ""), fields.get("id", "")
        made_ms = int(stream_id.split("-", maxsplit=1)[0])
        hook = await self.store.get(event_id)
        record: dict[str, Any] = {"id": delivery_id, "type": kind, "attempts": attempt, "made_ms": made_ms}
        if not hook.get("url") or not hook.get("secret"):
            await self.store.done(stream_id)  # the webhook was removed meanwhile
            return
        body = fields.get("body", "").encode()
        status, error = await self._post(hook["url"], hook["secret"], body, delivery_id, kind)
        max_attempts = wh.attempts(self.settings.webhook_backoff)
        if status is not None and wh.ok_status(status):
            outcome = "delivered"
        elif attempt >= max_attempts or error == "refused":
            outcome = "failed"
        else:
            outcome = "retrying"
        at_ms = int(time.time() * 1000)
        record.update(status=outcome, code=status, error=error, at_ms=at_ms)
        if outcome == "retrying":
            due = wh.due_after_ms(attempt, self.settings.webhook_backoff, self.settings.webhooks_timeout_s)
            record["next_ms"] = at_ms + due
        await self.store.record(event_id, record, made_ms, self.settings.webhooks_keep)
        if outcome != "retrying":
            await self.store.done(stream_id)
        logger.info(
            "webhook %s %s to event %s: %s (%s, attempt %d)",
            kind,
            delivery_id,
            event_id,
            outcome,
            status or error,
            attempt,
        )

    async def _post(
        self, url: str, secret: str, body: bytes, delivery_id: str, kind: str
    ) -> tuple[int | None, str]:
        """One attempt: (HTTP status or None, "" or why it failed)."""
        assert self._http is not None
        literal = wh.literal_address(url)
        if literal is not None and not wh.address_allowed(literal, self.settings.webhooks_allow_private):
            return None, "refused"
        headers = {
            "Content-Type": "application/json",
            wh.SIGNATURE_HEADER: wh.sign(secret, int(time.time()), body),
            wh.ID_HEADER: delivery_id,
            wh.TYPE_HEADER: kind,
        }
        try:
            async with self._http.post(url, data=body, headers=headers, allow_redirects=False) as response:
                await response.read()
                return response.status, "" if wh.ok_status(response.status) else f"HTTP {response.status}"
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, Refused) or isinstance(exc.__cause__, Refused):
                return None, "refused"
            return None, str(exc)[: wh.ERROR_MAX]
        except Refused:
            return None, "refused"
        except TimeoutError:
            return None, "timeout"
        except aiohttp.ClientError as exc:
            return None, (str(exc) or type(exc).__name__)[: wh.ERROR_MAX]


async def session_status(app: web.Application, event_id: str, session_id: str, status: str) -> None:
    """session.started / session.ended, when the stage's status became live / ended."""
    kind = "session.started" if status == "live" else "session.ended"
    try:
        session = await app[appkeys.EVENTS].get_session(session_id)
        title = session.title
    except Exception:  # deleted meanwhile: the id says enough
        title = ""
    await app[appkeys.WEBHOOKS].emit(
        event_id, kind, {"session": {"id": session_id, "title": title}, "status": status}
    )


async def question_approved(
    app: web.Application, event_id: str, session_id: str, question: dict[str, Any]
) -> None:
    """question.approved, when a moderator approved a question (its public view: no author id)."""
    data = {
        "session": {"id": session_id},
        "question": {
            "id": question["id"],
            "text": question["text"],
            "name": "" if question["anon"] else question["name"],
            "anonymous": question["anon"],
            "language": question["lang"],
            "votes": question["votes"],
        },
    }
    await app[appkeys.WEBHOOKS].emit(event_id, "question.approved", data)
