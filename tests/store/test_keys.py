"""Every key of a session has its own name: two kinds of data under one key would corrupt
each other (a poll's dirty set once took the presence's name)."""

from __future__ import annotations

import inspect

from server.store import keys


def test_every_key_of_a_session_is_distinct_and_on_its_slot() -> None:
    names: dict[str, str] = {}
    for name, fn in inspect.getmembers(keys, inspect.isfunction):
        params = list(inspect.signature(fn).parameters)
        if fn.__module__ != keys.__name__ or params[:1] != ["session_id"]:
            continue
        args = ["S1", *(f"x{i}" for i in range(len(params) - 1))]
        key = fn(*args)
        if not isinstance(key, str) or name in ("session_of_log",):
            continue
        assert key not in names, f"{name} and {names[key]} are both {key}"
        names[key] = name
        assert "{S1}" in key, f"{name} ({key}) is not on the session's slot"
    assert len(names) > 30
