// The console's two views: the Q&A lanes and the poll lanes, as tabs (keys 1 and 2). One at a
// time, as a Slido or studio moderator works: questions most of the time, polls when one is
// prepared, opened and shown. Neither is out of sight: each tab carries what waits in the
// other (questions to approve, open polls and their answers), new questions are still
// announced, and P opens the next poll from either view. The choice stays on this device.
import { shortcut } from "./keys.js";

const STORE = "podium.console.view";
const tabs = [...document.querySelectorAll('[role="tab"][data-view]')];

function show(view, { focus = false } = {}) {
  const tab = tabs.find((el) => el.dataset.view === view) || tabs[0];
  for (const el of tabs) {
    const on = el === tab;
    el.setAttribute("aria-selected", String(on));
    el.tabIndex = on ? 0 : -1;
    document.getElementById(el.getAttribute("aria-controls")).hidden = !on;
  }
  if (focus) tab.focus();
  try {
    localStorage.setItem(STORE, tab.dataset.view);
  } catch {
    // private mode: the choice lasts this page
  }
}

for (const tab of tabs) tab.addEventListener("click", () => show(tab.dataset.view));
// Arrows move between the tabs (mirrored right to left), Home and End go to the ends.
tabs[0].parentElement.addEventListener("keydown", (e) => {
  const i = tabs.indexOf(e.target);
  if (i < 0) return;
  const rtl = getComputedStyle(e.target).direction === "rtl";
  const step = { ArrowRight: rtl ? -1 : 1, ArrowLeft: rtl ? 1 : -1 }[e.key];
  let j = null;
  if (step) j = (i + step + tabs.length) % tabs.length;
  else if (e.key === "Home") j = 0;
  else if (e.key === "End") j = tabs.length - 1;
  if (j === null) return;
  e.preventDefault();
  show(tabs[j].dataset.view, { focus: true });
});
document.addEventListener("keydown", (e) => {
  const key = shortcut(e);
  const tab = tabs[Number(key) - 1];
  if (key && /^\d$/.test(key) && tab) show(tab.dataset.view, { focus: true });
});

let saved = null;
try {
  saved = localStorage.getItem(STORE);
} catch {
  saved = null;
}
show(saved || "qa");
