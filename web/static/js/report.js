// The post-event report of one event: every session's attendance, time in session,
// questions, polls and reactions, with the live dashboard's charts and downloads.
import { $, h, config } from "./dom.js";
import { t, formatNumber, errorText } from "./i18n.js";
import { sessionCharts, updateCharts, resizeAll } from "./insight-charts.js";

const storeKey = "podium.token.organizer";
const params = new URLSearchParams(location.hash.slice(1));
if (params.get("t")) {
  localStorage.setItem(storeKey, params.get("t"));
  history.replaceState(null, "", location.pathname + location.search);
}
const token = localStorage.getItem(storeKey);
const { event_id: eventId } = config();
const all = [];

async function get(path) {
  try {
    const res = await fetch(path, { headers: { Authorization: `Bearer ${token}` } });
    return res;
  } catch {
    return null;
  }
}

// A download that needs the organizer's credentials: fetched, then saved from memory.
async function download(path, filename) {
  const res = await get(path);
  if (!res || !res.ok) return;
  const url = URL.createObjectURL(await res.blob());
  const a = h("a", { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function fact(label, value) {
  return [h("dt", { text: label }), h("dd", { text: value })];
}

function seriesOf(report) {
  const s = { t: [], hall: [], remote: [], asked: [], approved: [], answered: [], votes: [], reactions: [], poll_answers: [] };
  for (const m of report.timeline) {
    s.t.push(Date.parse(m.at) / 1000);
    s.hall.push(m.people.audience.hall);
    s.remote.push(m.people.audience.remote);
    for (const k of ["asked", "approved", "answered", "votes", "reactions", "poll_answers"]) s[k].push(m[k]);
  }
  return s;
}

function bucketLabel(b) {
  return b.to_min === null ? t("report.bucket_open", { from: b.from_min }) : t("report.bucket", { from: b.from_min, to: b.to_min });
}

function sessionSection(report, zone) {
  const id = report.session.id;
  const a = report.attendance, d = report.time_in_session, q = report.questions;
  const charts = sessionCharts(`report-${id}`, zone);
  all.push(charts);
  const biggest = Math.max(1, ...d.buckets.map((b) => b.people));
  const section = h("section", { class: "card stack report-session", "data-report-session": id },
    h("h2", { dir: "auto", text: report.session.title }),
    h("p", { class: "hint", text: t("report.times_in", { zone }) }),
    h("dl", { class: "facts" },
      fact(t("report.peak"), t("report.hall_remote", { total: formatNumber(a.peak.total), hall: formatNumber(a.peak.hall), remote: formatNumber(a.peak.remote) })),
      fact(t("report.average"), t("report.hall_remote", { total: formatNumber(a.average.total), hall: formatNumber(a.average.hall), remote: formatNumber(a.average.remote) })),
      fact(t("report.minutes"), formatNumber(a.minutes)),
      a.unsampled ? fact(t("report.unsampled"), t("report.unsampled_why", { n: formatNumber(a.unsampled) })) : null,
      fact(t("insight.asked"), formatNumber(q.asked)), fact(t("insight.approved"), formatNumber(q.approved)),
      fact(t("insight.answered"), formatNumber(q.answered)), fact(t("insight.votes"), formatNumber(q.votes)),
      fact(t("insight.reactions"), formatNumber(Object.values(report.reactions.totals).reduce((x, y) => x + y, 0)))),
    h("div", { class: "chart-grid" }, Object.values(charts).map((c) => c.el)),
    h("table", { class: "chart-table report-dwell" },
      h("caption", { text: t("report.dwell", { median: formatNumber(d.median_min), people: formatNumber(d.people) }) }),
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: t("report.stayed") }), h("th", { scope: "col", text: t("report.people") }))),
      h("tbody", {}, d.buckets.map((b) => h("tr", {}, h("th", { scope: "row", text: bucketLabel(b) }),
        h("td", {}, h("meter", { min: 0, max: biggest, value: b.people, "aria-hidden": "true" }), " ", formatNumber(b.people)))))),
    h("table", { class: "chart-table report-questions" },
      h("caption", { text: t("report.questions") }),
      h("thead", {}, h("tr", {}, ["report.question", "report.fate", "insight.votes"].map((k) => h("th", { scope: "col", text: t(k) })))),
      h("tbody", {}, q.list.length ? q.list.map((x) => h("tr", {},
        h("td", { dir: "auto", text: x.text }), h("td", { text: t(`report.state.${x.state}`) }), h("td", { text: formatNumber(x.votes) })))
        : h("tr", {}, h("td", { colspan: 3, class: "hint", text: t("report.no_questions") })))),
    report.polls.length ? pollTables(report.polls) : h("p", { class: "hint", text: t("insight.no_polls") }),
    h("p", { class: "row" },
      h("button", { type: "button", text: t("report.download_json"), onclick: () => download(`/api/sessions/${id}/report.json`, `podium-report-${id}.json`) }),
      h("button", { type: "button", text: t("report.download_csv"), onclick: () => download(`/api/sessions/${id}/report.csv`, `podium-report-${id}.csv`) })));
  $("#report-sessions").append(section);
  updateCharts(charts, seriesOf(report));
}

// Each poll: its question, how many answered, every answer with its count (a quiz's right
// ones marked; an open answer, whether it was let through).
function pollTables(polls) {
  return h("div", { class: "stack report-polls" }, polls.map((p) => h("table", { class: "chart-table report-poll" },
    h("caption", { dir: "auto", text: `${p.question} · ${t("poll.voters", { count: p.voters, n: formatNumber(p.voters) })}` }),
    h("thead", {}, h("tr", {}, h("th", { scope: "col", text: t("report.answer") }), h("th", { scope: "col", text: t("report.count") }))),
    h("tbody", {}, p.answers.map((a) => h("tr", {},
      h("th", { scope: "row", dir: "auto" }, a.answer, a.correct ? ` · ${t("poll.correct")}` : "",
        a.approved === false ? ` · ${t("report.not_let_through")}` : ""),
      h("td", { text: formatNumber(a.count) })))))));
}

async function load() {
  const res = await get(`/api/events/${encodeURIComponent(eventId)}/report.json`);
  const ack = res ? await res.json().catch(() => null) : null;
  const box = $("#report-summary");
  box.removeAttribute("aria-busy");
  if (!ack || !ack.ok) {
    box.replaceChildren(h("p", { class: "error", text: ack ? errorText(ack.error) : t("conn.timeout") }));
    return;
  }
  const s = ack.summary;
  box.replaceChildren(
    h("h2", { dir: "auto", text: ack.event.name }),
    h("dl", { class: "facts" },
      fact(t("report.sessions"), formatNumber(s.sessions)), fact(t("report.peak"), formatNumber(s.peak_audience)),
      fact(t("insight.asked"), formatNumber(s.questions_asked)), fact(t("insight.answered"), formatNumber(s.questions_answered)),
      fact(t("insight.votes"), formatNumber(s.votes)), fact(t("insight.reactions"), formatNumber(s.reactions))),
    h("p", {}, h("button", { type: "button", text: t("report.download_event"),
      onclick: () => download(`/api/events/${encodeURIComponent(eventId)}/report.json`, `podium-report-${eventId}.json`) })));
  for (const report of ack.sessions) sessionSection(report, ack.time_zone);
}

addEventListener("resize", () => resizeAll(all));
if (!token) $("#signin").hidden = false;
else load();
