// The speaker's studio. Backstage (the green room): camera and microphone check with device
// choice, a network verdict in plain words, the running order with the start time in both
// zones, and the backstage chat. Live: a confidence monitor (the clock, the question on
// screen and the next, the hall's reactions as a meter, cues that must be acknowledged, the
// own connection's health). The tally says which, large and coloured, all the time.
//
// The page gets its connection from role.js (the studio page) or audience.js (an audience
// member brought on stage) through the podium:* document events.
import { $, h, formatTime, localZone } from "./dom.js";
import { t, lang, errorText, formatList } from "./i18n.js";
import * as P from "./protocol.js";
import { ClockView } from "./clock.js";
import { QAState } from "./qa-state.js";
import { readerFirst, setText } from "./translations.js";
import { backupState, syncClock } from "./backup.js";
import { PollState, resultsFigure } from "./polls-view.js";
import { Peers, Publisher } from "./rtc.js";
import { SfuPublisher } from "./sfu.js";
import { ChatView, healthLevel, healthText } from "./backstage.js";
import { emojiImage } from "./emoji.js";
import { lessMotion } from "./reactions-view.js";

const HEALTH_EVERY_MS = 2000;
const METER_DECAY = 0.85;
const ON_STAGE = ["live", "backup"];

const clock = new ClockView($("#clock"));
const qa = new QAState();
const chat = new ChatView($("#chat"), () => live);
let live = null;
let publisher = null;
let sfu = null; // the stage through an SFU (when Podium has one): sends once while live
let sfuOn = false;
let peers = null;
let me = null; // this speaker's id (their link)
let myState = "backstage";
let snap = null;
let stream = null; // the camera and microphone
let shared = null; // the shared screen (slides), sent instead of the camera while on
let mySocket = null; // this studio's socket id, as the viewers know it
let elsewhere = false; // this link's studio was opened in another window: this one waits
const cues = new Map(); // id -> cue, the unread ones are shown one at a time
const meter = new Map(); // emoji -> level
let lastStage = null;
// The poll the hall is running, with its results live (the speaker may comment on them).
const polls = new PollState();
function renderPoll() {
  const poll = polls.active();
  $("#monitor-poll").hidden = !poll;
  if (!poll) return;
  $("#monitor-poll-question").textContent = poll.question;
  $("#monitor-poll-results").replaceChildren(...(poll.results ? [resultsFigure(poll)] : []));
}
document.addEventListener("podium:polls", (e) => {
  polls.apply(e.detail);
  renderPoll();
});
setInterval(() => {
  const mine = lastStage?.lineup.find((s) => s.speaker === me);
  if (mine?.state === "backup" && (backupState(mine) === "ended") !== ($("#hold").dataset.backup === "ended")) renderStage(lastStage);
}, 1000);

// --- the tally and the running order --------------------------------------------------

function renderStage(stage) {
  const mine = stage.lineup.find((s) => s.speaker === me);
  myState = mine ? mine.state : "backstage";
  const tally = $("#tally");
  tally.dataset.state = myState;
  tally.textContent = t(`stage.${myState}`).toUpperCase();
  $("#studio").dataset.state = myState;
  // A recording plays once: while it plays, and once it has ended (the hall then shows the
  // holding slide), the studio says which.
  const ended = mine && backupState(mine, () => renderStage(stage)) === "ended";
  $("#hold").textContent = ended ? t("studio.hold.backup_ended") : t(`studio.hold.${myState}`);
  $("#hold").hidden = myState === "live";
  $("#hold").dataset.backup = ended ? "ended" : "";
  lastStage = stage;
  const order = $("#order");
  order.replaceChildren(...stage.lineup.map((s) => h("li", { "data-state": s.state, "data-speaker": s.speaker },
    h("strong", { dir: "auto", text: s.label || t("role.speaker") }),
    s.speaker === me ? h("span", { class: "hint", text: ` (${t("studio.you")})` }) : null, " ",
    h("span", { class: `tag tally-${s.state}`, text: t(`stage.${s.state}`) }))));
  const onStage = stage.lineup.filter((s) => ON_STAGE.includes(s.state)).map((s) => s.label || t("role.speaker"));
  const next = stage.lineup.find((s) => s.state === "backstage");
  $("#now-next").textContent = [
    t("studio.now_live", { names: onStage.length ? formatList(onStage) : t("studio.nobody") }),
    next ? t("studio.up_next", { name: next.label || t("role.speaker") }) : null,
  ].filter(Boolean).join(" · ");
  publishTo();
}

function renderTimes() {
  if (!snap) return;
  const { session, event } = snap;
  const there = formatTime(session.starts_at, event.time_zone, lang);
  const here = localZone();
  let text = t("studio.starts_event", { time: there });
  if (here && here !== event.time_zone) text += " · " + t("studio.starts_yours", { time: formatTime(session.starts_at, here, lang) });
  $("#start-times").textContent = text;
}

// --- the confidence monitor -------------------------------------------------------------

function renderQuestions() {
  const now = qa.onScreen();
  const queued = qa.sorted([...qa.questions.values()].filter((q) => q.state === "approved" && q.id !== qa.screen), "popular");
  // In the studio's language first when an interpreter translated it, the original beneath;
  // a question still waiting for its translation says so.
  const [first, asked] = now ? readerFirst(now, lang) : [null, null];
  if (first) setText($("#monitor-now"), first);
  else setText($("#monitor-now"), { text: t("studio.no_question"), lang });
  const waiting = now && !asked && now.lang && now.lang !== lang;
  setText($("#monitor-now-original"), asked || (waiting ? { text: t("studio.translation_pending"), lang } : null));
  $("#monitor-now-original").hidden = !asked && !waiting;
  const [next] = queued[0] ? readerFirst(queued[0], lang) : [null];
  setText($("#monitor-next"), next || { text: t("studio.no_question"), lang });
}

function renderMeter(emoji) {
  const el = $("#meter");
  if (emoji) {
    el.replaceChildren(...emoji.map((e) => h("span", { class: "meter-row", "data-emoji": e },
      h("span", { class: "meter-emoji" }, emojiImage(e)), h("span", { class: "meter-bar" }, h("span", { class: "meter-fill" })))));
  }
  for (const row of el.querySelectorAll(".meter-row")) {
    const level = meter.get(row.dataset.emoji) || 0;
    $(".meter-fill", row).style.inlineSize = `${Math.min(100, level * 4)}%`;
    row.dataset.level = level > 12 ? "high" : level > 2 ? "some" : "calm";
  }
}

// Less motion asked for: the bars step down every 2 s instead of sliding four times a second.
let meterTicks = 0;
setInterval(() => {
  const steps = lessMotion() ? 8 : 1;
  if (++meterTicks % steps) return;
  for (const [e, level] of meter) meter.set(e, level * METER_DECAY ** steps);
  renderMeter();
}, 250);

// A cue covers the screen until the speaker taps OK; that is the moderator's read receipt.
function showCue() {
  const pending = [...cues.values()].filter((c) => !c.acked_at).sort((a, b) => a.at - b.at)[0];
  const box = $("#cue");
  box.hidden = !pending;
  if (!pending) return;
  box.dataset.cue = pending.id;
  box.dataset.kind = pending.kind;
  $("#cue-text").textContent = pending.kind === "minutes" ? t("cue.minutes", { count: pending.minutes, n: pending.minutes })
    : pending.kind === "wrap" ? t("cue.wrap") : pending.text;
  $("#cue-by").textContent = pending.by ? t("cue.from", { name: pending.by }) : "";
  $("#cue-ok").focus();
}

$("#cue-ok").addEventListener("click", async () => {
  const id = $("#cue").dataset.cue;
  const cue = cues.get(id);
  if (!cue || !live) return;
  cue.acked_at = Date.now(); // dismissed here at once; the ack is retried below if it failed
  showCue();
  let ack = await live.request(P.STAGE_CUE_ACK, { session: live.sessionId, cue: id });
  if (!ack.ok && ack.error.code === "unavailable") ack = await live.request(P.STAGE_CUE_ACK, { session: live.sessionId, cue: id });
});

// Taking over: joining again makes this window the studio (the other one steps back).
$("#take-over").addEventListener("click", async () => {
  if (!live) return;
  const ack = await live.join(live.sessionId);
  if (!ack.ok) $("#elsewhere-text").textContent = errorText(ack.error);
});

// --- camera and microphone ---------------------------------------------------------------

const deviceKey = (kind) => `podium.device.${kind}`;
let audioMeter = null;

async function fillDevices() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  for (const [kind, id] of [["videoinput", "#camera-select"], ["audioinput", "#mic-select"]]) {
    const current = stream?.getTracks().find((tr) => tr.kind === kind.slice(0, 5))?.getSettings().deviceId;
    const list = devices.filter((d) => d.kind === kind);
    $(id).replaceChildren(...list.map((d, i) => h("option", {
      value: d.deviceId, selected: d.deviceId === current, text: d.label || `${t(`studio.${kind}`)} ${i + 1}` })));
  }
}

function cameraError(err) {
  const el = $("#camera-error");
  el.hidden = !err;
  if (!err) return;
  const key = { NotAllowedError: "denied", NotFoundError: "missing", NotReadableError: "busy", OverconstrainedError: "missing" }[err.name];
  el.textContent = t(`studio.camera_${key || "failed"}`);
}

async function startCamera() {
  const want = (kind) => {
    const id = localStorage.getItem(deviceKey(kind));
    return id ? { deviceId: { ideal: id } } : true;
  };
  try {
    const next = await navigator.mediaDevices.getUserMedia({
      video: { ...(want("video") === true ? {} : want("video")), width: { ideal: 1280 }, height: { ideal: 720 } },
      audio: want("audio") === true ? { echoCancellation: true } : { ...want("audio"), echoCancellation: true },
    });
    const old = stream;
    stream = next;
    cameraError(null);
    sendWhatIsChosen();
    if (old) for (const track of old.getTracks()) track.stop();
    listenToMic();
    await fillDevices();
  } catch (err) {
    cameraError(err);
  }
}

function listenToMic() {
  try {
    audioMeter?.ctx.close();
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 512;
    ctx.createMediaStreamSource(stream).connect(analyser);
    const data = new Uint8Array(analyser.fftSize);
    audioMeter = { ctx, analyser, data };
  } catch {
    audioMeter = null;
  }
}

setInterval(() => {
  if (!audioMeter) return;
  audioMeter.analyser.getByteTimeDomainData(audioMeter.data);
  let peak = 0;
  for (const v of audioMeter.data) peak = Math.max(peak, Math.abs(v - 128));
  $("#mic-level").style.inlineSize = `${Math.min(100, (peak / 128) * 180)}%`;
}, 100);

for (const [sel, kind] of [["#camera-select", "video"], ["#mic-select", "audio"]]) {
  $(sel).addEventListener("change", (e) => {
    localStorage.setItem(deviceKey(kind), e.target.value);
    startCamera();
  });
}
$("#camera-start").addEventListener("click", () => {
  audioMeter?.ctx.resume();
  startCamera();
});

// --- sharing the screen (slides) -------------------------------------------------------------

// What goes to the stage: the shared screen's picture (when on) with the microphone, else
// the camera. Swapped in place on every connection, so the hall never sees a gap.
function outgoing() {
  if (!shared) return stream;
  return new MediaStream([...shared.getVideoTracks(), ...(stream ? stream.getAudioTracks() : [])]);
}

function sendWhatIsChosen() {
  const out = outgoing();
  $("#preview").srcObject = out;
  if (out) publisher?.setStream(out);
  if (out) sfu?.setStream(out);
  $("#share-screen").textContent = shared ? t("studio.share_stop") : t("studio.share");
  $("#share-screen").setAttribute("aria-pressed", String(Boolean(shared)));
  $("#camera-check").dataset.sharing = String(Boolean(shared));
}

async function shareScreen() {
  if (shared) {
    stopSharing();
    return;
  }
  try {
    shared = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15 } }, audio: false });
  } catch {
    return; // the speaker chose not to share: nothing changes
  }
  const track = shared.getVideoTracks()[0];
  if ("contentHint" in track) track.contentHint = "detail"; // slides: sharp text over smooth motion
  track.addEventListener("ended", stopSharing); // stopped from the browser's own bar
  sendWhatIsChosen();
}

function stopSharing() {
  if (!shared) return;
  for (const track of shared.getTracks()) track.stop();
  shared = null;
  sendWhatIsChosen();
}

$("#share-screen").addEventListener("click", shareScreen);

// --- media to the stage ---------------------------------------------------------------------

// Moderators always see this speaker (a preview backstage); the hall's screens only while live.
function publishTo() {
  if (!publisher || !peers) return;
  if (elsewhere) {
    publisher.want([]);
    sfu?.publish(false);
    return;
  }
  // With an SFU, a live speaker sends once, to it; backstage previews stay peer to peer.
  const viaSfu = sfuOn && myState === "live";
  sfu?.publish(viaSfu);
  publisher.want(peers.ids((p) => (p.role === "moderator" && !viaSfu) || (p.role === "screen" && myState === "live" && !sfuOn)));
}

// --- health: round trip to Podium and the outgoing video, every two seconds -----------------

let lastRtt = null;
async function reportHealth() {
  if (!live || !snap || !live.socket.connected) {
    $("#own-health").dataset.level = "poor";
    $("#own-health").textContent = t("health.offline");
    return;
  }
  const video = (await sfu?.stats()) || (publisher ? await publisher.stats() : null);
  const report = { session: live.sessionId, rtt_ms: lastRtt ?? 0, ...(video || {}) };
  const started = performance.now();
  const ack = await live.request(P.STAGE_HEALTH, report);
  if (ack.ok) lastRtt = Math.round(performance.now() - started);
  const shown = { ...report, rtt_ms: lastRtt ?? report.rtt_ms };
  for (const el of [$("#own-health"), $("#network-verdict")]) {
    el.dataset.level = healthLevel(shown);
    el.textContent = lastRtt === null ? t("studio.measuring") : healthText(shown);
  }
  $("#network-verdict").textContent = lastRtt === null ? t("studio.measuring") : t(`network.${healthLevel(shown)}`, { ms: lastRtt });
}
setInterval(reportHealth, HEALTH_EVERY_MS);

// --- wiring ----------------------------------------------------------------------------------

function attach(connection) {
  if (live === connection) return;
  live = connection;
  chat.attach(live);
  publisher = new Publisher(live);
  if (stream) publisher.setStream(outgoing());
  sfu = new SfuPublisher(live);
  if (stream) sfu.setStream(outgoing());
  peers = new Peers(live, publishTo);
  live.socket.on(P.STAGE_CUE, (msg) => {
    if (msg.session !== live.sessionId || msg.cue.speaker !== me) return;
    cues.set(msg.cue.id, msg.cue);
    showCue();
  });
  live.socket.on(P.STAGE_TAKEOVER, (msg) => {
    if (msg.session !== live.sessionId || msg.peer === live.socket.id) return;
    elsewhere = true;
    $("#elsewhere").hidden = false;
    publishTo();
  });
}

document.addEventListener("podium:reactions", (e) => {
  for (const [emoji, n] of Object.entries(e.detail.counts)) meter.set(emoji, (meter.get(emoji) || 0) + n);
  renderMeter();
});

document.addEventListener("podium:live", (e) => attach(e.detail));
document.addEventListener("podium:snapshot", (e) => {
  snap = e.detail;
  me = snap.you.speaker;
  if (!me) return;
  clock.set(snap.clock);
  syncClock(snap.clock?.now_ms);
  qa.reset(snap.qa);
  renderQuestions();
  polls.reset(snap.polls);
  renderPoll();
  renderMeter(snap.reactions.emoji);
  renderTimes();
  chat.reset(snap.backstage?.chat);
  cues.clear();
  for (const c of snap.backstage?.cues || []) cues.set(c.id, c);
  showCue();
  elsewhere = false;
  $("#elsewhere").hidden = true;
  if (publisher) {
    publisher.configure(snap.rtc?.ice_servers, snap.rtc?.ice_transport_policy, snap.rtc?.ice_ttl_s);
    sfu.configure(snap.rtc?.ice_servers);
    sfuOn = Boolean(snap.rtc?.sfu);
    peers.reset(snap.rtc);
    // A new socket (a reconnect): the viewers know this studio by a new id, start over. The
    // same socket (a resync after a missed broadcast): the pictures keep flowing.
    if (snap.rtc?.you !== mySocket) publisher.restartAll();
    if (snap.rtc?.you !== mySocket) sfu.restart();
    mySocket = snap.rtc?.you;
  }
  renderStage(snap.stage);
});
document.addEventListener("podium:stage", (e) => {
  if (e.detail.clock) clock.set(e.detail.clock);
  syncClock(e.detail.clock?.now_ms);
  if (e.detail.stage && me) renderStage(e.detail.stage);
});
document.addEventListener("podium:qa", (e) => {
  qa.applyDelta(e.detail);
  renderQuestions();
});
document.addEventListener("podium:votes", (e) => {
  qa.applyVotes(e.detail.votes);
  renderQuestions();
});

startCamera();
