// The moderator's polls, in lanes like the Q&A's: Drafts → Open → Closed, and whether the hall
// shows the results a state on the card. Every action is on the card with its key beside it:
// P opens the next draft (the top of Drafts, or the draft that has focus), C closes the poll
// that has focus, S shows or hides its results. Results live as they come: a card that only
// got new numbers keeps its elements and its bars glide, so a click or the keyboard's place
// is never lost to a redraw; a card that moved on takes focus with it, as a question does.
// A quiz is a choice poll whose correct options are marked with a * in the list.
import { $, h } from "./dom.js";
import { t, errorText, formatNumber } from "./i18n.js";
import * as P from "./protocol.js";
import { connected } from "./role.js";
import { shortcut } from "./keys.js";
import { announce } from "./announce.js";
import { PollState, resultsFigure, leaderboardItems } from "./polls-view.js";

const LANES = ["draft", "open", "closed"];
const state = new PollState();
let live = null;

function status(text) {
  $("#mod-status").textContent = text;
}

const own = new Set(); // "<poll>:<change>" this console asked for: said in #mod-status, not again

async function act(poll, action) {
  const voters = poll.results?.voters || 0;
  if (action === "delete" && voters && !confirm(t("poll.delete_confirm", { count: voters, n: formatNumber(voters) }))) return;
  const mine = `${poll.id}:${action === "reopen" ? "open" : action}`;
  own.add(mine);
  const ack = await live.request(P.POLL_STATE, { session: live.sessionId, poll: poll.id, action });
  if (!ack.ok || ack.changed === false) own.delete(mine); // nothing will come to be kept quiet about
  status(ack.ok ? t(`poll.done.${action}`) : errorText(ack.error));
}

// Drafts in the order they were prepared (P takes the top one); open polls in the order they
// opened; closed ones latest first, where Show results is wanted next.
function ordered(lane, list) {
  if (lane === "open") return [...list].sort((a, b) => (a.opened_at || 0) - (b.opened_at || 0));
  if (lane === "closed") return [...list].sort((a, b) => (b.closed_at || 0) - (a.closed_at || 0));
  return list;
}

function byLane() {
  const lanes = Object.fromEntries(LANES.map((l) => [l, []]));
  for (const p of state.list()) lanes[p.state]?.push(p);
  for (const lane of LANES) lanes[lane] = ordered(lane, lanes[lane]);
  return lanes;
}

// A button with its key printed beside it; `slot` names its place on the card, so focus finds
// the button that took its place (Show results after Hide results).
function button(poll, action, { key = "", cls = "", label = action, slot = action } = {}) {
  return h("button", {
    type: "button", class: cls, "data-poll-action": action, "data-slot": slot, "aria-keyshortcuts": key || null,
    onclick: () => act(poll, action),
  }, t(`poll.action.${label}`), key ? h("kbd", { text: key }) : null);
}

function actions(p) {
  if (p.state === "draft") {
    return [button(p, "open", { key: "P", cls: "primary" }),
      h("button", { type: "button", "data-poll-action": "edit", "data-slot": "edit", onclick: () => editDraft(p) }, t("poll.action.edit")),
      button(p, "delete", { cls: "danger" })];
  }
  const out = [];
  if (p.state === "open") out.push(button(p, "close", { key: "C", cls: "primary" }));
  out.push(p.shown
    ? button(p, "hide", { key: "S", slot: "results" })
    : button(p, "show", { key: "S", slot: "results", cls: p.state === "closed" ? "primary" : "" }));
  if (p.state === "closed") out.push(button(p, "open", { label: "reopen" }), button(p, "delete", { cls: "danger" }));
  return out;
}

// An open-text poll's answers, each let through to the hall and the audience (or not) here.
function openAnswers(p) {
  const approved = new Set(p.approved || []);
  const r = p.results || { voters: 0, counts: {} };
  const answers = Object.entries(r.counts || {}).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  return h("figure", { class: "poll-results poll-texts" },
    h("ul", { class: "list poll-text-list" }, answers.map(([text, n]) => openAnswer(p, text, n, approved.has(text)))),
    h("p", { class: "poll-voters", text: t("poll.voters", { count: r.voters, n: formatNumber(r.voters) }) }));
}

// One open answer with its count and its button; `data-text` is its identity on the card.
function openAnswer(p, text, n, on) {
  return h("li", { class: `poll-text${on ? " is-approved" : ""}`, "data-approved": String(on), "data-text": text },
    h("span", { dir: "auto", text }), h("span", { class: "hint poll-text-count", text: n > 1 ? ` ×${formatNumber(n)}` : "" }), " ",
    h("button", { type: "button", class: on ? "" : "primary", "data-text-action": on ? "hide" : "approve", "data-text": text,
      text: on ? t("poll.text_hide") : t("poll.text_approve"),
      onclick: async () => {
        const ack = await live.request(P.POLL_APPROVE, { session: live.sessionId, poll: p.id, text, approve: !on });
        if (!ack.ok) status(errorText(ack.error));
      } }));
}

// New open answers on a card: the ones there stay where they are (a moderator's pointer is
// on them), a changed one is replaced in its place, new ones join at the end.
function refreshOpenAnswers(list, p) {
  const approved = new Set(p.approved || []);
  const counts = p.results?.counts || {};
  const have = new Map([...list.children].map((li) => [li.dataset.text, li]));
  for (const [text, li] of have) {
    if (!(text in counts)) { li.remove(); continue; }
    const on = approved.has(text);
    if (li.dataset.approved !== String(on)) {
      const focused = li.contains(document.activeElement);
      const fresh = openAnswer(p, text, counts[text], on);
      li.replaceWith(fresh);
      if (focused) fresh.querySelector("button").focus({ preventScroll: true });
    } else {
      li.querySelector(".poll-text-count").textContent = counts[text] > 1 ? ` ×${formatNumber(counts[text])}` : "";
    }
  }
  const arrived = Object.entries(counts).filter(([text]) => !have.has(text))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  list.append(...arrived.map(([text, n]) => openAnswer(p, text, n, approved.has(text))));
}

// What a draft will ask: its answers (a quiz's right ones marked), nothing to count yet.
function draftBody(p) {
  if (p.kind !== "choice") return null;
  const right = new Set(p.correct || []);
  return h("ol", { class: "poll-draft-options" }, p.options.map((o, i) => h("li", {},
    h("span", { dir: "auto", text: o }), right.has(i) ? h("span", { class: "tag tag-ok", text: t("poll.correct") }) : null)));
}

function results(p) {
  if (p.state === "draft") return draftBody(p);
  return p.kind === "text" ? openAnswers(p) : resultsFigure(p);
}

function secondsLeft(deadline) {
  return Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
}

// "12 s left", then "Time is up: close it" (the store refuses answers past the deadline).
function timeLeft(deadline) {
  const s = secondsLeft(deadline);
  return s > 0 ? t("poll.time_left", { s }) : t("poll.time_up_close");
}

// Everything a card shows but its results: when it changes, the card is made anew.
function signature(p) {
  return JSON.stringify([p.state, p.shown, p.kind, p.question, p.options, p.multi, p.anonymous, p.correct,
    p.time_limit, p.deadline_ms]);
}

function card(p) {
  const shownTag = p.state === "draft" ? null : h("span", {
    class: `tag poll-shown${p.shown ? " tag-live" : ""}`, "data-shown": String(Boolean(p.shown)),
    text: p.shown ? t("poll.shown") : t("poll.hidden"),
  });
  const deadline = p.state === "open" && p.deadline_ms
    ? h("span", { class: "tag tag-warn poll-deadline", "data-deadline": p.deadline_ms, text: timeLeft(p.deadline_ms) })
    : null;
  return h("li", {
    class: `mod-card poll-mod-card state-${p.state}${p.shown ? " is-shown" : ""}`, tabindex: "0",
    "data-poll": p.id, "data-state": p.state, "data-sig": signature(p),
  },
  h("div", { class: "mod-card-head" },
    shownTag, deadline,
    h("span", { class: "tag", text: t(`poll.kind.${p.kind}`) }),
    (p.correct || []).length ? h("span", { class: "tag", text: t("poll.quiz") }) : null,
    p.anonymous === false ? h("span", { class: "tag", text: t("poll.named") }) : null,
    p.state === "draft" && p.time_limit ? h("span", { class: "tag", text: t("poll.time_limit_tag", { s: formatNumber(p.time_limit) }) }) : null),
  h("p", { class: "poll-card-question", dir: "auto", text: p.question }),
  results(p),
  h("div", { class: "mod-actions" }, actions(p)));
}

// New numbers on a card that is otherwise the same: the bars take their new lengths in place
// (and glide there); anything else of the figure is drawn anew.
function refresh(el, p) {
  const before = el.querySelector(".poll-results");
  if (before && p.kind === "text") {
    refreshOpenAnswers(before.querySelector(".poll-text-list"), p);
    const voters = p.results?.voters || 0;
    before.querySelector(".poll-voters").textContent = t("poll.voters", { count: voters, n: formatNumber(voters) });
    return;
  }
  const after = results(p);
  if (!before || !after) return;
  const old = [...before.querySelectorAll(".poll-bar")];
  const fresh = [...after.querySelectorAll(".poll-bar")];
  const same = old.length && old.length === fresh.length
    && Boolean(before.querySelector(".poll-average")) === Boolean(after.querySelector(".poll-average"));
  if (!same) return void before.replaceWith(after);
  old.forEach((bar, i) => {
    bar.style.setProperty("--p", fresh[i].style.getPropertyValue("--p"));
    bar.querySelector(".poll-count").textContent = fresh[i].querySelector(".poll-count").textContent;
  });
  for (const selector of [".poll-voters", ".poll-average"]) {
    const target = before.querySelector(selector);
    if (target) target.textContent = after.querySelector(selector).textContent;
  }
}

// What had focus in the poll lanes: a card, or (reached by keyboard) one of its buttons. A
// button clicked with the mouse lets focus go, as on the question cards.
function noteFocus() {
  const el = document.activeElement;
  const cardEl = el?.closest?.(".poll-mod-card");
  if (!cardEl) return null;
  const note = { el, id: cardEl.dataset.poll, lane: cardEl.dataset.state, selectors: [] };
  if (el === cardEl) return note;
  if (!el.matches(":focus-visible")) return null;
  for (const name of ["pollAction", "slot", "text"]) {
    if (el.dataset[name] === undefined) continue;
    const attr = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    note.selectors.push(`button[data-${attr}="${CSS.escape(el.dataset[name])}"]`);
  }
  return note;
}

function restoreFocus(note) {
  if (!note || document.activeElement === note.el) return;
  const cardEl = document.querySelector(`.poll-mod-card[data-poll="${CSS.escape(note.id)}"]`);
  if (!cardEl) return;
  const target = (note.el.isConnected && note.el)
    || note.selectors.map((s) => cardEl.querySelector(s)).find(Boolean) || cardEl;
  // A card that moved to another lane is scrolled to, so the keyboard's place stays in sight.
  target.focus({ preventScroll: cardEl.dataset.state === note.lane });
}

function render() {
  const note = noteFocus();
  const lanes = byLane();
  for (const lane of LANES) {
    const section = document.querySelector(`[data-poll-lane="${lane}"]`);
    const list = section.querySelector(".cards");
    const old = new Map([...list.querySelectorAll(":scope > .poll-mod-card")].map((el) => [el.dataset.poll, el]));
    const items = lanes[lane].map((p) => {
      const el = old.get(p.id);
      if (el && el.dataset.sig === signature(p)) {
        refresh(el, p);
        return el;
      }
      return card(p);
    });
    if (!items.length) items.push(h("li", { class: "hint lane-empty", text: t(`poll.lane.${lane}_empty`) }));
    const same = items.length === list.children.length && items.every((el, i) => list.children[i] === el);
    if (!same) list.replaceChildren(...items);
    section.querySelector(".count").textContent = formatNumber(lanes[lane].length);
  }
  restoreFocus(note);
  $("#poll-board-button").hidden = !state.list().some((p) => (p.correct || []).length);
  // The Polls tab says what is open and how many have answered, from the Q&A view too.
  const open = lanes.open.length;
  const voters = lanes.open.reduce((sum, p) => sum + (p.results?.voters || 0), 0);
  $("#view-polls-count").textContent = open
    ? `${t("mod.view.open", { count: open, n: formatNumber(open) })} · ${t("poll.voters", { count: voters, n: formatNumber(voters) })}`
    : "";
}

function focusedPoll() {
  const id = document.activeElement?.closest?.(".poll-mod-card")?.dataset.poll;
  return id ? state.polls.get(id) : null;
}

// The one key: the draft that has focus, or the top of the Drafts lane.
function openNext() {
  const focused = focusedPoll();
  const draft = focused?.state === "draft" ? focused : byLane().draft[0];
  if (draft) act(draft, "open");
  else status(t("poll.no_draft"));
}

document.addEventListener("keydown", (e) => {
  const key = live && shortcut(e);
  if (!key) return;
  if (key === "p") return void openNext();
  const p = focusedPoll();
  if (!p) return;
  if (key === "c" && p.state === "open") act(p, "close");
  else if (key === "s" && p.state !== "draft") act(p, p.shown ? "hide" : "show");
});

$("#poll-board-button").addEventListener("click", async () => {
  const ack = await live.request(P.POLL_LEADERBOARD, { session: live.sessionId });
  const board = $("#poll-board");
  board.hidden = !ack.ok;
  if (ack.ok) board.replaceChildren(...leaderboardItems(ack.leaderboard));
  else status(errorText(ack.error));
});

const form = $("#poll-form");
let editing = null; // the draft the form changes, or null when it makes a new one

// A draft back in the form, as it was written (a quiz's right answers marked with a *).
function editDraft(p) {
  editing = p.id;
  form.querySelector("[name=kind]").value = p.kind;
  form.querySelector("[name=question]").value = p.question;
  const right = new Set(p.correct || []);
  form.querySelector("[name=options]").value = (p.options || []).map((o, i) => (right.has(i) ? `* ${o}` : o)).join("\n");
  form.querySelector("[name=multi]").checked = Boolean(p.multi);
  form.querySelector("[name=anonymous]").checked = p.anonymous !== false;
  form.querySelector("[name=time_limit]").value = String(p.time_limit || 0);
  form.querySelector("[type=submit]").textContent = t("poll.save");
  $("#poll-edit-cancel").hidden = false;
  showFields();
  $("#poll-new").open = true;
  form.querySelector("[name=question]").focus();
}

function leaveForm() {
  editing = null;
  form.reset();
  form.querySelector("[type=submit]").textContent = t("poll.create");
  $("#poll-edit-cancel").hidden = true;
  $("#poll-error").textContent = "";
  showFields();
  $("#poll-new").open = false;
  $("#poll-new > summary").focus();
}
$("#poll-edit-cancel").addEventListener("click", leaveForm);

function showFields() {
  const choice = form.querySelector("[name=kind]").value === "choice";
  for (const el of form.querySelectorAll(".poll-options-field")) el.hidden = !choice;
}
form.querySelector("[name=kind]").addEventListener("change", showFields);
showFields();
form.addEventListener("submit", async (e) => {
  e.preventDefault();
  const d = new FormData(form);
  const payload = {
    session: live.sessionId,
    kind: d.get("kind"),
    question: d.get("question"),
    anonymous: d.get("anonymous") === "on",
    time_limit: Number(d.get("time_limit") || 0),
  };
  if (payload.kind === "choice") {
    const lines = String(d.get("options")).split("\n").map((l) => l.trim()).filter(Boolean);
    payload.options = lines.map((l) => l.replace(/^\*\s*/, ""));
    payload.multi = d.get("multi") === "on";
    const correct = lines.map((l, i) => (l.startsWith("*") ? i : -1)).filter((i) => i >= 0);
    if (correct.length || editing) payload.correct = correct; // an edit that takes the marks away sends none
  }
  const ack = editing
    ? await live.request(P.POLL_EDIT, { ...payload, poll: editing })
    : await live.request(P.POLL_CREATE, payload);
  $("#poll-error").textContent = ack.ok ? "" : errorText(ack.error);
  if (ack.ok) {
    // The draft is in its lane; the form folds away, its button keeps the keyboard's place.
    const done = editing ? "poll.done.edit" : "poll.done.create";
    leaveForm();
    status(t(done));
  }
});

// An open poll's time limit counts down on its card.
setInterval(() => {
  for (const el of document.querySelectorAll("#poll-lanes [data-deadline]")) {
    el.textContent = timeLeft(Number(el.dataset.deadline));
  }
}, 1000);

document.addEventListener("podium:snapshot", (e) => {
  state.reset(e.detail.polls);
  render();
});
// What another moderator (or the console in another tab) did to a poll is said aloud; what
// this one did is already in #mod-status.
function changesOf(before, after) {
  if (!before) return [];
  const out = [];
  if (after.state !== before.state && (after.state === "open" || after.state === "closed")) out.push(after.state === "open" ? "open" : "close");
  if (Boolean(after.shown) !== Boolean(before.shown)) out.push(after.shown ? "show" : "hide");
  return out;
}

document.addEventListener("podium:polls", (e) => {
  const before = new Map((e.detail.polls || []).map((p) => [p.id, state.polls.get(p.id)]));
  state.apply(e.detail);
  for (const p of e.detail.polls || []) {
    if (p.removed) continue;
    for (const change of changesOf(before.get(p.id), p)) {
      if (own.delete(`${p.id}:${change}`)) continue;
      announce(t(`announce.poll.${change}`, { question: p.question }));
    }
  }
  render();
});

connected.then((c) => {
  if (c) live = c.live;
});
