"""A real Janus (Debian's `janus`) for the SFU tests and the stage-media benchmark: a config
dir of its own in a temporary folder, its own HTTP port and RTP port range, the VideoRoom
plugin and the HTTP transport only, an API secret; started, waited for, stopped."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

JANUS = os.environ.get("PODIUM_JANUS", shutil.which("janus") or "/usr/bin/janus")
LIBDIR = Path(os.environ.get("PODIUM_JANUS_LIB", "/usr/lib/x86_64-linux-gnu/janus"))
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 10.0

# Everything the Debian package ships besides the VideoRoom plugin and the HTTP transport.
OTHER_PLUGINS = (
    "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_echotest.so,libjanus_lua.so,"
    "libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,"
    "libjanus_textroom.so,libjanus_videocall.so,libjanus_voicemail.so"
)
OTHER_TRANSPORTS = (
    "libjanus_websockets.so,libjanus_rabbitmq.so,libjanus_mqtt.so,libjanus_nanomsg.so,libjanus_pfunix.so"
)


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(folder: Path, *, port: int, api_secret: str, rtp_ports: tuple[int, int]) -> None:
    """janus.jcfg, the HTTP transport's and the VideoRoom's configs, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "janus.jcfg").write_text(
        f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{LIBDIR / "plugins"}"
    transports_folder = "{LIBDIR / "transports"}"
    events_folder = "{LIBDIR / "events"}"
    loggers_folder = "{LIBDIR / "loggers"}"
    debug_level = 3
    api_secret = "{api_secret}"
    session_timeout = 60
    server_name = "podium-test"
}}
media: {{
    rtp_port_range = "{rtp_ports[0]}-{rtp_ports[1]}"
}}
nat: {{
    ice_ignore_list = "vmnet"
    ignore_mdns = true
}}
plugins: {{
    disable = "{OTHER_PLUGINS}"
}}
transports: {{
    disable = "{OTHER_TRANSPORTS}"
}}
events: {{
    broadcast = false
}}
loggers: {{
    disable = "libjanus_jsonlog.so"
}}
"""
    )
    (folder / "janus.transport.http.jcfg").write_text(
        f"""general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    port = {port}
    ip = "127.0.0.1"
    https = false
}}
admin: {{
    admin_http = false
}}
"""
    )
    (folder / "janus.plugin.videoroom.jcfg").write_text("general: {\n}\n")


@dataclass
class JanusProcess:
    """One running Janus; `url` is its HTTP API (what rtc.sfu_url takes)."""

    process: asyncio.subprocess.Process
    url: str
    api_secret: str
    folder: Path

    @property
    def log(self) -> Path:
        return self.folder / "janus.log"

    async def restart(self) -> None:
        """Stop it and start it again on the same config and ports (its rooms are gone)."""
        await self.stop()
        self.process = await _launch(self.folder)
        await _ready(self)

    async def stop(self) -> None:
        """SIGTERM, then SIGKILL if it does not go."""
        if self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


def missing() -> str | None:
    """Why Janus cannot run here, or None."""
    if not (Path(JANUS).is_file() and os.access(JANUS, os.X_OK)):
        return f"No Janus at {JANUS}: install Debian's `janus` package or set PODIUM_JANUS."
    if not (LIBDIR / "plugins" / "libjanus_videoroom.so").exists():
        return f"No Janus VideoRoom plugin under {LIBDIR} (set PODIUM_JANUS_LIB)."
    return None


async def start_janus(folder: Path, *, rtp_base: int | None = None) -> JanusProcess:
    """Write a config in `folder`, start Janus with it and wait until its API answers."""
    port = free_port()
    api_secret = secrets.token_urlsafe(16)
    base = rtp_base if rtp_base is not None else 20000 + (port % 200) * 200
    write_config(folder, port=port, api_secret=api_secret, rtp_ports=(base, base + 199))
    running = JanusProcess(
        process=await _launch(folder),
        url=f"http://127.0.0.1:{port}/janus",
        api_secret=api_secret,
        folder=folder,
    )
    await _ready(running)
    return running


async def _launch(folder: Path) -> asyncio.subprocess.Process:
    with open(folder / "janus.log", "ab") as out:
        return await asyncio.create_subprocess_exec(
            JANUS,
            "--configs-folder",
            str(folder),
            "--config",
            str(folder / "janus.jcfg"),
            "--disable-colors",
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )


async def _ready(running: JanusProcess) -> None:
    """Wait until its API answers with the VideoRoom loaded."""
    process, log = running.process, running.log
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT_S
    async with aiohttp.ClientSession() as http:
        while True:
            if process.returncode is not None:
                raise RuntimeError(f"janus exited ({process.returncode}): {log.read_text()[-2000:]}")
            try:
                async with http.get(f"{running.url}/info", timeout=aiohttp.ClientTimeout(total=1)) as r:
                    info = await r.json(content_type=None)
                    if "janus.plugin.videoroom" in info.get("plugins", {}):
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            if loop.time() > deadline:
                await running.stop()
                raise RuntimeError(
                    f"janus did not answer within {START_TIMEOUT_S} s: {log.read_text()[-2000:]}"
                )
            await asyncio.sleep(0.1)


@pytest.fixture
def janus_binary() -> None:
    """Janus must be here: missing is a failure, never a skip (as a missing Chromium is).
    A plain fixture: pytest.fail must not be raised inside the shared event loop."""
    why = missing()
    if why:
        pytest.fail(why, pytrace=False)


@pytest.fixture
async def janus(janus_binary: None, tmp_path: Path) -> AsyncIterator[JanusProcess]:
    """A Janus of this test's own (config, ports and API secret), stopped after it."""
    running = await start_janus(tmp_path / "janus")
    try:
        yield running
    finally:
        await running.stop()
