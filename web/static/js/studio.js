// The speaker's studio (first part): the session clock, large, amber near the end, red after.
import { $ } from "./dom.js";
import { ClockView } from "./clock.js";
import { t } from "./i18n.js";

const clock = new ClockView($("#clock"));
let me = null;

// The tally: BACKSTAGE / LIVE / OFF, large and coloured, never ambiguous.
function tally(stage) {
  const mine = stage.lineup.find((s) => s.speaker === me);
  const state = mine ? mine.state : "backstage";
  const el = $("#tally");
  el.dataset.state = state;
  el.textContent = t(`stage.${state}`).toUpperCase();
}

document.addEventListener("podium:snapshot", (e) => {
  me = e.detail.you.speaker;
  clock.set(e.detail.clock);
  tally(e.detail.stage);
});
document.addEventListener("podium:stage", (e) => {
  if (e.detail.clock) clock.set(e.detail.clock);
  if (e.detail.stage) tally(e.detail.stage);
});
