// The hall screen: shows how to join (QR and code) until there is something to show.
import { $ } from "./dom.js";

document.addEventListener("podium:snapshot", (e) => {
  const { event } = e.detail;
  const url = `${location.origin}/e/${event.code}`;
  $("#join-qr").src = `/e/${encodeURIComponent(event.code)}/qr.svg?w=hall`;
  $("#join-url").textContent = url.replace(/^https?:\/\//, "");
  $("#join-code").textContent = event.code;
});
