// Event names on the wire: mirrors server/realtime/protocol.py (docs/protocol.md).
export const SESSION_JOIN = "session:join";
export const SESSION_LEAVE = "session:leave";
export const SESSION_SNAPSHOT = "session:snapshot";
export const PRESENCE_WHERE = "presence:where";

export const SESSION_DELTA = "session:delta";
export const SESSION_DELETED = "session:deleted";
export const PRESENCE_COUNTS = "presence:counts";
export const CLOSED = "connection:closed";
