// The live connection: websocket-only Socket.IO with backoff, acks that never hang,
// session re-join after a reconnect, and version-gap recovery through snapshots.
import { io } from "/static/vendor/socket.io.esm.min.js";
import * as P from "./protocol.js";
import { t } from "./i18n.js";

const ACK_TIMEOUT_MS = 8000;
const FIREWALL_HINT_AFTER = 4; // failed attempts before suggesting a firewall or VPN

export class Live {
  constructor({ auth = () => ({}), ...handlers } = {}) {
    this.auth = auth;
    // onSnapshot, onPresence, onDelta, onClosed, onDeleted, onVotes, onMine, onReactions
    this.handlers = handlers;
    this.votesSeq = -1;
    this.onlineSeq = 0; // who of the lineup is connected: its own sequence, like presence
    this.online = {};
    this.sessionId = null;
    this.where = null;
    this.v = 0;
    this.failures = 0;
    this.banner = document.getElementById("banner");
  }

  connect() {
    this.socket = io({
      transports: ["websocket"],
      auth: (cb) => cb(this.auth()),
      reconnectionDelay: 500,
      reconnectionDelayMax: 10000,
      randomizationFactor: 0.5,
    });
    const s = this.socket;
    s.on("connect", () => {
      this.failures = 0;
      this.showBanner(null);
      if (this.sessionId) this.join(this.sessionId, this.where);
    });
    s.on("disconnect", (reason) => {
      if (reason === "io server disconnect") return; // closed on purpose: see CLOSED
      this.showBanner(t("conn.reconnecting"));
    });
    s.on("connect_error", (err) => {
      if (err && err.data && err.data.code) {
        // Refused by Podium (bad link, foreign page): retrying will not help.
        s.disconnect();
        this.handlers.onClosed?.(err.data);
        return;
      }
      this.failures += 1;
      this.showBanner(this.failures >= FIREWALL_HINT_AFTER ? t("conn.firewall") : t("conn.reconnecting"));
    });
    s.on(P.CLOSED, (info) => this.handlers.onClosed?.(info));
    s.on(P.PRESENCE_COUNTS, (msg) => {
      if (msg.session === this.sessionId) this.handlers.onPresence?.(msg);
    });
    // Session edits and Q&A changes share the session's version: apply in order, and on
    // a gap (a lost broadcast) fetch a snapshot, which is the truth.
    for (const name of [P.SESSION_DELTA, P.QA_DELTA, P.STAGE_DELTA]) {
      s.on(name, (msg) => {
        if (msg.session !== this.sessionId) return;
        if (msg.v <= this.v) return; // already have it (a snapshot overtook the broadcast)
        if (msg.v !== this.v + 1) {
          this.resync();
          return;
        }
        this.v = msg.v;
        if (msg.stage) this.settleOnline(msg.stage);
        this.handlers.onDelta?.(msg, name);
      });
    }
    s.on(P.STAGE_ONLINE, (msg) => {
      if (msg.session !== this.sessionId || msg.seq <= this.onlineSeq) return;
      this.onlineSeq = msg.seq;
      this.online = msg.online;
      this.handlers.onOnline?.(msg);
    });
    s.on(P.QA_VOTES, (msg) => {
      if (msg.session !== this.sessionId || msg.seq <= this.votesSeq) return;
      this.votesSeq = msg.seq;
      this.handlers.onVotes?.(msg);
    });
    s.on(P.REACTION_TICK, (msg) => {
      if (msg.session === this.sessionId) this.handlers.onReactions?.(msg);
    });
    s.on(P.QA_MINE, (msg) => {
      if (msg.session === this.sessionId) this.handlers.onMine?.(msg);
    });
    s.on(P.SESSION_DELETED, (msg) => {
      if (msg.session === this.sessionId) this.handlers.onDeleted?.(msg);
    });
    return this;
  }

  showBanner(text) {
    if (!this.banner) return;
    this.banner.hidden = !text;
    this.banner.textContent = text || "";
  }

  // Sends an event and resolves with its ack; never rejects, never hangs.
  async request(event, payload) {
    try {
      return await this.socket.timeout(ACK_TIMEOUT_MS).emitWithAck(event, payload);
    } catch {
      return { ok: false, error: { code: "unavailable", message: t("conn.timeout") } };
    }
  }

  // Enters a session now if connected, else as soon as the connection is up.
  async enter(sessionId, where) {
    this.sessionId = sessionId;
    this.where = where || null;
    if (!this.socket.connected) return { ok: true, pending: true };
    return this.join(sessionId, where);
  }

  async join(sessionId, where) {
    this.sessionId = sessionId;
    this.where = where || null;
    const payload = { session: sessionId };
    if (where) payload.where = where;
    let ack = await this.request(P.SESSION_JOIN, payload);
    // A crowd arriving at once can find Podium busy: try again, spread out, a few times.
    for (let attempt = 1; attempt <= 6 && !ack.ok && ["unavailable", "rate_limited"].includes(ack.error.code); attempt++) {
      const base = (ack.error.retry_after || 1) * 1000;
      await new Promise((r) => setTimeout(r, base + Math.random() * 1000 * Math.min(attempt, 4)));
      if (this.sessionId !== sessionId || !this.socket.connected) return ack;
      ack = await this.request(P.SESSION_JOIN, payload);
    }
    if (ack.ok) {
      this.v = ack.v;
      this.votesSeq = -1;
      this.onlineSeq = 0;
      this.settleOnline(ack.stage);
      this.handlers.onSnapshot?.(ack);
    }
    return ack;
  }

  async resync() {
    const ack = await this.request(P.SESSION_SNAPSHOT, {});
    if (ack.ok) {
      this.v = ack.v;
      this.settleOnline(ack.stage);
      this.handlers.onSnapshot?.(ack);
    }
  }

  // A lineup read before the latest stage:online must not bring back what it said: its
  // `online` flags are replaced by the newer ones (the staff's view carries online_seq).
  settleOnline(stage) {
    if (!stage || stage.online_seq === undefined) return;
    if (stage.online_seq >= this.onlineSeq) {
      this.onlineSeq = stage.online_seq;
      this.online = Object.fromEntries(stage.lineup.map((s) => [s.speaker, s.online]));
      return;
    }
    for (const s of stage.lineup) if (s.speaker in this.online) s.online = this.online[s.speaker];
  }

  async setWhere(where) {
    this.where = where;
    return this.request(P.PRESENCE_WHERE, { where });
  }
}
