"""Structured logs: every line carries the worker, the connection and the session it concerns."""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
from collections.abc import Iterator

_conn: contextvars.ContextVar[str | None] = contextvars.ContextVar("conn", default=None)
_session: contextvars.ContextVar[str | None] = contextvars.ContextVar("session", default=None)


@contextlib.contextmanager
def bind(conn: str | None = None, session: str | None = None) -> Iterator[None]:
    """Tag the log lines written inside this block with a connection and a session."""
    t1 = _conn.set(conn)
    t2 = _session.set(session)
    try:
        yield
    finally:
        _conn.reset(t1)
        _session.reset(t2)


class _Context(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.conn = _conn.get() or "-"
        record.session = _session.get() or "-"
        record.worker = os.getpid()
        return True


class _Json(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "worker": getattr(record, "worker", None),
            "conn": getattr(record, "conn", "-"),
            "session": getattr(record, "session", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


def configure(level: str = "INFO", fmt: str = "text") -> None:
    """Configure logging once, in the entry point."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_Context())
    if fmt == "json":
        handler.setFormatter(_Json())
    else:
        handler.setFormatter(
            logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s [w=%(worker)s conn=%(conn)s "
                "session=%(session)s] %(message)s"
            )
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The libraries' own per-packet chatter is not useful at INFO.
    for noisy in ("engineio", "socketio", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
