"""Settings: defaults from config/default.toml, environment on top, secrets never printed."""

from __future__ import annotations

import pytest

from server.settings import load_settings


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
