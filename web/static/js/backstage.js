// What the speakers' studio and the moderators' console share behind the stage: the
// backstage chat and how a connection's health reads in plain words.
import { $, h, clockTime } from "./dom.js";
import { t, lang, errorText } from "./i18n.js";
import * as P from "./protocol.js";

// A connection as a person would describe it, from round trip, loss and bitrate.
export function healthLevel({ rtt_ms: rtt, loss = 0 } = {}) {
  if (rtt === undefined || rtt === null) return "unknown";
  if (rtt < 150 && loss < 2) return "good";
  if (rtt < 400 && loss < 8) return "fair";
  return "poor";
}

export function healthText(report) {
  const parts = [t(`health.${healthLevel(report)}`), t("health.rtt", { ms: report.rtt_ms })];
  if (report.kbps) parts.push(t("health.kbps", { kbps: report.kbps }));
  if (report.loss) parts.push(t("health.loss", { loss: report.loss }));
  return parts.join(" · ");
}

// A time of day in this browser's zone and language, e.g. "08:03 PM".
export const timeOf = (ms) => clockTime(ms, lang); // the reader's own time, its zone named

// The backstage chat of one session (moderators and its speakers): newest at the bottom,
// a resend after a dropped connection is not a second message.
export class ChatView {
  constructor(root, getLive) {
    this.root = root;
    this.getLive = getLive;
    this.list = $(".chat-list", root);
    this.seen = new Set();
    this.sent = 0;
    this.unread = 0;
    const form = $("form", root);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      this.send();
    });
    $("textarea", root).addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        this.send();
      }
    });
  }

  attach(live) {
    live.socket.on(P.CHAT_MESSAGE, (msg) => {
      if (msg.session === live.sessionId) this.add(msg.message, true);
    });
  }

  reset(messages) {
    this.seen.clear();
    this.list.replaceChildren();
    for (const m of messages || []) this.add(m, false);
  }

  add(m, fresh) {
    if (this.seen.has(m.id)) return;
    this.seen.add(m.id);
    const who = m.from.name || t(`role.${m.from.role}`);
    this.list.append(h("li", { class: `chat-msg from-${m.from.role}` },
      h("span", { class: "chat-meta" }, h("strong", { dir: "auto", text: who }), " ", h("time", { text: timeOf(m.at) })),
      h("p", { dir: "auto", text: m.text })));
    this.list.scrollTop = this.list.scrollHeight;
    if (fresh) this.root.dispatchEvent(new CustomEvent("chat:new", { bubbles: true, detail: m }));
  }

  async send() {
    const box = $("textarea", this.root);
    const text = box.value.trim();
    const live = this.getLive();
    if (!text || !live) return;
    const clientId = `c${Date.now().toString(36)}${(this.sent++).toString(36)}`;
    const error = $(".error", this.root);
    error.textContent = "";
    let ack = await live.request(P.CHAT_SEND, { session: live.sessionId, text, client_id: clientId });
    if (!ack.ok && ack.error.code === "unavailable") {
      ack = await live.request(P.CHAT_SEND, { session: live.sessionId, text, client_id: clientId });
    }
    if (!ack.ok) {
      error.textContent = errorText(ack.error);
      return;
    }
    box.value = "";
    this.add(ack.message, false);
  }
}
