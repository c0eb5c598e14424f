// Polls as every face holds and draws them: the session's polls kept from the snapshot and
// the feed (docs/protocol.md, "Polls"), and their results as bars, stars or a word cloud.
import { h } from "./dom.js";
import { t, formatNumber } from "./i18n.js";

export class PollState {
  constructor() {
    this.polls = new Map();
  }

  reset(list) {
    this.polls = new Map((list || []).map((p) => [p.id, p]));
  }

  apply({ polls = [], results = {} }) {
    for (const p of polls) {
      if (p.removed) this.polls.delete(p.id);
      else this.polls.set(p.id, p);
    }
    for (const [id, r] of Object.entries(results)) {
      const p = this.polls.get(id);
      if (p) this.polls.set(id, { ...p, results: r });
    }
  }

  list() {
    return [...this.polls.values()].sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
  }

  // What a hall or a studio shows: the poll most recently opened that is open or shown.
  active() {
    const live = this.list().filter((p) => p.state === "open" || p.shown);
    return live.sort((a, b) => (b.opened_at || 0) - (a.opened_at || 0))[0] || null;
  }
}

// A custom property set through the CSSOM (the CSP allows no style attributes).
function withVar(el, name, value) {
  el.style.setProperty(name, value);
  return el;
}

// A quiz's leaderboard as list items: rank, name, right answers, time taken.
export function leaderboardItems(board) {
  if (!board.length) return [h("li", { class: "hint", text: t("poll.board_empty") })];
  return board.map((b) => h("li", { class: "leader", value: b.rank },
    h("span", { class: "leader-name", dir: "auto", text: b.name }),
    h("span", { class: "leader-score", text: t("poll.board_score", { count: b.right, n: formatNumber(b.right), s: formatNumber(b.seconds) }) })));
}

const pct = (n, total) => (total > 0 ? Math.round((n / total) * 100) : 0);

// The results of a poll as a figure: a bar per option (the correct ones marked once shown),
// a bar per star with the average, or the words sized by how many sent them.
export function resultsFigure(poll) {
  const r = poll.results || { voters: 0, counts: {} };
  const voters = h("p", { class: "poll-voters", text: t("poll.voters", { count: r.voters, n: formatNumber(r.voters) }) });
  if (poll.kind === "text") {
    const answers = Object.entries(r.counts).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    return h("figure", { class: "poll-results poll-texts" },
      h("ul", { class: "poll-text-list" }, answers.map(([text, n]) => h("li", { dir: "auto", "data-count": n, text }))),
      voters);
  }
  if (poll.kind === "words") {
    const words = Object.entries(r.counts).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
    const top = words.length ? words[0][1] : 1;
    return h("figure", { class: "poll-results poll-cloud" },
      h("ul", { class: "cloud" }, words.map(([w, n]) => withVar(h("li", {
        dir: "auto", "data-count": n, "aria-label": `${w}: ${formatNumber(n)}`, text: w,
      }), "--w", (0.35 + 0.65 * (n / top)).toFixed(2)))),
      voters);
  }
  const keys = poll.kind === "rating" ? ["5", "4", "3", "2", "1"] : poll.options.map((_, i) => String(i));
  const total = poll.kind === "rating" || !poll.multi ? r.voters : Math.max(r.voters, 1);
  const rows = keys.map((k) => {
    const n = r.counts[k] || 0;
    const label = poll.kind === "rating" ? t("poll.stars", { count: Number(k), n: k }) : poll.options[Number(k)];
    const right = (poll.correct || []).includes(Number(k));
    return withVar(h("li", { class: `poll-bar${right ? " is-correct" : ""}` },
      h("span", { class: "poll-label", dir: "auto", text: label }),
      right ? h("span", { class: "tag tag-ok", text: t("poll.correct") }) : null,
      h("span", { class: "poll-count", text: `${formatNumber(n)} · ${pct(n, total)}%` })), "--p", `${pct(n, total)}%`);
  });
  let average = null;
  if (poll.kind === "rating" && r.voters) {
    const sum = keys.reduce((s, k) => s + Number(k) * (r.counts[k] || 0), 0);
    average = h("p", { class: "poll-average", text: t("poll.average", { n: (sum / r.voters).toFixed(1) }) });
  }
  return h("figure", { class: "poll-results" }, h("ol", { class: "poll-bars" }, rows), average, voters);
}
