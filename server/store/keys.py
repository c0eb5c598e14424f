"""Every Redis key Podium uses, in one place. All start with PREFIX so a shared server is safe.

Podium runs against one Redis/Valkey primary (not Cluster): its Lua scripts touch
keys derived inside the script from PREFIX, which Cluster would refuse.
"""

from __future__ import annotations

PREFIX = "podium:"

SECRET = PREFIX + "secret"
EVENTS = PREFIX + "events"  # zset event id -> created_at
WORKERS = PREFIX + "workers"  # zset worker id -> last heartbeat (ms)
PRESENCE_DIRTY = PREFIX + "presence:dirty"  # set of session ids with unsent counts
STAGE_DIRTY = PREFIX + "stage:dirty"  # set of session ids where a speaker came or went (presence.lua)

# How many entries a session's change log keeps (approximately: Redis trims whole nodes).
# A client that was away for fewer changes than this resumes from the log; past it, it gets
# a snapshot. At the busiest (four coalesced updates a second plus every change) that is
# several minutes of a session.
FEED_MAX_ENTRIES = 2000


def event(event_id: str) -> str:
    """Hash: the event's fields."""
    return f"{PREFIX}ev:{event_id}"


def event_sessions(event_id: str) -> str:
    """Zset: session id -> starts_at."""
    return f"{PREFIX}ev:{event_id}:sessions"


def event_invites(event_id: str) -> str:
    """Zset: invite id -> created_at."""
    return f"{PREFIX}ev:{event_id}:invites"


def code(join_code: str) -> str:
    """String: join code -> event id."""
    return f"{PREFIX}code:{join_code}"


def session(session_id: str) -> str:
    """Hash: the session's fields and its version `v`."""
    return f"{PREFIX}ses:{session_id}"


def log(session_id: str) -> str:
    """Stream: the session's change log, entries "v-k" (see server/domain/feed.py)."""
    return f"{PREFIX}ses:{session_id}:log"


def voted(session_id: str, participant_id: str) -> str:
    """Set: the questions of a session one person has voted for (qa.lua keeps it)."""
    return f"{PREFIX}ses:{session_id}:voted:{participant_id}"


def worker_wake(worker_id: str) -> str:
    """Stream: nudges a worker's feed reader to read a new set of logs."""
    return f"{PREFIX}worker:{worker_id}:wake"


def invite(invite_id: str) -> str:
    """Hash: an invite link's role, scope, label, expiry and revocation."""
    return f"{PREFIX}inv:{invite_id}"


def participant(participant_id: str) -> str:
    """Hash: an audience member's display name and first visit."""
    return f"{PREFIX}p:{participant_id}"


def rate(bucket: str) -> str:
    """String counter of one rate-limit window."""
    return f"{PREFIX}rl:{bucket}"


# Presence keys are also built inside presence.lua from PREFIX; keep the two in step.
def presence_counts(session_id: str) -> str:
    """Hash: "role|where" -> people; "_seq" -> presence sequence number."""
    return f"{PREFIX}ses:{session_id}:pcounts"


def presence_logged(session_id: str) -> str:
    """Hash: the counts the session's log holds now (the last coalesced update)."""
    return f"{PREFIX}ses:{session_id}:plogged"


def presence_members(session_id: str) -> str:
    """Hash: "role|person" -> open connections."""
    return f"{PREFIX}ses:{session_id}:pmembers"


def presence_where(session_id: str) -> str:
    """Hash: "role|person" -> hall or remote."""
    return f"{PREFIX}ses:{session_id}:pwhere"


def connection(conn_id: str) -> str:
    """Hash: a socket's session, member and worker."""
    return f"{PREFIX}conn:{conn_id}"


def worker_connections(worker_id: str) -> str:
    """Set: the sockets a worker holds."""
    return f"{PREFIX}worker:{worker_id}:conns"


# Q&A keys are also built inside qa.lua and votes_flush.lua from PREFIX; keep them in step.
def qa_settings(session_id: str) -> str:
    """Hash: a session's Q&A settings."""
    return f"{PREFIX}ses:{session_id}:qa"


def questions(session_id: str) -> str:
    """Zset: question id -> created (ms)."""
    return f"{PREFIX}ses:{session_id}:qs"


def question(session_id: str, question_id: str) -> str:
    """Hash: one question."""
    return f"{PREFIX}ses:{session_id}:q:{question_id}"


def voters(session_id: str, question_id: str) -> str:
    """Set: the people who voted for a question."""
    return f"{PREFIX}ses:{session_id}:q:{question_id}:voters"


def qa_muted(session_id: str) -> str:
    """Set: people muted in a session."""
    return f"{PREFIX}ses:{session_id}:muted"


def banned(event_id: str) -> str:
    """Set: participant ids banned from an event."""
    return f"{PREFIX}ev:{event_id}:banned"


def banned_addresses(event_id: str) -> str:
    """Hash: keyed hash of a banned person's address -> when the ban began (s)."""
    return f"{PREFIX}ev:{event_id}:banned_addr"


# Reaction keys are also built inside reactions.lua from PREFIX.
def reaction_totals(session_id: str) -> str:
    """Hash: emoji -> all reactions the session has had."""
    return f"{PREFIX}ses:{session_id}:rxtotal"


def lineup(session_id: str) -> str:
    """Hash: speaker (invite id) -> backstage | live | backup | off."""
    return f"{PREFIX}ses:{session_id}:lineup"


def lineup_labels(session_id: str) -> str:
    """Hash: speaker (invite id) -> the label the organizer gave their link."""
    return f"{PREFIX}ses:{session_id}:lineup:labels"


def rtc_peers(session_id: str) -> str:
    """Hash: socket id -> "role|speaker" of the sockets that may signal in a session."""
    return f"{PREFIX}ses:{session_id}:rtc"


def lineup_members(session_id: str) -> str:
    """Hash: speaker (invite id) -> their presence member ("speaker|person"), for online checks."""
    return f"{PREFIX}ses:{session_id}:lineup:members"


def lineup_order(session_id: str) -> str:
    """Zset: speaker (invite id) -> arrival number (the running order)."""
    return f"{PREFIX}ses:{session_id}:lineup:order"


def stage(session_id: str) -> str:
    """Hash: the stage's status (scheduled | live | ended) and arrival counter."""
    return f"{PREFIX}ses:{session_id}:stage"


def cues(session_id: str) -> str:
    """Zset: cue id -> sent at (ms), the session's recent cues."""
    return f"{PREFIX}ses:{session_id}:cues"


def cue(session_id: str, cue_id: str) -> str:
    """Hash: one cue: speaker, kind, text, minutes, by, at, acked_at."""
    return f"{PREFIX}ses:{session_id}:cue:{cue_id}"


def chat(session_id: str) -> str:
    """List: the backstage chat's recent messages (JSON), newest first."""
    return f"{PREFIX}ses:{session_id}:chat"


def chat_sent(session_id: str, author: str, client_id: str) -> str:
    """String: a chat message's id by its author's client id (a resend is not a second message)."""
    return f"{PREFIX}ses:{session_id}:chat:sent:{author}:{client_id}"


def hands(session_id: str) -> str:
    """Zset: person -> arrival number of each raised hand (the queue, in arrival order)."""
    return f"{PREFIX}ses:{session_id}:hands"


def hand_notes(session_id: str) -> str:
    """Hash: person -> JSON {name, note, at} of each raised hand."""
    return f"{PREFIX}ses:{session_id}:hands:notes"


def hand_outcomes(session_id: str) -> str:
    """Hash: person -> JSON {state: declined | brought, token?} once a moderator answered."""
    return f"{PREFIX}ses:{session_id}:hands:outcome"


def session_keys(session_id: str) -> list[str]:
    """The stage keys of a session, removed with it."""
    return [
        lineup(session_id),
        lineup_labels(session_id),
        lineup_members(session_id),
        lineup_order(session_id),
        stage(session_id),
        cues(session_id),
        chat(session_id),
        hands(session_id),
        hand_notes(session_id),
        hand_outcomes(session_id),
    ]
