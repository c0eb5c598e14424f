// Pages opened with an invite link (moderator, hall screen, speaker studio). The token
// arrives in the URL fragment (never sent to a server log), is kept in this browser so a
// reload keeps the role, and travels only in the socket's auth and the API's header.
import { $, h, config, emit, formatTime } from "./dom.js";
import { t, lang, errorText } from "./i18n.js";
import { Live } from "./live.js";
import { PresenceView } from "./presence.js";

const cfg = config();
const storeKey = `podium.token.${cfg.page}`;

function takeToken() {
  const params = new URLSearchParams(location.hash.slice(1));
  const fresh = params.get("t");
  if (fresh) {
    localStorage.setItem(storeKey, fresh);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return localStorage.getItem(storeKey);
}

const token = takeToken();

function signinMessage(text) {
  const el = $("#signin");
  el.textContent = text;
  el.hidden = false;
  $("#stage").hidden = true;
  // Nothing of the session stays on a page that lost its right to show it.
  for (const id of ["#event-name", "#session-title", "#live-count"]) $(id).textContent = "";
}

async function api(path) {
  try {
    const res = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
    return await res.json();
  } catch {
    return { ok: false, error: { code: "unavailable", message: t("conn.timeout") } };
  }
}


async function main() {
  if (!token) {
    signinMessage(t("role.need_link"));
    return null;
  }
  const me = await api("/api/me");
  if (!me.ok) {
    if (me.error.code === "unauthorized") localStorage.removeItem(storeKey);
    signinMessage(errorText(me.error));
    return null;
  }
  if (me.event) $("#event-name").textContent = me.event.name;
  let sessionId = cfg.session_id;
  if (!sessionId && me.sessions.length === 1) sessionId = me.sessions[0].id;
  if (!sessionId) {
    const picker = $("#picker");
    picker.hidden = false;
    const base = "/" + location.pathname.split("/")[1];
    $("#sessions").replaceChildren(...me.sessions.map((s) =>
      h("li", {}, h("a", { href: `${base}/${s.id}` }, s.title),
        " ", h("span", { class: "hint", text: formatTime(s.starts_at, s.time_zone, lang) }))));
    if (me.sessions.length === 0) $("#sessions").append(h("li", { text: t("role.no_sessions") }));
    return null;
  }
  const presence = new PresenceView($("#presence"), $("#live-count"));
  const live = new Live({
    auth: () => ({ token }),
    onSnapshot(snap) {
      $("#stage").hidden = false;
      $("#event-name").textContent = snap.event.name;
      $("#session-title").textContent = snap.session.title;
      presence.reset();
      presence.update(snap.presence);
      emit("podium:snapshot", snap);
    },
    onPresence: (msg) => presence.update(msg),
    onVotes: (msg) => emit("podium:votes", msg),
    onMine: (msg) => emit("podium:mine", msg),
    onReactions: (msg) => emit("podium:reactions", msg),
    onOnline: (msg) => emit("podium:online", msg),
    onPolls: (msg) => emit("podium:polls", msg),
    onDelta(msg, name) {
      if (name === "qa") {
        emit("podium:qa", msg);
        return;
      }
      if (name === "stage") {
        emit("podium:stage", msg);
        return;
      }
      if (msg.changes.session) $("#session-title").textContent = msg.changes.session.title;
      if (msg.changes.event) $("#event-name").textContent = msg.changes.event.name;
      emit("podium:info", msg.changes);
    },
    onDeleted: () => signinMessage(t("role.session_deleted")),
    onClosed(info) {
      if (info.code === "unauthorized") localStorage.removeItem(storeKey);
      signinMessage(info.code ? errorText(info) : t("conn.closed")); // English only on an English page
    },
  });
  live.connect();
  emit("podium:live", live); // before the first snapshot: page modules attach their listeners
  const ack = await live.enter(sessionId);
  if (!ack.ok) signinMessage(errorText(ack.error));
  return live;
}

// The page's other modules (the console, the stage panel, the screen, the studio) listen for
// podium:* events: start only once every one of them has run. Module scripts all run before
// DOMContentLoaded fires, so waiting for it means no module misses the first snapshot.
const pageReady = new Promise((resolve) => document.addEventListener("DOMContentLoaded", resolve, { once: true }));

// Page modules (the console, the screen) await this for the connection and its token.
export const connected = pageReady.then(main).then((live) => (live ? { live, token } : null));
