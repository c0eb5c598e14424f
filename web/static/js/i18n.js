// The translation layer for scripts: the page hands over its catalog (web/i18n/<lang>.json).
const strings = JSON.parse(document.getElementById("podium-strings").textContent);

const plurals = new Intl.PluralRules(document.documentElement.lang || "en");

// Keys a script asked for that the catalog lacks: the page shows the key itself, and the
// browser tests read this list (tests/web/test_languages.py).
export const missing = new Set();
window.podiumMissingStrings = missing;

// A count picks the plural form its language needs: "key.one", "key.other", ... (CLDR).
export function t(key, values = {}) {
  let text = strings[key];
  if (typeof values.count === "number") {
    text = strings[`${key}.${plurals.select(values.count)}`] ?? strings[`${key}.other`] ?? text;
  }
  if (text === undefined) {
    missing.add(key);
    console.warn(`i18n: no string "${key}"`);
    text = key;
  }
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in values ? String(values[name]) : m));
}

export const lang = document.documentElement.lang || "en";

// What a page says of a refused ack or request. Its `message` is English by contract (and
// exact: an English page shows it); other languages show the translation of its `code`,
// or of its code and field where the catalog has one ("error.invalid.text").
export function errorText(error) {
  if (!error) return t("error.internal");
  if (lang === "en" && error.message) return error.message;
  const specific = `error.${error.code}.${error.field}`;
  const key = error.field && specific in strings ? specific : `error.${error.code}`;
  return key in strings ? t(key, { s: error.retry_after ?? 1 }) : error.message;
}

// Names joined as the page's language joins them: "Ann, Bo and Cy", "安、博和赛".
export function formatList(items) {
  try {
    return new Intl.ListFormat(lang, { style: "long", type: "conjunction" }).format(items);
  } catch {
    return items.join(", ");
  }
}

export function formatNumber(n) {
  return new Intl.NumberFormat(lang).format(n);
}

// The language switcher (base.html): with a script, choosing a language reloads the page in
// it at once, keeping the rest of the address (an invite's token lives in the fragment,
// which the form alone would drop). The server remembers the choice for this kind of page.
const switcher = document.getElementById("lang-switch");
if (switcher) {
  switcher.form.querySelector(".lang-switch-go").hidden = true;
  switcher.addEventListener("change", () => {
    const url = new URL(location.href);
    url.searchParams.set("lang", switcher.value);
    location.assign(url.href);
  });
}
