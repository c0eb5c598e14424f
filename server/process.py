"""Child processes that cannot outlive Podium (Linux's parent-death signal)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import select
import signal
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Ask the kernel to SIGTERM this process when its parent dies (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def detach_and_die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """As die_with_parent(), in a session of its own so a terminal's Ctrl-C does not reach it."""
    os.setsid()
    die_with_parent()


def describe_exit(returncode: int) -> str:
    """How a child ended, in words: "was killed by SIGKILL", "exited with code 1"."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with code {returncode}"


class Wakeup:
    """Sleep until a timeout passes or a signal arrives (a child exited or stopped,
    Ctrl-C): a supervisor then reacts to a death at once, not at its next poll.

    Python runs signal handlers between bytecodes, so a handler alone cannot end a
    select(); the interpreter's wakeup fd can: every handled signal writes a byte to it.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        os.set_blocking(self._write, False)
        self._old_fd = -1
        self._old_chld: Any = signal.SIG_DFL

    def __enter__(self) -> Wakeup:
        self._old_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
        # SIGCHLD's default action runs no handler, so it would write nothing: add one.
        self._old_chld = signal.signal(signal.SIGCHLD, _ignore)
        return self

    def wait(self, timeout: float) -> None:
        """Return after timeout seconds, or sooner when a signal came."""
        with contextlib.suppress(InterruptedError):
            select.select([self._read], [], [], max(0.0, timeout))
        with contextlib.suppress(BlockingIOError):
            while os.read(self._read, 512):
                pass

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        signal.signal(signal.SIGCHLD, self._old_chld if self._old_chld is not None else signal.SIG_DFL)
        signal.set_wakeup_fd(self._old_fd)
        os.close(self._read)
        os.close(self._write)


def _ignore(_signum: int, _frame: FrameType | None) -> None:
    """A handler that does nothing but make the signal wake a Wakeup."""


# Reading /proc (Linux): who runs, who is whose child. Used to find a stale embedded
# store, and by the system tests and the benchmark to watch Podium's processes.


def proc_state(pid: int) -> str | None:
    """The state letter of a process (R, S, Z...), or None when there is none."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def alive(pid: int) -> bool:
    """True while pid runs (a zombie nobody reaped yet counts as gone)."""
    return proc_state(pid) not in (None, "Z", "X")


def children(pid: int) -> list[int]:
    """Live processes whose parent is pid."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            out.append(int(entry.name))
    return sorted(out)


def cmdline(pid: int) -> str:
    """A process's command line, arguments separated by spaces ("" when it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
