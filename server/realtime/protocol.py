"""Event names on the wire (docs/protocol.md), mirrored in web/static/js/protocol.js."""

# client -> server (each answers with an ack)
SESSION_JOIN = "session:join"
SESSION_LEAVE = "session:leave"
SESSION_SNAPSHOT = "session:snapshot"
SESSION_RESUME = "session:resume"
PRESENCE_WHERE = "presence:where"
QA_ASK = "qa:ask"
QA_VOTE = "qa:vote"
QA_WITHDRAW = "qa:withdraw"
QA_MODERATE = "qa:moderate"
QA_TRANSLATE = "qa:translate"
QA_LANGUAGE = "qa:language"
QA_SETTINGS = "qa:settings"
QA_MUTE = "qa:mute"
QA_BAN = "qa:ban"
POLL_CREATE = "poll:create"
POLL_EDIT = "poll:edit"
POLL_STATE = "poll:state"
POLL_ANSWER = "poll:answer"
POLL_MINE = "poll:mine"
POLL_APPROVE = "poll:approve"
POLL_LEADERBOARD = "poll:leaderboard"
REACTION_SEND = "reaction:send"
STAGE_TIMER = "stage:timer"
STAGE_SET = "stage:set"
STAGE_STATUS = "stage:status"
STAGE_ORDER = "stage:order"
STAGE_CUE = "stage:cue"  # both ways: a moderator sends one; moderators and its speaker receive it
STAGE_CUE_ACK = "stage:cue_ack"
STAGE_HEALTH = "stage:health"  # both ways: a speaker reports; the session's moderators receive it
CHAT_SEND = "chat:send"
HAND_RAISE = "hand:raise"
HAND_WITHDRAW = "hand:withdraw"
HAND_ANSWER = "hand:answer"
SESSION_UPGRADE = "session:upgrade"
RTC_SIGNAL = "rtc:signal"  # both ways: a client sends one, its peer receives it
RTC_ICE = "rtc:ice"  # fresh ICE servers (TURN credentials) before the old ones expire
SFU_PUBLISH = "sfu:publish"  # a live speaker's offer to the SFU -> its answer
SFU_SUBSCRIBE = "sfu:subscribe"  # watch a live speaker -> the SFU's offer
SFU_START = "sfu:start"  # the answer to that offer
SFU_STOP = "sfu:stop"  # stop watching a speaker, or publishing

# server -> client
SESSION_FEED = "session:feed"  # the session's changes in log order, one frame per view (feed.py)
CLOSED = "connection:closed"
CHAT_MESSAGE = "chat:message"  # backstage: to the session's moderators and speakers
HAND_QUEUE = "hand:queue"  # to moderators: the raised hands in arrival order
HAND_MINE = "hand:mine"  # to the person: their hand's state (with a speaker token once brought)
STAFF_INVITES = "staff:invites"  # to moderators: the session's links, anew after one changed
STAGE_TAKEOVER = "stage:takeover"  # to a speaker's other sockets: their studio opened elsewhere
RTC_PEER = "rtc:peer"  # a peer one may connect to arrived (present) or left
SESSION_RESYNC = "session:resync"  # this worker missed broadcasts: fetch a snapshot

CLIENT_EVENTS = (
    SESSION_JOIN,
    SESSION_LEAVE,
    SESSION_SNAPSHOT,
    SESSION_RESUME,
    PRESENCE_WHERE,
    QA_ASK,
    QA_VOTE,
    QA_WITHDRAW,
    QA_MODERATE,
    QA_TRANSLATE,
    QA_LANGUAGE,
    QA_SETTINGS,
    QA_MUTE,
    QA_BAN,
    POLL_CREATE,
    POLL_EDIT,
    POLL_STATE,
    POLL_ANSWER,
    POLL_MINE,
    POLL_APPROVE,
    POLL_LEADERBOARD,
    REACTION_SEND,
    STAGE_TIMER,
    STAGE_SET,
    STAGE_STATUS,
    STAGE_ORDER,
    STAGE_CUE,
    STAGE_CUE_ACK,
    STAGE_HEALTH,
    CHAT_SEND,
    HAND_RAISE,
    HAND_WITHDRAW,
    HAND_ANSWER,
    SESSION_UPGRADE,
    RTC_SIGNAL,
    RTC_ICE,
    SFU_PUBLISH,
    SFU_SUBSCRIBE,
    SFU_START,
    SFU_STOP,
)


def moderators_room(session_id: str) -> str:
    """Moderators (and organizers) of a session: moderation traffic goes only here."""
    return f"s:{session_id}:mod"


def invite_room(invite_id: str) -> str:
    """Every socket opened with one invite link (closed together when it is revoked)."""
    return f"inv:{invite_id}"


def person_room(participant_id: str) -> str:
    """Every socket of one browser (their own questions' states; closing a banned person)."""
    return f"p:{participant_id}"


def rtc_room(session_id: str) -> str:
    """The speakers, screens and moderators of a session (peer arrivals for signaling)."""
    return f"s:{session_id}:rtc"


def backstage_room(session_id: str) -> str:
    """The moderators and speakers of a session: the backstage chat."""
    return f"s:{session_id}:back"
