// Building DOM without ever parsing user text as HTML: text goes through textContent only.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);

export function config() {
  return JSON.parse(document.getElementById("podium-config").textContent);
}

// Formats an ISO time with offset in a given IANA zone, e.g. "Thu 3 Dec, 09:30 GMT+8".
export function formatTime(iso, timeZone, lang) {
  const date = new Date(iso);
  try {
    return new Intl.DateTimeFormat(lang, {
      weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
      timeZone, timeZoneName: "short",
    }).format(date);
  } catch {
    return iso;
  }
}

// A time of day with its zone ("09:41 GMT+8"): in `timeZone` (the event's), or the viewer's.
export function clockTime(ms, lang, timeZone) {
  const options = { hour: "2-digit", minute: "2-digit", timeZoneName: "short" };
  try {
    return new Intl.DateTimeFormat(lang, timeZone ? { ...options, timeZone } : options).format(new Date(ms));
  } catch {
    return new Intl.DateTimeFormat(lang, options).format(new Date(ms));
  }
}

export function localZone() {
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}

// Page modules talk through podium:* document events (role.js and audience.js send them).
export const emit = (name, detail) => document.dispatchEvent(new CustomEvent(name, { detail }));
