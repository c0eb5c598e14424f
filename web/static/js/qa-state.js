// A session's Q&A as a client holds it: built from a snapshot, kept by deltas and votes.
export class QAState {
  constructor() {
    this.reset({ settings: {}, questions: [], screen: null, counts: { pending: 0, declined: 0 } });
  }

  reset(qa) {
    this.settings = qa.settings || {};
    this.questions = new Map((qa.questions || []).map((q) => [q.id, q]));
    this.screen = qa.screen || null;
    this.counts = qa.counts || { pending: 0, declined: 0 };
    this.mine = new Map((qa.mine || []).map((q) => [q.id, q]));
    this.voted = new Set(qa.voted || []);
  }

  applyDelta(msg) {
    if (msg.settings) this.settings = msg.settings;
    for (const q of msg.questions || []) {
      if (q.removed) this.questions.delete(q.id);
      else this.questions.set(q.id, q);
      if (this.mine.has(q.id) && !q.removed) this.mine.set(q.id, { ...this.mine.get(q.id), ...q, mine: true });
    }
    if ("screen" in msg) this.screen = msg.screen;
    if (msg.counts) this.counts = msg.counts;
    for (const q of this.questions.values()) q.on_screen = q.id === this.screen;
  }

  applyVotes(votes) {
    for (const [id, n] of Object.entries(votes)) {
      const q = this.questions.get(id);
      if (q) q.votes = n;
      const m = this.mine.get(id);
      if (m) m.votes = n;
    }
  }

  applyMine(q) {
    this.mine.set(q.id, q);
  }

  onScreen() {
    return this.screen ? this.questions.get(this.screen) || null : null;
  }

  // Popular: votes, then the older first; recent: newest first.
  sorted(list, order) {
    const out = [...list];
    if (order === "recent") out.sort((a, b) => b.created_at - a.created_at);
    else out.sort((a, b) => b.votes - a.votes || a.created_at - b.created_at);
    return out;
  }
}
