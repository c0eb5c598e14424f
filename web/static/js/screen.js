// The hall screen: shows how to join (QR and code) until there is something to show.
import { $, config } from "./dom.js";

const base = config().base_url;

document.addEventListener("podium:snapshot", (e) => {
  const { event } = e.detail;
  const url = `${base}/e/${event.code}`; // what the QR says, whatever address this screen used
  $("#join-qr").src = `/e/${encodeURIComponent(event.code)}/qr.svg?w=hall`;
  $("#join-url").textContent = url.replace(/^https?:\/\//, "");
  $("#join-code").textContent = event.code;
});
