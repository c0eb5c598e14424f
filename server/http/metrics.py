"""GET /metrics: the workers' metrics in Prometheus's text format, for operators only.

Answered to the addresses of `metrics.allow` (default: this machine) and, when
`metrics.token` is set, only with `Authorization: Bearer <token>`; anyone else gets 403 or
401 and nothing of the metrics. The answer never touches the store: it reads what the
workers recorded (server/metrics.py), in a thread, so a scrape does not stall the loop.
"""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging

from aiohttp import web

from server import appkeys
from server.errors import error
from server.realtime.doors import Network, client_address, networks

logger = logging.getLogger(__name__)

# What prometheus-client's generate_latest writes (named here: newer versions name other
# formats "latest").
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Headers a proxy adds: a request that carries one came through a proxy, and its peer's
# address is the proxy's, not the client's.
FORWARDING = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        ip = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped  # a dual-stack socket's form of an IPv4 client
    return ip


def _in(text: str, nets: tuple[Network, ...]) -> bool:
    ip = _address(text)
    return ip is not None and any(ip.version == net.version and ip in net for net in nets)


class Gatekeeper:
    """Who may read the metrics: by address, then by token."""

    def __init__(self, allow: tuple[str, ...], token: str, trusted_proxies: tuple[str, ...]) -> None:
        self.allow = networks(allow)
        self.expected = f"Bearer {token}".encode() if token else b""
        self.trusted = networks(trusted_proxies)

    def refusal(self, request: web.BaseRequest) -> web.Response | None:
        """None when the request may read the metrics, else the answer to send instead."""
        if self.allow:
            peer = request.remote or ""
            forwarded = any(h in request.headers for h in FORWARDING)
            if forwarded and not _in(peer, self.trusted):
                # Through a proxy Podium does not know (it may be on this machine, so the peer
                # looks local): the client could be anyone.
                return self._refuse(403, "forbidden", "Metrics are not served through this proxy.")
            client = client_address(peer, request.headers.get("X-Forwarded-For"), self.trusted)
            if not _in(client, self.allow):
                return self._refuse(403, "forbidden", "Metrics are not served to this address.")
        if self.expected:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, self.expected):
                response = self._refuse(401, "unauthorized", "Metrics need the operator's token.")
                response.headers["WWW-Authenticate"] = 'Bearer realm="podium-metrics"'
                return response
        return None

    @staticmethod
    def _refuse(status: int, code: str, message: str) -> web.Response:
        return web.json_response(error(code, message), status=status, headers={"Cache-Control": "no-store"})


async def metrics(request: web.Request) -> web.Response:
    """The metrics of every worker of this Podium (or of this worker alone, run by itself)."""
    refused = request.app[appkeys.METRICS_GATE].refusal(request)
    if refused is not None:
        logger.info("refused /metrics to %s (%s)", request.remote, refused.status)
        return refused
    body = await asyncio.to_thread(request.app[appkeys.METRICS].exposition)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})


def setup(app: web.Application) -> None:
    """Add GET /metrics."""
    s = app[appkeys.SETTINGS]
    app[appkeys.METRICS_GATE] = Gatekeeper(s.metrics_allow, s.metrics_token, s.trusted_proxies)
    app.router.add_get("/metrics", metrics)
