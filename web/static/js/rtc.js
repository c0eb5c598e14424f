// WebRTC on the stage. Podium relays only the signaling (rtc:signal) between a speaker and
// the hall screens and moderators of one session; the browsers carry the pixels. The
// speaker always offers (one connection per viewer), so there is never an offer collision;
// a viewer only answers.
import * as P from "./protocol.js";

const RESTART_AFTER_MS = 1500; // a failed connection is rebuilt after this
const EARLY_MAX = 64; // candidates kept for a peer whose description has not arrived yet

// Podium relays each signal on its own, so a candidate may overtake the offer or answer it
// belongs to: candidates wait until the remote description is set.
async function addCandidate(pc, early, candidate) {
  if (!pc.remoteDescription) {
    if (early.length < EARLY_MAX) early.push(candidate);
    return;
  }
  await pc.addIceCandidate(candidate);
}

async function flushCandidates(pc, early) {
  for (const candidate of early.splice(0)) {
    try {
      await pc.addIceCandidate(candidate);
    } catch {
      // A candidate of an earlier attempt: ignore it.
    }
  }
}

// The peers this socket may connect to, from the snapshot and then rtc:peer.
export class Peers {
  constructor(live, onChange) {
    this.live = live;
    this.onChange = onChange;
    this.map = new Map(); // socket id -> {role, speaker}
    live.socket.on(P.RTC_PEER, (msg) => {
      if (msg.session !== live.sessionId) return;
      if (msg.present) this.map.set(msg.peer, { role: msg.role, speaker: msg.speaker });
      else this.map.delete(msg.peer);
      this.onChange(this);
    });
  }

  reset(rtc) {
    this.map = new Map((rtc?.peers || []).map((p) => [p.peer, { role: p.role, speaker: p.speaker }]));
    this.onChange(this);
  }

  ids(predicate) {
    return [...this.map].filter(([, p]) => predicate(p)).map(([id]) => id);
  }
}

// A signal Podium could not take now (a burst past the allowance, a store hiccup) is sent
// again after a pause: a lost candidate can be the one relay candidate that would connect.
const RETRIES = 4;
const RETRY_ON = ["rate_limited", "unavailable"];

async function send(live, to, kind, data) {
  const payload = { session: live.sessionId, to, kind };
  if (data) payload.data = data;
  for (let attempt = 1; ; attempt++) {
    const ack = await live.request(P.RTC_SIGNAL, payload);
    if (ack.ok || attempt > RETRIES || !RETRY_ON.includes(ack.error.code)) return ack;
    const pause = (ack.error.retry_after || 0.5) * 1000 * attempt * (0.5 + Math.random());
    await new Promise((resolve) => setTimeout(resolve, pause));
    if (payload.session !== live.sessionId) return ack;
  }
}

function candidateJSON(c) {
  return { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex, usernameFragment: c.usernameFragment };
}

// The speaker's side: one connection per wanted viewer, carrying the current camera/mic.
export class Publisher {
  constructor(live) {
    this.live = live;
    this.iceServers = [];
    this.stream = null;
    this.pcs = new Map(); // viewer socket id -> RTCPeerConnection
    this.wanted = new Set();
    this.lastStats = null;
    live.socket.on(P.RTC_SIGNAL, (msg) => this.onSignal(msg));
  }

  configure(iceServers) {
    this.iceServers = iceServers || [];
  }

  // A new camera or microphone: swapped in place on every open connection (no renegotiation).
  setStream(stream) {
    const had = this.stream;
    this.stream = stream;
    if (!had) {
      this.want(this.wanted);
      return;
    }
    for (const pc of this.pcs.values()) {
      for (const sender of pc.getSenders()) {
        const track = stream?.getTracks().find((t) => t.kind === sender.track?.kind);
        if (track) sender.replaceTrack(track);
      }
    }
  }

  want(ids) {
    this.wanted = new Set(ids);
    for (const id of [...this.pcs.keys()]) if (!this.wanted.has(id)) this.close(id, true);
    if (!this.stream) return;
    for (const id of this.wanted) if (!this.pcs.has(id)) this.connect(id);
  }

  // After a reconnect the viewers know this speaker by a new socket id: start over.
  restartAll() {
    for (const id of [...this.pcs.keys()]) this.close(id, false);
    this.want(this.wanted);
  }

  async connect(id) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    pc.early = [];
    this.pcs.set(id, pc);
    for (const track of this.stream.getTracks()) pc.addTrack(track, this.stream);
    pc.onicecandidate = (e) => {
      if (e.candidate) send(this.live, id, "candidate", candidateJSON(e.candidate));
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState !== "failed" || this.pcs.get(id) !== pc) return;
      this.close(id, true);
      setTimeout(() => {
        if (this.wanted.has(id) && !this.pcs.has(id) && this.stream) this.connect(id);
      }, RESTART_AFTER_MS);
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      const ack = await send(this.live, id, "offer", { type: "offer", sdp: pc.localDescription.sdp });
      if (!ack.ok && this.pcs.get(id) === pc) this.close(id, false); // the viewer left meanwhile
    } catch {
      if (this.pcs.get(id) === pc) this.close(id, false);
    }
  }

  close(id, sayBye) {
    const pc = this.pcs.get(id);
    if (!pc) return;
    this.pcs.delete(id);
    pc.close();
    if (sayBye) send(this.live, id, "bye");
  }

  async onSignal(msg) {
    if (msg.session !== this.live.sessionId) return;
    const pc = this.pcs.get(msg.from);
    if (!pc) return;
    try {
      if (msg.kind === "answer") {
        await pc.setRemoteDescription(msg.data);
        await flushCandidates(pc, pc.early);
      } else if (msg.kind === "candidate") {
        await addCandidate(pc, pc.early, msg.data);
      } else if (msg.kind === "bye") {
        this.close(msg.from, false);
      }
    } catch {
      // A stale answer or candidate for a connection that was rebuilt: ignore it.
    }
  }

  // Outgoing video across all viewers: kbps, packet loss (%), frames per second.
  async stats() {
    let bytes = 0, fps = 0, lost = 0, sent = 0;
    for (const pc of this.pcs.values()) {
      const report = await pc.getStats();
      report.forEach((s) => {
        if (s.type === "outbound-rtp" && s.kind === "video") {
          bytes += s.bytesSent || 0;
          sent += s.packetsSent || 0;
          fps = Math.max(fps, s.framesPerSecond || 0);
        }
        if (s.type === "remote-inbound-rtp" && s.kind === "video") lost += s.packetsLost || 0;
      });
    }
    const now = performance.now();
    const prev = this.lastStats;
    this.lastStats = { bytes, now, lost, sent };
    if (!prev || !this.pcs.size) return null;
    const seconds = (now - prev.now) / 1000;
    const kbps = Math.max(0, Math.round(((bytes - prev.bytes) * 8) / 1000 / seconds));
    const dSent = sent - prev.sent;
    const loss = dSent > 0 ? Math.min(100, Math.max(0, Math.round(((lost - prev.lost) / dSent) * 100))) : 0;
    return { kbps, loss, fps: Math.round(fps) };
  }
}

// A screen's or moderator's side: answers speakers' offers and hands over their streams.
export class Viewer {
  constructor(live, { onStream, onGone, onState } = {}) {
    this.live = live;
    this.iceServers = [];
    this.pcs = new Map(); // speaker socket id -> {pc, speaker, chain, early}
    this.early = new Map(); // speaker socket id -> candidates that came before its offer
    this.onStream = onStream || (() => {});
    this.onGone = onGone || (() => {});
    this.onState = onState || (() => {});
    live.socket.on(P.RTC_SIGNAL, (msg) => this.onSignal(msg));
  }

  configure(iceServers) {
    this.iceServers = iceServers || [];
  }

  // Peers that left the session: their connections end.
  keep(ids) {
    const alive = new Set(ids);
    for (const id of [...this.pcs.keys()]) if (!alive.has(id)) this.close(id);
    for (const id of [...this.early.keys()]) if (!alive.has(id)) this.early.delete(id);
  }

  closeAll() {
    for (const id of [...this.pcs.keys()]) this.close(id);
  }

  close(id) {
    this.early.delete(id);
    const entry = this.pcs.get(id);
    if (!entry) return;
    this.pcs.delete(id);
    entry.pc.close();
    this.onGone(id, entry.speaker);
  }

  open(id, speaker) {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    const entry = { pc, speaker, chain: Promise.resolve(), early: this.early.get(id) || [] };
    this.early.delete(id);
    this.pcs.set(id, entry);
    pc.ontrack = (e) => this.onStream(id, speaker, e.streams[0] || new MediaStream([e.track]));
    pc.onicecandidate = (e) => {
      if (e.candidate) send(this.live, id, "candidate", candidateJSON(e.candidate));
    };
    pc.onconnectionstatechange = () => this.onState(id, speaker, pc.connectionState);
    return entry;
  }

  onSignal(msg) {
    if (msg.session !== this.live.sessionId || msg.role !== "speaker") return;
    if (msg.kind === "bye") {
      this.close(msg.from);
      return;
    }
    let entry = this.pcs.get(msg.from);
    if (msg.kind === "offer" && entry && entry.pc.signalingState !== "stable") {
      this.close(msg.from); // a fresh start from the speaker
      entry = null;
    }
    if (!entry) {
      if (msg.kind === "candidate") {
        const early = this.early.get(msg.from) || [];
        if (early.length < EARLY_MAX) early.push(msg.data);
        this.early.set(msg.from, early);
      }
      if (msg.kind !== "offer") return;
      entry = this.open(msg.from, msg.speaker);
    }
    const { pc } = entry;
    // Signals of one peer are applied strictly in order.
    entry.chain = entry.chain.then(async () => {
      try {
        if (msg.kind === "offer") {
          await pc.setRemoteDescription(msg.data);
          await flushCandidates(pc, entry.early);
          await pc.setLocalDescription(await pc.createAnswer());
          await send(this.live, msg.from, "answer", { type: "answer", sdp: pc.localDescription.sdp });
        } else if (msg.kind === "candidate") {
          await addCandidate(pc, entry.early, msg.data);
        }
      } catch {
        // A signal for a connection that was replaced: ignore it.
      }
    });
  }
}

// What a hall screen or a moderator's console receives: the latest picture of each speaker of
// the session, kept through resyncs, rebuilt after a reconnect. `onChange` after any change.
export class SpeakerStreams {
  constructor(live, onChange) {
    this.streams = new Map(); // speaker id -> {stream, peer}
    this.socket = null; // this page's socket id, as the speakers know it
    this.viewer = new Viewer(live, {
      onStream: (peer, speaker, stream) => {
        this.streams.set(speaker, { stream, peer });
        onChange();
      },
      onGone: (peer, speaker) => {
        if (this.streams.get(speaker)?.peer === peer) this.streams.delete(speaker);
        onChange();
      },
    });
    this.peers = new Peers(live, (p) => this.viewer.keep([...p.map.keys()]));
  }

  get(speaker) {
    return this.streams.get(speaker) || null;
  }

  // A snapshot. After a reconnect (a new socket id) the speakers offer again, to the new
  // socket; after a resync on the same socket the pictures keep flowing.
  snapshot(rtc) {
    this.viewer.configure(rtc?.ice_servers);
    if (rtc?.you !== this.socket) {
      this.viewer.closeAll();
      this.streams.clear();
    }
    this.socket = rtc?.you;
    this.peers.reset(rtc);
  }
}
