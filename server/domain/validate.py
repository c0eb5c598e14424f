"""Checks for every value a stranger can send: types, sizes and the text normalization.

Text normalization (docs/protocol.md, "Text"): Unicode NFC; CR LF, CR, U+2028 and
U+2029 become LF; in single-line fields every line break and tab becomes a space;
leading and trailing white space is removed. Any other control character (C0, DEL,
C1) is refused with `invalid` rather than silently removed, so what is stored is
exactly what the person sees. Bidirectional controls are kept: pages isolate every
piece of user text (`dir="auto"`, `unicode-bidi: isolate`) so they cannot spill over.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from server.errors import Invalid

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_BREAKS = re.compile(r"\r\n|\r|\u2028|\u2029")


def payload(
    value: Any, allowed: set[str] | frozenset[str], required: set[str] | None = None
) -> Mapping[str, Any]:
    """An object with only known keys, and all the required ones."""
    if not isinstance(value, dict):
        raise Invalid("The payload must be an object.")
    unknown = set(value) - set(allowed)
    if unknown:
        raise Invalid(f"Unknown field: {sorted(unknown)[0]}.", field=sorted(unknown)[0])
    for key in sorted(required or ()):
        if key not in value:
            raise Invalid(f"Missing field: {key}.", field=key)
    return value


def text(
    value: Any,
    field: str,
    *,
    max_len: int,
    min_len: int = 1,
    multiline: bool = False,
) -> str:
    """A normalized string of min_len..max_len characters (see the module docstring)."""
    if not isinstance(value, str):
        raise Invalid(f"{field} must be text.", field=field)
    if len(value) > max_len * 4:  # refuse huge input before doing any work on it
        raise Invalid(f"{field} is too long (at most {max_len} characters).", field=field)
    value = unicodedata.normalize("NFC", value)
    value = _LINE_BREAKS.sub("\n", value)
    value = value.replace("\t", " ")
    if not multiline:
        value = value.replace("\n", " ")
    value = value.strip()
    if _CONTROL.search(value):
        raise Invalid(f"{field} contains control characters.", field=field)
    if len(value) < min_len:
        raise Invalid(f"{field} must not be empty.", field=field)
    if len(value) > max_len:
        raise Invalid(f"{field} is too long (at most {max_len} characters).", field=field)
    return str(value)


def optional_text(value: Any, field: str, *, max_len: int) -> str:
    """Like text(), but None and blank give an empty string."""
    if value is None:
        return ""
    if isinstance(value, str) and not value.strip():
        return ""
    return text(value, field, max_len=max_len)


def choice(value: Any, field: str, options: tuple[str, ...] | frozenset[str]) -> str:
    """One of a fixed set of strings."""
    if not isinstance(value, str) or value not in options:
        raise Invalid(f"{field} must be one of: {', '.join(sorted(options))}.", field=field)
    return value


def identifier(value: Any, field: str, *, max_len: int = 64) -> str:
    """An id made by Podium: letters, digits, '-' and '_' only."""
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise Invalid(f"{field} must be an id.", field=field)
    if not re.fullmatch(r"[A-Za-z0-9_-]+", value):
        raise Invalid(f"{field} must be an id.", field=field)
    return value


def integer(value: Any, field: str, *, lo: int, hi: int) -> int:
    """An int in lo..hi (bools are not ints here)."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise Invalid(f"{field} must be a whole number from {lo} to {hi}.", field=field)
    return value


def boolean(value: Any, field: str) -> bool:
    """A real JSON boolean."""
    if not isinstance(value, bool):
        raise Invalid(f"{field} must be true or false.", field=field)
    return value
