// The audience page (/e/<code>): a phone, one hand. Join, say where you are, see who is here.
import { $, h, config, emit, formatTime, localZone } from "./dom.js";
import { t, lang, errorText } from "./i18n.js";
import { Live } from "./live.js";
import { PresenceView } from "./presence.js";
import { AudienceQA } from "./qa-audience.js";
import { AudienceStage } from "./audience-stage.js";
import * as P from "./protocol.js";
import { emojiImage, emojiName } from "./emoji.js";
import { AudienceAnnouncer } from "./announce.js";
import { AudiencePolls } from "./polls-audience.js";

const cfg = config();
const event = cfg.event;
let sessions = cfg.sessions;
const whereKey = `podium.where.${event.code}`;
const sessionKey = `podium.session.${event.code}`;

if (cfg.where) localStorage.setItem(whereKey, cfg.where); // came in through the hall's QR
let where = localStorage.getItem(whereKey) || "remote";

const presence = new PresenceView($("#presence"), $("#live-count"));
const select = $("#session-select");

function sessionById(id) {
  return sessions.find((s) => s.id === id);
}

function showSession(session) {
  $("#session-title").textContent = session ? session.title : t("audience.no_session");
  if (!session) {
    $("#session-times").textContent = "";
    return;
  }
  const here = formatTime(session.starts_at, event.time_zone, lang);
  const mine = localZone();
  let text = t("audience.starts", { time: here });
  if (mine && mine !== event.time_zone) {
    text += " · " + t("audience.your_time", { time: formatTime(session.starts_at, mine, lang) });
  }
  $("#session-times").textContent = text;
}

function fillSessions(selected) {
  select.replaceChildren(...sessions.map((s) =>
    h("option", { value: s.id, selected: s.id === selected, text: s.title })));
  select.disabled = sessions.length === 0;
}


const live = new Live({
  onSnapshot(snap) {
    stageView.snapshot(snap);
    if (snap.you.role !== "audience") return; // the studio took over this page
    qa.snapshot(snap);
    polls.reset(snap.polls);
    announcer.snapshot(snap.qa);
    showReactions(snap.reactions.emoji);
    presence.reset();
    presence.update(snap.presence);
    showSession(snap.session);
    if (snap.you.where) setWhereRadio(snap.you.where);
  },
  onPresence: (msg) => presence.update(msg),
  onVotes: (msg) => {
    qa.votes(msg);
    emit("podium:votes", msg);
  },
  onMine: (msg) => {
    qa.mine(msg);
    announcer.mine(msg.question);
  },
  onReactions: (msg) => emit("podium:reactions", msg),
  onOnline: (msg) => emit("podium:online", msg),
  onPolls: (msg) => {
    polls.apply(msg);
    emit("podium:polls", msg); // a studio this page became (a raised hand brought on stage)
  },
  onDelta(msg, name) {
    if (name === "qa") {
      qa.delta(msg);
      announcer.delta(msg);
      emit("podium:qa", msg);
      return;
    }
    if (name === "stage") {
      if (msg.stage && !stageView.upgraded) stageView.stage(msg.stage);
      emit("podium:stage", msg);
      return;
    }
    const changed = msg.changes.session;
    if (changed) {
      sessions = sessions.map((s) => (s.id === changed.id ? changed : s));
      fillSessions(live.sessionId);
      showSession(changed);
      stageView.session(changed);
    }
  },
  onDeleted(msg) {
    sessions = sessions.filter((s) => s.id !== msg.session);
    fillSessions(sessions[0]?.id);
    if (sessions[0]) enter(sessions[0].id);
    else showSession(null);
  },
  onClosed(info) {
    // Its message is English; other languages say it by its code (a ban: forbidden).
    const removed = info.code === "forbidden" && lang !== "en";
    live.showBanner(removed ? t("landing.removed") : info.code ? errorText(info) : t("conn.closed"));
  },
});

const qa = new AudienceQA(live, event.code);
const polls = new AudiencePolls(live, $("#polls"));
const announcer = new AudienceAnnouncer(); // own questions approved or answered, the one on screen
const stageView = new AudienceStage(live);

// Reactions: one tap each, a short cooldown per emoji (Podium counts one a second).
function showReactions(emoji) {
  $("#reactions").replaceChildren(...emoji.map((e) => h("button", {
    type: "button", class: "reaction", "data-emoji": e, "aria-label": t("reactions.send", { emoji: emojiName(e) }),
    onclick: async (ev) => {
      const b = ev.currentTarget;
      b.disabled = true;
      setTimeout(() => (b.disabled = false), 1000);
      await live.request(P.REACTION_SEND, { session: live.sessionId, emoji: e });
    },
  }, emojiImage(e, { alt: "" }))));
}

function setWhereRadio(value) {
  for (const input of document.querySelectorAll('#where input[name="where"]')) {
    input.checked = input.value === value;
  }
  stageView.setWhere(value);
}

async function enter(sessionId) {
  localStorage.setItem(sessionKey, sessionId);
  showSession(sessionById(sessionId));
  const ack = await live.enter(sessionId, where);
  if (!ack.ok) live.showBanner(errorText(ack.error));
}

select.addEventListener("change", () => enter(select.value));
document.querySelectorAll('#where input[name="where"]').forEach((input) => {
  input.addEventListener("change", async () => {
    where = input.value;
    localStorage.setItem(whereKey, where);
    stageView.setWhere(where);
    await live.setWhere(where);
  });
});

$("#save-name").addEventListener("click", async () => {
  const status = $("#name-status");
  status.textContent = "";
  try {
    const res = await fetch(`/api/codes/${encodeURIComponent(event.code)}/join`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ name: $("#name").value }),
    });
    const data = await res.json();
    if (data.ok) {
      $("#name").value = data.participant.name;
      status.textContent = data.participant.name ? t("audience.name_saved") : t("audience.anonymous");
    } else {
      status.textContent = errorText(data.error);
    }
  } catch {
    status.textContent = t("conn.timeout");
  }
});

setWhereRadio(where);
const initial = sessionById(localStorage.getItem(sessionKey)) ? localStorage.getItem(sessionKey) : cfg.current_session;
fillSessions(initial);
live.connect();
stageView.attach();
if (initial) enter(initial);
else showSession(null);
