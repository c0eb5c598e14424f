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
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import replace
from pathlib import Path

from aiohttp import web

from server import __version__
from server.logs import configure
from server.process import Wakeup, describe_exit, die_with_parent
from server.settings import Settings, load_settings
from server.store.embedded import EmbeddedRedis, StoreFailed, StoreSupervisor

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


class MetricsDir:
    """Where the workers of one run keep their metrics (prometheus-client's multiprocess
    mode): a scrape reaches one worker, which sums every worker's files. Made empty for each
    run (values of another run must not add up with these) and removed at the end."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="podium-metrics-"))

    def worker_gone(self, pid: int) -> None:
        """A worker ended: its gauges (open connections...) leave the sums; its counters and
        histograms stay in them, so totals never go back."""
        from prometheus_client import multiprocess

        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(pid, str(self.path))  # type: ignore[no-untyped-call]

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


class Workers:
    """The worker processes sharing the port: a dead one is replaced at once; all of them
    are replaced when the store moves to a new address."""

    def __init__(self, n: int, env: dict[str, str], metrics: MetricsDir | None = None) -> None:
        self.env = env
        self.metrics = metrics
        self.procs = [self._spawn() for _ in range(n)]
        self.deaths: list[float] = []
        # Workers told to stop (they held the store's old address) and when to kill them.
        self.retiring: list[tuple[subprocess.Popen[bytes], float]] = []

    def _spawn(self) -> subprocess.Popen[bytes]:
        # A worker must not outlive this supervisor: an orphan would keep answering on
        # the shared port with no store behind it.
        return subprocess.Popen(
            [sys.executable, "-m", "server", "worker"],
            env=self.env,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - the supervisor runs no threads
        )

    def _gone(self, proc: subprocess.Popen[bytes]) -> None:
        if self.metrics is not None:
            self.metrics.worker_gone(proc.pid)

    def check(self) -> bool:
        """Replace dead workers; False when they keep dying (more than 10 in a minute)."""
        now = time.monotonic()
        for proc, _t in self.retiring:
            if proc.poll() is not None:
                self._gone(proc)
        self.retiring = [(proc, t) for proc, t in self.retiring if proc.poll() is None]
        for proc, kill_at in self.retiring:
            if now > kill_at:
                proc.kill()
        for i, proc in enumerate(self.procs):
            if proc.poll() is not None:
                self.deaths = [t for t in self.deaths if t > now - 60] + [now]
                if len(self.deaths) > 10:
                    logger.error("workers keep dying; stopping")
                    return False
                logger.warning("worker %s %s; starting another", proc.pid, describe_exit(proc.returncode))
                self._gone(proc)
                self.procs[i] = self._spawn()
        return True

    def use_store(self, url: str) -> None:
        """Replace every worker by one that uses the store at url (new ones first:
        SO_REUSEPORT lets both listen for a moment, so the port never goes unanswered)."""
        self.env["REDIS_URL"] = url
        old, self.procs = self.procs, [self._spawn() for _ in self.procs]
        for proc in old:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            self.retiring.append((proc, time.monotonic() + 15))

    def stop(self) -> None:
        """SIGTERM every worker (each leaves presence and closes its sockets); SIGKILL after 15 s."""
        procs = self.procs + [proc for proc, _ in self.retiring]
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


def _store_supervisor(settings: Settings, store: EmbeddedRedis) -> StoreSupervisor:
    return StoreSupervisor(
        store,
        restarts_max=settings.store_restarts_max,
        backoff_s=settings.store_backoff_s,
        backoff_max_s=settings.store_backoff_max_s,
        stable_s=settings.store_stable_s,
        silent_warn_s=settings.store_silent_warn_s,
        silent_kill_s=settings.store_silent_kill_s,
        port_wait_s=settings.store_port_wait_s,
    )


def serve(settings: Settings) -> int:
    """Start the store if needed, N workers on one port, print links; look after the store
    and the workers (each is started again when it dies) until a signal stops it all."""
    supervisor: StoreSupervisor | None = None
    if not settings.redis_url:
        embedded = EmbeddedRedis(settings.data_dir)
        try:
            settings = replace(settings, redis_url=embedded.start())
        except StoreFailed as exc:
            logger.error("Podium did not start: %s", exc)
            return 1
        supervisor = _store_supervisor(settings, embedded)
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    env = dict(os.environ, REDIS_URL=settings.redis_url, PORT=str(settings.port), HOST=settings.host)
    env["PODIUM_DATA_DIR"] = str(settings.data_dir)
    metrics = MetricsDir() if settings.metrics_enabled else None
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if metrics is not None:
        env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics.path)
    workers: Workers | None = None
    try:
        workers = Workers(max(1, settings.workers), env, metrics)
        if not _wait_healthy(settings, workers.procs):
            logger.error("Podium did not start; see the messages above")
            return 1
        print_links(settings, asyncio.run(_organizer_token(settings)))
        with Wakeup() as wakeup:  # a child's death (SIGCHLD) or Ctrl-C ends a wait at once
            while not stopping:
                wakeup.wait(supervisor.poll_s if supervisor else 0.2)
                if stopping:
                    break
                if supervisor is not None:
                    try:
                        supervisor.check()
                    except StoreFailed as exc:
                        logger.error("%s; stopping Podium", exc)
                        return 1
                    if supervisor.store.url != env["REDIS_URL"]:
                        workers.use_store(supervisor.store.url)
                if not stopping and not workers.check():
                    return 1
        return 0
    finally:
        # Workers first (they leave presence in the store), then the store (it flushes its
        # AOF). Ctrl-C already reached the workers (same process group); a SIGTERM to us did not.
        if supervisor is not None:
            supervisor.store.resume()
        if workers is not None:
            workers.stop()
        if supervisor is not None:
            supervisor.store.stop()
        if metrics is not None:
            metrics.remove()
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
