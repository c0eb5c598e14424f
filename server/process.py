"""Child processes that cannot outlive Podium (Linux's parent-death signal)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal

PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """Ask the kernel to SIGTERM this process when its parent dies (even by SIGKILL)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def detach_and_die_with_parent() -> None:  # pragma: no cover - runs in the child, before exec
    """As die_with_parent(), in a session of its own so a terminal's Ctrl-C does not reach it."""
    os.setsid()
    die_with_parent()
