// The translation layer for scripts: the page hands over its catalog (web/i18n/<lang>.json).
const strings = JSON.parse(document.getElementById("podium-strings").textContent);

const plurals = new Intl.PluralRules(document.documentElement.lang || "en");

// A count picks the plural form its language needs: "key.one", "key.other", ... (CLDR).
export function t(key, values = {}) {
  let text = strings[key];
  if (typeof values.count === "number") {
    text = strings[`${key}.${plurals.select(values.count)}`] ?? strings[`${key}.other`] ?? text;
  }
  text = text ?? key;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m));
}

export const lang = document.documentElement.lang || "en";

export function formatNumber(n) {
  return new Intl.NumberFormat(lang).format(n);
}
