"""Who may open a socket on this worker, and for how long before saying who they are.

A websocket costs a worker ~22 KB and a file descriptor before it has authenticated, so the
doors are counted per worker, in memory (no store round trip before a socket exists):

- **per address**: at most `limits.connections_per_address` open sockets from one client
  address. A hall behind one NAT is one address: 2,000 people with a phone and a laptop tab
  each is 4,000, the default. Behind a reverse proxy every socket comes from the proxy:
  name it in `trusted_proxies` and the address is read from `X-Forwarded-For`.
- **not yet signed in**: at most `limits.unauthenticated` sockets that have not connected
  Podium's namespace (sent valid credentials), and each gets `limits.auth_deadline_s` to do
  so, or is closed. A refused connect may be retried within the deadline, as clients do.

A refused socket gets an HTTP 429 (too many from the address) or 503 (too many unsigned)
before the websocket opens, with a JSON error and `Retry-After`; nothing is kept for it.
"""

from __future__ import annotations

import ipaddress
import json
import logging
from collections import Counter
from typing import Any

from server.errors import error

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(specs: tuple[str, ...]) -> tuple[Network, ...]:
    """`trusted_proxies` as networks: addresses ("10.0.0.5") or ranges ("10.0.0.0/8")."""
    return tuple(ipaddress.ip_network(spec.strip(), strict=False) for spec in specs if spec.strip())


def _trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The client's address: the peer's, unless the peer is a trusted proxy; then the last
    address in X-Forwarded-For that is not one of the trusted proxies (the nearest one a
    trusted proxy vouches for; anything further left the client could have written)."""
    address = peer or "-"
    if not trusted or not forwarded_for or not _trusted(address, trusted):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",")[:32]]):
        if not hop:
            continue
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # a malformed header: trust none of it
        if not _trusted(hop, trusted):
            return hop
        address = hop
    return address


def client_ip(request: Any) -> str:
    """The address of the client behind an HTTP request or a socket's handshake, read through
    the trusted proxies the worker's doors know (the peer's address without them)."""
    from server import appkeys  # (appkeys names Doors: imported late, at the first call)

    doors = request.app.get(appkeys.DOORS) if request.app is not None else None
    return doors.address(request) if doors is not None else (request.remote or "-")


def refusal(status: int, code: str, message: str, retry_after: int) -> dict[str, Any]:
    """An engine.io HTTP response (python-engineio's dict form) carrying Podium's error."""
    body = error(code, message, retry_after=retry_after)
    reason = {429: "Too Many Requests", 503: "Service Unavailable"}[status]
    return {
        "status": f"{status} {reason}",
        "headers": [("Content-Type", "application/json"), ("Retry-After", str(retry_after))],
        "response": json.dumps(body).encode(),
    }


class Doors:
    """Counts of this worker's open sockets by address, and of those not signed in yet."""

    def __init__(
        self,
        *,
        per_address: int,
        unauthenticated: int,
        auth_deadline_s: float,
        trusted_proxies: tuple[str, ...] = (),
    ) -> None:
        self.per_address = per_address  # 0: no bound
        self.unauthenticated = unauthenticated  # 0: no bound
        self.auth_deadline_s = auth_deadline_s
        self.trusted = networks(trusted_proxies)
        self.by_address: Counter[str] = Counter()
        self.address_of: dict[str, str] = {}  # engine.io sid -> address
        self.unsigned: set[str] = set()
        self.refused: Counter[str] = Counter()  # reason -> sockets refused (for /readyz and logs)
        self._warned: set[str] = set()

    def address(self, request: Any) -> str:
        return client_address(request.remote, request.headers.get("X-Forwarded-For"), self.trusted)

    def admit(self, address: str) -> dict[str, Any] | None:
        """None if a socket from address may open now, else the HTTP refusal to send."""
        if self.per_address and self.by_address[address] >= self.per_address:
            self._refuse("address", address)
            return refusal(
                429, "rate_limited", "Too many connections from your network; try again shortly.", 10
            )
        if self.unauthenticated and len(self.unsigned) >= self.unauthenticated:
            self._refuse("unsigned", address)
            return refusal(503, "unavailable", "Podium is busy; try again shortly.", 2)
        return None

    def _refuse(self, reason: str, address: str) -> None:
        self.refused[reason] += 1
        key = f"{reason}:{address}"
        if key not in self._warned:  # once per address and reason until it falls back
            self._warned.add(key)
            logger.warning(
                "refusing sockets (%s): %s has %d open, %d not signed in on this worker",
                "too many from one address" if reason == "address" else "too many not signed in",
                address,
                self.by_address[address],
                len(self.unsigned),
            )

    def opened(self, sid: str, address: str) -> None:
        self.address_of[sid] = address
        self.by_address[address] += 1
        self.unsigned.add(sid)

    def signed_in(self, sid: str) -> None:
        self.unsigned.discard(sid)

    def is_unsigned(self, sid: str) -> bool:
        return sid in self.unsigned

    def closed(self, sid: str) -> None:
        address = self.address_of.pop(sid, None)
        self.unsigned.discard(sid)
        if address is None:
            return
        self.by_address[address] -= 1
        if self.by_address[address] <= 0:
            del self.by_address[address]
            self._warned.discard(f"address:{address}")
        if not self.unsigned:
            self._warned = {w for w in self._warned if not w.startswith("unsigned:")}
