// The translation desk: an interpreter (or a moderator) sees the questions as moderators do,
// the one on screen first, then the queue in the order the speakers will get it, then what
// is still waiting for a moderator. Each card says what language its question is in (one
// click corrects it) and holds a translation into each of the event's other languages.
// What the speakers read and is not translated yet is marked, so the desk works ahead of
// the stage. Drafts survive every update; nothing moves under the interpreter's hand.
import { $, h } from "./dom.js";
import { t, formatNumber, formatList, errorText } from "./i18n.js";
import * as P from "./protocol.js";
import { QAState } from "./qa-state.js";
import { connected } from "./role.js";
import { languageName, missingFor, speakerLanguages, textElement } from "./translations.js";

const LANES = ["screen", "queue", "incoming"];
const state = new QAState();
const drafts = new Map(); // "question|lang" -> text typed and not saved yet
let live = null;
let languages = []; // the event's
let speakerLangs = [];
let frozen = false; // focus is on a card: update in place, move nothing

const onlyMissing = $("#desk-missing");
onlyMissing.checked = localStorage.getItem("podium.desk.missing") === "1";

function laneOf(q) {
  if (q.id === state.screen) return "screen";
  if (q.state === "approved") return "queue";
  if (q.state === "pending") return "incoming";
  return null; // answered, declined, archived...: past translating
}

// What the speakers read, or, before any studio has opened, every language of the event.
function targets() {
  return speakerLangs.length ? speakerLangs : languages;
}

function status(text) {
  $("#desk-status").textContent = text;
}

async function save(q, tag, text) {
  const ack = await live.request(P.QA_TRANSLATE, { session: live.sessionId, question: q.id, lang: tag, text });
  if (!ack.ok) {
    status(errorText(ack.error));
    return;
  }
  drafts.delete(`${q.id}|${tag}`);
  status(text ? t("desk.saved") : t("desk.removed"));
}

async function setLanguage(q, tag) {
  const ack = await live.request(P.QA_LANGUAGE, { session: live.sessionId, question: q.id, lang: tag });
  status(ack.ok ? t("desk.language_set") : errorText(ack.error));
}

function editor(q, tag) {
  const key = `${q.id}|${tag}`;
  const tr = (q.translations || {})[tag];
  const id = `tr-${q.id}-${tag}`;
  const area = h("textarea", { id, rows: 2, lang: tag, dir: "auto", maxlength: 2000 });
  area.value = drafts.has(key) ? drafts.get(key) : tr ? tr.text : "";
  area.addEventListener("input", () => drafts.set(key, area.value));
  area.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      save(q, tag, area.value.trim());
    }
  });
  return h("div", { class: `desk-translation${tr?.stale ? " is-stale" : ""}` },
    h("label", { for: id }, t("desk.translation_into", { lang: languageName(tag) }),
      tr?.stale ? h("span", { class: "tag tag-warn", text: t("mod.translation_stale") }) : null),
    area,
    h("div", { class: "row" },
      h("button", { type: "button", class: "primary", text: t("desk.save"), onclick: () => save(q, tag, area.value.trim()) }),
      tr ? h("button", { type: "button", text: t("desk.remove"), onclick: () => save(q, tag, "") }) : null));
}

function card(q) {
  const needs = laneOf(q) === "incoming" ? [] : missingFor(q, targets());
  const pick = h("select", { id: `lang-${q.id}`, onchange: (e) => setLanguage(q, e.target.value) },
    q.lang && languages.includes(q.lang) ? null : h("option", { value: "", text: q.lang ? languageName(q.lang) : t("qa.lang_unknown"), selected: true, disabled: true }),
    ...languages.map((tag) => h("option", { value: tag, text: languageName(tag), selected: tag === q.lang })));
  const alias = /^Guest (\d+)$/.test(q.alias) ? t("qa.alias", { n: q.alias.slice(6) }) : q.alias;
  const author = q.anonymous || !q.name ? alias : `${q.name} · ${alias}`;
  return h("li", { class: "mod-card desk-card", "data-question": q.id, "data-lang": q.lang || "" },
    h("div", { class: "mod-card-head" },
      h("span", { class: "vote-count", text: formatNumber(q.votes) }),
      h("span", { class: "hint", dir: "auto", text: author }),
      h("label", { class: "desk-language", for: `lang-${q.id}` }, t("desk.language")), pick,
      needs.length ? h("span", { class: "tag tag-warn", text: t("mod.needs_translation", { langs: formatList(needs.map((tag) => languageName(tag))) }) }) : null),
    textElement("p", { text: q.text, lang: q.lang || "" }, "question-text"),
    ...languages.filter((tag) => tag !== q.lang).map((tag) => editor(q, tag)));
}

// A card redrawn in place, the control in use keeping focus. A card someone is typing in
// stays as it is until they leave it: replacing the box would break an input method's
// composition (pinyin, say) mid-word.
function redraw(el, q) {
  const active = el.contains(document.activeElement) ? document.activeElement : null;
  if (active?.tagName === "TEXTAREA") return;
  const fresh = card(q);
  el.replaceWith(fresh);
  const again = active?.id ? fresh.querySelector(`#${CSS.escape(active.id)}`) : null;
  again?.focus({ preventScroll: true });
}

function visible(q) {
  if (!laneOf(q)) return false;
  return !onlyMissing.checked || missingFor(q, targets()).length > 0 || laneOf(q) === "incoming";
}

function ordered(lane, list) {
  if (lane === "queue") return state.sorted(list, "popular"); // the order the speakers get them
  return [...list].sort((a, b) => a.created_at - b.created_at);
}

function render({ force = false } = {}) {
  const speakers = speakerLangs.map((tag) => languageName(tag));
  $("#desk-targets").textContent = speakers.length
    ? t("desk.targets", { langs: formatList(speakers) })
    : t("desk.targets_none");
  const byLane = Object.fromEntries(LANES.map((l) => [l, []]));
  for (const q of state.questions.values()) if (visible(q)) byLane[laneOf(q)].push(q);
  let shown = 0;
  for (const lane of LANES) {
    const list = ordered(lane, byLane[lane]);
    shown += list.length;
    const section = document.querySelector(`.lane[data-lane="${lane}"]`);
    section.querySelector(".count").textContent = formatNumber(list.length);
    const cards = section.querySelector(".cards");
    if (frozen && !force) {
      // Focus is in a card: each card is redrawn where it stands, new ones go at the end,
      // and the order catches up once the interpreter looks away.
      const here = new Map([...cards.children].map((el) => [el.dataset.question, el]));
      for (const q of list) {
        const el = here.get(q.id);
        if (!el) cards.append(card(q));
        else redraw(el, q);
      }
      continue;
    }
    cards.replaceChildren(...list.map(card));
  }
  $("#desk-empty").hidden = shown > 0;
}

const lanes = $("#desk-lanes");
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
onlyMissing.addEventListener("change", () => {
  localStorage.setItem("podium.desk.missing", onlyMissing.checked ? "1" : "0");
  render({ force: true });
});

document.addEventListener("podium:snapshot", (e) => {
  languages = e.detail.event.languages || [];
  speakerLangs = speakerLanguages(e.detail.stage.lineup);
  state.reset(e.detail.qa);
  render({ force: true });
});
document.addEventListener("podium:qa", (e) => {
  state.applyDelta(e.detail);
  render();
});
document.addEventListener("podium:votes", (e) => {
  state.applyVotes(e.detail.votes);
  render();
});
document.addEventListener("podium:stage", (e) => {
  if (!e.detail.stage) return;
  speakerLangs = speakerLanguages(e.detail.stage.lineup);
  render();
});

connected.then((c) => {
  if (c) live = c.live;
});
