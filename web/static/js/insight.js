// The organizer's live dashboard: every running session of the open event, per minute,
// refreshed every 20 s (GET /api/events/{id}/insight), plus the event's webhook.
import { h } from "./dom.js";
import { t, formatNumber } from "./i18n.js";
import { sessionCharts, updateCharts, resizeAll, minuteLabel } from "./insight-charts.js";

const REFRESH_MS = 20_000;
let timer = null;
let shown = new Map(); // session id -> {el, charts, facts}

export function stopInsight() {
  clearTimeout(timer);
  timer = null;
  shown = new Map();
}

export async function startInsight(eventId, api, box) {
  stopInsight();
  const list = h("div", { class: "stack insight-sessions", "aria-live": "off" });
  const idle = h("p", { class: "hint" });
  box.replaceChildren(
    h("h2", { text: t("insight.title") }),
    h("p", {}, h("a", { href: `/o/report/${encodeURIComponent(eventId)}`, text: t("insight.open_report") })),
    idle, list);
  const refresh = async () => {
    const ack = await api("GET", `/api/events/${encodeURIComponent(eventId)}/insight`);
    if (ack.ok) render(ack, list, idle);
    timer = setTimeout(refresh, REFRESH_MS);
  };
  await refresh();
}

function render(ack, list, idle) {
  const zone = ack.time_zone;
  idle.textContent = ack.running.length ? "" : t("insight.none_running");
  const running = new Set(ack.running.map((s) => s.session.id));
  for (const [id, item] of shown) if (!running.has(id)) { item.el.remove(); shown.delete(id); }
  for (const s of ack.running) {
    let item = shown.get(s.session.id);
    if (!item) {
      const charts = sessionCharts(`insight-${s.session.id}`, zone);
      const facts = h("p", { class: "insight-facts" });
      const el = h("section", { class: "card stack insight-session", "data-insight-session": s.session.id },
        h("h3", { dir: "auto", text: s.session.title }), facts,
        h("div", { class: "chart-grid" }, Object.values(charts).map((c) => c.el)),
        h("p", { class: "hint insight-polls" }));
      list.append(el);
      item = { el, charts, facts };
      shown.set(s.session.id, item);
    }
    const p = s.present.audience;
    item.facts.textContent = t("insight.now", {
      status: t(`status.${s.status}`), hall: formatNumber(p.hall), remote: formatNumber(p.remote),
      at: s.series.t.length ? minuteLabel(s.series.t[s.series.t.length - 1], zone) : "–", zone,
    });
    const answered = s.polls.reduce((n, p) => n + p.voters, 0);
    item.el.querySelector(".insight-polls").textContent = s.polls.length
      ? t("insight.polls_summary", { count: s.polls.length, n: formatNumber(s.polls.length), answers: formatNumber(answered) })
      : t("insight.no_polls");
    updateCharts(item.charts, s.series);
  }
}

addEventListener("resize", () => resizeAll([...shown.values()].map((i) => i.charts)));

// The event's webhook: its address, its secret (shown once), its recent deliveries.
export async function webhookPanel(eventId, api, box) {
  const path = `/api/events/${encodeURIComponent(eventId)}/webhook`;
  const ack = await api("GET", path);
  if (!ack.ok) { box.replaceChildren(); return; }
  const url = h("input", { type: "url", name: "url", dir: "ltr", value: ack.webhook.url, placeholder: "https://…" });
  const secret = h("div", { class: "new-link", hidden: true });
  const form = h("form", { class: "row", id: "webhook-form" },
    h("label", { class: "hint", for: "webhook-url", text: t("webhook.url") }), url,
    h("button", { type: "submit", text: t("organizer.save") }),
    ack.webhook.configured ? h("button", { type: "button", text: t("webhook.rotate"), onclick: async () => {
      const res = await api("POST", `${path}/secret`);
      if (res.ok) showSecret(secret, res.secret);
    } }) : null,
    ack.webhook.configured ? h("button", { type: "button", id: "webhook-test", text: t("webhook.test"), onclick: async () => {
      const res = await api("POST", `${path}/test`);
      form.querySelector(".error").textContent = res.ok ? "" : res.error.message;
      if (!res.ok) return;
      form.querySelector(".webhook-status").textContent = t("webhook.test_sent");
      // Its outcome shows in the list once the receiver answered (or the first attempt failed).
      setTimeout(() => webhookPanel(eventId, api, box), 2000);
    } }) : null,
    ack.webhook.configured ? h("button", { type: "button", class: "danger", text: t("webhook.remove"), onclick: async () => {
      const res = await api("DELETE", path);
      if (res.ok) webhookPanel(eventId, api, box);
    } }) : null,
    h("p", { class: "error", role: "alert" }),
    h("p", { class: "hint webhook-status", role: "status" }));
  url.id = "webhook-url";
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const res = await api("PUT", path, { url: url.value.trim() });
    form.querySelector(".error").textContent = res.ok ? "" : res.error.message;
    if (res.ok) {
      await webhookPanel(eventId, api, box);
      if (res.secret) showSecret(box.querySelector(".new-link"), res.secret);
    }
  });
  const rows = ack.deliveries.map((d) => h("tr", {},
    h("td", { text: d.type }), h("td", { text: t(`webhook.status.${d.status}`) }),
    h("td", { text: d.code ?? d.error ?? "" }), h("td", { text: formatNumber(d.attempts) }),
    h("td", { text: d.at || d.made_at || "" })));
  box.replaceChildren(
    h("h3", { text: t("webhook.title") }),
    h("p", { class: "hint", text: t("webhook.help") }),
    // Protocol names: the same in every language (translate="no" tells browsers and tools).
    h("p", { class: "hint", dir: "ltr" }, h("code", { translate: "no",
      text: "session.started · session.ended · question.approved · poll.closed · X-Podium-Signature" })),
    form, secret,
    h("table", { class: "chart-table", id: "webhook-deliveries" },
      h("caption", { text: t("webhook.recent") }),
      h("thead", {}, h("tr", {}, ["webhook.type", "webhook.state", "webhook.code", "webhook.attempts", "webhook.at"]
        .map((k) => h("th", { scope: "col", text: t(k) })))),
      h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: 5, class: "hint", text: t("webhook.none") })))));
}

function showSecret(box, value) {
  box.hidden = false;
  box.replaceChildren(
    h("p", { class: "warning", text: t("webhook.secret_once") }),
    h("input", { readonly: true, value, class: "link-output", dir: "ltr", "aria-label": t("webhook.secret") }));
}
