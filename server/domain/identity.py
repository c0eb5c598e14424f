"""Who is calling and what they may do: roles, signed tokens and the permission rules."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from server.errors import Forbidden, Unauthorized

AUDIENCE = "audience"
SPEAKER = "speaker"
MODERATOR = "moderator"
SCREEN = "screen"
ORGANIZER = "organizer"
# Sees the questions as a moderator does and attaches translations; moderates nothing.
INTERPRETER = "interpreter"

ROLES = (AUDIENCE, SPEAKER, MODERATOR, SCREEN, ORGANIZER, INTERPRETER)
# Roles an invite link can grant (the audience needs no invite).
INVITE_ROLES = (SPEAKER, MODERATOR, SCREEN, ORGANIZER, INTERPRETER)
# Roles counted in presence; an organizer in a session acts (and counts) as a moderator.
PRESENCE_ROLES = (AUDIENCE, SPEAKER, MODERATOR, SCREEN, INTERPRETER)
# Who may attach translations and correct a question's language.
TRANSLATORS = frozenset({MODERATOR, INTERPRETER})
WHERE = ("hall", "remote")

TOKEN_MAX = 2048


@dataclass(frozen=True)
class Principal:
    """The caller behind a connection or request, after their credentials were checked."""

    role: str
    person: str  # stable per browser (participant id) or per invite
    event_id: str | None = None  # None: every event (the start-up organizer)
    session_id: str | None = None  # None: every session of event_id
    invite_id: str | None = None
    participant_id: str | None = None

    @property
    def is_root(self) -> bool:
        """The start-up organizer, who may create events."""
        return self.role == ORGANIZER and self.event_id is None

    @property
    def presence_role(self) -> str:
        """The role this caller is counted under in a session's presence."""
        return MODERATOR if self.role == ORGANIZER else self.role

    def default_where(self) -> str:
        """Where a caller is presumed to be until they say otherwise."""
        return "hall" if self.role in (SCREEN, MODERATOR, ORGANIZER, INTERPRETER) else "remote"


def can_manage_event(who: Principal, event_id: str) -> bool:
    """Organizers manage their event; the start-up organizer manages all."""
    return who.role == ORGANIZER and (who.event_id is None or who.event_id == event_id)


def require_manage_event(who: Principal, event_id: str) -> None:
    """Raise Forbidden unless the caller may change this event."""
    if not can_manage_event(who, event_id):
        raise Forbidden("Only this event's organizers may do that.")


def require_root(who: Principal) -> None:
    """Raise Forbidden unless the caller is the start-up organizer."""
    if not who.is_root:
        raise Forbidden("Only the organizer link printed at start-up may create events.")


def require_session_access(who: Principal, event_id: str, session_id: str) -> None:
    """Raise Forbidden unless the caller may enter this session of this event."""
    if who.role == AUDIENCE:
        return  # the audience may enter any session of an event they know the code of
    if who.event_id is not None and who.event_id != event_id:
        raise Forbidden("This link is for another event.")
    if who.session_id is not None and who.session_id != session_id:
        raise Forbidden("This link is for another session.")


# --- Signed tokens -------------------------------------------------------------------
# Format: "<base64url(json payload)>.<base64url(hmac-sha256)>", keyed per purpose so
# a participant cookie can never pass as an invite token or the reverse.


def _key(secret: str, purpose: str) -> bytes:
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign(payload: dict[str, Any], secret: str, purpose: str) -> str:
    """A tamper-proof token carrying payload (which must hold "x", its expiry)."""
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    mac = hmac.new(_key(secret, purpose), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify(token: Any, secret: str, purpose: str, now: int) -> dict[str, Any]:
    """The payload of a token this server signed for purpose, if unexpired."""
    if (
        not isinstance(token, str)
        or not token.isascii()  # what we sign is; a lone surrogate would not even encode
        or not token
        or len(token) > TOKEN_MAX
        or token.count(".") != 1
    ):
        raise Unauthorized("This link is not valid.")
    body, mac = token.split(".")
    expected = hmac.new(_key(secret, purpose), body.encode(), hashlib.sha256).digest()
    try:
        given = _unb64(mac)
    except (binascii.Error, ValueError):
        raise Unauthorized("This link is not valid.") from None
    if not hmac.compare_digest(given, expected):
        raise Unauthorized("This link is not valid.")
    # Parsed only once the signature says it is ours (a stranger's body may be anything).
    payload = json.loads(_unb64(body))
    if not isinstance(payload, dict):
        raise Unauthorized("This link is not valid.")
    expires = payload.get("x")
    if not isinstance(expires, int) or expires <= now:
        raise Unauthorized("This link has expired.")
    return payload
