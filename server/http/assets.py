"""Podium's own files (web/static) and the browser packages it serves, compressed once.

A phone on a slow network pays for every byte of its first load, so text (scripts, styles,
SVG, source maps) goes out gzipped to a browser that accepts it: each file is read and
compressed once per worker (at level 9, in a thread), then kept in memory with its hash, and
read again when its size or time changes. Every answer names its representation: `Vary:
Accept-Encoding`, and an ETag of its own per encoding (a cache never takes one for the
other); a matching If-None-Match gets 304. Pages, rendered per request, are compressed as they
go out (`compress_page`). JSON API answers are not: they are small, and some carry tokens
next to text a caller chose (the BREACH shape); no page carries a secret (invite tokens live
in the link's fragment).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from aiohttp import hdrs, web
from aiohttp.web_response import ContentCoding

TEXT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".map": "application/json",
    ".json": "application/json",
}
MIN_COMPRESS = 256  # bytes: below this gzip's own header and trailer outweigh what it saves
# `import ... from "x"` and `import "x"`, not `import("x")` (loaded on demand, never preloaded).
STATIC_IMPORT = re.compile(r"""^\s*import\s+(?:[^;"'()]*?\sfrom\s*)?["']([^"']+)["']""", re.M)
_CODING = re.compile(r"^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


def accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header takes gzip (RFC 9110 §12.5.3: `q=0` refuses it; `*`
    stands for every coding the header does not name)."""
    named: dict[str, float] = {}
    for part in header.lower().split(","):
        match = _CODING.match(part)
        if not match:
            continue
        try:
            quality = float(match.group(2)) if match.group(2) is not None else 1.0
        except ValueError:
            quality = 0.0
        named[match.group(1)] = quality
    if "gzip" in named:
        return named["gzip"] > 0
    if "x-gzip" in named:
        return named["x-gzip"] > 0
    return named.get("*", 0.0) > 0


@dataclass(frozen=True)
class Asset:
    """One file as read, and its gzipped form when that is smaller."""

    mtime_ns: int
    size: int
    body: bytes
    gzipped: bytes | None
    digest: str
    content_type: str


def _read(path: Path) -> Asset:
    """Read and compress one file (blocking: run it in a thread)."""
    st = path.stat()
    body = path.read_bytes()
    content_type = (
        TEXT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    )
    gzipped = None
    if path.suffix in TEXT_TYPES and len(body) >= MIN_COMPRESS:
        packed = gzip.compress(body, compresslevel=9, mtime=0)
        gzipped = packed if len(packed) < len(body) else None
    digest = hashlib.sha256(body).hexdigest()[:20]
    return Asset(st.st_mtime_ns, st.st_size, body, gzipped, digest, content_type)


class Assets:
    """A worker's files in memory, as sent (hangs off the app: appkeys.ASSETS)."""

    def __init__(self, static_root: Path) -> None:
        self.static_root = static_root.resolve()
        self._files: dict[Path, Asset] = {}
        self._preloads: dict[str, list[str]] = {}

    async def get(self, path: Path) -> Asset:
        """The file, read again only when it changed on disk."""
        loop = asyncio.get_running_loop()
        st = await loop.run_in_executor(None, path.stat)
        known = self._files.get(path)
        if known is None or (known.mtime_ns, known.size) != (st.st_mtime_ns, st.st_size):
            known = self._files[path] = await loop.run_in_executor(None, _read, path)
        return known

    def static_path(self, name: str) -> Path | None:
        """web/static/<name> when it is a file inside it (no dot files, nothing outside)."""
        if any(part.startswith(".") for part in name.split("/")):
            return None
        path = (self.static_root / name).resolve()
        if not path.is_relative_to(self.static_root) or not path.is_file():
            return None
        return path

    def module_preloads(self, *entries: str) -> list[str]:
        """The URLs of the modules these entry scripts (in /static/js/) import statically,
        with their own imports, entries first: the page lists them as `modulepreload`, so a
        slow network fetches them all at once instead of one level of imports per round
        trip. Read once per worker (a changed import list costs a preload, breaks nothing)."""
        key = " ".join(entries)
        if key not in self._preloads:
            seen: list[str] = []
            todo = [f"/static/js/{name}" for name in entries]
            while todo:
                url = todo.pop(0)
                if url in seen:
                    continue
                seen.append(url)
                if not url.startswith("/static/js/"):
                    continue  # a vendor module: imports nothing of ours
                path = self.static_path(url.removeprefix("/static/"))
                if path is None:
                    continue
                for spec in STATIC_IMPORT.findall(path.read_text(encoding="utf-8")):
                    todo.append(spec if spec.startswith("/") else "/static/js/" + spec.removeprefix("./"))
            self._preloads[key] = seen
        return self._preloads[key]


def respond(request: web.Request, asset: Asset, cache_control: str) -> web.Response:
    """The file in the best form the request accepts, or 304 when it already has it."""
    gzipped = asset.gzipped is not None and accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, ""))
    etag = f'"{asset.digest}-gz"' if gzipped else f'"{asset.digest}"'
    headers = {hdrs.CACHE_CONTROL: cache_control, hdrs.ETAG: etag}
    if asset.gzipped is not None:
        headers[hdrs.VARY] = hdrs.ACCEPT_ENCODING
    # If-None-Match compares weakly (RFC 9110 §13.1.2): a proxy may have marked our tag W/.
    held = {t.strip().removeprefix("W/") for t in request.headers.get(hdrs.IF_NONE_MATCH, "").split(",")}
    if etag in held or "*" in held:
        return web.Response(status=304, headers=headers)
    if gzipped:
        headers[hdrs.CONTENT_ENCODING] = "gzip"
    response = web.Response(body=asset.gzipped if gzipped else asset.body, headers=headers)
    response.content_type = asset.content_type.split(";")[0]
    if "charset=" in asset.content_type:
        response.charset = asset.content_type.split("charset=")[1]
    return response


def compress_page(request: web.Request, response: web.Response) -> None:
    """Gzip a rendered page for a browser that accepts it (compressed as it is sent)."""
    response.headers[hdrs.VARY] = hdrs.ACCEPT_ENCODING
    if accepts_gzip(request.headers.get(hdrs.ACCEPT_ENCODING, "")):
        response.enable_compression(ContentCoding.gzip)
