"""Loading the Lua scripts that sit beside the stores that use them, and running them."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import NoScriptError

from server.store import keys
from server.store.connection import Client

_DIR = Path(__file__).parent / "lua"

Call = tuple[Sequence[str], Sequence[Any]]  # (KEYS, ARGV)

# SHA1 of each script loaded -> its name, for the store's metrics (script:<name>); the
# scripts are a fixed set, so is this.
_NAMES: dict[str, str] = {}


@cache
def source(name: str, *, cluster: bool = False) -> str:
    """lua/<name>.lua with the feed's library (lua/feed.lua) in front of it: every script
    that changes a session logs the change in the same step.

    For a Cluster the first line is `#!lua`, which makes the server refuse any key of another
    slot than the script's KEYS (a script without it may touch any key its node holds, which
    works until the slots move): the Cluster tests hold every script to one slot. Only for a
    Cluster: Redis before 7 cannot read the line, and one server has no slots to hold to."""
    library = (_DIR / "feed.lua").read_text().replace("__FEED_MAX__", str(keys.FEED_MAX_ENTRIES))
    text = library + "\n" + (_DIR / f"{name}.lua").read_text()
    return "#!lua\n" + text if cluster else text


def load(client: Client, name: str) -> Any:
    """Register lua/<name>.lua with client (sent by SHA, reloaded after a server restart)."""
    script = client.register_script(source(name, cluster=isinstance(client, RedisCluster)))
    _NAMES[str(script.sha)] = name
    return script


def name_of(sha: str) -> str:
    """The name of the script loaded with this SHA1 ("unknown" for another)."""
    return _NAMES.get(sha, "unknown")


async def run_many(client: Client, script: Any, calls: list[Call]) -> list[Any]:
    """Run a script once per (KEYS, ARGV) in one pipeline (a Cluster client sends each node
    its part); the replies in order, an error as its exception. Calls that found the script
    missing (the server restarted) are loaded and run again; no other call runs twice."""
    replies: list[Any] = [None] * len(calls)
    todo = list(range(len(calls)))
    for attempt in range(2):
        async with client.pipeline(transaction=False) as pipe:
            for i in todo:
                keys_, args = calls[i]
                # EVALSHA by hand: a pipeline given a Script object asks SCRIPT EXISTS first
                # (and a Cluster pipeline has no evalsha(); its execute_command routes it).
                pipe.execute_command("EVALSHA", script.sha, len(keys_), *keys_, *args)
            results = await pipe.execute(raise_on_error=False)
        missing = []
        for i, result in zip(todo, results, strict=True):
            replies[i] = result
            if isinstance(result, NoScriptError):
                missing.append(i)
        if not missing or attempt:
            break
        await client.script_load(script.script)
        todo = missing
    return replies
