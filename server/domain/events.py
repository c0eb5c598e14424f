"""Events and their sessions: the rules for what an organizer may create and change."""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from server.domain import validate
from server.errors import Invalid

NAME_MAX = 120
TITLE_MAX = 200
URL_MAX = 2000
MAX_LANGUAGES = 10
MAX_SESSION_HOURS = 24 * 7

# Join codes avoid letters and digits people confuse when read off a screen (0/O, 1/I/L).
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
CODE_LENGTH = 6
_CODE_RE = re.compile(r"[A-Z0-9]{4,12}")
# What a media URL may never hold: white space, quotes, `;` and `,` (they end a header's
# directive or value), backslashes, angle brackets, controls and lone surrogates.
_URL_REFUSED = re.compile(r"[\s;,'\"\\<>`\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_HOST_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")

EVENT_FIELDS = frozenset({"name", "code", "time_zone", "languages"})
SESSION_FIELDS = frozenset({"title", "starts_at", "ends_at", "stream_url"})


@dataclass(frozen=True)
class Event:
    """A conference day (or days) in one time zone, joined by its code."""

    id: str
    name: str
    code: str
    time_zone: str
    languages: tuple[str, ...]
    created_at: int

    def public(self) -> dict[str, Any]:
        """The form every client may see."""
        out = asdict(self)
        out["languages"] = list(self.languages)
        return out


@dataclass(frozen=True)
class Session:
    """One stage slot of an event: a talk, a panel, a ceremony."""

    id: str
    event_id: str
    title: str
    starts_at: int  # Unix seconds, UTC
    ends_at: int
    stream_url: str
    version: int = 0

    def public(self, time_zone: str) -> dict[str, Any]:
        """The form every client may see: times as ISO 8601 in the event's zone."""
        return {
            "id": self.id,
            "event_id": self.event_id,
            "title": self.title,
            "starts_at": local_iso(self.starts_at, time_zone),
            "ends_at": local_iso(self.ends_at, time_zone),
            "time_zone": time_zone,
            "stream_url": self.stream_url,
            "version": self.version,
        }


def new_code() -> str:
    """A fresh random join code (uniqueness is the store's job)."""
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def normalize_code(value: Any) -> str:
    """What a person typed as a code, made canonical: 'ab-12 cd' -> 'AB12CD'."""
    if not isinstance(value, str) or len(value) > 40:
        raise Invalid("code must be 4 to 12 letters or digits.", field="code")
    code = re.sub(r"[\s\-_.]", "", value).upper()
    if not _CODE_RE.fullmatch(code):
        raise Invalid("code must be 4 to 12 letters or digits.", field="code")
    return code


def time_zone(value: Any) -> str:
    """An IANA time zone name such as 'Asia/Shanghai'."""
    if not isinstance(value, str) or not 1 <= len(value) <= 64 or ".." in value:
        raise Invalid("time_zone must be an IANA time zone such as Europe/Paris.", field="time_zone")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid(
            "time_zone must be an IANA time zone such as Europe/Paris.", field="time_zone"
        ) from None
    return value


def languages(value: Any) -> tuple[str, ...]:
    """A non-empty list of language tags ('en', 'zh-CN', 'he'), without repeats."""
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LANGUAGES:
        raise Invalid(f"languages must be a list of 1 to {MAX_LANGUAGES} language tags.", field="languages")
    out: list[str] = []
    for tag in value:
        if not isinstance(tag, str) or not validate.LANGUAGE_TAG.fullmatch(tag):
            raise Invalid("languages must hold tags such as en, zh-CN or he.", field="languages")
        if tag not in out:
            out.append(tag)
    return tuple(out)


def local_iso(epoch: int, zone: str) -> str:
    """Unix seconds as ISO 8601 with the zone's offset at that instant."""
    return datetime.fromtimestamp(epoch, ZoneInfo(zone)).isoformat()


def parse_time(value: Any, field: str, zone: str) -> int:
    """ISO 8601 to Unix seconds; a time without an offset is read in the event's zone.

    A wall-clock time that does not exist in the zone (skipped by a DST change) is
    refused rather than silently moved by an hour.
    """
    if not isinstance(value, str) or len(value) > 40:
        raise Invalid(f"{field} must be a date and time such as 2026-12-03T09:30.", field=field)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Invalid(f"{field} must be a date and time such as 2026-12-03T09:30.", field=field) from None
    if parsed.tzinfo is None:
        tz = ZoneInfo(zone)
        aware = parsed.replace(tzinfo=tz)
        round_trip = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
        if round_trip != parsed:
            raise Invalid(f"{field}: {value} does not exist in {zone} (the clocks skip it).", field=field)
        parsed = aware
    return int(parsed.timestamp())


def _host(parts: SplitResult) -> str:
    """The URL's host in ASCII: an IP address, or a DNS name in its IDNA form."""
    name = parts.hostname or ""
    if "[" in parts.netloc:
        address = ipaddress.IPv6Address(name)
        if address.scope_id:
            raise ValueError("a scoped address is no host of the internet")
        return f"[{address.compressed}]"
    try:
        return str(ipaddress.IPv4Address(name))
    except ValueError:
        pass
    ascii_name = name.encode("idna").decode("ascii").lower()
    if len(ascii_name) > 253 or not all(_HOST_LABEL.fullmatch(label) for label in ascii_name.split(".")):
        raise ValueError("not a host name")
    return ascii_name


def media_origin(url: str) -> str | None:
    """The `scheme://host[:port]` a media URL is fetched from, rebuilt from its parsed parts
    (so nothing of the text itself reaches a header), or None unless it is a plain http(s)
    URL: a real host, no user name or password, no character that could end a directive."""
    if len(url) > URL_MAX or _URL_REFUSED.search(url):
        return None
    try:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or "@" in parts.netloc:
            return None
        host, port = _host(parts), parts.port
    except ValueError:  # a bad host, IPv6 literal or port (UnicodeError is one too)
        return None
    if port == 0:
        return None
    return f"{parts.scheme}://{host}" + ("" if port is None else f":{port}")


def media_url(value: Any, field: str) -> str:
    """An optional http(s) address of a video (a stream or a recording); "" or null for none.
    Stored with its host in ASCII, as the page's policy names its origin."""
    if value is None or value == "":
        return ""
    origin = media_origin(value) if isinstance(value, str) else None
    if origin is None:
        raise Invalid(
            f"{field} must be an http or https address (no spaces, quotes, ';' or ',').", field=field
        )
    parts = urlsplit(value)
    return origin + str(value)[len(parts.scheme) + 3 + len(parts.netloc) :]


def stream_url(value: Any) -> str:
    """An optional http(s) address of the session's HLS stream, for the remote audience."""
    return media_url(value, "stream_url")


def new_event(data: Mapping[str, Any], event_id: str, now: int, code: str) -> Event:
    """Validate an organizer's new event; code is the one asked for or a fresh one."""
    validate.payload(data, EVENT_FIELDS, required={"name", "time_zone"})
    return Event(
        id=event_id,
        name=validate.text(data["name"], "name", max_len=NAME_MAX),
        code=normalize_code(data["code"]) if validate.present(data, "code") and data["code"] != "" else code,
        time_zone=time_zone(data["time_zone"]),
        languages=languages(data.get("languages", ["en"])),
        created_at=now,
    )


def update_event(event: Event, data: Mapping[str, Any]) -> Event:
    """An event with the organizer's changes applied (unchanged fields kept)."""
    validate.payload(data, EVENT_FIELDS)
    changes: dict[str, Any] = {}
    if "name" in data:
        changes["name"] = validate.text(data["name"], "name", max_len=NAME_MAX)
    if "code" in data:
        changes["code"] = normalize_code(data["code"])
    if "time_zone" in data:
        changes["time_zone"] = time_zone(data["time_zone"])
    if "languages" in data:
        changes["languages"] = languages(data["languages"])
    return replace(event, **changes)


def _check_span(starts: int, ends: int) -> None:
    if ends <= starts:
        raise Invalid("ends_at must be after starts_at.", field="ends_at")
    if ends - starts > MAX_SESSION_HOURS * 3600:
        raise Invalid("A session lasts at most a week.", field="ends_at")


def new_session(data: Mapping[str, Any], event: Event, session_id: str) -> Session:
    """Validate an organizer's new session; times are read in the event's zone."""
    validate.payload(data, SESSION_FIELDS, required={"title", "starts_at", "ends_at"})
    starts = parse_time(data["starts_at"], "starts_at", event.time_zone)
    ends = parse_time(data["ends_at"], "ends_at", event.time_zone)
    _check_span(starts, ends)
    return Session(
        id=session_id,
        event_id=event.id,
        title=validate.text(data["title"], "title", max_len=TITLE_MAX),
        starts_at=starts,
        ends_at=ends,
        stream_url=stream_url(data.get("stream_url")),
    )


def update_session(session: Session, event: Event, data: Mapping[str, Any]) -> Session:
    """A session with the organizer's changes applied (unchanged fields kept)."""
    validate.payload(data, SESSION_FIELDS)
    changes: dict[str, Any] = {}
    if "title" in data:
        changes["title"] = validate.text(data["title"], "title", max_len=TITLE_MAX)
    if "starts_at" in data:
        changes["starts_at"] = parse_time(data["starts_at"], "starts_at", event.time_zone)
    if "ends_at" in data:
        changes["ends_at"] = parse_time(data["ends_at"], "ends_at", event.time_zone)
    if "stream_url" in data:
        changes["stream_url"] = stream_url(data["stream_url"])
    updated = replace(session, **changes)
    _check_span(updated.starts_at, updated.ends_at)
    return updated


def current_session(sessions: list[Session], now: int) -> Session | None:
    """The session an arriving audience member most likely wants: running now, else next, else last."""
    if not sessions:
        return None
    ordered = sorted(sessions, key=lambda s: (s.starts_at, s.id))
    running = [s for s in ordered if s.starts_at - 15 * 60 <= now < s.ends_at]
    if running:
        return running[-1]
    upcoming = [s for s in ordered if s.starts_at > now]
    return upcoming[0] if upcoming else ordered[-1]


def expiry(now: int, hours: float) -> int:
    """Unix seconds `hours` after now, for invites."""
    return now + int(timedelta(hours=hours).total_seconds())
