"""Loading the Lua scripts that sit beside the stores that use them."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from server.store import keys
from server.store.connection import Client

_DIR = Path(__file__).parent / "lua"


@cache
def source(name: str) -> str:
    """lua/<name>.lua with the feed's library (lua/feed.lua) in front of it: every script
    that changes a session logs the change in the same step."""
    library = (_DIR / "feed.lua").read_text().replace("__FEED_MAX__", str(keys.FEED_MAX_ENTRIES))
    return library + "\n" + (_DIR / f"{name}.lua").read_text()


def load(client: Client, name: str) -> Any:
    """Register lua/<name>.lua with client (sent by SHA, reloaded after a server restart)."""
    return client.register_script(source(name))
