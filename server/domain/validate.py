"""Checks for every value a stranger can send: types, sizes and the text normalization.

Text normalization (docs/protocol.md, "Text"): Unicode NFC; CR LF, CR, U+2028 and
U+2029 become LF; in single-line fields every line break and tab becomes a space;
leading and trailing white space is removed. Any other control character (C0, DEL,
C1) is refused with `invalid` rather than silently removed, so what is stored is
exactly what the person sees. A lone UTF-16 surrogate (half of a pair, which JSON's
`\\ud800` can spell) is not Unicode text at all: refused too, before it could fail the
encoding on its way to Redis. Bidirectional controls are kept: pages isolate every piece
of user text (`dir="auto"`, `unicode-bidi: isolate`) so they cannot spill over.

`null` is not a way to leave a field out: these checks refuse it like any other wrong
type (see `present`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

from server.errors import Invalid

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_LINE_BREAKS = re.compile(r"\r\n|\r|\u2028|\u2029")
_FIELD_NAME = re.compile(r"[A-Za-z0-9_]{1,40}")

# How deep arrays and objects may sit inside one another in anything a client sends.
# Podium's own payloads nest four deep at most; a JSON parser recurses once per level, and
# Python's gives up with a RecursionError near 1,000.
MAX_DEPTH = 32
# A JSON string (an unterminated one runs to the end: possessive, so never re-scanned).
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.?)*+(?:"|\Z)', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def too_deep(text: str, bound: int = MAX_DEPTH) -> bool:
    """Whether JSON text nests arrays and objects more than `bound` deep, known before
    parsing it. Counting brackets settles almost every text at C speed; only one with more
    than `bound` of them is walked, with the brackets inside its strings left out."""
    if text.count("[") + text.count("{") <= bound:
        return False
    depth = 0
    for bracket in _NOT_BRACKET.sub("", _JSON_STRING.sub("", text)):
        if bracket in "[{":
            depth += 1
            if depth > bound:
                return True
        else:
            depth = max(depth - 1, 0)  # a stray closer ends any parse; it lowers nothing
    return False


def shown(name: str) -> str:
    """A client's key or name as it may appear in a message or a log line: plain names as
    they are, anything else escaped and cut short (no line breaks, no surrogates, no 10 KB)."""
    return name if _FIELD_NAME.fullmatch(name) else ascii(name[:40])


def payload(
    value: Any, allowed: set[str] | frozenset[str], required: set[str] | None = None
) -> Mapping[str, Any]:
    """An object with only known keys, and all the required ones."""
    if not isinstance(value, dict):
        raise Invalid("The payload must be an object.")
    unknown = set(value) - set(allowed)
    if unknown:
        key = shown(sorted(unknown)[0])
        raise Invalid(f"Unknown field: {key}.", field=key)
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
    if _SURROGATE.search(value):
        raise Invalid(f"{field} is not valid Unicode (it holds a lone surrogate).", field=field)
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


def present(data: Mapping[str, Any], key: str) -> bool:
    """Whether an optional field was given. Left out is False; null is `invalid`, not a
    second way to leave it out (docs/protocol.md lists the few fields where null means none)."""
    if key not in data:
        return False
    if data[key] is None:
        raise Invalid(f"{key} must not be null (leave it out instead).", field=key)
    return True


def optional_text(value: Any, field: str, *, max_len: int) -> str:
    """Like text(), but None (a field left out) and blank give an empty string."""
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


LANGUAGE_TAG = re.compile(r"[a-zA-Z]{2,3}(-[a-zA-Z0-9]{2,8}){0,3}")


def language_tag(value: Any, field: str) -> str:
    """A BCP 47 language tag as Podium uses them: en, zh-CN, he, pt-BR."""
    if not isinstance(value, str) or not LANGUAGE_TAG.fullmatch(value):
        raise Invalid(f"{field} must be a language tag such as en, zh-CN or he.", field=field)
    return value


def boolean(value: Any, field: str) -> bool:
    """A real JSON boolean."""
    if not isinstance(value, bool):
        raise Invalid(f"{field} must be true or false.", field=field)
    return value
