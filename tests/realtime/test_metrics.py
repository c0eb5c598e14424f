"""GET /metrics over a real server, real sockets and a real store: what a join, events and a
refused event leave in the counters and histograms, and who may read them."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from server import appkeys
from server.settings import load_settings
from tests.conftest import Running, World, audience_token, moderator

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """{(sample name, labels): value} of a scrape."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def labelled(samples: Samples, name: str, label: str) -> set[str]:
    return {dict(ls)[label] for n, ls in samples if n == name and label in dict(ls)}


async def scrape(http: aiohttp.ClientSession, server: Running, **headers: str) -> Samples:
    async with http.get(f"{server.url}/metrics", headers=headers) as r:
        text = await r.text()
        assert r.status == 200, (r.status, text)
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(text)


async def test_a_join_events_and_refused_events_show_with_their_labels_and_ack_latency(
    server: Running, world: World, http
):
    mod = await moderator(server, world)
    phone = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
    assert (await phone.call("session:join", {"session": world.session}))["ok"]
    ask = {"session": world.session, "text": "Will the slides be shared?", "client_id": "q-metrics-1"}
    assert (await phone.call("qa:ask", ask))["ok"]
    bad = await phone.call("qa:ask", {"session": world.session})  # no text: invalid
    assert bad["error"]["code"] == "invalid"
    made_up = await phone.call("made:up-event-name", {})
    assert made_up["error"]["code"] == "invalid"
    missing = await phone.call("session:join", {"session": "no-such-session"})
    assert not missing["ok"]
    await mod.wait_for(lambda c: c.parts("qa"), timeout=5)  # the pending question reached the moderator
    await asyncio.sleep(0.6)  # one event-loop lag measurement at least

    m = await scrape(http, server)
    # Joins by outcome, events by name, refusals by name and code.
    assert value(m, "podium_joins_total", outcome="ok") == 2
    assert value(m, "podium_joins_total", outcome=missing["error"]["code"]) == 1
    assert value(m, "podium_socket_events_total", event="session:join") == 3
    assert value(m, "podium_socket_events_total", event="qa:ask") == 2
    assert value(m, "podium_socket_events_refused_total", event="qa:ask", code="invalid") == 1
    assert value(m, "podium_socket_events_refused_total", event="unknown", code="invalid") == 1
    assert value(m, "podium_socket_events_total", event="unknown") == 1
    events = labelled(m, "podium_socket_events_total", "event")
    assert "made:up-event-name" not in events, "a client's made-up names make no series"
    assert {"session:join", "qa:ask", "qa:vote", "stage:set", "unknown"} <= events, "known ones show at 0"
    # The ack latency histogram: cumulative buckets, every answer in +Inf.
    assert value(m, "podium_ack_seconds_count", event="qa:ask") == 2
    assert value(m, "podium_ack_seconds_bucket", event="session:join", le="+Inf") == 3
    assert value(m, "podium_ack_seconds_bucket", event="session:join", le="10.0") == 3
    buckets = sorted(
        (float(dict(ls)["le"]), v)
        for (n, ls), v in m.items()
        if n == "podium_ack_seconds_bucket" and dict(ls)["event"] == "qa:ask"
    )
    assert [v for _le, v in buckets] == sorted(v for _le, v in buckets), "cumulative"
    assert 0 < value(m, "podium_ack_seconds_sum", event="qa:ask") < 10
    # What this worker holds, writes and waits for.
    assert value(m, "podium_connections", role="audience") == 1
    assert value(m, "podium_connections", role="moderator") == 1
    assert value(m, "podium_feed_frames_total", view="mod") >= 1
    assert value(m, "podium_feed_deliveries_total", view="mod") >= 1
    scripts = {
        c for c in labelled(m, "podium_redis_command_seconds_count", "command") if c.startswith("script:")
    }
    assert scripts and "script:unknown" not in scripts, scripts
    commands = labelled(m, "podium_redis_command_seconds_count", "command")
    assert any(c.startswith("PIPELINE script:") for c in commands), commands
    assert value(m, "podium_event_loop_lag_seconds_count") >= 1
    assert value(m, "podium_presence_sweep_seconds_count") >= 1
    assert value(m, "podium_store_reachable") == 1
    assert value(m, "podium_deaf_seconds", part="feed") == 0
    assert value(m, "process_resident_memory_bytes") > 0
    assert value(m, "process_open_fds") > 0

    await phone.disconnect()
    await mod.disconnect()
    await asyncio.sleep(0.2)
    m = await scrape(http, server)
    assert value(m, "podium_connections", role="audience") == 0
    assert value(m, "podium_connections", role="moderator") == 0
    closed = {dict(ls)["reason"]: v for (n, ls), v in m.items() if n == "podium_disconnects_total"}
    assert sum(closed.values()) == 2 and "other" not in closed, closed


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    return dict(getattr(request, "param", {}))


async def refused(http: aiohttp.ClientSession, server: Running, status: int, **headers: str) -> None:
    async with http.get(f"{server.url}/metrics", headers=headers) as r:
        text = await r.text()
        assert r.status == status, (r.status, text)
        assert "podium_" not in text and "process_" not in text, "no metric in a refusal"


@pytest.mark.parametrize("settings_overrides", [{"metrics_token": "scrape-me-please"}], indirect=True)
async def test_with_a_token_set_only_its_bearer_reads_the_metrics(server: Running, http):
    await refused(http, server, 401)
    await refused(http, server, 401, Authorization="Bearer wrong-token")
    await refused(http, server, 401, Authorization="scrape-me-please")
    async with http.get(f"{server.url}/metrics") as r:
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    m = await scrape(http, server, Authorization="Bearer scrape-me-please")
    assert value(m, "podium_build_info", version="0.1.0") == 1


@pytest.mark.parametrize(
    "settings_overrides", [{"metrics_allow": ("10.0.0.0/8", "192.0.2.7")}], indirect=True
)
async def test_an_address_outside_metrics_allow_is_refused(server: Running, http):
    await refused(http, server, 403)


async def test_a_request_forwarded_by_a_proxy_podium_does_not_trust_is_refused(server: Running, http):
    # A proxy on this machine (nginx in front of Podium) would look local: its requests are
    # anyone's.
    await refused(http, server, 403, **{"X-Forwarded-For": "127.0.0.1"})
    await refused(http, server, 403, **{"X-Real-IP": "127.0.0.1"})
    assert await scrape(http, server)  # the same address, not forwarded


@pytest.mark.parametrize(
    "settings_overrides",
    [{"trusted_proxies": ("127.0.0.1",), "metrics_allow": ("10.0.0.0/8",)}],
    indirect=True,
)
async def test_through_a_trusted_proxy_the_clients_own_address_is_checked(server: Running, http):
    assert await scrape(http, server, **{"X-Forwarded-For": "10.1.2.3"})
    await refused(http, server, 403, **{"X-Forwarded-For": "203.0.113.9"})
    await refused(http, server, 403)  # the proxy itself is not an operator


@pytest.mark.parametrize(
    "settings_overrides", [{"metrics_allow": (), "metrics_token": "anywhere-with-this"}], indirect=True
)
async def test_an_empty_allow_list_with_a_token_answers_any_address_with_the_token(server: Running, http):
    await refused(http, server, 401, **{"X-Forwarded-For": "203.0.113.9"})
    assert await scrape(http, server, Authorization="Bearer anywhere-with-this")


def test_settings_refuse_an_open_metrics_endpoint_and_bad_ranges():
    with pytest.raises(ValueError, match=r"metrics\.token"):
        load_settings(env={"PODIUM_METRICS_ALLOW": ""})
    with pytest.raises(ValueError, match=r"metrics\.allow"):
        load_settings(env={"PODIUM_METRICS_ALLOW": "10.0.0.0/8,not-an-address"})
    s = load_settings(env={"PODIUM_METRICS_ALLOW": "10.0.0.0/8", "PODIUM_METRICS_TOKEN": "t"})
    assert s.metrics_allow == ("10.0.0.0/8",)
    assert "metrics_token" not in repr(s)


@pytest.mark.parametrize("settings_overrides", [{"metrics_enabled": False}], indirect=True)
async def test_with_metrics_off_there_is_no_endpoint_and_nothing_is_recorded(
    server: Running, world: World, http
):
    phone = await server.client(auth={"participant": await audience_token(http, server, world.event["code"])})
    assert (await phone.call("session:join", {"session": world.session}))["ok"]
    async with http.get(f"{server.url}/metrics") as r:
        assert r.status == 404
    metrics = server.app[appkeys.METRICS]
    assert not metrics.enabled
    assert metrics.events.labels("session:join")._value.get() == 0
    assert metrics.connections.labels("audience")._value.get() == 0


def test_metrics_can_be_turned_off_in_the_config_or_the_environment():
    assert load_settings(env={}).metrics_enabled
    assert not load_settings(env={"PODIUM_METRICS_ENABLED": "false"}).metrics_enabled
