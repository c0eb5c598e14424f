// The console's one-key shortcuts. A key is read by its letter, or by its place on the
// keyboard when its letter is not Latin: on a Hebrew layout the A key types "ש", and a
// moderator in Tel Aviv presses the same keys as one in Nanjing. Nothing while a modifier is
// held or while the moderator types in a field.
export function shortcut(e) {
  if (e.ctrlKey || e.metaKey || e.altKey || e.target?.matches?.("input, textarea, select, [contenteditable]")) return null;
  const key = e.key.toLowerCase();
  if (/^Digit\d$/.test(e.code || "")) return e.code.slice(5); // "&" and "é" on a French keyboard
  if (key.length === 1 && !/[\x20-\x7e]/.test(key) && /^Key[A-Z]$/.test(e.code || "")) return e.code.slice(3).toLowerCase();
  return key;
}
