"""Loading the Lua scripts that sit beside the stores that use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.store.connection import Client

_DIR = Path(__file__).parent / "lua"


def load(client: Client, name: str) -> Any:
    """Register lua/<name>.lua with client (sent by SHA, reloaded after a server restart)."""
    return client.register_script((_DIR / f"{name}.lua").read_text())
