// The live connection: websocket-only Socket.IO with backoff, acks that never hang, and the
// session feed followed in order (docs/protocol.md, "The session feed").
//
// Every change of a session comes as a `session:feed` frame covering log positions
// (from, to]. The page holds the position it is at: a frame ending at or before it is old
// news, one starting after it means something was missed and the page resumes from its
// position (`session:resume`: the missed changes, or a snapshot if the log no longer reaches
// back). While a join or resume is on its way, frames are held and taken after its answer;
// there is never more than one in flight. Reorderings do not happen: the server sends a
// session's changes in log order.
import { io } from "/static/vendor/socket.io.esm.min.js";
import * as P from "./protocol.js";
import { t, lang } from "./i18n.js";

const ACK_TIMEOUT_MS = 8000;
const FIREWALL_HINT_AFTER = 4; // failed attempts before suggesting a firewall or VPN
const RETRYABLE = ["unavailable", "rate_limited"];

const before = (a, b) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
const atOrBefore = (a, b) => !before(b, a);

export class Live {
  constructor({ auth = () => ({}), ...handlers } = {}) {
    this.auth = auth;
    // onSnapshot, onDelta(msg, "session" | "qa" | "stage"), onVotes, onOnline, onPresence,
    // onReactions, onMine, onPolls, onDeleted, onClosed
    this.handlers = handlers;
    this.sessionId = null;
    this.where = null;
    this.pos = null; // [v, k]: how far into the session's log this page is
    this.syncing = false; // a join or resume is on its way: frames wait for its answer
    this.refreshDue = false; // a snapshot was asked for while syncing: fetch it after
    this.held = [];
    this.state = null; // the session as this page holds it: the last snapshot, kept by frames
    this.failures = 0;
    this.spreadMs = 0; // the server's hint: how widely to spread a reconnect (big rooms)
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
      // A whole room losing its worker comes back spread out, not all in the same instant.
      if (this.spreadMs > 0 && reason !== "io client disconnect") {
        s.io.reconnection(false);
        setTimeout(() => {
          s.io.reconnection(true);
          s.connect();
        }, Math.random() * this.spreadMs);
      }
    });
    s.on("connect_error", (err) => {
      const data = err && err.data;
      if (data && data.code && !RETRYABLE.includes(data.code)) {
        // Refused by Podium (bad link, foreign page): retrying will not help.
        s.disconnect();
        this.handlers.onClosed?.(data);
        return;
      }
      this.failures += 1;
      this.showBanner(this.failures >= FIREWALL_HINT_AFTER ? t("conn.firewall") : t("conn.reconnecting"));
      if (data && data.code) {
        // Podium is busy (refused before it was swamped): a refused namespace connect is
        // not retried by socket.io itself. Come back when it says, spread out.
        const wait = (data.retry_after || 1) * 1000 * (1 + Math.random());
        setTimeout(() => { if (!s.connected) s.connect(); }, wait);
      }
    });
    s.on(P.CLOSED, (info) => this.handlers.onClosed?.(info));
    s.on(P.SESSION_FEED, (frame) => this.take(frame));
    s.on(P.SESSION_RESYNC, (info) => {
      if (info && info.session === this.sessionId) this.refresh();
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
    if (sessionId !== this.sessionId) this.forget();
    this.sessionId = sessionId;
    this.where = where || null;
    if (!this.socket.connected) return { ok: true, pending: true };
    return this.join(sessionId, where);
  }

  forget() {
    this.pos = null;
    this.held = [];
    this.state = null;
  }

  async join(sessionId, where) {
    if (sessionId !== this.sessionId) this.forget();
    this.sessionId = sessionId;
    this.where = where || null;
    // The page's language: a speaker's studio is translated into it (docs/protocol.md).
    const payload = { session: sessionId, lang };
    if (where) payload.where = where;
    // Back after a reconnect: ask only for what changed since (a snapshot if too much did).
    if (this.pos) payload.since = this.pos;
    this.syncing = true;
    let ack = await this.request(P.SESSION_JOIN, payload);
    // A crowd arriving at once can find Podium busy: try again, spread out, a few times.
    for (let attempt = 1; attempt <= 6 && !ack.ok && RETRYABLE.includes(ack.error.code); attempt++) {
      const base = (ack.error.retry_after || 1) * 1000;
      await new Promise((r) => setTimeout(r, base + Math.random() * 1000 * Math.min(attempt, 4)));
      if (this.sessionId !== sessionId || !this.socket.connected) break;
      ack = await this.request(P.SESSION_JOIN, payload);
    }
    if (this.sessionId !== sessionId) return ack; // the page moved on meanwhile
    if (ack.ok && ack.resumed) {
      // Back after a reconnect with only what changed meanwhile: the page gets the whole
      // session as this page now holds it, with what the server says of the caller now.
      this.apply(ack.frame);
      const { ok, resumed, frame, voted, ...personal } = ack;
      const qa = voted ? { ...this.state.qa, voted } : this.state.qa;
      this.settle({ ...this.state, ...personal, qa, at: this.pos });
    } else if (ack.ok) {
      this.settle(ack);
    }
    this.release();
    return ack;
  }

  // Frames wait while a join or resume is answered; then they are taken in order.
  release() {
    this.syncing = false;
    const held = this.held;
    this.held = [];
    for (const frame of held) this.take(frame);
    if (this.refreshDue && !this.syncing) {
      this.refreshDue = false;
      this.refresh();
    }
  }

  take(frame) {
    if (!frame || frame.session !== this.sessionId) return;
    if (this.syncing || !this.pos) {
      this.held.push(frame);
      return;
    }
    if (frame.reset) {
      // The server lost its place in the log (a store restart): the whole state, as it is.
      this.settle({ ...this.state, ...frame.snapshot, at: frame.to });
      return;
    }
    if (atOrBefore(frame.to, this.pos)) return; // already have it
    if (before(this.pos, frame.from)) {
      this.resume(); // something was missed (a frame dropped while this page lagged)
      return;
    }
    this.apply(frame);
  }

  async resume() {
    if (this.syncing) return; // the answer on its way covers this too
    this.syncing = true;
    const sessionId = this.sessionId;
    const ack = await this.request(P.SESSION_RESUME, { session: sessionId, since: this.pos });
    if (sessionId !== this.sessionId) return;
    if (ack.ok && ack.frame) this.apply(ack.frame);
    else if (ack.ok && ack.snapshot) this.settle(ack.snapshot);
    this.release();
  }

  // The server missed broadcasts this page depends on (the backstage, hands, media peers):
  // the whole state again. After an answer already on its way, if there is one.
  async refresh() {
    if (this.syncing) {
      this.refreshDue = true;
      return;
    }
    this.syncing = true;
    const sessionId = this.sessionId;
    const ack = await this.request(P.SESSION_SNAPSHOT, {});
    if (sessionId !== this.sessionId) return;
    if (ack.ok) this.settle(ack);
    this.release();
  }

  settle(snap) {
    this.state = structuredClone(snap);
    this.pos = snap.at;
    if (snap.hints && snap.hints.spread_ms !== undefined) this.spreadMs = snap.hints.spread_ms;
    this.handlers.onSnapshot?.(snap);
  }

  // The page's own copy of the session, kept as a snapshot would show it now (what a
  // resumed join or a reset builds on).
  mirror(original) {
    const s = this.state;
    if (!s) return;
    const frame = structuredClone(original); // the page's handlers get (and may change) the original
    if (frame.info) Object.assign(s, frame.info);
    if (frame.qa) {
      const qa = s.qa;
      const byId = new Map(qa.questions.map((q) => [q.id, q]));
      for (const q of frame.qa.questions || []) {
        if (q.removed) byId.delete(q.id);
        else byId.set(q.id, q);
        const mine = (qa.mine || []).findIndex((m) => m.id === q.id);
        if (mine >= 0 && !q.removed) qa.mine[mine] = { ...qa.mine[mine], ...q, mine: true };
      }
      qa.questions = [...byId.values()];
      if ("screen" in frame.qa) qa.screen = frame.qa.screen;
      if (frame.qa.counts) qa.counts = frame.qa.counts;
      if (frame.qa.settings) qa.settings = frame.qa.settings;
      for (const q of qa.questions) q.on_screen = q.id === qa.screen;
    }
    for (const [id, n] of Object.entries(frame.votes || {})) {
      for (const q of [...s.qa.questions, ...(s.qa.mine || [])]) if (q.id === id) q.votes = n;
    }
    if (frame.stage) s.stage = structuredClone(frame.stage);
    if (frame.online && s.stage) {
      for (const sp of s.stage.lineup) if (sp.speaker in frame.online) sp.online = frame.online[sp.speaker];
    }
    if (frame.clock) s.clock = frame.clock;
    if (frame.presence) s.presence = frame.presence;
    if (frame.reactions) s.reactions = { ...s.reactions, totals: frame.reactions.totals };
    if (frame.polls || frame.poll_results) {
      const byId = new Map((s.polls || []).map((p) => [p.id, p]));
      for (const p of frame.polls || []) {
        if (p.removed) byId.delete(p.id);
        else byId.set(p.id, p);
      }
      for (const [id, results] of Object.entries(frame.poll_results || {})) {
        if (byId.has(id)) byId.set(id, { ...byId.get(id), results });
      }
      s.polls = [...byId.values()];
    }
    for (const q of frame.mine || []) {
      const mine = s.qa.mine || (s.qa.mine = []);
      const i = mine.findIndex((m) => m.id === q.id);
      if (i >= 0) mine[i] = q;
      else mine.push(q);
    }
  }

  // One frame, in the order a page needs: the session, the questions, their votes, the
  // stage, the clock, who is here, reactions, the caller's own questions.
  apply(frame) {
    if (!this.pos || before(this.pos, frame.to)) this.pos = frame.to;
    this.mirror(frame);
    const h = this.handlers;
    const session = frame.session;
    if (frame.info) h.onDelta?.({ session, changes: frame.info }, "session");
    if (frame.qa) h.onDelta?.({ session, ...frame.qa }, "qa");
    if (frame.votes) h.onVotes?.({ session, votes: frame.votes });
    if (frame.stage || frame.clock) {
      const msg = { session };
      if (frame.stage) msg.stage = frame.stage;
      if (frame.clock) msg.clock = frame.clock;
      if (msg.stage && frame.online) {
        for (const s of msg.stage.lineup) if (s.speaker in frame.online) s.online = frame.online[s.speaker];
      }
      h.onDelta?.(msg, "stage");
    }
    if (frame.online) h.onOnline?.({ session, online: frame.online });
    if (frame.polls || frame.poll_results) h.onPolls?.({ session, polls: frame.polls || [], results: frame.poll_results || {} });
    if (frame.presence) h.onPresence?.({ session, counts: frame.presence.counts });
    if (frame.reactions) h.onReactions?.({ session, counts: frame.reactions.counts, totals: frame.reactions.totals });
    for (const question of frame.mine || []) h.onMine?.({ session, question });
    if (frame.deleted) h.onDeleted?.({ session });
  }

  async setWhere(where) {
    this.where = where;
    return this.request(P.PRESENCE_WHERE, { where });
  }
}
