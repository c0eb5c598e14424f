// The organizer's desk: events, their sessions (times in the event's zone) and invite links.
import { $, h, config, formatTime } from "./dom.js";
import { t, lang, errorText } from "./i18n.js";
import { startInsight, stopInsight, webhookPanel } from "./insight.js";

const storeKey = "podium.token.organizer";
const params = new URLSearchParams(location.hash.slice(1));
if (params.get("t")) {
  localStorage.setItem(storeKey, params.get("t"));
  history.replaceState(null, "", location.pathname + location.search);
}
const token = localStorage.getItem(storeKey);
config();

async function api(method, path, body) {
  try {
    const res = await fetch(path, {
      method,
      headers: { Authorization: `Bearer ${token}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return await res.json();
  } catch {
    return { ok: false, error: { code: "unavailable", message: t("conn.timeout") } };
  }
}

function errorLine(form, ack) {
  const el = form.querySelector(".error");
  if (el) el.textContent = ack.ok ? "" : errorText(ack.error);
}

// "2026-12-03T09:30:00+08:00" -> "2026-12-03T09:30" for a datetime-local input (event zone).
const wallClock = (iso) => iso.slice(0, 16);

function fieldRow(label, input) {
  return h("label", {}, label, " ", input);
}

async function loadEvents() {
  const ack = await api("GET", "/api/events");
  if (!ack.ok) {
    if (ack.error.code === "unauthorized") localStorage.removeItem(storeKey);
    $("#signin").textContent = errorText(ack.error);
    $("#signin").hidden = false;
    return;
  }
  $("#events-card").hidden = false;
  $("#new-event").hidden = !ack.root;
  $("#whoami").textContent = ack.root ? t("organizer.root") : t("organizer.event_organizer");
  const list = $("#events");
  list.replaceChildren(...ack.events.map((e) =>
    h("li", {}, h("button", { class: "link", onclick: () => openEvent(e.id), "data-event": e.id, text: e.name }),
      " ", h("span", { class: "code-chip", text: e.code }))));
  if (ack.events.length === 0) list.append(h("li", { class: "hint", text: t("organizer.no_events") }));
  if (ack.events.length === 1 && !ack.root) openEvent(ack.events[0].id);
}

$("#new-event").addEventListener("submit", async (e) => {
  e.preventDefault();
  const form = e.target;
  const data = Object.fromEntries(new FormData(form));
  const body = {
    name: data.name,
    time_zone: data.time_zone.trim(),
    languages: data.languages.split(",").map((s) => s.trim()).filter(Boolean),
  };
  if (data.code.trim()) body.code = data.code.trim();
  const ack = await api("POST", "/api/events", body);
  errorLine(form, ack);
  if (ack.ok) {
    form.reset();
    await loadEvents();
    openEvent(ack.event.id);
  }
});

async function openEvent(id) {
  const ack = await api("GET", `/api/events/${encodeURIComponent(id)}`);
  const card = $("#event-card");
  card.hidden = false;
  if (!ack.ok) {
    card.replaceChildren(h("p", { class: "error", text: errorText(ack.error) }));
    stopInsight();
    return;
  }
  const { event, sessions, invites } = ack;
  const zone = event.time_zone;

  const editForm = h("form", { class: "grid-form", id: "edit-event" },
    fieldRow(t("organizer.event_name"), h("input", { name: "name", value: event.name, maxlength: 120, dir: "auto", required: true })),
    fieldRow(t("organizer.code"), h("input", { name: "code", value: event.code, maxlength: 12 })),
    fieldRow(t("organizer.time_zone"), h("input", { name: "time_zone", value: zone, list: "zones" })),
    fieldRow(t("organizer.languages"), h("input", { name: "languages", value: event.languages.join(", ") })),
    h("button", { type: "submit", text: t("organizer.save") }),
    h("p", { class: "error", role: "alert" }));
  editForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const d = Object.fromEntries(new FormData(editForm));
    const res = await api("PATCH", `/api/events/${id}`, {
      name: d.name, code: d.code, time_zone: d.time_zone.trim(),
      languages: d.languages.split(",").map((s) => s.trim()).filter(Boolean),
    });
    errorLine(editForm, res);
    if (res.ok) { await loadEvents(); openEvent(id); }
  });

  const sessionRows = sessions.map((s) => {
    const row = h("form", { class: "session-row", "data-session": s.id },
      h("input", { name: "title", value: s.title, maxlength: 200, dir: "auto", "aria-label": t("organizer.session_title") }),
      h("input", { name: "starts_at", type: "datetime-local", value: wallClock(s.starts_at), "aria-label": t("organizer.starts") }),
      h("input", { name: "ends_at", type: "datetime-local", value: wallClock(s.ends_at), "aria-label": t("organizer.ends") }),
      h("input", { name: "stream_url", value: s.stream_url, placeholder: t("organizer.stream_url"), "aria-label": t("organizer.stream_url") }),
      h("button", { type: "submit", text: t("organizer.save") }),
      h("button", { type: "button", class: "danger", text: t("organizer.delete"), onclick: async () => {
        if (!confirm(t("organizer.confirm_delete_session", { title: s.title }))) return;
        const res = await api("DELETE", `/api/sessions/${s.id}`);
        if (res.ok) openEvent(id); else errorLine(row, res);
      } }),
      h("span", { class: "hint presence-mini", "data-presence": s.id }),
      h("p", { class: "error", role: "alert" }));
    row.addEventListener("submit", async (e) => {
      e.preventDefault();
      const d = Object.fromEntries(new FormData(row));
      const res = await api("PATCH", `/api/sessions/${s.id}`, d);
      errorLine(row, res);
      if (res.ok) openEvent(id);
    });
    return row;
  });

  const addSession = h("form", { class: "session-row", id: "new-session" },
    h("input", { name: "title", placeholder: t("organizer.session_title"), maxlength: 200, dir: "auto", required: true }),
    h("input", { name: "starts_at", type: "datetime-local", required: true, "aria-label": t("organizer.starts") }),
    h("input", { name: "ends_at", type: "datetime-local", required: true, "aria-label": t("organizer.ends") }),
    h("input", { name: "stream_url", placeholder: t("organizer.stream_url") }),
    h("button", { type: "submit", class: "primary", text: t("organizer.add_session") }),
    h("p", { class: "error", role: "alert" }));
  addSession.addEventListener("submit", async (e) => {
    e.preventDefault();
    const d = Object.fromEntries(new FormData(addSession));
    const res = await api("POST", `/api/events/${id}/sessions`, d);
    errorLine(addSession, res);
    if (res.ok) openEvent(id);
  });

  const scope = h("select", { name: "session_id" },
    h("option", { value: "", text: t("organizer.whole_event") }),
    ...sessions.map((s) => h("option", { value: s.id, text: s.title })));
  const inviteForm = h("form", { class: "grid-form", id: "new-invite" },
    fieldRow(t("organizer.role"), h("select", { name: "role" },
      ...["moderator", "speaker", "interpreter", "screen", "organizer"].map((r) => h("option", { value: r, text: t(`role.${r}`) })))),
    fieldRow(t("organizer.scope"), scope),
    fieldRow(t("organizer.label"), h("input", { name: "label", maxlength: 80, dir: "auto" })),
    fieldRow(t("organizer.valid_hours"), h("input", { name: "hours", type: "number", min: 1, max: 2160, value: 72 })),
    h("button", { type: "submit", class: "primary", text: t("organizer.make_link") }),
    h("p", { class: "error", role: "alert" }));
  const newLink = h("div", { class: "new-link", id: "new-link", hidden: true });
  inviteForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const d = Object.fromEntries(new FormData(inviteForm));
    const body = { role: d.role, label: d.label, hours: Number(d.hours) };
    if (d.session_id) body.session_id = d.session_id;
    const res = await api("POST", `/api/events/${id}/invites`, body);
    errorLine(inviteForm, res);
    if (!res.ok) return;
    // The next link is often of the same kind for the same session (a screen per projector,
    // a speaker after another): the role and the session keep their values.
    await openEvent(id);
    const again = $("#new-invite");
    again.querySelector("[name=role]").value = d.role;
    again.querySelector("[name=session_id]").value = d.session_id || "";
    again.querySelector("[name=hours]").value = d.hours;
    const box = $("#new-link");
    box.hidden = false;
    box.replaceChildren(
      h("p", { class: "warning", text: t("organizer.link_warning", { role: t(`role.${res.invite.role}`) }) }),
      h("input", { readonly: true, value: res.url, class: "link-output", "aria-label": t("organizer.link") }),
      h("button", { type: "button", text: t("organizer.copy"), onclick: () => navigator.clipboard?.writeText(res.url) }));
  });

  const inviteRows = invites.map((inv) => {
    const session = sessions.find((s) => s.id === inv.session_id);
    const expired = inv.expires_at * 1000 < Date.now();
    return h("li", { "data-invite": inv.id },
      h("strong", { text: t(`role.${inv.role}`) }), " · ",
      h("span", { dir: "auto", text: session ? session.title : t("organizer.whole_event") }),
      inv.label ? [" · ", h("span", { dir: "auto", text: inv.label })] : null,
      " · ", h("span", { class: "hint", text: inv.revoked ? t("organizer.revoked")
        : expired ? t("organizer.expired")
        : t("organizer.expires", { time: formatTime(new Date(inv.expires_at * 1000).toISOString(), zone, lang) }) }),
      inv.revoked || expired ? null : h("button", { type: "button", class: "danger", text: t("organizer.revoke"), onclick: async () => {
        const res = await api("POST", `/api/invites/${inv.id}/revoke`);
        if (res.ok) openEvent(id);
      } }),
      inv.role === "speaker" && !inv.revoked && !expired ? backupForm(inv) : null);
  });

  const deleteForm = h("form", { class: "row", id: "delete-event" },
    h("input", { name: "confirm", placeholder: t("organizer.type_name"), dir: "auto", "aria-label": t("organizer.type_name") }),
    h("button", { type: "submit", class: "danger", text: t("organizer.delete_event") }),
    h("p", { class: "error", role: "alert" }));
  deleteForm.addEventListener("submit", async (e) => {
    e.preventDefault();
    const res = await api("DELETE", `/api/events/${id}`, { confirm: new FormData(deleteForm).get("confirm") });
    errorLine(deleteForm, res);
    if (res.ok) { card.hidden = true; loadEvents(); }
  });

  const joinUrl = `${location.origin}/e/${event.code}`;
  card.replaceChildren(
    h("h2", { dir: "auto", text: event.name }),
    h("p", {}, t("organizer.audience_link"), " ", h("a", { href: joinUrl, text: joinUrl, dir: "ltr" }),
      " · ", h("a", { href: `/e/${event.code}/qr.svg?w=hall`, text: t("organizer.qr") })),
    editForm,
    h("h3", { text: t("organizer.sessions_in", { zone }) }),
    h("div", { class: "stack", id: "sessions" }, sessionRows, addSession),
    h("h3", { text: t("organizer.links") }),
    h("p", { class: "hint", text: t("organizer.links_help") }),
    inviteForm, newLink,
    h("ul", { class: "list", id: "invites" }, inviteRows),
    h("div", { class: "stack", id: "webhook" }),
    h("h3", { text: t("organizer.danger") }),
    deleteForm);
  refreshPresence(sessions);
  webhookPanel(id, api, $("#webhook"));
  const insight = $("#insight-card");
  insight.hidden = false;
  startInsight(id, api, insight);
}

// A speaker's backup recording: the video the stage plays if their connection fails.
function backupForm(inv) {
  const input = h("input", { type: "url", name: "backup_url", value: inv.backup_url || "", dir: "ltr",
    placeholder: "https://…", "aria-label": t("organizer.backup_url") });
  const form = h("form", { class: "row backup-form" },
    h("label", { class: "hint", text: t("organizer.backup_url") }), input,
    h("button", { type: "submit", text: t("organizer.save") }),
    h("span", { class: "hint", role: "status" }),
    h("p", { class: "error", role: "alert" }));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const res = await api("PATCH", `/api/invites/${inv.id}`, { backup_url: input.value.trim() });
    errorLine(form, res);
    form.querySelector("[role=status]").textContent = res.ok ? t("organizer.saved") : "";
  });
  return form;
}

async function refreshPresence(sessions) {
  for (const s of sessions) {
    const res = await api("GET", `/api/sessions/${s.id}/presence`);
    const el = document.querySelector(`[data-presence="${s.id}"]`);
    if (res.ok && el) el.textContent = t("presence.here", { n: res.counts.total });
  }
}

// A short list of common zones for the datalist; any IANA name is accepted.
const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
$("#zones").replaceChildren(...zones.map((z) => h("option", { value: z })));

if (!token) {
  $("#signin").hidden = false;
} else {
  loadEvents();
}
