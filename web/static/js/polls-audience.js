// The audience's polls: every open poll as a card answered in one tap (a choice, a star, up
// to three words), the choice confirmed and changeable while the poll is open, and the
// results once a moderator shows them. A reloaded phone asks for its answers (poll:mine).
import { $, h } from "./dom.js";
import { t, errorText } from "./i18n.js";
import * as P from "./protocol.js";
import { PollState, resultsFigure } from "./polls-view.js";

const RETRIES = 4;

export class AudiencePolls {
  constructor(live, root) {
    this.live = live;
    this.root = root;
    this.state = new PollState();
    this.mine = new Map(); // poll id -> result keys the person sent
    this.errors = new Map();
    this.drafts = new Map(); // poll id -> what is typed and not sent yet (words: three values)
    this.retries = new Map(); // poll id -> the timer that sends a refused answer again
    this.turns = new Map(); // poll id -> how many answers were sent: only the last one's ack counts
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

  // An answer Podium could not take now (busy, or its store out for a moment) is sent again
  // after the wait it names, a few times: an answer is a set, so sending it twice is harmless.
  // A newer answer to the same poll replaces the one waiting.
  async send(poll, answer, attempt = 0) {
    clearTimeout(this.retries.get(poll.id));
    this.retries.delete(poll.id);
    const turn = (this.turns.get(poll.id) || 0) + 1;
    this.turns.set(poll.id, turn);
    const ack = await this.live.request(P.POLL_ANSWER, { session: this.live.sessionId, poll: poll.id, answer });
    if (this.turns.get(poll.id) !== turn) return; // a newer answer was sent meanwhile: it speaks
    const again = !ack.ok && ack.error?.code === "unavailable" && attempt < RETRIES;
    if (again) {
      const wait = (ack.error.retry_after || 1) * 1000 * (1 + Math.random());
      this.retries.set(poll.id, setTimeout(() => this.send(poll, answer, attempt + 1), wait));
    }
    if (ack.ok) {
      this.mine.set(poll.id, ack.answer);
      this.errors.delete(poll.id);
      this.drafts.delete(poll.id);
    } else {
      this.errors.set(poll.id, again ? t("poll.sending_again") : errorText(ack.error));
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
      area.value = this.drafts.get(p.id)?.[0] ?? mine[0] ?? "";
      area.addEventListener("input", () => this.drafts.set(p.id, [area.value]));
      const form = h("form", { class: "stack poll-open-text" }, area,
        h("button", { type: "submit", class: "primary", disabled: !open, text: t("poll.vote") }));
      form.addEventListener("submit", (e) => {
        e.preventDefault();
        if (area.value.trim()) this.send(p, area.value.trim());
      });
      return [h("p", { class: "hint", text: t("poll.text_hint") }), form];
    }
    if (p.kind === "words") {
      const typed = this.drafts.get(p.id);
      const inputs = [0, 1, 2].map((i) => h("input", { type: "text", maxlength: 24, dir: "auto", disabled: !open,
        "aria-label": t("poll.word_label", { n: i + 1 }), value: typed ? typed[i] : mine[i] || "" }));
      for (const input of inputs) input.addEventListener("input", () => this.drafts.set(p.id, inputs.map((x) => x.value)));
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

  // Everything a card shows but its results: while it stays the same, new results replace
  // only the figure, so a person typing words or an answer keeps their place and their text.
  signature(p) {
    return JSON.stringify([p.state, p.shown, p.kind, p.question, p.options, p.multi, p.deadline_ms,
      this.mine.get(p.id) || null, this.errors.get(p.id) || null, Boolean(p.results)]);
  }

  card(p) {
    return h("article", { class: "card stack poll-card", "data-poll": p.id, "data-state": p.state, "data-sig": this.signature(p) },
      h("h2", { class: "poll-question", dir: "auto", text: p.question }),
      p.state === "open" && p.deadline_ms ? h("p", { class: "hint poll-deadline", "data-deadline": p.deadline_ms }) : null,
      ...(p.state === "open" || !p.shown ? this.answerControls(p) : []),
      this.mine.has(p.id) && p.state === "open" ? h("p", { class: "poll-confirm", role: "status", text: t("poll.your_answer") }) : null,
      p.state === "closed" && !p.shown ? h("p", { class: "hint", text: t("poll.closed_note") }) : null,
      this.errors.get(p.id) ? h("p", { class: "error", role: "alert", text: this.errors.get(p.id) }) : null,
      p.results ? resultsFigure(p) : this.mine.has(p.id) ? h("p", { class: "hint", text: t("poll.waiting_results") }) : null);
  }

  render() {
    const polls = this.state.list().filter((p) => p.state === "open" || p.shown || this.mine.has(p.id) && p.state !== "draft");
    this.root.hidden = polls.length === 0;
    const old = new Map([...this.root.querySelectorAll(":scope > .poll-card")].map((el) => [el.dataset.poll, el]));
    // Where the person is typing, to be given back if their card is made anew.
    const active = document.activeElement;
    const typing = active && this.root.contains(active) && active.matches("input, textarea")
      ? { poll: active.closest(".poll-card").dataset.poll, index: [...active.closest(".poll-card").querySelectorAll("input, textarea")].indexOf(active),
        start: active.selectionStart, end: active.selectionEnd }
      : null;
    const cards = polls.map((p) => {
      const el = old.get(p.id);
      if (el && el.dataset.sig === this.signature(p)) {
        const figure = el.querySelector(".poll-results");
        if (figure && p.results) figure.replaceWith(resultsFigure(p));
        return el;
      }
      return this.card(p);
    });
    const same = cards.length === this.root.children.length && cards.every((el, i) => this.root.children[i] === el);
    if (!same) this.root.replaceChildren(...cards);
    if (typing && !(active.isConnected)) {
      const field = this.root.querySelector(`.poll-card[data-poll="${CSS.escape(typing.poll)}"]`)
        ?.querySelectorAll("input, textarea")[typing.index];
      if (field && !field.disabled) {
        field.focus({ preventScroll: true });
        field.setSelectionRange?.(typing.start, typing.end);
      }
    }
    this.tick();
  }
}
