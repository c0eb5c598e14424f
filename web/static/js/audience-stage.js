// The stage as the audience sees it: the session's status and who is on stage; at home, the
// session's stream (HLS, played by hls.js served by Podium); and the raised hand. A hand the
// moderator brings backstage turns this very page into the speaker's studio: the socket is
// upgraded in place, no reload, and after a reconnect or reload it is upgraded again.
import { $, config, emit } from "./dom.js";
import { t, errorText, formatList } from "./i18n.js";
import * as P from "./protocol.js";

const HLS_RETRY_MS = 5000;

export class AudienceStage {
  constructor(live) {
    this.live = live;
    this.where = "remote";
    this.streamUrl = "";
    this.hls = null;
    this.sfu = null; // the stage live from the SFU (Podium with rtc.sfu_url)
    this.upgraded = false;
    this.upgrading = false;
    this.playing = "";
    $("#hand-raise").addEventListener("click", () => this.raise());
    $("#hand-withdraw").addEventListener("click", () => this.withdraw());
  }

  // Once the socket exists (after live.connect()).
  attach() {
    // With an SFU and no stream URL, the remote audience watches the stage live from it (its
    // code loads only then: a phone in a hall without an SFU never fetches it).
    if (config().sfu) {
      import("./sfu.js").then(({ AudienceSfu }) => {
        this.sfu = new AudienceSfu(this.live, $("#sfu-stage"), t("audience.stream"));
        if (this.lastStage) this.sfu.stage(this.lastStage.lineup);
        this.sfu.show(this.where === "remote" && !this.upgraded && !this.streamUrl);
      });
    }
    this.live.socket.on(P.HAND_MINE, (msg) => {
      if (msg.session === this.live.sessionId) this.hand(msg);
    });
  }

  // --- status and who is on stage ---------------------------------------------------------

  stage(stage) {
    this.lastStage = stage;
    const names = stage.lineup.map((s) => s.label || t("role.speaker"));
    $("#stage-status").textContent = t(`status.${stage.status}`);
    $("#stage-status").dataset.status = stage.status;
    $("#on-stage").textContent = names.length ? t("audience.on_stage", { names: formatList(names) }) : "";
    this.sfu?.stage(stage.lineup);
  }

  // --- the stream, for the remote audience ------------------------------------------------

  setWhere(where) {
    this.where = where;
    $("#hand").hidden = where !== "remote" || this.upgraded;
    this.play();
  }

  session(session) {
    if (session.stream_url !== this.streamUrl) {
      this.streamUrl = session.stream_url;
      this.play();
    }
  }

  stopStream() {
    this.hls?.destroy();
    this.hls = null;
    const video = $("#stream");
    video.pause();
    video.removeAttribute("src");
    video.hidden = true;
    $("#stream-status").hidden = true;
  }

  async play() {
    const url = this.where === "remote" && !this.upgraded ? this.streamUrl : "";
    this.sfu?.show(this.where === "remote" && !this.upgraded && !this.streamUrl);
    if (url === this.playing) return;
    this.stopStream();
    this.playing = url;
    if (!url) return;
    const video = $("#stream");
    video.hidden = false;
    // Start as soon as there is a picture; a phone that refuses sound without a tap starts
    // muted (the controls unmute it).
    video.addEventListener("canplay", () => {
      video.play().catch(() => {
        video.muted = true;
        video.play().catch(() => {});
      });
    }, { once: true });
    if (video.canPlayType("application/vnd.apple.mpegurl")) {
      video.src = url; // Safari plays HLS itself
      return;
    }
    const { default: Hls } = await import("/static/vendor/hls.light.min.mjs");
    if (this.playing !== url) return;
    if (!Hls.isSupported()) {
      this.streamStatus(t("audience.stream_unsupported"));
      return;
    }
    const hls = new Hls({ enableWorker: false });
    this.hls = hls;
    hls.on(Hls.Events.MANIFEST_PARSED, () => this.streamStatus(null));
    hls.on(Hls.Events.ERROR, (_event, data) => {
      if (!data.fatal || this.hls !== hls) return;
      this.streamStatus(t("audience.stream_retrying"));
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
      else setTimeout(() => this.hls === hls && hls.loadSource(url), HLS_RETRY_MS);
    });
    hls.loadSource(url);
    hls.attachMedia(video);
  }

  streamStatus(text) {
    $("#stream-status").hidden = !text;
    $("#stream-status").textContent = text || "";
  }

  // --- the raised hand ---------------------------------------------------------------------

  hand(mine) {
    const raised = mine.state === "raised";
    $("#hand-raise").textContent = raised ? t("hand.update") : t("hand.raise");
    $("#hand-withdraw").hidden = !raised;
    $("#hand-state").textContent = t(`hand.state.${mine.state}`);
    $("#hand").dataset.state = mine.state;
    if (raised && mine.note !== undefined && document.activeElement !== $("#hand-note")) $("#hand-note").value = mine.note;
    if (mine.state === "brought" && mine.token) this.upgrade(mine.token);
  }

  async raise() {
    $("#hand-error").textContent = "";
    const ack = await this.live.request(P.HAND_RAISE, { session: this.live.sessionId, note: $("#hand-note").value });
    if (!ack.ok) $("#hand-error").textContent = errorText(ack.error);
    else this.hand({ state: "raised", note: $("#hand-note").value.trim() });
  }

  async withdraw() {
    const ack = await this.live.request(P.HAND_WITHDRAW, { session: this.live.sessionId });
    if (!ack.ok) $("#hand-error").textContent = errorText(ack.error);
    else this.hand({ state: "none" });
  }

  // Brought backstage: the same socket becomes this session's speaker and the studio opens.
  async upgrade(token) {
    if (this.upgrading) return;
    this.upgrading = true;
    try {
      const ack = await this.live.request(P.SESSION_UPGRADE, { token });
      if (!ack.ok) {
        $("#hand-error").textContent = errorText(ack.error);
        return;
      }
      this.live.v = ack.v;
      if (!this.upgraded) {
        this.upgraded = true;
        document.body.classList.add("upgraded");
        this.stopStream();
        this.sfu?.show(false);
        this.playing = "";
        for (const id of ["#hand", "#identity", "#qa", "#polls", "#composer", "#reactions"]) $(id).hidden = true;
        $("#studio-root").hidden = false;
        await import("./studio.js");
        emit("podium:live", this.live);
      }
      emit("podium:snapshot", ack);
    } finally {
      this.upgrading = false;
    }
  }

  // Every snapshot (join, reconnect, resync): an audience one may carry a pending upgrade.
  snapshot(snap) {
    if (snap.you.role === "speaker") {
      emit("podium:snapshot", snap);
      return;
    }
    this.sfu?.snapshot();
    this.stage(snap.stage);
    this.session(snap.session);
    if (snap.you.hand) this.hand(snap.you.hand);
  }
}
