"""`podium`: run the server (embedded store, N workers on one port), print links, seed a demo.

podium serve [--workers N] [--host H] [--port P]   run Podium (Ctrl-C stops it all)
podium link                                        print a fresh organizer link
podium worker                                      one worker (started by `serve`)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import logging
import os
import resource
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import replace

from aiohttp import web

from server import __version__
from server.logs import configure
from server.process import die_with_parent
from server.settings import Settings, load_settings
from server.store.embedded import EmbeddedRedis

logger = logging.getLogger("podium")


async def _organizer_token(settings: Settings) -> str:
    from server.auth import Auth
    from server.store.connection import connect
    from server.store.identity import IdentityStore

    client = connect(settings.redis_url)
    try:
        store = IdentityStore(client)
        secret = settings.secret or await store.secret()
        return await Auth(store, secret).root_organizer_link_token(settings.organizer_link_hours)
    finally:
        await client.aclose()


def print_links(settings: Settings, token: str) -> None:
    """What to open, printed once Podium answers."""
    base = settings.base_url
    lines = [
        "",
        f"  Podium {__version__} is running at {base}/",
        "",
        f"  Organizer (create events, sessions, invite links; valid {settings.organizer_link_hours} h):",
        f"      {base}/o#t={token}",
        f"  Audience: {base}/  (then the event's code)",
        "",
        "  Keep the organizer link private: whoever holds it can run every event.",
        "  Press Ctrl-C to stop Podium.",
        "",
    ]
    print("\n".join(lines), flush=True)


def _wait_healthy(settings: Settings, procs: list[subprocess.Popen[bytes]], timeout: float = 30) -> bool:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    url = f"http://{host}:{settings.port}/healthz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            return False
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=1) as r:
            if r.status == 200:
                return True
        time.sleep(0.1)
    return False


def serve(settings: Settings) -> int:
    """Start the store if needed, N workers on one port, print links; stop all on a signal."""
    embedded: EmbeddedRedis | None = None
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.data_dir)
        settings = replace(settings, redis_url=embedded.start())
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    env = dict(os.environ, REDIS_URL=settings.redis_url, PORT=str(settings.port), HOST=settings.host)
    env["PODIUM_DATA_DIR"] = str(settings.data_dir)

    def spawn() -> subprocess.Popen[bytes]:
        # A worker must not outlive this supervisor: an orphan would keep answering on
        # the shared port with no store behind it.
        return subprocess.Popen(
            [sys.executable, "-m", "server", "worker"],
            env=env,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - the supervisor runs no threads
        )

    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs = [spawn() for _ in range(max(1, settings.workers))]
        if not _wait_healthy(settings, procs):
            logger.error("Podium did not start; see the messages above")
            return 1
        print_links(settings, asyncio.run(_organizer_token(settings)))
        restarts: list[float] = []
        while not stopping:
            time.sleep(0.2)
            for i, proc in enumerate(procs):
                if proc.poll() is not None and not stopping:
                    restarts = [t for t in restarts if t > time.monotonic() - 60] + [time.monotonic()]
                    if len(restarts) > 10:
                        logger.error("workers keep dying; stopping")
                        return 1
                    logger.warning("worker %s exited with %s; starting another", proc.pid, proc.returncode)
                    procs[i] = spawn()
        return 0
    finally:
        # Ctrl-C already reached the workers (same process group); a SIGTERM to us did not.
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for proc in procs:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if embedded is not None:
            embedded.stop()
        logger.info("Podium stopped")


def raise_open_files() -> None:
    """A worker holds a socket per person: as many as the system lets one process have."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def worker(settings: Settings) -> None:
    """One worker process; several share the port through SO_REUSEPORT."""
    if not settings.redis_url:
        raise SystemExit("a worker needs REDIS_URL (use `podium serve`)")
    raise_open_files()
    if settings.event_loop == "uvloop":
        import uvloop

        uvloop.run(run_worker(settings))
    else:
        asyncio.run(run_worker(settings))


async def run_worker(settings: Settings) -> None:
    """Serve until SIGINT or SIGTERM (the first one: repeats during shutdown are ignored)."""
    from server.app import create_app, stop_gracefully

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    runner = web.AppRunner(create_app(settings), handle_signals=False, access_log=None, shutdown_timeout=5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port, reuse_port=True)
        await site.start()
        # What start-up made (pools, scripts, the app's objects) lives as long as the worker:
        # keep the collector from walking it again and again under a crowd.
        gc.collect()
        gc.freeze()
        logger.info("worker listening on %s:%s", settings.host, settings.port)
        await stop.wait()
    finally:
        await stop_gracefully(runner)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the `podium` command."""
    parser = argparse.ArgumentParser(prog="podium", description="Hybrid events: stage, Q&A, presence.")
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run Podium")
    s.add_argument("--workers", type=int, help="worker processes (default: WEB_CONCURRENCY or 1)")
    s.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default: PORT or 8080)")
    sub.add_parser("worker", help="one worker process (started by serve)")
    sub.add_parser("link", help="print a fresh organizer link (Podium must be running with REDIS_URL)")
    args = parser.parse_args(argv)

    overrides = {k: v for k, v in vars(args).items() if k in ("workers", "host", "port") and v is not None}
    settings = load_settings(**overrides)
    configure(settings.log_level, settings.log_format)
    if args.command == "serve":
        sys.exit(serve(settings))
    elif args.command == "worker":
        worker(settings)
    elif args.command == "link":
        if not settings.redis_url:
            raise SystemExit("set REDIS_URL to the store Podium runs on")
        print_links(settings, asyncio.run(_organizer_token(settings)))
