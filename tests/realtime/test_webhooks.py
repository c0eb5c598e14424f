"""Webhooks (issue 12): an organizer sets an event's address and gets its secret once; stage
and Q&A changes are delivered signed, by one worker, retried with backoff, never holding up
the action that caused them; the recent deliveries are listed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from server import appkeys
from server.domain import webhooks as wh
from server.store import keys
from tests.conftest import Api, Running, World, free_port, moderator, person


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    # Loopback receivers (the tests'), and short waits: retried after ~0.6 s each.
    return {"webhooks_allow_private": True, "webhooks_timeout_s": 0.5, "webhooks_backoff_s": ("0.1", "0.1")}


@dataclass
class Receiver:
    """A real HTTP server on 127.0.0.1 that records what it is sent."""

    url: str
    got: list[dict[str, Any]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # statuses to answer with, in turn (then 200)
    delay: float = 0.0

    async def wait(self, n: int, timeout: float = 10) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.got) < n:
            assert time.monotonic() < deadline, f"got {len(self.got)} of {n}: {self.got}"
            await asyncio.sleep(0.05)
        return self.got


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    box = Receiver(url=f"http://127.0.0.1:{port}/hook")

    async def hook(request: web.Request) -> web.Response:
        raw = await request.read()
        box.got.append({"headers": dict(request.headers), "raw": raw, "body": json.loads(raw)})
        if box.delay:
            await asyncio.sleep(box.delay)
        status = box.answers.pop(0) if box.answers else 200
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield box
    await runner.cleanup()


async def configure(org: Api, world: World, url: str) -> str:
    data = await org.ok("PUT", f"/api/events/{world.event['id']}/webhook", {"url": url})
    assert data["webhook"]["url"] == url
    return str(data["secret"])


async def test_deliveries_are_signed_with_the_events_secret_and_listed(
    server: Running, world: World, org: Api, receiver: Receiver
) -> None:
    secret = await configure(org, world, receiver.url)
    again = await org.ok("PUT", f"/api/events/{world.event['id']}/webhook", {"url": receiver.url})
    assert "secret" not in again  # shown once
    mod = await moderator(server, world)
    assert (await mod.call("stage:status", {"session": world.session, "status": "live"}))["ok"]
    got = await receiver.wait(1)
    first = got[0]
    assert first["body"]["type"] == "session.started"
    assert first["body"]["data"]["session"]["id"] == world.session
    assert first["body"]["created_at"].endswith("+08:00")
    headers = first["headers"]
    assert headers[wh.ID_HEADER] == first["body"]["id"]
    assert headers[wh.TYPE_HEADER] == "session.started"
    assert wh.verify(secret, headers[wh.SIGNATURE_HEADER], first["raw"], int(time.time()))
    assert not wh.verify("whsec_other", headers[wh.SIGNATURE_HEADER], first["raw"], int(time.time()))
    # A rotated secret signs what follows.
    rotated = (await org.ok("POST", f"/api/events/{world.event['id']}/webhook/secret"))["secret"]
    assert rotated != secret
    await mod.call("stage:status", {"session": world.session, "status": "ended"})
    second = (await receiver.wait(2))[1]
    assert second["body"]["type"] == "session.ended"
    assert wh.verify(rotated, second["headers"][wh.SIGNATURE_HEADER], second["raw"], int(time.time()))
    for _ in range(40):
        listed = (await org.ok("GET", f"/api/events/{world.event['id']}/webhook"))["deliveries"]
        if len(listed) == 2 and all(d["status"] == "delivered" for d in listed):
            break
        await asyncio.sleep(0.05)
    assert [d["type"] for d in listed] == ["session.ended", "session.started"]
    assert all(d["code"] == 200 and d["attempts"] == 1 for d in listed)
    assert "secret" not in json.dumps(listed)


async def test_an_approved_question_is_delivered(
    server: Running, world: World, org: Api, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    await configure(org, world, receiver.url)
    mod = await moderator(server, world)
    await mod.call("qa:settings", {"session": world.session, "moderation": "pre"})
    ann = await person(server, world, http, "Ann")
    qid = (await ann.call("qa:ask", {"session": world.session, "text": "Why?", "client_id": "w1"}))[
        "question"
    ]["id"]
    await mod.call("qa:moderate", {"session": world.session, "question": qid, "action": "approve"})
    body = (await receiver.wait(1))[0]["body"]
    assert body["type"] == "question.approved"
    assert body["data"]["question"]["id"] == qid and body["data"]["question"]["text"] == "Why?"
    assert "author" not in json.dumps(body)


async def test_a_closed_poll_is_delivered_with_its_results(
    server: Running, world: World, org: Api, receiver: Receiver, http: aiohttp.ClientSession
) -> None:
    await configure(org, world, receiver.url)
    mod = await moderator(server, world)
    ann = await person(server, world, http, "Ann")
    s = world.session
    pid = (
        await mod.call(
            "poll:create", {"session": s, "kind": "choice", "question": "Which?", "options": ["A", "B"]}
        )
    )["poll"]
    await mod.call("poll:state", {"session": s, "poll": pid, "action": "open"})
    assert (await ann.call("poll:answer", {"session": s, "poll": pid, "answer": [1]}))["ok"]
    await mod.call("poll:state", {"session": s, "poll": pid, "action": "close"})
    await mod.call("poll:state", {"session": s, "poll": pid, "action": "close"})  # a repeat: no second one
    body = (await receiver.wait(1))[0]["body"]
    assert body["type"] == "poll.closed"
    poll = body["data"]["poll"]
    assert poll["id"] == pid and poll["voters"] == 1
    assert poll["answers"] == [
        {"answer": "A", "count": 0, "correct": False},
        {"answer": "B", "count": 1, "correct": False},
    ]
    await asyncio.sleep(0.5)
    assert len(receiver.got) == 1


async def test_a_failing_receiver_gets_retries_then_the_delivery_is_given_up(
    server: Running, world: World, org: Api, receiver: Receiver
) -> None:
    await configure(org, world, receiver.url)
    receiver.answers = [500, 503, 500]
    await server.app[appkeys.WEBHOOKS].emit(world.event["id"], "poll.closed", {"poll": {"id": "p1"}})
    got = await receiver.wait(3)
    assert len({g["body"]["id"] for g in got}) == 1  # the same delivery, the same id
    assert len({g["raw"] for g in got}) == 1
    for _ in range(60):
        listed = (await org.ok("GET", f"/api/events/{world.event['id']}/webhook"))["deliveries"]
        if listed and listed[0]["status"] == "failed":
            break
        await asyncio.sleep(0.1)
    assert listed[0]["status"] == "failed" and listed[0]["attempts"] == 3 and listed[0]["code"] == 500
    await asyncio.sleep(1.5)
    assert len(receiver.got) == 3  # given up: no fourth attempt


async def test_a_retry_that_succeeds_is_delivered_once(
    server: Running, world: World, org: Api, receiver: Receiver
) -> None:
    await configure(org, world, receiver.url)
    receiver.answers = [502]
    await server.app[appkeys.WEBHOOKS].emit(world.event["id"], "poll.closed", {"poll": {"id": "p2"}})
    await receiver.wait(2)
    await asyncio.sleep(1.5)
    assert len(receiver.got) == 2
    listed = (await org.ok("GET", f"/api/events/{world.event['id']}/webhook"))["deliveries"]
    assert (listed[0]["status"], listed[0]["attempts"], listed[0]["code"]) == ("delivered", 2, 200)


async def test_a_slow_or_unreachable_receiver_does_not_delay_acks(
    server: Running, world: World, org: Api, receiver: Receiver
) -> None:
    await configure(org, world, receiver.url)
    receiver.delay = 3.0
    mod = await moderator(server, world)
    started = time.monotonic()
    assert (await mod.call("stage:status", {"session": world.session, "status": "live"}))["ok"]
    assert time.monotonic() - started < 0.5
    await receiver.wait(1)
    # Unreachable: nothing listens on the port.
    await org.ok(
        "PUT", f"/api/events/{world.event['id']}/webhook", {"url": f"http://127.0.0.1:{free_port()}/x"}
    )
    started = time.monotonic()
    assert (await mod.call("stage:status", {"session": world.session, "status": "ended"}))["ok"]
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/hook",
        "javascript:alert(1)",
        "http://user:pw@example.org/hook",
        "http://exa mple.org/",
        "not a url",
        "",
        7,
    ],
)
async def test_a_wrong_url_is_refused(server: Running, world: World, org: Api, url: Any) -> None:
    status, data = await org.request("PUT", f"/api/events/{world.event['id']}/webhook", {"url": url})
    assert status == 400 and data["error"]["code"] == "invalid" and data["error"]["field"] == "url"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.1/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://100.64.0.1/hook",
        "http://0.0.0.0/hook",
    ],
)
def test_private_and_local_targets_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(Exception, match="not a private or local"):
        wh.webhook_url(url, allow_private=False)
    assert wh.webhook_url(url, allow_private=True)
    assert wh.webhook_url("https://hooks.example.org/podium?x=1", allow_private=False)


async def test_only_organizers_configure_webhooks(
    server: Running, world: World, http: aiohttp.ClientSession, receiver: Receiver
) -> None:
    path = f"/api/events/{world.event['id']}/webhook"
    for token in (world.tokens["moderator"], world.tokens["speaker"], world.tokens["screen"]):
        caller = Api(http, server.url, token)
        for method, body in (("GET", None), ("PUT", {"url": receiver.url}), ("DELETE", None)):
            status, data = await caller.request(method, path, body)
            assert status == 403, (method, data)
        for tail in ("/secret", "/test"):
            status, _ = await caller.request("POST", path + tail)
            assert status == 403
    status, _ = await Api(http, server.url, None).request("PUT", path, {"url": receiver.url})
    assert status == 401
    organizer = Api(http, server.url, world.tokens["organizer"])
    assert (await organizer.ok("PUT", path, {"url": receiver.url}))["secret"].startswith("whsec_")
    await organizer.ok("DELETE", path)
    assert (await organizer.ok("GET", path))["webhook"]["configured"] is False


async def test_a_test_delivery_reaches_the_receiver_signed_and_is_listed(
    server: Running, world: World, org: Api, receiver: Receiver
) -> None:
    path = f"/api/events/{world.event['id']}/webhook"
    status, data = await org.request("POST", path + "/test")
    assert status == 404 and data["error"]["code"] == "not_found"  # no webhook yet: nothing queued
    secret = await configure(org, world, receiver.url)
    sent = await org.ok("POST", path + "/test")
    got = (await receiver.wait(1))[0]
    assert got["body"]["type"] == wh.TEST == got["headers"][wh.TYPE_HEADER]
    assert got["body"]["id"] == sent["delivery"] and got["body"]["data"] == {"test": True}
    assert wh.verify(secret, got["headers"][wh.SIGNATURE_HEADER], got["raw"], int(time.time()))
    for _ in range(40):
        listed = (await org.ok("GET", path))["deliveries"]
        if listed and listed[0]["status"] == "delivered":
            break
        await asyncio.sleep(0.05)
    assert listed[0]["type"] == wh.TEST and listed[0]["code"] == 200
    # A flood of tests is refused (per event, in Redis), and queues nothing more.
    codes = [(await org.request("POST", path + "/test"))[1] for _ in range(8)]
    refused = [c for c in codes if not c["ok"]]
    assert refused and all(c["error"]["code"] == "rate_limited" for c in refused)
    assert len(codes) - len(refused) <= 5
    await asyncio.sleep(0.3)
    assert len(receiver.got) == 1 + len(codes) - len(refused)


async def test_deleting_the_event_removes_its_webhook_and_deliveries(
    server: Running, world: World, org: Api, receiver: Receiver
) -> None:
    await configure(org, world, receiver.url)
    await org.ok("POST", f"/api/events/{world.event['id']}/webhook/test")
    await receiver.wait(1)
    await org.ok("DELETE", f"/api/events/{world.event['id']}", {"confirm": world.event["name"]})
    redis = server.app[appkeys.REDIS]
    for _ in range(40):
        left = [k async for k in redis.scan_iter(match=keys.event_pattern(world.event["id"]))]
        if not left:
            break
        await asyncio.sleep(0.05)
    assert left == []


class TestPrivateTargetsAtDeliveryTime:
    @pytest.fixture
    def settings_overrides(self) -> dict[str, Any]:
        return {"webhooks_allow_private": False, "webhooks_timeout_s": 0.5, "webhooks_backoff_s": ("0.1",)}

    async def test_a_name_that_resolves_to_a_private_address_is_not_reached(
        self, server: Running, world: World, org: Api, receiver: Receiver
    ) -> None:
        # Stored as if set when allowed (or a name whose address changed since: DNS rebinding).
        port = receiver.url.split(":")[2].split("/")[0]
        store = server.app[appkeys.WEBHOOKS].store
        await store.set_url(world.event["id"], f"http://localhost:{port}/hook", 0)
        await server.app[appkeys.WEBHOOKS].emit(world.event["id"], "poll.closed", {})
        for _ in range(60):
            listed = (await org.ok("GET", f"/api/events/{world.event['id']}/webhook"))["deliveries"]
            if listed and listed[0]["status"] == "failed":
                break
            await asyncio.sleep(0.1)
        assert listed[0]["status"] == "failed" and listed[0]["error"] == "refused"
        assert receiver.got == []
