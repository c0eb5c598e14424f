// The moderator's polls: prepare (before the session or on the fly), open with one key (P:
// the oldest draft), close, show or hide the results; each poll's results live as they come.
// A quiz is a choice poll whose correct options are marked with a * in the list.
import { $, h } from "./dom.js";
import { t, errorText } from "./i18n.js";
import * as P from "./protocol.js";
import { connected } from "./role.js";
import { PollState, resultsFigure, leaderboardItems } from "./polls-view.js";

const state = new PollState();
let live = null;

async function act(poll, action) {
  const ack = await live.request(P.POLL_STATE, { session: live.sessionId, poll: poll.id, action });
  $("#mod-status").textContent = ack.ok ? t(`poll.done.${action}`) : errorText(ack.error);
}

function actions(p) {
  const out = [];
  const button = (action, cls = "", key = "") => h("button", { type: "button", class: cls, "data-poll-action": action,
    "aria-keyshortcuts": key || null, onclick: () => act(p, action) }, t(`poll.action.${action}`), key ? h("kbd", { text: key }) : null);
  if (p.state !== "open") out.push(button("open", "primary", p.state === "draft" ? "P" : ""));
  if (p.state === "open") out.push(button("close", "primary"));
  if (p.state !== "draft") out.push(p.shown ? button("hide") : button("show"));
  if (p.state !== "open") out.push(button("delete", "danger"));
  return out;
}

// An open-text poll's answers, each let through to the hall and the audience (or not) here.
function openAnswers(p) {
  const approved = new Set(p.approved || []);
  const answers = Object.entries(p.results?.counts || {}).sort((a, b) => b[1] - a[1]);
  return h("ul", { class: "list poll-text-list" }, answers.map(([text, n]) => {
    const on = approved.has(text);
    return h("li", { class: `poll-text${on ? " is-approved" : ""}`, "data-approved": String(on) },
      h("span", { dir: "auto", text }), n > 1 ? h("span", { class: "hint", text: ` ×${n}` }) : null, " ",
      h("button", { type: "button", class: on ? "" : "primary", "data-text-action": on ? "hide" : "approve",
        text: on ? t("poll.text_hide") : t("poll.text_approve"),
        onclick: async () => {
          const ack = await live.request(P.POLL_APPROVE, { session: live.sessionId, poll: p.id, text, approve: !on });
          if (!ack.ok) $("#mod-status").textContent = errorText(ack.error);
        } }));
  }));
}

function render() {
  const list = state.list();
  $("#polls").replaceChildren(...list.map((p) => h("li", { class: `poll-item state-${p.state}`, "data-poll": p.id },
    h("div", { class: "row" },
      h("span", { class: `tag poll-state-${p.state}`, text: t(`poll.state.${p.state}`) }),
      p.shown ? h("span", { class: "tag tag-live", text: t("poll.shown") }) : null,
      h("strong", { dir: "auto", text: p.question })),
    p.kind === "text" ? openAnswers(p) : resultsFigure(p),
    h("div", { class: "row poll-actions" }, actions(p)))));
  if (!list.length) $("#polls").append(h("li", { class: "hint", text: t("poll.none") }));
  $("#poll-board-button").hidden = !list.some((p) => (p.correct || []).length);
}

$("#poll-board-button").addEventListener("click", async () => {
  const ack = await live.request(P.POLL_LEADERBOARD, { session: live.sessionId });
  const board = $("#poll-board");
  board.hidden = !ack.ok;
  if (ack.ok) board.replaceChildren(...leaderboardItems(ack.leaderboard));
  else $("#mod-status").textContent = errorText(ack.error);
});

const form = $("#poll-form");
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
    if (correct.length) payload.correct = correct;
  }
  const ack = await live.request(P.POLL_CREATE, payload);
  $("#poll-error").textContent = ack.ok ? "" : errorText(ack.error);
  if (ack.ok) {
    form.reset();
    showFields();
    $("#mod-status").textContent = t("poll.done.create");
  }
});

document.addEventListener("keydown", (e) => {
  if (!live || e.ctrlKey || e.metaKey || e.altKey || e.target.matches("input, textarea, select")) return;
  if (e.key.toLowerCase() !== "p") return;
  const draft = state.list().find((p) => p.state === "draft");
  if (draft) act(draft, "open");
});

document.addEventListener("podium:snapshot", (e) => {
  state.reset(e.detail.polls);
  render();
});
document.addEventListener("podium:polls", (e) => {
  state.apply(e.detail);
  render();
});

connected.then((c) => {
  if (c) live = c.live;
});
