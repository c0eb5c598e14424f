"""Event names on the wire (docs/protocol.md), mirrored in web/static/js/protocol.js."""

# client -> server (each answers with an ack)
SESSION_JOIN = "session:join"
SESSION_LEAVE = "session:leave"
SESSION_SNAPSHOT = "session:snapshot"
PRESENCE_WHERE = "presence:where"

# server -> client
SESSION_DELTA = "session:delta"
SESSION_DELETED = "session:deleted"
PRESENCE_COUNTS = "presence:counts"
CLOSED = "connection:closed"

CLIENT_EVENTS = (SESSION_JOIN, SESSION_LEAVE, SESSION_SNAPSHOT, PRESENCE_WHERE)


def session_room(session_id: str) -> str:
    """Everyone in a session."""
    return f"s:{session_id}"


def moderators_room(session_id: str) -> str:
    """Moderators (and organizers) of a session: moderation traffic goes only here."""
    return f"s:{session_id}:mod"


def event_room(event_id: str) -> str:
    """Every socket that joined any session of an event."""
    return f"e:{event_id}"


def invite_room(invite_id: str) -> str:
    """Every socket opened with one invite link (closed together when it is revoked)."""
    return f"inv:{invite_id}"
