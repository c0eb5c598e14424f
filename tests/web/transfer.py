"""What a page's first load costs on the wire, as Chromium counts it (the DevTools protocol).

`Transfers` listens to one tab's Network domain: every resource's URL, status, encoding and
`encodedDataLength` from `Network.loadingFinished` (bytes received for it, headers included,
compressed as sent), and the WebSocket frames. Used by tests/web/test_firstload.py and by
bench/firstload.py (which also throttles the tab with `throttle`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from playwright.async_api import CDPSession, Page

# The page's first question list shown: set by an init script (CSP does not apply to it).
QUESTIONS_SHOWN = """
(() => {
  const seen = () => {
    const list = document.getElementById("questions");
    if (list && list.children.length && list.offsetParent !== null && window.__questionsShownAt === undefined) {
      window.__questionsShownAt = performance.now();
    }
  };
  new MutationObserver(seen).observe(document, { childList: true, subtree: true, attributes: true });
})();
"""
HLS = "/static/vendor/hls."


@dataclass
class Resource:
    url: str
    kind: str = ""
    status: int = 0
    encoding: str = ""  # Content-Encoding as received ("" for none)
    mime: str = ""
    transferred: int = 0  # encodedDataLength at loadingFinished: headers + body as sent
    decoded: int = 0  # the body after decoding (sum of Network.dataReceived dataLength)
    finished: bool = False
    from_cache: bool = False


@dataclass
class Transfers:
    """The tab's requests, by CDP request id, and its WebSocket frames' bytes."""

    cdp: CDPSession
    resources: dict[str, Resource] = field(default_factory=dict)
    ws_received: int = 0
    ws_sent: int = 0

    @classmethod
    async def watch(cls, page: Page) -> Transfers:
        """Start recording `page`'s network (before it navigates)."""
        cdp = await page.context.new_cdp_session(page)
        self = cls(cdp)
        cdp.on("Network.requestWillBeSent", self._request)
        cdp.on("Network.responseReceived", self._response)
        cdp.on("Network.dataReceived", self._data)
        cdp.on("Network.loadingFinished", self._finished)
        cdp.on("Network.requestServedFromCache", self._cached)
        cdp.on("Network.webSocketFrameReceived", self._ws_in)
        cdp.on("Network.webSocketFrameSent", self._ws_out)
        await cdp.send("Network.enable")
        return self

    async def throttle(self, down_kbps: float, up_kbps: float, latency_ms: float) -> None:
        """Chromium's own network emulation for this tab: throughput in kbit/s (1 kbit =
        1000 bits), `latency_ms` added to every request's round trip."""
        await self.cdp.send(
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": latency_ms,
                "downloadThroughput": down_kbps * 1000 / 8,
                "uploadThroughput": up_kbps * 1000 / 8,
            },
        )

    def _request(self, e: dict[str, Any]) -> None:
        self.resources.setdefault(e["requestId"], Resource(e["request"]["url"])).kind = e.get("type", "")

    def _response(self, e: dict[str, Any]) -> None:
        r = self.resources.setdefault(e["requestId"], Resource(e["response"]["url"]))
        headers = {k.lower(): v for k, v in e["response"].get("headers", {}).items()}
        r.status = int(e["response"]["status"])
        r.encoding = headers.get("content-encoding", "")
        r.mime = e["response"].get("mimeType", "")
        r.from_cache = bool(e["response"].get("fromDiskCache") or e["response"].get("fromPrefetchCache"))

    def _data(self, e: dict[str, Any]) -> None:
        if e["requestId"] in self.resources:
            self.resources[e["requestId"]].decoded += int(e.get("dataLength", 0))

    def _finished(self, e: dict[str, Any]) -> None:
        if e["requestId"] in self.resources:
            r = self.resources[e["requestId"]]
            r.transferred = int(e["encodedDataLength"])
            r.finished = True

    def _cached(self, e: dict[str, Any]) -> None:
        if e["requestId"] in self.resources:
            self.resources[e["requestId"]].from_cache = True

    def _ws_in(self, e: dict[str, Any]) -> None:
        self.ws_received += len(e["response"].get("payloadData", "").encode())

    def _ws_out(self, e: dict[str, Any]) -> None:
        self.ws_sent += len(e["response"].get("payloadData", "").encode())

    def loaded(self) -> list[Resource]:
        """Every resource fetched over HTTP (not the WebSocket), in request order."""
        return [r for r in self.resources.values() if r.url.startswith("http") and r.kind != "WebSocket"]

    def total(self) -> int:
        """Bytes received for every HTTP resource, as sent (compressed), headers included."""
        return sum(r.transferred for r in self.loaded())

    def fetched_hls(self) -> bool:
        return any(HLS in r.url for r in self.resources.values())
