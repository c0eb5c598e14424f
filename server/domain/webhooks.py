"""Webhooks: which addresses an event's webhook may reach, how a delivery is signed, when a
failed one is tried again. Pure: the store and the sender do the I/O."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from server.domain.events import media_origin, media_url
from server.errors import Invalid

TYPES = ("session.started", "session.ended", "question.approved", "poll.closed")
TEST = "webhook.test"  # sent when an organizer asks for a test delivery; data {"test": true}
SIGNATURE_HEADER = "X-Podium-Signature"
ID_HEADER = "X-Podium-Delivery"
TYPE_HEADER = "X-Podium-Event"
SECRET_PREFIX = "whsec_"  # noqa: S105  (a prefix, not a secret)
ERROR_MAX = 200  # characters of a failed attempt's reason kept for the organizer's page


def address_allowed(address: str, allow_private: bool) -> bool:
    """Whether a webhook may connect to this IP address: only one of the public internet
    (not private, loopback, link-local, shared, multicast, reserved or unspecified, nor an
    IPv6 address that maps or embeds one), unless private targets are allowed."""
    if allow_private:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%", maxsplit=1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is not None and not address_allowed(str(embedded), False):
            return False
    return ip.is_global and not ip.is_multicast


def _literal(host: str) -> str | None:
    """The IP address a URL's host is written as, or None for a name."""
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


def webhook_url(value: Any, allow_private: bool) -> str:
    """An organizer's webhook address: http(s), a real host, no user name or password (as
    strict as a media URL), and no private, loopback or local host unless allowed. A name is
    checked again at each delivery, against every address it resolves to."""
    if value is None or value == "":
        raise Invalid("url must be an http or https address.", field="url")
    url = media_url(value, "url")
    origin = media_origin(url)
    assert origin is not None  # media_url refused anything else
    host = urlsplit(url).hostname or ""
    literal = _literal(host)
    local_name = host == "localhost" or host.endswith((".localhost", ".local", ".internal"))
    if not allow_private and (local_name or (literal is not None and not address_allowed(literal, False))):
        raise Invalid("url must be an address on the internet, not a private or local one.", field="url")
    return url


def literal_address(url: str) -> str | None:
    """The IP address the URL's host is written as, if it is one."""
    return _literal(urlsplit(url).hostname or "")


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Podium-Signature value: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does: the signature matches and is recent (a replayed request is old)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - timestamp) > tolerance_s:
        return False
    expected = sign(secret, timestamp, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def body(delivery_id: str, kind: str, event_id: str, created_at: str, data: dict[str, Any]) -> str:
    """A delivery's JSON body, made once: every attempt sends the same bytes."""
    return json.dumps(
        {"id": delivery_id, "type": kind, "event_id": event_id, "created_at": created_at, "data": data},
        ensure_ascii=False,
        separators=(",", ":"),
    )


def attempts(backoff: Sequence[float]) -> int:
    """How many times a delivery is tried: once, then after each wait."""
    return len(backoff) + 1


def due_after_ms(made: int, backoff: Sequence[float], timeout_s: float) -> int:
    """How long after its last attempt began a delivery tried `made` times is due again: its
    wait, but never before that attempt can have timed out (it may still be running)."""
    wait = backoff[min(made, len(backoff)) - 1]
    return int(max(wait, timeout_s + 1.0) * 1000)


def ok_status(status: int) -> bool:
    """A receiver took the delivery: any 2xx."""
    return 200 <= status < 300
