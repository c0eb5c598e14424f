"""The embedded Valkey: a real server process, AOF on, data kept across restarts."""

from __future__ import annotations

import redis

from server.store.embedded import EmbeddedRedis


def test_data_survives_a_restart_on_the_same_directory(tmp_path):
    first = EmbeddedRedis(tmp_path)
    url = first.start()
    try:
        client = redis.Redis.from_url(url, decode_responses=True)
        client.set("podium:test", "kept")
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("bind")["bind"].startswith("127.0.0.1")
        client.close()
    finally:
        first.stop()
    second = EmbeddedRedis(tmp_path)
    url2 = second.start()
    try:
        assert url2 != url, "a new password and port each start"
        client = redis.Redis.from_url(url2)
        assert client.get("podium:test") == b"kept"
        client.close()
    finally:
        second.stop()


def test_it_refuses_clients_without_the_password(tmp_path):
    server = EmbeddedRedis(tmp_path)
    server.start()
    try:
        client = redis.Redis(port=server.port)
        try:
            client.ping()
            raise AssertionError("answered without a password")
        except redis.AuthenticationError:
            pass
        finally:
            client.close()
    finally:
        server.stop()


def test_a_stale_server_left_by_a_killed_podium_is_stopped_first(tmp_path):
    stale = EmbeddedRedis(tmp_path)
    stale.start()
    proc, stale.process = stale.process, None  # forgotten, as by a Podium killed with SIGKILL
    assert proc is not None
    fresh = EmbeddedRedis(tmp_path)
    fresh.start()
    try:
        assert proc.wait(timeout=5) == 0, "the stale server was shut down cleanly"
        client = redis.Redis.from_url(fresh.url)
        assert client.ping()
        client.close()
    finally:
        fresh.stop()
