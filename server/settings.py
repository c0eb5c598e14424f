"""One frozen Settings object: defaults in config/*.toml, overridden by the environment."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from server.domain.rtc import ICE_TRANSPORT_POLICIES
from server.store.connection import normalize_url, parse_cluster_url

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "config" / "default.toml"


@dataclass(frozen=True)
class Settings:
    """Everything a worker needs to know, read once at start-up."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    public_url: str = ""
    allowed_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    data_dir: Path = ROOT / "var"
    log_format: str = "text"
    log_level: str = "INFO"
    event_loop: str = "uvloop"  # or "asyncio"

    secret: str = field(default="", repr=False)
    organizer_token: str = field(default="", repr=False)
    organizer_link_hours: int = 168
    participant_cookie_days: int = 30
    secure_cookies: bool = False

    redis_url: str = field(default="", repr=False)
    redis_socket_timeout: float = 5.0
    redis_health_check_interval: int = 15
    # Acknowledge a write only once this many replicas hold it (WAIT), within wait_timeout_ms.
    redis_wait_replicas: int = 0
    redis_wait_timeout_ms: int = 500

    # How `podium serve` looks after its embedded store (no redis_url): config/default.toml.
    store_restarts_max: int = 10
    store_backoff_s: float = 0.5
    store_backoff_max_s: float = 5.0
    store_stable_s: float = 30.0
    store_silent_warn_s: float = 3.0
    store_silent_kill_s: float = 30.0
    store_port_wait_s: float = 10.0

    heartbeat_seconds: float = 5.0
    worker_ttl_seconds: float = 15.0
    sweep_seconds: float = 5.0
    presence_broadcast_ms: int = 500
    votes_broadcast_ms: int = 250
    reactions_tick_ms: int = 1000

    feed_small_room: int = 200
    feed_tick_ms: int = 250
    feed_tick_max_ms: int = 500
    feed_urgent_ms: int = 50
    feed_block_ms: int = 2000
    feed_slow_bytes: int = 256 * 1024

    join_per_minute_per_ip: int = 1200
    # What one worker takes on at once; past it, connects and joins are refused at once
    # (retryable) instead of queueing until everything times out.
    connects_in_flight: int = 1000
    joins_in_flight: int = 1000
    events_in_flight: int = 2000
    connect_timeout_s: float = 5.0

    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str = field(default="", repr=False)
    turn_ttl_seconds: int = 6 * 3600
    ice_transport_policy: str = "all"  # or "relay": media only through TURN
    # The SFU mode: a Janus server's HTTP API (e.g. http://127.0.0.1:8088/janus) that only
    # Podium reaches; empty keeps the stage peer to peer (docs/operations.md, "An SFU").
    sfu_url: str = ""
    sfu_api_secret: str = field(default="", repr=False)
    socket_events_per_10s: int = 50
    # Per person, across their sockets and workers (Redis); a moderator gets twice as much.
    asks_per_minute: int = 10
    votes_per_10s: int = 40
    chat_per_10s: int = 20
    hands_per_minute: int = 10
    rtc_signals_per_10s: int = 600
    rtc_signal_burst: int = 300
    max_payload_bytes: int = 65536
    connections_per_address: int = 4000
    unauthenticated: int = 2000
    auth_deadline_s: float = 10.0
    send_buffer_bytes: int = 1 << 20

    # GET /metrics (Prometheus): a bearer token it requires, if set, and the addresses it
    # answers (ranges; empty: any address, only with a token). docs/operations.md.
    metrics_token: str = field(default="", repr=False)
    metrics_allow: tuple[str, ...] = ("127.0.0.1", "::1")
    # Off: no /metrics, nothing recorded (docs/operations.md, "Metrics (Prometheus)").
    metrics_enabled: bool = True

    # The organizer's picture (docs/operations.md, "Insight"): a sample per running session
    # per minute, kept retention_days after the session's last one, at most max_samples each.
    insight_retention_days: int = 30
    insight_max_samples: int = 10080
    insight_sample_s: float = 10.0

    # Webhooks (docs/operations.md, "Webhooks"): targets on private, loopback or link-local
    # addresses are refused unless allow_private (THREAT_MODEL.md: SSRF).
    webhooks_allow_private: bool = False
    webhooks_timeout_s: float = 5.0
    webhooks_backoff_s: tuple[str, ...] = ("10", "60", "300", "1800")
    webhooks_keep: int = 50

    @property
    def webhook_backoff(self) -> tuple[float, ...]:
        """The waits between a webhook's attempts, in seconds."""
        return tuple(float(v) for v in self.webhooks_backoff_s)

    @property
    def base_url(self) -> str:
        """The address people use to reach Podium, without a trailing slash."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    @property
    def origins(self) -> frozenset[str]:
        """Browser origins allowed to open sockets and send cookie-authenticated writes."""
        if self.allowed_origins:
            return frozenset(o.rstrip("/") for o in self.allowed_origins)
        return frozenset(
            {
                self.base_url,
                f"http://localhost:{self.port}",
                f"http://127.0.0.1:{self.port}",
            }
        )


# Maps "section.key" in the TOML files to Settings fields where the names differ.
_TOML_NAMES = {
    "redis.url": "redis_url",
    "redis.socket_timeout": "redis_socket_timeout",
    "redis.health_check_interval": "redis_health_check_interval",
    "redis.wait_replicas": "redis_wait_replicas",
    "redis.wait_timeout_ms": "redis_wait_timeout_ms",
    "presence.broadcast_ms": "presence_broadcast_ms",
    "store.restarts_max": "store_restarts_max",
    "store.backoff_s": "store_backoff_s",
    "store.backoff_max_s": "store_backoff_max_s",
    "store.stable_s": "store_stable_s",
    "store.silent_warn_s": "store_silent_warn_s",
    "store.silent_kill_s": "store_silent_kill_s",
    "store.port_wait_s": "store_port_wait_s",
    "feed.small_room": "feed_small_room",
    "feed.tick_ms": "feed_tick_ms",
    "feed.tick_max_ms": "feed_tick_max_ms",
    "feed.urgent_ms": "feed_urgent_ms",
    "feed.block_ms": "feed_block_ms",
    "feed.slow_bytes": "feed_slow_bytes",
    "metrics.token": "metrics_token",
    "metrics.allow": "metrics_allow",
    "metrics.enabled": "metrics_enabled",
    "insight.retention_days": "insight_retention_days",
    "insight.max_samples": "insight_max_samples",
    "insight.sample_s": "insight_sample_s",
    "webhooks.allow_private": "webhooks_allow_private",
    "webhooks.timeout_s": "webhooks_timeout_s",
    "webhooks.backoff_s": "webhooks_backoff_s",
    "webhooks.keep": "webhooks_keep",
}

# Conventional environment names (Heroku, Procfile runners) on top of PODIUM_*.
_PLAIN_ENV = {
    "PORT": "port",
    "HOST": "host",
    "REDIS_URL": "redis_url",
    "WEB_CONCURRENCY": "workers",
}


def _flatten(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for section, values in data.items():
        if not isinstance(values, dict):
            raise ValueError(f"config: [{section}] must be a table")
        for key, value in values.items():
            out[_TOML_NAMES.get(f"{section}.{key}", str(key))] = value
    return out


def _coerce(name: str, value: Any, current: Any) -> Any:
    if isinstance(current, bool):
        if isinstance(value, str):
            return value.strip().lower() in ("1", "true", "yes", "on")
        return bool(value)
    if isinstance(current, int):
        return int(value)
    if isinstance(current, float):
        return float(value)
    if isinstance(current, Path):
        return Path(value)
    if isinstance(current, tuple):
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return tuple(str(v) for v in value)
    return str(value)


def load_settings(env: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Read config/default.toml, then PODIUM_CONFIG, then the environment, then overrides."""
    env = dict(os.environ if env is None else env)
    raw: dict[str, Any] = {}
    for path in (str(DEFAULT_CONFIG), env.get("PODIUM_CONFIG") or ""):
        if path and Path(path).exists():
            with open(path, "rb") as fh:
                raw.update(_flatten(tomllib.load(fh)))
    names = {f.name for f in fields(Settings)}
    for key, value in env.items():
        if key in _PLAIN_ENV and value != "":
            raw[_PLAIN_ENV[key]] = value
        elif key.startswith("PODIUM_") and key not in ("PODIUM_CONFIG", "PODIUM_CHROMIUM"):
            name = key.removeprefix("PODIUM_").lower()
            for section in ("server_", "security_", "presence_", "limits_", "qa_", "rtc_"):
                if name.startswith(section) and name.removeprefix(section) in names:
                    name = name.removeprefix(section)
            if name in names:
                raw[name] = value
    raw.update(overrides)
    base = Settings()
    unknown = set(raw) - names
    if unknown:
        raise ValueError(f"config: unknown settings {sorted(unknown)}")
    values = {k: _coerce(k, v, getattr(base, k)) for k, v in raw.items()}
    settings = replace(base, **values)
    if not settings.data_dir.is_absolute():
        settings = replace(settings, data_dir=ROOT / settings.data_dir)
    if settings.event_loop not in ("uvloop", "asyncio"):
        raise ValueError("config: event_loop must be uvloop or asyncio")
    if settings.ice_transport_policy not in ICE_TRANSPORT_POLICIES:
        raise ValueError("config: rtc.ice_transport_policy must be all or relay")
    if settings.ice_transport_policy == "relay" and not (settings.turn_urls and settings.turn_secret):
        # Browsers told to use only relays, with none to use, never connect at all.
        raise ValueError("config: rtc.ice_transport_policy = relay needs rtc.turn_urls and rtc.turn_secret")
    try:
        backoff = settings.webhook_backoff
    except ValueError:
        raise ValueError("config: webhooks.backoff_s must be numbers of seconds") from None
    if not backoff or any(b <= 0 for b in backoff) or settings.webhooks_timeout_s <= 0:
        raise ValueError("config: webhooks.backoff_s needs positive waits and webhooks.timeout_s > 0")
    if (
        settings.insight_retention_days <= 0
        or settings.insight_max_samples <= 0
        or settings.insight_sample_s <= 0
    ):
        raise ValueError("config: insight.retention_days, max_samples and sample_s must be > 0")
    if settings.turn_ttl_seconds <= 0:
        raise ValueError("config: rtc.turn_ttl_seconds must be > 0")
    if settings.redis_wait_replicas < 0 or settings.redis_wait_timeout_ms <= 0:
        raise ValueError("config: redis.wait_replicas must be >= 0 and redis.wait_timeout_ms > 0")
    for spec in settings.metrics_allow:
        try:
            ipaddress.ip_network(spec.strip(), strict=False)
        except ValueError:
            raise ValueError(f"config: metrics.allow: {spec!r} is not an address or a range") from None
    if not settings.metrics_allow and not settings.metrics_token:
        raise ValueError("config: an empty metrics.allow (any address) needs a metrics.token")
    # One spelling of a Sentinel URL for Podium and python-socketio alike (ValueError if bad).
    settings = replace(settings, redis_url=normalize_url(settings.redis_url))
    if settings.redis_wait_replicas and parse_cluster_url(settings.redis_url):
        # WAIT counts the writes of its own connection; a Cluster client spreads one person's
        # writes over a connection per node (docs/operations.md, "Redis Cluster").
        raise ValueError("config: redis.wait_replicas is not supported with a redis+cluster:// URL")
    return settings
