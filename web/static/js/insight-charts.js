// Charts of the organizer's picture (the live dashboard and the reports): uPlot draws each on
// a canvas, and each comes with what a screen reader reads instead: a caption, a one-line
// summary and the numbers as a table. Times are shown in the event's zone, with its name.
import uPlot from "/static/vendor/uPlot.esm.js";
import { h } from "./dom.js";
import { t, lang, formatNumber } from "./i18n.js";

// Colours told apart by people with the common colour-vision differences (Okabe-Ito), each
// series also drawn with its own dash so that none depends on colour alone.
export const COLORS = ["#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9"];
const DASHES = [[], [6, 4], [2, 3], [10, 3, 2, 3], [1, 2], [8, 8]];

export function minuteLabel(sec, zone) {
  try {
    return new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit", timeZone: zone }).format(new Date(sec * 1000));
  } catch {
    return new Date(sec * 1000).toISOString().slice(11, 16);
  }
}

function zoneName(zone) {
  try {
    const parts = new Intl.DateTimeFormat(lang, { timeZone: zone, timeZoneName: "short" }).formatToParts(new Date());
    return `${zone} (${parts.find((p) => p.type === "timeZoneName")?.value ?? ""})`;
  } catch {
    return zone;
  }
}

// What the chart says in words: each series now (its last value) and at its highest.
function summarize(times, series, zone) {
  if (!times.length) return t("insight.no_data");
  return series.map((s) => {
    let peak = null, at = null, last = null;
    s.values.forEach((v, i) => {
      if (v === null || v === undefined) return;
      last = v;
      if (peak === null || v > peak) { peak = v; at = times[i]; }
    });
    if (peak === null) return `${s.label}: ${t("insight.no_data")}`;
    return t("insight.summary_series", {
      label: s.label, last: formatNumber(last), peak: formatNumber(peak), at: minuteLabel(at, zone),
    });
  }).join(" ");
}

// One chart: `series` [{label, values}] over `times` (Unix seconds, one per minute).
export class Chart {
  constructor({ title, zone, series, id }) {
    this.zone = zone;
    this.labels = series.map((s) => s.label);
    this.plot = h("div", { class: "chart-plot", dir: "ltr", "aria-hidden": "true" });
    this.summary = h("p", { class: "chart-summary", id: `${id}-summary` });
    this.body = h("tbody");
    this.legend = h("ul", { class: "chart-legend" }, series.map((s, i) =>
      h("li", { "data-series": i }, h("span", { class: `chart-swatch chart-swatch-${i}` }), h("span", { text: s.label }))));
    this.table = h("table", { class: "chart-table" },
      h("caption", { class: "sr-only", text: title }),
      h("thead", {}, h("tr", {}, h("th", { scope: "col", text: t("insight.minute", { zone: zoneName(zone) }) }),
        series.map((s) => h("th", { scope: "col", text: s.label })))),
      this.body);
    this.el = h("figure", { class: "chart", id, "aria-describedby": `${id}-summary` },
      h("figcaption", { class: "chart-title", text: title }),
      this.legend, this.plot, this.summary,
      h("details", { class: "chart-details" }, h("summary", { text: t("insight.show_numbers") }), this.table));
    this.u = null;
  }

  update(times, series) {
    this.summary.textContent = summarize(times, series, this.zone);
    this.body.replaceChildren(...times.map((sec, i) => h("tr", {},
      h("th", { scope: "row", text: minuteLabel(sec, this.zone) }),
      series.map((s) => h("td", { text: s.values[i] === null || s.values[i] === undefined ? "–" : formatNumber(s.values[i]) })))));
    const data = [times, ...series.map((s) => s.values)];
    if (this.u) { this.u.setData(data); return; }
    if (!times.length) return;
    const style = getComputedStyle(document.body);
    const ink = style.color, grid = style.getPropertyValue("--line").trim() || "#ccc";
    const axis = { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } };
    // Time runs in the page's reading direction: right to left in Hebrew, the counts' axis
    // at the start (the right) of the line.
    // (The page's: the plot itself is laid out left to right for uPlot.)
    const rtl = document.documentElement.dir === "rtl";
    this.u = new uPlot({
      width: this.width(), height: 200,
      legend: { show: false },
      cursor: { show: false },
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), this.zone),
      scales: { x: { time: true, dir: rtl ? -1 : 1 }, y: { range: (u, lo, hi) => [0, Math.max(5, Math.ceil(hi * 1.1))] } },
      axes: [{ ...axis }, { ...axis, side: rtl ? 1 : 3, values: (u, vals) => vals.map((v) => (Number.isInteger(v) ? formatNumber(v) : "")) }],
      series: [{}, ...series.map((s, i) => ({
        label: s.label, stroke: COLORS[i % COLORS.length], width: 2, dash: DASHES[i % DASHES.length],
        points: { show: times.length < 30 }, spanGaps: false,
      }))],
    }, data, this.plot);
    this.plot.uplot = this.u; // for whoever inspects the page (and the browser tests)
  }

  width() {
    return Math.max(260, Math.min(900, (this.el.parentElement?.clientWidth || 600) - 24));
  }

  resize() {
    if (this.u) this.u.setSize({ width: this.width(), height: 200 });
  }
}

// The charts of one session, from its series (the insight API and the report share them).
export function sessionCharts(prefix, zone) {
  return {
    people: new Chart({ id: `${prefix}-people`, zone, title: t("insight.people"),
      series: [{ label: t("insight.hall") }, { label: t("insight.remote") }] }),
    questions: new Chart({ id: `${prefix}-questions`, zone, title: t("insight.questions"),
      series: [{ label: t("insight.asked") }, { label: t("insight.approved") }, { label: t("insight.answered") }] }),
    engagement: new Chart({ id: `${prefix}-engagement`, zone, title: t("insight.engagement"),
      series: [{ label: t("insight.votes") }, { label: t("insight.reactions") }] }),
    polls: new Chart({ id: `${prefix}-polls`, zone, title: t("insight.polls"),
      series: [{ label: t("insight.poll_answers") }] }),
  };
}

export function updateCharts(charts, s) {
  charts.people.update(s.t, [{ label: t("insight.hall"), values: s.hall }, { label: t("insight.remote"), values: s.remote }]);
  charts.questions.update(s.t, [
    { label: t("insight.asked"), values: s.asked }, { label: t("insight.approved"), values: s.approved },
    { label: t("insight.answered"), values: s.answered }]);
  charts.engagement.update(s.t, [{ label: t("insight.votes"), values: s.votes }, { label: t("insight.reactions"), values: s.reactions }]);
  charts.polls.update(s.t, [{ label: t("insight.poll_answers"), values: s.poll_answers }]);
}

export function resizeAll(all) {
  for (const charts of all) for (const c of Object.values(charts)) c.resize();
}
