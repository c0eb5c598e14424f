// A session clock drawn from what Podium says, corrected for this device's own clock.
const AMBER_MS = 2 * 60 * 1000;

export class ClockView {
  constructor(el) {
    this.el = el;
    this.clock = null;
    this.offset = 0; // server time minus this device's time
    setInterval(() => this.draw(), 250);
  }

  set(clock) {
    this.clock = clock;
    this.offset = clock.now_ms - Date.now();
    this.draw();
  }

  leftMs() {
    const c = this.clock;
    if (!c) return null;
    return c.state === "running" ? c.deadline_ms - (Date.now() + this.offset) : c.left_ms;
  }

  draw() {
    const left = this.leftMs();
    if (left === null) return;
    const over = left < 0;
    const s = Math.floor(Math.abs(left) / 1000);
    const text = `${over ? "+" : ""}${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
    this.el.textContent = text;
    this.el.dataset.state = this.clock.state;
    this.el.dataset.level = over ? "over" : left < AMBER_MS ? "amber" : "ok";
  }
}
