// WebRTC on the stage. Podium relays only the signaling (rtc:signal) between a speaker and
// the hall screens and moderators of one session; the browsers carry the pixels. The
// speaker always offers (one connection per viewer), so there is never an offer collision;
// a viewer only answers.
import * as P from "./protocol.js";

const RESTART_AFTER_MS = 1500; // a failed connection is rebuilt after this
// A viewer with no picture from a live speaker asks for a fresh offer: at once when it has no
// connection at all after this long, and when one has not connected after the longer wait
// (ICE through a TURN relay takes a second or two; a request restarts it).
const ASK_NONE_AFTER_MS = 1500;
const ASK_STUCK_AFTER_MS = 6000;
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
    this.ready = false; // the list is whole only once a snapshot gave it
    live.socket.on(P.RTC_PEER, (msg) => {
      if (msg.session !== live.sessionId) return;
      if (msg.present) this.map.set(msg.peer, { role: msg.role, speaker: msg.speaker });
      else this.map.delete(msg.peer);
      // Before the snapshot the list is partial: acting on it would end a connection whose
      // offer came early.
      if (this.ready) this.onChange(this);
    });
  }

  reset(rtc) {
    this.map = new Map((rtc?.peers || []).map((p) => [p.peer, { role: p.role, speaker: p.speaker }]));
    this.ready = true;
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

// Every connection's configuration: the snapshot's ICE servers and transport policy ("relay":
// media only through TURN, as rtc.ice_transport_policy says).
// TURN credentials expire (rtc.turn_ttl_seconds): a page open longer than that fetches fresh
// ones halfway through their life, for the connections it makes from then on.
function keepIceFresh(owner, ttlSeconds) {
  clearTimeout(owner.iceTimer);
  if (!ttlSeconds || ttlSeconds <= 0) return;
  owner.iceTimer = setTimeout(async () => {
    const ack = await owner.live.request(P.RTC_ICE, { session: owner.live.sessionId });
    if (ack.ok) {
      owner.iceServers = ack.ice_servers || [];
      keepIceFresh(owner, ack.ice_ttl_s);
    } else {
      keepIceFresh(owner, 120); // again in a minute (reconnecting, a busy worker)
    }
  }, Math.max(30, ttlSeconds / 2) * 1000);
}

function pcConfig({ iceServers, policy }) {
  return { iceServers, iceTransportPolicy: policy || "all" };
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

  configure(iceServers, policy, ttlSeconds) {
    this.iceServers = iceServers || [];
    this.policy = policy === "relay" ? "relay" : "all";
    keepIceFresh(this, ttlSeconds);
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
    const pc = new RTCPeerConnection(pcConfig(this));
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
    if (msg.kind === "request") {
      // A viewer has no picture of us (it reloaded while our offer was on its way, its
      // network blinked): a new connection, whatever became of the old one.
      this.wanted.add(msg.from);
      this.close(msg.from, false);
      if (this.stream) this.connect(msg.from);
      return;
    }
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

  configure(iceServers, policy, ttlSeconds) {
    this.iceServers = iceServers || [];
    this.policy = policy === "relay" ? "relay" : "all";
    keepIceFresh(this, ttlSeconds);
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

  // Connections made on another socket than `socket` end (they can never complete: the
  // speakers now know this page by its new socket id). Those made on this one, even before
  // its snapshot arrived (an offer can overtake the join's answer), are kept.
  closeOtherThan(socket) {
    for (const [id, entry] of [...this.pcs]) if (entry.socket !== socket) this.close(id);
  }

  close(id, { keepEarly = false } = {}) {
    if (!keepEarly) this.early.delete(id);
    const entry = this.pcs.get(id);
    if (!entry) return;
    this.pcs.delete(id);
    entry.pc.close();
    this.onGone(id, entry.speaker);
  }

  // Ask a speaker's socket for a fresh offer (what is left of the old connection goes: the
  // new offer starts a new one).
  ask(id) {
    this.close(id);
    send(this.live, id, "request");
  }

  open(id, speaker, ufrag) {
    const pc = new RTCPeerConnection(pcConfig(this));
    // The candidates that overtook this offer (those of an older connection stay behind), and
    // the socket the offer came to: a snapshot for another socket (a reconnect) ends it.
    const early = (this.early.get(id) || []).filter((c) => !c.usernameFragment || c.usernameFragment === ufrag);
    const entry = { pc, speaker, ufrag, chain: Promise.resolve(), early, socket: this.live.socket.id };
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
    if (msg.kind === "offer" && entry) {
      // Speakers never renegotiate (a new camera is swapped in place): every offer is a new
      // connection, and what is left of the old one goes.
      this.close(msg.from, { keepEarly: true });
      entry = null;
    }
    // A candidate of a connection whose offer has not come yet (its ICE username is not the
    // current one's) waits for that offer.
    const ahead = msg.kind === "candidate" && entry && msg.data.usernameFragment && entry.ufrag && msg.data.usernameFragment !== entry.ufrag;
    if (!entry || ahead) {
      if (msg.kind === "candidate") {
        const early = this.early.get(msg.from) || [];
        if (early.length < EARLY_MAX) early.push(msg.data);
        this.early.set(msg.from, early);
      }
      if (msg.kind !== "offer") return;
      entry = this.open(msg.from, msg.speaker, /a=ice-ufrag:(\S+)/.exec(msg.data.sdp || "")?.[1]);
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
    this.missing = new Map(); // speaker id -> since when a wanted picture has not been flowing
    this.asked = new Map(); // speaker id -> requests sent since it last flowed (for backoff)
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
    this.viewer.configure(rtc?.ice_servers, rtc?.ice_transport_policy, rtc?.ice_ttl_s);
    if (rtc?.you !== this.socket) {
      this.viewer.closeOtherThan(rtc?.you);
      for (const [speaker, got] of [...this.streams]) if (!this.viewer.pcs.has(got.peer)) this.streams.delete(speaker);
    }
    this.socket = rtc?.you;
    this.peers.reset(rtc);
  }

  // Called every second or so with the speakers whose picture should show now (live and
  // connected): one without a flowing connection for a while is asked for a fresh offer.
  // A reloaded kiosk or a blip on the venue's network never leaves the hall on the holding
  // slide for longer than that.
  need(speakers) {
    const now = performance.now();
    for (const speaker of [...this.missing.keys()]) if (!speakers.includes(speaker)) this.missing.delete(speaker);
    for (const speaker of speakers) {
      const peers = this.peers.ids((p) => p.role === "speaker" && p.speaker === speaker);
      const entries = peers.map((id) => this.viewer.pcs.get(id)).filter(Boolean);
      if (entries.some((e) => e.pc.connectionState === "connected")) {
        this.missing.delete(speaker);
        this.asked.delete(speaker);
        continue;
      }
      if (!this.missing.has(speaker)) this.missing.set(speaker, now);
      const waited = now - this.missing.get(speaker);
      const pending = entries.some((e) => ["new", "connecting"].includes(e.pc.connectionState));
      // Unanswered requests (a speaker whose camera is off has nothing to offer) are spaced
      // out: 1.5 s, 3, 6, 12, then every 24.
      const asked = this.asked.get(speaker) || 0;
      const wait = (pending ? ASK_STUCK_AFTER_MS : ASK_NONE_AFTER_MS) * 2 ** Math.min(asked, 4);
      if (waited < wait || !peers.length) continue;
      this.missing.set(speaker, now);
      this.asked.set(speaker, asked + 1);
      for (const id of peers) this.viewer.ask(id);
    }
  }
}
