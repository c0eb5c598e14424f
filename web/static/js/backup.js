// A speaker's backup recording as the hall plays it: from the moment a moderator started it
// (the lineup's since_ms, in the store's time), once; when it ends the hall shows the holding
// slide. Screens, the console and the studio all work it out the same way, so a reloaded
// projector picks up where the others are and everyone says the same thing about it.

// The store's clock as this page knows it: snapshots and clock updates carry its now_ms.
let offset = 0;
export function syncClock(nowMs) {
  if (typeof nowMs === "number") offset = nowMs - Date.now();
}
export const serverNow = () => Date.now() + offset;

const durations = new Map(); // url -> seconds (null while its metadata loads, NaN if it cannot)

// The recording's length, read from its metadata once per page; `onKnown` runs when it is.
export function duration(url, onKnown = () => {}) {
  if (durations.has(url)) return durations.get(url);
  durations.set(url, null);
  const probe = document.createElement("video");
  probe.preload = "metadata";
  probe.muted = true;
  probe.addEventListener("loadedmetadata", () => {
    durations.set(url, Number.isFinite(probe.duration) ? probe.duration : NaN);
    probe.removeAttribute("src");
    onKnown();
  }, { once: true });
  probe.addEventListener("error", () => durations.set(url, NaN), { once: true });
  probe.src = url;
  return null;
}

// Seconds into the recording the hall is now (0 if it is not playing the backup).
export function elapsed(s) {
  if (s.state !== "backup" || !s.since_ms) return 0;
  return Math.max(0, (serverNow() - s.since_ms) / 1000);
}

// "playing", "ended" (the hall is on the holding slide), or null when not known yet.
export function backupState(s, onKnown) {
  if (s.state !== "backup" || !s.backup_url) return null;
  const length = duration(s.backup_url, onKnown);
  if (length === null || Number.isNaN(length)) return length === null ? null : "playing";
  return elapsed(s) >= length ? "ended" : "playing";
}
