// Keyboard focus through a redraw. A list redrawn from new data replaces its buttons; the one
// that had focus goes, and focus falls to the page's start: a keyboard user loses their
// place. `noteFocus` remembers what had focus under `root`; `restoreFocus` gives it back, or
// to the control that took its place (same tag and data-* attributes in the same item), or
// to the item's first control, or the list's.
const CONTROLS = "button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled])";

export function noteFocus(root, itemSelector) {
  const el = document.activeElement;
  if (!el || el === document.body || !root.contains(el)) return null;
  const data = Object.entries(el.dataset).map(([k, v]) => `[data-${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}="${CSS.escape(v)}"]`);
  const item = el.closest(itemSelector);
  const key = item ? Object.entries(item.dataset)[0] : null; // the item's identity, e.g. data-speaker
  return { root, el, itemSelector, key, same: el.tagName.toLowerCase() + data.join("") };
}

export function restoreFocus(note) {
  if (!note || document.activeElement === note.el) return;
  if (note.el.isConnected) return void note.el.focus({ preventScroll: true });
  const items = note.key ? [...note.root.querySelectorAll(note.itemSelector)] : [];
  const item = items.find((i) => i.dataset[note.key[0]] === note.key[1]);
  const target = item?.querySelector(note.same) || item?.querySelector(CONTROLS) || note.root.querySelector(CONTROLS);
  target?.focus({ preventScroll: true });
}
