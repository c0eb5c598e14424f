// The moderator's console: lanes Incoming → Queue → On screen → Done, every action on the
// card with its key, undo for every step, and no re-sorting under the moderator's hand:
// while a card has focus, arrivals and vote changes wait behind an "N new" pill.
import { $, h, clockTime } from "./dom.js";
import { t, formatNumber, lang, errorText, formatList } from "./i18n.js";
import * as P from "./protocol.js";
import { QAState } from "./qa-state.js";
import { connected } from "./role.js";
import { ClockView } from "./clock.js";
import { languageName, missingFor, speakerLanguages, textElement } from "./translations.js";
import { shortcut } from "./keys.js";

const LANES = ["incoming", "queue", "screen", "done"];
const INVERSE = {
  approve: (q) => (q.state === "declined" ? "decline" : "hold"),
  decline: (q) => (q.state === "approved" ? "approve" : "hold"),
  hold: (q) => ({ approved: "approve", declined: "decline" })[q.state],
  answer: () => "restore",
  archive: () => "restore",
  restore: (q) => ({ declined: "decline", answered: "answer", archived: "archive" })[q.state],
  screen: () => "unscreen",
  unscreen: () => "screen",
};

const state = new QAState();
let live = null;
let token = null;
let frozen = false; // a card has focus: keep the order as it is
let shown = { incoming: [], queue: [], screen: [], done: [] }; // ids in the order rendered
let unseen = 0;
let mergeFrom = null;
const undo = []; // each entry: the steps that reverse one moderator action, in order
const moved = new Set(); // questions this moderator just acted on: never held back
let speakerLangs = [];
let eventZone = ""; // questions are timed in the event's zone, named // the languages of the speakers' studios: what questions need translating into

function laneOf(q) {
  if (q.id === state.screen) return "screen";
  if (q.state === "pending") return "incoming";
  if (q.state === "approved") return "queue";
  return "done";
}

function ordered(lane, list) {
  if (lane === "incoming") return [...list].sort((a, b) => a.created_at - b.created_at);
  if (lane === "queue") return state.sorted(list, "popular");
  return [...list].sort((a, b) => b.updated_at - a.updated_at);
}

function status(text) {
  $("#mod-status").textContent = text;
}

function inverseOf(q, action) {
  if (action === "edit") return [{ q, action: "edit", extra: { text: q.text } }];
  if (action === "merge") return [{ q, action: "restore" }];
  const inverse = INVERSE[action]?.(q);
  const steps = inverse ? [{ q, action: inverse }] : [];
  // Answering or archiving what was on screen: undo puts it back on screen too.
  if (q.id === state.screen && ["answer", "archive", "decline"].includes(action)) steps.push({ q, action: "screen" });
  return steps;
}

async function send(q, action, extra = {}, { record = true } = {}) {
  const before = { ...q };
  const steps = inverseOf(before, action);
  moved.add(q.id);
  const ack = await live.request(P.QA_MODERATE, { session: live.sessionId, question: q.id, action, ...extra });
  if (!ack.ok) {
    status(errorText(ack.error));
    return ack;
  }
  if (record && ack.changed && steps.length) pushUndo(steps);
  status(t(`mod.done.${action}`));
  return { ...ack, steps };
}

function pushUndo(steps) {
  undo.push(steps);
  $("#undo").disabled = false;
}

async function undoLast() {
  const steps = undo.pop() || [];
  $("#undo").disabled = undo.length === 0;
  for (const step of steps) await send(step.q, step.action, step.extra || {}, { record: false });
}

// Next: the question on screen is answered and the top of the queue (as the moderator
// sees it) goes on screen. One key, and one undo.
async function next() {
  const current = state.onScreen();
  const queue = [...state.questions.values()].filter((q) => laneOf(q) === "queue");
  const visibleTop = shown.queue.map((id) => state.questions.get(id)).find((q) => q && laneOf(q) === "queue");
  const top = visibleTop || ordered("queue", queue)[0];
  // The reversal is worked out before anything changes: the top comes off the screen,
  // then the answered one is restored and goes back on.
  const steps = [];
  const answered = current ? await send(current, "answer", {}, { record: false }) : null;
  const screened = top ? await send(top, "screen", {}, { record: false }) : null;
  if (screened?.ok && screened.changed) steps.push(...screened.steps);
  if (answered?.ok && answered.changed) steps.push(...answered.steps);
  if (steps.length) pushUndo(steps);
}

async function person(q, what) {
  const message = what === "ban" ? t("mod.ban_confirm") : t("mod.mute_confirm");
  if (!confirm(message)) return;
  const event = what === "ban" ? P.QA_BAN : P.QA_MUTE;
  const payload = { session: live.sessionId, question: q.id };
  if (what === "mute") payload.mute = true;
  const ack = await live.request(event, payload);
  status(ack.ok ? t(`mod.done.${what}`) : errorText(ack.error));
}

function button(label, key, onclick, cls = "") {
  return h("button", { type: "button", class: cls, onclick, "data-action": label, "aria-keyshortcuts": key || null },
    t(`mod.action.${label}`), key ? h("kbd", { text: key }) : null);
}

function card(q) {
  const lane = laneOf(q);
  const actions = [];
  if (mergeFrom && mergeFrom.id !== q.id && !["merged", "withdrawn"].includes(q.state)) {
    actions.push(button("merge_here", "", async () => {
      const from = mergeFrom;
      endMerge();
      await send(from, "merge", { into: q.id });
    }, "primary"));
  } else {
    if (lane === "incoming") actions.push(button("approve", "A", () => send(q, "approve"), "primary"));
    if (lane === "incoming" || lane === "queue") actions.push(button("decline", "D", () => send(q, "decline")));
    if (lane === "incoming" || lane === "queue") actions.push(button("screen", "S", () => send(q, "screen")));
    if (lane === "screen") actions.push(button("unscreen", "S", () => send(q, "unscreen")));
    if (lane === "queue" || lane === "screen") actions.push(button("answer", "R", () => send(q, "answer")));
    if (lane === "done" && q.state !== "withdrawn") actions.push(button("restore", "Z", () => send(q, "restore")));
    if (q.state !== "merged" && q.state !== "withdrawn") {
      actions.push(button("edit", "E", () => edit(q)));
      actions.push(button("merge", "M", () => startMerge(q)));
    }
    if (lane !== "done") actions.push(button("archive", "", () => send(q, "archive")));
    actions.push(button("mute", "", () => person(q, "mute")), button("ban", "", () => person(q, "ban"), "danger"));
  }
  // The interpreters work the queue ahead of the speakers: what waits for them shows here.
  const needs = lane === "queue" || lane === "screen" ? missingFor(q, speakerLangs) : [];
  // The alias is made by the server as "Guest <n>" (the export keeps it so): said here in the page's language.
  const alias = /^Guest (\d+)$/.test(q.alias) ? t("qa.alias", { n: q.alias.slice(6) }) : q.alias;
  const author = `${(!q.anonymous && q.name) || t("qa.anonymous_author")} · ${alias}`;
  return h("li", { class: `mod-card state-${q.state}`, tabindex: "0", "data-question": q.id, "data-state": q.state },
    h("div", { class: "mod-card-head" },
      h("span", { class: "vote-count", text: formatNumber(q.votes) }),
      h("span", { class: "hint", dir: "auto", text: author }),
      h("time", { class: "hint", datetime: new Date(q.created_at).toISOString(), text: clockTime(q.created_at, lang, eventZone) }),
      h("span", { class: "tag tag-lang", text: q.lang ? languageName(q.lang) : t("qa.lang_unknown") }),
      needs.length ? h("span", { class: "tag tag-warn", text: t("mod.needs_translation", { langs: formatList(needs.map((tag) => languageName(tag))) }) }) : null,
      q.held ? h("span", { class: "tag", text: t(`mod.held.${q.held}`) }) : null,
      q.edited ? h("span", { class: "tag", text: t("qa.edited") }) : null,
      lane === "done" ? h("span", { class: "tag", text: t(`qa.state.${q.state}`) }) : null),
    textElement("p", { text: q.text, lang: q.lang || "" }, "question-text"),
    ...Object.entries(q.translations || {}).map(([tag, tr]) => h("p", { class: `question-translation${tr.stale ? " is-stale" : ""}` },
      h("span", { class: "tag", text: languageName(tag) }),
      tr.stale ? h("span", { class: "tag tag-warn", text: t("mod.translation_stale") }) : null,
      " ", textElement("span", { text: tr.text, lang: tag }))),
    h("div", { class: "mod-actions" }, actions));
}

function render({ force = false } = {}) {
  const byLane = Object.fromEntries(LANES.map((l) => [l, []]));
  for (const q of state.questions.values()) byLane[laneOf(q)].push(q);
  // A card that has focus itself (keyboard, J/K, a click on its text) keeps it through the
  // redraw; a click on an action button lets focus go, and the lists catch up.
  const active = document.activeElement;
  const focusedId = active?.classList?.contains("mod-card") ? active.dataset.question : null;
  const keyboardOn = keyboardFocus(active); // a card's button reached by keyboard
  unseen = 0;
  for (const lane of LANES) {
    let list = ordered(lane, byLane[lane]);
    if (frozen && !force) {
      // Keep the order the moderator is looking at; others' arrivals wait behind the
      // pill, but what this moderator just moved shows where it went.
      const ids = new Set(list.map((q) => q.id));
      const kept = shown[lane].filter((id) => ids.has(id));
      const fresh = list.filter((q) => !shown[lane].includes(q.id));
      const own = fresh.filter((q) => moved.has(q.id));
      for (const q of own) moved.delete(q.id);
      unseen += fresh.length - own.length;
      list = [...kept.map((id) => state.questions.get(id)), ...own];
    }
    shown[lane] = list.map((q) => q.id);
    const section = document.querySelector(`.lane[data-lane="${lane}"]`);
    section.querySelector(".count").textContent = formatNumber(byLane[lane].length);
    section.querySelector(".cards").replaceChildren(...list.map(card));
  }
  if (!frozen || force) moved.clear();
  if (focusedId) document.querySelector(`.mod-card[data-question="${focusedId}"]`)?.focus({ preventScroll: true });
  if (keyboardOn) refocus(keyboardOn);
  // The Questions tab says what waits for approval while the poll lanes are in view.
  const waiting = byLane.incoming.length;
  $("#view-qa-count").textContent = waiting ? t("mod.view.waiting", { count: waiting, n: formatNumber(waiting) }) : "";
  const pill = $("#new-pill");
  pill.hidden = unseen === 0;
  pill.textContent = t("mod.new", { n: formatNumber(unseen) });
}

function renderSettings() {
  const s = state.settings;
  const form = $("#settings");
  form.querySelector('[name="post"]').checked = s.moderation === "post";
  form.querySelector('[name="open"]').checked = s.open !== false;
  form.querySelector('[name="anonymous"]').checked = s.anonymous !== false;
  form.querySelector('[name="slow_seconds"]').value = String(s.slow_seconds || 0);
  form.querySelector('[name="max_length"]').value = String(s.max_length || 300);
  if (document.activeElement !== form.querySelector('[name="words"]')) {
    form.querySelector('[name="words"]').value = (s.words || []).join(", ");
  }
}

async function saveSettings(changes) {
  const ack = await live.request(P.QA_SETTINGS, { session: live.sessionId, ...changes });
  $("#settings-error").textContent = ack.ok ? "" : errorText(ack.error);
  if (ack.ok) state.settings = ack.settings;
  renderSettings();
}

async function edit(q) {
  const text = prompt(t("mod.edit_prompt"), q.text);
  if (text !== null && text.trim() && text !== q.text) await send(q, "edit", { text });
}

function startMerge(q) {
  mergeFrom = q;
  $("#merge-hint").hidden = false;
  render({ force: true });
}

function endMerge() {
  mergeFrom = null;
  $("#merge-hint").hidden = true;
}

async function download(kind) {
  const res = await fetch(`/api/sessions/${live.sessionId}/qa.${kind}`, { headers: { Authorization: `Bearer ${token}` } });
  if (!res.ok) {
    status(t("conn.timeout"));
    return;
  }
  const url = URL.createObjectURL(await res.blob());
  const a = h("a", { href: url, download: `podium-qa-${live.sessionId}.${kind}` });
  document.body.append(a);
  a.click();
  a.remove();
  URL.revokeObjectURL(url);
}

// Keyboard focus on a card's button survives the redraw: on the same button of the same
// card, or on the card when that button is gone (pressed: the question moved on). A button
// clicked with the mouse has no visible focus and lets go, as before.
function keyboardFocus(el) {
  const id = el?.matches?.(".mod-card button:focus-visible") && el.closest(".mod-card").dataset.question;
  return id ? { id, action: el.dataset.action } : null;
}

function refocus({ id, action }) {
  const cardEl = document.querySelector(`.mod-card[data-question="${id}"]`);
  const target = cardEl?.querySelector(`button[data-action="${action}"]`) || cardEl;
  target?.focus({ preventScroll: false });
}

function focusedQuestion() {
  const id = document.activeElement?.closest?.(".mod-card")?.dataset.question;
  return id ? state.questions.get(id) : null;
}

// J and K walk the cards of the view on screen: the Q&A lanes or the poll lanes.
function moveFocus(step) {
  const cards = [...document.querySelectorAll(".mod-card")].filter((c) => c.getClientRects().length > 0);
  const i = cards.indexOf(document.activeElement?.closest?.(".mod-card"));
  cards[Math.max(0, Math.min(cards.length - 1, i + step))]?.focus();
}

document.addEventListener("keydown", (e) => {
  const key = live && shortcut(e);
  if (!key) return;
  if (key === "u") return void undoLast();
  if (key === "n") return void next();
  if (key === "escape") return void (endMerge(), render({ force: true }));
  if (key === "?") return void ($("#shortcuts").open = !$("#shortcuts").open);
  if (key === "j" || key === "arrowdown") return void (e.preventDefault(), moveFocus(1));
  if (key === "k" || key === "arrowup") return void (e.preventDefault(), moveFocus(-1));
  const q = focusedQuestion();
  if (!q) return;
  const lane = laneOf(q);
  const map = {
    a: lane === "incoming" && "approve",
    d: (lane === "incoming" || lane === "queue") && "decline",
    s: lane === "screen" ? "unscreen" : (lane === "incoming" || lane === "queue") && "screen",
    r: (lane === "queue" || lane === "screen") && "answer",
    z: lane === "done" && "restore",
  };
  if (map[key]) send(q, map[key]);
  else if (key === "e") edit(q);
  else if (key === "m") startMerge(q);
});

const lanes = $("#lanes");
lanes.addEventListener("focusin", () => {
  frozen = true;
});
lanes.addEventListener("focusout", () => {
  setTimeout(() => {
    if (!lanes.contains(document.activeElement)) {
      frozen = false;
      render({ force: true });
    }
  }, 0);
});
$("#new-pill").addEventListener("click", () => render({ force: true }));
$("#undo").addEventListener("click", undoLast);
$("#next").addEventListener("click", next);
$("#merge-cancel").addEventListener("click", () => (endMerge(), render({ force: true })));
const settingsForm = $("#settings");
settingsForm.querySelector('[name="post"]').addEventListener("change", (e) => saveSettings({ moderation: e.target.checked ? "post" : "pre" }));
settingsForm.querySelector('[name="open"]').addEventListener("change", (e) => saveSettings({ open: e.target.checked }));
settingsForm.querySelector('[name="anonymous"]').addEventListener("change", (e) => saveSettings({ anonymous: e.target.checked }));
settingsForm.querySelector('[name="slow_seconds"]').addEventListener("change", (e) => saveSettings({ slow_seconds: Number(e.target.value) }));
settingsForm.querySelector('[name="max_length"]').addEventListener("change", (e) => saveSettings({ max_length: Number(e.target.value) }));
$("#save-words").addEventListener("click", () => {
  const words = settingsForm.querySelector('[name="words"]').value.split(/[,，、;；\n]/).map((w) => w.trim()).filter(Boolean);
  saveSettings({ words });
});
for (const b of document.querySelectorAll("[data-export]")) b.addEventListener("click", () => download(b.dataset.export));

const clock = new ClockView($("#clock"));
for (const b of document.querySelectorAll("[data-clock]")) {
  b.addEventListener("click", async () => {
    const payload = { session: live.sessionId, action: b.dataset.clock };
    if (b.dataset.seconds) payload.seconds = Number(b.dataset.seconds);
    const ack = await live.request(P.STAGE_TIMER, payload);
    if (ack.ok) clock.set(ack.clock);
    else status(errorText(ack.error));
  });
}
document.addEventListener("podium:stage", (e) => {
  if (e.detail.clock) clock.set(e.detail.clock);
  if (e.detail.stage) {
    speakerLangs = speakerLanguages(e.detail.stage.lineup);
    render();
  }
});

document.addEventListener("podium:snapshot", (e) => {
  clock.set(e.detail.clock);
  speakerLangs = speakerLanguages(e.detail.stage.lineup);
  eventZone = e.detail.event.time_zone;
  state.reset(e.detail.qa);
  renderSettings();
  render({ force: true });
});
document.addEventListener("podium:qa", (e) => {
  state.applyDelta(e.detail);
  if (e.detail.settings) renderSettings();
  render();
});
document.addEventListener("podium:votes", (e) => {
  state.applyVotes(e.detail.votes);
  render();
});

connected.then((c) => {
  if (!c) return;
  ({ live, token } = c);
  // The translation desk, with this moderator's own link (it does what an interpreter does).
  $("#desk").href = `/i/${live.sessionId}#t=${encodeURIComponent(token)}`;
});
