// The audience's polls: every open poll as a card answered in one tap (a choice, a star, up
// to three words), the choice confirmed and changeable while the poll is open, and the
// results once a moderator shows them. A reloaded phone asks for its answers (poll:mine).
import { $, h } from "./dom.js";
import { t, errorText } from "./i18n.js";
import * as P from "./protocol.js";
import { PollState, resultsFigure } from "./polls-view.js";

export class AudiencePolls {
  constructor(live, root) {
    this.live = live;
    this.root = root;
    this.state = new PollState();
    this.mine = new Map(); // poll id -> result keys the person sent
    this.errors = new Map();
    setInterval(() => this.tick(), 1000);
  }

  async reset(list) {
    this.state.reset(list);
    this.render();
    const ack = await this.live.request(P.POLL_MINE, { session: this.live.sessionId });
    if (ack.ok) this.mine = new Map(Object.entries(ack.answers));
    this.render();
  }

  apply(msg) {
    this.state.apply(msg);
    this.render();
  }

  async send(poll, answer) {
    const ack = await this.live.request(P.POLL_ANSWER, { session: this.live.sessionId, poll: poll.id, answer });
    if (ack.ok) {
      this.mine.set(poll.id, ack.answer);
      this.errors.delete(poll.id);
    } else {
      this.errors.set(poll.id, errorText(ack.error));
    }
    this.render();
  }

  tick() {
    for (const el of this.root.querySelectorAll("[data-deadline]")) {
      const left = Math.max(0, Math.ceil((Number(el.dataset.deadline) - Date.now()) / 1000));
      el.textContent = left > 0 ? t("poll.time_left", { s: left }) : t("poll.time_up");
    }
  }

  answerControls(p) {
    const mine = this.mine.get(p.id) || [];
    const open = p.state === "open";
    if (p.kind === "text") {
      const area = h("textarea", { rows: 3, maxlength: 280, dir: "auto", disabled: !open, "aria-label": p.question });
      area.value = mine[0] || "";
      const form = h("form", { class: "stack poll-open-text" }, area,
        h("button", { type: "submit", class: "primary", disabled: !open, text: t("poll.vote") }));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        if (area.value.trim()) this.send(p, area.value.trim());
      });
      return [h("p", { class: "hint", text: t("poll.text_hint") }), form];
    }
    if (p.kind === "words") {
      const inputs = [0, 1, 2].map((i) => h("input", { type: "text", maxlength: 24, dir: "auto", disabled: !open,
        "aria-label": t("poll.word_label", { n: i + 1 }), value: mine[i] || "" }));
      const form = h("form", { class: "row poll-words" }, ...inputs,
        h("button", { type: "submit", class: "primary", disabled: !open, text: t("poll.vote") }));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        const words = inputs.map((x) => x.value.trim()).filter(Boolean);
        if (words.length) this.send(p, words);
      });
      return [h("p", { class: "hint", text: t("poll.words_hint") }), form];
    }
    const keys = p.kind === "rating" ? ["1", "2", "3", "4", "5"] : p.options.map((_, i) => String(i));
    const group = h("div", { class: `poll-choices kind-${p.kind}`, role: "group", "aria-label": p.question });
    for (const k of keys) {
      const chosen = mine.includes(k);
      const label = p.kind === "rating" ? t("poll.stars", { count: Number(k), n: k }) : p.options[Number(k)];
      group.append(h("button", { type: "button", class: chosen ? "primary" : "", "aria-pressed": chosen ? "true" : "false",
        disabled: !open, "data-key": k, dir: "auto", text: p.kind === "rating" ? `${"★".repeat(Number(k))}` : label,
        "aria-label": label,
        onclick: () => {
          if (p.kind === "choice" && p.multi) {
            const next = chosen ? mine.filter((x) => x !== k) : [...mine, k];
            if (next.length) this.send(p, next.map(Number));
          } else {
            this.send(p, p.kind === "rating" ? Number(k) : [Number(k)]);
          }
        } }));
    }
    return [group];
  }

  render() {
    const polls = this.state.list().filter((p) => p.state === "open" || p.shown || this.mine.has(p.id) && p.state !== "draft");
    this.root.hidden = polls.length === 0;
    this.root.replaceChildren(...polls.map((p) => h("article", { class: "card stack poll-card", "data-poll": p.id, "data-state": p.state },
      h("h2", { class: "poll-question", dir: "auto", text: p.question }),
      p.state === "open" && p.deadline_ms ? h("p", { class: "hint poll-deadline", "data-deadline": p.deadline_ms }) : null,
      ...(p.state === "open" || !p.shown ? this.answerControls(p) : []),
      this.mine.has(p.id) && p.state === "open" ? h("p", { class: "poll-confirm", role: "status", text: t("poll.your_answer") }) : null,
      p.state === "closed" && !p.shown ? h("p", { class: "hint", text: t("poll.closed_note") }) : null,
      this.errors.get(p.id) ? h("p", { class: "error", role: "alert", text: this.errors.get(p.id) }) : null,
      p.results ? resultsFigure(p) : this.mine.has(p.id) ? h("p", { class: "hint", text: t("poll.waiting_results") }) : null)));
    this.tick();
  }
}
