"""Child processes that cannot outlive Podium (Linux's parent-death signal)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Ask the kernel to SIGTERM this process when its parent dies (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def detach_and_die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """As die_with_parent(), in a session of its own so a terminal's Ctrl-C does not reach it."""
    os.setsid()
    die_with_parent()


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
