// The translation layer for scripts: the page hands over its catalog (web/i18n/<lang>.json).
const strings = JSON.parse(document.getElementById("podium-strings").textContent);

export function t(key, values = {}) {
  const text = strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m));
}

export const lang = document.documentElement.lang || "en";

export function formatNumber(n) {
  return new Intl.NumberFormat(lang).format(n);
}
