// The hall's reactions on a screen: pictures that float up in a corner, a tick of hundreds as
// a capped flurry. Whoever asks for less motion (prefers-reduced-motion: the kiosk's or the
// viewer's setting) gets the calm version instead: the session's counts, changing in place.
import { h } from "./dom.js";
import { formatNumber } from "./i18n.js";
import { emojiImage } from "./emoji.js";

const FLURRY_MAX = 30;
const PER_EMOJI_MAX = 12;
const FLOAT_MS = 2600 + 900 + 1000; // the rise, the last one's delay, a margin (podium.css .float)

const motionQuery = matchMedia("(prefers-reduced-motion: reduce)");
export const lessMotion = () => motionQuery.matches;

export class ReactionLayer {
  // `layer`: the corner the pictures float in; `totals`: the list the counts go in.
  constructor(layer, totals) {
    this.layer = layer;
    this.totalsEl = totals;
    this.emoji = [];
    this.totals = {};
    motionQuery.addEventListener("change", () => this.renderTotals());
  }

  reset(reactions) {
    this.emoji = reactions?.emoji || [];
    this.totals = { ...(reactions?.totals || {}) };
    this.renderTotals();
  }

  tick({ counts, totals }) {
    if (totals) this.totals = { ...totals };
    else for (const [e, n] of Object.entries(counts)) this.totals[e] = (Number(this.totals[e]) || 0) + n;
    this.renderTotals();
    if (this.layer.hidden || lessMotion()) return;
    const burst = Object.entries(counts).flatMap(([emoji, n]) => Array(Math.min(n, PER_EMOJI_MAX)).fill(emoji));
    for (const [i, emoji] of burst.slice(0, FLURRY_MAX).entries()) {
      const el = h("span", { class: "float", "data-emoji": emoji }, emojiImage(emoji));
      el.style.insetInlineStart = `${Math.random() * 80}%`;
      el.style.animationDelay = `${(i % 10) * 90}ms`;
      el.addEventListener("animationend", () => el.remove());
      setTimeout(() => el.remove(), FLOAT_MS); // should the animation never run or end
      this.layer.append(el);
    }
  }

  renderTotals() {
    const calm = lessMotion();
    this.totalsEl.hidden = !calm;
    if (!calm) return;
    const shown = this.emoji.filter((e) => Number(this.totals[e]) > 0);
    this.totalsEl.replaceChildren(...shown.map((e) => h("li", { "data-emoji": e },
      emojiImage(e), h("span", { class: "reaction-total", text: formatNumber(Number(this.totals[e])) }))));
  }
}
