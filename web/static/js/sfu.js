// The stage through an SFU (Podium's rtc.sfu_url, a Janus VideoRoom). A live speaker sends
// one stream; hall screens, moderators and the remote audience each receive it from the SFU.
// The browser never talks to Janus's API: it hands its SDP to Podium over its socket
// (sfu:publish, sfu:subscribe, sfu:start, sfu:stop), Podium checks who may send or watch
// and asks Janus; only the media flows between the browser and Janus. Candidates travel
// inside the SDP (the browser waits for its own, briefly), so there is no trickle to relay.
// Backstage, a speaker's preview for the moderators stays peer to peer (rtc.js): the room
// carries only what the audience may see.
import * as P from "./protocol.js";
import { SpeakerStreams } from "./rtc.js";

const GATHER_MAX_MS = 2000; // ICE gathering this long at most before the SDP goes
const RETRY_MS = 1500; // then 3, 6, 12, 24 s between attempts that keep failing
const STALL_MS = 5000; // a subscription that receives nothing this long is made again
// A speaker who just went live is usually still joining the room when their watchers first
// ask: those ask again soon (0.25, 0.5, 1, 2 s), not on the slow backoff.
const NOT_YET_MS = 250;
const LOST_MS = 4000; // a publication disconnected this long (Janus restarted?) starts over

async function gathered(pc) {
  if (pc.iceGatheringState === "complete") return;
  await new Promise((resolve) => {
    const check = () => pc.iceGatheringState === "complete" && resolve();
    pc.addEventListener("icegatheringstatechange", check);
    setTimeout(resolve, GATHER_MAX_MS);
  });
}

const backoff = (attempt) => RETRY_MS * 2 ** Math.min(attempt, 4);

// The speaker's side: one connection to the SFU while live, carrying the current camera/mic.
export class SfuPublisher {
  constructor(live) {
    this.live = live;
    this.iceServers = [];
    this.stream = null;
    this.on = false;
    this.pc = null;
    this.failures = 0;
    this.timer = null;
    this.lastStats = null;
  }

  configure(iceServers) {
    this.iceServers = iceServers || [];
  }

  // A new camera, microphone or shared screen: swapped in place, no renegotiation.
  setStream(stream) {
    this.stream = stream;
    if (!this.pc) {
      this.sync();
      return;
    }
    for (const sender of this.pc.getSenders()) {
      const track = stream?.getTracks().find((t) => t.kind === sender.track?.kind);
      if (track) sender.replaceTrack(track);
    }
  }

  publish(on) {
    if (on !== this.on) this.failures = 0;
    this.on = on;
    this.sync();
  }

  // A new socket (a reconnect): Podium let go of the old one's feed; publish again.
  restart() {
    this.close(false);
    this.sync();
  }

  sync() {
    if (this.on && this.stream && !this.pc && !this.timer) this.connect();
    else if (!this.on && this.pc) this.close(true);
  }

  again() {
    this.close(true);
    this.retryLater();
  }

  retryLater() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.sync();
    }, backoff(this.failures++));
  }

  async connect() {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    for (const track of this.stream.getTracks()) pc.addTrack(track, this.stream);
    pc.onconnectionstatechange = () => {
      if (this.pc !== pc) return;
      const state = pc.connectionState;
      if (state === "connected") {
        this.failures = 0;
        clearTimeout(pc.lost);
      } else if (state === "disconnected") {
        pc.lost = setTimeout(() => this.pc === pc && pc.connectionState !== "connected" && this.again(), LOST_MS);
      } else if (state === "failed" || state === "closed") {
        this.again();
      }
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await gathered(pc);
      if (this.pc !== pc) return;
      const ack = await this.live.request(P.SFU_PUBLISH, { session: this.live.sessionId, jsep: { type: "offer", sdp: pc.localDescription.sdp } });
      if (this.pc !== pc) return;
      if (!ack.ok) throw new Error(ack.error.code);
      await pc.setRemoteDescription(ack.jsep);
    } catch {
      if (this.pc !== pc) return;
      this.close(false);
      this.retryLater();
    }
  }

  close(tell) {
    const pc = this.pc;
    if (!pc) return;
    this.pc = null;
    pc.close();
    if (tell) this.live.request(P.SFU_STOP, { session: this.live.sessionId });
  }

  // Outgoing video: kbps, packet loss (%), frames per second; null when not publishing.
  async stats() {
    if (!this.pc) {
      this.lastStats = null;
      return null;
    }
    let bytes = 0, fps = 0, lost = 0, sent = 0;
    (await this.pc.getStats()).forEach((s) => {
      if (s.type === "outbound-rtp" && s.kind === "video") {
        bytes += s.bytesSent || 0;
        sent += s.packetsSent || 0;
        fps = Math.max(fps, s.framesPerSecond || 0);
      }
      if (s.type === "remote-inbound-rtp" && s.kind === "video") lost += s.packetsLost || 0;
    });
    const now = performance.now();
    const prev = this.lastStats;
    this.lastStats = { bytes, now, lost, sent };
    if (!prev) return null;
    const kbps = Math.max(0, Math.round(((bytes - prev.bytes) * 8) / 1000 / ((now - prev.now) / 1000)));
    const dSent = sent - prev.sent;
    const loss = dSent > 0 ? Math.min(100, Math.max(0, Math.round(((lost - prev.lost) / dSent) * 100))) : 0;
    return { kbps, loss, fps: Math.round(fps) };
  }
}

let subscriptions = 0;

// A watcher's side: a subscription per wanted speaker, made again when it stops receiving.
// The same face as rtc.js's SpeakerStreams: get(speaker), snapshot(rtc), need(speakers).
export class SfuStreams {
  constructor(live, onChange) {
    this.live = live;
    this.onChange = onChange;
    this.iceServers = [];
    this.subs = new Map(); // speaker -> {id, pc, stream, bytes, progressAt, pending}
    this.failures = new Map(); // speaker -> {count, next}
    this.socket = null;
    this.busy = false;
    this.wanted = new Set();
  }

  get(speaker) {
    const sub = this.subs.get(speaker);
    return sub?.stream.getTracks().length ? { stream: sub.stream, peer: `sfu:${sub.id}` } : null;
  }

  // After a reconnect (a new socket) Podium has let go of the old subscriptions: start over.
  snapshot(rtc) {
    if (rtc?.ice_servers) this.iceServers = rtc.ice_servers;
    if (this.live.socket.id !== this.socket) {
      for (const speaker of [...this.subs.keys()]) this.close(speaker, false);
      this.failures.clear();
    }
    this.socket = this.live.socket.id;
  }

  // Called every second or so with the live speakers whose picture should show here.
  async need(speakers) {
    if (this.busy || !this.live.socket.connected) return;
    this.busy = true;
    try {
      const wanted = new Set(speakers);
      this.wanted = wanted;
      for (const speaker of [...this.subs.keys()]) if (!wanted.has(speaker)) this.close(speaker, true);
      for (const speaker of [...this.failures.keys()]) if (!wanted.has(speaker)) this.failures.delete(speaker);
      const now = performance.now();
      for (const speaker of wanted) {
        const sub = this.subs.get(speaker);
        if (sub && !(await this.stalled(sub, now))) continue;
        if (sub) this.close(speaker, true);
        if (now < (this.failures.get(speaker)?.next || 0)) continue;
        this.subscribe(speaker);
      }
    } finally {
      this.busy = false;
    }
  }

  async stalled(sub, now) {
    if (sub.pending) return false;
    let bytes = 0;
    (await sub.pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp") bytes += s.bytesReceived || 0;
    });
    if (bytes > sub.bytes) {
      sub.bytes = bytes;
      sub.progressAt = now;
      this.failures.delete(sub.speaker);
      return false;
    }
    return now - sub.progressAt > STALL_MS || ["failed", "closed"].includes(sub.pc.connectionState);
  }

  failed(speaker, code) {
    const count = (this.failures.get(speaker)?.count || 0) + 1;
    const wait = code === "not_found" ? NOT_YET_MS * 2 ** Math.min(count - 1, 3) : backoff(count - 1);
    this.failures.set(speaker, { count, next: performance.now() + wait });
    setTimeout(() => {
      if (this.wanted.has(speaker) && !this.subs.has(speaker) && this.live.socket.connected) this.subscribe(speaker);
    }, wait);
  }

  async subscribe(speaker) {
    const sub = { id: ++subscriptions, speaker, pc: null, stream: new MediaStream(), bytes: 0, progressAt: performance.now(), pending: true };
    this.subs.set(speaker, sub);
    const session = this.live.sessionId;
    try {
      const ack = await this.live.request(P.SFU_SUBSCRIBE, { session, speaker });
      if (this.subs.get(speaker) !== sub) return;
      if (!ack.ok) throw new Error(ack.error.code);
      const pc = new RTCPeerConnection({ iceServers: this.iceServers });
      sub.pc = pc;
      pc.ontrack = (e) => {
        sub.stream.addTrack(e.track);
        if (this.subs.get(speaker) === sub) this.onChange();
      };
      await pc.setRemoteDescription(ack.jsep);
      await pc.setLocalDescription(await pc.createAnswer());
      await gathered(pc);
      if (this.subs.get(speaker) !== sub) return;
      const started = await this.live.request(P.SFU_START, { session, speaker, jsep: { type: "answer", sdp: pc.localDescription.sdp } });
      if (this.subs.get(speaker) !== sub) return;
      if (!started.ok) throw new Error(started.error.code);
      sub.pending = false;
      sub.progressAt = performance.now();
    } catch (e) {
      if (this.subs.get(speaker) !== sub) return;
      this.close(speaker, false);
      this.failed(speaker, e.message);
    }
  }

  close(speaker, tell) {
    const sub = this.subs.get(speaker);
    if (!sub) return;
    this.subs.delete(speaker);
    sub.pc?.close();
    if (tell && this.live.socket.connected) this.live.request(P.SFU_STOP, { session: this.live.sessionId, speaker });
    this.onChange();
  }
}

// What hall screens and moderators use in place of SpeakerStreams: peer to peer until a
// snapshot says the stage goes through an SFU; then live speakers come from the SFU and the
// others (backstage previews, for moderators) stay peer to peer. `lineup()`: the current one.
export class StageStreams {
  constructor(live, onChange, lineup) {
    this.live = live;
    this.onChange = onChange;
    this.lineup = lineup;
    this.mesh = new SpeakerStreams(live, onChange);
    this.sfu = null;
  }

  get(speaker) {
    return this.sfu?.get(speaker) || this.mesh.get(speaker);
  }

  snapshot(rtc) {
    this.mesh.snapshot(rtc);
    if (rtc?.sfu && !this.sfu) this.sfu = new SfuStreams(this.live, this.onChange);
    this.sfu?.snapshot(rtc);
  }

  need(speakers) {
    if (!this.sfu) {
      this.mesh.need(speakers);
      return;
    }
    const live = new Set(this.lineup().filter((s) => s.state === "live").map((s) => s.speaker));
    this.sfu.need(speakers.filter((s) => live.has(s)));
    this.mesh.need(speakers.filter((s) => !live.has(s)));
  }
}

// The remote audience's stage, live from the SFU: a video per live speaker in `box`.
export class AudienceSfu {
  constructor(live, box, label) {
    this.box = box;
    this.label = label;
    this.on = false;
    this.speakers = [];
    this.videos = new Map(); // speaker -> <video>
    this.streams = new SfuStreams(live, () => this.render());
    setInterval(() => this.tick(), 1000);
  }

  // The stage's lineup (the audience's: who is on stage, and how).
  stage(lineup) {
    this.speakers = lineup.filter((s) => s.state === "live").map((s) => s.speaker);
    this.tick();
  }

  show(on) {
    this.on = on;
    this.tick();
  }

  snapshot() {
    this.streams.snapshot(null);
  }

  tick() {
    this.streams.need(this.on ? this.speakers : []);
    this.render();
  }

  render() {
    const shown = this.on ? this.speakers.filter((s) => this.streams.get(s)) : [];
    for (const [speaker, video] of [...this.videos]) {
      if (shown.includes(speaker)) continue;
      video.srcObject = null;
      video.remove();
      this.videos.delete(speaker);
    }
    for (const speaker of shown) {
      let video = this.videos.get(speaker);
      if (!video) {
        video = document.createElement("video");
        video.className = "stream";
        video.dataset.speaker = speaker;
        video.playsInline = true;
        video.controls = true;
        video.setAttribute("aria-label", this.label);
        this.videos.set(speaker, video);
        this.box.append(video);
      }
      const { stream } = this.streams.get(speaker);
      if (video.srcObject !== stream) {
        video.srcObject = stream;
        // A phone that refuses sound without a tap starts muted (the controls unmute it).
        video.play().catch(() => {
          video.muted = true;
          video.play().catch(() => {});
        });
      }
    }
    this.box.hidden = !shown.length;
  }
}
