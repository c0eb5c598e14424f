"""Real video files for browser tests, made on the spot with PyAV (installed with aiortc),
and a plain HTTP server on 127.0.0.1 that serves them: a speaker's backup recording (WebM,
VP8) and an HLS stream (H.264 in MPEG-TS segments)."""

from __future__ import annotations

import fractions
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import pytest
from aiohttp import web


def _frames(width: int, height: int, count: int, fps: int) -> Iterator[av.VideoFrame]:
    """Moving stripes: a picture that changes every frame, so a frozen one is detectable."""
    for i in range(count):
        frame = av.VideoFrame(width, height, "yuv420p")
        row = bytes((x + i * 4) % 256 for x in range(width))
        frame.planes[0].update((row * height)[: frame.planes[0].buffer_size])
        for plane in frame.planes[1:]:
            plane.update(bytes([128 + i % 40]) * plane.buffer_size)
        frame.pts = i
        frame.time_base = fractions.Fraction(1, fps)
        yield frame


def _encode(container: av.container.OutputContainer, codec: str, seconds: int, **options: str) -> None:
    fps = 15
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
    stream.options = options
    for frame in _frames(320, 240, seconds * fps, fps):
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
    container.close()


def make_webm(path: Path, seconds: int) -> None:
    """A VP8 WebM video of `seconds`."""
    _encode(av.open(str(path), "w", format="webm"), "libvpx", seconds)


def make_hls(folder: Path, seconds: int) -> None:
    """An HLS stream (playlist live.m3u8 and 2-second segments), H.264 baseline."""
    folder.mkdir(parents=True, exist_ok=True)
    options = {"hls_time": "2", "hls_list_size": "0", "hls_playlist_type": "vod"}
    container = av.open(str(folder / "live.m3u8"), "w", format="hls", options=options)
    _encode(container, "libx264", seconds, profile="baseline", g="30")


@dataclass
class MediaServer:
    url: str
    requests: list[str]


@pytest.fixture
async def media(tmp_path: Path) -> AsyncIterator[MediaServer]:
    """A backup recording at /backup.webm and a stream at /hls/live.m3u8, on 127.0.0.1."""
    make_webm(tmp_path / "backup.webm", seconds=20)
    make_hls(tmp_path / "hls", seconds=8)
    seen: list[str] = []

    @web.middleware
    async def record(request: web.Request, handler):  # type: ignore[no-untyped-def]
        seen.append(request.path)
        response = await handler(request)
        response.headers["Access-Control-Allow-Origin"] = "*"  # hls.js fetches across origins
        return response

    app = web.Application(middlewares=[record])
    app.router.add_static("/", tmp_path)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield MediaServer(url=f"http://127.0.0.1:{port}", requests=seen)
    finally:
        await runner.cleanup()
