"""Health checks for load balancers: /healthz (process up), /readyz (store reachable, writable)."""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import web
from redis.exceptions import RedisClusterException, RedisError

from server import appkeys
from server.store import keys

logger = logging.getLogger(__name__)


async def healthz(request: web.Request) -> web.Response:
    """The process is up and serving."""
    return web.json_response({"ok": True})


async def readyz(request: web.Request) -> web.Response:
    """Redis answers and accepts a write within a second, and this worker hears the broadcast
    channel and reads the session logs; else 503, saying which part is missing."""
    app = request.app
    deaf = {
        "broadcasts": getattr(app[appkeys.SIO].manager, "deaf_since", None),
        "feed": app[appkeys.HUB].deaf_since,
    }
    r = request.app[appkeys.REDIS]
    key = f"{keys.PREFIX}ready:{request.app[appkeys.WORKER_ID]}"
    try:
        async with asyncio.timeout(1.0):
            await r.set(key, "1", ex=10)
            ok = await r.get(key) == "1"
    except (RedisError, RedisClusterException, TimeoutError, OSError) as exc:
        logger.warning("not ready: %s", exc)
        ok = False
    body: dict[str, object] = {"ok": ok}
    if not ok:
        body["store"] = "unreachable"
    now = time.monotonic()
    for part, since in deaf.items():
        if since is not None:
            body["ok"] = False
            body[f"deaf_{part}_s"] = round(now - since, 1)
    return web.json_response(body, status=200 if body["ok"] else 503)


def setup(app: web.Application) -> None:
    """Add the health routes."""
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
