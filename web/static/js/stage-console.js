// The moderator's stage controls: the lineup with each speaker's preview, connection health
// and moves (backstage / live / backup / off), cues with their read receipts, the session's
// status, the raised hands (bring backstage or decline) and the backstage chat.
import { $, h } from "./dom.js";
import { t, errorText } from "./i18n.js";
import * as P from "./protocol.js";
import { StageStreams } from "./sfu.js";
import { ChatView, healthLevel, healthText, timeOf } from "./backstage.js";
import { noteFocus, restoreFocus } from "./focus.js";
import { backupState, syncClock } from "./backup.js";

const STALE_AFTER_MS = 6000; // no health report for this long: the speaker's link is unstable

let live = null;
let media = null; // the speakers' pictures, for the previews
let lineup = [];
let invited = []; // the session's speaker links nobody has opened yet
const items = new Map(); // speaker -> {el, video}
const health = new Map(); // speaker -> {report, at (this browser's time)}
const cues = new Map(); // cue id -> cue
const chat = new ChatView($("#chat"), () => live);


function status(text) {
  $("#mod-status").textContent = text;
}

async function request(event, payload) {
  const ack = await live.request(event, { session: live.sessionId, ...payload });
  if (!ack.ok) status(errorText(ack.error));
  return ack;
}

// --- the lineup ------------------------------------------------------------------------

function moves(s) {
  const targets = ["backstage", "live", "off"];
  if (s.backup_url) targets.splice(2, 0, "backup");
  // A speaker who is not connected cannot go live (their recording can play).
  const away = (st) => st === "live" && !s.online;
  return targets.filter((st) => st !== s.state).map((st) => h("button", {
    type: "button", "data-stage": st, class: st === "live" ? "primary" : st === "backup" ? "warn" : "",
    disabled: away(st), title: away(st) ? t("stage.not_connected") : null,
    text: t(`stage.to.${st}`), onclick: () => request(P.STAGE_SET, { speaker: s.speaker, state: st }),
  }));
}

// The running order: move a speaker up or down (the studio calls the first one backstage "next").
function reorder(s, step) {
  const ids = lineup.map((x) => x.speaker);
  const i = ids.indexOf(s.speaker);
  const j = i + step;
  if (i < 0 || j < 0 || j >= ids.length) return;
  [ids[i], ids[j]] = [ids[j], ids[i]];
  request(P.STAGE_ORDER, { order: ids });
}

function orderButtons(s) {
  const i = lineup.findIndex((x) => x.speaker === s.speaker);
  return [
    h("button", { type: "button", class: "icon", "data-order": "up", disabled: i <= 0,
      "aria-label": t("stage.earlier"), title: t("stage.earlier"), text: "↑", onclick: () => reorder(s, -1) }),
    h("button", { type: "button", class: "icon", "data-order": "down", disabled: i >= lineup.length - 1,
      "aria-label": t("stage.later"), title: t("stage.later"), text: "↓", onclick: () => reorder(s, 1) }),
  ];
}

function cueControls(s) {
  const input = h("input", { type: "text", maxlength: 200, dir: "auto", "aria-label": t("cue.text_label"), placeholder: t("cue.text_label") });
  const sendText = () => {
    const text = input.value.trim();
    if (!text) return;
    request(P.STAGE_CUE, { speaker: s.speaker, kind: "text", text }).then((ack) => ack.ok && (input.value = ""));
  };
  input.addEventListener("keydown", (e) => e.key === "Enter" && sendText());
  return h("div", { class: "cues" },
    h("button", { type: "button", "data-cue": "minutes", text: t("cue.two_minutes"),
      onclick: () => request(P.STAGE_CUE, { speaker: s.speaker, kind: "minutes", minutes: 2 }) }),
    h("button", { type: "button", "data-cue": "wrap", text: t("cue.wrap_button"),
      onclick: () => request(P.STAGE_CUE, { speaker: s.speaker, kind: "wrap" }) }),
    input,
    h("button", { type: "button", "data-cue": "text", text: t("cue.send"), onclick: sendText }),
    h("p", { class: "hint cue-receipt", "aria-live": "polite" }));
}

function item(s) {
  let entry = items.get(s.speaker);
  if (!entry) {
    const video = h("video", { class: "preview-small", autoplay: true, muted: true, playsinline: true });
    video.muted = true;
    const el = h("li", { class: "stage-item", "data-speaker": s.speaker },
      h("div", { class: "stage-item-head" },
        h("strong", { dir: "auto", class: "stage-name" }), " ",
        h("span", { class: "tag stage-state" }), " ",
        h("span", { class: "health", "data-level": "unknown" })),
      video, h("div", { class: "row stage-moves" }), null);
    entry = { el, video };
    items.set(s.speaker, entry);
  }
  const { el } = entry;
  el.dataset.state = s.state;
  el.dataset.online = String(s.online);
  $(".stage-name", el).textContent = s.label || t("role.speaker");
  const tag = $(".stage-state", el);
  tag.className = `tag stage-state tally-${s.state}`;
  // A recording plays once; after its end the hall shows the holding slide: said here.
  const ended = backupState(s, renderLineup) === "ended";
  tag.textContent = ended ? t("stage.backup_ended") : t(`stage.${s.state}`);
  el.dataset.backup = ended ? "ended" : "";
  $(".stage-moves", el).replaceChildren(...moves(s), ...orderButtons(s));
  if (!$(".cues", el)) el.append(cueControls(s));
  return entry;
}

// A speaker link of this session that nobody has opened: in the lineup, marked as missing.
function invitedItem(inv) {
  return h("li", { class: "stage-invited", "data-invite": inv.id },
    h("div", { class: "stage-item-head" },
      h("strong", { dir: "auto", class: "stage-name", text: inv.label || t("role.speaker") }), " ",
      h("span", { class: "tag stage-state tally-invited", text: t("stage.invited") })));
}

function renderLineup() {
  const list = $("#lineup");
  const focus = noteFocus(list, ".stage-item"); // a cue being typed, a move just pressed
  const keep = new Set(lineup.map((s) => s.speaker));
  for (const [speaker, entry] of items) if (!keep.has(speaker)) (entry.el.remove(), items.delete(speaker));
  // Only what is out of order moves: a moved element loses focus.
  let at = list.firstElementChild;
  for (const s of lineup) {
    const el = item(s).el;
    if (el === at) at = at.nextElementSibling;
    else list.insertBefore(el, at);
  }
  $("#lineup > .hint")?.remove();
  for (const el of list.querySelectorAll(".stage-invited")) el.remove();
  const arrived = new Set(lineup.map((s) => s.speaker));
  const missing = invited.filter((inv) => !arrived.has(inv.id));
  list.append(...missing.map(invitedItem));
  if (!lineup.length && !missing.length) list.append(h("li", { class: "hint", text: t("stage.nobody") }));
  renderPreviews();
  renderHealth();
  renderReceipts();
  restoreFocus(focus);
}

function renderPreviews() {
  for (const [speaker, entry] of items) {
    const stream = media?.get(speaker)?.stream || null;
    if (entry.video.srcObject !== stream) {
      entry.video.srcObject = stream;
      if (stream) entry.video.play().catch(() => {});
    }
    entry.video.hidden = !stream;
  }
}

// Offline (no socket), unstable (no report lately), or how the link does, in plain words.
function renderHealth() {
  const now = Date.now();
  for (const s of lineup) {
    const entry = items.get(s.speaker);
    if (!entry) continue;
    const el = $(".health", entry.el);
    const last = health.get(s.speaker);
    let level, text;
    if (!s.online) [level, text] = ["offline", t("health.offline")];
    else if (!last) [level, text] = ["unknown", t("health.waiting")];
    else if (now - last.at > STALE_AFTER_MS) [level, text] = ["poor", t("health.stale", { s: Math.round((now - last.at) / 1000) })];
    else [level, text] = [healthLevel(last.report), healthText(last.report)];
    el.dataset.level = level;
    el.textContent = text;
    entry.el.dataset.health = level;
  }
}
setInterval(renderHealth, 1000);
// Every connected speaker's preview should be here: one missing is asked for again.
setInterval(() => media?.need(lineup.filter((s) => s.online).map((s) => s.speaker)), 1000);

// Under each speaker: their latest cue, and whether they have read it.
function renderReceipts() {
  const latest = new Map();
  for (const c of [...cues.values()].sort((a, b) => a.at - b.at)) latest.set(c.speaker, c);
  for (const [speaker, entry] of items) {
    const c = latest.get(speaker);
    const el = $(".cue-receipt", entry.el);
    if (!el) continue;
    el.dataset.read = c ? String(Boolean(c.acked_at)) : "";
    el.textContent = !c ? "" : c.acked_at
      ? t("cue.read", { what: cueLabel(c), time: timeOf(c.acked_at) })
      : t("cue.unread", { what: cueLabel(c), time: timeOf(c.at) });
  }
}

function cueLabel(c) {
  if (c.kind === "minutes") return t("cue.minutes", { count: c.minutes, n: c.minutes });
  if (c.kind === "wrap") return t("cue.wrap");
  return `“${c.text}”`;
}

// --- raised hands ------------------------------------------------------------------------

function renderHands(hands) {
  const focus = noteFocus($("#hands"), ".hand");
  $("#hands-count").textContent = hands.length ? String(hands.length) : "";
  $("#hands").replaceChildren(...hands.map((hand) => h("li", { class: "hand", "data-person": hand.person },
    h("strong", { dir: "auto", text: hand.name || t("qa.anonymous_author") }), " ",
    h("time", { class: "hint", text: timeOf(hand.at) }),
    hand.note ? h("p", { dir: "auto", text: hand.note }) : null,
    h("div", { class: "row" },
      h("button", { type: "button", class: "primary", "data-hand": "bring", text: t("hands.bring"),
        onclick: () => request(P.HAND_ANSWER, { person: hand.person, action: "bring" }) }),
      h("button", { type: "button", "data-hand": "decline", text: t("hands.decline"),
        onclick: () => request(P.HAND_ANSWER, { person: hand.person, action: "decline" }) })))));
  if (!hands.length) $("#hands").append(h("li", { class: "hint", text: t("hands.none") }));
  restoreFocus(focus);
}

// --- wiring ------------------------------------------------------------------------------

$("#session-status").addEventListener("change", (e) => request(P.STAGE_STATUS, { status: e.target.value }));

document.addEventListener("podium:live", (e) => {
  live = e.detail;
  chat.attach(live);
  media = new StageStreams(live, renderPreviews, () => lineup);
  live.socket.on(P.STAGE_HEALTH, (msg) => {
    if (msg.session !== live.sessionId) return;
    health.set(msg.speaker, { report: msg, at: Date.now() });
    renderHealth();
  });
  live.socket.on(P.STAGE_CUE, (msg) => {
    if (msg.session !== live.sessionId) return;
    cues.set(msg.cue.id, msg.cue);
    renderReceipts();
  });
  live.socket.on(P.HAND_QUEUE, (msg) => {
    if (msg.session === live.sessionId) renderHands(msg.hands);
  });
  live.socket.on(P.STAFF_INVITES, (msg) => {
    if (msg.session !== live.sessionId) return;
    setInvited(msg.invites);
    renderLineup();
  });
});

function applyStage(stage) {
  lineup = stage.lineup;
  $("#session-status").value = stage.status;
  renderLineup();
}

// The session's own speaker links not revoked or expired: "invited, not arrived" until they come.
function setInvited(invites) {
  const now = Date.now() / 1000;
  invited = (invites || []).filter((inv) =>
    inv.role === "speaker" && inv.session_id === live?.sessionId && !inv.revoked && inv.expires_at > now);
}

document.addEventListener("podium:snapshot", (e) => {
  const snap = e.detail;
  syncClock(snap.clock?.now_ms);
  setInvited(snap.staff?.invites);
  media?.snapshot(snap.rtc);
  cues.clear();
  for (const c of snap.backstage?.cues || []) cues.set(c.id, c);
  chat.reset(snap.backstage?.chat);
  renderHands(snap.backstage?.hands || []);
  applyStage(snap.stage);
});
document.addEventListener("podium:stage", (e) => {
  syncClock(e.detail.clock?.now_ms);
  if (e.detail.stage) applyStage(e.detail.stage);
});
// A recording that runs out while nothing else changes: the lineup says so within a second.
setInterval(() => {
  if (lineup.some((s) => s.state === "backup" && backupState(s) === "ended" && items.get(s.speaker)?.el.dataset.backup !== "ended")) renderLineup();
}, 1000);
// A speaker connected or dropped (within a moment of it; a crashed worker within the sweep).
document.addEventListener("podium:online", (e) => {
  for (const s of lineup) {
    if (!(s.speaker in e.detail.online)) continue;
    s.online = e.detail.online[s.speaker];
    if (items.has(s.speaker)) item(s); // "Go live" waits for a connection
  }
  renderHealth();
});
