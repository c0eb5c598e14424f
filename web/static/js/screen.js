// The hall screen: a broadcast canvas on autopilot, driven by the session's status and its
// stage. Scheduled: a holding slide with the start time. Live: the speakers on stage full
// bleed (their camera, or their backup recording) with lower thirds and the question on
// screen as a band beneath their faces > the question on screen > the join QR with the code
// in huge type, the running order and who is next. Ended: a thank-you slide and what comes
// next. A holding slide when a live speaker's picture stops: never a frozen frame, never an
// error text, nothing operational.
import { $, h, config, clockTime } from "./dom.js";
import { t, lang, formatNumber } from "./i18n.js";
import { QAState } from "./qa-state.js";
import * as P from "./protocol.js";
import { setText, speakerLanguages, withTranslation } from "./translations.js";
import { StageStreams } from "./sfu.js";
import { ReactionLayer } from "./reactions-view.js";
import { elapsed, syncClock } from "./backup.js";
import { PollState, resultsFigure, leaderboardItems } from "./polls-view.js";

const cfg = config();
const base = cfg.base_url;
const FROZEN_AFTER_MS = 2500; // no new frame for this long: show the holding slide
// Options in the screen's address (before the #): a second screen in the same hall stays
// silent (?sound=off) or the room echoes; ?reactions=off and ?count=off hide those.
const options = new URLSearchParams(location.search);
const silent = options.get("sound") === "off";
if (options.get("reactions") === "off") $("#floating").hidden = true;
const state = new QAState();
const polls = new PollState();
let live = null;
let media = null; // the speakers' pictures
let lineup = [];
let status = "scheduled";
let eventName = "";
let eventLanguages = [];
let session = null;
let event = null;
let nextSession = null; // the event's session after this one, for the slides

// The canvas is 1920×1080 design pixels, scaled as a whole to fill the display.
const DESIGN_W = 1920;
const DESIGN_H = 1080;
function fit() {
  const k = Math.min(innerWidth / DESIGN_W, innerHeight / DESIGN_H);
  $("#screen-canvas").style.setProperty("--k", String(k));
}
addEventListener("resize", fit);
fit();

// A speaker's label as a lower third: "Name — Affiliation" (or "Name, Affiliation").
function lowerThird(label) {
  const [name, ...rest] = (label || "").split(/\s+[—–|·]\s+|,\s+/);
  return [name || label || t("role.speaker"), rest.join(", ")];
}
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
  const canvas = $("#screen-canvas");
  const onStage = lineup.some((s) => ["live", "backup"].includes(s.state));
  // What the moderators put up wins over the session's slides: speakers, then a poll (open,
  // or its results shown), then a question. With speakers on, a poll takes the band.
  const poll = renderPoll();
  let mode = onStage ? "stage" : poll ? "poll" : q ? "question" : "join";
  if (poll) $("#screen-question").hidden = true;
  if (mode === "join" && (status === "scheduled" || status === "ended")) mode = status;
  if (mode !== "stage" && mode !== "question") $("#screen-question").hidden = true;
  canvas.dataset.mode = mode;
  canvas.dataset.status = status;
  canvas.dataset.question = (q || poll) && (mode === "stage" || mode === "question" || mode === "poll") ? "on" : "off";
  renderSlide();
}

// The poll the hall shows: while open, its question and answers (and the QR to vote); once a
// moderator shows its results, those, live.
function renderPoll() {
  const poll = polls.active();
  $("#screen-poll").hidden = !poll;
  if (!poll) return null;
  $("#screen-poll-question").textContent = poll.question;
  $("#screen-poll-call").hidden = poll.state !== "open";
  const options = poll.kind === "choice" && !poll.shown ? poll.options : [];
  $("#screen-poll-options").replaceChildren(...options.map((o) => h("li", { dir: "auto", text: o })));
  // The same poll's bars move to their new length (a transition) rather than being redrawn.
  const box = $("#screen-poll-results");
  if (!(poll.shown && poll.results)) box.replaceChildren();
  else {
    const fresh = resultsFigure(poll);
    const old = box.firstElementChild;
    const bars = old?.querySelectorAll(".poll-bar");
    if (old && box.dataset.poll === poll.id && bars.length && bars.length === fresh.querySelectorAll(".poll-bar").length) {
      fresh.querySelectorAll(".poll-bar").forEach((bar, i) => {
        bars[i].style.setProperty("--p", bar.style.getPropertyValue("--p"));
        bars[i].className = bar.className;
        bars[i].replaceChildren(...bar.childNodes);
      });
      old.querySelector(".poll-voters")?.replaceWith(fresh.querySelector(".poll-voters"));
      const average = fresh.querySelector(".poll-average");
      if (average) old.querySelector(".poll-average")?.replaceWith(average);
    } else {
      box.replaceChildren(fresh);
    }
    box.dataset.poll = poll.id;
  }
  return poll;
}

// The slide between talks, before and after: the session, its start (in the event's zone),
// the running order and who or what is next.
function renderSlide() {
  if (!session || !event) return;
  $("#slide-event").textContent = event.name;
  $("#slide-title").textContent = session.title;
  const zone = event.time_zone;
  $("#slide-when").textContent = status === "scheduled" ? t("screen.starts_at", { time: clockTime(Date.parse(session.starts_at), lang, zone) }) : "";
  const on = lineup.filter((s) => ["live", "backup"].includes(s.state));
  const waiting = lineup.filter((s) => s.state === "backstage");
  const next = waiting[0];
  let nextText = "";
  if (status === "ended") {
    if (nextSession) nextText = t("screen.next_session", { title: nextSession.title, time: clockTime(Date.parse(nextSession.starts_at), lang, zone) });
  } else if (next && status === "scheduled") {
    nextText = t("screen.next_speaker_at", { name: lowerThird(next.label)[0], time: clockTime(Date.parse(session.starts_at), lang, zone) });
  } else if (next) {
    nextText = t("screen.next_speaker", { name: lowerThird(next.label)[0] });
  }
  $("#slide-next").textContent = nextText;
  loadBoard();
  $("#order").replaceChildren(...lineup.filter((s) => s.state !== "off").map((s) => {
    const li = h("li", { dir: "auto", text: lowerThird(s.label)[0] || t("role.speaker") });
    if (s === next) li.dataset.next = "";
    if (on.includes(s)) li.append(" · ", t("screen.on_stage_now"));
    return li;
  }));
}

// At the end of a session with a quiz: its leaderboard on the thank-you slide.
let boardFor = "";
async function loadBoard() {
  const quiz = polls.list().some((p) => (p.correct || []).length);
  const key = `${status}|${quiz}`;
  if (key === boardFor || !live) return;
  boardFor = key;
  $("#slide-board").hidden = true;
  if (status !== "ended" || !quiz) return;
  const ack = await live.request(P.POLL_LEADERBOARD, { session: live.sessionId });
  if (!ack.ok || !ack.leaderboard.length) return;
  $("#board").replaceChildren(...leaderboardItems(ack.leaderboard));
  $("#slide-board").hidden = false;
}

function renderClock() {
  if (!event) return;
  $("#bug-clock").textContent = clockTime(Date.now(), lang, event.time_zone);
}
setInterval(renderClock, 10_000);

// The event's next session after this one (public: what the join page shows).
async function loadNext() {
  try {
    const res = await fetch(`/api/codes/${encodeURIComponent(event.code)}`);
    const data = await res.json();
    const later = (data.sessions || [])
      .filter((s) => s.id !== session.id && Date.parse(s.starts_at) >= Date.parse(session.starts_at))
      .sort((a, b) => Date.parse(a.starts_at) - Date.parse(b.starts_at));
    nextSession = later[0] || null;
  } catch {
    nextSession = null; // the slide just says thank you
  }
  renderSlide();
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
      h("figcaption", {}, h("span", { class: "lower-name", dir: "auto" }), h("span", { class: "lower-role", dir: "auto" })));
    tile = { speaker: s.speaker, el, video, mode: null, source: null, lastFrame: 0, ended: false };
    video.addEventListener("ended", () => {
      tile.ended = true;
      refresh();
    });
    watchFrames(tile);
    tiles.set(s.speaker, tile);
  }
  const [name, role] = lowerThird(s.label);
  $(".lower-name", tile.el).textContent = name;
  $(".lower-role", tile.el).textContent = role;
  $(".lower-role", tile.el).hidden = !role;
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
      tile.ended = false;
      tile.video.removeAttribute("src");
      tile.video.srcObject = null;
      tile.video.loop = false;
      if (source?.startsWith("backup:")) {
        // From where the hall is in it (a reloaded projector joins the others), and once:
        // at its end the holding slide, never a frozen last frame.
        tile.video.src = s.backup_url;
        tile.video.addEventListener("loadedmetadata", () => {
          const at = elapsed(s);
          if (at >= tile.video.duration) tile.ended = true;
          else if (at > 1) tile.video.currentTime = at;
        }, { once: true });
      } else if (source) tile.video.srcObject = picture.stream;
      if (source) play(tile.video);
    }
    const flowing = source && !tile.ended && performance.now() - tile.lastFrame < FROZEN_AFTER_MS && tile.video.videoWidth > 0;
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
  const { qa } = e.detail;
  ({ event, session } = e.detail);
  syncClock(e.detail.clock?.now_ms);
  status = e.detail.stage.status;
  $("#bug-title").textContent = session.title;
  renderClock();
  loadNext();
  eventName = event.name;
  eventLanguages = event.languages || [];
  const url = `${base}/e/${event.code}`; // what the QR says, whatever address this screen used
  $("#join-qr").src = `/e/${encodeURIComponent(event.code)}/qr.svg?w=hall`;
  $("#join-url").textContent = url.replace(/^https?:\/\//, "");
  $("#join-code").textContent = event.code;
  state.reset(qa);
  polls.reset(e.detail.polls);
  media?.snapshot(e.detail.rtc);
  lineup = e.detail.stage.lineup;
  renderStage();
});
document.addEventListener("podium:stage", (e) => {
  syncClock(e.detail.clock?.now_ms);
  if (!e.detail.stage) return;
  lineup = e.detail.stage.lineup;
  if (status !== e.detail.stage.status && e.detail.stage.status === "ended") loadNext();
  status = e.detail.stage.status;
  renderStage();
});
// A speaker connected or dropped: the tile switches to their picture or the holding slide.
// The session or its event was edited (a title, a start time, the zone).
document.addEventListener("podium:info", (e) => {
  if (e.detail.session) session = e.detail.session;
  if (e.detail.event) event = e.detail.event;
  if (session) $("#bug-title").textContent = session.title;
  renderClock();
  renderSlide();
});
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
document.addEventListener("podium:polls", (e) => {
  polls.apply(e.detail);
  renderQuestion();
});

// Reactions float up in a corner, or show as counts for whoever asks for less motion.
const reactions = new ReactionLayer($("#floating"), $("#reaction-totals"));
document.addEventListener("podium:snapshot", (e) => reactions.reset(e.detail.reactions));
document.addEventListener("podium:reactions", (e) => reactions.tick(e.detail));
