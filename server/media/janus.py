"""A small client of Janus's HTTP API and its VideoRoom plugin, used by each worker.

One Janus session per worker, kept alive by its own long poll; a handle per publishing or
subscribing browser. Synchronous plugin requests (create, exists, allowed,
listparticipants, destroy) answer in the POST; asynchronous ones (joinandconfigure, join,
start) are acknowledged and their result arrives on the long poll, matched by transaction.
If Janus restarts, the session is gone (error 458): a new one is made on the next request,
and browsers, whose connections then fail, publish or subscribe again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any

import aiohttp

logger = logging.getLogger(__name__)

VIDEOROOM = "janus.plugin.videoroom"
REQUEST_TIMEOUT_S = 10.0
POLL_TIMEOUT_S = 40.0  # Janus holds a long poll for 30 s
NO_SUCH_SESSION = 458
NO_SUCH_HANDLE = 459
# VideoRoom error codes (janus_videoroom.c)
NO_SUCH_ROOM = 426
ROOM_EXISTS = 427
NO_SUCH_FEED = 428
UNAUTHORIZED = 433


class JanusError(Exception):
    """Janus refused a request (its code and reason), or could not be reached (code 0)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"janus {code}: {reason}")
        self.code = code
        self.reason = reason


class Janus:
    """One worker's session with one Janus server."""

    def __init__(self, url: str, api_secret: str = "") -> None:
        self.url = url.rstrip("/")
        self.api_secret = api_secret
        self.http: aiohttp.ClientSession | None = None
        self.session: int | None = None
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.poller: asyncio.Task[None] | None = None
        self.lock = asyncio.Lock()

    async def start(self) -> None:
        """Open the HTTP client (the Janus session itself is made on first use)."""
        self.http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S))

    async def close(self) -> None:
        """Destroy the Janus session (its handles go with it) and stop polling."""
        if self.poller is not None:
            self.poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.poller
        if self.session is not None and self.http is not None:
            with contextlib.suppress(Exception):
                await self._post(f"/{self.session}", {"janus": "destroy"})
        self.session = None
        if self.http is not None:
            await self.http.close()

    # --- the transport ----------------------------------------------------------------------

    async def _post(self, path: str, body: dict[str, Any], transaction: str = "") -> dict[str, Any]:
        assert self.http is not None, "Janus.start() first"
        body = {**body, "transaction": transaction or secrets.token_hex(8)}
        if self.api_secret:
            body["apisecret"] = self.api_secret
        try:
            async with self.http.post(self.url + path, json=body) as response:
                reply: dict[str, Any] = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise JanusError(0, f"unreachable: {exc!r}") from exc
        if reply.get("janus") == "error":
            error = reply.get("error", {})
            raise JanusError(int(error.get("code", 0)), str(error.get("reason", "")))
        return reply

    async def _session(self) -> int:
        async with self.lock:
            if self.session is None:
                reply = await self._post("", {"janus": "create"})
                self.session = int(reply["data"]["id"])
                self.poller = asyncio.create_task(self._poll(self.session), name="janus poll")
            return self.session

    async def _poll(self, session: int) -> None:
        """The long poll: it keeps the session alive and brings the plugins' events."""
        assert self.http is not None
        params = {"maxev": "10", **({"apisecret": self.api_secret} if self.api_secret else {})}
        failures = 0
        while self.session == session:
            try:
                async with self.http.get(
                    f"{self.url}/{session}",
                    params=params,
                    timeout=aiohttp.ClientTimeout(total=POLL_TIMEOUT_S),
                ) as response:
                    reply = await response.json(content_type=None)
                failures = 0
            except (aiohttp.ClientError, TimeoutError, ValueError):
                failures += 1
                await asyncio.sleep(min(5.0, 0.2 * 2**failures))
                continue
            for event in reply if isinstance(reply, list) else [reply]:
                if not isinstance(event, dict):  # an empty answer from a Janus going down
                    continue
                if event.get("janus") == "error" and event.get("error", {}).get("code") == NO_SUCH_SESSION:
                    logger.warning("the Janus session expired (Janus restarted?); a new one on next use")
                    self._lost(session)
                    return
                future = self.waiting.get(str(event.get("transaction", "")))
                if future is not None and not future.done() and event.get("janus") != "ack":
                    future.set_result(event)

    def _lost(self, session: int) -> None:
        if self.session == session:
            self.session = None
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(JanusError(NO_SUCH_SESSION, "Janus session lost"))

    async def _call(self, path: str, body: dict[str, Any], transaction: str = "") -> dict[str, Any]:
        try:
            return await self._post(path, body, transaction)
        except JanusError as exc:
            if exc.code == NO_SUCH_SESSION and self.session is not None:
                self._lost(self.session)
            raise

    # --- handles and plugin requests ----------------------------------------------------------

    async def attach(self) -> int:
        """A new VideoRoom handle in this worker's session."""
        session = await self._session()
        reply = await self._call(f"/{session}", {"janus": "attach", "plugin": VIDEOROOM})
        return int(reply["data"]["id"])

    async def detach(self, handle: int) -> None:
        """End a handle (its publisher leaves, or its subscription ends); gone already is fine."""
        if self.session is None:
            return
        with contextlib.suppress(JanusError):
            await self._call(f"/{self.session}/{handle}", {"janus": "detach"})

    async def request(self, handle: int, body: dict[str, Any]) -> dict[str, Any]:
        """A synchronous VideoRoom request; its `plugindata.data`, or JanusError."""
        session = await self._session()
        reply = await self._call(f"/{session}/{handle}", {"janus": "message", "body": body})
        return _plugin_data(reply)

    async def message(
        self, handle: int, body: dict[str, Any], jsep: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """An asynchronous VideoRoom request: (its event's data, its JSEP if any)."""
        session = await self._session()
        transaction = secrets.token_hex(8)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[transaction] = future
        payload: dict[str, Any] = {"janus": "message", "body": body}
        if jsep is not None:
            payload["jsep"] = jsep
        try:
            reply = await self._call(f"/{session}/{handle}", payload, transaction)
            # Acknowledged now, answered on the long poll (unless Janus answered at once).
            event = (
                reply if reply.get("janus") != "ack" else await asyncio.wait_for(future, REQUEST_TIMEOUT_S)
            )
        except TimeoutError as exc:
            raise JanusError(0, "no answer from Janus") from exc
        finally:
            self.waiting.pop(transaction, None)
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: a lost session may have failed it unawaited
        return _plugin_data(event), event.get("jsep")


def _plugin_data(reply: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = reply.get("plugindata", {}).get("data", {})
    if "error_code" in data:
        raise JanusError(int(data["error_code"]), str(data.get("error", "")))
    return data
