"""Every Redis key Podium uses, in one place. All start with PREFIX so a shared server is safe.

Keys are grouped by what they belong to, and the group's id is the key's hash tag (the part
in braces, which is all Redis Cluster hashes): every key of a session is on the session's
slot (`podium:ses:{<session>}...`), every key of an event on the event's, every key of a
worker on the worker's. A Lua script touches the keys of one group only, passed in KEYS
(keys per question or per person, whose names a script only learns as it runs, it names
from the session's key in KEYS[1]: they carry the same tag). So a session lives on one
shard of a Cluster, and sessions spread across its shards. The few keys that stand alone
(an invite, a participant, a join code, a rate counter, the indexes of events and workers)
are each read or written by themselves.

SCHEMA_VERSION counts layouts; server/store/migrate.py renames the keys of an older one.
"""

from __future__ import annotations

PREFIX = "podium:"

# The layout of the keys below. 1: before hash tags (session and event keys were named
# podium:ses:<id>..., podium:ev:<id>...). 2: hash tags, one slot per session.
SCHEMA_VERSION = 2
SCHEMA = PREFIX + "schema"  # string: the layout the store holds
MIGRATING = PREFIX + "migrating"  # string: a worker is migrating the store (expires)

SECRET = PREFIX + "secret"
EVENTS = PREFIX + "events"  # zset event id -> created_at
WORKERS = PREFIX + "workers"  # zset worker id -> last heartbeat (ms)
# Stream: webhook deliveries to make (server/store/webhooks.py); one consumer group, "deliver",
# so each is sent by one worker; an entry stays pending (its retries) until it is done.
WEBHOOK_OUTBOX = PREFIX + "webhooks:outbox"
WEBHOOK_GROUP = "deliver"

# How many entries a session's change log keeps (approximately: Redis trims whole nodes).
# A client that was away for fewer changes than this resumes from the log; past it, it gets
# a snapshot. At the busiest (four coalesced updates a second plus every change) that is
# several minutes of a session.
FEED_MAX_ENTRIES = 2000


def _ses(session_id: str, rest: str = "") -> str:
    return f"{PREFIX}ses:{{{session_id}}}{rest}"


def _ev(event_id: str, rest: str = "") -> str:
    return f"{PREFIX}ev:{{{event_id}}}{rest}"


def session_pattern(session_id: str) -> str:
    """A SCAN pattern for every key of a session (they share its tag, so one slot)."""
    return _ses(session_id, "*")


def event_pattern(event_id: str) -> str:
    """A SCAN pattern for every key of an event (its webhook, bans, indexes)."""
    return _ev(event_id, "*")


def _worker(worker_id: str, rest: str) -> str:
    return f"{PREFIX}worker:{{{worker_id}}}{rest}"


# --- stand-alone keys ----------------------------------------------------------------------


def code(join_code: str) -> str:
    """String: join code -> event id."""
    return f"{PREFIX}code:{join_code}"


def invite(invite_id: str) -> str:
    """Hash: an invite link's role, scope, label, expiry, revocation and backup recording."""
    return f"{PREFIX}inv:{invite_id}"


def participant(participant_id: str) -> str:
    """Hash: an audience member's display name and first visit."""
    return f"{PREFIX}p:{participant_id}"


def rate(bucket: str) -> str:
    """String counter of one rate-limit window."""
    return f"{PREFIX}rl:{bucket}"


# --- an event's keys (tagged by the event) -------------------------------------------------


def event(event_id: str) -> str:
    """Hash: the event's fields."""
    return _ev(event_id)


def event_sessions(event_id: str) -> str:
    """Zset: session id -> starts_at."""
    return _ev(event_id, ":sessions")


def event_invites(event_id: str) -> str:
    """Zset: invite id -> created_at."""
    return _ev(event_id, ":invites")


def banned(event_id: str) -> str:
    """Set: participant ids banned from an event."""
    return _ev(event_id, ":banned")


def banned_addresses(event_id: str) -> str:
    """Hash: keyed hash of a banned person's address -> when the ban began (s)."""
    return _ev(event_id, ":banned_addr")


def webhook(event_id: str) -> str:
    """Hash: the event's webhook: url, secret, updated_at."""
    return _ev(event_id, ":hook")


def webhook_deliveries(event_id: str) -> str:
    """Hash: delivery id -> JSON {id, type, status, code, attempts, at, error} of the recent ones."""
    return _ev(event_id, ":hook:deliveries")


def webhook_recent(event_id: str) -> str:
    """Zset: delivery id -> when it was made (ms); the last few, with webhook_deliveries."""
    return _ev(event_id, ":hook:recent")


# --- a worker's keys (tagged by the worker) ------------------------------------------------


def worker_wake(worker_id: str) -> str:
    """Stream: nudges a worker's feed reader to read a new set of logs."""
    return _worker(worker_id, ":wake")


def worker_sessions(worker_id: str) -> str:
    """Set: the sessions a worker has (or had) connections in, for the sweep that removes
    them when it dies (written before its first connection in each is counted)."""
    return _worker(worker_id, ":sessions")


def ready(worker_id: str) -> str:
    """String: /readyz's probe write."""
    return _worker(worker_id, ":ready")


# --- a session's keys (tagged by the session) ----------------------------------------------


def session(session_id: str) -> str:
    """Hash: the session's fields and its version `v`."""
    return _ses(session_id)


def log(session_id: str) -> str:
    """Stream: the session's change log, entries "v-k" (see server/domain/feed.py)."""
    return _ses(session_id, ":log")


def session_of_log(key: str) -> str:
    """The session id in the name of a session's log."""
    return key[len(PREFIX) + len("ses:{") : -len("}:log")]


def voted(session_id: str, participant_id: str) -> str:
    """Set: the questions of a session one person has voted for (qa.lua keeps it)."""
    return _ses(session_id, f":voted:{participant_id}")


# Presence (presence.lua).
def presence_counts(session_id: str) -> str:
    """Hash: "role|where" -> people; "_seq" -> presence sequence number."""
    return _ses(session_id, ":pcounts")


def presence_logged(session_id: str) -> str:
    """Hash: the counts the session's log holds now (the last coalesced update)."""
    return _ses(session_id, ":plogged")


def presence_members(session_id: str) -> str:
    """Hash: "role|person" -> open connections."""
    return _ses(session_id, ":pmembers")


def presence_where(session_id: str) -> str:
    """Hash: "role|person" -> hall or remote."""
    return _ses(session_id, ":pwhere")


def presence_conns(session_id: str) -> str:
    """Hash: socket id -> "worker|role|person" of each connection counted in the session."""
    return _ses(session_id, ":pconns")


def presence_worker(session_id: str, worker_id: str) -> str:
    """Set: the sockets one worker has counted in the session (what its sweep removes)."""
    return _ses(session_id, f":pw:{worker_id}")


def presence_keys(session_id: str, worker_id: str) -> list[str]:
    """What presence.lua's join, leave, where and reap touch, in its order."""
    return [
        presence_conns(session_id),
        presence_worker(session_id, worker_id),
        presence_members(session_id),
        presence_where(session_id),
        presence_counts(session_id),
        presence_dirty(session_id),
        online_dirty(session_id),
        insight_since(session_id),
        insight_dwell(session_id),
    ]


def presence_dirty(session_id: str) -> str:
    """String: the counts changed since they were last logged."""
    return _ses(session_id, ":pdirty")


def presence_gate(session_id: str) -> str:
    """String (expiring): the counts were logged less than a gate ago."""
    return _ses(session_id, ":pgate")


def online_dirty(session_id: str) -> str:
    """String: a speaker came or went since who is connected was last logged."""
    return _ses(session_id, ":sdirty")


# Q&A (qa.lua, votes_flush.lua; per question and per person keys are named in qa.lua).
def qa_settings(session_id: str) -> str:
    """Hash: a session's Q&A settings."""
    return _ses(session_id, ":qa")


def questions(session_id: str) -> str:
    """Zset: question id -> created (ms)."""
    return _ses(session_id, ":qs")


def question(session_id: str, question_id: str) -> str:
    """Hash: one question."""
    return _ses(session_id, f":q:{question_id}")


def voters(session_id: str, question_id: str) -> str:
    """Set: the people who voted for a question."""
    return _ses(session_id, f":q:{question_id}:voters")


def qa_muted(session_id: str) -> str:
    """Set: people muted in a session."""
    return _ses(session_id, ":muted")


def polls(session_id: str) -> str:
    """Zset: poll id -> created (ms). Each poll is a hash named from the session's key
    (polls.lua: <session>:poll:<id>, with :a its answers by person and :t its counts)."""
    return _ses(session_id, ":polls")


def poll(session_id: str, poll_id: str) -> str:
    """Hash: one poll (its definition, state, whether its results are shown)."""
    return f"{session(session_id)}:poll:{poll_id}"


def poll_answers(session_id: str, poll_id: str) -> str:
    """Hash: person -> their answer (JSON list of result keys)."""
    return f"{poll(session_id, poll_id)}:a"


def polls_dirty(session_id: str) -> str:
    """Set: the polls whose results changed since they were last logged."""
    return _ses(session_id, ":polldirty")


def polls_gate(session_id: str) -> str:
    """String (expiring): poll results were logged less than a gate ago."""
    return _ses(session_id, ":pollgate")


def votes_dirty(session_id: str) -> str:
    """Set: the questions whose vote counts changed since they were last logged."""
    return _ses(session_id, ":qvdirty")


def votes_gate(session_id: str) -> str:
    """String (expiring): vote counts were logged less than a gate ago."""
    return _ses(session_id, ":qvgate")


# Reactions (reactions.lua).
def reactions_unsent(session_id: str) -> str:
    """Hash: emoji -> reactions since the last tick."""
    return _ses(session_id, ":rx")


def reaction_totals(session_id: str) -> str:
    """Hash: emoji -> all reactions the session has had."""
    return _ses(session_id, ":rxtotal")


def reactions_gate(session_id: str) -> str:
    """String (expiring): a tick was logged less than a gate ago."""
    return _ses(session_id, ":rxgate")


def reaction_limit(session_id: str, person: str, emoji: str) -> str:
    """String (expiring): this person sent this emoji a moment ago."""
    return _ses(session_id, f":rxlimit:{person}:{emoji}")


# The stage (lineup.lua; feed.lua renders it).
def lineup(session_id: str) -> str:
    """Hash: speaker (invite id) -> backstage | live | backup | off."""
    return _ses(session_id, ":lineup")


def lineup_labels(session_id: str) -> str:
    """Hash: speaker (invite id) -> the label the organizer gave their link."""
    return _ses(session_id, ":lineup:labels")


def lineup_members(session_id: str) -> str:
    """Hash: speaker (invite id) -> their presence member ("speaker|person"), for online checks."""
    return _ses(session_id, ":lineup:members")


def lineup_order(session_id: str) -> str:
    """Zset: speaker (invite id) -> arrival number (the running order)."""
    return _ses(session_id, ":lineup:order")


def lineup_since(session_id: str) -> str:
    """Hash: speaker (invite id) -> when (Redis time, ms) they entered the state they are in:
    how far into their backup recording the hall is, and since when someone is live."""
    return _ses(session_id, ":lineup:since")


def lineup_langs(session_id: str) -> str:
    """Hash: speaker (invite id) -> the language of their studio (what to translate into)."""
    return _ses(session_id, ":lineup:lang")


def lineup_backups(session_id: str) -> str:
    """Hash: speaker (invite id) -> their backup recording's URL ("" for none): the invite's,
    copied into the session so that the stage renders from the session's own slot."""
    return _ses(session_id, ":lineup:backup")


def stage(session_id: str) -> str:
    """Hash: the stage's status (scheduled | live | ended) and arrival counter."""
    return _ses(session_id, ":stage")


def stage_keys(session_id: str) -> list[str]:
    """What feed.lua's feed_stage() reads, in its order."""
    return [
        lineup(session_id),
        lineup_labels(session_id),
        lineup_order(session_id),
        stage(session_id),
        lineup_backups(session_id),
        lineup_members(session_id),
        presence_members(session_id),
        lineup_langs(session_id),
        lineup_since(session_id),
    ]


def rtc_peers(session_id: str) -> str:
    """Hash: socket id -> "role|speaker" of the sockets that may signal in a session."""
    return _ses(session_id, ":rtc")


def cues(session_id: str) -> str:
    """Zset: cue id -> sent at (ms), the session's recent cues."""
    return _ses(session_id, ":cues")


def cue(session_id: str, cue_id: str) -> str:
    """Hash: one cue: speaker, kind, text, minutes, by, at, acked_at."""
    return _ses(session_id, f":cue:{cue_id}")


def chat(session_id: str) -> str:
    """List: the backstage chat's recent messages (JSON), newest first."""
    return _ses(session_id, ":chat")


def chat_sent(session_id: str, author: str, client_id: str) -> str:
    """String: a chat message's id by its author's client id (a resend is not a second message)."""
    return _ses(session_id, f":chat:sent:{author}:{client_id}")


def hands(session_id: str) -> str:
    """Zset: person -> arrival number of each raised hand (the queue, in arrival order)."""
    return _ses(session_id, ":hands")


def hand_notes(session_id: str) -> str:
    """Hash: person -> JSON {name, note, at} of each raised hand."""
    return _ses(session_id, ":hands:notes")


def hand_outcomes(session_id: str) -> str:
    """Hash: person -> JSON {state: declined | brought, token?} once a moderator answered."""
    return _ses(session_id, ":hands:outcome")


# Insight: the organizer's picture of a session (insight.lua; server/store/insight.py). Each
# expires insight.retention_days after the session's last sample.
def insight_tally(session_id: str) -> str:
    """Hash: running totals since the session began: asked, approved, answered, votes (qa.lua),
    and whatever else a script counts there (the polls' `poll_answers`); the minute samples
    copy it, so a counter added here reaches the timeline with no other change."""
    return _ses(session_id, ":ins:tally")


def insight_minutes(session_id: str) -> str:
    """Stream: one sample per minute the session ran, id "<minute start ms>-0": the presence
    counts, the tally and the reaction totals at that minute (the id makes a second write of
    the same minute impossible)."""
    return _ses(session_id, ":ins:min")


def insight_since(session_id: str) -> str:
    """Hash: "role|person" -> since when (ms) a person present now has been (presence.lua)."""
    return _ses(session_id, ":ins:since")


def insight_dwell(session_id: str) -> str:
    """Hash: "role|person" -> ms present in the session before the current stay (presence.lua)."""
    return _ses(session_id, ":ins:dwell")


def insight_keys(session_id: str) -> list[str]:
    """What insight.lua's sample touches, in its order."""
    return [
        session(session_id),
        stage(session_id),
        presence_counts(session_id),
        insight_tally(session_id),
        reaction_totals(session_id),
        insight_minutes(session_id),
        insight_since(session_id),
        insight_dwell(session_id),
    ]


def session_keys(session_id: str) -> list[str]:
    """The stage keys of a session, removed with it."""
    return [
        lineup(session_id),
        lineup_labels(session_id),
        lineup_members(session_id),
        lineup_order(session_id),
        lineup_backups(session_id),
        lineup_langs(session_id),
        lineup_since(session_id),
        stage(session_id),
        cues(session_id),
        chat(session_id),
        hands(session_id),
        hand_notes(session_id),
        hand_outcomes(session_id),
        insight_tally(session_id),
        insight_minutes(session_id),
        insight_since(session_id),
        insight_dwell(session_id),
    ]
