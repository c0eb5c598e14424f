// The audience's Q&A: the question on screen pinned on top, the list sorted popular or
// recent with one-tap votes, your own questions with their state, and a composer whose
// questions are kept on the device and sent again until Podium has them.
import { $, h } from "./dom.js";
import { t, lang, formatNumber, errorText } from "./i18n.js";
import * as P from "./protocol.js";
import { QAState } from "./qa-state.js";
import { textElement, withTranslation } from "./translations.js";

const STATE_LABEL = {
  pending: "qa.state.pending", approved: "qa.state.approved", answered: "qa.state.answered",
  declined: "qa.state.declined", archived: "qa.state.archived", withdrawn: "qa.state.withdrawn",
  merged: "qa.state.merged",
};

export class AudienceQA {
  constructor(live, code) {
    this.live = live;
    this.state = new QAState();
    this.order = localStorage.getItem("podium.sort") || "popular";
    this.anonKey = "podium.anonymous";
    this.code = code;
    this.sending = false;
    $("#anonymous").checked = localStorage.getItem(this.anonKey) === "1";
    $("#anonymous").addEventListener("change", (e) => localStorage.setItem(this.anonKey, e.target.checked ? "1" : "0"));
    $("#question-text").addEventListener("input", () => this.renderCounter());
    $("#composer").addEventListener("submit", (e) => {
      e.preventDefault();
      this.queue();
    });
    for (const b of document.querySelectorAll(".sort button")) {
      b.addEventListener("click", () => {
        this.order = b.dataset.sort;
        localStorage.setItem("podium.sort", this.order);
        this.render();
      });
    }
  }

  outboxKey() {
    return `podium.outbox.${this.live.sessionId}`;
  }

  outbox() {
    try {
      return JSON.parse(localStorage.getItem(this.outboxKey()) || "[]");
    } catch {
      return [];
    }
  }

  saveOutbox(items) {
    localStorage.setItem(this.outboxKey(), JSON.stringify(items));
  }

  snapshot(snap) {
    this.state.reset(snap.qa);
    this.render();
    this.flush(); // questions typed while offline go now
  }

  delta(msg) {
    this.state.applyDelta(msg);
    this.render();
  }

  votes(msg) {
    this.state.applyVotes(msg.votes);
    this.render();
  }

  mine(msg) {
    this.state.applyMine(msg.question);
    this.render();
  }

  queue() {
    const text = $("#question-text").value.trim();
    if (!text) return;
    const item = { client_id: crypto.randomUUID().replaceAll("-", ""), text, anonymous: $("#anonymous").checked };
    this.saveOutbox([...this.outbox(), item]);
    $("#question-text").value = "";
    this.render(); // shown as "sending…" at once, even with no connection
    this.flush();
  }

  // Sends what waits in the outbox, oldest first; the same client_id on every try means
  // a retry can never make a second question.
  async flush() {
    if (this.sending || !this.live.socket?.connected || !this.live.sessionId) return;
    this.sending = true;
    try {
      for (const item of this.outbox()) {
        const ack = await this.live.request(P.QA_ASK, { session: this.live.sessionId, ...item });
        if (!ack.ok && ack.error.code === "unavailable") {
          // Keep it, and try again when Podium says (a reconnect or a snapshot also does),
          // spread out so a room refused at once does not come back at once.
          const wait = (ack.error.retry_after || 1) * 1000 * (1 + Math.random());
          clearTimeout(this.retry);
          this.retry = setTimeout(() => this.flush(), wait);
          break;
        }
        this.saveOutbox(this.outbox().filter((x) => x.client_id !== item.client_id));
        if (ack.ok) this.state.applyMine(ack.question);
        else {
          $("#composer-error").textContent = errorText(ack.error);
          if (!$("#question-text").value) $("#question-text").value = item.text; // give it back
        }
      }
    } finally {
      this.sending = false;
      this.render();
    }
  }

  async vote(q) {
    const on = !this.state.voted.has(q.id);
    on ? this.state.voted.add(q.id) : this.state.voted.delete(q.id);
    q.votes += on ? 1 : -1;
    this.render();
    const ack = await this.live.request(P.QA_VOTE, { session: this.live.sessionId, question: q.id, vote: on });
    if (ack.ok) {
      const target = this.state.questions.get(ack.question);
      if (target) target.votes = ack.votes;
    } else {
      on ? this.state.voted.delete(q.id) : this.state.voted.add(q.id);
      q.votes += on ? -1 : 1;
    }
    this.render();
  }

  async withdraw(q) {
    if (!confirm(t("qa.withdraw_confirm"))) return;
    const ack = await this.live.request(P.QA_WITHDRAW, { session: this.live.sessionId, question: q.id });
    if (ack.ok) this.state.applyMine({ ...q, state: "withdrawn" });
    this.render();
  }

  row(q, { mine = false } = {}) {
    const voted = this.state.voted.has(q.id);
    const votable = !mine || q.state === "approved" || q.state === "answered";
    return h("li", { class: `question state-${q.state}${q.on_screen ? " is-on-screen" : ""}`, "data-question": q.id },
      h("button", {
        type: "button", class: "vote", "aria-pressed": voted ? "true" : "false", disabled: !votable,
        onclick: () => this.vote(q),
      }, h("span", { class: "vote-arrow", "aria-hidden": "true", text: "▲" }),
        // Named by what it shows plus what it does ("Vote for this question 3"): a name that
        // leaves out the visible count would not be the one a voice-control user says.
        h("span", { class: "sr-only", text: t(voted ? "qa.unvote" : "qa.vote") + " " }),
        h("span", { class: "vote-count", text: formatNumber(q.votes) })),
      h("div", { class: "question-body" },
        // As asked, and under it the translation into this page's language if there is one.
        ...withTranslation(q, lang).map((part, i) => i === 0
          ? textElement("p", part, "question-text")
          : h("p", { class: "question-translation" },
            h("span", { class: "sr-only", text: `${t("qa.translation")}: ` }), textElement("span", part))),
        h("p", { class: "question-meta" },
          h("span", { dir: "auto", text: q.anonymous || !q.name ? t("qa.anonymous_author") : q.name }),
          q.edited ? h("span", { class: "tag", text: t("qa.edited") }) : null,
          q.state === "answered" ? h("span", { class: "tag tag-ok", text: t("qa.state.answered") }) : null,
          q.on_screen ? h("span", { class: "tag tag-live", text: t("qa.on_screen") }) : null,
          mine ? h("span", { class: `tag state`, text: t(STATE_LABEL[q.state] || q.state) }) : null,
          mine && !["answered", "withdrawn", "merged"].includes(q.state)
            ? h("button", { type: "button", class: "link", text: t("qa.withdraw"), onclick: () => this.withdraw(q) })
            : null)));
  }

  render() {
    const s = this.state;
    const screen = s.onScreen();
    const pinned = $("#on-screen");
    pinned.hidden = !screen;
    pinned.replaceChildren(...(screen
      ? [h("p", { class: "on-screen-label", text: t("qa.on_screen_now") }), h("ul", { class: "questions" }, this.row(screen))]
      : []));
    const mineIds = new Set(s.mine.keys());
    // A question whose ack is still on its way may already have come back through the feed:
    // shown once, as the feed has it, not also as "sending…".
    const arrived = new Set([...s.mine.values()].map((q) => q.text));
    const pendingOutbox = this.outbox().filter((item) => !arrived.has(item.text)).map((item) => ({
      id: `outbox-${item.client_id}`, text: item.text, votes: 0, state: "sending", name: "", anonymous: item.anonymous,
    }));
    const mine = [...s.mine.values()].filter((q) => !["approved", "answered", "withdrawn", "merged"].includes(q.state));
    $("#mine").replaceChildren(
      ...pendingOutbox.map((q) => h("li", { class: "question state-sending" },
        h("div", { class: "question-body" }, h("p", { class: "question-text", dir: "auto", text: q.text }),
          h("p", { class: "question-meta" }, h("span", { class: "tag state", text: t("qa.state.sending") }))))),
      ...mine.map((q) => this.row(q, { mine: true })));
    const visible = s.sorted([...s.questions.values()], this.order);
    $("#questions").replaceChildren(...visible.map((q) => {
      const li = this.row(q, { mine: mineIds.has(q.id) });
      if (mineIds.has(q.id)) li.classList.add("is-mine");
      return li;
    }));
    $("#qa-empty").hidden = visible.length > 0 || mine.length > 0;
    for (const b of document.querySelectorAll(".sort button")) b.setAttribute("aria-pressed", String(b.dataset.sort === this.order));
    const settings = s.settings;
    $("#qa-policy").textContent = settings.moderation === "post" ? t("qa.policy_post") : t("qa.policy_pre");
    $("#qa-counts").textContent = t("qa.counts", { pending: formatNumber(s.counts.pending), declined: formatNumber(s.counts.declined) });
    const open = settings.open !== false;
    $("#qa-closed").hidden = open;
    $("#composer-row").hidden = !open;
    $("#anonymous").closest("label").hidden = !open || settings.anonymous === false;
    if (settings.anonymous === false) $("#anonymous").checked = false;
    this.renderCounter();
  }

  renderCounter() {
    const max = this.state.settings.max_length || 300;
    const n = [...$("#question-text").value.trim()].length;
    $("#counter").textContent = `${n} / ${max}`;
    $("#counter").classList.toggle("error", n > max);
    $("#send").disabled = n === 0 || n > max;
  }
}
