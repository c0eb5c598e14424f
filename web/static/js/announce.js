// What a screen reader hears without looking: one short sentence at a time in the page's
// polite live region (#announcer, base.html). A new question and the question on screen for
// the moderator; one's own question approved, answered or declined, and the question on
// screen for the audience. Never a vote count: those change too often to be read out.
import { t, formatNumber } from "./i18n.js";

const GATHER_MS = 1000; // new questions arriving together are announced as one sentence
const SAY_AFTER_MS = 50; // emptied first, so the same sentence twice is read twice
const LONGEST = 140; // characters of a question read out

let timer = null;

export function announce(text) {
  const region = document.getElementById("announcer");
  if (!region || !text) return;
  region.textContent = "";
  clearTimeout(timer);
  timer = setTimeout(() => (region.textContent = text), SAY_AFTER_MS);
}

function short(text) {
  const chars = [...(text || "")];
  return chars.length > LONGEST ? chars.slice(0, LONGEST - 1).join("") + "…" : chars.join("");
}

function onScreen(text) {
  announce(t("announce.on_screen", { text: short(text) }));
}

// The moderator's console: listens to the podium:* events role.js sends.
export function announceModeration() {
  let known = new Set(); // question ids seen: only an id never seen before is new
  let texts = new Map();
  let screen = null;
  let fresh = [];
  let gather = null;

  const sayNew = () => {
    gather = null;
    const [first] = fresh;
    if (fresh.length === 1) {
      const name = first.anonymous || !first.name ? first.alias || t("qa.anonymous_author") : first.name;
      announce(t("announce.new_question", { name }));
    } else if (fresh.length > 1) {
      announce(t("announce.new_questions", { count: fresh.length, n: formatNumber(fresh.length) }));
    }
    fresh = [];
  };

  document.addEventListener("podium:snapshot", (e) => {
    const qa = e.detail.qa || {};
    known = new Set((qa.questions || []).map((q) => q.id));
    texts = new Map((qa.questions || []).map((q) => [q.id, q.text]));
    screen = qa.screen || null;
    fresh = [];
  });
  document.addEventListener("podium:qa", (e) => {
    for (const q of e.detail.questions || []) {
      if (q.removed) continue;
      texts.set(q.id, q.text);
      if (known.has(q.id)) continue;
      known.add(q.id);
      if (q.state === "pending" || q.state === "approved") fresh.push(q);
    }
    if (fresh.length && !gather) gather = setTimeout(sayNew, GATHER_MS);
    if ("screen" in e.detail && e.detail.screen !== screen) {
      screen = e.detail.screen;
      if (screen && texts.has(screen)) onScreen(texts.get(screen));
    }
  });
}

// The audience page: audience.js hands over its snapshot, Q&A deltas and own questions.
const MINE_SAID = ["approved", "answered", "declined"];

export class AudienceAnnouncer {
  constructor() {
    this.snapshot({});
  }

  snapshot(qa) {
    this.states = new Map((qa.mine || []).map((q) => [q.id, q.state]));
    this.texts = new Map((qa.questions || []).map((q) => [q.id, q.text]));
    this.screen = qa.screen || null;
  }

  delta(msg) {
    for (const q of msg.questions || []) {
      if (q.removed) continue;
      this.texts.set(q.id, q.text);
      if (this.states.has(q.id)) this.mine(q);
    }
    if ("screen" in msg && msg.screen !== this.screen) {
      this.screen = msg.screen;
      if (this.screen && this.texts.has(this.screen)) onScreen(this.texts.get(this.screen));
    }
  }

  // One of this person's questions changed; the first sight of one (just asked) says nothing.
  mine(q) {
    const before = this.states.get(q.id);
    this.states.set(q.id, q.state);
    if (before !== undefined && before !== q.state && MINE_SAID.includes(q.state)) announce(t(`announce.mine.${q.state}`));
  }
}
