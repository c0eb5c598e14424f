// Event names on the wire: mirrors server/realtime/protocol.py (docs/protocol.md).
export const SESSION_JOIN = "session:join";
export const SESSION_LEAVE = "session:leave";
export const SESSION_SNAPSHOT = "session:snapshot";
export const PRESENCE_WHERE = "presence:where";
export const QA_ASK = "qa:ask";
export const QA_VOTE = "qa:vote";
export const QA_WITHDRAW = "qa:withdraw";
export const QA_MODERATE = "qa:moderate";
export const QA_SETTINGS = "qa:settings";
export const QA_MUTE = "qa:mute";
export const QA_BAN = "qa:ban";
export const REACTION_SEND = "reaction:send";
export const STAGE_TIMER = "stage:timer";
export const STAGE_SET = "stage:set";

export const SESSION_DELTA = "session:delta";
export const SESSION_DELETED = "session:deleted";
export const PRESENCE_COUNTS = "presence:counts";
export const CLOSED = "connection:closed";
export const QA_DELTA = "qa:delta";
export const QA_VOTES = "qa:votes";
export const QA_MINE = "qa:mine";
export const REACTION_TICK = "reaction:tick";
export const STAGE_DELTA = "stage:delta";
