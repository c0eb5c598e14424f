// Emoji as pictures: Twemoji's SVGs (npm @discordapp/twemoji, graphics CC-BY 4.0), served by
// Podium at /static/vendor/emoji/ (only the ones a page shows: server/http/pages.py), so a hall
// screen's kiosk with no colour emoji font shows a clap, not an empty box. Each has a name in
// the page's language for its alt text and for the buttons that send it.
import { h } from "./dom.js";
import { t } from "./i18n.js";

const NAMES = {
  "👏": "emoji.applause", "😂": "emoji.laughter", "❤️": "emoji.love", "😮": "emoji.surprise", "🙏": "emoji.thanks",
};

// Twemoji's file name: the code points in hex joined by "-", without the variation selector
// U+FE0F unless the emoji is a sequence joined by U+200D (as pages.twemoji_file).
export function emojiFile(emoji) {
  const chars = emoji.includes("\u200d") ? [...emoji] : [...emoji].filter((c) => c !== "\ufe0f");
  return chars.map((c) => c.codePointAt(0).toString(16)).join("-") + ".svg";
}

export const emojiName = (emoji) => (NAMES[emoji] ? t(NAMES[emoji]) : emoji);

// <img class="emoji">; alt "" where the control around it carries the name.
export function emojiImage(emoji, { alt = emojiName(emoji) } = {}) {
  return h("img", {
    class: "emoji", src: `/static/vendor/emoji/${emojiFile(emoji)}`, alt, draggable: "false", width: "36", height: "36",
  });
}
