// The hall screen: the question on screen in large type, with its votes and asker; the
// join QR and code always (small beside a question, large when there is none).
import { $, config } from "./dom.js";
import { t, formatNumber } from "./i18n.js";
import { QAState } from "./qa-state.js";

const base = config().base_url;
const state = new QAState();

function render() {
  const q = state.onScreen();
  $("#screen-canvas").dataset.mode = q ? "question" : "join";
  $("#screen-question").hidden = !q;
  if (!q) return;
  $("#screen-question-text").textContent = q.text;
  $("#screen-question-name").textContent = q.anonymous || !q.name ? t("qa.anonymous_author") : q.name;
  $("#screen-question-votes").textContent = t("screen.votes", { count: q.votes, n: formatNumber(q.votes) });
}

document.addEventListener("podium:snapshot", (e) => {
  const { event, qa } = e.detail;
  const url = `${base}/e/${event.code}`; // what the QR says, whatever address this screen used
  $("#join-qr").src = `/e/${encodeURIComponent(event.code)}/qr.svg?w=hall`;
  $("#join-url").textContent = url.replace(/^https?:\/\//, "");
  $("#join-code").textContent = event.code;
  state.reset(qa);
  render();
});
document.addEventListener("podium:qa", (e) => {
  state.applyDelta(e.detail);
  render();
});
// Reactions float up in a corner; a tick of hundreds shows as a capped flurry.
document.addEventListener("podium:reactions", (e) => {
  const layer = $("#floating");
  const burst = Object.entries(e.detail.counts).flatMap(([emoji, n]) => Array(Math.min(n, 12)).fill(emoji));
  for (const [i, emoji] of burst.slice(0, 30).entries()) {
    const el = document.createElement("span");
    el.className = "float";
    el.textContent = emoji;
    el.style.insetInlineStart = `${Math.random() * 80}%`;
    el.style.animationDelay = `${(i % 10) * 90}ms`;
    el.addEventListener("animationend", () => el.remove());
    layer.append(el);
  }
});

document.addEventListener("podium:votes", (e) => {
  state.applyVotes(e.detail.votes);
  render();
});
