// A question's text in the languages a face reads: the original as asked, and the
// translations its interpreters attached (docs/protocol.md, "Translations"). Each text keeps
// its own language: `lang` on its element (screen readers, fonts) and dir="auto" (a Hebrew
// translation of a Chinese question reads right to left beside it).
import { h } from "./dom.js";

// The text of q in language `want`: the original when q is in it, else its translation
// (null when there is none yet).
export function inLanguage(q, want) {
  if (!q) return null;
  if (!want || q.lang === want) return { text: q.text, lang: q.lang || "", original: true };
  const text = current((q.translations || {})[want]);
  return text ? { text, lang: want, original: false } : null;
}

// A translation's text if it is current: the audience's views carry only current ones, as
// text; the staff's carry {text, at, stale}.
function current(tr) {
  if (tr && typeof tr === "object") return tr.stale ? null : tr.text;
  return tr || null;
}

export function original(q) {
  return { text: q.text, lang: q.lang || "", original: true };
}

// What a reader of `want` sees: their language first when a translation exists (the studio,
// the confidence monitor), the original beneath it.
export function readerFirst(q, want) {
  const mine = inLanguage(q, want);
  if (mine && !mine.original) return [mine, original(q)];
  return [original(q)];
}

// The original with one translation beside it (the hall screen, the audience): into `want`
// if there is one, else (with `others`) the first of those languages it was translated into.
export function withTranslation(q, want, others = []) {
  const out = [original(q)];
  for (const tag of [want, ...others]) {
    if (!tag || tag === q.lang) continue;
    const tr = inLanguage(q, tag);
    if (tr) {
      out.push(tr);
      break;
    }
  }
  return out;
}

// One text as an element: user text through textContent only, in its own language.
export function textElement(tag, part, cls = "") {
  return h(tag, { class: cls, lang: part.lang, dir: "auto", text: part.text });
}

// Sets an existing element to a text part (its language and direction with it).
export function setText(el, part) {
  el.textContent = part ? part.text : "";
  el.setAttribute("lang", part ? part.lang : "");
  el.setAttribute("dir", "auto");
}

// The languages the speakers on a lineup read (their studios'), in running order, once each.
export function speakerLanguages(lineup) {
  const out = [];
  for (const s of lineup || []) if (s.lang && !out.includes(s.lang)) out.push(s.lang);
  return out;
}

// The languages an approved question still lacks for the speakers: theirs, minus its own,
// minus those translated (a stale translation is still missing).
export function missingFor(q, languages) {
  return languages.filter((tag) => {
    if (tag === q.lang) return false;
    const tr = (q.translations || {})[tag];
    if (!tr) return true;
    return typeof tr === "object" && tr.stale;
  });
}

// A language's name in the page's language ("英语", "אנגלית"); the tag itself if the
// browser cannot name it.
let names = null;
export function languageName(tag, pageLang = document.documentElement.lang || "en") {
  if (!tag) return "";
  try {
    names = names || new Intl.DisplayNames([pageLang], { type: "language" });
    return names.of(tag) || tag;
  } catch {
    return tag;
  }
}
