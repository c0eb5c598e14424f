"""Settings: defaults from config/default.toml, environment on top, secrets never printed."""

from __future__ import annotations

import pytest

from server.settings import load_settings
from server.store.connection import ClusterUrl, parse_cluster_url


def test_defaults_come_from_the_toml_file():
    s = load_settings(env={})
    assert (s.host, s.port, s.workers, s.presence_broadcast_ms) == ("127.0.0.1", 8080, 1, 500)
    assert s.base_url == "http://127.0.0.1:8080"
    assert "http://localhost:8080" in s.origins


def test_conventional_and_podium_variables_override():
    s = load_settings(
        env={
            "PORT": "9000",
            "WEB_CONCURRENCY": "4",
            "REDIS_URL": "redis://x:1/0",
            "PODIUM_PUBLIC_URL": "https://podium.example.org/",
            "PODIUM_ALLOWED_ORIGINS": "https://a.example, https://b.example",
            "PODIUM_PRESENCE_BROADCAST_MS": "250",
            "PODIUM_SECURE_COOKIES": "true",
        }
    )
    assert (s.port, s.workers, s.redis_url, s.presence_broadcast_ms, s.secure_cookies) == (
        9000,
        4,
        "redis://x:1/0",
        250,
        True,
    )
    assert s.base_url == "https://podium.example.org"
    assert s.origins == frozenset({"https://a.example", "https://b.example"})


def test_secrets_never_appear_in_the_printed_settings():
    s = load_settings(env={"PODIUM_SECRET": "hunter2", "REDIS_URL": "redis://:pw@h:1/0"})
    assert "hunter2" not in repr(s) and "pw@" not in repr(s)


def test_unknown_settings_are_an_error_not_ignored(tmp_path):
    bad = tmp_path / "podium.toml"
    bad.write_text("[server]\nprot = 1\n")
    with pytest.raises(ValueError, match="unknown settings"):
        load_settings(env={"PODIUM_CONFIG": str(bad)})


def test_a_cluster_url_names_its_nodes_and_nothing_else():
    s = load_settings(env={"REDIS_URL": "redis+cluster://:pw@10.0.0.1:7000,10.0.0.2"})
    target = parse_cluster_url(s.redis_url)
    assert target is not None and not target.tls
    assert target.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 6379))
    assert (target.username, target.password) == (None, "pw")
    assert parse_cluster_url("rediss+cluster://u:p@h:1") == ClusterUrl((("h", 1),), True, "u", "p")
    assert parse_cluster_url("redis://h:1/0") is None


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("redis+cluster://h:7000/3", "nodes only"),
        ("redis+cluster://h:7000?timeout=1", "nodes only"),
        ("redis+cluster://h:port", "host:port"),
        ("redis+cluster://h:1,", "host:port"),
    ],
)
def test_a_bad_cluster_url_is_refused_at_start(url, why):
    with pytest.raises(ValueError, match=why):
        load_settings(env={"REDIS_URL": url})


def test_waiting_for_replicas_is_refused_on_a_cluster():
    with pytest.raises(ValueError, match="wait_replicas"):
        load_settings(env={"REDIS_URL": "redis+cluster://h:7000", "PODIUM_REDIS_WAIT_REPLICAS": "1"})


def test_media_may_be_forced_through_turn_when_turn_is_configured(tmp_path):
    assert load_settings(env={}).ice_transport_policy == "all"
    conf = tmp_path / "podium.toml"
    conf.write_text(
        '[rtc]\nturn_urls = ["turn:turn.example.org:3478?transport=udp"]\n'
        'turn_secret = "s"\nice_transport_policy = "relay"\n'
    )
    assert load_settings(env={"PODIUM_CONFIG": str(conf)}).ice_transport_policy == "relay"
    env = {"PODIUM_TURN_URLS": "turn:t:3478", "PODIUM_TURN_SECRET": "s"}
    s = load_settings(env={**env, "PODIUM_RTC_ICE_TRANSPORT_POLICY": "relay"})
    assert s.ice_transport_policy == "relay"


@pytest.mark.parametrize(
    ("env", "why"),
    [
        ({"PODIUM_ICE_TRANSPORT_POLICY": "none"}, "must be all or relay"),
        ({"PODIUM_ICE_TRANSPORT_POLICY": "Relay"}, "must be all or relay"),
        # Relay-only with nothing to relay through: no picture would ever connect.
        ({"PODIUM_ICE_TRANSPORT_POLICY": "relay"}, "needs rtc.turn_urls and rtc.turn_secret"),
        ({"PODIUM_ICE_TRANSPORT_POLICY": "relay", "PODIUM_TURN_URLS": "turn:t"}, "needs rtc.turn_urls"),
        ({"PODIUM_TURN_TTL_SECONDS": "0"}, "turn_ttl_seconds must be > 0"),
    ],
)
def test_a_media_setting_that_cannot_work_is_refused_at_start(env, why):
    with pytest.raises(ValueError, match=why):
        load_settings(env=env)
