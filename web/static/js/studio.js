// The speaker's studio (first part): the session clock, large, amber near the end, red after.
import { $ } from "./dom.js";
import { ClockView } from "./clock.js";

const clock = new ClockView($("#clock"));
document.addEventListener("podium:snapshot", (e) => clock.set(e.detail.clock));
document.addEventListener("podium:stage", (e) => {
  if (e.detail.clock) clock.set(e.detail.clock);
});
