"""A real coturn (Debian's `turnserver`) for tests: started on 127.0.0.1 on a free port with
Podium's TURN REST secret (use-auth-secret), relaying between loopback addresses, logging to a
file the test can read; stopped (killed if it must be) when the test ends, failed or not.

Never the system's coturn: the Debian package may start one on 3478 from /etc/turnserver.conf;
this one reads only its own configuration and listens on a port nobody else holds.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aioice import stun

TURNSERVER = os.environ.get("PODIUM_TURNSERVER", "turnserver")
TURN_SECRET = "podium-turn-secret-for-tests"
REALM = "podium.test"
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0


@dataclass
class Coturn:
    """One running turnserver: its port, secret, and what it logged."""

    port: int
    secret: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def url(self, transport: str) -> str:
        """A `turn:` URL of this server for a browser's iceServers (udp or tcp)."""
        return f"turn:127.0.0.1:{self.port}?transport={transport}"

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def allocations(self) -> list[str]:
        """The usernames of the allocations it granted."""
        return re.findall(r"user <([^>]*)>: incoming packet ALLOCATE processed, success", self.log())

    def refusals(self) -> list[str]:
        """The usernames whose requests it refused as unauthorized (the credential was wrong)."""
        return re.findall(r"user <([^>]+)>: incoming packet \S+ processed, error 401", self.log())


def free_udp_and_tcp_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (TURN listens on both)."""
    for _ in range(50):
        with socket.socket() as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP")


def answers_stun(port: int) -> bool:
    """It answers a STUN Binding request on UDP (up and listening)."""
    request = stun.Message(message_method=stun.Method.BINDING, message_class=stun.Class.REQUEST)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.2)
        try:
            s.sendto(bytes(request), ("127.0.0.1", port))
            reply = stun.parse_message(s.recv(2048))
        except (OSError, ValueError):
            return False
    return reply.transaction_id == request.transaction_id


def config(port: int, secret: str, folder: Path) -> str:
    """coturn's configuration: Podium's shared secret, loopback only, no TLS, verbose log."""
    return "\n".join(
        [
            "listening-ip=127.0.0.1",
            "relay-ip=127.0.0.1",
            f"listening-port={port}",
            f"realm={REALM}",
            "use-auth-secret",
            f"static-auth-secret={secret}",
            "fingerprint",
            # Both browsers are on this machine: their relayed addresses are loopback ones.
            "allow-loopback-peers",
            "no-cli",
            "no-tls",
            "no-dtls",
            "verbose",  # allocations are logged only in verbose mode
            f"log-file={folder / 'turnserver.log'}",
            "simple-log",
            "no-stdout-log",
            f"pidfile={folder / 'turnserver.pid'}",
            f"userdb={folder / 'turndb'}",
            "",
        ]
    )


def start(exe: str, folder: Path, secret: str) -> Coturn:
    """A turnserver answering STUN on a free port (a few tries, should another take the port)."""
    folder.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        port = free_udp_and_tcp_port()
        conf = folder / "turnserver.conf"
        conf.write_text(config(port, secret, folder), encoding="utf-8")
        process = subprocess.Popen(
            [exe, "-c", str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        turn = Coturn(port=port, secret=secret, log_path=folder / "turnserver.log", process=process)
        deadline = time.monotonic() + START_TIMEOUT_S
        while process.poll() is None and time.monotonic() < deadline:
            if answers_stun(port):
                return turn
            time.sleep(0.05)
        stop(turn)
    raise RuntimeError(f"turnserver did not start; its log is in {folder}")


def stop(turn: Coturn) -> None:
    """SIGTERM, then SIGKILL if it lingers."""
    if turn.process.poll() is None:
        turn.process.terminate()
        try:
            turn.process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            turn.process.kill()
            turn.process.wait(STOP_TIMEOUT_S)


@pytest.fixture
def turnserver_path() -> str:
    """coturn's server. Missing is a failure, never a skip (CI installs it: .ci/run).

    A plain fixture, like chromium_path: pytest.fail must not be raised inside the event loop.
    """
    exe = shutil.which(TURNSERVER)
    if exe is None:
        pytest.fail(
            f"No {TURNSERVER} on PATH: install Debian's `coturn` package (apt-get install coturn) "
            "or set PODIUM_TURNSERVER to a turnserver executable.",
            pytrace=False,
        )
    return exe


@pytest.fixture
def coturn_secret() -> str:
    """The secret coturn is started with: Podium's, unless a test parametrizes another."""
    return TURN_SECRET


@pytest.fixture
def coturn(turnserver_path: str, coturn_secret: str, tmp_path: Path) -> Iterator[Coturn]:
    """A real coturn for the test, stopped when it ends."""
    turn = start(turnserver_path, tmp_path / "coturn", coturn_secret)
    try:
        yield turn
    finally:
        stop(turn)
