// The hall screen, on autopilot by priority: the speakers on stage (their live video, or
// their backup recording) with the question on screen beneath > the question on screen >
// the join QR with the code in huge type. Nothing but a holding slide when a live
// speaker's picture stops: never a frozen frame, never an error text.
import { $, h, config } from "./dom.js";
import { t, lang, formatNumber } from "./i18n.js";
import { QAState } from "./qa-state.js";
import { setText, speakerLanguages, withTranslation } from "./translations.js";
import { StageStreams } from "./sfu.js";
import { ReactionLayer } from "./reactions-view.js";

const cfg = config();
const base = cfg.base_url;
const FROZEN_AFTER_MS = 2500; // no new frame for this long: show the holding slide
// Options in the screen's address (before the #): a second screen in the same hall stays
// silent (?sound=off) or the room echoes; ?reactions=off and ?count=off hide those.
const options = new URLSearchParams(location.search);
const silent = options.get("sound") === "off";
if (options.get("reactions") === "off") $("#floating").hidden = true;
if (options.get("count") === "off") {
  $("#live-count").hidden = true;
  $("#presence").closest(".card").hidden = true;
}
const state = new QAState();
let live = null;
let media = null; // the speakers' pictures
let lineup = [];
let eventName = "";
let eventLanguages = [];
const tiles = new Map(); // speaker id -> {el, video, mode, lastFrame}

function renderQuestion() {
  const q = state.onScreen();
  $("#screen-question").hidden = !q;
  if (q) {
    // The original, and beside it its translation into the screen's language (else into the
    // speakers' or the event's): the hall reads one, the speaker the other.
    const [asked, translated] = withTranslation(q, lang, [...speakerLanguages(lineup), ...eventLanguages]);
    setText($("#screen-question-text"), asked);
    setText($("#screen-question-translation"), translated);
    $("#screen-question-translation").hidden = !translated;
    $("#screen-question-name").textContent = q.anonymous || !q.name ? t("qa.anonymous_author") : q.name;
    $("#screen-question-votes").textContent = t("screen.votes", { count: q.votes, n: formatNumber(q.votes) });
  }
  const onStage = lineup.some((s) => ["live", "backup"].includes(s.state));
  $("#screen-canvas").dataset.mode = onStage ? "stage" : q ? "question" : "join";
}

// Plays with sound when the browser allows it (a kiosk is started with autoplay allowed);
// otherwise muted, with a small speaker button for whoever is near the keyboard.
async function play(video) {
  video.muted = silent;
  try {
    await video.play();
  } catch {
    video.muted = true;
    $("#sound").hidden = silent;
    try {
      await video.play();
    } catch {
      // Nothing to play yet.
    }
  }
}

$("#sound").addEventListener("click", () => {
  $("#sound").hidden = true;
  for (const tile of tiles.values()) {
    tile.video.muted = false;
    tile.video.play().catch(() => {});
  }
});

function watchFrames(tile) {
  const video = tile.video;
  const onFrame = () => {
    tile.lastFrame = performance.now();
    if (tiles.get(tile.speaker) === tile) video.requestVideoFrameCallback(onFrame);
  };
  if ("requestVideoFrameCallback" in video) video.requestVideoFrameCallback(onFrame);
  else video.addEventListener("timeupdate", () => (tile.lastFrame = performance.now()));
}

function tileFor(s) {
  let tile = tiles.get(s.speaker);
  if (!tile) {
    const video = h("video", { autoplay: true, playsinline: true });
    const holding = h("div", { class: "holding" },
      h("p", { class: "holding-event", dir: "auto" }), h("p", { class: "holding-text", dir: "auto" }));
    const el = h("figure", { class: "tile", "data-speaker": s.speaker }, video, holding,
      h("figcaption", { dir: "auto" }));
    tile = { speaker: s.speaker, el, video, mode: null, source: null, lastFrame: 0 };
    watchFrames(tile);
    tiles.set(s.speaker, tile);
  }
  $("figcaption", tile.el).textContent = s.label || "";
  $(".holding-event", tile.el).textContent = eventName;
  $(".holding-text", tile.el).textContent = t("screen.holding", { name: s.label || t("role.speaker") });
  return tile;
}

// What each tile shows now: the camera, the recording, or the holding slide.
function refresh() {
  for (const s of lineup) {
    const tile = tiles.get(s.speaker);
    if (!tile) continue;
    let source = null;
    if (s.state === "backup" && s.backup_url) source = `backup:${s.backup_url}`;
    const picture = media?.get(s.speaker);
    if (s.state === "live" && picture && s.online) source = `live:${picture.peer}`;
    if (source !== tile.source) {
      tile.source = source;
      tile.lastFrame = performance.now();
      tile.video.removeAttribute("src");
      tile.video.srcObject = null;
      tile.video.loop = false;
      if (source?.startsWith("backup:")) tile.video.src = s.backup_url;
      else if (source) tile.video.srcObject = picture.stream;
      if (source) play(tile.video);
    }
    const flowing = source && performance.now() - tile.lastFrame < FROZEN_AFTER_MS && tile.video.videoWidth > 0;
    const mode = flowing ? "video" : "holding";
    if (mode !== tile.mode) {
      tile.mode = mode;
      tile.el.dataset.mode = mode;
    }
  }
}
setInterval(refresh, 500);
// The speakers on stage by camera whose picture should be here: asked again if it is not.
setInterval(() => media?.need(lineup.filter((s) => s.state === "live" && s.online).map((s) => s.speaker)), 1000);

function renderStage() {
  const onStage = lineup.filter((s) => ["live", "backup"].includes(s.state));
  const keep = new Set(onStage.map((s) => s.speaker));
  for (const [speaker, tile] of tiles) {
    if (keep.has(speaker)) continue;
    tile.video.srcObject = null;
    tile.video.removeAttribute("src");
    tile.el.remove();
    tiles.delete(speaker);
  }
  const box = $("#tiles");
  box.replaceChildren(...onStage.map((s) => tileFor(s).el));
  box.dataset.count = String(onStage.length);
  refresh();
  renderQuestion();
}

document.addEventListener("podium:live", (e) => {
  live = e.detail;
  media = new StageStreams(live, refresh, () => lineup);
});

document.addEventListener("podium:snapshot", (e) => {
  const { event, qa } = e.detail;
  eventName = event.name;
  eventLanguages = event.languages || [];
  const url = `${base}/e/${event.code}`; // what the QR says, whatever address this screen used
  $("#join-qr").src = `/e/${encodeURIComponent(event.code)}/qr.svg?w=hall`;
  $("#join-url").textContent = url.replace(/^https?:\/\//, "");
  $("#join-code").textContent = event.code;
  state.reset(qa);
  media?.snapshot(e.detail.rtc);
  lineup = e.detail.stage.lineup;
  renderStage();
});
document.addEventListener("podium:stage", (e) => {
  if (!e.detail.stage) return;
  lineup = e.detail.stage.lineup;
  renderStage();
});
// A speaker connected or dropped: the tile switches to their picture or the holding slide.
document.addEventListener("podium:online", (e) => {
  for (const s of lineup) if (s.speaker in e.detail.online) s.online = e.detail.online[s.speaker];
  refresh();
});
document.addEventListener("podium:qa", (e) => {
  state.applyDelta(e.detail);
  renderQuestion();
});
document.addEventListener("podium:votes", (e) => {
  state.applyVotes(e.detail.votes);
  renderQuestion();
});

// Reactions float up in a corner, or show as counts for whoever asks for less motion.
const reactions = new ReactionLayer($("#floating"), $("#reaction-totals"));
document.addEventListener("podium:snapshot", (e) => reactions.reset(e.detail.reactions));
document.addEventListener("podium:reactions", (e) => reactions.tick(e.detail));
