"""WebRTC signaling rules: who may talk to whom, what a signal may carry, TURN credentials.

Podium carries offers, answers and ICE candidates, never media. A speaker's browser
talks to the session's hall screens and to its moderators (the preview); nobody else
may signal, and never across sessions.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from server.domain import identity as idn
from server.domain import validate
from server.errors import Forbidden, Invalid

# "request": a viewer (screen, moderator) with no picture from a live speaker asks for a
# fresh offer; only the speaker offers, so there is still never a collision.
KINDS = ("offer", "answer", "candidate", "bye", "request")
SDP_MAX = 30_000
# RTCConfiguration.iceTransportPolicy: "relay" sends media only through the TURN servers
# (participants' addresses stay hidden; an event can prove its TURN works beforehand).
ICE_TRANSPORT_POLICIES = ("all", "relay")
CANDIDATE_MAX = 1_000

# Allowed (sender role, receiver role) pairs, by presence role.
ALLOWED = frozenset(
    {
        (idn.SPEAKER, idn.SCREEN),
        (idn.SPEAKER, idn.MODERATOR),
        (idn.SCREEN, idn.SPEAKER),
        (idn.MODERATOR, idn.SPEAKER),
    }
)
SIGNALING_ROLES = frozenset({idn.SPEAKER, idn.SCREEN, idn.MODERATOR})


def require_pair(sender: str, receiver: str, kind: str = "") -> None:
    """Forbidden unless a sender in this role may send this kind of signal to that one: only
    speakers offer, only viewers answer or ask for an offer."""
    if (sender, receiver) not in ALLOWED:
        raise Forbidden("These two may not connect.")
    speaking = sender == idn.SPEAKER
    if (kind == "offer" and not speaking) or (kind in ("answer", "request") and speaking):
        raise Forbidden(f"A {sender} does not send a {kind}.")


def signal_data(kind: str, data: Any) -> dict[str, Any]:
    """The payload of one signal, checked for shape and size."""
    if kind in ("bye", "request"):
        if data is not None and data != {}:
            raise Invalid(f"A {kind} carries no data.", field="data")
        return {}
    if not isinstance(data, dict):
        raise Invalid("data must be an object.", field="data")
    if kind in ("offer", "answer"):
        validate.payload(data, {"type", "sdp"}, {"type", "sdp"})
        if data["type"] != kind:
            raise Invalid("data.type must match the kind.", field="data")
        if not isinstance(data["sdp"], str) or not 0 < len(data["sdp"]) <= SDP_MAX:
            raise Invalid("data.sdp must be an SDP text.", field="data")
        return {"type": kind, "sdp": data["sdp"]}
    validate.payload(data, {"candidate", "sdpMid", "sdpMLineIndex", "usernameFragment"}, {"candidate"})
    candidate = data["candidate"]
    if not isinstance(candidate, str) or len(candidate) > CANDIDATE_MAX:
        raise Invalid("data.candidate must be a candidate line.", field="data")
    out: dict[str, Any] = {"candidate": candidate}
    if data.get("sdpMid") is not None:
        out["sdpMid"] = validate.text(data["sdpMid"], "sdpMid", max_len=64)
    if data.get("sdpMLineIndex") is not None:
        out["sdpMLineIndex"] = validate.integer(data["sdpMLineIndex"], "sdpMLineIndex", lo=0, hi=64)
    if data.get("usernameFragment") is not None:
        out["usernameFragment"] = validate.text(data["usernameFragment"], "usernameFragment", max_len=256)
    return out


def turn_credentials(secret: str, user: str, now: int, ttl: int) -> tuple[str, str]:
    """Time-limited TURN credentials (the TURN REST convention coturn's use-auth-secret reads)."""
    username = f"{now + ttl}:{user}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return username, base64.b64encode(digest).decode()


def ice_servers(
    stun: tuple[str, ...], turn: tuple[str, ...], *, turn_secret: str, user: str, now: int, ttl: int
) -> list[dict[str, Any]]:
    """The ICE servers a browser should use: STUN as given, TURN with fresh credentials."""
    servers: list[dict[str, Any]] = []
    if stun:
        servers.append({"urls": list(stun)})
    if turn and turn_secret:
        username, credential = turn_credentials(turn_secret, user, now, ttl)
        servers.append({"urls": list(turn), "username": username, "credential": credential})
    return servers
