"""SFU rules (rtc.sfu_url set): who may publish to or subscribe from a session's Janus
VideoRoom, and the room's name and keys.

Browsers never talk to Janus's API: Podium does, on their behalf, after these checks. Janus
only carries the media. The room's secret (edit, destroy) and pin (join) are derived from
Podium's secret, so only Podium can open the room to anyone; a publisher also needs a
one-time token that Podium adds to the room's `allowed` list for that studio alone.
"""

from __future__ import annotations

import hashlib
import hmac

from server.domain import identity as idn
from server.domain import stage as st
from server.errors import Forbidden

SUBSCRIBERS = frozenset({idn.SCREEN, idn.MODERATOR, idn.AUDIENCE})
ROOM_PUBLISHERS = 2 * st.MAX_LIVE  # a panel, and a studio taking over from another
SDP_MAX = 30_000


def room_id(session_id: str) -> int:
    """The session's VideoRoom number: stable, and below 2**53 so browsers read it exactly."""
    return int(hashlib.sha256(f"podium-room:{session_id}".encode()).hexdigest()[:13], 16)


def room_key(secret: str, session_id: str, purpose: str) -> str:
    """A room's secret ("secret") or pin ("pin"): only Podium can compute it."""
    return hmac.new(secret.encode(), f"janus-{purpose}:{session_id}".encode(), hashlib.sha256).hexdigest()


def require_publisher(role: str, state: str | None) -> None:
    """Only a speaker who is live on stage sends to the room (backstage, the moderators'
    preview stays peer to peer: whoever may subscribe never sees the green room)."""
    if role != idn.SPEAKER:
        raise Forbidden("Only speakers send their picture to the stage.")
    if state != "live":
        raise Forbidden("Only a speaker who is live sends to the stage.")


def require_subscriber(role: str, state: str | None) -> None:
    """Screens, moderators and the audience watch the speakers who are live."""
    if role not in SUBSCRIBERS:
        raise Forbidden("This role does not watch the stage.")
    if state != "live":
        raise Forbidden("That speaker is not live.")
