// Renders a session's live counts (the feed delivers them in order: the last is the newest).
import { h } from "./dom.js";
import { t, formatNumber } from "./i18n.js";

const ROLES = ["audience", "speaker", "moderator", "interpreter", "screen"];

export class PresenceView {
  constructor(detail, headline) {
    this.detail = detail;
    this.headline = headline;
  }

  reset() {}

  update({ counts }) {
    const here = counts.total;
    if (this.headline) {
      this.headline.textContent = t("presence.here", { count: here, n: formatNumber(here) });
      this.headline.dataset.count = String(here);
    }
    if (!this.detail) return;
    const rows = ROLES.map((role) => {
      const c = counts[role];
      return h("tr", { "data-role": role },
        h("th", { scope: "row", text: t(`presence.role.${role}`) }),
        h("td", { "data-where": "hall", text: formatNumber(c.hall) }),
        h("td", { "data-where": "remote", text: formatNumber(c.remote) }));
    });
    this.detail.replaceChildren(h("table", { class: "counts" },
      h("thead", {}, h("tr", {}, h("th", {}), h("th", { scope: "col", text: t("where.hall") }),
        h("th", { scope: "col", text: t("where.remote") }))),
      h("tbody", {}, rows)));
    this.detail.dataset.total = String(here);
  }
}
